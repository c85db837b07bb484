// tests/unit/admission_rate_limit.cpp: the specification of the inbound token buckets
// (admission/rate_limit.hpp): bursts, exact refill on the ns clock, the two limits together,
// messages larger than the burst, extreme values, and that a bucket is plain bytes.
#include <doctest/doctest.h>

#include <cstring>

#include "admission/rate_limit.hpp"

using namespace ringcast::admission;

namespace {
constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kT0 = 5 * kSec;
}  // namespace

TEST_CASE("a full bucket lets a burst through, then refills at the rate, exactly") {
    InboundLimits l{{10, 5}, {}};  // 10 messages/s, burst 5
    auto b = InboundBuckets::full(l, kT0);
    for (int i = 0; i < 5; ++i) CHECK(b.admit(l, 100, kT0));
    CHECK_FALSE(b.admit(l, 100, kT0));
    // One token takes 100 ms at 10/s: not at 99.999999 ms, yes at 100 ms.
    CHECK_FALSE(b.admit(l, 100, kT0 + kSec / 10 - 1));
    CHECK(b.admit(l, 100, kT0 + kSec / 10));
    CHECK_FALSE(b.admit(l, 100, kT0 + kSec / 10));
    // A long pause refills to the burst, no further.
    const uint64_t later = kT0 + 3600 * kSec;
    for (int i = 0; i < 5; ++i) CHECK(b.admit(l, 100, later));
    CHECK_FALSE(b.admit(l, 100, later));
}

TEST_CASE("over a long run the admitted rate equals the configured rate") {
    InboundLimits l{{1000, 10}, {}};
    auto b = InboundBuckets::full(l, kT0);
    uint64_t admitted = 0;
    // Offered: one message every 100 us (10,000/s) for 10 s.
    for (uint64_t t = 0; t < 10 * kSec; t += 100000)
        if (b.admit(l, 1, kT0 + t)) ++admitted;
    CHECK(admitted >= 10000);
    CHECK(admitted <= 10000 + 10 + 1);
}

TEST_CASE("bytes and messages are limited together; a refused message costs neither") {
    InboundLimits l{{100, 100}, {1000, 1000}};
    auto b = InboundBuckets::full(l, kT0);
    CHECK(b.admit(l, 600, kT0));
    CHECK_FALSE(b.admit(l, 600, kT0));  // 400 bytes left
    CHECK(b.admit(l, 400, kT0));        // the refusal took no message token and no bytes
    CHECK_FALSE(b.admit(l, 1, kT0));
    CHECK(b.admit(l, 1, kT0 + kSec / 1000));  // 1 ms: 1 byte back
}

TEST_CASE("a message larger than the burst passes only from a full bucket and leaves a debt") {
    InboundLimits l{{}, {1000, 1000}};
    auto b = InboundBuckets::full(l, kT0);
    CHECK(b.admit(l, 3000, kT0));  // full: passes, 2000 bytes in debt
    CHECK_FALSE(b.admit(l, 1, kT0 + kSec));
    CHECK_FALSE(b.admit(l, 1, kT0 + 2 * kSec));
    CHECK(b.admit(l, 1, kT0 + 2 * kSec + kSec / 1000));           // debt paid, 1 byte earned
    CHECK_FALSE(b.admit(l, 3000, kT0 + 2 * kSec + kSec / 1000));  // not full: a big one waits
    CHECK(b.admit(l, 3000, kT0 + 10 * kSec));
}

TEST_CASE("0 per second is unlimited; extremes do not overflow") {
    InboundLimits off{};
    auto b = InboundBuckets::full(off, 0);
    for (int i = 0; i < 1000; ++i) CHECK(b.admit(off, UINT64_MAX, 0));
    InboundLimits max{{kMaxRateOrBurst, kMaxRateOrBurst}, {kMaxRateOrBurst, kMaxRateOrBurst}};
    b = InboundBuckets::full(max, 0);
    CHECK(b.admit(max, UINT64_MAX, 0));
    CHECK_FALSE(b.admit(max, 1, 0));
    CHECK(b.admit(max, kMaxRateOrBurst, UINT64_MAX / 2));
    InboundLimits slow{{1, 1}, {1, 1}};
    b = InboundBuckets::full(slow, 0);
    CHECK(b.admit(slow, UINT64_MAX, 0));
    // The cost is clamped to 2^32: 2^32 - 1 tokens of debt at 1/s.
    CHECK_FALSE(b.admit(slow, 1, 10 * kSec));
    CHECK_FALSE(b.admit(slow, 1, (kMaxRateOrBurst - 1) * kSec));
    CHECK(b.admit(slow, 1, kMaxRateOrBurst * kSec));
    // A clock that seems to go back refills nothing and breaks nothing.
    b = InboundBuckets::full(InboundLimits{{1, 1}, {}}, 10 * kSec);
    CHECK(b.admit(InboundLimits{{1, 1}, {}}, 1, 10 * kSec));
    CHECK_FALSE(b.admit(InboundLimits{{1, 1}, {}}, 1, 5 * kSec));
    CHECK(b.admit(InboundLimits{{1, 1}, {}}, 1, 11 * kSec));
}

TEST_CASE("a limit lowered at run time caps what a bucket already holds") {
    InboundLimits high{{1000, 1000}, {}};
    InboundLimits low{{1, 2}, {}};
    auto b = InboundBuckets::full(high, kT0);
    CHECK(b.admit(low, 1, kT0 + 1));
    CHECK(b.admit(low, 1, kT0 + 1));
    CHECK_FALSE(b.admit(low, 1, kT0 + 1));
}

TEST_CASE("limits are checked: burst 0 with a rate, and values past 2^32, are refused") {
    CHECK_FALSE(check_rate_limit({0, 0}, "x"));
    CHECK_FALSE(check_rate_limit({10, 1}, "x"));
    CHECK(
        check_rate_limit({10, 0}, "rate_limit.burst_messages")->find("rate_limit.burst_messages") ==
        0);
    CHECK(check_rate_limit({kMaxRateOrBurst + 1, 1}, "x"));
    CHECK(check_rate_limit({1, kMaxRateOrBurst + 1}, "x"));
}

TEST_CASE("a bucket is plain bytes: copied through memcpy it goes on where it was") {
    InboundLimits l{{10, 3}, {1000, 2000}};
    auto b = InboundBuckets::full(l, kT0);
    CHECK(b.admit(l, 1500, kT0));
    unsigned char wire[sizeof(InboundBuckets)];
    std::memcpy(wire, &b, sizeof b);
    InboundBuckets restored;
    std::memcpy(&restored, wire, sizeof restored);
    CHECK(restored.admit(l, 500, kT0));
    CHECK_FALSE(restored.admit(l, 1, kT0));
}
