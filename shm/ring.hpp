// The two ends of a member's SPMC ring: Producer (one per member, its own thread) writes
// ready-to-send frames into its slab and publishes descriptors; Consumer (one per member)
// reads every member's ring, its own included, and releases records through its cursors.
//
// Protocol, per ring (sequences are monotonic u64, slot = seq % capacity):
//   producer: reserve (slab space + a slot) -> write the frame -> commit (fill the descriptor)
//             -> publish: slab_head = end (relaxed), head = next seq (release)  [batches]
//   consumer: head (acquire) -> read descriptors and frames < head -> cursor = upto (release)
//   limits:   the producer may write seq s only while s < min_live_cursor + capacity, and slab
//             bytes only up to slab_pos(min_live_cursor) + slab_bytes. It caches both and
//             rescans the cursors only when one is exhausted. Full = nullptr, counted, retried
//             by the caller later; never a drop, never a wait. Consumers never wait either.
// Hot calls are inline; the slow paths are in ring.cpp.
#pragma once

#include <cassert>
#include <cstdint>
#include <string_view>
#include <vector>

#include "shm/control.hpp"
#include "shm/fence.hpp"
#include "shm/release_tracker.hpp"
#include "shm/segment.hpp"
#include "shm/slab.hpp"

namespace ringcast::shm {

class Producer {
  public:
    // Continues from the ring's head and slab_head, so a restarted member resumes its ring.
    Producer(Segment& seg, uint32_t member);

    // Room for one frame of frame_len bytes (8-byte aligned, contiguous), or nullptr when the
    // ring or the slab is full for some live consumer (counted in stats.ring_full). A frame
    // larger than max_frame() never fits. A reserve not followed by commit() is abandoned.
    uint8_t* reserve(uint32_t frame_len) {
        const SlabSpan span = place_frame(slab_pos_, frame_len, ring_.slab_bytes);
        if (head_ >= seq_limit_ || span.end > slab_limit_) [[unlikely]] {
            if (!refresh_limits(span) || head_ >= seq_limit_ || span.end > slab_limit_) {
                count(stats_->ring_full);
                return nullptr;
            }
        }
        reserved_ = span;
        return ring_.slab + slab_offset(span.start, ring_.slab_bytes);
    }

    // Fills the descriptor of the last reserve(); frame_len may be less than was reserved.
    // deflated_len > 0: a compressed variant of deflated_len bytes was written at
    // deflated_frame_offset(frame_len) (layout.hpp), inside the same reservation; channel_len
    // > 0: the channel's name right after the frames (channel_name_offset), inside it too.
    void commit(uint32_t frame_len, uint32_t origin_conn, uint16_t channel_len = 0,
                uint32_t deflated_len = 0) {
        const uint64_t used =
            (deflated_len ? deflated_frame_offset(frame_len) + deflated_len : frame_len) + channel_len;
        assert(frame_footprint(used) <= reserved_.end - reserved_.start);
        Descriptor& d = ring_.slots[head_ & mask_];
        d.slab_pos = reserved_.start;
        d.length = frame_len;
        d.origin_conn = origin_conn;
        d.origin_member = static_cast<uint16_t>(member_);
        d.channel_len = channel_len;
        d.deflated_length = deflated_len;
        d.seq = head_;
        slab_pos_ = reserved_.start + frame_footprint(used);
        reserved_ = SlabSpan{slab_pos_, slab_pos_};
        ++head_;
    }

    // Makes everything committed since the last publish visible with one release store.
    void publish() {
        if (head_ == published_) return;
        // Stored before head (ordered by the release below): a restarted producer reading
        // head never finds slab_head behind a published frame.
        ring_.hdr->slab_head.store(slab_pos_, std::memory_order_relaxed);
        ring_.hdr->head.store(head_, std::memory_order_release);
        published_ = head_;
    }

    uint64_t head() const { return head_; }  // next sequence to commit

    // After publish(): wake(member) for each consumer whose sleeping flag was set (cleared
    // here), so the caller writes that member's eventfd. No syscall when nobody sleeps, and
    // nothing at all when nothing was published since the last call.
    template <class F>
    void wake_sleepers(F&& wake) {
        if (published_ == woken_upto_) return;
        woken_upto_ = published_;
        full_fence();  // head store before the flag loads; pairs with the fence in prepare_sleep()
        for (uint32_t c = 0; c < members_; ++c) {
            std::atomic<uint32_t>& sleeping = seg_.control(c).sleeping;
            // The exchange makes exactly one producer the waker of a sleep; ordering comes
            // from the fences, so relaxed suffices. The plain load keeps the line shared.
            if (sleeping.load(std::memory_order_relaxed) != 0 &&
                sleeping.exchange(0, std::memory_order_relaxed) != 0) {
                wake(c);
            }
        }
    }

    // Slots known free without rescanning the cursors (a cheap, conservative estimate).
    size_t free_descriptors() const { return seq_limit_ > head_ ? seq_limit_ - head_ : 0; }
    uint64_t max_frame() const { return ring_.slab_bytes; }
    uint32_t member() const { return member_; }

  private:
    bool refresh_limits(const SlabSpan& next);

    Segment& seg_;
    RingView ring_;
    Stats* stats_;
    uint32_t member_;
    uint32_t members_;
    uint64_t mask_;
    uint64_t head_;            // next sequence to commit
    uint64_t published_;       // head as last stored in shared memory
    uint64_t woken_upto_;      // published_ at the last wake_sleepers()
    uint64_t slab_pos_;        // end of the last committed frame
    uint64_t seq_limit_ = 0;   // sequences < this are free to write (cached)
    uint64_t slab_limit_ = 0;  // slab positions < this are free to write (cached)
    SlabSpan reserved_{0, 0};
};

class Consumer {
  public:
    Consumer(Segment& seg, uint32_t member);

    // (Re)joins the fabric at the current head of every ring: records published before are
    // not delivered. Sets state = Live first; see cursor.cpp for why that order is safe.
    void join();

    // Sequences < available(p) are published. Wait-free.
    uint64_t available(uint32_t producer) const {
        // Pairs with the release store of head in Producer::publish().
        return rings_[producer].hdr->head.load(std::memory_order_acquire);
    }
    const Descriptor& descriptor(uint32_t producer, uint64_t seq) const {
        const RingView& r = rings_[producer];
        return r.slots[seq & (r.capacity - 1)];
    }
    const uint8_t* frame(uint32_t producer, const Descriptor& d) const {
        const RingView& r = rings_[producer];
        return r.slab + slab_offset(d.slab_pos, r.slab_bytes);
    }
    // The record's compressed variant (valid only when d.deflated_length != 0).
    const uint8_t* deflated_frame(uint32_t producer, const Descriptor& d) const {
        return frame(producer, d) + deflated_frame_offset(d.length);
    }
    // The record's channel name (empty when d.channel_len == 0).
    std::string_view channel_name(uint32_t producer, const Descriptor& d) const {
        return {reinterpret_cast<const char*>(frame(producer, d)) + channel_name_offset(d), d.channel_len};
    }
    // Records < upto (and their frames) are no longer needed by this member. Wait-free.
    void release(uint32_t producer, uint64_t upto) {
        seg_.cursor(member_, producer).store(upto, std::memory_order_release);
    }
    // This member's cursor in producer's ring as last stored (e.g. by a previous process of
    // the same member during a hand-over): where to continue without join().
    uint64_t cursor(uint32_t producer) const {
        return seg_.cursor(member_, producer).load(std::memory_order_relaxed);  // our own store
    }

    // Before blocking on its eventfd the caller calls prepare_sleep(), then re-checks
    // available() of every producer and calls cancel_sleep() instead of blocking if anything
    // arrived; after waking it calls cancel_sleep().
    void prepare_sleep() {
        sleeping_->store(1, std::memory_order_seq_cst);
        full_fence();  // flag store before the caller's head loads; pairs with wake_sleepers()
    }
    void cancel_sleep() { sleeping_->store(0, std::memory_order_relaxed); }

    uint32_t member() const { return member_; }
    uint32_t members() const { return static_cast<uint32_t>(rings_.size()); }

  private:
    Segment& seg_;
    uint32_t member_;
    std::atomic<uint32_t>* sleeping_;
    std::vector<RingView> rings_;
};

}  // namespace ringcast::shm
