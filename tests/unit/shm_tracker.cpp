// ReleaseTracker: a record is released once every connection it was queued on is done with
// it, whatever order they finish in, and the cursor never passes a record still held.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "shm/release_tracker.hpp"

using ringcast::shm::ReleaseTracker;

TEST_CASE("a record queued on nobody is released at once") {
    ReleaseTracker t(8);
    CHECK(t.released_upto() == 0);
    t.deliver(0, 0);
    t.deliver(1, 0);
    CHECK(t.released_upto() == 2);
    CHECK(t.next() == 2);
}

TEST_CASE("in-order drops move the release point one record at a time") {
    ReleaseTracker t(8);
    for (uint64_t s = 0; s < 4; ++s) t.deliver(s, 1);
    CHECK(t.released_upto() == 0);
    t.drop(0);
    CHECK(t.released_upto() == 1);
    t.drop(1);
    CHECK(t.released_upto() == 2);
}

TEST_CASE("an out-of-order drop does not release past a record still held") {
    ReleaseTracker t(8);
    for (uint64_t s = 0; s < 5; ++s) t.deliver(s, 1);
    t.drop(3);
    t.drop(1);
    t.drop(4);
    CHECK(t.released_upto() == 0);  // record 0 still held
    t.drop(2);
    CHECK(t.released_upto() == 0);
    t.drop(0);
    CHECK(t.released_upto() == 5);  // everything behind it was already free
}

TEST_CASE("a record held by several connections is released after the last drop") {
    ReleaseTracker t(8);
    t.deliver(0, 3);
    t.deliver(1, 0);
    t.drop(0);
    t.drop(0);
    CHECK(t.released_upto() == 0);
    t.drop(0);
    CHECK(t.released_upto() == 2);
}

TEST_CASE("a tracker can start mid-ring and be reset after a join") {
    ReleaseTracker t(8, 1000);
    CHECK(t.released_upto() == 1000);
    t.deliver(1000, 2);
    t.deliver(1001, 1);
    t.reset(5000);
    CHECK(t.released_upto() == 5000);
    CHECK(t.next() == 5000);
    t.deliver(5000, 1);
    t.deliver(5001, 0);
    CHECK(t.released_upto() == 5000);
    t.drop(5000);
    CHECK(t.released_upto() == 5002);
}

TEST_CASE("random holders and drops over many laps agree with a reference model") {
    constexpr uint32_t kCapacity = 16;
    ReleaseTracker t(kCapacity);
    std::map<uint64_t, uint32_t> held;                   // seq -> holders left
    std::vector<std::pair<uint64_t, uint32_t>> pending;  // (seq, one holder) not yet dropped
    std::mt19937_64 rng(12345);
    uint64_t next = 0;
    for (int step = 0; step < 200000; ++step) {
        const uint64_t low = held.empty() ? next : held.begin()->first;
        const bool can_deliver = next - low < kCapacity;  // the producer cannot lap the cursor
        if (can_deliver && (pending.empty() || rng() % 2 == 0)) {
            const uint32_t holders = static_cast<uint32_t>(rng() % 4);
            t.deliver(next, holders);
            if (holders) held[next] = holders;
            for (uint32_t h = 0; h < holders; ++h) pending.emplace_back(next, h);
            ++next;
        } else if (!pending.empty()) {
            const size_t i = rng() % pending.size();
            const uint64_t seq = pending[i].first;
            pending[i] = pending.back();
            pending.pop_back();
            t.drop(seq);
            if (--held[seq] == 0) held.erase(seq);
        }
        const uint64_t expected = held.empty() ? next : held.begin()->first;
        REQUIRE(t.released_upto() == expected);
    }
    CHECK(next > 20 * kCapacity);
}
