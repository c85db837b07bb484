/*
 * The specification of `ringcast doctor` (supervisor/doctor.hpp): the line format, the parsers
 * of /proc text, the segment and hugepage arithmetic (which must agree with what the segment
 * itself decides), and the verdict for each shortfall a host can have, judged from facts built
 * here. Also the sd_notify messages of supervisor/notify.hpp, read off a socket of our own.
 */
#include <doctest/doctest.h>
#include <liburing.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "shm/hugepages.hpp"
#include "shm/layout.hpp"
#include "supervisor/doctor.hpp"
#include "supervisor/notify.hpp"
#include "base/fd.hpp"

using namespace ringcast::supervisor;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

const char* const kMeminfoNoPool =
    "MemTotal:       32768000 kB\n"
    "MemAvailable:   24000000 kB\n"
    "HugePages_Total:       0\n"
    "HugePages_Free:        0\n"
    "HugePages_Rsvd:        0\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       2048 kB\n";

std::string meminfo(uint64_t total, uint64_t free, uint64_t rsvd, uint64_t page_kb = 2048) {
    return "MemAvailable:   16777216 kB\nHugePages_Total: " + std::to_string(total) +
           "\nHugePages_Free: " + std::to_string(free) +
           "\nHugePages_Rsvd: " + std::to_string(rsvd) +
           "\nHugePages_Surp: 0\nHugepagesize: " + std::to_string(page_kb) + " kB\n";
}

const char* const kMountsHuge =
    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
    "tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n"
    "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n";

// A host where everything ringcast wants is there, for a 2-shard config (segment 200 MiB).
HostFacts good_host() {
    HostFacts h;
    h.kernel_release = "6.1.0-18-amd64";
    h.machine = "x86_64";
    h.uid = 998;
    h.io_uring_disabled = 0;
    h.uring.features = IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL | IORING_FEAT_SINGLE_MMAP;
    for (Probe* p : {&h.uring.fast_setup, &h.uring.opcode_probe, &h.uring.buf_ring,
                     &h.uring.multishot_accept, &h.uring.multishot_recv, &h.uring.sendmsg}) {
        p->result = 0;
    }
    h.meminfo = meminfo(512, 512, 0);
    h.mounts = kMountsHuge;
    h.hugetlbfs = {
        HugetlbfsMount{"/dev/hugepages", 2 * kMiB, true, 01770, "mode 1770 root:ringcast"}};
    h.dev_shm_free_bytes = 8 * kGiB;
    h.dev_shm_size_bytes = 8 * kGiB;
    h.topology.nodes = {NodeInfo{0, {0, 1, 2, 3}}};
    h.topology.allowed_cpus = 4;
    h.numa_nodes = {0};
    h.cores = 4;
    h.pus = 4;
    h.nofile_soft = h.nofile_hard = 1048576;
    h.nr_open = 1048576;
    h.somaxconn = 65535;
    h.tcp_migrate_req = 1;
    h.listen.address = ":9002";
    h.control = ControlSocketFacts{
        "/run/ringcast/control.sock", "/run/ringcast", true, true, "", false, false, false, false};
    return h;
}

Config two_shards() {
    Config c;
    c.worker_processes = 1;
    c.shards = 2;
    return c;
}

// By value: the checks are often a temporary (find(judge(...), "x")).
Check find(const std::vector<Check>& checks, const std::string& name) {
    auto it =
        std::find_if(checks.begin(), checks.end(), [&](const Check& c) { return c.name == name; });
    REQUIRE_MESSAGE(it != checks.end(), "no check named " << name);
    return *it;
}

bool has(const std::vector<Check>& checks, const std::string& name) {
    return std::any_of(checks.begin(), checks.end(),
                       [&](const Check& c) { return c.name == name; });
}

bool any_fail(const std::vector<Check>& checks) {
    return std::any_of(checks.begin(), checks.end(),
                       [](const Check& c) { return c.verdict == Verdict::Fail; });
}

std::string lines_of(const std::vector<Check>& checks) {
    std::string s;
    for (const auto& c : checks) s += format_check(c) + "\n";
    return s;
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("doctor lines") {
    TEST_CASE("a line is the padded verdict, the check, its detail and the fix after an em dash") {
        CHECK(format_check(Check{Verdict::Ok, "kernel", "Linux 6.1.0", ""}) ==
              "ok    kernel: Linux 6.1.0");
        CHECK(format_check(Check{Verdict::Warn, "somaxconn", "net.core.somaxconn = 128",
                                 "sysctl -w net.core.somaxconn=65535"}) ==
              "warn  somaxconn: net.core.somaxconn = 128 \xE2\x80\x94 fix: sysctl -w "
              "net.core.somaxconn=65535");
        CHECK(
            format_check(Check{Verdict::Fail, "listen", "x", "y"}).starts_with("fail  listen: x "));
    }

    TEST_CASE("sizes print in the largest whole unit, else with one decimal") {
        CHECK(format_bytes(0) == "0 B");
        CHECK(format_bytes(512) == "512 B");
        CHECK(format_bytes(64 * 1024) == "64 KiB");
        CHECK(format_bytes(200 * kMiB) == "200 MiB");
        CHECK(format_bytes(3 * kGiB / 2) == "1.5 GiB");
        CHECK(format_bytes(2 * kGiB) == "2 GiB");
    }
}

TEST_SUITE("doctor parsers") {
    TEST_CASE("meminfo: kB values become bytes, page counts stay counts, missing keys are zero") {
        MemInfo m = parse_meminfo(kMeminfoNoPool);
        CHECK(m.mem_available_bytes == 24000000ull * 1024);
        CHECK(m.hugepage_bytes == 2 * kMiB);
        CHECK(m.hugepages_total == 0);
        m = parse_meminfo(
            "HugePages_Total:     128\nHugePages_Free:      100\nHugePages_Rsvd:       10\n"
            "HugePages_Surp:        2\nHugepagesize:    1048576 kB");
        CHECK(m.hugepages_total == 128);
        CHECK(m.hugepages_free == 100);
        CHECK(m.hugepages_rsvd == 10);
        CHECK(m.hugepages_surp == 2);
        CHECK(m.hugepage_bytes == kGiB);
        CHECK(m.mem_available_bytes == 0);
        CHECK(parse_meminfo("").hugepages_total == 0);
    }

    TEST_CASE("mounts: four fields per line, octal escapes decoded, short lines skipped") {
        auto m = parse_mounts(
            "none /mnt/huge\\040pages hugetlbfs rw,pagesize=1G 0 0\nbroken line\n"
            "tmpfs /dev/shm tmpfs rw 0 0");
        REQUIRE(m.size() == 2);
        CHECK(m[0].dir == "/mnt/huge pages");
        CHECK(m[0].type == "hugetlbfs");
        CHECK(m[0].options == "rw,pagesize=1G");
        CHECK(m[1].dir == "/dev/shm");
        CHECK(hugetlbfs_page_bytes(m[0], 2 * kMiB) == kGiB);
        CHECK(hugetlbfs_page_bytes(MountEntry{"", "/d", "hugetlbfs", "rw,relatime"}, 2 * kMiB) ==
              2 * kMiB);
        CHECK(hugetlbfs_page_bytes(MountEntry{"", "/d", "hugetlbfs", "pagesize=2048k,rw"}, 0) ==
              2 * kMiB);
    }

    TEST_CASE("kernel release: the leading numbers of uname -r") {
        auto v = parse_kernel_release("6.1.0-18-amd64");
        CHECK(v.major == 6);
        CHECK(v.minor == 1);
        CHECK(v.patch == 0);
        CHECK(parse_kernel_release("6.18.44-fc-v595").minor == 18);
        CHECK(parse_kernel_release("5.19").at_least(5, 19));
        CHECK_FALSE(parse_kernel_release("5.19").at_least(6, 0));
        CHECK(parse_kernel_release("10.0").at_least(6, 1));
        CHECK(parse_kernel_release("garbage").major == 0);
    }

    TEST_CASE("listening sockets are found by port in /proc/net/tcp and tcp6, not other states") {
        const char* tcp =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
            "timeout inode\n"
            "   0: 0100007F:232A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
            "   0 4242 1 0\n"
            "   1: 0100007F:232A 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0     "
            "   0 4343 1 0\n"
            "   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
            "   0 99 1 0\n";
        CHECK(listening_inodes(tcp, 9002) == std::vector<uint64_t>{4242});
        CHECK(listening_inodes(tcp, 80) == std::vector<uint64_t>{99});
        CHECK(listening_inodes(tcp, 81).empty());
        const char* tcp6 =
            "  sl  local_address                         remote_address                        st "
            "...\n"
            "   0: 00000000000000000000000000000000:232A 00000000000000000000000000000000:0000 0A "
            "00000000:00000000 00:00000000 00000000   998        0 777 1 0\n";
        CHECK(listening_inodes(tcp6, 9002) == std::vector<uint64_t>{777});
    }
}

TEST_SUITE("doctor arithmetic") {
    TEST_CASE(
        "the segment has one member per shard plus the bridge slot, as the supervisor makes it") {
        Config c;  // ring 2048, slab 64 MiB
        // 2 MiB of header and cursors, then 3 regions of 64 MiB slab + ring, rounded to 66 MiB.
        CHECK(segment_bytes(c, 2) == 200 * kMiB);
        using namespace ringcast::shm;
        CHECK(segment_bytes(c, 7) == compute_layout(Geometry{8, c.ring, c.slab_bytes}).total_bytes);
        c.slab_bytes = 7;  // not a multiple of 8: not a geometry the segment accepts
        CHECK(segment_bytes(c, 1) == 0);
    }

    TEST_CASE(
        "hugepages needed: a shortfall grows the pool by the missing pages, pages in use stay") {
        HugepageNeed n = hugepage_need(200 * kMiB, parse_meminfo(meminfo(0, 0, 0)));
        CHECK(n.needed == 100);
        CHECK(n.available == 0);
        CHECK_FALSE(n.enough());
        CHECK(n.nr_hugepages == 100);
        // 300 pages, 40 used by someone else, 20 of the free ones reserved: 240 available.
        n = hugepage_need(600 * kMiB, parse_meminfo(meminfo(300, 260, 20)));
        CHECK(n.needed == 300);
        CHECK(n.available == 240);
        CHECK(n.nr_hugepages == 360);
        n = hugepage_need(200 * kMiB + 1, parse_meminfo(meminfo(512, 512, 0)));
        CHECK(n.needed == 101);
        CHECK(n.enough());
        CHECK(n.nr_hugepages == 512);  // enough: leave the pool as it is
    }

    TEST_CASE("the doctor's sysctl fix is the one the segment itself would print") {
        using namespace ringcast::shm;
        for (auto [total, free, rsvd] : {std::tuple{0, 0, 0}, {300, 260, 20}, {50, 50, 0}}) {
            const std::string mi = meminfo(total, free, rsvd);
            const uint64_t bytes = 600 * kMiB;
            HugepagePlan plan =
                plan_hugepages(parse_hugepage_system(mi, kMountsHuge), "/ringcast-1", bytes);
            HugepageNeed need = hugepage_need(bytes, parse_meminfo(mi));
            CHECK(plan.usable == need.enough());
            CHECK(contains(plan.reason, "vm.nr_hugepages=" + std::to_string(need.nr_hugepages)));
        }
    }
}

TEST_SUITE("doctor verdicts") {
    TEST_CASE("a host with everything passes every check") {
        auto checks = judge(two_shards(), good_host());
        INFO(lines_of(checks));
        for (const auto& c : checks) CHECK_MESSAGE(c.verdict == Verdict::Ok, format_check(c));
        CHECK(contains(find(checks, "hugepages").detail, "needs 100 pages"));
        CHECK(contains(find(checks, "plan").detail,
                       "1 worker process, 2 shards; segment 200 MiB for 3 members"));
        CHECK(contains(find(checks, "/dev/shm").detail, "not used"));
    }

    TEST_CASE("hugepages require with too few pages fails and names the sysctl that fixes it") {
        Config c = two_shards();
        c.hugepages = HugepageMode::Require;
        HostFacts h = good_host();
        h.meminfo = meminfo(10, 10, 0);
        auto checks = judge(c, h);
        const Check hp = find(checks, "hugepages");
        CHECK(hp.verdict == Verdict::Fail);
        CHECK(hp.fix.starts_with("sysctl -w vm.nr_hugepages=100"));
        CHECK(contains(hp.detail, "needs 100 pages of 2 MiB and 10 of 10 are free"));
        CHECK(contains(hp.detail, "will not start"));
        // /dev/shm is no way out under require: the check says it is not used.
        CHECK(contains(find(checks, "/dev/shm").detail, "not used"));
    }

    TEST_CASE("hugepages auto with too few pages warns: the server falls back to /dev/shm") {
        HostFacts h = good_host();
        h.meminfo = meminfo(10, 10, 0);
        auto checks = judge(two_shards(), h);
        CHECK(find(checks, "hugepages").verdict == Verdict::Warn);
        CHECK(contains(find(checks, "hugepages").detail, "falls back"));
        CHECK(contains(find(checks, "/dev/shm").detail, "needs 200 MiB"));
        CHECK_FALSE(any_fail(checks));
    }

    TEST_CASE(
        "no hugetlbfs mount: the fix mounts one; hugepages off needs neither pool nor mount") {
        HostFacts h = good_host();
        h.mounts = "tmpfs /dev/shm tmpfs rw 0 0\n";
        h.hugetlbfs.clear();
        Config c = two_shards();
        c.hugepages = HugepageMode::Require;
        const Check m = find(judge(c, h), "hugetlbfs");
        CHECK(m.verdict == Verdict::Fail);
        CHECK(contains(m.fix, "mount -t hugetlbfs -o pagesize=2M"));
        c.hugepages = HugepageMode::Off;
        auto off = judge(c, h);
        CHECK(find(off, "hugepages").verdict == Verdict::Ok);
        CHECK_FALSE(has(off, "hugetlbfs"));
    }

    TEST_CASE("a hugetlbfs mount only root can write to is flagged when the doctor runs as root") {
        HostFacts h = good_host();
        h.uid = 0;
        h.hugetlbfs[0].mode = 0755;
        h.hugetlbfs[0].owner = "mode 0755 root:root";
        const Check m = find(judge(two_shards(), h), "hugetlbfs");
        CHECK(m.verdict == Verdict::Warn);
        CHECK(contains(m.fix, "chmod 1770 /dev/hugepages"));
        h.hugetlbfs[0].writable = false;
        h.uid = 998;
        CHECK(find(judge(two_shards(), h), "hugetlbfs").verdict == Verdict::Warn);
    }

    TEST_CASE("/dev/shm smaller than the segment fails when the segment must go there") {
        Config c = two_shards();
        c.hugepages = HugepageMode::Off;
        HostFacts h = good_host();
        h.dev_shm_free_bytes = h.dev_shm_size_bytes = 64 * kMiB;  // Docker's default --shm-size
        const Check s = find(judge(c, h), "/dev/shm");
        CHECK(s.verdict == Verdict::Fail);
        CHECK(contains(s.detail, "needs 200 MiB, 64 MiB free"));
        CHECK(contains(s.fix, "remount,size=264M"));  // what is there + the shortfall + a margin
        CHECK(contains(s.fix, "--shm-size"));
        c.hugepages = HugepageMode::Require;  // never falls back to /dev/shm
        CHECK(find(judge(c, h), "/dev/shm").verdict == Verdict::Ok);
    }

    TEST_CASE(
        "io_uring refused: the fix depends on whether the sysctl or a seccomp filter did it") {
        HostFacts h = good_host();
        h.uring = UringFacts{};
        h.uring.setup_error = -EPERM;
        h.io_uring_disabled = 2;
        auto checks = judge(two_shards(), h);
        CHECK(find(checks, "io_uring_disabled").verdict == Verdict::Fail);
        CHECK(find(checks, "io_uring").verdict == Verdict::Fail);
        CHECK(find(checks, "io_uring").fix == "sysctl -w kernel.io_uring_disabled=0");
        CHECK_FALSE(has(checks, "multishot recv"));  // nothing more to probe without a ring
        h.io_uring_disabled = 0;
        const Check seccomp = find(judge(two_shards(), h), "io_uring");
        CHECK(contains(seccomp.fix, "seccomp"));
        CHECK(contains(seccomp.fix, "io_uring_setup"));
        h.io_uring_disabled.reset();
        CHECK(find(judge(two_shards(), h), "io_uring_disabled").verdict == Verdict::Ok);
    }

    TEST_CASE("io_uring_disabled = 1 warns: only a group may create rings") {
        HostFacts h = good_host();
        h.io_uring_disabled = 1;
        h.io_uring_group = 1234;
        const Check c = find(judge(two_shards(), h), "io_uring_disabled");
        CHECK(c.verdict == Verdict::Warn);
        CHECK(contains(c.detail, "group 1234"));
    }

    TEST_CASE(
        "an old kernel: missing features, flags and multishot are named with what they need") {
        HostFacts h = good_host();
        h.kernel_release = "5.15.0-91-generic";
        h.uring.features = IORING_FEAT_NODROP;
        h.uring.fast_setup.result = -EINVAL;
        h.uring.multishot_recv.result = -EINVAL;
        h.uring.sendmsg.result.reset();
        auto checks = judge(two_shards(), h);
        CHECK(find(checks, "kernel").verdict == Verdict::Warn);
        CHECK(find(checks, "io_uring").verdict == Verdict::Warn);
        CHECK(contains(find(checks, "io_uring").detail, "FAST_POLL"));
        CHECK(find(checks, "io_uring setup flags").verdict == Verdict::Warn);
        CHECK(find(checks, "multishot recv").verdict == Verdict::Fail);
        CHECK(contains(find(checks, "multishot recv").detail, "6.0"));
        CHECK_FALSE(has(checks, "io_uring sendmsg"));  // not reached, no reason to give
    }

    TEST_CASE("a probe that could not run is a warning with the reason, not a pass") {
        HostFacts h = good_host();
        h.uring.multishot_accept =
            Probe{std::nullopt, "cannot open a listener on 127.0.0.1: Permission denied"};
        const Check c = find(judge(two_shards(), h), "multishot accept");
        CHECK(c.verdict == Verdict::Warn);
        CHECK(contains(c.detail, "not tested"));
    }

    TEST_CASE("missing opcodes fail and are listed") {
        HostFacts h = good_host();
        h.uring.missing_opcodes = {"SENDMSG"};
        const Check c = find(judge(two_shards(), h), "io_uring opcodes");
        CHECK(c.verdict == Verdict::Fail);
        CHECK(contains(c.detail, "SENDMSG"));
    }

    TEST_CASE("a numa_node the machine does not have fails and lists the ones it has") {
        Config c = two_shards();
        c.numa_node = 3;
        HostFacts h = good_host();
        h.numa_nodes = {0, 1};
        h.topology.nodes.push_back(NodeInfo{1, {4, 5}});
        h.topology.allowed_cpus = 6;
        auto checks = judge(c, h);
        const Check n = find(checks, "numa");
        CHECK(n.verdict == Verdict::Fail);
        CHECK(contains(n.detail, "numa_node 3 does not exist"));
        CHECK(contains(n.fix, "0, 1"));
        CHECK(has(checks, "hugepages"));  // still sized, from the shard count asked for
        c.numa_node = 1;
        CHECK(find(judge(c, h), "numa").verdict == Verdict::Ok);
    }

    TEST_CASE("a node outside this process's CPU affinity fails") {
        Config c = two_shards();
        c.numa_node = 1;
        HostFacts h = good_host();
        h.numa_nodes = {0, 1};  // node 1 exists, but none of its CPUs is allowed
        const Check n = find(judge(c, h), "numa");
        CHECK(n.verdict == Verdict::Fail);
        CHECK(contains(n.fix, "affinity"));
    }

    TEST_CASE("more shards than CPUs warns") {
        Config c = two_shards();
        c.shards = 16;
        const Check p = find(judge(c, good_host()), "plan");
        CHECK(p.verdict == Verdict::Warn);
        CHECK(contains(p.detail, "16 shards"));
    }

    TEST_CASE("limits under what a busy server needs warn with the setting that fixes them") {
        HostFacts h = good_host();
        h.nofile_soft = 1024;
        h.nofile_hard = 4096;
        h.somaxconn = 128;
        h.tcp_migrate_req = 0;
        auto checks = judge(two_shards(), h);
        CHECK(find(checks, "nofile").verdict == Verdict::Warn);
        CHECK(contains(find(checks, "nofile").fix, "LimitNOFILE=1048576"));
        CHECK(contains(find(checks, "nofile").fix, "ulimit -n"));
        CHECK(find(checks, "somaxconn").fix == "sysctl -w net.core.somaxconn=65535");
        CHECK(find(checks, "tcp_migrate_req").fix == "sysctl -w net.ipv4.tcp_migrate_req=1");
        CHECK_FALSE(any_fail(checks));
        h.tcp_migrate_req.reset();  // before 5.14
        CHECK(find(judge(two_shards(), h), "tcp_migrate_req").verdict == Verdict::Warn);
    }

    TEST_CASE("the listen address: taken by ringcast warns, by anyone else fails") {
        HostFacts h = good_host();
        h.listen = BindFacts{":9002", EADDRINUSE, 4321, "ringcast"};
        const Check mine = find(judge(two_shards(), h), "listen");
        CHECK(mine.verdict == Verdict::Warn);
        CHECK(contains(mine.detail, "running ringcast (pid 4321)"));
        h.listen = BindFacts{":9002", EADDRINUSE, 77, "nginx"};
        const Check theirs = find(judge(two_shards(), h), "listen");
        CHECK(theirs.verdict == Verdict::Fail);
        CHECK(contains(theirs.detail, "nginx (pid 77)"));
        h.listen = BindFacts{":9002", EADDRINUSE, 0, ""};
        CHECK(contains(find(judge(two_shards(), h), "listen").fix, "ss -ltnp 'sport = :9002'"));
        h.listen = BindFacts{":80", EACCES, 0, ""};
        CHECK(contains(find(judge(two_shards(), h), "listen").fix, "CAP_NET_BIND_SERVICE"));
        h.listen = BindFacts{"10.9.9.9:9002", EADDRNOTAVAIL, 0, ""};
        CHECK(find(judge(two_shards(), h), "listen").verdict == Verdict::Fail);
    }

    TEST_CASE("metrics_listen is checked only when configured") {
        HostFacts h = good_host();
        CHECK_FALSE(has(judge(two_shards(), h), "metrics_listen"));
        h.metrics = BindFacts{"127.0.0.1:9100", EADDRINUSE, 5, "node_exporter"};
        CHECK(find(judge(two_shards(), h), "metrics_listen").verdict == Verdict::Fail);
    }

    TEST_CASE("the control socket: an unwritable directory fails, a live server warns") {
        HostFacts h = good_host();
        h.control.dir_writable = false;
        const Check c = find(judge(two_shards(), h), "control socket");
        CHECK(c.verdict == Verdict::Fail);
        CHECK(contains(c.fix, "RuntimeDirectory=ringcast"));
        h = good_host();
        h.control.dir_exists = false;
        h.control.creatable_from = "/run";
        h.control.ancestor_writable = true;
        CHECK(find(judge(two_shards(), h), "control socket").verdict == Verdict::Ok);
        h.control.ancestor_writable = false;
        CHECK(find(judge(two_shards(), h), "control socket").verdict == Verdict::Fail);
        h = good_host();
        h.control.path_exists = h.control.path_is_socket = h.control.socket_answers = true;
        CHECK(find(judge(two_shards(), h), "control socket").verdict == Verdict::Warn);
        h.control.path_is_socket = h.control.socket_answers = false;
        CHECK(find(judge(two_shards(), h), "control socket").verdict == Verdict::Fail);
    }

    TEST_CASE("segments left by dead supervisors warn with the rm that frees them") {
        HostFacts h = good_host();
        h.stale_segments = {StaleSegment{"/dev/hugepages/ringcast-12", 200 * kMiB}};
        const Check c = find(judge(two_shards(), h), "stale segments");
        CHECK(c.verdict == Verdict::Warn);
        CHECK(c.fix == "rm /dev/hugepages/ringcast-12");
        CHECK(contains(c.detail, "200 MiB"));
    }
}

TEST_SUITE("doctor on this host") {
    TEST_CASE("every line has the check format and the exit status follows the fails") {
        char dir_template[] = "/tmp/ringcast-doctor-XXXXXX";
        REQUIRE(::mkdtemp(dir_template) != nullptr);
        const std::string dir = dir_template;
        Config c;
        c.listen = ListenAddress{"127.0.0.1", 0, false};  // port 0: always free
        c.shards = 1;
        c.worker_processes = 1;
        c.slab_bytes = 2 * kMiB;
        c.control_socket = dir + "/ctl/control.sock";
        const std::string out_path = dir + "/out";
        std::FILE* out = std::fopen(out_path.c_str(), "w+");
        REQUIRE(out != nullptr);
        const int rc = run_doctor(c, out);
        std::rewind(out);
        std::vector<std::string> lines;
        char buf[4096];
        while (std::fgets(buf, sizeof buf, out)) lines.emplace_back(buf);
        std::fclose(out);
        fs::remove_all(dir);
        std::string all;
        for (const auto& l : lines) all += l;
        INFO(all);
        REQUIRE(lines.size() >= 10);
        bool failed = false;
        for (size_t i = 0; i + 1 < lines.size(); ++i) {
            const std::string& l = lines[i];
            CHECK((l.starts_with("ok    ") || l.starts_with("warn  ") || l.starts_with("fail  ")));
            CHECK(l.find(": ") != std::string::npos);
            failed |= l.starts_with("fail");
        }
        CHECK(lines.back().starts_with("summary: "));
        CHECK(rc == (failed ? 1 : 0));
        CHECK(contains(all, "ok    control socket: "));  // the temp dir's parent is writable
        CHECK(contains(all, "ok    listen: 127.0.0.1:0 is free"));
    }
}

TEST_SUITE("notify") {
    struct NotifySocket {
        std::string path;
        ringcast::Fd fd;
        NotifySocket() {
            path = "/tmp/ringcast-notify-" + std::to_string(::getpid()) + ".sock";
            ::unlink(path.c_str());
            fd.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            sockaddr_un un{};
            un.sun_family = AF_UNIX;
            std::strncpy(un.sun_path, path.c_str(), sizeof un.sun_path - 1);
            REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
            ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
        }
        ~NotifySocket() {
            ::unsetenv("NOTIFY_SOCKET");
            ::unlink(path.c_str());
        }
        std::string next() {
            char buf[512];
            ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
            return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
        }
    };

    TEST_CASE("each call sends its state to NOTIFY_SOCKET; status text stays on one line") {
        if (!notify_supported()) {
            WARN_MESSAGE(false,
                         "built without libsystemd (RINGCAST_HAVE_LIBSYSTEMD): notify calls are "
                         "no-ops and a Type=notify unit would never see READY=1");
            return;
        }
        NotifySocket s;
        notify_ready();
        CHECK(s.next() == "READY=1");
        notify_stopping();
        CHECK(s.next() == "STOPPING=1");
        notify_watchdog();
        CHECK(s.next() == "WATCHDOG=1");
        notify_status("serving\n2 workers");
        CHECK(s.next() == "STATUS=serving 2 workers");
        notify_reloading();
        const std::string r = s.next();
        CHECK(r.starts_with("RELOADING=1\nMONOTONIC_USEC="));
    }

    TEST_CASE("without NOTIFY_SOCKET nothing is sent and the watchdog is off") {
        NotifySocket s;
        ::unsetenv("NOTIFY_SOCKET");
        notify_ready();
        notify_status("x");
        CHECK(s.next().empty());
        uint64_t interval = 1;
        CHECK_FALSE(watchdog_enabled(&interval));
        CHECK(interval == 0);
    }

    TEST_CASE("the watchdog is on only for the process systemd named in WATCHDOG_PID") {
        if (!notify_supported()) return;
        NotifySocket s;
        ::setenv("WATCHDOG_USEC", "4000000", 1);
        ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
        uint64_t interval = 0;
        CHECK(watchdog_enabled(&interval));
        CHECK(interval == 4000000);
        ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(),
                 1);  // as a forked worker sees it
        CHECK_FALSE(watchdog_enabled(&interval));
        ::unsetenv("WATCHDOG_USEC");
        ::unsetenv("WATCHDOG_PID");
    }
}
