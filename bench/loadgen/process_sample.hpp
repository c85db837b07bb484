// CPU time and memory of a process tree read from /proc, and of this process from
// getrusage: sampled at the edges of a run, so a figure shows which side was the limit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace ringcast::bench {

struct ProcessTreeSample {
    bool ok = false;       // the root existed and was readable
    int processes = 0;     // the root and its descendants
    double cpu_sec = 0;    // user + system, all of them, and their reaped children
    uint64_t rss_kb = 0;   // sum of VmRSS (shared memory counts once per process mapping it)
    uint64_t anon_kb = 0;  // sum of RssAnon: private memory, what connections cost
};

// The root and every descendant, found through /proc/PID/task/TID/children.
ProcessTreeSample sample_process_tree(pid_t root);

// Several trees (--server-pid given more than once, e.g. two nodes and their Redis): each
// root's tree on its own, and a total in which a process found in two trees counts once.
// total.ok when every root was readable.
struct ServerSample {
    ProcessTreeSample total;
    std::vector<ProcessTreeSample> each;  // in the order of the roots
};
ServerSample sample_servers(const std::vector<pid_t>& roots);

// User + system CPU seconds of this process, all threads.
double self_cpu_sec();

// Busy CPU seconds of the whole machine (all of /proc/stat's "cpu" line but idle and
// iowait), and the number of CPUs: on a shared machine, what neither side used tells how
// much the figures were disturbed.
struct HostCpuSample {
    double busy_sec = 0;
    int cpus = 0;
};
HostCpuSample sample_host_cpu();

}  // namespace ringcast::bench
