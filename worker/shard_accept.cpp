// Accept and upgrade: how a socket becomes a connection. Apart from receive because it runs
// once per client rather than per message, and because admission is decided here, at the
// upgrade, in the shard that accepted the socket (DESIGN.md, the edge). The peer's address
// is read here once and formatted only when a log line or a probe asks for it.
#include "worker/shard.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "proto/extension_offer.hpp"
#include "proto/handshake.hpp"
#include "shm/control.hpp"
#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/log_limiter.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

PeerAddr describe_peer(int fd) {
    PeerAddr out;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return out;
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        out.family = AF_INET;
        out.port = ntohs(a->sin_port);
        std::memcpy(out.addr, &a->sin_addr, sizeof a->sin_addr);
    } else if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        out.family = AF_INET6;
        out.port = ntohs(a->sin6_port);
        std::memcpy(out.addr, &a->sin6_addr, sizeof a->sin6_addr);
    }
    return out;
}

PeerName::PeerName(const PeerAddr& a) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (a.family != 0) inet_ntop(a.family, a.addr, host, sizeof host);
    std::snprintf(text, sizeof text, a.family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, a.port);
}

void Shard::arm_accept() {
    if (freezing_) return;
    io_uring_sqe* s = uring_.sqe();
    io_uring_prep_multishot_accept(s, options_.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, pack(kAccept));
    accept_armed_ = true;
}

void Shard::on_accept(int res, bool more) {
    if (!more) accept_armed_ = false;
    if (res < 0) {
        // At the descriptor limit this fails on every retry: one line a second, with a count.
        static thread_local log::RepeatLimiter accept_warnings;
        uint64_t held = 0;
        if (res != -ECANCELED && accept_warnings.admit(monotonic_ns(), &held))
            RC_LOG_WARN("event=accept_failed error=\"%s\" suppressed=%llu", std::strerror(-res),
                        static_cast<unsigned long long>(held));
        // Out of descriptors or memory: retry at the next housekeeping pass rather than spin.
        return;
    }
    if (!more && accepting_) arm_accept();
    if (!accepting_) {
        ::close(res);
        return;
    }
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = static_cast<uint32_t>(table_.size());
        if (slot >= 0xFFFFFF) {
            ::close(res);
            return;
        }
        table_.push_back(std::make_unique<Connection>());
    }
    Connection& c = *table_[slot];
    uint32_t gen = c.generation;
    c.~Connection();
    new (&c) Connection();
    c.generation = gen + 1;
    c.slot = slot;
    c.fd = res;
    c.serial = next_serial_++;
    if (next_serial_ == 0) next_serial_ = 1;
    c.state = ConnState::Handshake;
    input(c).handshake = std::make_unique<proto::HandshakeParser>();
    c.last_rx_ns = now_ns_;
    c.opened_ns = now_ns_;
    c.linger_deadline_ns = now_ns_ + uint64_t{policy_->settings.handshake_timeout_ms} * kMs;
    c.peer = describe_peer(res);
    ++live_connections_;
    shm::count(segment_.control(options_.member).stats.accepted, 1);
    arm_recv(c);
}

// Upgrade request bytes; the caller recycles the buffer, so frames pipelined behind the
// request are copied out and fed from `replay` (through paused_, which keeps their order).
void Shard::receive_handshake(Connection& c, const uint8_t* data, size_t n) {
    ConnInput& in = input(c);
    const char* text = reinterpret_cast<const char*>(data);
    proto::HandshakeStatus st = in.handshake->feed(text, n);
    if (st == proto::HandshakeStatus::NeedMore) {
        in.handshake_bytes.append(text, n);
        return;
    }
    if (st == proto::HandshakeStatus::Rejected) {
        RC_LOG_DEBUG("event=handshake_rejected status=%d reason=\"%.*s\"", in.handshake->error_status(),
                     static_cast<int>(in.handshake->error_reason().size()), in.handshake->error_reason().data());
        refuse_upgrade(c, in.handshake->error_status(), in.handshake->error_reason(), shm::RejectReason::BadRequest);
        return;
    }
    std::string protocol;
    if (!admit_upgrade(c, in.handshake->request(), &protocol)) return;
    // permessage-deflate: an offer we cannot honour is declined, never a failed upgrade.
    std::string extensions;
    if (settings_.compression && !in.handshake->request().extensions.empty()) {
        const proto::DeflateAgreement a =
            proto::negotiate_permessage_deflate(in.handshake->request().extensions);
        if (a.enabled) {
            c.deflate = proto::pack_agreement(a);
            extensions = proto::permessage_deflate_response(a);
        }
    }
    std::string resp = proto::build_accept_response(in.handshake->request(), extensions, protocol);
    size_t used = in.handshake->consumed();
    in.handshake.reset();
    std::string().swap(in.handshake_bytes);
    in.parser.set_limits(proto::ParserLimits{settings_.max_message_bytes, c.deflate != 0});
    queue_owned(c, reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
    open(c);
    if (used == n) return;
    in.replay.assign(data + used, data + n);
    in.held.push_back(HeldChunk{HeldChunk::kReplay, 0, static_cast<uint32_t>(n - used)});
    pause(c);
}

}  // namespace ringcast::worker
