// Send: a connection's queue of references leaves as one send or sendmsg per connection per
// pass, however many frames wait. Our own frames (the 101, pongs, pings, the close) go
// through the same queue so they keep their place in the stream, and a close is finished
// here: flushed, write side shut, input drained, so the peer reads the close frame.
#include "worker/shard.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "proto/encoder.hpp"
#include "shm/control.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

namespace {

constexpr size_t kMaxIov = 128;  // frames coalesced into one sendmsg

}  // namespace

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

}  // namespace ringcast::worker
