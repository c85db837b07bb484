// /proc readers for the server's process tree; getrusage for ourselves.
#include "bench/loadgen/process_sample.hpp"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ringcast::bench {
namespace {

bool read_file(const std::string& path, std::string& out) {
    std::ifstream f(path);
    if (!f) return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    out = ss.str();
    return true;
}

// Children of every thread of `pid` (a child belongs to the thread that forked it).
void children_of(pid_t pid, std::vector<pid_t>& out) {
    const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(task_dir.c_str());
    if (!d) return;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string text;
        if (!read_file(task_dir + "/" + e->d_name + "/children", text)) continue;
        std::istringstream ss(text);
        pid_t child;
        while (ss >> child) out.push_back(child);
    }
    closedir(d);
}

// utime + stime + cutime + cstime (fields 14-17 of /proc/PID/stat, counted after the ')'
// that ends comm). The c* fields hold reaped children: a worker that died and was replaced
// during the run keeps counting through its parent instead of vanishing from the sum.
bool cpu_ticks_of(pid_t pid, uint64_t& ticks) {
    std::string text;
    if (!read_file("/proc/" + std::to_string(pid) + "/stat", text)) return false;
    const size_t paren = text.rfind(')');
    if (paren == std::string::npos) return false;
    std::istringstream ss(text.substr(paren + 2));
    std::string field;
    ticks = 0;
    for (int i = 3; i <= 17 && ss >> field; ++i)
        if (i >= 14) ticks += std::strtoull(field.c_str(), nullptr, 10);
    return true;
}

struct ProcessFigures {
    pid_t pid;
    double cpu_sec;
    uint64_t rss_kb, anon_kb;
};

uint64_t status_kb(const std::string& status, const char* key) {
    const size_t at = status.find(key);
    if (at == std::string::npos) return 0;
    return std::strtoull(status.c_str() + at + std::strlen(key), nullptr, 10);
}

// The root and its descendants, one entry each; empty when the root is unreadable.
std::vector<ProcessFigures> walk_tree(pid_t root) {
    std::vector<ProcessFigures> out;
    std::vector<pid_t> todo{root};
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    for (size_t i = 0; i < todo.size(); ++i) {
        const pid_t pid = todo[i];
        uint64_t ticks = 0;
        std::string status;
        if (!cpu_ticks_of(pid, ticks) ||
            !read_file("/proc/" + std::to_string(pid) + "/status", status)) {
            if (i == 0) return out;
            continue;  // exited between the two reads
        }
        out.push_back({pid, static_cast<double>(ticks) / tick, status_kb(status, "VmRSS:"),
                       status_kb(status, "RssAnon:")});
        children_of(pid, todo);
    }
    return out;
}

void add(ProcessTreeSample& s, const ProcessFigures& p) {
    ++s.processes;
    s.cpu_sec += p.cpu_sec;
    s.rss_kb += p.rss_kb;
    s.anon_kb += p.anon_kb;
}

}  // namespace

ProcessTreeSample sample_process_tree(pid_t root) {
    ProcessTreeSample s;
    const std::vector<ProcessFigures> procs = walk_tree(root);
    if (procs.empty()) return s;
    for (const ProcessFigures& p : procs) add(s, p);
    s.ok = true;
    return s;
}

ServerSample sample_servers(const std::vector<pid_t>& roots) {
    ServerSample s;
    s.total.ok = !roots.empty();
    std::vector<pid_t> counted;
    for (pid_t root : roots) {
        ProcessTreeSample one;
        const std::vector<ProcessFigures> procs = walk_tree(root);
        one.ok = !procs.empty();
        s.total.ok = s.total.ok && one.ok;
        for (const ProcessFigures& p : procs) {
            add(one, p);
            if (std::find(counted.begin(), counted.end(), p.pid) != counted.end()) continue;
            counted.push_back(p.pid);  // a process in two of the trees counts once in the total
            add(s.total, p);
        }
        s.each.push_back(one);
    }
    return s;
}

double self_cpu_sec() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

HostCpuSample sample_host_cpu() {
    HostCpuSample h;
    std::string text;
    if (!read_file("/proc/stat", text)) return h;
    std::istringstream ss(text);
    std::string line;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    while (std::getline(ss, line)) {
        if (line.rfind("cpu", 0) != 0) break;
        if (line.rfind("cpu ", 0) == 0) {
            std::istringstream f(line.substr(4));
            uint64_t v[10] = {};
            for (auto& x : v) f >> x;
            // user nice system idle iowait irq softirq steal (guest is inside user)
            const uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
            h.busy_sec = static_cast<double>(busy) / tick;
        } else {
            ++h.cpus;
        }
    }
    return h;
}

bool parse_cpu_line(const std::string& line, int& cpu, uint64_t& irq, uint64_t& softirq,
                    uint64_t& busy) {
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9')
        return false;
    std::istringstream f(line.substr(3));
    uint64_t v[8] = {};
    if (!(f >> cpu)) return false;
    for (auto& x : v)
        if (!(f >> x)) return false;
    // user nice system idle iowait irq softirq steal (guest is inside user)
    irq = v[5];
    softirq = v[6];
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return true;
}

std::vector<int> server_cpus(const std::vector<pid_t>& roots) {
    std::vector<int> cpus;
    std::vector<pid_t> todo(roots.begin(), roots.end());
    for (size_t i = 0; i < todo.size() && i < 4096; ++i) {
        const std::string task_dir = "/proc/" + std::to_string(todo[i]) + "/task";
        if (DIR* d = opendir(task_dir.c_str())) {
            while (dirent* e = readdir(d)) {
                if (e->d_name[0] == '.') continue;
                cpu_set_t set;
                CPU_ZERO(&set);
                const auto tid = static_cast<pid_t>(std::atoi(e->d_name));
                if (sched_getaffinity(tid, sizeof set, &set) != 0) continue;
                for (int c = 0; c < CPU_SETSIZE; ++c)
                    if (CPU_ISSET(c, &set) && std::find(cpus.begin(), cpus.end(), c) == cpus.end())
                        cpus.push_back(c);
            }
            closedir(d);
        }
        children_of(todo[i], todo);
    }
    std::sort(cpus.begin(), cpus.end());
    return cpus;
}

std::vector<pid_t> ksoftirqd_pids(const std::vector<int>& cpus) {
    std::vector<pid_t> out;
    DIR* d = opendir("/proc");
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::string comm;
        if (!read_file(std::string("/proc/") + e->d_name + "/comm", comm)) continue;
        if (comm.rfind("ksoftirqd/", 0) != 0) continue;
        const int cpu = std::atoi(comm.c_str() + 10);
        if (std::find(cpus.begin(), cpus.end(), cpu) != cpus.end())
            out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

KernelCpuSample sample_kernel_cpu(const std::vector<int>& cpus,
                                  const std::vector<pid_t>& ksoftirqd) {
    KernelCpuSample k;
    std::string text;
    if (cpus.empty() || !read_file("/proc/stat", text)) return k;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    std::istringstream ss(text);
    std::string line;
    size_t found = 0;
    while (std::getline(ss, line)) {
        if (line.rfind("cpu", 0) != 0) break;
        int cpu = -1;
        uint64_t irq = 0, softirq = 0, busy = 0;
        if (!parse_cpu_line(line, cpu, irq, softirq, busy)) continue;
        if (std::find(cpus.begin(), cpus.end(), cpu) == cpus.end()) continue;
        ++found;
        k.irq_sec += static_cast<double>(irq) / tick;
        k.softirq_sec += static_cast<double>(softirq) / tick;
        k.busy_sec += static_cast<double>(busy) / tick;
    }
    for (pid_t p : ksoftirqd) {
        uint64_t ticks = 0;
        if (cpu_ticks_of(p, ticks)) k.ksoftirqd_sec += static_cast<double>(ticks) / tick;
    }
    k.ok = found == cpus.size();
    return k;
}

}  // namespace ringcast::bench
