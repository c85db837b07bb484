/*
 * The facts half of `ringcast doctor` (supervisor/doctor.hpp): what read_host_facts() finds on
 * this host for a config (kernel, io_uring, memory and hugepages, NUMA, limits, the configured
 * addresses and the control socket) and the parsers of the /proc text it reads. Nothing here
 * judges; judge() in doctor.hpp turns these facts into verdicts. The parsers are pure, so the
 * unit tests feed them the text of hosts we do not have.
 */
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config.hpp"
#include "supervisor/topology.hpp"

namespace ringcast::supervisor {

// ---------------------------------------------------------------- pure parsers

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

// The strerror text of an errno given either way: as errno (BindFacts) or -errno (Probe).
std::string errno_name(int err);

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

}  // namespace ringcast::supervisor
