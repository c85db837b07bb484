// The units and backoff of the supervisor's deadlines for its children (on base/clock.hpp's
// monotonic_ns), shared by the worker and bridge supervision.
#pragma once

#include <cstdint>

#include "base/clock.hpp"

namespace ringcast::supervisor {

inline constexpr uint64_t kMs = 1000000;
inline constexpr uint64_t kInitialBackoffMs = 100;
inline constexpr uint64_t kMaxBackoffMs = 5000;
inline constexpr uint64_t kStableNs = 10000 * kMs;  // a child that lived this long restarts at once

}  // namespace ringcast::supervisor
