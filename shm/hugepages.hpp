// Whether this machine can back the segment with 2 MiB hugepages, and if not, the one-line
// reason with the commands that would fix it. Parsing is pure (tests feed it text); the
// reading of /proc is a thin wrapper.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast::shm {

inline constexpr uint64_t kHugepageBytes = 2ull << 20;

struct HugepageSystem {
    uint64_t default_page_bytes = 0;  // Hugepagesize
    uint64_t total = 0;               // HugePages_Total
    uint64_t free = 0;                // HugePages_Free (includes the reserved ones)
    uint64_t reserved = 0;            // HugePages_Rsvd: promised to mappings, not yet faulted
    std::string mount;                // a hugetlbfs mount with 2 MiB pages, or empty
};

HugepageSystem parse_hugepage_system(std::string_view meminfo, std::string_view mounts);
HugepageSystem read_hugepage_system();  // /proc/meminfo and /proc/mounts

// A hugetlbfs mount's page size: its pagesize= option ("2M", "2048k", "1G"), else the system
// default. `options` is the fourth field of its /proc/mounts line.
uint64_t hugetlbfs_page_bytes(std::string_view options, uint64_t default_page_bytes);

struct HugepagePlan {
    bool usable = false;
    std::string file;    // where the segment file goes when usable: <mount><name>
    std::string reason;  // when not usable: what is missing and how to provide it
};

// `name` is the segment's shm name ("/ringcast-123"); `bytes` its size (a 2 MiB multiple).
HugepagePlan plan_hugepages(const HugepageSystem& sys, const std::string& name, uint64_t bytes);

}  // namespace ringcast::shm
