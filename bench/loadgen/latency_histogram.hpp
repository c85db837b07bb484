// A log-linear latency histogram in the manner of HdrHistogram: 64 linear sub-buckets per
// power of two (relative error under 1.6%), values in nanoseconds up to 2^64, one fixed array,
// so recording a sample never allocates. Percentiles report the highest value equivalent to
// the bucket (never below the true sample), capped by the exact maximum.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace ringcast::bench {

class LatencyHistogram {
  public:
    static constexpr unsigned kSubBits = 6;  // 64 sub-buckets per power of two
    static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
    static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;

    static constexpr size_t index_of(uint64_t v) {
        if (v < 2 * kSub) return static_cast<size_t>(v);
        const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
        const unsigned shift = msb - kSubBits;  // keeps the top kSubBits+1 bits
        return static_cast<size_t>((shift + 1) * kSub + ((v >> shift) - kSub));
    }
    // Largest value that maps to bucket i.
    static constexpr uint64_t highest_of(size_t i) {
        if (i < 2 * kSub) return i;
        const unsigned shift = static_cast<unsigned>(i / kSub) - 1;
        const uint64_t top = kSub + i % kSub;
        return ((top + 1) << shift) - 1;
    }

    void record(uint64_t v) {
        ++counts_[index_of(v)];
        ++count_;
        max_ = std::max(max_, v);
        min_ = std::min(min_, v);
    }
    void merge(const LatencyHistogram& o) {
        for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
        count_ += o.count_;
        max_ = std::max(max_, o.max_);
        min_ = std::min(min_, o.min_);
    }
    // q in [0, 1]; 0 when empty.
    uint64_t percentile(double q) const {
        if (count_ == 0) return 0;
        uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_) + 0.5);
        rank = std::clamp<uint64_t>(rank, 1, count_);
        uint64_t seen = 0;
        for (size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(highest_of(i), max_);
        }
        return max_;
    }
    uint64_t count() const { return count_; }
    uint64_t max() const { return count_ ? max_ : 0; }
    uint64_t min() const { return count_ ? min_ : 0; }

  private:
    std::array<uint64_t, kBuckets> counts_{};
    uint64_t count_ = 0;
    uint64_t max_ = 0;
    uint64_t min_ = UINT64_MAX;
};

static_assert(LatencyHistogram::index_of(UINT64_MAX) == LatencyHistogram::kBuckets - 1);
static_assert(LatencyHistogram::highest_of(LatencyHistogram::index_of(1000)) >= 1000);

}  // namespace ringcast::bench
