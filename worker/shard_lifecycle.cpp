// Lifecycle: a connection joining and leaving the open list and being torn down, the timers
// that end one (handshake and linger deadlines, pings), the graceful shutdown, and the
// per-connection listing the control socket asks for. They sit together because they must
// agree on what each connection state means.
#include "worker/shard.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "proto/close_code.hpp"
#include "proto/encoder.hpp"
#include "proto/extension_offer.hpp"
#include "shm/control.hpp"
#include "base/log.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

namespace {

// What a connection negotiated, for probes --connections: false, or the agreed parameters
// and whether it holds an inflate context right now.
std::string deflate_json(const Connection& c, bool inflate_context) {
    if (!c.deflate) return "false";
    const proto::DeflateAgreement a = proto::unpack_agreement(c.deflate);
    char text[160];
    std::snprintf(text, sizeof text,
                  "{\"client_no_context_takeover\":%s,\"client_max_window_bits\":%u,"
                  "\"inflate_context\":%s}",
                  a.client_no_context_takeover ? "true" : "false", a.client_window_bits,
                  inflate_context ? "true" : "false");
    return text;
}

std::string json_string(std::string_view s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The token's subject as a JSON string (escaped: it is the client's text), null without one.
std::string subject_json(const ConnGrant* g) {
    if (!g || g->subject.empty()) return "null";
    // At most 128 bytes of it, so the line stays whole however the client chose its sub.
    return json_string(std::string_view(g->subject).substr(0, 128));
}

}  // namespace

// ---- lifecycle ----------------------------------------------------------------------------

void Shard::open(Connection& c) {
    if (settings_.connection_log) RC_LOG_INFO("event=conn_open conn=%u peer=%s", c.serial, PeerName(c.peer).c_str());
    c.state = ConnState::Open;
    std::vector<Connection*>& members = channels_[c.channel].members;
    c.open_index = static_cast<uint32_t>(members.size());
    members.push_back(&c);
    if (c.deflate) {
        ++deflate_open_;
        cluster_deflate_ = true;  // our own next message already needs the compressed variant
    }
}

void Shard::leave_open_list(Connection& c) {
    if (c.open_index == UINT32_MAX) return;
    if (c.deflate) --deflate_open_;
    std::vector<Connection*>& members = channels_[c.channel].members;
    Connection* last = members.back();
    members[c.open_index] = last;
    last->open_index = c.open_index;
    members.pop_back();
    c.open_index = UINT32_MAX;
}

void Shard::destroy(Connection& c) {
    if (c.fd < 0) return;
    if (settings_.connection_log) {
        RC_LOG_INFO("event=conn_close conn=%u peer=%s code=%u age_ms=%llu bytes_in=%llu bytes_out=%llu msgs_in=%llu "
                    "msgs_out=%llu queued_bytes=%llu",
                    c.serial, PeerName(c.peer).c_str(), c.close_code, static_cast<unsigned long long>((now_ns_ - c.opened_ns) / kMs),
                    static_cast<unsigned long long>(c.bytes_in), static_cast<unsigned long long>(c.bytes_out),
                    static_cast<unsigned long long>(c.msgs_in), static_cast<unsigned long long>(c.msgs_out),
                    static_cast<unsigned long long>(c.out.bytes()));
    }
    leave_open_list(c);
    release_channel(c);
    count_admitted(c, -1);
    c.admission = 0;
    grants_.erase(c.slot);
    // Shut down first: that ends the multishot recv and any send in flight, so the kernel
    // drops its references to the socket before the close.
    ::shutdown(c.fd, SHUT_RDWR);
    ::close(c.fd);
    c.fd = -1;
    c.state = ConnState::Closing;
    c.out.drop_after(0, [this, &c](const OutFrame& f) { drop_frame(c, f); });
    recycle_held(c);
    release_input(c);
    kept_inflaters_.erase(c.slot);
    if (c.in_paused) {
        std::erase(paused_, &c);
        c.in_paused = false;
    }
    --live_connections_;
    finish_if_idle(c);
}

void Shard::begin_shutdown() {
    shutting_down_ = true;
    stop_code_ = static_cast<uint16_t>(stop_code_requested_.load(std::memory_order_relaxed));
    accepting_ = false;
    shutdown_deadline_ns_ = now_ns_ + static_cast<uint64_t>(settings_.shutdown_timeout_ms) * kMs;
    if (accept_armed_) {
        io_uring_sqe* s = uring_.sqe();
        io_uring_prep_cancel64(s, pack(kAccept), 0);
        io_uring_sqe_set_data64(s, pack(kCancel));
    }
    // Flush what is already in the rings, then say goodbye after it.
    deliver_from_rings();
    for (auto& cp : table_) {
        if (!cp || cp->fd < 0) continue;
        if (cp->state == ConnState::Open) {
            queue_close(*cp, stop_code_,
                        stop_code_ == proto::close_code::ServiceRestart ? "service restart" : "server shutting down");
        } else if (cp->state == ConnState::Handshake) {
            destroy(*cp);
        }
    }
    RC_LOG_INFO("event=shutdown_begin connections=%u", live_connections_);
}

void Shard::housekeeping(uint64_t now) {
    if (freezing_) return;
    shm::beat(segment_.control(options_.member), now);
    refresh_cluster_deflate();
    pick_up_policy();
    expire_tokens();
    if (settings_.channels && now >= next_channel_top_ns_) {
        next_channel_top_ns_ = now + 1000 * kMs;
        publish_channel_top();
    }
    if (accepting_ && !accept_armed_) arm_accept();
    if (!starved_.empty()) rearm_starved();
    const uint64_t interval = static_cast<uint64_t>(settings_.ping_interval_ms) * kMs;
    const bool ping_sweep = interval > 0 && now - last_ping_sweep_ns_ >= interval / 4;
    if (ping_sweep) last_ping_sweep_ns_ = now;
    for (auto& cp : table_) {
        if (!cp || cp->fd < 0) continue;
        Connection& c = *cp;
        switch (c.state) {
            case ConnState::Handshake:
                if (now >= c.linger_deadline_ns) {
                    shm::count(segment_.control(options_.member).stats.upgrades_rejected[static_cast<size_t>(
                        shm::RejectReason::HandshakeTimeout)]);
                    destroy(c);
                }
                break;
            case ConnState::Closing:
            case ConnState::Lingering:
                if (now >= c.linger_deadline_ns) destroy(c);
                break;
            case ConnState::Open:
                if (!ping_sweep) break;
                // Silent for an interval: ping. Still silent an interval after the ping (two in
                // all): closed. The clock starts at our ping, so a shorter interval set at run
                // time never closes a client before it was asked.
                if (c.ping_outstanding && now - c.ping_sent_ns >= interval) {
                    queue_close(c, proto::close_code::GoingAway, "ping timeout");
                } else if (now - c.last_rx_ns >= interval && !c.ping_outstanding) {
                    uint8_t frame[proto::kMaxControlFrame];
                    size_t len = proto::encode_control_frame(frame, proto::Opcode::Ping, nullptr, 0);
                    queue_owned(c, frame, len);
                    c.ping_outstanding = true;
                    c.ping_sent_ns = now;
                }
                break;
        }
    }
    flush_sends();
}

// ---- tracking ---------------------------------------------------------------------------

void Shard::request_connections() {
    dump_state_.store(1, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wake_fds_[options_.member], &one, sizeof one);
}

bool Shard::take_connections(std::string* out) {
    // Pairs with the release store in dump_connections().
    if (dump_state_.load(std::memory_order_acquire) != 2) return false;
    *out += dump_;
    dump_.clear();
    dump_state_.store(0, std::memory_order_relaxed);
    return true;
}

void Shard::dump_connections() {
    static const char* kStates[] = {"handshake", "open", "closing", "lingering"};
    std::string text;
    char line[2048];
    for (const auto& cp : table_) {
        if (!cp || cp->fd < 0) continue;
        const Connection& c = *cp;
        const auto g = grants_.find(c.slot);
        const ConnGrant* grant = g == grants_.end() ? nullptr : &g->second;
        int n = std::snprintf(
            line, sizeof line,
            "{\"conn\":%u,\"peer\":\"%s\",\"worker\":%u,\"shard\":%u,\"state\":\"%s\",\"age_ms\":%llu,"
            "\"bytes_in\":%llu,\"bytes_out\":%llu,\"msgs_in\":%llu,\"msgs_out\":%llu,\"queued_bytes\":%llu,"
            "\"queued_frames\":%zu,\"deflate\":%s,\"role\":\"%s\",\"authenticated\":%s,\"subject\":%s,"
            "\"token_expires_at_ms\":%s,\"channel\":%s}\n",
            c.serial, PeerName(c.peer).c_str(), worker_index_, options_.member, kStates[static_cast<int>(c.state)],
            static_cast<unsigned long long>((now_ns_ - c.opened_ns) / kMs), static_cast<unsigned long long>(c.bytes_in),
            static_cast<unsigned long long>(c.bytes_out), static_cast<unsigned long long>(c.msgs_in),
            static_cast<unsigned long long>(c.msgs_out), static_cast<unsigned long long>(c.out.bytes()), c.out.size(),
            deflate_json(c, kept_inflaters_.count(c.slot) != 0).c_str(),
            c.state == ConnState::Handshake ? "none" : (c.admission & kListener) ? "listener" : "publisher",
            (c.admission & kAuthenticated) ? "true" : "false", subject_json(grant).c_str(),
            grant && grant->expires_at_ms != INT64_MAX ? std::to_string(grant->expires_at_ms).c_str() : "null",
            settings_.channels && (c.admission & kAdmitted) ? json_string(channels_[c.channel].name).c_str() : "null");
        if (n > 0) text.append(line, std::min(static_cast<size_t>(n), sizeof line - 1));
    }
    dump_ = std::move(text);
    dump_state_.store(2, std::memory_order_release);
}

}  // namespace ringcast::worker
