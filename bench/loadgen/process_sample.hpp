// CPU time and memory of a process tree read from /proc, and of this process from
// getrusage: sampled at the edges of a run, so a figure shows which side was the limit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
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

// Kernel work on the CPUs a server runs on, which its own process figures leave out: the
// per-CPU irq and softirq columns of /proc/stat, every non-idle column (busy), and the CPU
// time (utime + stime) of the ksoftirqd/N threads of those CPUs. Meaning depends on the
// kernel's accounting (see bench/README.md): ksoftirqd's time is inside softirq either way;
// with tick accounting (no CONFIG_IRQ_TIME_ACCOUNTING) a softirq that ran in a process's
// own context is in that process's stime as well.
struct KernelCpuSample {
    bool ok = false;  // /proc/stat had a line for every CPU asked for
    double irq_sec = 0, softirq_sec = 0, busy_sec = 0, ksoftirqd_sec = 0;
};

// Every CPU any thread of these trees may run on (sched_getaffinity), ascending.
std::vector<int> server_cpus(const std::vector<pid_t>& roots);
// The ksoftirqd/N kernel threads of these CPUs (by comm), one per CPU found.
std::vector<pid_t> ksoftirqd_pids(const std::vector<int>& cpus);
KernelCpuSample sample_kernel_cpu(const std::vector<int>& cpus,
                                  const std::vector<pid_t>& ksoftirqd);
// One /proc/stat "cpuN ..." line: fills irq, softirq and busy (user nice system irq softirq
// steal) in ticks; false when it is not a per-CPU line. For the self-test.
bool parse_cpu_line(const std::string& line, int& cpu, uint64_t& irq, uint64_t& softirq,
                    uint64_t& busy);

}  // namespace ringcast::bench
