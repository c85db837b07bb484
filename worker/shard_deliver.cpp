// Deliver: the consumer side of the ring fabric. New records of every ring become references
// on this shard's open connections (no copy, no syscall: the bytes leave in shard_send.cpp),
// and the count of connections still holding a record decides when the cursor may pass it.
// The slow-client bound is applied here, where a queue grows, so one slow client is closed
// before it can pin a ring or grow memory.
#include "worker/shard.hpp"

#include "proto/close_code.hpp"
#include "shm/control.hpp"
#include "base/log.hpp"

namespace ringcast::worker {

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
            // Each client gets the variant it negotiated (docs/compression.md).
            const uint8_t* deflated = d.deflated_length ? consumer_->deflated_frame(p, d) : nullptr;
            uint32_t holders = 0;
            // Its channel's open connections (all of them while channels are off); a channel
            // nobody here joined costs one lookup.
            const std::vector<Connection*>* audience = settings_.channels ? audience_of(p, d) : &channels_[0].members;
            if (audience == nullptr) {
                trackers_[p].deliver(seq, 0);
                continue;
            }
            for (Connection* c : *audience) {
                if (own && d.origin_conn == c->serial) continue;
                if (deflated && c->deflate) {
                    push_ref(*c, OutFrame{deflated, d.deflated_length, static_cast<uint16_t>(p), seq});
                } else {
                    push_ref(*c, OutFrame{frame, d.length, static_cast<uint16_t>(p), seq});
                }
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

}  // namespace ringcast::worker
