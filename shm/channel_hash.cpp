// The channel-name hash and the node-wide subscriber count (see channel_hash.hpp).
#include "shm/channel_hash.hpp"

#include <atomic>

namespace ringcast::shm {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

// MurmurHash3's 64-bit finalizer: every input bit moves every output bit.
constexpr uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

}  // namespace

uint64_t channel_hash(std::string_view name, uint64_t seed) {
    uint64_t h = kFnvOffset ^ seed;
    for (const char c : name) {
        h ^= static_cast<uint8_t>(c);
        h *= kFnvPrime;
    }
    return fmix64(h ^ fmix64(seed));
}

ChannelSlots channel_slots(std::string_view name, uint64_t seed) {
    const uint64_t h = channel_hash(name, seed);
    return ChannelSlots{static_cast<uint32_t>(h % kAddressBuckets),
                        static_cast<uint32_t>((h >> 32) % kAddressBuckets)};
}

uint32_t node_channel_count(const Segment& segment, ChannelSlots slots) {
    uint64_t a = 0, b = 0;
    for (uint32_t m = 0; m < segment.members(); ++m) {
        const ChannelCounts& counts = segment.control(m).channel_counts;
        a += counts.rows[0][slots.row0].load(std::memory_order_relaxed);
        b += counts.rows[1][slots.row1].load(std::memory_order_relaxed);
    }
    const uint64_t n = a < b ? a : b;
    return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

}  // namespace ringcast::shm
