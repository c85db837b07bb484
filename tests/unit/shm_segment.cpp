// The shared segment: create/attach, the header check that refuses mismatches, hugepage
// modes, NUMA binding, allocation failures, and the supervisor's member transitions.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>

#include "shm/control.hpp"
#include "shm/hugepages.hpp"
#include "shm/segment.hpp"
#include "shm/sys.hpp"
#include "tests/support/shm_fixture.hpp"

using namespace ringcast::shm;
using namespace ringcast::shm::test;

namespace {

std::string attach_error(const std::string& name) {
    auto r = Segment::attach(name);
    if (auto* e = std::get_if<std::string>(&r)) return *e;
    return {};
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("create then attach by name maps the same segment") {
    ScopedName n;
    Segment a = must_create(n.name, {3, 64, 4096});
    CHECK(a.path() == n.name);
    CHECK_FALSE(a.hugepages());
    CHECK(a.members() == 3);

    auto r = Segment::attach(a.path());
    REQUIRE(std::holds_alternative<Segment>(r));
    Segment& b = std::get<Segment>(r);
    CHECK(b.members() == 3);
    CHECK(b.geometry().ring_capacity == 64);
    CHECK(b.geometry().slab_bytes == 4096);
    CHECK(b.header().creator_pid == ::getpid());

    a.control(2).heartbeat_ns.store(12345, std::memory_order_relaxed);
    a.cursor(1, 2).store(77, std::memory_order_relaxed);
    a.ring(1).slab[4095] = 0xAB;
    CHECK(b.control(2).heartbeat_ns.load(std::memory_order_relaxed) == 12345);
    CHECK(b.cursor(1, 2).load(std::memory_order_relaxed) == 77);
    CHECK(b.ring(1).slab[4095] == 0xAB);
    CHECK(static_cast<void*>(&a.header()) != static_cast<void*>(&b.header()));  // two mappings
}

TEST_CASE("every block sits on its own cache line and each region on a 2 MiB boundary") {
    ScopedName n;
    Segment s = must_create(n.name, {4, 128, 10000});
    auto addr = [](const void* p) { return reinterpret_cast<uintptr_t>(p); };
    const uintptr_t base = addr(&s.header());
    for (uint32_t m = 0; m < 4; ++m) {
        CHECK(addr(&s.control(m)) % kCacheLine == 0);
        CHECK(addr(&s.control(m).heartbeat_ns) - addr(&s.control(m).state) >= kCacheLine);
        RingView r = s.ring(m);
        CHECK((addr(r.hdr) - base) % kRegionAlign == 0);
        CHECK(addr(r.slots) % 8 == 0);
        CHECK(addr(r.slab) % kCacheLine == 0);
        CHECK(addr(r.slab) + r.slab_bytes <= addr(r.hdr) + s.header().region_stride);
        for (uint32_t p = 0; p < 4; ++p) CHECK(addr(&s.cursor(m, p)) % kCacheLine == 0);
    }
    CHECK(addr(&s.cursor(0, 1)) - addr(&s.cursor(0, 0)) == kCacheLine);
    CHECK(s.size() == s.header().total_bytes);
    CHECK(s.header().total_bytes % kRegionAlign == 0);
}

TEST_CASE("a moved segment keeps its mapping") {
    ScopedName n;
    Segment a = must_create(n.name);
    a.control(0).pid.store(42, std::memory_order_relaxed);
    Segment b = std::move(a);
    CHECK(b.control(0).pid.load(std::memory_order_relaxed) == 42);
    static_assert(!std::is_copy_constructible_v<Segment>);
}

TEST_CASE("attach refuses a segment whose header does not match this build") {
    ScopedName n;
    Segment s = must_create(n.name);
    SegmentHeader& h = s.header();

    SUBCASE("corrupt magic") {
        h.magic ^= 1;
        std::string e = attach_error(n.name);
        CHECK(contains(e, "refusing to attach"));
        CHECK(contains(e, "bad magic"));
        CHECK(contains(e, "RINGCAST"));
    }
    SUBCASE("another layout version") {
        h.layout_version = 99;
        std::string e = attach_error(n.name);
        CHECK(contains(e, "layout version is 99 in the segment but " + std::to_string(kLayoutVersion) + " in this build"));
        CHECK(contains(e, "same build"));
    }
    SUBCASE("another sizeof(ControlBlock)") {
        h.control_bytes += 64;
        CHECK(contains(attach_error(n.name), "sizeof(ControlBlock) is"));
    }
    SUBCASE("another sizeof(Descriptor)") {
        h.descriptor_bytes = 24;
        CHECK(contains(attach_error(n.name), "sizeof(Descriptor) is 24 in the segment but 32"));
    }
    SUBCASE("another sizeof(SegmentHeader)") {
        h.header_bytes = 8;
        CHECK(contains(attach_error(n.name), "sizeof(SegmentHeader)"));
    }
    SUBCASE("another sizeof(Cursor)") {
        h.cursor_bytes = 8;
        CHECK(contains(attach_error(n.name), "sizeof(Cursor)"));
    }
    SUBCASE("another sizeof(RingHeader)") {
        h.ring_header_bytes = 16;
        CHECK(contains(attach_error(n.name), "sizeof(RingHeader)"));
    }
    SUBCASE("offsets that do not follow from the geometry") {
        h.slab_offset += 64;
        CHECK(contains(attach_error(n.name), "slab_offset is"));
    }
    SUBCASE("a geometry no build could have made") {
        h.ring_capacity = 100;
        CHECK(contains(attach_error(n.name), "ring capacity is 100, must be a power of two"));
    }
    SUBCASE("a header describing more than is mapped") {
        h.members = 40;  // offsets are checked first; make them consistent with 40 members
        const Layout l = compute_layout(Geometry{40, h.ring_capacity, h.slab_bytes});
        h.control_offset = l.control_offset;
        h.cursors_offset = l.cursors_offset;
        h.regions_offset = l.regions_offset;
        h.region_stride = l.region_stride;
        h.total_bytes = l.total_bytes;
        CHECK(contains(attach_error(n.name), "truncated segment"));
    }
}

TEST_CASE("attach refuses what is not a ringcast segment, saying why") {
    SUBCASE("a name nobody created") {
        std::string e = attach_error("/ringcast-ut-no-such-segment");
        CHECK(contains(e, "cannot open or map it"));
        CHECK(contains(e, "No such file"));
    }
    SUBCASE("a shm object too small for a header") {
        ScopedName n;
        int fd = ::shm_open(n.name.c_str(), O_CREAT | O_RDWR, 0600);
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, 16) == 0);
        ::close(fd);
        CHECK(contains(attach_error(n.name), "too small to hold a ringcast header"));
    }
    SUBCASE("a file of zeros (creator died before writing the magic)") {
        char path[] = "/tmp/ringcast-ut-zeros-XXXXXX";
        int fd = ::mkstemp(path);
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, 1 << 20) == 0);
        ::close(fd);
        CHECK(contains(attach_error(path), "bad magic 0x0000000000000000"));
        ::unlink(path);
    }
}

TEST_CASE("remove unlinks the name; mappings already made stay valid") {
    ScopedName n;
    Segment s = must_create(n.name);
    Segment::remove(n.name);
    CHECK(contains(attach_error(n.name), "No such file"));
    s.control(0).pid.store(7, std::memory_order_relaxed);
    CHECK(s.control(0).pid.load(std::memory_order_relaxed) == 7);
}

TEST_CASE("create rejects an unusable geometry or name with the reason") {
    ScopedName n;
    auto error = [&](const std::string& name, Geometry g) {
        auto r = Segment::create(name, g, HugepageMode::Off, {});
        REQUIRE(std::holds_alternative<std::string>(r));
        return std::get<std::string>(r);
    };
    CHECK(contains(error(n.name, {0, 64, 4096}), "members is 0"));
    CHECK(contains(error(n.name, {2, 48, 4096}), "ring capacity is 48, must be a power of two"));
    CHECK(
        contains(error(n.name, {2, 64, 4095}), "slab size is 4095 bytes, must be a multiple of 8"));
    CHECK(contains(error("ringcast-no-slash", {2, 64, 4096}), "/ringcast-<pid>"));
    CHECK(contains(error("/dir/name", {2, 64, 4096}), "/ringcast-<pid>"));
    auto r = Segment::create(n.name, {2, 64, 4096}, HugepageMode::Off, {0, 0, 0});
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(contains(std::get<std::string>(r), "3 NUMA nodes given for 2 members"));
}

TEST_CASE("create replaces a stale segment of the same name") {
    ScopedName n;
    {
        Segment old = must_create(n.name, {2, 64, 4096});
        old.control(0).pid.store(99, std::memory_order_relaxed);
    }
    Segment fresh = must_create(n.name, {3, 128, 8192});
    CHECK(fresh.members() == 3);
    CHECK(fresh.control(0).pid.load(std::memory_order_relaxed) == 0);
}

TEST_CASE("the hugepage plan names the sysctl and the mount it needs") {
    const char* meminfo_none =
        "MemTotal: 100 kB\nHugePages_Total:       0\nHugePages_Free:        0\n"
        "HugePages_Rsvd:        0\nHugePages_Surp:        0\nHugepagesize:       2048 kB\n";
    const char* meminfo_some =
        "HugePages_Total:      10\nHugePages_Free:        8\nHugePages_Rsvd:        2\n"
        "Hugepagesize:       2048 kB\n";
    const char* mounts_none = "tmpfs /dev/shm tmpfs rw 0 0\n";
    const char* mounts_huge =
        "tmpfs /dev/shm tmpfs rw 0 0\nhugetlbfs /dev/huge\\040pages hugetlbfs "
        "rw,relatime,pagesize=2M 0 0\n";
    const char* mounts_1g = "none /mnt/huge1g hugetlbfs rw,pagesize=1024M 0 0\n";

    SUBCASE("parse") {
        HugepageSystem s = parse_hugepage_system(meminfo_some, mounts_huge);
        CHECK(s.default_page_bytes == kHugepageBytes);
        CHECK(s.total == 10);
        CHECK(s.free == 8);
        CHECK(s.reserved == 2);
        CHECK(s.mount == "/dev/huge pages");
        CHECK(parse_hugepage_system(meminfo_some, mounts_1g).mount.empty());
    }
    SUBCASE("none reserved and nothing mounted") {
        HugepagePlan p = plan_hugepages(parse_hugepage_system(meminfo_none, mounts_none),
                                        "/ringcast-1", 5 * kHugepageBytes);
        CHECK_FALSE(p.usable);
        CHECK(contains(p.reason, "needs 5 hugepages of 2 MiB and 0 are free"));
        CHECK(contains(p.reason, "sysctl -w vm.nr_hugepages=5"));
        CHECK(contains(p.reason, "mount -t hugetlbfs"));
    }
    SUBCASE("too few free: N counts the pages already in use") {
        // 8 free, 2 of them reserved by others: 6 available; 10 - 6 in use + 7 needed = 11.
        HugepagePlan p = plan_hugepages(parse_hugepage_system(meminfo_some, mounts_huge),
                                        "/ringcast-1", 7 * kHugepageBytes);
        CHECK_FALSE(p.usable);
        CHECK(contains(p.reason, "sysctl -w vm.nr_hugepages=11"));
        CHECK_FALSE(contains(p.reason, "mount"));
    }
    SUBCASE("enough pages but no mount") {
        HugepagePlan p = plan_hugepages(parse_hugepage_system(meminfo_some, mounts_none),
                                        "/ringcast-1", 2 * kHugepageBytes);
        CHECK_FALSE(p.usable);
        CHECK_FALSE(contains(p.reason, "sysctl"));
        CHECK(contains(p.reason, "mount -t hugetlbfs -o pagesize=2M none /dev/hugepages"));
    }
    SUBCASE("usable: the segment becomes a file in the mount") {
        HugepagePlan p = plan_hugepages(parse_hugepage_system(meminfo_some, mounts_huge),
                                        "/ringcast-1", 6 * kHugepageBytes);
        CHECK(p.usable);
        CHECK(p.file == "/dev/huge pages/ringcast-1");
    }
    SUBCASE("another default page size") {
        HugepagePlan p = plan_hugepages(
            parse_hugepage_system("HugePages_Free: 100\nHugepagesize: 1048576 kB\n", mounts_1g),
            "/ringcast-1", kHugepageBytes);
        CHECK_FALSE(p.usable);
        CHECK(contains(p.reason, "default_hugepagesz=2M"));
    }
}

TEST_CASE("hugepage modes on this machine") {
    ScopedName n;
    const Geometry g{2, 64, 4096};
    const HugepagePlan plan =
        plan_hugepages(read_hugepage_system(), n.name, compute_layout(g).total_bytes);

    SUBCASE("Auto falls back to /dev/shm with a note when hugepages are not available") {
        Segment s = must_create(n.name, g, HugepageMode::Auto);
        if (!plan.usable) {
            CHECK_FALSE(s.hugepages());
            CHECK(s.path() == n.name);
            CHECK(contains(s.note(), "hugepages not used"));
            CHECK(contains(s.note(), "4 KiB pages"));
            MESSAGE("note: " << s.note());
        } else {
            CHECK(s.hugepages());
            CHECK(s.path() == plan.file);
            auto again = Segment::attach(s.path());
            CHECK(std::holds_alternative<Segment>(again));
            Segment::remove(s.path());
        }
    }
    SUBCASE("Require fails with the sysctl hint when hugepages are not available") {
        auto r = Segment::create(n.name, g, HugepageMode::Require, {});
        if (!plan.usable) {
            REQUIRE(std::holds_alternative<std::string>(r));
            const std::string& e = std::get<std::string>(r);
            CHECK(contains(e, "hugepages required"));
            if (read_hugepage_system().free == 0) CHECK(contains(e, "sysctl -w vm.nr_hugepages="));
            MESSAGE("error: " << e);
        } else {
            REQUIRE(std::holds_alternative<Segment>(r));
            CHECK(std::get<Segment>(r).hugepages());
            Segment::remove(std::get<Segment>(r).path());
        }
    }
    SUBCASE("Off never uses hugepages and has nothing to say") {
        Segment s = must_create(n.name, g, HugepageMode::Off);
        CHECK_FALSE(s.hugepages());
        CHECK(s.note().empty());
        CHECK(s.header().hugepages == 0);
    }
}

namespace {

// A directory standing in for a hugetlbfs mount with 64 free 2 MiB pages, shown to the
// segment through the /proc reads of sys(): exercises the file-backed path on any machine.
struct FakeHugetlbfs {
    static inline std::string dir;
    SysOverride restore;
    FakeHugetlbfs() {
        char tmpl[] = "/tmp/ringcast-ut-huge-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        sys().read_text = [](const char* path) -> std::string {
            if (std::string(path) == "/proc/meminfo") {
                return "HugePages_Total: 64\nHugePages_Free: 64\nHugePages_Rsvd: 0\n"
                       "Hugepagesize: 2048 kB\n";
            }
            return "hugetlbfs " + dir + " hugetlbfs rw,relatime,pagesize=2M 0 0\n";
        };
    }
    ~FakeHugetlbfs() { ::rmdir(dir.c_str()); }
};

bool exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

}  // namespace

TEST_CASE("with hugepages mounted and free, the segment is a file in the mount, attached by path") {
    FakeHugetlbfs huge;
    ScopedName n;
    for (HugepageMode mode : {HugepageMode::Auto, HugepageMode::Require}) {
        Segment s = must_create(n.name, {2, 64, 4096}, mode, {0, -1});
        CHECK(s.hugepages());
        CHECK(s.header().hugepages == 1);
        CHECK(s.path() == FakeHugetlbfs::dir + n.name);
        CHECK_FALSE(contains(s.note(), "hugepages not used"));
        auto r = Segment::attach(s.path());
        REQUIRE(std::holds_alternative<Segment>(r));
        Segment& b = std::get<Segment>(r);
        CHECK(b.hugepages());
        s.ring(1).slab[17] = 0x5A;
        CHECK(b.ring(1).slab[17] == 0x5A);
        Segment::remove(s.path());
        CHECK_FALSE(exists(s.path()));
    }
}

TEST_CASE("an exhausted hugepage pool: Auto falls back with a note, Require fails saying so") {
    FakeHugetlbfs huge;
    ScopedName n;
    // Only allocations in the (fake) hugetlbfs fail, as when the pool runs dry.
    sys().fallocate = [](int fd, uint64_t off, uint64_t len) -> SysResult {
        char link[64], target[512] = {};
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        if (::readlink(link, target, sizeof target - 1) < 0) target[0] = 0;
        if (std::string(target).rfind(FakeHugetlbfs::dir, 0) == 0) return SysResult{-1, ENOMEM};
        int err = ::posix_fallocate(fd, static_cast<off_t>(off), static_cast<off_t>(len));
        return SysResult{err ? -1 : 0, err};
    };
    auto r = Segment::create(n.name, {2, 64, 4096}, HugepageMode::Require, {});
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(contains(std::get<std::string>(r), "hugepages required, but cannot allocate"));
    CHECK(contains(std::get<std::string>(r), "hugepage pool"));
    CHECK_FALSE(exists(FakeHugetlbfs::dir + n.name));  // nothing half-made is left behind

    Segment s = must_create(n.name, {2, 64, 4096}, HugepageMode::Auto);
    CHECK_FALSE(s.hugepages());
    CHECK(s.path() == n.name);
    CHECK(contains(s.note(), "hugepages not used: cannot allocate"));
    CHECK_FALSE(exists(FakeHugetlbfs::dir + n.name));
}

TEST_CASE("regions bound to NUMA node 0 are created; an absent node is a note, not a failure") {
    ScopedName n;
    SUBCASE("node 0 exists everywhere") {
        Segment s = must_create(n.name, {2, 64, 4096}, HugepageMode::Off, {0, -1});
        if (!s.note().empty()) MESSAGE("binding note on this machine: " << s.note());
        CHECK_FALSE(contains(s.note(), "member 1"));  // -1: not bound, nothing to report
        s.ring(0).slab[0] = 1;
    }
    SUBCASE("node 4095 does not") {
        Segment s = must_create(n.name, {2, 64, 4096}, HugepageMode::Off, {4095, -1});
        CHECK(contains(s.note(), "member 0 not NUMA-bound"));
        s.ring(0).slab[0] = 1;
    }
}

TEST_CASE("a full /dev/shm fails create with a clear message instead of SIGBUS later") {
    ScopedName n;
    SysOverride restore;
    sys().fallocate = [](int, uint64_t, uint64_t) { return SysResult{-1, ENOSPC}; };
    auto r = Segment::create(n.name, {2, 64, 4096}, HugepageMode::Off, {});
    REQUIRE(std::holds_alternative<std::string>(r));
    const std::string& e = std::get<std::string>(r);
    CHECK(contains(e, "cannot allocate"));
    CHECK(contains(e, "No space left on device"));
    CHECK(contains(e, "/dev/shm"));
    CHECK(contains(attach_error(n.name), "No such file"));  // nothing half-made is left behind
}

TEST_CASE("the supervisor's member transitions") {
    ScopedName n;
    Segment s = must_create(n.name);
    ControlBlock& cb = s.control(1);
    CHECK(state_of(cb) == MemberState::Empty);

    mark_starting(s, 1, 4242);
    CHECK(state_of(cb) == MemberState::Starting);
    CHECK(cb.pid.load(std::memory_order_relaxed) == 4242);
    CHECK(cb.incarnation.load(std::memory_order_relaxed) == 1);

    cb.sleeping.store(1, std::memory_order_relaxed);
    set_gauge(cb.stats.connections, 17);
    count(cb.stats.accepted, 17);
    mark_dead(s, 1);
    CHECK(state_of(cb) == MemberState::Dead);
    CHECK(cb.sleeping.load(std::memory_order_relaxed) == 0);
    CHECK(cb.stats.connections.load(std::memory_order_relaxed) == 0);
    CHECK(cb.stats.accepted.load(std::memory_order_relaxed) == 17);  // totals survive a death

    mark_starting(s, 1, 4343);
    CHECK(cb.incarnation.load(std::memory_order_relaxed) == 2);
    CHECK(state_of(cb) == MemberState::Starting);

    // A child that joined before the supervisor got round to it stays Live.
    cb.state.store(static_cast<uint32_t>(MemberState::Live), std::memory_order_seq_cst);
    mark_starting(s, 1, 4444);
    CHECK(state_of(cb) == MemberState::Live);
    CHECK(cb.pid.load(std::memory_order_relaxed) == 4444);
}

TEST_CASE("protocol errors are counted in total and by close code") {
    ScopedName n;
    Segment s = must_create(n.name);
    Stats& st = s.control(0).stats;
    count_protocol_error(st, 1002);
    count_protocol_error(st, 1009);
    count_protocol_error(st, 1009);
    count_protocol_error(st, 1003);  // counted in the total only
    CHECK(st.protocol_errors.load(std::memory_order_relaxed) == 4);
    CHECK(st.protocol_errors_by_code[close_code_slot(1002)].load(std::memory_order_relaxed) == 1);
    CHECK(st.protocol_errors_by_code[close_code_slot(1009)].load(std::memory_order_relaxed) == 2);
    CHECK(st.protocol_errors_by_code[close_code_slot(1011)].load(std::memory_order_relaxed) == 0);
    beat(s.control(0), 99);
    CHECK(s.control(0).heartbeat_ns.load(std::memory_order_relaxed) == 99);
}
