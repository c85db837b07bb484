// Reads the hugepage pool and hugetlbfs mounts and decides whether a segment fits in them.
#include "shm/hugepages.hpp"

#include "shm/proc_text.hpp"
#include "shm/sys.hpp"

namespace ringcast::shm {
namespace {

// "2M", "2048k", "1G" as in a hugetlbfs pagesize= option.
uint64_t parse_size(std::string_view s) {
    if (s.empty()) return 0;
    uint64_t mult = 1;
    switch (s.back()) {
        case 'k':
        case 'K':
            mult = 1ull << 10;
            break;
        case 'm':
        case 'M':
            mult = 1ull << 20;
            break;
        case 'g':
        case 'G':
            mult = 1ull << 30;
            break;
        default:
            break;
    }
    if (mult != 1) s.remove_suffix(1);
    return parse_u64(s).value_or(0) * mult;
}

}  // namespace

HugepageSystem parse_hugepage_system(std::string_view meminfo, std::string_view mounts) {
    HugepageSystem sys;
    for_each_line(meminfo, [&](std::string_view line) {
        auto f = split_fields(line);
        if (f.size() < 2) return;
        const uint64_t v = parse_u64(f[1]).value_or(0);
        if (f[0] == "HugePages_Total:")
            sys.total = v;
        else if (f[0] == "HugePages_Free:")
            sys.free = v;
        else if (f[0] == "HugePages_Rsvd:")
            sys.reserved = v;
        else if (f[0] == "Hugepagesize:")
            sys.default_page_bytes = v << 10;  // kB
    });
    for_each_line(mounts, [&](std::string_view line) {
        auto f = split_fields(line);
        if (f.size() < 4 || f[2] != "hugetlbfs" || !sys.mount.empty()) return;
        if (hugetlbfs_page_bytes(f[3], sys.default_page_bytes) == kHugepageBytes)
            sys.mount = unescape_octal(f[1]);
    });
    return sys;
}

uint64_t hugetlbfs_page_bytes(std::string_view options, uint64_t default_page_bytes) {
    while (!options.empty()) {
        const std::string_view opt = options.substr(0, options.find(','));
        if (opt.starts_with("pagesize=")) return parse_size(opt.substr(9));
        if (opt.size() == options.size()) break;
        options.remove_prefix(opt.size() + 1);
    }
    return default_page_bytes;
}

HugepageSystem read_hugepage_system() {
    return parse_hugepage_system(sys().read_text("/proc/meminfo"), sys().read_text("/proc/mounts"));
}

HugepagePlan plan_hugepages(const HugepageSystem& sys, const std::string& name, uint64_t bytes) {
    HugepagePlan plan;
    const uint64_t needed = (bytes + kHugepageBytes - 1) / kHugepageBytes;
    const uint64_t available = sys.free > sys.reserved ? sys.free - sys.reserved : 0;
    const std::string mount_cmd =
        "mkdir -p /dev/hugepages && mount -t hugetlbfs -o pagesize=2M none /dev/hugepages";
    if (sys.default_page_bytes != kHugepageBytes) {
        // HugePages_Free counts pages of the default size only.
        plan.reason = "the default hugepage size is " +
                      std::to_string(sys.default_page_bytes >> 10) +
                      " kB and ringcast uses 2 MiB pages (boot with default_hugepagesz=2M)";
        return plan;
    }
    std::string reason;
    if (available < needed) {
        const uint64_t target = sys.total - available + needed;  // pages in use stay in use
        reason = "the segment needs " + std::to_string(needed) + " hugepages of 2 MiB and " +
                 std::to_string(available) +
                 " are free (reserve them: sysctl -w vm.nr_hugepages=" + std::to_string(target) +
                 ")";
    }
    if (sys.mount.empty()) {
        if (!reason.empty()) reason += ", and ";
        reason += "no hugetlbfs with 2 MiB pages is mounted (" + mount_cmd + ")";
    }
    if (!reason.empty()) {
        plan.reason = std::move(reason);
        return plan;
    }
    plan.usable = true;
    plan.file = sys.mount + (name.empty() || name.front() != '/' ? "/" : "") + name;
    return plan;
}

}  // namespace ringcast::shm
