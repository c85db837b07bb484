// The SPMC ring between threads: order, wrap-around, batching, pushback when full, live vs
// dead vs joining consumers, the sleep/wake handshake, and a multi-threaded stream checked
// byte by byte (the test the TSan tree runs).
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "tests/support/shm_fixture.hpp"

using namespace ringcast::shm;
using namespace ringcast::shm::test;

namespace {

uint32_t size_of(uint64_t seq) {
    return 8 + static_cast<uint32_t>((seq * 2654435761u) % 120);
}

// A frame whose length and bytes follow from its seq: the first 8 bytes are the seq itself.
bool produce(Producer& p, uint64_t seq) {
    const uint32_t len = size_of(seq);
    uint8_t* buf = p.reserve(len);
    if (!buf) return false;
    std::memcpy(buf, &seq, 8);
    for (uint32_t i = 8; i < len; ++i) buf[i] = pattern(seq, i);
    p.commit(len, static_cast<uint32_t>(seq));  // no channel name
    return true;
}

// Empty when the record at seq is exactly what produce() wrote, else what is wrong.
std::string verify(const Consumer& c, uint32_t producer, uint64_t seq) {
    const Descriptor& d = c.descriptor(producer, seq);
    if (d.seq != seq)
        return "descriptor seq " + std::to_string(d.seq) + " at " + std::to_string(seq);
    if (d.length != size_of(seq)) return "length at " + std::to_string(seq);
    if (d.origin_member != producer) return "origin_member at " + std::to_string(seq);
    if (d.origin_conn != static_cast<uint32_t>(seq)) return "origin_conn at " + std::to_string(seq);
    const uint8_t* f = c.frame(producer, d);
    uint64_t in_frame;
    std::memcpy(&in_frame, f, 8);
    if (in_frame != seq)
        return "payload seq " + std::to_string(in_frame) + " at " + std::to_string(seq);
    for (uint32_t i = 8; i < d.length; ++i) {
        if (f[i] != pattern(seq, i))
            return "payload byte " + std::to_string(i) + " at " + std::to_string(seq);
    }
    return {};
}

}  // namespace

TEST_CASE("records wrap around the ring many times and arrive in order, intact") {
    ScopedName n;
    Segment s = must_create(n.name, {1, 8, 4096});
    Producer p(s, 0);
    Consumer c(s, 0);  // a member consumes its own ring too
    c.join();
    uint64_t next = 0, read = 0;
    while (next < 10000) {
        const uint64_t batch = 1 + next % 5;
        for (uint64_t i = 0; i < batch; ++i) REQUIRE(produce(p, next++));
        p.publish();
        const uint64_t head = c.available(0);
        REQUIRE(head == next);
        for (; read < head; ++read) REQUIRE(verify(c, 0, read) == "");
        c.release(0, read);
    }
    CHECK(ring_full(s, 0) == 0);
}

TEST_CASE("publish makes a whole batch visible at once") {
    ScopedName n;
    Segment s = must_create(n.name, {2, 8, 4096});
    Producer p(s, 0);
    Consumer c(s, 1);
    c.join();
    for (uint64_t i = 0; i < 3; ++i) REQUIRE(produce(p, i));
    CHECK(p.head() == 3);
    CHECK(c.available(0) == 0);
    p.publish();
    CHECK(c.available(0) == 3);
    p.publish();  // nothing new: no store
    CHECK(s.ring(0).hdr->head.load(std::memory_order_relaxed) == 3);
}

TEST_CASE("a full ring returns nullptr, counts ring_full and overwrites nothing") {
    ScopedName n;
    Segment s = must_create(n.name, {2, 8, 4096});
    Producer p(s, 0);
    Consumer c(s, 1);
    c.join();
    for (uint64_t i = 0; i < 8; ++i) REQUIRE(produce(p, i));
    p.publish();
    CHECK(p.free_descriptors() == 0);
    CHECK_FALSE(produce(p, 8));
    CHECK_FALSE(produce(p, 8));
    CHECK(ring_full(s, 0) == 2);
    for (uint64_t i = 0; i < 8; ++i) CHECK(verify(c, 0, i) == "");

    c.release(0, 3);
    for (uint64_t i = 8; i < 11; ++i) REQUIRE(produce(p, i));
    CHECK_FALSE(produce(p, 11));
    CHECK(ring_full(s, 0) == 3);
    p.publish();
    for (uint64_t i = 3; i < 11; ++i) CHECK(verify(c, 0, i) == "");
}

TEST_CASE("the producer rescans cursors only when its cached limit is exhausted") {
    ScopedName n;
    Segment s = must_create(n.name, {2, 8, 4096});
    Producer p(s, 0);
    Consumer c(s, 1);
    c.join();
    REQUIRE(produce(p, 0));
    REQUIRE(produce(p, 1));
    p.publish();
    CHECK(p.free_descriptors() == 6);
    c.release(0, 2);
    CHECK(p.free_descriptors() == 6);  // the release is not looked at yet
    for (uint64_t i = 2; i < 8; ++i) REQUIRE(produce(p, i));
    CHECK(p.free_descriptors() == 0);
    REQUIRE(produce(p, 8));  // exhausted: rescans, finds the release
    CHECK(p.free_descriptors() == 1);
}

TEST_CASE("a dead consumer is ignored; the live ones still get everything") {
    ScopedName n;
    Segment s = must_create(n.name, {3, 8, 4096});
    Producer p(s, 0);
    Consumer live(s, 1), doomed(s, 2);
    live.join();
    doomed.join();
    uint64_t next = 0, read = 0;
    for (; next < 8; ++next) REQUIRE(produce(p, next));
    p.publish();
    for (; read < 8; ++read) REQUIRE(verify(live, 0, read) == "");
    live.release(0, read);
    CHECK_FALSE(produce(p, next));  // doomed holds everything

    mark_dead(s, 2);
    for (int round = 0; round < 100; ++round) {
        for (int i = 0; i < 5; ++i, ++next) REQUIRE(produce(p, next));
        p.publish();
        for (; read < live.available(0); ++read) REQUIRE(verify(live, 0, read) == "");
        live.release(0, read);
    }
    CHECK(read == 508);
}

TEST_CASE("a Starting or Empty member's stale cursor is ignored until it joins") {
    ScopedName n;
    Segment s = must_create(n.name, {3, 8, 4096});
    Producer p(s, 0);
    s.cursor(1, 0).store(0, std::memory_order_relaxed);  // stale, from an earlier life
    mark_starting(s, 1, 1234);
    for (uint64_t i = 0; i < 20; ++i) REQUIRE(produce(p, i));  // member 2 Empty, member 1 Starting
    p.publish();
    CHECK(ring_full(s, 0) == 0);
}

TEST_CASE("a joining consumer starts at the head and sees only later records") {
    ScopedName n;
    Segment s = must_create(n.name, {2, 8, 4096});
    Producer p(s, 0);
    for (uint64_t i = 0; i < 13; ++i) REQUIRE(produce(p, i));
    p.publish();
    Consumer c(s, 1);
    c.join();
    CHECK(c.cursor(0) == 13);
    CHECK(c.cursor(1) == 0);  // member 1's own ring is empty
    CHECK(c.available(0) == 13);
    for (uint64_t i = 13; i < 16; ++i) REQUIRE(produce(p, i));
    p.publish();
    for (uint64_t seq = c.cursor(0); seq < c.available(0); ++seq) CHECK(verify(c, 0, seq) == "");
    // It now holds the producer back: 8 slots from its cursor.
    for (uint64_t i = 16; i < 21; ++i) REQUIRE(produce(p, i));
    CHECK_FALSE(produce(p, 21));
}

TEST_CASE("a consumer caught mid-join with a stale cursor makes the producer wait, not lap it") {
    ScopedName n;
    Segment s = must_create(n.name, {2, 8, 4096});
    Producer p(s, 0);
    uint64_t next = 0;
    for (; next < 30; ++next) REQUIRE(produce(p, next));
    p.publish();
    // What a producer can see between join()'s Live store and its cursor store. Its cached
    // limit stays valid (a real join's cursor is >= the head the limit was computed at); the
    // next rescan must not trust the stale cursor.
    s.control(1).state.store(static_cast<uint32_t>(MemberState::Live), std::memory_order_seq_cst);
    while (p.free_descriptors() > 0) REQUIRE(produce(p, next++));
    CHECK_FALSE(produce(p, next));
    Consumer c(s, 1);
    c.join();
    REQUIRE(produce(p, next));
    p.publish();
    CHECK(verify(c, 0, next) == "");
}

TEST_CASE("wake_sleepers wakes each sleeping consumer once, and nobody when none sleeps") {
    ScopedName n;
    Segment s = must_create(n.name, {3, 8, 4096});
    Producer p(s, 0);
    Consumer c1(s, 1), c2(s, 2);
    c1.join();
    c2.join();
    std::vector<uint32_t> woken;
    auto wake = [&](uint32_t m) { woken.push_back(m); };

    REQUIRE(produce(p, 0));
    p.publish();
    p.wake_sleepers(wake);
    CHECK(woken.empty());

    c2.prepare_sleep();
    CHECK(c2.available(0) == 1);  // the re-check a consumer makes before blocking
    p.wake_sleepers(wake);
    CHECK(woken.empty());  // nothing published since the last call: no fence, no scan
    REQUIRE(produce(p, 1));
    p.publish();
    p.wake_sleepers(wake);
    CHECK(woken == std::vector<uint32_t>{2});
    CHECK(s.control(2).sleeping.load(std::memory_order_relaxed) == 0);
    REQUIRE(produce(p, 2));
    p.publish();
    p.wake_sleepers(wake);
    CHECK(woken.size() == 1);  // the flag was cleared by the first wake

    c1.prepare_sleep();
    c1.cancel_sleep();  // found data on the re-check
    REQUIRE(produce(p, 3));
    p.publish();
    p.wake_sleepers(wake);
    CHECK(woken.size() == 1);
}

// 1 producer thread, 3 consumer threads, a 64-slot ring and a 4 KiB slab: the producer is
// pushed back constantly, wraps the ring ~15000 times and the slab far more; every byte of
// every record is checked in order by every consumer. Consumer 3 blocks on an eventfd
// through the sleep/wake handshake instead of spinning.
TEST_CASE(
    "one producer and three consumer threads stream a million records through a 64-slot ring") {
    constexpr uint64_t kRecords = 1'000'000;
    constexpr uint32_t kConsumers = 3;
    ScopedName n;
    Segment s = must_create(n.name, {1 + kConsumers, 64, 4096});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    auto late = [&] { return std::chrono::steady_clock::now() > deadline; };
    std::atomic<bool> failed{false};
    int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    REQUIRE(efd >= 0);

    std::vector<Consumer> consumers;
    for (uint32_t m = 1; m <= kConsumers; ++m) {
        consumers.emplace_back(s, m);
        consumers.back().join();
    }
    std::vector<std::string> errors(kConsumers);
    std::vector<uint64_t> sleeps(kConsumers, 0);
    std::vector<std::thread> threads;
    for (uint32_t k = 0; k < kConsumers; ++k) {
        threads.emplace_back([&, k] {
            Consumer& c = consumers[k];
            const bool sleeper = k == kConsumers - 1;
            uint64_t read = 0;
            while (read < kRecords && !failed.load(std::memory_order_relaxed)) {
                if (late()) {
                    errors[k] = "timed out at " + std::to_string(read);
                    failed = true;
                    break;
                }
                uint64_t head = c.available(0);
                if (head == read) {
                    if (!sleeper) {
                        std::this_thread::yield();
                        continue;
                    }
                    c.prepare_sleep();
                    if (c.available(0) == read) {
                        pollfd pfd{efd, POLLIN, 0};
                        ::poll(&pfd, 1, 100);
                        uint64_t v;
                        [[maybe_unused]] ssize_t r = ::read(efd, &v, sizeof v);
                        ++sleeps[k];
                    }
                    c.cancel_sleep();
                    continue;
                }
                for (; read < head; ++read) {
                    std::string e = verify(c, 0, read);
                    if (!e.empty()) {
                        errors[k] = e;
                        failed = true;
                        return;
                    }
                    // Release in uneven steps so cursors lag by different amounts.
                    if (read % (7 + k * 5) == 0) c.release(0, read + 1);
                }
                c.release(0, read);
            }
        });
    }
    Producer p(s, 0);
    uint64_t pushed_back = 0;
    for (uint64_t seq = 0; seq < kRecords && !failed.load(std::memory_order_relaxed);) {
        if (!produce(p, seq)) {
            ++pushed_back;
            p.publish();
            if (late()) {
                failed = true;
                break;
            }
            std::this_thread::yield();
            continue;
        }
        ++seq;
        if (seq % 4 == 0 || seq == kRecords) {
            p.publish();
            p.wake_sleepers([&](uint32_t) {
                uint64_t one = 1;
                [[maybe_unused]] ssize_t w = ::write(efd, &one, sizeof one);
            });
        }
    }
    p.publish();
    p.wake_sleepers([&](uint32_t) {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t w = ::write(efd, &one, sizeof one);
    });
    for (auto& t : threads) t.join();
    ::close(efd);
    for (uint32_t k = 0; k < kConsumers; ++k) CHECK_MESSAGE(errors[k] == "", "consumer " << k + 1);
    CHECK_FALSE(failed.load());
    CHECK(p.head() == kRecords);
    CHECK(pushed_back > 0);
    CHECK(ring_full(s, 0) == pushed_back);
    MESSAGE("pushed back " << pushed_back << " times; the sleeper slept " << sleeps[kConsumers - 1]
                           << " times");
}
