// The monotonic clock every process's deadlines and heartbeats use, in nanoseconds.
#pragma once

#include <cstdint>
#include <ctime>

namespace ringcast {

inline uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace ringcast
