// tests/unit/base_log_limiter.cpp: a repeating warning passes at most once per interval, and
// the line that passes says how many were held back (base/log_limiter.hpp).
#include <doctest/doctest.h>

#include "base/log_limiter.hpp"

using ringcast::log::RepeatLimiter;

TEST_CASE("the first occurrence passes, then one a second with the count held back") {
    constexpr uint64_t kSec = 1000000000ull;
    RepeatLimiter r;
    uint64_t held = 99;
    CHECK(r.admit(0, &held));  // time 0 is a time like any other
    CHECK(held == 0);
    for (uint64_t t = 1; t <= 20; ++t)
        CHECK_FALSE(r.admit(t * 50000000ull - 1, &held));  // every 50 ms
    CHECK(r.admit(kSec, &held));
    CHECK(held == 20);
    CHECK_FALSE(r.admit(kSec + 1, &held));
    CHECK(r.admit(5 * kSec, &held));
    CHECK(held == 1);
    CHECK(r.admit(7 * kSec, &held));
    CHECK(held == 0);
}
