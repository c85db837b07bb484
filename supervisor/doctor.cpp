// `ringcast doctor`: the verdicts (judge) and their lines, the segment and hugepage arithmetic
// behind them, and the command (run_doctor, doctor_main). The facts they are made from are
// gathered in doctor_facts.cpp.
#include "supervisor/doctor.hpp"

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <variant>

#include "shm/hugepages.hpp"
#include "shm/layout.hpp"

namespace ringcast::supervisor {

namespace {

constexpr uint64_t kKiB = 1ull << 10;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kWantNofile = 65536;                 // below this, a busy server runs out of fds
constexpr long kWantSomaxconn = 4096;                   // the backlog the listeners ask for
constexpr const char* kFixSep = " \xE2\x80\x94 fix: ";  // " — fix: "

std::string join(const std::vector<std::string>& parts, const char* sep) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) out += sep;
        out += p;
    }
    return out;
}

std::string plural(uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

// ---------------------------------------------------------------- verdicts and lines

std::string_view to_string(Verdict v) {
    switch (v) {
        case Verdict::Ok:
            return "ok";
        case Verdict::Warn:
            return "warn";
        case Verdict::Fail:
            return "fail";
    }
    return "ok";
}

std::string format_check(const Check& c) {
    std::string line(to_string(c.verdict));
    line.resize(4, ' ');
    line += "  " + c.name + ": " + c.detail;
    if (!c.fix.empty()) line += kFixSep + c.fix;
    return line;
}

// ---------------------------------------------------------------- arithmetic

uint64_t segment_bytes(const Config& config, uint32_t shards) {
    // One member per shard plus the bridge slot, as Supervisor::setup() creates it.
    const shm::Geometry g{shards + 1, config.ring, config.slab_bytes};
    if (!shm::validate_geometry(g).empty()) return 0;
    return shm::compute_layout(g).total_bytes;
}

HugepageNeed hugepage_need(uint64_t bytes, const MemInfo& m) {
    HugepageNeed n;
    n.needed = (bytes + shm::kHugepageBytes - 1) / shm::kHugepageBytes;
    n.available = m.hugepages_free > m.hugepages_rsvd ? m.hugepages_free - m.hugepages_rsvd : 0;
    // Pages in use stay in use, so the pool must grow by the shortfall.
    n.nr_hugepages = n.enough() ? m.hugepages_total : m.hugepages_total - n.available + n.needed;
    return n;
}

std::string format_bytes(uint64_t bytes) {
    struct Unit {
        uint64_t size;
        const char* name;
    };
    static constexpr Unit units[] = {{kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
    for (const Unit& u : units) {
        if (bytes < u.size) continue;
        if (bytes % u.size == 0) return std::to_string(bytes / u.size) + " " + u.name;
        const uint64_t tenths = (bytes * 10 + u.size / 2) / u.size;
        if (tenths % 10 == 0) return std::to_string(tenths / 10) + " " + u.name;
        return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " " + u.name;
    }
    return std::to_string(bytes) + " B";
}

// ---------------------------------------------------------------- verdicts

namespace {

using Checks = std::vector<Check>;

Check ok(std::string name, std::string detail) {
    return Check{Verdict::Ok, std::move(name), std::move(detail), {}};
}
Check warn(std::string name, std::string detail, std::string fix = {}) {
    return Check{Verdict::Warn, std::move(name), std::move(detail), std::move(fix)};
}
Check fail(std::string name, std::string detail, std::string fix = {}) {
    return Check{Verdict::Fail, std::move(name), std::move(detail), std::move(fix)};
}

void judge_kernel(const HostFacts& h, Checks& out) {
    const KernelVersion v = parse_kernel_release(h.kernel_release);
    std::string detail =
        "Linux " + h.kernel_release + (h.machine.empty() ? "" : " (" + h.machine + ")");
    if (v.at_least(6, 1)) {
        out.push_back(ok("kernel", detail));
    } else if (v.at_least(6, 0)) {
        out.push_back(ok("kernel", detail + "; 6.1+ adds IORING_SETUP_DEFER_TASKRUN"));
    } else {
        out.push_back(warn(
            "kernel",
            detail +
                " is older than 6.0, which multishot recv needs; the io_uring checks below decide",
            "run ringcast on Linux 6.1 or later"));
    }
}

void judge_io_uring_sysctl(const HostFacts& h, Checks& out) {
    const char* name = "io_uring_disabled";
    if (!h.io_uring_disabled) {
        out.push_back(ok(name,
                         "no kernel.io_uring_disabled on this kernel (before 6.6): io_uring is not "
                         "restricted by sysctl"));
        return;
    }
    const long v = *h.io_uring_disabled;
    const std::string fix =
        "sysctl -w kernel.io_uring_disabled=0 (persist it in /etc/sysctl.d/90-ringcast.conf)";
    if (v == 0) {
        out.push_back(ok(name, "kernel.io_uring_disabled = 0: every process may create rings"));
    } else if (v == 1) {
        std::string group = h.io_uring_group ? std::to_string(*h.io_uring_group) : "?";
        out.push_back(
            warn(name,
                 "kernel.io_uring_disabled = 1: only CAP_SYS_ADMIN and members of group " + group +
                     " (kernel.io_uring_group) may create rings",
                 fix + ", or add the service user to group " + group));
    } else {
        out.push_back(fail(name,
                           "kernel.io_uring_disabled = " + std::to_string(v) +
                               ": io_uring is off for every process",
                           fix));
    }
}

std::string feature_names(uint32_t features) {
    struct Feature {
        uint32_t bit;
        const char* name;
    };
    static constexpr Feature all[] = {{IORING_FEAT_SINGLE_MMAP, "SINGLE_MMAP"},
                                      {IORING_FEAT_NODROP, "NODROP"},
                                      {IORING_FEAT_SUBMIT_STABLE, "SUBMIT_STABLE"},
                                      {IORING_FEAT_FAST_POLL, "FAST_POLL"},
                                      {IORING_FEAT_EXT_ARG, "EXT_ARG"},
                                      {IORING_FEAT_NATIVE_WORKERS, "NATIVE_WORKERS"},
                                      {IORING_FEAT_CQE_SKIP, "CQE_SKIP"},
                                      {IORING_FEAT_LINKED_FILE, "LINKED_FILE"}};
    std::vector<std::string> names;
    for (const Feature& f : all) {
        if (features & f.bit) names.push_back(f.name);
    }
    return names.empty() ? "none" : join(names, " ");
}

// Returns false when io_uring cannot be used at all (the checks that need a ring are skipped).
bool judge_io_uring_setup(const HostFacts& h, Checks& out) {
    const UringFacts& u = h.uring;
    const char* name = "io_uring";
    if (u.setup_error == -EPERM) {
        std::string fix;
        if (h.io_uring_disabled && *h.io_uring_disabled != 0) {
            fix = "sysctl -w kernel.io_uring_disabled=0";
        } else {
            fix =
                "a seccomp filter blocks io_uring_setup: in a container run with --security-opt "
                "seccomp=<a profile allowing io_uring_setup, io_uring_enter, io_uring_register> "
                "(see deploy/README.md); under systemd keep io_uring_* in SystemCallFilter=";
        }
        out.push_back(fail(name, "io_uring_setup: Operation not permitted", fix));
        return false;
    }
    if (u.setup_error == -ENOSYS) {
        out.push_back(fail(
            name, "io_uring_setup: this kernel has no io_uring (built without CONFIG_IO_URING)",
            "run on a Linux 6.1+ kernel built with CONFIG_IO_URING=y"));
        return false;
    }
    if (u.setup_error == -ENOMEM) {
        out.push_back(fail(name,
                           "io_uring_setup: Cannot allocate memory (before 5.12 rings count "
                           "against RLIMIT_MEMLOCK)",
                           "LimitMEMLOCK=infinity in the unit, or ulimit -l unlimited"));
        return false;
    }
    if (u.setup_error != 0) {
        out.push_back(fail(name, "io_uring_setup: " + errno_name(u.setup_error)));
        return false;
    }
    std::string detail = "io_uring_setup works (features: " + feature_names(u.features) + ")";
    std::vector<std::string> missing;
    if (!(u.features & IORING_FEAT_FAST_POLL)) {
        missing.push_back("FAST_POLL (a recv that would block costs an io-wq thread)");
    }
    if (!(u.features & IORING_FEAT_NODROP)) {
        missing.push_back("NODROP (completions are lost when the CQ overflows)");
    }
    if (missing.empty()) {
        out.push_back(ok(name, detail));
    } else {
        out.push_back(
            warn(name, detail + "; missing " + join(missing, ", "), "run on Linux 6.1 or later"));
    }
    return true;
}

std::string probe_text(const Probe& p) {
    std::string s = p.result ? errno_name(*p.result) : "not tested";
    if (!p.note.empty()) s += " (" + p.note + ")";
    return s;
}

// One line for a probe step that has a result or a reason it was not run.
void judge_probe(const Probe& p, const char* name, const std::string& works,
                 const std::string& needs, Checks& out) {
    if (p.ok()) {
        out.push_back(ok(name, works));
    } else if (p.result) {
        out.push_back(
            fail(name, probe_text(p) + "; " + needs, "run ringcast on Linux 6.1 or later"));
    } else if (!p.note.empty()) {
        out.push_back(warn(name, "not tested: " + p.note));
    }
}

void judge_io_uring_features(const HostFacts& h, Checks& out) {
    const UringFacts& u = h.uring;
    if (u.fast_setup.ok()) {
        out.push_back(ok("io_uring setup flags", "SINGLE_ISSUER and DEFER_TASKRUN accepted"));
    } else if (u.fast_setup.result) {
        out.push_back(warn(
            "io_uring setup flags",
            "SINGLE_ISSUER|DEFER_TASKRUN refused (" + errno_name(*u.fast_setup.result) +
                "; needs 6.1): shards fall back to a plain ring, with more task-work interrupts",
            "run ringcast on Linux 6.1 or later"));
    }
    if (!u.opcode_probe.ok()) {
        out.push_back(warn("io_uring opcodes",
                           "IORING_REGISTER_PROBE is not available (before 5.6); the functional "
                           "checks below decide"));
    } else if (u.missing_opcodes.empty()) {
        out.push_back(ok("io_uring opcodes", "ACCEPT RECV SENDMSG READ ASYNC_CANCEL supported"));
    } else {
        out.push_back(fail("io_uring opcodes", "missing " + join(u.missing_opcodes, " "),
                           "run ringcast on Linux 6.1 or later"));
    }
    judge_probe(u.buf_ring, "provided buffer rings", "io_uring_register_buf_ring works",
                "io_uring_register_buf_ring needs Linux 5.19", out);
    judge_probe(u.multishot_accept, "multishot accept",
                "one accept SQE kept accepting over 127.0.0.1", "multishot accept needs Linux 5.19",
                out);
    judge_probe(u.multishot_recv, "multishot recv",
                "a multishot recv filled a provided buffer and stayed armed",
                "multishot recv with provided buffers needs Linux 6.0", out);
    judge_probe(u.sendmsg, "io_uring sendmsg", "SENDMSG delivered the bytes",
                "the shard sends with IORING_OP_SENDMSG", out);
}

struct PlanFacts {
    uint32_t shards = 0;
    uint64_t segment = 0;
    bool planned = false;
};

std::string node_list(const std::vector<int>& nodes) {
    std::vector<std::string> s;
    for (int n : nodes) s.push_back(std::to_string(n));
    return join(s, ", ");
}

// NUMA nodes and the worker plan; gives the shard count the segment is sized for.
PlanFacts judge_topology(const Config& c, const HostFacts& h, Checks& out) {
    PlanFacts p;
    std::vector<std::string> per_node;
    for (const auto& n : h.topology.nodes) {
        per_node.push_back("node " + std::to_string(n.os_index) + ": " +
                           plural(n.cpus.size(), "CPU", "CPUs"));
    }
    std::string detail =
        plural(h.numa_nodes.size(), "NUMA node", "NUMA nodes") + ", " +
        plural(static_cast<uint64_t>(h.cores), "core", "cores") + ", " +
        plural(static_cast<uint64_t>(h.pus), "hardware thread", "hardware threads") + "; " +
        std::to_string(h.topology.allowed_cpus) + " CPUs allowed to this process (" +
        join(per_node, ", ") + ")";
    const bool node_exists = c.numa_node < 0 || std::find(h.numa_nodes.begin(), h.numa_nodes.end(),
                                                          c.numa_node) != h.numa_nodes.end();
    const std::string choices =
        "set numa_node to one of " + node_list(h.numa_nodes) + ", or -1 for all nodes";
    if (!node_exists) {
        out.push_back(
            fail("numa", detail + "; numa_node " + std::to_string(c.numa_node) + " does not exist",
                 choices));
    } else {
        std::string error;
        auto plan = plan_workers(h.topology, c.worker_processes, c.shards, c.numa_node, &error);
        if (plan.empty()) {
            out.push_back(
                fail("numa", detail + "; " + error,
                     "widen the CPU affinity (taskset, CPUAffinity=, the container's cpuset) or " +
                         choices));
        } else {
            p.planned = true;
            for (const auto& w : plan) p.shards += static_cast<uint32_t>(w.shards.size());
            out.push_back(ok(
                "numa", detail + (c.numa_node < 0
                                      ? "; numa_node -1 = all"
                                      : "; numa_node " + std::to_string(c.numa_node) + " exists")));
            p.segment = segment_bytes(c, p.shards);
            std::string plan_detail =
                plural(plan.size(), "worker process", "worker processes") + ", " +
                plural(p.shards, "shard", "shards") + "; segment " + format_bytes(p.segment) +
                " for " + std::to_string(p.shards + 1) + " members (ring " +
                std::to_string(c.ring) + ", slab_bytes " + format_bytes(c.slab_bytes) + " each)";
            if (static_cast<int>(p.shards) > h.topology.allowed_cpus) {
                out.push_back(warn("plan",
                                   plan_detail + "; more shards than the " +
                                       std::to_string(h.topology.allowed_cpus) +
                                       " allowed CPUs, so reactors share CPUs",
                                   "set shards to 0 (one per CPU) or at most " +
                                       std::to_string(h.topology.allowed_cpus)));
            } else {
                out.push_back(ok("plan", plan_detail));
            }
        }
    }
    if (!p.planned) {
        p.shards =
            c.shards ? c.shards : static_cast<uint32_t>(std::max(1, h.topology.allowed_cpus));
        p.segment = segment_bytes(c, p.shards);
    }
    return p;
}

// Returns whether the segment will live in hugepages (so /dev/shm is not needed).
bool judge_hugepages(const Config& c, const HostFacts& h, uint64_t segment, Checks& out) {
    if (c.hugepages == HugepageMode::Off) {
        out.push_back(ok("hugepages", "off in the config: the segment (" + format_bytes(segment) +
                                          ") uses 4 KiB pages in /dev/shm"));
        return false;
    }
    const bool require = c.hugepages == HugepageMode::Require;
    const Verdict short_verdict = require ? Verdict::Fail : Verdict::Warn;
    const std::string consequence =
        require ? "; hugepages is \"require\", so ringcast will not start"
                : "; with \"auto\" ringcast falls back to 4 KiB pages in /dev/shm";
    // The decision Segment::create() will take, by the same code.
    const shm::HugepageSystem sys = shm::parse_hugepage_system(h.meminfo, h.mounts);
    const shm::HugepagePlan plan = shm::plan_hugepages(sys, "/ringcast-doctor", segment);
    const MemInfo mi = parse_meminfo(h.meminfo);
    const HugepageNeed need = hugepage_need(segment, mi);

    bool pool_ok = true;
    if (mi.hugepage_bytes != shm::kHugepageBytes) {
        pool_ok = false;
        out.push_back(
            Check{short_verdict, "hugepages",
                  "the default hugepage size is " + format_bytes(mi.hugepage_bytes) +
                      " and ringcast uses 2 MiB pages" + consequence,
                  "boot with default_hugepagesz=2M hugepages=" + std::to_string(need.needed)});
    } else if (!need.enough()) {
        pool_ok = false;
        out.push_back(Check{short_verdict, "hugepages",
                            "the segment (" + format_bytes(segment) + ") needs " +
                                std::to_string(need.needed) + " pages of 2 MiB and " +
                                std::to_string(need.available) + " of " +
                                std::to_string(mi.hugepages_total) + " are free" + consequence,
                            "sysctl -w vm.nr_hugepages=" + std::to_string(need.nr_hugepages) +
                                " (deploy/setup-host.sh also persists it)"});
    } else {
        out.push_back(ok("hugepages", "the segment (" + format_bytes(segment) + ") needs " +
                                          std::to_string(need.needed) + " pages of 2 MiB; " +
                                          std::to_string(need.available) + " of " +
                                          std::to_string(mi.hugepages_total) + " are free"));
    }

    // The mount the segment file would go in: the first hugetlbfs with 2 MiB pages.
    const char* mount_fix =
        "deploy/setup-host.sh (mounts it writable for group ringcast), or: mkdir -p /dev/hugepages "
        "&& "
        "mount -t hugetlbfs -o pagesize=2M none /dev/hugepages";
    bool mount_ok = false;
    if (sys.mount.empty()) {
        std::vector<std::string> others;
        for (const auto& m : h.hugetlbfs)
            others.push_back(m.dir + " (" + format_bytes(m.page_bytes) + " pages)");
        out.push_back(
            Check{short_verdict, "hugetlbfs",
                  "no hugetlbfs with 2 MiB pages is mounted" +
                      (others.empty() ? std::string() : " (only " + join(others, ", ") + ")") +
                      consequence,
                  mount_fix});
    } else {
        const auto it = std::find_if(h.hugetlbfs.begin(), h.hugetlbfs.end(),
                                     [&](const HugetlbfsMount& m) { return m.dir == sys.mount; });
        const std::string owner =
            it != h.hugetlbfs.end() && !it->owner.empty() ? " (" + it->owner + ")" : "";
        const bool writable = it != h.hugetlbfs.end() && it->writable;
        // Root can write anywhere; the service's own user needs group or other write access.
        const bool root_only = h.uid == 0 && it != h.hugetlbfs.end() && (it->mode & 0022) == 0;
        const std::string perm_fix = "chgrp ringcast " + sys.mount + " && chmod 1770 " + sys.mount +
                                     " (deploy/setup-host.sh does it and keeps it across boots)";
        if (!writable) {
            out.push_back(Check{short_verdict, "hugetlbfs",
                                sys.mount + owner + " is not writable by uid " +
                                    std::to_string(h.uid) + consequence,
                                perm_fix});
        } else if (root_only) {
            out.push_back(warn("hugetlbfs",
                               sys.mount + owner +
                                   " is writable by root only: ringcast.service (User=ringcast) "
                                   "cannot create its segment there" +
                                   consequence,
                               perm_fix));
        } else {
            mount_ok = true;
            out.push_back(ok("hugetlbfs", "2 MiB pages mounted at " + sys.mount + owner));
        }
    }
    return plan.usable && pool_ok && mount_ok;
}

void judge_dev_shm(const Config& c, const HostFacts& h, uint64_t segment, bool in_hugepages,
                   Checks& out) {
    const MemInfo mi = parse_meminfo(h.meminfo);
    if (in_hugepages) {
        out.push_back(ok("/dev/shm", "not used: the segment goes to hugetlbfs"));
        return;
    }
    if (c.hugepages == HugepageMode::Require) {
        out.push_back(ok("/dev/shm", "not used: hugepages is \"require\""));
        return;
    }
    if (!h.dev_shm_free_bytes) {
        out.push_back(fail("/dev/shm",
                           "there is no /dev/shm for the " + format_bytes(segment) + " segment",
                           "mount -t tmpfs -o mode=1777 tmpfs /dev/shm"));
        return;
    }
    const uint64_t free = *h.dev_shm_free_bytes;
    std::string detail = "the segment needs " + format_bytes(segment) + ", " + format_bytes(free) +
                         " free in /dev/shm";
    if (free < segment) {
        out.push_back(fail("/dev/shm", detail,
                           "mount -o remount,size=" +
                               std::to_string((h.dev_shm_size_bytes + segment - free) / kMiB + 64) +
                               "M /dev/shm (in Docker: --shm-size), or lower slab_bytes/shards"));
    } else if (mi.mem_available_bytes != 0 && mi.mem_available_bytes < segment) {
        out.push_back(warn("/dev/shm",
                           detail + ", but only " + format_bytes(mi.mem_available_bytes) +
                               " of memory is available",
                           "lower slab_bytes or shards, or free memory"));
    } else {
        out.push_back(ok("/dev/shm", detail));
    }
}

void judge_stale(const HostFacts& h, Checks& out) {
    if (h.stale_segments.empty()) {
        out.push_back(ok("stale segments", "none left by dead supervisors"));
        return;
    }
    uint64_t bytes = 0;
    std::vector<std::string> paths;
    for (const auto& s : h.stale_segments) {
        bytes += s.bytes;
        paths.push_back(s.path);
    }
    out.push_back(warn("stale segments",
                       plural(paths.size(), "segment", "segments") +
                           " of supervisors that are gone hold " + format_bytes(bytes) + ": " +
                           join(paths, " "),
                       "rm " + join(paths, " ")));
}

void judge_limits(const HostFacts& h, Checks& out) {
    std::string detail = "RLIMIT_NOFILE soft " + std::to_string(h.nofile_soft) + ", hard " +
                         std::to_string(h.nofile_hard) +
                         "; each connection takes a file descriptor";
    if (h.nofile_soft < kWantNofile) {
        std::string fix =
            "LimitNOFILE=1048576 in the unit (deploy/ringcast.service), or ulimit -n " +
            std::to_string(std::max<uint64_t>(h.nofile_hard, 1048576)) + " before starting";
        if (h.nr_open && static_cast<uint64_t>(*h.nr_open) < 1048576)
            fix += " (raise fs.nr_open first)";
        out.push_back(warn("nofile",
                           detail + ": under " + std::to_string(kWantNofile) +
                               " a busy server stops accepting early",
                           fix));
    } else {
        out.push_back(ok("nofile", detail));
    }

    if (!h.somaxconn) {
        out.push_back(warn("somaxconn", "net.core.somaxconn cannot be read"));
    } else if (*h.somaxconn < kWantSomaxconn) {
        out.push_back(warn(
            "somaxconn",
            "net.core.somaxconn = " + std::to_string(*h.somaxconn) +
                " caps each listener's accept queue below the 4096 ringcast asks for: bursts of "
                "connects get dropped",
            "sysctl -w net.core.somaxconn=65535"));
    } else {
        out.push_back(ok("somaxconn", "net.core.somaxconn = " + std::to_string(*h.somaxconn)));
    }

    const std::string migrate_why =
        ": with SO_REUSEPORT, connections waiting in a closing listener's accept queue (a "
        "restarting "
        "worker's) are reset instead of moving to a sibling listener";
    if (!h.tcp_migrate_req) {
        out.push_back(warn("tcp_migrate_req",
                           "net.ipv4.tcp_migrate_req is not available (before 5.14)" + migrate_why,
                           "run ringcast on Linux 6.1 or later"));
    } else if (*h.tcp_migrate_req == 0) {
        out.push_back(warn("tcp_migrate_req", "net.ipv4.tcp_migrate_req = 0" + migrate_why,
                           "sysctl -w net.ipv4.tcp_migrate_req=1"));
    } else {
        out.push_back(ok("tcp_migrate_req",
                         "net.ipv4.tcp_migrate_req = " + std::to_string(*h.tcp_migrate_req)));
    }
}

void judge_bind(const BindFacts& b, const char* key, Checks& out) {
    const std::string port = b.address.substr(b.address.rfind(':') + 1);
    if (b.error == 0) {
        out.push_back(ok(key, b.address + " is free"));
        return;
    }
    const std::string other = std::string("set ") + key + " to a free address";
    if (b.error == EADDRINUSE) {
        if (b.owner_comm == "ringcast") {
            out.push_back(warn(key,
                               b.address + " is served by a running ringcast (pid " +
                                   std::to_string(b.owner_pid) +
                                   "): a second server there would fail to bind",
                               "stop it first (systemctl stop ringcast), or " + other));
        } else if (b.owner_pid != 0) {
            out.push_back(fail(key,
                               b.address + " is in use by " + b.owner_comm + " (pid " +
                                   std::to_string(b.owner_pid) + ")",
                               "stop it, or " + other));
        } else {
            out.push_back(
                fail(key, b.address + " is in use (by a process this user cannot see)",
                     "find it with: ss -ltnp 'sport = :" + port + "'; stop it, or " + other));
        }
    } else if (b.error == EACCES) {
        out.push_back(
            fail(key, "binding " + b.address + " needs CAP_NET_BIND_SERVICE (port below 1024)",
                 "use a port >= 1024, or AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit"));
    } else if (b.error == EADDRNOTAVAIL) {
        out.push_back(fail(key, b.address + ": the address is not one of this host's",
                           "use an address of this host, or :" + port + " for all of them"));
    } else {
        out.push_back(fail(key, b.address + ": " + errno_name(b.error)));
    }
}

void judge_control(const HostFacts& h, Checks& out) {
    const ControlSocketFacts& c = h.control;
    const char* name = "control socket";
    const std::string fix =
        "under systemd RuntimeDirectory=ringcast (deploy/ringcast.service) makes /run/ringcast "
        "for the service user; by hand: install -d -o ringcast -g ringcast -m 0750 " +
        c.dir;
    if (c.path_exists && !c.path_is_socket) {
        out.push_back(fail(name, c.path + " exists and is not a socket",
                           "remove it, or set control_socket elsewhere"));
    } else if (c.socket_answers) {
        out.push_back(
            warn(name, "a server already answers on " + c.path + ": a second one would be refused",
                 "stop it first, or give this one another control_socket"));
    } else if (c.dir_exists && c.dir_writable) {
        out.push_back(ok(
            name, c.dir + " is writable" +
                      (c.path_exists ? std::string("; the stale socket file is replaced at start")
                                     : "")));
    } else if (c.dir_exists) {
        out.push_back(fail(name, c.dir + " is not writable by uid " + std::to_string(h.uid), fix));
    } else if (c.ancestor_writable) {
        out.push_back(ok(name, c.dir + " does not exist yet; ringcast creates it (" +
                                   c.creatable_from + " is writable)"));
    } else {
        out.push_back(fail(name,
                           c.dir + " does not exist and " + c.creatable_from +
                               " is not writable by uid " + std::to_string(h.uid),
                           fix));
    }
}

}  // namespace

std::vector<Check> judge(const Config& config, const HostFacts& facts) {
    Checks out;
    judge_kernel(facts, out);
    judge_io_uring_sysctl(facts, out);
    if (judge_io_uring_setup(facts, out)) judge_io_uring_features(facts, out);
    const PlanFacts plan = judge_topology(config, facts, out);
    if (plan.segment == 0) {
        out.push_back(fail("segment",
                           "the geometry of " + std::to_string(plan.shards + 1) +
                               " members, ring " + std::to_string(config.ring) + ", slab_bytes " +
                               std::to_string(config.slab_bytes) + " is not valid",
                           "lower shards"));
    } else {
        const bool in_hugepages = judge_hugepages(config, facts, plan.segment, out);
        judge_dev_shm(config, facts, plan.segment, in_hugepages, out);
    }
    judge_stale(facts, out);
    judge_limits(facts, out);
    judge_bind(facts.listen, "listen", out);
    if (facts.metrics) judge_bind(*facts.metrics, "metrics_listen", out);
    judge_control(facts, out);
    return out;
}

int run_doctor(const Config& config, std::FILE* out) {
    const std::vector<Check> checks = judge(config, read_host_facts(config));
    int counts[3] = {0, 0, 0};
    for (const Check& c : checks) {
        std::fprintf(out, "%s\n", format_check(c).c_str());
        ++counts[static_cast<int>(c.verdict)];
    }
    const bool can_run = counts[static_cast<int>(Verdict::Fail)] == 0;
    std::fprintf(out, "summary: %d ok, %d warn, %d fail: %s\n", counts[0], counts[1], counts[2],
                 can_run ? (counts[1] ? "ringcast can run here; the warnings are worth fixing"
                                      : "ringcast can run here")
                         : "ringcast cannot run here until the failures are fixed");
    std::fflush(out);
    return can_run ? 0 : 1;
}

int doctor_main(int argc, const char* const* argv) {
    auto parsed = parse_command_line(argc, argv);
    if (auto* err = std::get_if<ConfigError>(&parsed)) {
        std::fprintf(stderr, "ringcast doctor: %s\n", err->message().c_str());
        std::fprintf(stderr, "ringcast doctor: see ringcast doctor --help\n");
        return 2;
    }
    const auto& cl = std::get<CommandLine>(parsed);
    if (cl.show_help) {
        std::fputs(
            "usage: ringcast doctor [--config FILE] [flags]\n"
            "\n"
            "Checks this host against the config (the same --config and flags as the server) and\n"
            "prints one line per check: ok|warn|fail  <check>: <detail> [— fix: <how>].\n"
            "Exit status: 0 the server can run here (warnings allowed), 1 a check failed,\n"
            "2 a bad command line or config.\n",
            stdout);
        return 0;
    }
    return run_doctor(cl.config, stdout);
}

}  // namespace ringcast::supervisor
