// Where a channel's subscribers are counted in every member's ChannelCounts (layout.hpp): two
// rows, each indexed by half of a seeded 64-bit hash of the name. Shared by the shards (who
// count) and the bridge (which relays only channels someone here listens to).
#pragma once

#include <cstdint>
#include <string_view>

#include "shm/layout.hpp"
#include "shm/segment.hpp"

namespace ringcast::shm {

struct ChannelSlots {
    uint32_t row0 = 0;
    uint32_t row1 = 0;
};

inline ChannelSlots channel_slots(std::string_view name, uint64_t seed) {
    uint64_t h = 0xcbf29ce484222325ull ^ seed;  // FNV-1a, then a 64-bit finalizer
    for (unsigned char c : name) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return {static_cast<uint32_t>(h % kAddressBuckets), static_cast<uint32_t>((h >> 32) % kAddressBuckets)};
}

// Subscribers of the channel on the node: never below the true count.
inline uint32_t node_channel_count(const Segment& seg, ChannelSlots s) {
    uint64_t a = 0, b = 0;
    for (uint32_t m = 0; m < seg.members(); ++m) {
        const ChannelCounts& c = seg.control(m).channel_counts;
        a += c.rows[0][s.row0].load(std::memory_order_relaxed);
        b += c.rows[1][s.row1].load(std::memory_order_relaxed);
    }
    const uint64_t n = a < b ? a : b;
    return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

// This member's count for the channel moved by +1 or -1 (its own thread only; never below 0).
inline void add_channel(ControlBlock& cb, ChannelSlots s, int delta) {
    auto bump = [delta](std::atomic<uint32_t>& v) {
        const uint32_t cur = v.load(std::memory_order_relaxed);
        v.store(delta < 0 ? (cur > 0 ? cur - 1 : 0) : cur + 1, std::memory_order_relaxed);
    };
    bump(cb.channel_counts.rows[0][s.row0]);
    bump(cb.channel_counts.rows[1][s.row1]);
}

}  // namespace ringcast::shm
