// What one receiver has seen of one sender's sequence: the next sequence it expects and a
// 64-bit map of the ones just below it, so a late arrival can be told from a duplicate.
// Loss is decided at the end (sent minus unique), when late arrivals have had their chance.
#pragma once

#include <cstdint>

namespace ringcast::bench {

enum class Arrival : uint8_t {
    InOrder,    // seq == next
    Gap,        // seq > next: some are missing (lost, or late and counted when they come)
    Late,       // seq < next and not seen before: reordered
    Duplicate,  // seq < next and seen before
};

struct SequenceTrack {
    uint64_t next = 0;    // one past the highest sequence seen
    uint64_t seen = 0;    // bit i: sequence next-1-i was received
    uint64_t unique = 0;  // distinct sequences received

    Arrival observe(uint64_t seq) {
        if (seq == next) {
            seen = (seen << 1) | 1;
            ++next;
            ++unique;
            return Arrival::InOrder;
        }
        if (seq > next) {
            const uint64_t shift = seq - next + 1;
            seen = shift >= 64 ? 1 : (seen << shift) | 1;
            next = seq + 1;
            ++unique;
            return Arrival::Gap;
        }
        const uint64_t back = next - 1 - seq;
        if (back >= 64) {  // too old to tell: counted as a late (reordered) arrival
            ++unique;
            return Arrival::Late;
        }
        const uint64_t bit = uint64_t{1} << back;
        if (seen & bit) return Arrival::Duplicate;
        seen |= bit;
        ++unique;
        return Arrival::Late;
    }
};

}  // namespace ringcast::bench
