// RepeatLimiter: lets a warning that can repeat once per event (an accept failing at the
// descriptor limit, a refused Redis login retried) through at most once per interval, and
// counts what it held back so the next line can say how many were suppressed. Plain data, no
// clock of its own (the caller passes monotonic ns), one per thread or per site.
#pragma once

#include <cstdint>

namespace ringcast::log {

struct RepeatLimiter {
    uint64_t interval_ns = 1000000000ull;  // one line a second
    uint64_t next_ns = 0;                  // 0 = nothing logged yet: the first always passes
    uint64_t suppressed = 0;               // held back since the last line that passed

    // True when this occurrence should be logged; then *held_back is how many were suppressed
    // before it (the count starts over).
    bool admit(uint64_t now_ns, uint64_t* held_back) {
        if (next_ns != 0 && now_ns < next_ns) {
            ++suppressed;
            return false;
        }
        *held_back = suppressed;
        suppressed = 0;
        next_ns = now_ns + interval_ns;
        if (next_ns == 0) next_ns = 1;  // keep "nothing logged yet" distinct after a wrap
        return true;
    }
};

}  // namespace ringcast::log
