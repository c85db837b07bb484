// The ring fabric between real processes: the parent plays the supervisor (creates the
// segment, forks, kills, reaps, mark_dead/mark_starting); each child attaches the segment by
// name and is a producer or a consumer. Records carry their sequence number and a checksum,
// so consumers verify exactly-once, in-order delivery of intact bytes. Every wait is
// bounded; children die with the parent (PR_SET_PDEATHSIG) and an alarm; every pid forked is
// reaped; only our own pids are ever signalled.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "tests/support/shm_fixture.hpp"

using namespace ringcast::shm;
using namespace ringcast::shm::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kSlots = 8;           // members the board has room for
constexpr unsigned kChildSeconds = 120;  // alarm: no child outlives a hung test

// Test-only coordination page (anonymous shared memory inherited by fork), separate from the
// segment under test.
struct Board {
    std::atomic<uint64_t> received[kSlots];  // records verified so far, per consumer
    std::atomic<uint64_t> join_cursor[kSlots];
    std::atomic<uint64_t> head_before_join[kSlots];
    std::atomic<uint32_t> joined[kSlots];
    std::atomic<uint32_t> hold;  // the producer waits at hold_at while this is set
    std::atomic<uint64_t> hold_at;
    std::atomic<uint64_t> pushbacks;  // reserve() returned nullptr
    std::atomic<uint64_t> sleeps;     // consumers blocked on their eventfd
    char error[kSlots + 1][240];
};

class BoardMapping {
  public:
    BoardMapping() {
        void* p = ::mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                         -1, 0);
        REQUIRE(p != MAP_FAILED);
        board_ = new (p) Board{};
    }
    ~BoardMapping() { ::munmap(board_, sizeof(Board)); }
    BoardMapping(const BoardMapping&) = delete;
    BoardMapping& operator=(const BoardMapping&) = delete;
    Board& operator*() { return *board_; }

  private:
    Board* board_;
};

// Records why a child failed and returns its exit code.
int fail(Board& b, uint32_t slot, const std::string& what, int code) {
    std::snprintf(b.error[slot], sizeof b.error[slot], "%s", what.c_str());
    return code;
}

void nap_us(long us) {
    timespec ts{0, us * 1000};
    ::nanosleep(&ts, nullptr);
}

// --- the records --------------------------------------------------------------------------

uint64_t mix(uint64_t x) {  // splitmix64
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint32_t size_of(uint64_t seq) {
    return 16 + static_cast<uint32_t>(mix(seq) % 1500);
}

// Layout: seq (8) | length (4) | FNV-1a of the rest (4) | bytes derived from seq.
void fill(uint8_t* f, uint64_t seq, uint32_t len) {
    uint64_t state = mix(seq ^ 0xA5A5);
    uint32_t h = 2166136261u;
    for (uint32_t i = 16; i < len; ++i) {
        if ((i & 7) == 0) state = mix(state);
        f[i] = static_cast<uint8_t>(state >> ((i & 7) * 8));
        h = (h ^ f[i]) * 16777619u;
    }
    std::memcpy(f, &seq, 8);
    std::memcpy(f + 8, &len, 4);
    std::memcpy(f + 12, &h, 4);
}

std::string check(const Descriptor& d, const uint8_t* f, uint64_t seq) {
    const std::string at = " at seq " + std::to_string(seq);
    if (d.seq != seq) return "descriptor seq " + std::to_string(d.seq) + at;
    if (d.length != size_of(seq)) return "descriptor length " + std::to_string(d.length) + at;
    uint64_t s;
    uint32_t len, sum, h = 2166136261u;
    std::memcpy(&s, f, 8);
    std::memcpy(&len, f + 8, 4);
    std::memcpy(&sum, f + 12, 4);
    if (s != seq) return "payload seq " + std::to_string(s) + at;
    if (len != d.length) return "payload length" + at;
    for (uint32_t i = 16; i < len; ++i) h = (h ^ f[i]) * 16777619u;
    if (h != sum) return "checksum mismatch" + at;
    return {};
}

// --- children -----------------------------------------------------------------------------

class Children {
  public:
    ~Children() {
        for (pid_t p : pids_) ::kill(p, SIGKILL);  // only pids we forked and have not reaped
        for (pid_t p : pids_) ::waitpid(p, nullptr, 0);
    }
    pid_t spawn(const std::function<int()>& body) {
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(90);  // the parent died before prctl
            ::alarm(kChildSeconds);
            ::_exit(body());  // no doctest or atexit work in the child
        }
        pids_.push_back(pid);
        return pid;
    }
    // Exit status of pid (-1 when it does not end before the deadline), reaped.
    int reap(pid_t pid, Clock::duration within) {
        const auto deadline = Clock::now() + within;
        for (;;) {
            int status = 0;
            const pid_t r = ::waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                std::erase(pids_, pid);
                if (WIFEXITED(status)) return WEXITSTATUS(status);
                return 128 + WTERMSIG(status);
            }
            if (r < 0 || Clock::now() > deadline) return -1;
            nap_us(2000);
        }
    }
    void kill_and_reap(pid_t pid) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        std::erase(pids_, pid);
    }

  private:
    std::vector<pid_t> pids_;
};

bool wait_until(const std::function<bool()>& cond, Clock::duration within) {
    const auto deadline = Clock::now() + within;
    while (!cond()) {
        if (Clock::now() > deadline) return false;
        nap_us(1000);
    }
    return true;
}

Segment attach_or_die(const std::string& name, Board& b, uint32_t slot) {
    auto r = Segment::attach(name);
    if (auto* e = std::get_if<std::string>(&r)) {
        ::_exit(fail(b, slot, *e, 2));
    }
    return std::move(std::get<Segment>(r));
}

struct Fabric {
    std::string name;
    std::vector<int> wake_fds;  // eventfd per member, inherited by every child
};

// Streams records seq = ring head .. total-1 from member 0, publishing in small batches and
// waking sleeping consumers; pauses at board.hold_at while board.hold is set.
int producer_main(const Fabric& fab, Board& b, uint64_t total) {
    Segment seg = attach_or_die(fab.name, b, 0);
    Producer p(seg, 0);
    const auto deadline = Clock::now() + std::chrono::seconds(90);
    auto wake = [&](uint32_t m) {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t w = ::write(fab.wake_fds[m], &one, sizeof one);
    };
    while (p.head() < total) {
        const uint64_t seq = p.head();
        if (seq == b.hold_at.load(std::memory_order_relaxed) && b.hold.load()) {
            p.publish();
            p.wake_sleepers(wake);
            while (b.hold.load()) {
                if (Clock::now() > deadline) return fail(b, 0, "held too long", 3);
                nap_us(500);
            }
        }
        const uint32_t len = size_of(seq);
        uint8_t* f = p.reserve(len);
        if (!f) {  // pushed back: what a shard does when it stops reading its clients
            b.pushbacks.fetch_add(1, std::memory_order_relaxed);
            p.publish();
            p.wake_sleepers(wake);
            if (Clock::now() > deadline) return fail(b, 0, "stalled at " + std::to_string(seq), 4);
            nap_us(50);
            continue;
        }
        fill(f, seq, len);
        p.commit(len, static_cast<uint32_t>(seq));
        if ((seq + 1) % (1 + seq % 5) == 0) {
            p.publish();
            p.wake_sleepers(wake);
        }
    }
    p.publish();
    p.wake_sleepers(wake);
    return 0;
}

// Joins as `member` and verifies records until `total`; `slow` consumers nap now and then so
// the producer is pushed back. Blocks on its eventfd when idle (the sleep/wake handshake).
int consumer_main(const Fabric& fab, Board& b, uint32_t member, uint64_t total, bool slow) {
    Segment seg = attach_or_die(fab.name, b, member);
    Consumer c(seg, member);
    b.head_before_join[member].store(c.available(0));
    c.join();
    const uint64_t start = c.cursor(0);
    b.join_cursor[member].store(start);
    b.joined[member].store(1);
    const auto deadline = Clock::now() + std::chrono::seconds(90);
    uint64_t read = start;
    while (read < total) {
        if (Clock::now() > deadline)
            return fail(b, member, "timed out at " + std::to_string(read), 3);
        const uint64_t head = c.available(0);
        if (head == read) {
            c.prepare_sleep();
            if (c.available(0) == read) {
                pollfd pfd{fab.wake_fds[member], POLLIN, 0};
                ::poll(&pfd, 1, 50);
                uint64_t v;
                [[maybe_unused]] ssize_t r = ::read(fab.wake_fds[member], &v, sizeof v);
                b.sleeps.fetch_add(1, std::memory_order_relaxed);
            }
            c.cancel_sleep();
            continue;
        }
        for (; read < head; ++read) {
            const Descriptor& d = c.descriptor(0, read);
            if (std::string e = check(d, c.frame(0, d), read); !e.empty()) {
                return fail(b, member, e, 1);
            }
            if (slow && read % 2000 == 0) nap_us(300);
            if (read % 8 == 0) c.release(0, read);
        }
        c.release(0, read);
        b.received[member].store(read - start);
    }
    return 0;
}

Fabric make_fabric(const std::string& tag, uint32_t members) {
    Fabric fab{"/ringcast-mp-" + tag + "-" + std::to_string(::getpid()), {}};
    for (uint32_t m = 0; m < members; ++m) {
        int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        REQUIRE(fd >= 0);
        fab.wake_fds.push_back(fd);
    }
    return fab;
}

void close_fabric(const Fabric& fab) {
    for (int fd : fab.wake_fds) ::close(fd);
    Segment::remove(fab.name);
}

}  // namespace

TEST_CASE(
    "consumer processes receive every record exactly once and in order while one is "
    "SIGKILLed, marked dead and restarted") {
    constexpr uint64_t kTotal = 200'000;
    constexpr uint32_t kCapacity = 64;
    Fabric fab = make_fabric("kill", 4);
    Segment seg = must_create(fab.name, {4, kCapacity, 32 * 1024}, HugepageMode::Auto);
    BoardMapping board;
    Board& b = *board;
    Children kids;

    pid_t consumers[4] = {};
    for (uint32_t m = 1; m <= 3; ++m) {
        mark_starting(seg, m, 0);
        consumers[m] = kids.spawn([&, m] { return consumer_main(fab, b, m, kTotal, m == 1); });
    }
    REQUIRE(wait_until([&] { return b.joined[1] && b.joined[2] && b.joined[3]; },
                       std::chrono::seconds(20)));
    b.hold_at.store(kTotal * 3 / 4);
    b.hold.store(1);  // the stream pauses there until the restarted consumer has joined
    mark_starting(seg, 0, 0);
    const pid_t producer = kids.spawn([&] { return producer_main(fab, b, kTotal); });

    // Kill consumer 2 a quarter of the way in.
    REQUIRE(
        wait_until([&] { return b.received[2].load() >= kTotal / 4; }, std::chrono::seconds(60)));
    kids.kill_and_reap(consumers[2]);
    const uint64_t dead_got = b.received[2].load();

    // Until it is marked dead, its cursor holds the producer back, and is never lapped.
    std::atomic<uint64_t>& head = seg.ring(0).hdr->head;
    uint64_t stalled = head.load(std::memory_order_acquire);
    CHECK(wait_until(
        [&] {
            nap_us(100'000);
            const uint64_t now = std::exchange(stalled, head.load(std::memory_order_acquire));
            return now == stalled;
        },
        std::chrono::seconds(10)));
    const uint64_t dead_cursor = seg.cursor(2, 0).load(std::memory_order_acquire);
    CHECK(stalled - dead_cursor <= kCapacity);
    nap_us(300'000);
    CHECK(head.load(std::memory_order_acquire) == stalled);

    mark_dead(seg, 2);
    CHECK(wait_until([&] { return head.load(std::memory_order_acquire) > stalled; },
                     std::chrono::seconds(10)));

    // A new process for member 2 joins at the head and gets only what is published after.
    mark_starting(seg, 2, 0);
    b.joined[2].store(0);
    b.received[2].store(0);
    consumers[2] = kids.spawn([&] { return consumer_main(fab, b, 2, kTotal, false); });
    REQUIRE(wait_until([&] { return b.joined[2].load() != 0; }, std::chrono::seconds(20)));
    b.hold.store(0);

    const int producer_rc = kids.reap(producer, std::chrono::seconds(100));
    CHECK_MESSAGE(producer_rc == 0, "producer: " << b.error[0]);
    for (uint32_t m = 1; m <= 3; ++m) {
        const int rc = kids.reap(consumers[m], std::chrono::seconds(100));
        CHECK_MESSAGE(rc == 0, "consumer " << m << ": " << b.error[m]);
    }
    CHECK(b.received[1].load() == kTotal);
    CHECK(b.received[3].load() == kTotal);
    const uint64_t rejoined_at = b.join_cursor[2].load();
    CHECK(rejoined_at >= b.head_before_join[2].load());  // nothing published before the join
    CHECK(rejoined_at > dead_got);
    CHECK(rejoined_at <= kTotal * 3 / 4);  // it joined while the stream was held
    CHECK(b.received[2].load() == kTotal - rejoined_at);
    CHECK(b.pushbacks.load() > 0);
    CHECK(ring_full(seg, 0) == b.pushbacks.load());
    MESSAGE("laps of the ring: " << kTotal / kCapacity << ", pushbacks: " << b.pushbacks.load()
                                 << ", consumer sleeps: " << b.sleeps.load()
                                 << ", dead consumer had " << dead_got
                                 << ", restarted one joined at " << rejoined_at << ", pages: "
                                 << std::string(seg.hugepages() ? "2 MiB" : "4 KiB"));
    close_fabric(fab);
}

TEST_CASE(
    "a producer SIGKILLed mid-stream and restarted resumes its ring; consumers see one "
    "unbroken stream") {
    constexpr uint64_t kTotal = 150'000;
    Fabric fab = make_fabric("restart", 3);
    Segment seg = must_create(fab.name, {3, 128, 64 * 1024}, HugepageMode::Auto);
    BoardMapping board;
    Board& b = *board;
    Children kids;

    pid_t consumers[3] = {};
    for (uint32_t m = 1; m <= 2; ++m) {
        mark_starting(seg, m, 0);
        consumers[m] = kids.spawn([&, m] { return consumer_main(fab, b, m, kTotal, m == 2); });
    }
    REQUIRE(wait_until([&] { return b.joined[1] && b.joined[2]; }, std::chrono::seconds(20)));

    mark_starting(seg, 0, 0);
    pid_t producer = kids.spawn([&] { return producer_main(fab, b, kTotal); });
    REQUIRE(
        wait_until([&] { return b.received[1].load() >= kTotal / 3; }, std::chrono::seconds(60)));
    kids.kill_and_reap(producer);
    mark_dead(seg, 0);
    const uint64_t head_at_death = seg.ring(0).hdr->head.load(std::memory_order_acquire);
    CHECK(head_at_death < kTotal);

    mark_starting(seg, 0, 0);
    producer = kids.spawn([&] { return producer_main(fab, b, kTotal); });
    CHECK_MESSAGE(kids.reap(producer, std::chrono::seconds(100)) == 0, "producer: " << b.error[0]);
    for (uint32_t m = 1; m <= 2; ++m) {
        const int rc = kids.reap(consumers[m], std::chrono::seconds(100));
        CHECK_MESSAGE(rc == 0, "consumer " << m << ": " << b.error[m]);
        CHECK(b.received[m].load() == kTotal);
    }
    MESSAGE("producer killed at head " << head_at_death << " of " << kTotal);
    close_fabric(fab);
}
