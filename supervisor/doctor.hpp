/*
 * `ringcast doctor`: checks this host against a config before a server is started on it, and
 * says for each shortfall how to fix it. One line per check:
 *
 *     ok    io_uring: io_uring_setup works (features: NODROP FAST_POLL ...)
 *     warn  somaxconn: net.core.somaxconn = 128 ... — fix: sysctl -w net.core.somaxconn=65535
 *     fail  hugepages: the segment needs 96 ... — fix: sysctl -w vm.nr_hugepages=96
 *
 * Exit status 0 when the server can run here (warnings allowed), 1 when a check failed, 2 for
 * a bad command line or config.
 *
 * Two halves: read_host_facts() probes the machine (a throwaway io_uring over loopback, /proc,
 * hwloc, a test bind) and judge() turns those facts and a Config into verdicts. judge() and the
 * parsers are pure, so the unit tests feed them the text and facts of hosts we do not have.
 */
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config.hpp"
#include "supervisor/topology.hpp"

namespace ringcast::supervisor {

// ---------------------------------------------------------------- verdicts and their lines

enum class Verdict { Ok, Warn, Fail };
std::string_view to_string(Verdict v);  // "ok" | "warn" | "fail"

struct Check {
    Verdict verdict = Verdict::Ok;
    std::string name;    // "io_uring", "hugepages", "listen", ...
    std::string detail;  // what was found, with the numbers
    std::string fix;     // how to fix it; empty when there is nothing to do
};

// "warn  somaxconn: net.core.somaxconn = 128 — fix: sysctl -w net.core.somaxconn=65535":
// the verdict padded to 4 columns, two blanks, no trailing newline.
std::string format_check(const Check& c);

// ---------------------------------------------------------------- pure parsers and arithmetic

struct MemInfo {
    uint64_t hugepages_total = 0;  // HugePages_Total (pages of the default size)
    uint64_t hugepages_free = 0;   // HugePages_Free, reserved ones included
    uint64_t hugepages_rsvd = 0;   // HugePages_Rsvd: promised to mappings, not yet faulted
    uint64_t hugepages_surp = 0;   // HugePages_Surp
    uint64_t hugepage_bytes = 0;   // Hugepagesize
    uint64_t mem_available_bytes = 0;
};
MemInfo parse_meminfo(std::string_view text);  // /proc/meminfo

struct MountEntry {
    std::string source;
    std::string dir;  // octal escapes (\040) decoded
    std::string type;
    std::string options;
};
std::vector<MountEntry> parse_mounts(std::string_view text);  // /proc/mounts
// A hugetlbfs mount's page size: its pagesize= option, else the system default.
uint64_t hugetlbfs_page_bytes(const MountEntry& m, uint64_t default_page_bytes);

struct KernelVersion {
    int major = 0;
    int minor = 0;
    int patch = 0;
    bool at_least(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};
KernelVersion parse_kernel_release(std::string_view release);  // "6.1.0-18-amd64" -> 6.1.0

// Socket inodes in LISTEN state on `port` in the text of /proc/net/tcp or /proc/net/tcp6.
std::vector<uint64_t> listening_inodes(std::string_view proc_net_tcp, uint16_t port);

// The segment the supervisor creates for `shards` shards: one member per shard plus the bridge
// slot, each with a ring of config.ring descriptors and config.slab_bytes of slab. 0 when that
// geometry is invalid.
uint64_t segment_bytes(const Config& config, uint32_t shards);

struct HugepageNeed {
    uint64_t needed = 0;        // 2 MiB pages the segment takes
    uint64_t available = 0;     // free minus reserved
    uint64_t nr_hugepages = 0;  // the vm.nr_hugepages that leaves `needed` free (>= total)
    bool enough() const { return available >= needed; }
};
// The same arithmetic as shm::plan_hugepages, with the numbers kept.
HugepageNeed hugepage_need(uint64_t segment_bytes, const MemInfo& m);

std::string format_bytes(uint64_t bytes);  // "512 KiB", "136 MiB", "1.5 GiB"

// ---------------------------------------------------------------- what is probed

// One step of the io_uring probe: 0 = works, else -errno; unset = not tried (an earlier step
// failed). `note` says what went wrong when it is more than an errno.
struct Probe {
    std::optional<int> result;
    std::string note;
    bool ok() const { return result && *result == 0; }
};

struct UringFacts {
    int setup_error = 0;    // io_uring_queue_init_params: 0 or -errno
    uint32_t features = 0;  // io_uring_params.features (IORING_FEAT_*)
    Probe fast_setup;       // IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
    Probe opcode_probe;     // io_uring_get_probe_ring
    std::vector<std::string> missing_opcodes;  // of the ones the worker uses
    Probe buf_ring;                            // io_uring_register_buf_ring on an 8-entry ring
    Probe multishot_accept;                    // over 127.0.0.1, as a shard arms it
    Probe multishot_recv;  // with IOSQE_BUFFER_SELECT from the provided buffer ring
    Probe sendmsg;         // the server frame going back
};

// An attempt to bind the configured address without SO_REUSEPORT, as a second server would.
struct BindFacts {
    std::string address;  // as configured, for the message
    int error = 0;        // errno of socket/bind; 0 = free
    pid_t owner_pid = 0;  // who listens there, when /proc tells (0 = unknown)
    std::string owner_comm;
};

struct ControlSocketFacts {
    std::string path;
    std::string dir;
    bool dir_exists = false;
    bool dir_writable = false;   // W_OK|X_OK for this user
    std::string creatable_from;  // the nearest existing ancestor, when dir is missing
    bool ancestor_writable = false;
    bool path_exists = false;
    bool path_is_socket = false;
    bool socket_answers = false;  // a connect() succeeded: a server is live there
};

struct HugetlbfsMount {
    std::string dir;
    uint64_t page_bytes = 0;
    bool writable = false;  // by this user
    uint32_t mode = 0;      // permission bits of the mount's root
    std::string owner;      // "mode 0755 root:root"
};

struct StaleSegment {
    std::string path;  // /dev/shm/ringcast-123 or <hugetlbfs>/ringcast-123
    uint64_t bytes = 0;
};

struct HostFacts {
    std::string kernel_release;  // uname -r
    std::string machine;         // uname -m
    uid_t uid = 0;

    std::optional<long> io_uring_disabled;  // kernel.io_uring_disabled (6.6+)
    std::optional<long> io_uring_group;     // kernel.io_uring_group
    UringFacts uring;

    std::string meminfo;  // /proc/meminfo and /proc/mounts as read: judge() parses them,
    std::string mounts;   // with the very parser the segment uses for its hugepage decision
    std::vector<HugetlbfsMount> hugetlbfs;
    std::optional<uint64_t> dev_shm_free_bytes;  // nullopt: no /dev/shm
    uint64_t dev_shm_size_bytes = 0;
    std::vector<StaleSegment> stale_segments;  // segments whose creator pid is gone

    Topology topology;            // what the supervisor plans with
    std::vector<int> numa_nodes;  // every NUMA node of the machine, CPUs allowed or not
    int cores = 0;                // physical cores (hwloc)
    int pus = 0;                  // hardware threads (hwloc)

    uint64_t nofile_soft = 0;  // RLIMIT_NOFILE
    uint64_t nofile_hard = 0;
    std::optional<long> nr_open;          // fs.nr_open: the ceiling of LimitNOFILE=
    std::optional<long> somaxconn;        // net.core.somaxconn
    std::optional<long> tcp_migrate_req;  // net.ipv4.tcp_migrate_req (5.14+)

    BindFacts listen;
    std::optional<BindFacts> metrics;  // when metrics_listen is set
    ControlSocketFacts control;
};

// Probes this host for `config` (a test bind on its addresses, a throwaway io_uring).
HostFacts read_host_facts(const Config& config);

// The verdicts, in the order they are printed. Pure.
std::vector<Check> judge(const Config& config, const HostFacts& facts);

// Probes, judges and prints one line per check and a summary line to `out`. Returns 0 when
// the server can run here, 1 when a check failed.
int run_doctor(const Config& config, std::FILE* out);

// `ringcast doctor [--config FILE] [flags]`: argv[0] is "doctor"; the rest is read by
// parse_command_line as for the server. Returns the exit status (2 for a bad config).
int doctor_main(int argc, const char* const* argv);

}  // namespace ringcast::supervisor
