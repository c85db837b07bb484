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
 * Two halves: read_host_facts() (supervisor/doctor_facts.hpp) probes the machine (a throwaway
 * io_uring over loopback, /proc, hwloc, a test bind) and judge() (here) turns those facts and a
 * Config into verdicts. judge() and the parsers are pure, so the unit tests feed them the text
 * and facts of hosts we do not have.
 */
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config.hpp"
#include "supervisor/doctor_facts.hpp"

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

// ---------------------------------------------------------------- arithmetic

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

// ---------------------------------------------------------------- verdicts and the command

// The verdicts, in the order they are printed. Pure.
std::vector<Check> judge(const Config& config, const HostFacts& facts);

// Probes, judges and prints one line per check and a summary line to `out`. Returns 0 when
// the server can run here, 1 when a check failed.
int run_doctor(const Config& config, std::FILE* out);

// `ringcast doctor [--config FILE] [flags]`: argv[0] is "doctor"; the rest is read by
// parse_command_line as for the server. Returns the exit status (2 for a bad config).
int doctor_main(int argc, const char* const* argv);

}  // namespace ringcast::supervisor
