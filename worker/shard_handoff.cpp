// Hot restart, the shard's part (docs/handoff.md): the old side freezes every kernel
// operation and captures each connection; the new side checks that state against shared
// memory and rebuilds it before it serves. Both sides are in one file because capture()
// and rebuild() are the two halves of one format and change together; the wire encoding
// itself is worker/handoff.cpp.
#include "worker/shard.hpp"

#include <unistd.h>

#include <algorithm>

#include "base/log.hpp"
#include "proto/extension_offer.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

// ---- hot restart: the old side ------------------------------------------------------------

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
    r->msg_compressed = in.msg_compressed;
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
        r.deflate = c.deflate;
        r.admission = c.admission;
        if (settings_.channels && (c.admission & kAdmitted)) r.channel = channels_[c.channel].name;
        if (auto g = grants_.find(c.slot); g != grants_.end()) {
            r.has_grant = true;
            r.grant = g->second;
        }
        if (auto kept = kept_inflaters_.find(c.slot); kept != kept_inflaters_.end()) {
            // Between messages (a message in progress is carried compressed and inflated
            // by the new process), so the window is the whole of the client's context.
            r.inflate_context = true;
            r.inflate_window = kept->second->window();
        }
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
        c.deflate = r.deflate;
        c.admission = r.admission;
        if (r.has_grant) grants_[c.slot] = r.grant;
        // Counted here but not in shared memory: the old process may yet resume (a failed
        // handoff); recount_addresses() writes this member's address counts after the go.
        // Its channel, by name (ids are this shard's own); the node's counts after the go.
        if (settings_.channels && (c.admission & kAdmitted)) c.channel = acquire_channel(r.channel);
        if (c.admission & kAdmitted) {
            ++admitted_;
            if (c.admission & kListener) ++listeners_;
            if (c.admission & kAuthenticated) ++authenticated_;
        }
        if (r.inflate_context) {
            const proto::DeflateAgreement a = proto::unpack_agreement(c.deflate);
            auto& kept = kept_inflaters_[c.slot];
            kept = std::make_unique<proto::MessageInflater>(a.client_window_bits);
            // Cannot fail for a window decode() accepted (<= 32 KiB into a fresh stream); if
            // zlib still refuses, that client's next message fails to inflate and closes 1007.
            if (!kept->restore(r.inflate_window.data(), r.inflate_window.size()))
                RC_LOG_WARN("event=inflate_window_lost conn=%u", r.serial);
        }
        ConnInput& in = input(c);
        in.msg_op = static_cast<proto::Opcode>(r.msg_op);
        in.msg_active = r.msg_active;
        in.msg_ready = r.msg_ready;
        in.msg_compressed = r.msg_compressed;
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
        in.parser = proto::FrameParser(r.parser, proto::ParserLimits{settings_.max_message_bytes, c.deflate != 0});
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
            c.linger_deadline_ns = now_ns_ + uint64_t{policy_->settings.handshake_timeout_ms} * kMs;
        }
        for (const auto& o : r.out) {
            if (o.producer == OutFrame::kOwned) {
                c.out.push_owned(o.owned.data(), o.owned.size());
            } else {
                // The length tells the variant: a compressed frame is always shorter.
                const shm::Descriptor& d = consumer_->descriptor(o.producer, o.seq);
                const bool deflated = d.deflated_length != 0 && o.len == d.deflated_length && o.len != d.length;
                const uint8_t* f = deflated ? consumer_->deflated_frame(o.producer, d) : consumer_->frame(o.producer, d);
                push_ref(c, OutFrame{f, o.len, o.producer, o.seq});
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
