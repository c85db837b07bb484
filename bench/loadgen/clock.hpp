// CLOCK_MONOTONIC in nanoseconds: the time base of every send stamp and every deadline.
#pragma once

#include <cstdint>
#include <ctime>

namespace ringcast::bench {

inline uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace ringcast::bench
