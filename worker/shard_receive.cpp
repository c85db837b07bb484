// Receive: recv completions, the frame parser fed in place, and each complete message
// written once into this shard's ring. When the ring is full nothing is dropped: the unparsed
// input is held (provided buffer and all) and the connection paused, so TCP pushes back on
// the client. The pooled input state lives here too, because receiving is what fills and
// drains it.
#include "worker/shard.hpp"

#include <cstring>

#include "proto/close_code.hpp"
#include "proto/encoder.hpp"
#include "shm/control.hpp"
#include "base/log.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

namespace {

constexpr size_t kSpareInputs = 1024;              // ConnInputs kept for reuse
constexpr size_t kSpareAssemblyBytes = 64 * 1024;  // a pooled ConnInput keeps at most this

}  // namespace

// The frame parser's compile-time handler for one connection.
struct Shard::FrameEvents {
    Shard& shard;
    Connection& c;
    ConnInput& in;

    void on_message_begin(proto::Opcode op) {
        in.msg_op = op;
        in.msg_active = true;
        in.msg_compressed = in.parser.message_compressed();
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
        auto& stats = shard.segment_.control(shard.options_.member).stats;
        const AdmissionPolicy& pol = *shard.policy_;
        // Stop right after this frame when it cannot be inflated: feed_frames() closes. Even a
        // message about to be dropped is inflated: a client that keeps its context refers back
        // to it in the next one.
        if (in.msg_compressed && !shard.inflate_message(c, in)) return false;
        if (c.admission & kListener) {
            shm::count(stats.listener_sends);
            return shard.refuse_message(c, in, pol.settings.listener_send_close, "listener may not publish");
        }
        if (pol.rate_limited() && !shard.within_rate(c, in.direct ? in.direct_len : in.assembly.size())) {
            shm::count(stats.rate_limited);
            return shard.refuse_message(c, in, pol.settings.rate_limit_close, "rate limit");
        }
        in.msg_ready = true;
        return shard.publish(c);
    }
    void on_ping(const uint8_t* p, size_t n) {
        uint8_t frame[proto::kMaxControlFrame];
        size_t len = proto::encode_control_frame(frame, proto::Opcode::Pong, p, n);
        shard.queue_owned(c, frame, len);
        // Pongs count against the buffer bound like broadcasts: a client that pings and never
        // reads is a slow client (closed in deliver_from_rings, after this pass's input).
        if (!c.slow && c.out.size() > 1 && c.out.bytes() > shard.max_buffered_.load(std::memory_order_relaxed)) {
            c.slow = true;
            shard.slow_.push_back(&c);
        }
    }
    void on_pong(const uint8_t*, size_t) { c.ping_outstanding = false; }
    void on_close(uint16_t code, std::string_view) {
        // Echo the peer's code (RFC 6455 5.5.1); no code in, none out.
        shard.queue_close(c, code == proto::close_code::NoStatus ? 0 : code, "");
    }
};

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
    if (!r.violation && in.inflate_violation) {
        r.violation = in.inflate_violation;  // nothing of the message was published
        in.inflate_violation = {};
    }
    if (r.violation) {
        auto& stats = segment_.control(options_.member).stats;
        shm::count_protocol_error(stats, r.violation.code);
        RC_LOG_DEBUG("event=protocol_error code=%u reason=\"%.*s\"", r.violation.code,
                     static_cast<int>(r.violation.reason.size()), r.violation.reason.data());
        in.msg_active = false;
        in.msg_ready = false;
        in.msg_compressed = false;
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
    const uint64_t frame_len = header + len;
    // With a compressed variant the record holds both frames (shm/layout.hpp, Descriptor);
    // a message too big to hold twice goes plain.
    uint64_t need = frame_len;
    if (cluster_deflate_ && len > 0 && len >= settings_.compression_min_bytes) {
        const uint64_t both = shm::deflated_frame_offset(static_cast<uint32_t>(frame_len)) +
                              proto::kMaxFrameHeader + len + 3;
        if (both <= producer_->max_frame() / 2) need = both;
    }
    // With channels the record ends with its channel's name (shm/layout.hpp).
    Channel& channel = channels_[c.channel];
    const std::string_view channel_name = settings_.channels ? std::string_view(channel.name) : std::string_view();
    uint8_t* out = producer_->reserve(static_cast<uint32_t>(need + channel_name.size()));
    if (out == nullptr) return false;
    proto::encode_frame_header(out, in.msg_op, len);
    if (len) std::memcpy(out + header, payload, len);
    uint32_t deflated = 0;
    if (need != frame_len) {
        deflated = write_deflated(payload, len, in.msg_op,
                                  out + shm::deflated_frame_offset(static_cast<uint32_t>(frame_len)));
    }
    if (settings_.channels) {
        const uint64_t at = deflated ? shm::deflated_frame_offset(static_cast<uint32_t>(frame_len)) + deflated : frame_len;
        if (!channel_name.empty()) std::memcpy(out + at, channel_name.data(), channel_name.size());
        ++channel.messages;
        shm::count(segment_.control(options_.member).stats.channel_messages, 1);
    }
    producer_->commit(static_cast<uint32_t>(frame_len), c.serial, static_cast<uint16_t>(channel_name.size()), deflated);
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
    c.in->parser = proto::FrameParser(proto::ParserLimits{settings_.max_message_bytes, c.deflate != 0});
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
    in.msg_active = in.msg_ready = in.msg_compressed = false;
    in.inflate_violation = {};
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

}  // namespace ringcast::worker
