// Where a channel's subscribers are counted in every member's ChannelCounts (layout.hpp): the
// two counters a channel name maps to, and the node's count read from them. Shared by the
// shards, which move their own counters, and the bridge, which relays a stream entry only for
// a channel somebody here subscribes to (docs/bridge.md), so it lives below both, in shm/.
//
// The hash: FNV-1a over the name's bytes, started from the offset basis xor the segment's
// seed (SegmentHeader::address_seed, random per segment), then MurmurHash3's fmix64 of that
// xor fmix64(seed). row0 = h % kAddressBuckets, row1 = (h >> 32) % kAddressBuckets. The seed
// keeps a client from choosing names that collide on purpose.
#pragma once

#include <cstdint>
#include <string_view>

#include "shm/segment.hpp"

namespace ringcast::shm {

// The two counters of a channel name: rows[0][row0] and rows[1][row1].
struct ChannelSlots {
    uint32_t row0 = 0;
    uint32_t row1 = 0;
    friend bool operator==(const ChannelSlots&, const ChannelSlots&) = default;
};

// The seeded 64-bit hash of the name's bytes (any bytes; the empty name included).
uint64_t channel_hash(std::string_view name, uint64_t seed);

// The name's counters, for the segment's seed (segment.header().address_seed).
ChannelSlots channel_slots(std::string_view name, uint64_t seed);

// Subscribers of the channel on the node: the smaller of its two row sums over every member
// (relaxed loads; never below the true count, above it only on a collision in both rows).
uint32_t node_channel_count(const Segment& segment, ChannelSlots slots);

// This member's counters for the channel moved by +1 or -1: its own thread only, one writer,
// so a relaxed load and store; never below 0.
inline void add_channel(ControlBlock& cb, ChannelSlots s, int delta) {
    auto bump = [delta](std::atomic<uint32_t>& v) {
        const uint32_t cur = v.load(std::memory_order_relaxed);
        v.store(delta < 0 ? (cur > 0 ? cur - 1 : 0) : cur + 1, std::memory_order_relaxed);
    };
    bump(cb.channel_counts.rows[0][s.row0]);
    bump(cb.channel_counts.rows[1][s.row1]);
}

}  // namespace ringcast::shm
