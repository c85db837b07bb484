// The slow paths of the ring protocol (ring.hpp): starting a producer, recomputing its
// limits from the live cursors, joining as a consumer.
#include "shm/ring.hpp"

#include "shm/cursor.hpp"

namespace ringcast::shm {

Producer::Producer(Segment& seg, uint32_t member)
    : seg_(seg),
      ring_(seg.ring(member)),
      stats_(&seg.control(member).stats),
      member_(member),
      members_(seg.members()),
      mask_(ring_.capacity - 1) {
    // Pairs with the release in publish() of this member's previous process, which stored
    // slab_head before head: slab_head covers every published frame.
    head_ = ring_.hdr->head.load(std::memory_order_acquire);
    slab_pos_ = ring_.hdr->slab_head.load(std::memory_order_relaxed);
    published_ = head_;
    woken_upto_ = head_;
    reserved_ = SlabSpan{slab_pos_, slab_pos_};
}

bool Producer::refresh_limits(const SlabSpan& next) {
    const uint64_t min = min_live_cursor(seg_, member_, head_);
    if (head_ - min > ring_.capacity) {
        // Only a consumer caught between its Live store and its cursor store in join() shows a
        // cursor more than a ring behind: its slot is already reused, so wait for the join.
        seq_limit_ = 0;
        slab_limit_ = 0;
        return false;
    }
    seq_limit_ = min + ring_.capacity;
    uint64_t tail;
    if (min == head_) {
        // Nobody holds anything: the whole slab is free from the next frame on, and the
        // padding before it (if it wraps) becomes part of the log.
        slab_pos_ = next.start;
        tail = next.start;
    } else {
        tail = ring_.slots[min & mask_].slab_pos;  // our own write; live until min is released
    }
    slab_limit_ = tail + ring_.slab_bytes;
    return true;
}

Consumer::Consumer(Segment& seg, uint32_t member)
    : seg_(seg), member_(member), sleeping_(&seg.control(member).sleeping) {
    rings_.reserve(seg.members());
    for (uint32_t p = 0; p < seg.members(); ++p) rings_.push_back(seg.ring(p));
}

void Consumer::join() {
    // Pre-set the cursors: a producer that sees Live (acquire) then rarely sees a stale one.
    for (uint32_t p = 0; p < members(); ++p) {
        // Pairs with the release in publish(); any recent head will do here.
        seg_.cursor(member_, p).store(available(p), std::memory_order_relaxed);
    }
    seg_.control(member_).state.store(static_cast<uint32_t>(MemberState::Live),
                                      std::memory_order_seq_cst);
    for (uint32_t p = 0; p < members(); ++p) {
        // seq_cst, not just acquire: it must not move before the Live store (cursor.cpp).
        // Also pairs with the release in publish() for the records we will read.
        const uint64_t head = rings_[p].hdr->head.load(std::memory_order_seq_cst);
        seg_.cursor(member_, p).store(head, std::memory_order_release);
    }
}

}  // namespace ringcast::shm
