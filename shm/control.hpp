// A member's control block as its owner and the supervisor use it: liveness, heartbeat and
// the stats counters. Counters have one writer (the member's thread), so counting is a
// relaxed load and store, never a locked read-modify-write; readers may see a slightly old
// value, never a torn one. mark_dead()/mark_starting() (supervisor) are in segment.hpp.
#pragma once

#include <atomic>
#include <cstdint>

#include "shm/layout.hpp"
#include "shm/segment.hpp"

namespace ringcast::shm {

inline void count(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void set_gauge(std::atomic<uint64_t>& gauge, uint64_t value) {
    gauge.store(value, std::memory_order_relaxed);
}

// Index of `code` in Stats::protocol_errors_by_code, or -1 when it is not counted apart.
constexpr int close_code_slot(uint16_t code) {
    for (size_t i = 0; i < kCountedCloseCodeCount; ++i) {
        if (kCountedCloseCodes[i] == code) return static_cast<int>(i);
    }
    return -1;
}
static_assert(close_code_slot(1009) == 3 && close_code_slot(1000) == -1);

// A connection was closed for a protocol error with `code`.
inline void count_protocol_error(Stats& stats, uint16_t code) {
    count(stats.protocol_errors);
    if (int slot = close_code_slot(code); slot >= 0) count(stats.protocol_errors_by_code[slot]);
}

inline void beat(ControlBlock& cb, uint64_t now_ns) {
    cb.heartbeat_ns.store(now_ns, std::memory_order_relaxed);
}

inline MemberState state_of(const ControlBlock& cb) {
    // Pairs with the seq_cst stores in join(), mark_dead() and mark_starting().
    return static_cast<MemberState>(cb.state.load(std::memory_order_acquire));
}

}  // namespace ringcast::shm
