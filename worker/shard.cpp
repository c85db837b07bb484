// The shard reactor: see shard.hpp for the path of one message.
#include "worker/shard.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "proto/close_code.hpp"
#include "proto/encoder.hpp"
#include "shm/control.hpp"
#include "base/clock.hpp"
#include "base/exit_code.hpp"
#include "base/log.hpp"
#include "base/wake.hpp"

namespace ringcast::worker {

namespace {

constexpr unsigned kUringEntries = 4096;
constexpr uint32_t kRecvBuffers = 4096;          // power of two (buffer ring)
constexpr uint32_t kRecvBufferSize = 16 * 1024;
// Upgrade requests get their own small buffers: a handshake then touches a few pages of a
// small pool instead of one page of every large buffer the ring cycles through.
constexpr uint32_t kHandshakeBuffers = 256;      // power of two
constexpr uint32_t kHandshakeBufferSize = 1024;  // longer requests take several recvs
constexpr size_t kMaxIov = 128;                   // frames coalesced into one sendmsg
constexpr size_t kScratchIov = 8192;              // iovecs prepared between two submits
constexpr size_t kScratchMsgs = 1024;             // msghdrs prepared between two submits
constexpr size_t kSpareInputs = 1024;             // ConnInputs kept for reuse
constexpr size_t kSpareAssemblyBytes = 64 * 1024; // a pooled ConnInput keeps at most this
constexpr uint64_t kMs = 1000000;
constexpr uint64_t kHandshakeTimeoutNs = 10000 * kMs;
constexpr uint64_t kLingerNs = 2000 * kMs;
constexpr uint64_t kHousekeepingNs = 50 * kMs;

// user_data: kind in the top byte, then the connection slot and its generation, so a
// completion for a socket that was since closed and reused is recognised and ignored.
// kRecvHandshake: a recv from the handshake buffer group (its buffer goes back there).
enum Kind : uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kWake = 4, kCancel = 5, kShutdown = 6, kRecvHandshake = 7 };

uint64_t pack(Kind k, uint32_t slot = 0, uint32_t gen = 0) {
    return (static_cast<uint64_t>(k) << 56) | (static_cast<uint64_t>(slot & 0xFFFFFF) << 32) | gen;
}
Kind kind_of(uint64_t ud) { return static_cast<Kind>(ud >> 56); }
uint32_t slot_of(uint64_t ud) { return static_cast<uint32_t>((ud >> 32) & 0xFFFFFF); }
uint32_t gen_of(uint64_t ud) { return static_cast<uint32_t>(ud); }

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

}  // namespace

PeerName::PeerName(const PeerAddr& a) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (a.family != 0) inet_ntop(a.family, a.addr, host, sizeof host);
    std::snprintf(text, sizeof text, a.family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, a.port);
}

// The iovecs and msghdrs of the sendmsgs prepared since the last submit. The kernel copies
// both when it takes the SQE (IORING_FEAT_SUBMIT_STABLE, Linux 5.5+), so one arena serves
// every send and nothing per connection or per send in flight is allocated.
struct SendScratch {
    iovec iov[kScratchIov];
    msghdr msg[kScratchMsgs];
    size_t iov_used = 0;
    size_t msg_used = 0;
};

// The frame parser's compile-time handler for one connection.
struct Shard::FrameEvents {
    Shard& shard;
    Connection& c;
    ConnInput& in;

    void on_message_begin(proto::Opcode op) {
        in.msg_op = op;
        in.msg_active = true;
        in.direct = nullptr;
        in.direct_len = 0;
        in.assembly.clear();
    }
    void on_message_data(const uint8_t* p, size_t n) {
        if (n == 0) return;
        if (in.direct == nullptr && in.assembly.empty()) {
            in.direct = p;
            in.direct_len = n;
            return;
        }
        if (in.direct != nullptr) {  // a second fragment: gather from here on
            in.assembly.assign(in.direct, in.direct + in.direct_len);
            in.direct = nullptr;
            in.direct_len = 0;
        }
        in.assembly.insert(in.assembly.end(), p, p + n);
    }
    bool on_message_end() {
        in.msg_active = false;
        in.msg_ready = true;
        return shard.publish(c);
    }
    void on_ping(const uint8_t* p, size_t n) {
        uint8_t frame[proto::kMaxControlFrame];
        size_t len = proto::encode_control_frame(frame, proto::Opcode::Pong, p, n);
        shard.queue_owned(c, frame, len);
    }
    void on_pong(const uint8_t*, size_t) { c.ping_outstanding = false; }
    void on_close(uint16_t code, std::string_view) {
        // Echo the peer's code (RFC 6455 5.5.1); no code in, none out.
        shard.queue_close(c, code == proto::close_code::NoStatus ? 0 : code, "");
    }
};

Shard::Shard(shm::Segment& segment, const ShardOptions& options, const Settings& settings,
             const std::vector<int>& wake_fds, uint32_t worker_index)
    : segment_(segment),
      options_(options),
      settings_(settings),
      wake_fds_(wake_fds),
      worker_index_(worker_index),
      members_(segment.members()),
      ring_capacity_(segment.header().ring_capacity),
      max_buffered_(settings.max_buffered_bytes) {}

Shard::~Shard() {
    for (auto& c : table_) {
        if (c && c->fd >= 0) ::close(c->fd);
    }
}

void Shard::stop(uint16_t code) {
    stop_code_requested_.store(code, std::memory_order_relaxed);
    stop_requested_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wake_fds_[options_.member], &one, sizeof one);
}

int Shard::setup() {
    int rc = uring_.init(kUringEntries);
    if (rc < 0) {
        RC_LOG_ERROR("event=io_uring_unavailable error=\"%s\" hint=\"check kernel.io_uring_disabled and the seccomp profile\"",
                     std::strerror(-rc));
        return kExitFatal;
    }
    rc = buffers_.init(uring_.get(), kRecvBuffers, kRecvBufferSize, 0);
    if (rc == 0) rc = handshake_buffers_.init(uring_.get(), kHandshakeBuffers, kHandshakeBufferSize, 1);
    if (rc < 0) {
        RC_LOG_ERROR("event=buffer_ring_failed error=\"%s\" hint=\"provided buffer rings need Linux 5.19+\"",
                     std::strerror(-rc));
        return kExitFatal;
    }
    scratch_ = std::make_unique_for_overwrite<SendScratch>();  // pages touched only as used
    // libcrypto resolves SHA-1 and faults in its code on first use: pay that here, once,
    // rather than in the first client's handshake.
    (void)proto::compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==");
    producer_ = std::make_unique<shm::Producer>(segment_, options_.member);
    consumer_ = std::make_unique<shm::Consumer>(segment_, options_.member);
    now_ns_ = monotonic_ns();
    if (adopting_) {
        // The old process is frozen and keeps its hands off shared memory until our ack:
        // rebuild from its state (reading shm only), then wait for the go.
        if (!rebuild(adopted_, adopted_fds_)) {
            failed_.store(true, std::memory_order_release);
            return kExitFatal;
        }
        adopted_ = {};
        prepared_.store(true, std::memory_order_release);
        go_.wait(false, std::memory_order_acquire);
        now_ns_ = monotonic_ns();
    } else {
        consumer_->join();
        trackers_.clear();
        next_seq_.assign(members_, 0);
        released_.assign(members_, 0);
        for (uint32_t p = 0; p < members_; ++p) {
            uint64_t start = segment_.cursor(options_.member, p).load(std::memory_order_acquire);
            trackers_.emplace_back(ring_capacity_, start);
            next_seq_[p] = start;
            released_[p] = start;
        }
        prepared_.store(true, std::memory_order_release);
    }
    arm_wake();
    accepting_ = true;
    arm_accept();
    io_uring_submit(uring_.get());
    return 0;
}

int Shard::run() {
    log::set_origin("worker=%u shard=%u", worker_index_, options_.member);
    int rc = setup();
    if (rc != 0) {
        failed_.store(true, std::memory_order_release);
        return rc;
    }
    RC_LOG_INFO("event=shard_ready cpu=%d listen_fd=%d connections=%u", options_.cpu, options_.listen_fd,
                live_connections_);
    loop();
    if (verdict_.load(std::memory_order_acquire) == 1) {
        // Handed over: the new process owns this member now; touch nothing more.
        RC_LOG_INFO("event=shard_handed_over");
        return 0;
    }
    shm::mark_dead(segment_, options_.member);
    RC_LOG_INFO("event=shard_stopped");
    return 0;
}

void Shard::loop() {
    io_uring* ring = uring_.get();
    auto& stats = segment_.control(options_.member).stats;
    while (true) {
        now_ns_ = monotonic_ns();
        if (handoff_sock_.load(std::memory_order_acquire) >= 0 && !freezing_ && !shutting_down_) begin_freeze();
        if (freezing_ && quiescent()) {
            if (finish_freeze()) return;  // our connections live in the new process now
        }
        if (stop_requested_.load(std::memory_order_acquire) && !shutting_down_ && !freezing_) begin_shutdown();
        if (dump_state_.load(std::memory_order_acquire) == 1) dump_connections();
        if (shutting_down_ && (live_connections_ == 0 || now_ns_ >= shutdown_deadline_ns_)) break;

        // Completions, at most `batch` per pass.
        unsigned handled = 0;
        io_uring_cqe* cqe;
        unsigned head;
        io_uring_for_each_cqe(ring, head, cqe) {
            handle(cqe);
            if (++handled >= settings_.batch) break;
        }
        io_uring_cq_advance(ring, handled);
        shm::count(stats.loop_iterations);
        if (handled) shm::count(stats.completions, handled);

        if (!paused_.empty()) resume_paused();
        if (committed_) {
            producer_->publish();
            committed_ = 0;
            wake_consumers();
        }
        deliver_from_rings();
        flush_sends();
        release_cursors();
        const uint32_t returned = buffers_.commit() + handshake_buffers_.commit();
        if (returned > 0 && !starved_.empty()) rearm_starved();
        if (now_ns_ >= next_housekeeping_ns_) {
            housekeeping(now_ns_);
            next_housekeeping_ns_ = now_ns_ + kHousekeepingNs;
        }
        shm::set_gauge(stats.connections, live_connections_);

        if (handled > 0 || io_uring_cq_ready(ring) > 0 || (freezing_ && quiescent())) {
            // Busy: submit and collect whatever completed, without blocking.
            io_uring_submit_and_get_events(ring);
            scratch_submitted();
            continue;
        }
        // Idle: announce that we sleep, then look once more so a record published between
        // our last look and the flag is not missed (the producer wakes flagged sleepers).
        consumer_->prepare_sleep();
        if (any_ring_ready()) {
            consumer_->cancel_sleep();
            io_uring_submit_and_get_events(ring);
            scratch_submitted();
            continue;
        }
        // Paused input waits for ring space freed by other consumers: poll it briskly.
        uint64_t wait_ns = paused_.empty() ? kHousekeepingNs : kMs;
        __kernel_timespec ts{};
        ts.tv_sec = 0;
        ts.tv_nsec = static_cast<long long>(wait_ns);
        io_uring_cqe* ignored = nullptr;
        io_uring_submit_and_wait_timeout(ring, &ignored, 1, &ts, nullptr);
        scratch_submitted();
        consumer_->cancel_sleep();
    }
    // Leave nothing referenced: close what is left.
    for (auto& c : table_) {
        if (c && c->fd >= 0) destroy(*c);
    }
}

bool Shard::any_ring_ready() {
    for (uint32_t p = 0; p < members_; ++p) {
        if (consumer_->available(p) != next_seq_[p]) return true;
    }
    return false;
}

Connection* Shard::connection_for(uint64_t ud) {
    uint32_t slot = slot_of(ud);
    if (slot >= table_.size() || !table_[slot]) return nullptr;
    Connection* c = table_[slot].get();
    return c->generation == gen_of(ud) ? c : nullptr;
}

void Shard::handle(io_uring_cqe* cqe) {
    uint64_t ud = cqe->user_data;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    switch (kind_of(ud)) {
        case kAccept: on_accept(cqe->res, more); return;
        case kWake: on_wake(cqe->res); return;
        case kRecv:
        case kRecvHandshake: {
            BufferRing& pool = kind_of(ud) == kRecv ? buffers_ : handshake_buffers_;
            Connection* c = connection_for(ud);
            if (c) {
                guarded(*c, [&] { on_recv(*c, pool, cqe->res, cqe->flags); });
            } else if (cqe->flags & IORING_CQE_F_BUFFER) {
                pool.recycle(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
            }
            return;
        }
        case kSend: {
            Connection* c = connection_for(ud);
            if (c) guarded(*c, [&] { on_send(*c, cqe->res); });
            return;
        }
        case kCancel:
        case kShutdown:
            return;
    }
}

// Recovery: whatever goes wrong while handling one connection (an allocation that fails, a
// bug) closes that connection with 1011 and is logged; the shard and its other clients go on.
template <class F>
void Shard::guarded(Connection& c, F&& body) {
    try {
        body();
    } catch (const std::exception& e) {
        recover(c, e.what());
    } catch (...) {
        recover(c, "unknown exception");
    }
}

void Shard::recover(Connection& c, const char* what) {
    RC_LOG_ERROR("event=connection_failed conn=%u peer=%s error=\"%s\" action=close_1011", c.serial,
                 PeerName(c.peer).c_str(), what);
    shm::count_protocol_error(segment_.control(options_.member).stats, proto::close_code::InternalError);
    try {
        if (c.fd >= 0 && (c.state == ConnState::Open || c.state == ConnState::Handshake)) {
            if (c.in) {
                c.in->msg_active = c.in->msg_ready = false;
                c.in->direct = nullptr;
            }
            queue_close(c, proto::close_code::InternalError, "internal error");
            return;
        }
    } catch (...) {
    }
    destroy(c);
}

// ---- accept ------------------------------------------------------------------------------

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
        if (res != -ECANCELED) RC_LOG_WARN("event=accept_failed error=\"%s\"", std::strerror(-res));
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
    c.linger_deadline_ns = now_ns_ + kHandshakeTimeoutNs;
    c.peer = describe_peer(res);
    ++live_connections_;
    shm::count(segment_.control(options_.member).stats.accepted, 1);
    arm_recv(c);
}

// ---- receive ------------------------------------------------------------------------------

void Shard::arm_recv(Connection& c) {
    if (freezing_) return;  // a frozen shard reads nothing; unfreeze() re-arms
    io_uring_sqe* s = uring_.sqe();
    c.recv_handshake = c.state == ConnState::Handshake;
    if (c.recv_handshake) {
        // One small buffer at a time until the upgrade: the request is usually one recv.
        io_uring_prep_recv(s, c.fd, nullptr, 0, 0);
        s->buf_group = handshake_buffers_.group();
    } else {
        io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
        s->buf_group = buffers_.group();
    }
    s->flags |= IOSQE_BUFFER_SELECT;
    io_uring_sqe_set_data64(s, pack(c.recv_handshake ? kRecvHandshake : kRecv, c.slot, c.generation));
    c.recv_armed = true;
}

void Shard::on_recv(Connection& c, BufferRing& pool, int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) c.recv_armed = false;
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        uint16_t bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        c.last_rx_ns = now_ns_;
        c.ping_outstanding = false;
        c.bytes_in += static_cast<uint64_t>(res);
        shm::count(segment_.control(options_.member).stats.bytes_in, static_cast<uint64_t>(res));
        receive(c, pool, bid, static_cast<size_t>(res));
    }
    if (c.fd < 0) {
        finish_if_idle(c);
        return;
    }
    if (res == -ECANCELED && freezing_) return;  // cancelled for a handoff: the socket lives on
    if (res == -ENOBUFS) {
        // The pool is empty (input held back, or a burst): re-arm once buffers return.
        if (!c.starved) {
            c.starved = true;
            starved_.push_back(&c);
        }
        return;
    }
    if (res == 0 || (res < 0 && res != -ENOBUFS)) {
        // EOF or a socket error: the peer is gone.
        destroy(c);
        return;
    }
    if (!c.recv_armed && !holding(c)) arm_recv(c);  // single-shot, or multishot ended
}

void Shard::receive(Connection& c, BufferRing& pool, uint16_t bid, size_t n) {
    uint8_t* data = pool.buffer(bid);
    if (c.state == ConnState::Handshake) {
        receive_handshake(c, data, n);
        pool.recycle(bid);
        settle_input(c);
        return;
    }
    // Closing: input is drained and ignored. Open input comes from the frame pool only.
    if (c.state != ConnState::Open || &pool != &buffers_) {
        pool.recycle(bid);
        return;
    }
    if (c.in && (c.in->msg_ready || !c.in->held.empty())) {  // paused: keep order behind what waits
        c.in->held.push_back(HeldChunk{bid, 0, static_cast<uint32_t>(n)});
        return;
    }
    feed_chunk(c, bid, 0, n);
    settle_input(c);
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
        std::string resp = proto::build_error_response(in.handshake->error_status(), in.handshake->error_reason());
        RC_LOG_DEBUG("event=handshake_rejected status=%d reason=\"%.*s\"", in.handshake->error_status(),
                     static_cast<int>(in.handshake->error_reason().size()), in.handshake->error_reason().data());
        queue_owned(c, reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
        c.state = ConnState::Closing;
        c.want_close = true;
        c.linger_deadline_ns = now_ns_ + kLingerNs;
        in.handshake.reset();
        std::string().swap(in.handshake_bytes);
        return;
    }
    std::string resp = proto::build_accept_response(in.handshake->request());
    size_t used = in.handshake->consumed();
    in.handshake.reset();
    std::string().swap(in.handshake_bytes);
    queue_owned(c, reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
    open(c);
    if (used == n) return;
    in.replay.assign(data + used, data + n);
    in.held.push_back(HeldChunk{HeldChunk::kReplay, 0, static_cast<uint32_t>(n - used)});
    pause(c);
}

// Feeds one received chunk; what a full ring leaves unparsed is held (buffer and all) and
// the connection waits in paused_ until resume_paused() publishes and feeds the rest.
void Shard::feed_chunk(Connection& c, uint16_t bid, uint32_t offset, size_t n) {
    size_t done = feed_frames(c, buffers_.buffer(bid) + offset, n);
    const bool open = c.state == ConnState::Open;
    ConnInput& in = *c.in;
    if (done < n && open) {
        in.held.push_back(HeldChunk{bid, offset + static_cast<uint32_t>(done), static_cast<uint32_t>(n - done)});
    } else {
        buffers_.recycle(bid);
    }
    if (open && (in.msg_ready || !in.held.empty())) pause(c);
}

void Shard::pause(Connection& c) {
    if (c.in_paused) return;
    c.in_paused = true;
    paused_.push_back(&c);
}

// Feeds frames; returns how many bytes were consumed (less than n only when the ring is
// full and the rest must wait). A message still open at the end of the chunk is copied
// out of the chunk, which goes back to the kernel.
size_t Shard::feed_frames(Connection& c, uint8_t* data, size_t n) {
    ConnInput& in = input(c);
    FrameEvents ev{*this, c, in};
    proto::FeedResult r = in.parser.feed(data, n, ev);
    if (r.violation) {
        auto& stats = segment_.control(options_.member).stats;
        shm::count_protocol_error(stats, r.violation.code);
        RC_LOG_DEBUG("event=protocol_error code=%u reason=\"%.*s\"", r.violation.code,
                     static_cast<int>(r.violation.reason.size()), r.violation.reason.data());
        in.msg_active = false;
        in.msg_ready = false;
        in.direct = nullptr;
        queue_close(c, r.violation.code, r.violation.reason);
        return n;
    }
    if (c.state != ConnState::Open) return n;  // a close frame ended the session
    // A message left open, or complete but unpublished, must not point into a buffer that
    // may go back to the kernel.
    if ((in.msg_active || in.msg_ready) && in.direct != nullptr) {
        in.assembly.assign(in.direct, in.direct + in.direct_len);
        in.direct = nullptr;
        in.direct_len = 0;
    }
    return r.consumed;
}

bool Shard::publish(Connection& c) {
    ConnInput& in = *c.in;
    const uint8_t* payload = in.direct ? in.direct : in.assembly.data();
    size_t len = in.direct ? in.direct_len : in.assembly.size();
    size_t header = proto::frame_header_size(len);
    uint8_t* out = producer_->reserve(static_cast<uint32_t>(header + len));
    if (out == nullptr) return false;
    proto::encode_frame_header(out, in.msg_op, len);
    if (len) std::memcpy(out + header, payload, len);
    producer_->commit(static_cast<uint32_t>(header + len), c.serial);
    ++committed_;
    ++c.msgs_in;
    shm::count(segment_.control(options_.member).stats.messages_in, 1);
    in.msg_ready = false;
    in.direct = nullptr;
    in.direct_len = 0;
    if (in.assembly.capacity() > (1u << 20)) {
        std::vector<uint8_t>().swap(in.assembly);  // do not keep a huge message's buffer per client
    } else {
        in.assembly.clear();
    }
    // Publish in batches, but never let one pass hold back a whole ring's worth.
    if (committed_ >= 64) {
        producer_->publish();
        committed_ = 0;
        wake_consumers();
    }
    return true;
}

// ---- input state --------------------------------------------------------------------------

ConnInput& Shard::input(Connection& c) {
    if (c.in) return *c.in;
    if (spare_inputs_.empty()) {
        c.in = std::make_unique<ConnInput>();
    } else {
        c.in = std::move(spare_inputs_.back());
        spare_inputs_.pop_back();
    }
    c.in->parser = proto::FrameParser(proto::ParserLimits{settings_.max_message_bytes});
    return *c.in;
}

// Gives a connection's input state back to the pool once a fresh one would do the same.
void Shard::settle_input(Connection& c) {
    if (c.in && c.in->at_rest()) release_input(c);
}

// Takes the input state away whatever it holds (the caller has recycled held buffers).
void Shard::release_input(Connection& c) {
    if (!c.in) return;
    if (spare_inputs_.size() >= kSpareInputs) {
        c.in.reset();
        return;
    }
    ConnInput& in = *c.in;
    in.handshake.reset();
    std::string().swap(in.handshake_bytes);
    in.msg_active = in.msg_ready = false;
    in.direct = nullptr;
    in.direct_len = 0;
    if (in.assembly.capacity() > kSpareAssemblyBytes) {
        std::vector<uint8_t>().swap(in.assembly);
    } else {
        in.assembly.clear();
    }
    in.held.clear();
    std::vector<uint8_t>().swap(in.replay);
    spare_inputs_.push_back(std::move(c.in));
}

bool Shard::holding(const Connection& c) { return c.in && !c.in->held.empty(); }

void Shard::recycle_held(Connection& c) {
    if (!c.in) return;
    for (const HeldChunk& h : c.in->held) {
        if (h.bid != HeldChunk::kReplay) buffers_.recycle(h.bid);
    }
    c.in->held.clear();
    std::vector<uint8_t>().swap(c.in->replay);
}

void Shard::rearm_starved() {
    for (Connection* c : starved_) {
        c->starved = false;
        if (c->fd >= 0 && !c->recv_armed && !holding(*c)) arm_recv(*c);
    }
    starved_.clear();
}

void Shard::resume_paused() {
    if (freezing_) return;
    std::vector<Connection*> still;
    for (Connection* cp : paused_) {
        Connection& c = *cp;
        if (c.fd < 0 || c.state != ConnState::Open) {
            recycle_held(c);
            c.in_paused = false;
            if (c.fd >= 0 && !c.recv_armed) arm_recv(c);  // closing: keep draining input
            continue;
        }
        if (resume_input(c)) {
            still.push_back(cp);
            continue;
        }
        c.in_paused = false;
        settle_input(c);
        if (c.fd >= 0 && !c.recv_armed && !c.starved) arm_recv(c);
    }
    paused_.swap(still);
}

// Publishes the message that waited and feeds held chunks in order; true while the ring is
// still full for this connection (it stays paused).
bool Shard::resume_input(Connection& c) {
    ConnInput& in = *c.in;
    if (in.msg_ready && !publish(c)) return true;
    while (!in.held.empty()) {
        if (c.state != ConnState::Open) {  // a violation or close ended it: drop the rest
            recycle_held(c);
            return false;
        }
        HeldChunk& h = in.held.front();
        const bool replay = h.bid == HeldChunk::kReplay;
        uint8_t* data = (replay ? in.replay.data() : buffers_.buffer(h.bid)) + h.offset;
        size_t done = feed_frames(c, data, h.len);
        if (done < h.len && c.state == ConnState::Open) {
            h.offset += static_cast<uint32_t>(done);
            h.len -= static_cast<uint32_t>(done);
            return true;
        }
        if (replay) {
            std::vector<uint8_t>().swap(in.replay);
        } else {
            buffers_.recycle(h.bid);
        }
        in.held.erase(in.held.begin());
        if (in.msg_ready) return c.state == ConnState::Open;  // the chunk's last message found the ring full
    }
    return false;
}

// ---- deliver ------------------------------------------------------------------------------

void Shard::deliver_from_rings() {
    if (freezing_) return;  // the next_seq_ handed over says where the new process continues
    // A backlog past max_buffered_bytes is slow; one frame alone never is (size() > 1
    // below), so a message larger than the bound still reaches a client that keeps up.
    const uint64_t max_buffered = max_buffered_.load(std::memory_order_relaxed);
    // A client holding more than 3/4 of one ring pins that ring's cursor: it is slow too.
    const size_t max_frames = ring_capacity_ - ring_capacity_ / 4;
    uint64_t deliveries = 0;
    for (uint32_t p = 0; p < members_; ++p) {
        uint64_t head = consumer_->available(p);
        uint64_t seq = next_seq_[p];
        if (seq == head) continue;
        const bool own = p == options_.member;
        for (; seq < head; ++seq) {
            const shm::Descriptor& d = consumer_->descriptor(p, seq);
            const uint8_t* frame = consumer_->frame(p, d);
            uint32_t holders = 0;
            for (Connection* c : open_) {
                if (own && d.origin_conn == c->serial) continue;
                push_ref(*c, OutFrame{frame, d.length, static_cast<uint16_t>(p), seq});
                ++holders;
                if (!c->in_dirty) {
                    c->in_dirty = true;
                    dirty_.push_back(c);
                }
                if (!c->slow && c->out.size() > 1 &&
                    (c->out.bytes() > max_buffered || c->held_from[p] > max_frames)) {
                    c->slow = true;
                    slow_.push_back(c);
                }
            }
            trackers_[p].deliver(seq, holders);
            deliveries += holders;
        }
        next_seq_[p] = head;
    }
    if (deliveries) {
        shm::count(segment_.control(options_.member).stats.deliveries, deliveries);
    }
    for (Connection* c : slow_) {
        if (c->fd < 0 || c->state != ConnState::Open) continue;
        shm::count(segment_.control(options_.member).stats.slow_closes, 1);
        RC_LOG_DEBUG("event=slow_client_closed queued_bytes=%llu queued_frames=%zu",
                     static_cast<unsigned long long>(c->out.bytes()), c->out.size());
        // Keep only what the kernel may still be reading (a send in flight, or a frame half
        // sent), so the stream stays well-formed, then say why we close.
        size_t keep = c->send_inflight ? c->inflight_frames : (c->out.front_offset() ? 1 : 0);
        c->out.drop_after(keep, [this, c](const OutFrame& f) { drop_frame(*c, f); });
        queue_close(*c, proto::close_code::PolicyViolation, "slow client");
    }
    slow_.clear();
}

void Shard::push_ref(Connection& c, const OutFrame& f) {
    c.out.push(f);
    if (!c.held_from) c.held_from = std::make_unique<uint32_t[]>(members_);  // zeroed; once
    ++c.held_from[f.producer];
}

void Shard::drop_frame(Connection& c, const OutFrame& f) {
    if (f.producer == OutFrame::kOwned) {
        delete[] f.data;
    } else {
        trackers_[f.producer].drop(f.seq);
        --c.held_from[f.producer];
    }
}

void Shard::release_cursors() {
    for (uint32_t p = 0; p < members_; ++p) {
        uint64_t upto = trackers_[p].released_upto();
        if (upto != released_[p]) {
            consumer_->release(p, upto);
            released_[p] = upto;
        }
    }
}

void Shard::wake_consumers() { wake_sleeping_consumers(*producer_, wake_fds_); }

// ---- send ---------------------------------------------------------------------------------

void Shard::mark_dirty(Connection& c) {
    if (!c.in_dirty) {
        c.in_dirty = true;
        dirty_.push_back(&c);
    }
}

void Shard::queue_owned(Connection& c, const uint8_t* data, size_t n) {
    c.out.push_owned(data, n);
    mark_dirty(c);
}

void Shard::queue_close(Connection& c, uint16_t code, std::string_view reason) {
    if (c.state == ConnState::Closing || c.state == ConnState::Lingering) return;
    uint8_t frame[proto::kMaxControlFrame];
    size_t len = proto::encode_close_frame(frame, code, reason);
    queue_owned(c, frame, len);
    c.close_code = code;
    leave_open_list(c);
    c.state = ConnState::Closing;
    c.want_close = true;
    c.linger_deadline_ns = now_ns_ + kLingerNs;
}

void Shard::flush_sends() {
    if (freezing_) return;  // dirty_ is kept; unfreeze() or the new process sends it
    size_t kept = 0;
    for (size_t i = 0; i < dirty_.size(); ++i) {
        Connection& c = *dirty_[i];
        c.in_dirty = false;
        if (c.fd < 0 || c.send_inflight) continue;
        if (c.out.empty()) {
            finish_if_idle(c);
        } else if (!submit_send(c)) {
            c.in_dirty = true;  // no room to prepare it now: next pass
            dirty_[kept++] = &c;
        }
    }
    dirty_.resize(kept);
}

// One frame goes as a plain send (no msghdr at all); several as one sendmsg whose iovecs
// and header sit in the scratch arena. False when the arena is full and cannot be emptied.
bool Shard::submit_send(Connection& c) {
    const size_t frames = std::min(c.out.size(), kMaxIov);
    io_uring_sqe* s;
    if (frames == 1) {
        iovec one;
        c.out.gather(&one, 1);
        s = uring_.sqe();
        io_uring_prep_send(s, c.fd, one.iov_base, one.iov_len, MSG_NOSIGNAL);
    } else {
        SendScratch& sc = *scratch_;
        if (sc.iov_used + frames > kScratchIov || sc.msg_used == kScratchMsgs) {
            io_uring_submit(uring_.get());
            scratch_submitted();
            if (sc.iov_used != 0) return false;
        }
        iovec* iov = sc.iov + sc.iov_used;
        msghdr& msg = sc.msg[sc.msg_used++];
        sc.iov_used += c.out.gather(iov, frames);
        msg = msghdr{};
        msg.msg_iov = iov;
        msg.msg_iovlen = frames;
        s = uring_.sqe();
        io_uring_prep_sendmsg(s, c.fd, &msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(s, pack(kSend, c.slot, c.generation));
    c.send_inflight = true;
    c.inflight_frames = static_cast<uint32_t>(frames);
    return true;
}

// After a submit: the kernel has copied every prepared msghdr and iovec (SUBMIT_STABLE),
// unless some SQE is still waiting in the queue.
void Shard::scratch_submitted() {
    if (io_uring_sq_ready(uring_.get()) == 0) scratch_->iov_used = scratch_->msg_used = 0;
}

void Shard::on_send(Connection& c, int res) {
    c.send_inflight = false;
    if (c.fd < 0) {
        finish_if_idle(c);
        return;
    }
    if (res < 0) {
        if (res == -EAGAIN || res == -EINTR || res == -ECANCELED) {
            mark_dirty(c);  // cancelled by a freeze: nothing was sent, try again after it
            return;
        }
        destroy(c);  // EPIPE, ECONNRESET: the peer is gone
        return;
    }
    shm::count(segment_.control(options_.member).stats.bytes_out, static_cast<uint64_t>(res));
    c.bytes_out += static_cast<uint64_t>(res);
    c.out.consume(static_cast<size_t>(res), [this, &c](const OutFrame& f) {
        if (f.producer != OutFrame::kOwned) ++c.msgs_out;
        drop_frame(c, f);
    });
    if (!c.out.empty()) {
        mark_dirty(c);
    } else {
        finish_if_idle(c);
    }
}

// A closing connection whose queue is flushed shuts its write side and drains input until
// the peer closes, so the close frame is not lost to a reset.
void Shard::finish_if_idle(Connection& c) {
    if (c.fd >= 0) {
        if (c.state == ConnState::Closing && c.want_close && c.out.empty() && !c.send_inflight) {
            ::shutdown(c.fd, SHUT_WR);
            c.state = ConnState::Lingering;
            c.linger_deadline_ns = now_ns_ + kLingerNs;
            if (!c.recv_armed && !holding(c)) arm_recv(c);
        }
        return;
    }
    // Already destroyed: free the slot once the kernel holds nothing of ours.
    if (!c.send_inflight && !c.recv_armed && !holding(c)) {
        free_slots_.push_back(c.slot);
        c.generation++;
    }
}

// ---- lifecycle ----------------------------------------------------------------------------

void Shard::open(Connection& c) {
    if (settings_.connection_log) RC_LOG_INFO("event=conn_open conn=%u peer=%s", c.serial, PeerName(c.peer).c_str());
    c.state = ConnState::Open;
    c.open_index = static_cast<uint32_t>(open_.size());
    open_.push_back(&c);
}

void Shard::leave_open_list(Connection& c) {
    if (c.open_index == UINT32_MAX) return;
    Connection* last = open_.back();
    open_[c.open_index] = last;
    last->open_index = c.open_index;
    open_.pop_back();
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
    // Shut down first: that ends the multishot recv and any send in flight, so the kernel
    // drops its references to the socket before the close.
    ::shutdown(c.fd, SHUT_RDWR);
    ::close(c.fd);
    c.fd = -1;
    c.state = ConnState::Closing;
    c.out.drop_after(0, [this, &c](const OutFrame& f) { drop_frame(c, f); });
    recycle_held(c);
    release_input(c);
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
                if (now >= c.linger_deadline_ns) destroy(c);
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

// ---- wake ---------------------------------------------------------------------------------

void Shard::arm_wake() {
    wake_armed_ = true;
    io_uring_sqe* s = uring_.sqe();
    io_uring_prep_read(s, wake_fds_[options_.member], &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(s, pack(kWake));
}

void Shard::on_wake(int res) {
    wake_armed_ = false;
    // A frozen shard leaves the member's eventfd to the process taking over.
    if (res == -ECANCELED || freezing_) return;
    arm_wake();
}

}  // namespace ringcast::worker

// ---- hot restart: the old side ------------------------------------------------------------

namespace ringcast::worker {

void Shard::request_handoff(int sock) {
    verdict_.store(0, std::memory_order_relaxed);
    verdict_wait_.store(1, std::memory_order_relaxed);
    handoff_sock_.store(sock, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wake_fds_[options_.member], &one, sizeof one);
}

void Shard::handoff_done() {
    verdict_.store(1, std::memory_order_release);
    verdict_.notify_all();
}

void Shard::handoff_failed() {
    verdict_.store(2, std::memory_order_release);
    verdict_.notify_all();
    uint64_t one = 1;
    (void)!::write(wake_fds_[options_.member], &one, sizeof one);
}

// Stop every kernel operation that could move bytes: accept, recv, send and the wake read
// are cancelled; their completions drain through the normal loop until quiescent().
void Shard::begin_freeze() {
    freezing_ = true;
    accepting_ = false;
    auto cancel = [this](uint64_t ud) {
        io_uring_sqe* s = uring_.sqe();
        io_uring_prep_cancel64(s, ud, 0);
        io_uring_sqe_set_data64(s, pack(kCancel));
    };
    if (accept_armed_) cancel(pack(kAccept));
    if (wake_armed_) cancel(pack(kWake));
    for (auto& cp : table_) {
        if (!cp || cp->fd < 0) continue;
        if (cp->recv_armed) cancel(pack(cp->recv_handshake ? kRecvHandshake : kRecv, cp->slot, cp->generation));
        if (cp->send_inflight) cancel(pack(kSend, cp->slot, cp->generation));
    }
    io_uring_submit(uring_.get());
    RC_LOG_INFO("event=handoff_freeze connections=%u", live_connections_);
}

bool Shard::quiescent() const {
    if (accept_armed_ || wake_armed_) return false;
    for (const auto& cp : table_) {
        if (cp && (cp->recv_armed || cp->send_inflight)) return false;
    }
    return true;
}

bool Shard::finish_freeze() {
    // Everything this shard produced is published and every release is stored, so the
    // shared state and the captured state agree.
    if (committed_) {
        producer_->publish();
        committed_ = 0;
        wake_consumers();
    }
    release_cursors();
    int sock = handoff_sock_.load(std::memory_order_acquire);
    bool sent = false;
    if (verdict_.load(std::memory_order_acquire) == 0) {
        std::vector<int> fds;
        handoff::ShardState st = capture(&fds);
        std::vector<uint8_t> blob = handoff::encode(st);
        sent = handoff::send_shard(sock, options_.member, blob, fds);
        RC_LOG_INFO("event=handoff_sent connections=%zu bytes=%zu ok=%d", st.conns.size(), blob.size(), sent);
    }
    if (sent) verdict_.wait(0, std::memory_order_acquire);
    if (sent && verdict_.load(std::memory_order_acquire) == 1) return true;
    unfreeze();
    return false;
}

void Shard::unfreeze() {
    RC_LOG_WARN("event=handoff_failed action=resume connections=%u", live_connections_);
    freezing_ = false;
    handoff_sock_.store(-1, std::memory_order_release);
    verdict_.store(0, std::memory_order_relaxed);
    accepting_ = !shutting_down_;
    if (accepting_) arm_accept();
    arm_wake();
    for (auto& cp : table_) {
        if (!cp || cp->fd < 0) continue;
        Connection& c = *cp;
        if (!c.recv_armed && !holding(c)) arm_recv(c);
        if (!c.out.empty()) mark_dirty(c);
    }
    verdict_wait_.store(0, std::memory_order_release);
}

void Shard::capture_input(const ConnInput& in, handoff::ConnRecord* r) {
    r->msg_op = static_cast<uint8_t>(in.msg_op);
    r->msg_active = in.msg_active;
    r->msg_ready = in.msg_ready;
    r->parser = in.parser.state();
    if (in.direct) {
        r->assembly.assign(in.direct, in.direct + in.direct_len);
    } else {
        r->assembly = in.assembly;
    }
    for (const HeldChunk& h : in.held) {
        const uint8_t* p = (h.bid == HeldChunk::kReplay ? in.replay.data() : buffers_.buffer(h.bid)) + h.offset;
        r->pending_input.insert(r->pending_input.end(), p, p + h.len);
    }
    r->handshake.assign(in.handshake_bytes.begin(), in.handshake_bytes.end());
}

handoff::ShardState Shard::capture(std::vector<int>* fds) {
    handoff::ShardState st;
    st.member = options_.member;
    st.next_serial = next_serial_;
    st.next_seq = next_seq_;
    for (auto& cp : table_) {
        if (!cp || cp->fd < 0) continue;
        Connection& c = *cp;
        handoff::ConnRecord r;
        r.fd_index = static_cast<uint32_t>(fds->size());
        fds->push_back(c.fd);
        r.serial = c.serial;
        r.state = static_cast<uint8_t>(c.state);
        r.ping_outstanding = c.ping_outstanding;
        r.want_close = c.want_close;
        r.rx_age_ns = now_ns_ - c.last_rx_ns;
        r.age_ns = now_ns_ - c.opened_ns;
        r.bytes_in = c.bytes_in;
        r.bytes_out = c.bytes_out;
        r.msgs_in = c.msgs_in;
        r.msgs_out = c.msgs_out;
        if (c.in) capture_input(*c.in, &r);  // else at rest: a fresh parser, nothing pending
        r.out_offset = c.out.front_offset();
        for (size_t i = 0; i < c.out.size(); ++i) {
            const OutFrame& f = c.out.at(i);
            handoff::OutRecord o{f.producer, f.seq, f.len, {}};
            if (f.producer == OutFrame::kOwned) o.owned.assign(f.data, f.data + f.len);
            r.out.push_back(std::move(o));
        }
        st.conns.push_back(std::move(r));
    }
    return st;
}

// ---- hot restart: the new side ------------------------------------------------------------

void Shard::adopt(handoff::ShardState state, std::vector<int> fds) {
    adopting_ = true;
    adopted_ = std::move(state);
    adopted_fds_ = std::move(fds);
}

void Shard::go() {
    go_.store(true, std::memory_order_release);
    go_.notify_all();
}

bool Shard::rebuild(const handoff::ShardState& st, const std::vector<int>& fds) {
    if (st.member != options_.member || st.next_seq.size() != members_) {
        RC_LOG_ERROR("event=handoff_rejected reason=\"state is for another member or fabric size\"");
        return false;
    }
    // Every reference must lie between the released cursor and next_seq, or the state and
    // shared memory disagree and nothing is adopted.
    std::vector<uint64_t> start(members_);
    std::vector<std::vector<uint32_t>> holders(members_);
    for (uint32_t p = 0; p < members_; ++p) {
        start[p] = segment_.cursor(options_.member, p).load(std::memory_order_acquire);
        if (st.next_seq[p] < start[p] || st.next_seq[p] - start[p] > ring_capacity_) {
            RC_LOG_ERROR("event=handoff_rejected reason=\"cursor/next_seq mismatch\" producer=%u", p);
            return false;
        }
        holders[p].assign(st.next_seq[p] - start[p], 0);
    }
    for (const auto& r : st.conns) {
        if (r.fd_index >= fds.size()) return false;
        for (const auto& o : r.out) {
            if (o.producer == OutFrame::kOwned) continue;
            if (o.producer >= members_ || o.seq < start[o.producer] || o.seq >= st.next_seq[o.producer]) {
                RC_LOG_ERROR("event=handoff_rejected reason=\"reference outside the ring window\"");
                return false;
            }
            holders[o.producer][o.seq - start[o.producer]]++;
        }
    }
    trackers_.clear();
    next_seq_ = st.next_seq;
    released_ = start;
    for (uint32_t p = 0; p < members_; ++p) {
        trackers_.emplace_back(ring_capacity_, start[p]);
        for (uint64_t i = 0; i < holders[p].size(); ++i) trackers_[p].deliver(start[p] + i, holders[p][i]);
    }
    next_serial_ = st.next_serial;

    for (const auto& r : st.conns) {
        uint32_t slot = static_cast<uint32_t>(table_.size());
        table_.push_back(std::make_unique<Connection>());
        Connection& c = *table_.back();
        c.slot = slot;
        c.generation = 1;
        c.fd = fds[r.fd_index];
        c.serial = r.serial;
        c.state = static_cast<ConnState>(r.state);
        ConnInput& in = input(c);
        in.msg_op = static_cast<proto::Opcode>(r.msg_op);
        in.msg_active = r.msg_active;
        in.msg_ready = r.msg_ready;
        c.ping_outstanding = r.ping_outstanding;
        c.ping_sent_ns = now_ns_;
        c.want_close = r.want_close;
        c.last_rx_ns = now_ns_ - std::min(r.rx_age_ns, now_ns_);
        c.opened_ns = now_ns_ - std::min(r.age_ns, now_ns_);
        c.bytes_in = r.bytes_in;
        c.bytes_out = r.bytes_out;
        c.msgs_in = r.msgs_in;
        c.msgs_out = r.msgs_out;
        c.peer = describe_peer(c.fd);
        c.linger_deadline_ns = now_ns_ + kLingerNs;
        in.parser = proto::FrameParser(r.parser, proto::ParserLimits{settings_.max_message_bytes});
        in.assembly = r.assembly;
        ++live_connections_;
        if (c.state == ConnState::Handshake) {
            in.handshake = std::make_unique<proto::HandshakeParser>();
            in.handshake_bytes.assign(r.handshake.begin(), r.handshake.end());
            if (!in.handshake_bytes.empty() &&
                in.handshake->feed(in.handshake_bytes.data(), in.handshake_bytes.size()) !=
                    proto::HandshakeStatus::NeedMore) {
                destroy(c);  // cannot happen for bytes that left the old parser wanting more
                continue;
            }
            c.linger_deadline_ns = now_ns_ + kHandshakeTimeoutNs;
        }
        for (const auto& o : r.out) {
            if (o.producer == OutFrame::kOwned) {
                c.out.push_owned(o.owned.data(), o.owned.size());
            } else {
                const shm::Descriptor& d = consumer_->descriptor(o.producer, o.seq);
                push_ref(c, OutFrame{consumer_->frame(o.producer, d), o.len, o.producer, o.seq});
            }
        }
        c.out.set_front_offset(r.out_offset);
        if (c.state == ConnState::Open) open(c);
        if (!r.pending_input.empty()) {
            in.replay = r.pending_input;
            in.held.push_back(HeldChunk{HeldChunk::kReplay, 0, static_cast<uint32_t>(in.replay.size())});
        }
        if (!in.held.empty() || in.msg_ready) pause(c);
        const bool held = !in.held.empty();
        settle_input(c);
        if (!held) arm_recv(c);
        if (!c.out.empty()) mark_dirty(c);
    }
    for (int fd : fds) {
        bool used = false;
        for (const auto& r : st.conns) used = used || fds[r.fd_index] == fd;
        if (!used) ::close(fd);
    }
    RC_LOG_INFO("event=handoff_adopted connections=%u", live_connections_);
    return true;
}

}  // namespace ringcast::worker

// ---- tracking ---------------------------------------------------------------------------

namespace ringcast::worker {

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
    char line[512];
    for (const auto& cp : table_) {
        if (!cp || cp->fd < 0) continue;
        const Connection& c = *cp;
        int n = std::snprintf(
            line, sizeof line,
            "{\"conn\":%u,\"peer\":\"%s\",\"worker\":%u,\"shard\":%u,\"state\":\"%s\",\"age_ms\":%llu,"
            "\"bytes_in\":%llu,\"bytes_out\":%llu,\"msgs_in\":%llu,\"msgs_out\":%llu,\"queued_bytes\":%llu,"
            "\"queued_frames\":%zu}\n",
            c.serial, PeerName(c.peer).c_str(), worker_index_, options_.member, kStates[static_cast<int>(c.state)],
            static_cast<unsigned long long>((now_ns_ - c.opened_ns) / kMs), static_cast<unsigned long long>(c.bytes_in),
            static_cast<unsigned long long>(c.bytes_out), static_cast<unsigned long long>(c.msgs_in),
            static_cast<unsigned long long>(c.msgs_out), static_cast<unsigned long long>(c.out.bytes()), c.out.size());
        if (n > 0) text.append(line, std::min(static_cast<size_t>(n), sizeof line - 1));
    }
    dump_ = std::move(text);
    dump_state_.store(2, std::memory_order_release);
}

}  // namespace ringcast::worker
