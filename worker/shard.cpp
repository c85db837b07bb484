// The shard reactor: see shard.hpp for the path of one message.
#include "worker/shard.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "proto/close_code.hpp"
#include "proto/encoder.hpp"
#include "shm/control.hpp"
#include "worker/log.hpp"

namespace ringcast::worker {

namespace {

constexpr unsigned kUringEntries = 4096;
constexpr uint32_t kRecvBuffers = 4096;          // power of two (buffer ring)
constexpr uint32_t kRecvBufferSize = 16 * 1024;
constexpr size_t kMaxIov = 128;                   // frames coalesced into one sendmsg
constexpr uint64_t kMs = 1000000;
constexpr uint64_t kHandshakeTimeoutNs = 10000 * kMs;
constexpr uint64_t kLingerNs = 2000 * kMs;
constexpr uint64_t kHousekeepingNs = 50 * kMs;

// user_data: kind in the top byte, then the connection slot and its generation, so a
// completion for a socket that was since closed and reused is recognised and ignored.
enum Kind : uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kWake = 4, kCancel = 5, kShutdown = 6 };

uint64_t pack(Kind k, uint32_t slot = 0, uint32_t gen = 0) {
    return (static_cast<uint64_t>(k) << 56) | (static_cast<uint64_t>(slot & 0xFFFFFF) << 32) | gen;
}
Kind kind_of(uint64_t ud) { return static_cast<Kind>(ud >> 56); }
uint32_t slot_of(uint64_t ud) { return static_cast<uint32_t>((ud >> 32) & 0xFFFFFF); }
uint32_t gen_of(uint64_t ud) { return static_cast<uint32_t>(ud); }

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

struct SendBatch {
    msghdr msg{};
    iovec iov[kMaxIov];
    uint32_t index = 0;
};

// The frame parser's compile-time handler for one connection.
struct Shard::FrameEvents {
    Shard& shard;
    Connection& c;

    void on_message_begin(proto::Opcode op) {
        c.msg_op = op;
        c.msg_active = true;
        c.direct = nullptr;
        c.direct_len = 0;
        c.assembly.clear();
    }
    void on_message_data(const uint8_t* p, size_t n) {
        if (n == 0) return;
        if (c.direct == nullptr && c.assembly.empty()) {
            c.direct = p;
            c.direct_len = n;
            return;
        }
        if (c.direct != nullptr) {  // a second fragment: gather from here on
            c.assembly.assign(c.direct, c.direct + c.direct_len);
            c.direct = nullptr;
            c.direct_len = 0;
        }
        c.assembly.insert(c.assembly.end(), p, p + n);
    }
    bool on_message_end() {
        c.msg_active = false;
        c.msg_ready = true;
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
      ring_capacity_(segment.header().ring_capacity) {}

Shard::~Shard() {
    for (auto& c : table_) {
        if (c && c->fd >= 0) ::close(c->fd);
    }
}

void Shard::stop() {
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
    rc = buffers_.init(uring_.get(), kRecvBuffers, kRecvBufferSize);
    if (rc < 0) {
        RC_LOG_ERROR("event=buffer_ring_failed error=\"%s\" hint=\"provided buffer rings need Linux 5.19+\"",
                     std::strerror(-rc));
        return kExitFatal;
    }
    producer_ = std::make_unique<shm::Producer>(segment_, options_.member);
    consumer_ = std::make_unique<shm::Consumer>(segment_, options_.member);
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
    arm_wake();
    accepting_ = true;
    arm_accept();
    io_uring_submit(uring_.get());
    return 0;
}

int Shard::run() {
    log::set_origin("worker=%u shard=%u", worker_index_, options_.member);
    int rc = setup();
    if (rc != 0) return rc;
    RC_LOG_INFO("event=shard_ready cpu=%d listen_fd=%d", options_.cpu, options_.listen_fd);
    loop();
    shm::mark_dead(segment_, options_.member);
    RC_LOG_INFO("event=shard_stopped");
    return 0;
}

void Shard::loop() {
    io_uring* ring = uring_.get();
    auto& stats = segment_.control(options_.member).stats;
    while (true) {
        now_ns_ = monotonic_ns();
        if (stop_requested_.load(std::memory_order_acquire) && !shutting_down_) begin_shutdown();
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

        if (!paused_.empty()) resume_paused();
        if (committed_) {
            producer_->publish();
            committed_ = 0;
            wake_consumers();
        }
        deliver_from_rings();
        flush_sends();
        release_cursors();
        if (buffers_.commit() > 0 && !starved_.empty()) rearm_starved();
        if (now_ns_ >= next_housekeeping_ns_) {
            housekeeping(now_ns_);
            next_housekeeping_ns_ = now_ns_ + kHousekeepingNs;
        }
        shm::set_gauge(stats.connections, live_connections_);

        if (handled > 0 || io_uring_cq_ready(ring) > 0) {
            // Busy: submit and collect whatever completed, without blocking.
            io_uring_submit_and_get_events(ring);
            continue;
        }
        // Idle: announce that we sleep, then look once more so a record published between
        // our last look and the flag is not missed (the producer wakes flagged sleepers).
        consumer_->prepare_sleep();
        if (any_ring_ready()) {
            consumer_->cancel_sleep();
            io_uring_submit_and_get_events(ring);
            continue;
        }
        // Paused input waits for ring space freed by other consumers: poll it briskly.
        uint64_t wait_ns = paused_.empty() ? kHousekeepingNs : kMs;
        __kernel_timespec ts{};
        ts.tv_sec = 0;
        ts.tv_nsec = static_cast<long long>(wait_ns);
        io_uring_cqe* ignored = nullptr;
        io_uring_submit_and_wait_timeout(ring, &ignored, 1, &ts, nullptr);
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
        case kRecv: {
            Connection* c = connection_for(ud);
            if (c) {
                on_recv(*c, cqe->res, cqe->flags);
            } else if (cqe->flags & IORING_CQE_F_BUFFER) {
                buffers_.recycle(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
            }
            return;
        }
        case kSend: {
            Connection* c = connection_for(ud);
            if (c) on_send(*c, cqe->res);
            return;
        }
        case kCancel:
        case kShutdown:
            return;
    }
}

// ---- accept ------------------------------------------------------------------------------

void Shard::arm_accept() {
    io_uring_sqe* s = uring_.sqe();
    io_uring_prep_multishot_accept(s, options_.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, pack(kAccept));
    accept_armed_ = true;
}

void Shard::on_accept(int res, bool more) {
    if (!more) accept_armed_ = false;
    if (res < 0) {
        if (res != -ECANCELED) RC_LOG_WARN("event=accept_failed error=\"%s\"", std::strerror(-res));
        // EMFILE and friends: retry at the next housekeeping pass rather than spin.
        return;
    }
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
    c.handshake = std::make_unique<proto::HandshakeParser>();
    c.parser = proto::FrameParser(proto::ParserLimits{settings_.max_message_bytes});
    c.last_rx_ns = now_ns_;
    c.linger_deadline_ns = now_ns_ + kHandshakeTimeoutNs;
    ++live_connections_;
    shm::count(segment_.control(options_.member).stats.accepted, 1);
    arm_recv(c);
}

// ---- receive ------------------------------------------------------------------------------

void Shard::arm_recv(Connection& c) {
    io_uring_sqe* s = uring_.sqe();
    io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BufferRing::kGroup;
    io_uring_sqe_set_data64(s, pack(kRecv, c.slot, c.generation));
    c.recv_armed = true;
}

void Shard::on_recv(Connection& c, int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) c.recv_armed = false;
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        uint16_t bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        c.last_rx_ns = now_ns_;
        c.ping_outstanding = false;
        shm::count(segment_.control(options_.member).stats.bytes_in, static_cast<uint64_t>(res));
        receive(c, buffers_.buffer(bid), static_cast<size_t>(res), bid);
    }
    if (c.fd < 0) {
        finish_if_idle(c);
        return;
    }
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
    if (!c.recv_armed && c.held.empty()) arm_recv(c);  // multishot ended for another reason
}

void Shard::receive(Connection& c, uint8_t* data, size_t n, uint16_t bid) {
    if (c.state == ConnState::Handshake) {
        proto::HandshakeStatus st = c.handshake->feed(reinterpret_cast<const char*>(data), n);
        if (st == proto::HandshakeStatus::NeedMore) {
            buffers_.recycle(bid);
            return;
        }
        if (st == proto::HandshakeStatus::Rejected) {
            std::string resp = proto::build_error_response(c.handshake->error_status(),
                                                           c.handshake->error_reason());
            RC_LOG_DEBUG("event=handshake_rejected status=%d reason=\"%.*s\"", c.handshake->error_status(),
                         static_cast<int>(c.handshake->error_reason().size()),
                         c.handshake->error_reason().data());
            queue_owned(c, reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
            c.state = ConnState::Closing;
            c.want_close = true;
            c.linger_deadline_ns = now_ns_ + kLingerNs;
            buffers_.recycle(bid);
            return;
        }
        std::string resp = proto::build_accept_response(c.handshake->request());
        size_t used = c.handshake->consumed();
        c.handshake.reset();
        queue_owned(c, reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
        open(c);
        data += used;
        n -= used;
        if (n == 0) {
            buffers_.recycle(bid);
            return;
        }
        // Pipelined first frames ride in the same buffer: fall through.
        uint32_t offset = static_cast<uint32_t>(data - buffers_.buffer(bid));
        size_t done = feed_frames(c, data, n);
        if (done < n && c.state == ConnState::Open) {
            c.held.push_back(HeldChunk{bid, offset + static_cast<uint32_t>(done),
                                       static_cast<uint32_t>(n - done)});
            paused_.push_back(&c);
            return;
        }
        buffers_.recycle(bid);
        return;
    }
    if (c.state != ConnState::Open) {  // closing: input is drained and ignored
        buffers_.recycle(bid);
        return;
    }
    if (!c.held.empty()) {  // keep order behind what is already held
        c.held.push_back(HeldChunk{bid, 0, static_cast<uint32_t>(n)});
        return;
    }
    size_t done = feed_frames(c, data, n);
    if (done < n && c.state == ConnState::Open) {
        c.held.push_back(HeldChunk{bid, static_cast<uint32_t>(done), static_cast<uint32_t>(n - done)});
        paused_.push_back(&c);
        return;
    }
    buffers_.recycle(bid);
}

// Feeds frames; returns how many bytes were consumed (less than n only when the ring is
// full and the rest must wait). A message still open at the end of the chunk is copied
// out of the chunk, which goes back to the kernel.
size_t Shard::feed_frames(Connection& c, uint8_t* data, size_t n) {
    FrameEvents ev{*this, c};
    proto::FeedResult r = c.parser.feed(data, n, ev);
    if (r.violation) {
        auto& stats = segment_.control(options_.member).stats;
        shm::count_protocol_error(stats, r.violation.code);
        RC_LOG_DEBUG("event=protocol_error code=%u reason=\"%.*s\"", r.violation.code,
                     static_cast<int>(r.violation.reason.size()), r.violation.reason.data());
        c.msg_active = false;
        c.msg_ready = false;
        c.direct = nullptr;
        queue_close(c, r.violation.code, r.violation.reason);
        return n;
    }
    if (c.state != ConnState::Open) return n;  // a close frame ended the session
    if (r.consumed < n) return r.consumed;     // paused: the chunk stays held, so `direct` stays valid
    if (c.msg_active && c.direct != nullptr) {
        c.assembly.assign(c.direct, c.direct + c.direct_len);
        c.direct = nullptr;
        c.direct_len = 0;
    }
    return n;
}

bool Shard::publish(Connection& c) {
    const uint8_t* payload = c.direct ? c.direct : c.assembly.data();
    size_t len = c.direct ? c.direct_len : c.assembly.size();
    size_t header = proto::frame_header_size(len);
    uint8_t* out = producer_->reserve(static_cast<uint32_t>(header + len));
    if (out == nullptr) return false;
    proto::encode_frame_header(out, c.msg_op, len);
    if (len) std::memcpy(out + header, payload, len);
    producer_->commit(static_cast<uint32_t>(header + len), c.serial);
    ++committed_;
    shm::count(segment_.control(options_.member).stats.messages_in, 1);
    c.msg_ready = false;
    c.direct = nullptr;
    c.direct_len = 0;
    if (c.assembly.capacity() > (1u << 20)) {
        std::vector<uint8_t>().swap(c.assembly);  // do not keep a huge message's buffer per client
    } else {
        c.assembly.clear();
    }
    // Publish in batches, but never let one pass hold back a whole ring's worth.
    if (committed_ >= 64) {
        producer_->publish();
        committed_ = 0;
        wake_consumers();
    }
    return true;
}

void Shard::rearm_starved() {
    for (Connection* c : starved_) {
        c->starved = false;
        if (c->fd >= 0 && !c->recv_armed && c->held.empty()) arm_recv(*c);
    }
    starved_.clear();
}

void Shard::resume_paused() {
    std::vector<Connection*> still;
    for (Connection* cp : paused_) {
        Connection& c = *cp;
        if (c.fd < 0 || c.state != ConnState::Open) {
            for (const HeldChunk& h : c.held) buffers_.recycle(h.bid);
            c.held.clear();
            continue;
        }
        if (c.msg_ready && !publish(c)) {
            still.push_back(cp);
            continue;
        }
        bool blocked = false;
        while (!c.held.empty()) {
            HeldChunk& h = c.held.front();
            uint8_t* data = buffers_.buffer(h.bid) + h.offset;
            size_t done = feed_frames(c, data, h.len);
            if (done < h.len && c.state == ConnState::Open) {
                h.offset += static_cast<uint32_t>(done);
                h.len -= static_cast<uint32_t>(done);
                blocked = true;
                break;
            }
            buffers_.recycle(h.bid);
            c.held.erase(c.held.begin());
        }
        if (blocked) {
            still.push_back(cp);
            continue;
        }
        if (c.state == ConnState::Open && !c.recv_armed) arm_recv(c);
    }
    paused_.swap(still);
}

// ---- deliver ------------------------------------------------------------------------------

void Shard::deliver_from_rings() {
    const uint64_t max_buffered = settings_.max_buffered_bytes;
    // A client holding more than 3/4 of a ring pins that ring's cursor: it is slow too.
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
                c->out.push(OutFrame{frame, d.length, static_cast<uint16_t>(p), seq});
                ++holders;
                if (!c->in_dirty) {
                    c->in_dirty = true;
                    dirty_.push_back(c);
                }
                if (!c->slow && (c->out.bytes() > max_buffered || c->out.size() > max_frames)) {
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
        c->out.drop_after(keep, [this](const OutFrame& f) { drop_frame(f); });
        queue_close(*c, proto::close_code::PolicyViolation, "slow client");
    }
    slow_.clear();
}

void Shard::drop_frame(const OutFrame& f) {
    if (f.producer == OutFrame::kOwned) {
        delete[] f.data;
    } else {
        trackers_[f.producer].drop(f.seq);
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

void Shard::wake_consumers() {
    producer_->wake_sleepers([this](uint32_t member) {
        if (member < wake_fds_.size() && wake_fds_[member] >= 0) {
            uint64_t one = 1;
            (void)!::write(wake_fds_[member], &one, sizeof one);
        }
    });
}

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
    leave_open_list(c);
    c.state = ConnState::Closing;
    c.want_close = true;
    c.linger_deadline_ns = now_ns_ + kLingerNs;
}

void Shard::flush_sends() {
    for (size_t i = 0; i < dirty_.size(); ++i) {
        Connection& c = *dirty_[i];
        c.in_dirty = false;
        if (c.fd < 0 || c.send_inflight) continue;
        if (!c.out.empty()) {
            submit_send(c);
        } else {
            finish_if_idle(c);
        }
    }
    dirty_.clear();
}

void Shard::submit_send(Connection& c) {
    uint32_t index;
    if (!free_batches_.empty()) {
        index = free_batches_.back();
        free_batches_.pop_back();
    } else {
        index = static_cast<uint32_t>(batches_.size());
        batches_.push_back(std::make_unique<SendBatch>());
        batches_.back()->index = index;
    }
    SendBatch& b = *batches_[index];
    size_t n = c.out.gather(b.iov, kMaxIov);
    b.msg = msghdr{};
    b.msg.msg_iov = b.iov;
    b.msg.msg_iovlen = n;
    io_uring_sqe* s = uring_.sqe();
    io_uring_prep_sendmsg(s, c.fd, &b.msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, pack(kSend, c.slot, c.generation));
    c.send_inflight = true;
    c.send_batch = index;
    c.inflight_frames = static_cast<uint32_t>(n);
}

void Shard::on_send(Connection& c, int res) {
    c.send_inflight = false;
    free_batches_.push_back(c.send_batch);
    if (c.fd < 0) {
        finish_if_idle(c);
        return;
    }
    if (res < 0) {
        if (res == -EAGAIN || res == -EINTR) {
            mark_dirty(c);
            return;
        }
        destroy(c);  // EPIPE, ECONNRESET: the peer is gone
        return;
    }
    shm::count(segment_.control(options_.member).stats.bytes_out, static_cast<uint64_t>(res));
    c.out.consume(static_cast<size_t>(res), [this](const OutFrame& f) { drop_frame(f); });
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
            if (!c.recv_armed && c.held.empty()) arm_recv(c);
        }
        return;
    }
    // Already destroyed: free the slot once the kernel holds nothing of ours.
    if (!c.send_inflight && !c.recv_armed && c.held.empty()) {
        free_slots_.push_back(c.slot);
        c.generation++;
    }
}

// ---- lifecycle ----------------------------------------------------------------------------

void Shard::open(Connection& c) {
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
    leave_open_list(c);
    // Shut down first: that ends the multishot recv and any send in flight, so the kernel
    // drops its references to the socket before the close.
    ::shutdown(c.fd, SHUT_RDWR);
    ::close(c.fd);
    c.fd = -1;
    c.state = ConnState::Closing;
    c.handshake.reset();
    c.out.drop_after(0, [this](const OutFrame& f) { drop_frame(f); });
    for (const HeldChunk& h : c.held) buffers_.recycle(h.bid);
    c.held.clear();
    --live_connections_;
    finish_if_idle(c);
}

void Shard::begin_shutdown() {
    shutting_down_ = true;
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
            queue_close(*cp, proto::close_code::GoingAway, "server shutting down");
        } else if (cp->state == ConnState::Handshake) {
            destroy(*cp);
        }
    }
    RC_LOG_INFO("event=shutdown_begin connections=%u", live_connections_);
}

void Shard::housekeeping(uint64_t now) {
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
                if (now - c.last_rx_ns >= 2 * interval) {
                    queue_close(c, proto::close_code::GoingAway, "ping timeout");
                } else if (now - c.last_rx_ns >= interval && !c.ping_outstanding) {
                    uint8_t frame[proto::kMaxControlFrame];
                    size_t len = proto::encode_control_frame(frame, proto::Opcode::Ping, nullptr, 0);
                    queue_owned(c, frame, len);
                    c.ping_outstanding = true;
                }
                break;
        }
    }
    flush_sends();
}

// ---- wake ---------------------------------------------------------------------------------

void Shard::arm_wake() {
    io_uring_sqe* s = uring_.sqe();
    io_uring_prep_read(s, wake_fds_[options_.member], &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(s, pack(kWake));
}

void Shard::on_wake(int res) {
    (void)res;
    arm_wake();
}

}  // namespace ringcast::worker
