// Admission (docs/admission.md): who gets past the upgrade, what each connection may do, and
// the bounds on it. Decided in the shard that accepted the socket, from the policy in force
// when the request completed; a connection keeps what it was admitted with (its role, its
// token's expiry) when the policy changes later, and carries it through a hot restart.
//
//   request ─ Origin (403) ─ max_connections / per address (503) ─ token (401) ─ 101
//   message ─ listener? (1008 or dropped) ─ rate limit (1008 or dropped) ─ publish
#include <time.h>

#include <cstdio>
#include <cstring>

#include "admission/channel.hpp"
#include "admission/token_source.hpp"
#include "base/log.hpp"
#include "base/log_limiter.hpp"
#include "proto/close_code.hpp"
#include "shm/control.hpp"
#include "worker/shard.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

static_assert(static_cast<size_t>(admission::JwtError::Internal) + 1 == shm::kAuthFailureCount,
              "one auth_failures counter per JwtError");

namespace {

int64_t wall_ms() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

void Shard::set_admission(std::shared_ptr<const AdmissionPolicy> policy) {
    std::lock_guard lock(policy_mutex_);
    policy_next_ = std::move(policy);
    policy_pending_.store(true, std::memory_order_release);
}

void Shard::pick_up_policy() {
    if (!policy_pending_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(policy_mutex_);
    if (policy_next_) policy_ = std::move(policy_next_);
    policy_next_.reset();
    policy_pending_.store(false, std::memory_order_relaxed);
}

void Shard::refuse_upgrade(Connection& c, int status, std::string_view reason, shm::RejectReason why,
                           std::string_view headers) {
    ConnInput& in = input(c);
    auto& stats = segment_.control(options_.member).stats;
    shm::count(stats.upgrades_rejected[static_cast<size_t>(why)]);
    // A refusal a client can repeat at will is logged at most once a second.
    static thread_local log::RepeatLimiter refusals;
    uint64_t held = 0;
    if (why != shm::RejectReason::BadRequest && refusals.admit(now_ns_, &held)) {
        RC_LOG_INFO("event=upgrade_refused status=%d reason=\"%.*s\" peer=%s suppressed=%llu", status,
                    static_cast<int>(reason.size()), reason.data(), PeerName(c.peer).c_str(),
                    static_cast<unsigned long long>(held));
    }
    const std::string resp = proto::build_error_response(status, reason, headers);
    queue_owned(c, reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
    c.state = ConnState::Closing;
    c.want_close = true;
    c.linger_deadline_ns = now_ns_ + kLingerNs;
    in.handshake.reset();
    std::string().swap(in.handshake_bytes);
}

// The checks of a complete upgrade request, cheapest first. True: admitted (role and grant
// set, counted); false: refused with its status (the caller stops). *protocol: the
// subprotocol to answer ("ringcast" when offered, whatever the auth).
bool Shard::admit_upgrade(Connection& c, const proto::HandshakeRequest& req, std::string* protocol) {
    const AdmissionPolicy& pol = *policy_;
    const AdmissionSettings& s = pol.settings;
    if (!admission::origin_admitted(pol.origins,
                                    req.has_origin ? std::optional<std::string_view>(req.origin) : std::nullopt,
                                    s.allow_missing_origin)) {
        refuse_upgrade(c, 403, req.has_origin ? "origin not allowed" : "origin required",
                       shm::RejectReason::Origin);
        return false;
    }
    if (s.max_connections != 0) {
        uint64_t node = admitted_;
        for (uint32_t m = 0; m < members_; ++m) {
            if (m != options_.member) node += segment_.control(m).stats.admitted.load(std::memory_order_relaxed);
        }
        if (node >= s.max_connections) {
            refuse_upgrade(c, 503, "server full", shm::RejectReason::MaxConnections, "Retry-After: 5\r\n");
            return false;
        }
    }
    if (s.max_connections_per_ip != 0 &&
        node_address_count(segment_, address_slots(c.peer, segment_.header().address_seed)) >=
            s.max_connections_per_ip) {
        refuse_upgrade(c, 503, "too many connections from this address", shm::RejectReason::MaxConnectionsPerIp,
                       "Retry-After: 5\r\n");
        return false;
    }

    // With channels the path names one; a path that names none is a bad request.
    std::string channel;
    if (settings_.channels) {
        auto named = admission::channel_from_target(req.target);
        if (auto* why = std::get_if<const char*>(&named)) {
            refuse_upgrade(c, 400, *why, shm::RejectReason::BadRequest);
            return false;
        }
        channel = std::get<std::string>(std::move(named));
    }

    admission::SubprotocolOffer offer;
    if (!req.protocols.empty()) offer = admission::token_from_subprotocols(req.protocols);
    *protocol = std::string(offer.answer);

    bool publish = true;  // without tokens everyone publishes
    std::optional<admission::JwtClaims> claims;
    if (pol.verifier) {
        publish = s.default_publish;
        // The first place that holds a token is used; one that holds a malformed one is a
        // refusal, never a fall-through to the next.
        admission::FoundToken found;
        if (!req.authorization.empty()) found = admission::token_from_authorization(req.authorization);
        if (found.status == admission::TokenLookup::Absent) found = admission::token_from_query(req.target);
        if (found.status == admission::TokenLookup::Absent) found = std::move(offer.token);
        auto& stats = segment_.control(options_.member).stats;
        if (found.status == admission::TokenLookup::Malformed) {
            shm::count(stats.auth_failures[static_cast<size_t>(admission::JwtError::Malformed)]);
            refuse_upgrade(c, 401, "malformed token", shm::RejectReason::Auth,
                           "WWW-Authenticate: Bearer error=\"invalid_request\"\r\n");
            return false;
        }
        if (found.status == admission::TokenLookup::Absent) {
            if (s.auth_required) {
                shm::count(stats.auth_failures[static_cast<size_t>(admission::JwtError::Missing)]);
                refuse_upgrade(c, 401, "token required", shm::RejectReason::Auth, "WWW-Authenticate: Bearer\r\n");
                return false;
            }
        } else {
            admission::JwtResult r = pol.verifier->verify(found.token, wall_ms());
            if (auto* no = std::get_if<admission::JwtRefusal>(&r)) {
                shm::count(stats.auth_failures[static_cast<size_t>(no->error)]);
                // The fixed reason only: never token bytes (admission/jwt.hpp).
                refuse_upgrade(c, 401, no->reason, shm::RejectReason::Auth,
                               "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n");
                return false;
            }
            claims = std::get<admission::JwtClaims>(std::move(r));
            if (claims->publish) publish = *claims->publish;
        }
    }

    if (settings_.channels && !admit_channel(c, channel, claims ? &claims->ringcast : nullptr, &publish))
        return false;

    c.admission = kAdmitted | (publish ? 0 : kListener);
    if (claims) {
        c.admission |= kAuthenticated;
        ConnGrant& g = grants_[c.slot];
        g = ConnGrant{};
        g.subject = std::move(claims->subject);
        // The leeway that admitted a token just past its exp would let it in again at once.
        if (claims->expires_at_ms) g.expires_at_ms = *claims->expires_at_ms + int64_t{s.leeway_s} * 1000;
    }
    count_admitted(c, +1);
    return true;
}

// The channel's own checks: the token's rights on it (403), the shard's channel limit and the
// node's subscribers per channel (503). Admitted: the connection holds the channel and the
// node counts it; `publish` drops to false where the token may not publish.
bool Shard::admit_channel(Connection& c, const std::string& channel, const nlohmann::json* ringcast_claim,
                          bool* publish) {
    if (ringcast_claim) {
        const admission::ChannelRights rights = admission::channel_rights(*ringcast_claim, channel);
        if (!rights.join) {
            refuse_upgrade(c, 403, "channel not allowed", shm::RejectReason::ChannelForbidden);
            return false;
        }
        *publish = *publish && rights.publish;
    }
    if (!channel_ids_.contains(channel) && live_channels_ >= settings_.max_channels) {
        refuse_upgrade(c, 503, "too many channels", shm::RejectReason::MaxChannels, "Retry-After: 5\r\n");
        return false;
    }
    const shm::ChannelSlots slots = shm::channel_slots(channel, segment_.header().address_seed);
    if (settings_.max_subscribers_per_channel != 0 &&
        shm::node_channel_count(segment_, slots) >= settings_.max_subscribers_per_channel) {
        refuse_upgrade(c, 503, "channel full", shm::RejectReason::MaxSubscribers, "Retry-After: 5\r\n");
        return false;
    }
    c.channel = acquire_channel(channel);
    shm::add_channel(segment_.control(options_.member), slots, +1);
    return true;
}

// The node-wide accounting of one admitted connection: its address, the admitted, listener
// and authenticated counts (published as gauges every pass).
void Shard::count_admitted(Connection& c, int delta) {
    if (!(c.admission & kAdmitted)) return;
    add_address(segment_.control(options_.member), address_slots(c.peer, segment_.header().address_seed), delta);
    admitted_ += delta;
    if (c.admission & kListener) listeners_ += delta;
    if (c.admission & kAuthenticated) authenticated_ += delta;
}

// After an adoption (or a fresh join) this member's address counters describe exactly the
// connections it holds: whatever a dead or handed-over predecessor left is gone.
void Shard::recount_addresses() {
    shm::AddressCounts& counts = segment_.control(options_.member).addresses;
    for (auto& row : counts.rows) {
        for (auto& v : row) v.store(0, std::memory_order_relaxed);
    }
    const uint64_t seed = segment_.header().address_seed;
    for (const auto& cp : table_) {
        if (cp && cp->fd >= 0 && (cp->admission & kAdmitted))
            add_address(segment_.control(options_.member), address_slots(cp->peer, seed), +1);
    }
}

// A data message a connection may not publish: dropped and counted, or the connection closed
// (1008). True: parsing goes on; false: the connection is closing.
bool Shard::refuse_message(Connection& c, ConnInput& in, bool close, std::string_view reason) {
    in.msg_ready = false;
    in.msg_compressed = false;
    in.direct = nullptr;
    in.direct_len = 0;
    in.assembly.clear();
    if (!close) return true;
    queue_close(c, proto::close_code::PolicyViolation, reason);
    return false;
}

// The connection's buckets admit a message of `len` bytes (they are made full at its first
// message under a limit, so a limit set at run time starts everyone with a full burst).
bool Shard::within_rate(Connection& c, size_t len) {
    const AdmissionPolicy& pol = *policy_;
    ConnGrant& g = grants_[c.slot];
    if (!g.buckets_set) {
        g.buckets = admission::InboundBuckets::full(pol.limits, now_ns_);
        g.buckets_set = true;
    }
    return g.buckets.admit(pol.limits, len, now_ns_);
}

// Closes (1008 "token expired") every connection whose token's exp has passed. Once a
// second: exp has a resolution of seconds.
void Shard::expire_tokens() {
    if (grants_.empty() || !policy_->settings.close_on_expiry) return;
    if (now_ns_ < next_expiry_check_ns_) return;
    next_expiry_check_ns_ = now_ns_ + 1000 * kMs;
    const int64_t now = wall_ms();
    auto& stats = segment_.control(options_.member).stats;
    for (auto& [slot, g] : grants_) {
        if (g.expires_at_ms > now) continue;
        Connection& c = *table_[slot];
        if (c.fd < 0 || c.state != ConnState::Open) continue;
        shm::count(stats.token_expired);
        queue_close(c, proto::close_code::PolicyViolation, "token expired");
    }
}

}  // namespace ringcast::worker
