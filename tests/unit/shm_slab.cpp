// The slab arena: frames placed contiguously, wrapping with padding, reused only once every
// live consumer has released them, and refused (not overwritten) when full.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "shm/slab.hpp"
#include "tests/support/shm_fixture.hpp"

using namespace ringcast::shm;
using namespace ringcast::shm::test;

namespace {

// Writes one frame of `len` bytes whose content depends on its seq; false when full.
bool produce(Producer& p, uint32_t len) {
    uint8_t* buf = p.reserve(len);
    if (!buf) return false;
    for (uint32_t i = 0; i < len; ++i) buf[i] = pattern(p.head(), i);
    p.commit(len, 7);
    return true;
}

bool intact(const Consumer& c, uint32_t producer, uint64_t seq) {
    const Descriptor& d = c.descriptor(producer, seq);
    const uint8_t* f = c.frame(producer, d);
    if (d.seq != seq) return false;
    for (uint32_t i = 0; i < d.length; ++i) {
        if (f[i] != pattern(seq, i)) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("place_frame puts a frame that would straddle the end at the next multiple") {
    CHECK(place_frame(0, 1, 1000).start == 0);
    CHECK(place_frame(0, 1, 1000).end == 8);
    CHECK(place_frame(992, 8, 1000).start == 992);   // ends exactly at the end
    CHECK(place_frame(992, 9, 1000).start == 1000);  // would straddle: padding to 1000
    CHECK(place_frame(1992, 9, 1000).start == 2000);
    CHECK(place_frame(2000, 1000, 1000).end == 3000);
    CHECK(frame_footprint(0) == 0);
    CHECK(frame_footprint(13) == 16);
    CHECK(slab_fits(1100, 100, 1000));
    CHECK_FALSE(slab_fits(1101, 100, 1000));
}

TEST_CASE("frames whose sizes do not divide the slab wrap with padding, never straddling") {
    ScopedName n;
    Segment s = must_create(n.name, {1, 64, 1000});
    Producer p(s, 0);
    Consumer c(s, 0);
    c.join();
    const uint32_t sizes[] = {37, 101, 250, 8, 1, 333, 999, 64, 17, 1000};
    uint64_t prev_end = 0;
    uint64_t wraps = 0;
    for (uint64_t seq = 0; seq < 2000; ++seq) {
        const uint32_t len = sizes[seq % std::size(sizes)];
        REQUIRE(produce(p, len));
        p.publish();
        REQUIRE(c.available(0) == seq + 1);
        const Descriptor& d = c.descriptor(0, seq);
        CHECK(d.length == len);
        CHECK(d.slab_pos % 8 == 0);
        CHECK(d.slab_pos % 1000 + len <= 1000);  // never straddles the end
        CHECK(d.slab_pos >= prev_end);
        if (d.slab_pos != prev_end) {
            // A gap is the padding of a wrap: only where the frame did not fit before the end.
            CHECK(d.slab_pos % 1000 == 0);
            CHECK(prev_end % 1000 + frame_footprint(len) > 1000);
            ++wraps;
        }
        CHECK(intact(c, 0, seq));
        c.release(0, seq + 1);
        prev_end = d.slab_pos + frame_footprint(len);
    }
    CHECK(wraps > 100);
    CHECK(ring_full(s, 0) == 0);
}

TEST_CASE("a full slab returns nullptr, counts ring_full and overwrites nothing") {
    ScopedName n;
    Segment s = must_create(n.name, {2, 64, 1024});
    Producer p(s, 0);
    Consumer c(s, 1);
    c.join();
    for (int i = 0; i < 9; ++i) REQUIRE(produce(p, 100));  // 9 x 104 = 936 bytes
    CHECK(p.reserve(100) == nullptr);                      // 10th would wrap onto frame 0
    CHECK(ring_full(s, 0) == 1);
    CHECK(produce(p, 8));  // a small one still fits before the end
    CHECK(p.reserve(100) == nullptr);
    CHECK(ring_full(s, 0) == 2);
    p.publish();
    for (uint64_t seq = 0; seq < 10; ++seq) CHECK(intact(c, 0, seq));
}

TEST_CASE("slab space is reused only after every live consumer has released it") {
    ScopedName n;
    Segment s = must_create(n.name, {3, 64, 1024});
    Producer p(s, 0);
    Consumer c1(s, 1), c2(s, 2);
    c1.join();
    c2.join();
    for (int i = 0; i < 8; ++i) REQUIRE(produce(p, 128));  // exactly fills the slab
    p.publish();
    CHECK_FALSE(produce(p, 128));

    c1.release(0, 8);  // one consumer is done with everything
    CHECK_FALSE(produce(p, 128));

    c2.release(0, 1);  // the other only with frame 0: its space, and no more, is free
    REQUIRE(produce(p, 128));
    CHECK_FALSE(produce(p, 128));
    p.publish();
    for (uint64_t seq = 1; seq < 9; ++seq) CHECK(intact(c2, 0, seq));
    CHECK(c2.descriptor(0, 8).slab_pos == 1024);  // in frame 0's place
}

TEST_CASE("a frame as large as the slab fits whenever nobody holds anything") {
    ScopedName n;
    Segment s = must_create(n.name, {1, 64, 1024});
    Producer p(s, 0);
    Consumer c(s, 0);
    c.join();
    REQUIRE(produce(p, 100));
    p.publish();
    CHECK_FALSE(produce(p, 1024));  // frame 0 still held
    c.release(0, 1);
    REQUIRE(produce(p, 1024));  // mid-slab: skips to the next multiple
    p.publish();
    CHECK(c.descriptor(0, 1).slab_pos == 1024);
    CHECK(intact(c, 0, 1));
}

TEST_CASE("a frame larger than the slab never fits") {
    ScopedName n;
    Segment s = must_create(n.name, {1, 64, 1024});
    Producer p(s, 0);
    CHECK(p.max_frame() == 1024);
    CHECK(p.reserve(1025) == nullptr);
    CHECK(p.reserve(1024) != nullptr);
}

TEST_CASE("committing fewer bytes than reserved gives the rest back") {
    ScopedName n;
    Segment s = must_create(n.name, {1, 64, 1024});
    Producer p(s, 0);
    Consumer c(s, 0);
    c.join();
    REQUIRE(p.reserve(500) != nullptr);
    p.commit(10, 0);
    REQUIRE(p.reserve(20) != nullptr);
    p.commit(20, 0);
    p.publish();
    CHECK(c.descriptor(0, 0).length == 10);
    CHECK(c.descriptor(0, 1).slab_pos == 16);
}

TEST_CASE("an abandoned reserve at a wrap leaves no two frames overlapping") {
    ScopedName n;
    Segment s = must_create(n.name, {1, 64, 64});
    Producer p(s, 0);
    Consumer c(s, 0);
    c.join();
    REQUIRE(produce(p, 56));
    p.publish();
    c.release(0, 1);
    REQUIRE(p.reserve(16) != nullptr);  // would wrap to 64; then never committed
    REQUIRE(produce(p, 8));
    const bool second = produce(p, 64);  // a whole slab while the 8-byte frame is held
    p.publish();
    CHECK_FALSE(second);
    CHECK(intact(c, 0, 1));
    c.release(0, 2);
    REQUIRE(produce(p, 64));
    p.publish();
    CHECK(intact(c, 0, 2));
}

TEST_CASE("a restarted producer resumes after the last published frame") {
    ScopedName n;
    Segment s = must_create(n.name, {2, 64, 1000});
    Consumer c(s, 1);
    c.join();
    {
        Producer first(s, 0);
        for (int i = 0; i < 5; ++i) REQUIRE(produce(first, 99));
        first.publish();
        REQUIRE(produce(first, 99));  // committed, never published: lost with the process
    }
    Producer second(s, 0);
    CHECK(second.head() == 5);
    CHECK(s.ring(0).hdr->slab_head.load(std::memory_order_relaxed) == 5 * 104);
    REQUIRE(produce(second, 300));
    second.publish();
    CHECK(c.available(0) == 6);
    CHECK(c.descriptor(0, 5).slab_pos == 5 * 104);
    for (uint64_t seq = 0; seq < 6; ++seq) CHECK(intact(c, 0, seq));
}
