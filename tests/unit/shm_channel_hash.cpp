// The channel-name hash (shm/channel_hash.hpp): pinned values, so the shards and the bridge
// (and any later build sharing a segment) agree; every byte and the seed count; the two rows
// spread names independently; and the node's count is the smaller row sum over all members.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "shm/channel_hash.hpp"
#include "shm/segment.hpp"
#include "tests/support/shm_fixture.hpp"

using namespace ringcast::shm;
using namespace ringcast::shm::test;
using namespace std::string_literals;

namespace {

void set_count(Segment& s, uint32_t member, int row, uint32_t bucket, uint32_t v) {
    s.control(member).channel_counts.rows[row][bucket].store(v, std::memory_order_relaxed);
}

}  // namespace

TEST_CASE("the hash is FNV-1a from the seeded offset basis, finished by fmix64: pinned values") {
    CHECK(channel_hash("", 0) == 0xefd01f60ba992926ull);
    CHECK(channel_hash("news/sport", 0) == 0x153e4cc8bb16a293ull);
    CHECK(channel_hash("news/sport", 0x0123456789abcdefull) == 0xd34e258cebe086b3ull);
    CHECK(channel_hash("a\0b"s, 42) == 0x9a8bf3e241a7cbffull);
    CHECK(channel_slots("news/sport", 0) == ChannelSlots{659, 3272});
    CHECK(channel_slots("news/sport", 0x0123456789abcdefull) == ChannelSlots{1715, 1420});
    CHECK(channel_slots("", 0) == ChannelSlots{2342, 3936});
}

TEST_CASE("the slots are row0 = h % buckets and row1 = (h >> 32) % buckets, always in range") {
    for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{0xdeadbeefcafef00d}, uint64_t{UINT64_MAX}}) {
        for (std::string name : {""s, "a"s, "news"s, "news/sport/football"s, std::string(128, 'x'), "\0\xff"s}) {
            CAPTURE(name);
            const uint64_t h = channel_hash(name, seed);
            const ChannelSlots s = channel_slots(name, seed);
            CHECK(s.row0 == h % kAddressBuckets);
            CHECK(s.row1 == (h >> 32) % kAddressBuckets);
            CHECK(s.row0 < kAddressBuckets);
            CHECK(s.row1 < kAddressBuckets);
            CHECK(channel_slots(name, seed) == s);  // a pure function
        }
    }
}

TEST_CASE("every byte of the name counts, NUL bytes and the length included") {
    const uint64_t seed = 7;
    std::set<uint64_t> seen;
    const std::vector<std::string> names = {""s,     "\0"s,  "\0\0"s, "a"s,   "a\0"s,  "\0a"s,  "ab"s,
                                            "ba"s,   "a/b"s, "a/c"s,  "b/b"s, "A/b"s,  "news"s, "news/"s,
                                            "news "s, "\xff"s, "\x7f"s, "abc\0d"s, "abc\0e"s};
    for (const std::string& n : names) seen.insert(channel_hash(n, seed));
    CHECK(seen.size() == names.size());
    // Each single-bit change of a byte changes the hash.
    std::string base = "channels/a-fairly-long-name";
    const uint64_t h = channel_hash(base, seed);
    for (size_t i = 0; i < base.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string m = base;
            m[i] = static_cast<char>(m[i] ^ (1 << bit));
            CHECK(channel_hash(m, seed) != h);
        }
    }
}

TEST_CASE("the seed changes where a name lands") {
    int same0 = 0, same1 = 0;
    for (int i = 0; i < 1000; ++i) {
        const std::string name = "room/" + std::to_string(i);
        const ChannelSlots a = channel_slots(name, 1), b = channel_slots(name, 2);
        same0 += a.row0 == b.row0;
        same1 += a.row1 == b.row1;
        CHECK(channel_hash(name, 1) != channel_hash(name, 2));
    }
    // By chance about 1000/4096 of them.
    CHECK(same0 < 10);
    CHECK(same1 < 10);
}

TEST_CASE("similar names spread over the buckets, and the two rows independently") {
    const uint64_t seed = 0x9e3779b97f4a7c15ull;
    const int n = 40960;  // 10 per bucket on average
    std::vector<int> load0(kAddressBuckets), load1(kAddressBuckets);
    int both_collide = 0;
    std::set<std::pair<uint32_t, uint32_t>> pairs;
    for (int i = 0; i < n; ++i) {
        const ChannelSlots s = channel_slots("chat/room-" + std::to_string(i), seed);
        ++load0[s.row0];
        ++load1[s.row1];
        if (!pairs.insert({s.row0, s.row1}).second) ++both_collide;
    }
    // Poisson(10): a bucket above 35 is astronomically unlikely, and 0.2 empty ones expected.
    CHECK(*std::max_element(load0.begin(), load0.end()) < 35);
    CHECK(*std::max_element(load1.begin(), load1.end()) < 35);
    CHECK(std::count(load0.begin(), load0.end(), 0) < 5);
    CHECK(std::count(load1.begin(), load1.end(), 0) < 5);
    // Independent rows: the same pair of buckets twice about n^2 / 2 / 4096^2 = 50 times.
    CHECK(both_collide < 150);
}

TEST_CASE("the node's count is the smaller of the two row sums over every member") {
    ScopedName name;
    Segment seg = must_create(name.name, {3, 64, 4096});
    const Segment& view = seg;
    const ChannelSlots s = channel_slots("news", seg.header().address_seed);
    CHECK(node_channel_count(view, s) == 0);

    // One subscriber on member 0: both of its rows.
    set_count(seg, 0, 0, s.row0, 1);
    CHECK(node_channel_count(view, s) == 0);  // row1 still says 0: never above the smaller
    set_count(seg, 0, 1, s.row1, 1);
    CHECK(node_channel_count(view, s) == 1);

    // Members add up, the bridge's member (2) included, though only shards write counts.
    set_count(seg, 1, 0, s.row0, 4);
    set_count(seg, 1, 1, s.row1, 4);
    CHECK(node_channel_count(view, s) == 5);

    // Another channel colliding in one row only inflates that row: the minimum hides it.
    set_count(seg, 2, 0, s.row0, 100);
    CHECK(node_channel_count(view, s) == 5);
    set_count(seg, 2, 1, s.row1, 7);
    CHECK(node_channel_count(view, s) == 12);

    // Other buckets do not matter.
    const ChannelSlots other{(s.row0 + 1) % kAddressBuckets, (s.row1 + 1) % kAddressBuckets};
    CHECK(node_channel_count(view, other) == 0);
    set_count(seg, 0, 0, other.row0, 3);
    set_count(seg, 0, 1, other.row1, 9);
    CHECK(node_channel_count(view, other) == 3);
    CHECK(node_channel_count(view, s) == 12);
}

TEST_CASE("sums beyond 2^32-1 saturate instead of wrapping") {
    ScopedName name;
    Segment seg = must_create(name.name, {3, 64, 4096});
    const ChannelSlots s{17, 4000};
    for (uint32_t m = 0; m < 3; ++m) {
        set_count(seg, m, 0, s.row0, UINT32_MAX);
        set_count(seg, m, 1, s.row1, UINT32_MAX);
    }
    CHECK(node_channel_count(seg, s) == UINT32_MAX);
    set_count(seg, 1, 1, s.row1, 0);
    set_count(seg, 2, 1, s.row1, 0);
    CHECK(node_channel_count(seg, s) == UINT32_MAX);
    set_count(seg, 0, 1, s.row1, 5);
    CHECK(node_channel_count(seg, s) == 5);
}
