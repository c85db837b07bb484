// Consumer-local bookkeeping of the references its connections hold into one producer's
// ring: a record is queued on several connections and stays needed until the last of them
// has sent it (or closed). released_upto() is how far the cursor may advance. Sized once to
// the ring's capacity (a consumer can never hold more than a ring of records, since the
// producer cannot lap its cursor); no allocation afterwards, O(1) amortised per call.
#pragma once

#include <cassert>
#include <cstdint>
#include <vector>

namespace ringcast::shm {

class ReleaseTracker {
  public:
    explicit ReleaseTracker(uint32_t ring_capacity, uint64_t start_seq = 0)
        : holders_(ring_capacity, 0), mask_(ring_capacity - 1), low_(start_seq), next_(start_seq) {
        assert(ring_capacity != 0 && (ring_capacity & (ring_capacity - 1)) == 0);
    }

    // Record `seq` (the next one, in order) was queued on `holders` connections; 0 frees it.
    void deliver(uint64_t seq, uint32_t holders) {
        assert(seq == next_ && seq - low_ < holders_.size());
        holders_[seq & mask_] = holders;
        next_ = seq + 1;
        if (seq == low_ && holders == 0) advance();
    }

    // One holder of `seq` is done with it (sent, or its connection closed).
    void drop(uint64_t seq) {
        assert(seq >= low_ && seq < next_ && holders_[seq & mask_] > 0);
        if (--holders_[seq & mask_] == 0 && seq == low_) advance();
    }

    // The first record still held, or the next undelivered one when none is.
    uint64_t released_upto() const { return low_; }
    uint64_t next() const { return next_; }  // the next seq deliver() expects

    // Forgets everything held and expects `seq` next (after a join or a hand-over).
    void reset(uint64_t seq) {
        for (uint64_t s = low_; s < next_; ++s) holders_[s & mask_] = 0;
        low_ = next_ = seq;
    }

  private:
    void advance() {
        while (low_ < next_ && holders_[low_ & mask_] == 0) ++low_;
    }

    std::vector<uint32_t> holders_;  // by seq % capacity; 0 outside [low_, next_)
    uint64_t mask_;
    uint64_t low_;   // first seq still held (or == next_)
    uint64_t next_;  // one past the last delivered seq
};

}  // namespace ringcast::shm
