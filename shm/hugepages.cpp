// Reads the hugepage pool and hugetlbfs mounts and decides whether a segment fits in them.
#include "shm/hugepages.hpp"

#include <charconv>
#include <vector>

#include "shm/sys.hpp"

namespace ringcast::shm {
namespace {

std::vector<std::string_view> split_ws(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
        if (j > i) out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

template <class F>
void for_each_line(std::string_view text, F&& f) {
    while (!text.empty()) {
        size_t nl = text.find('\n');
        f(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

uint64_t to_u64(std::string_view s) {
    uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

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
    return to_u64(s) * mult;
}

// /proc/mounts escapes blanks in paths as \040 and friends.
std::string unescape_mount(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            int v = 0;
            bool octal = true;
            for (size_t k = 1; k <= 3; ++k) {
                if (s[i + k] < '0' || s[i + k] > '7') octal = false;
                v = v * 8 + (s[i + k] - '0');
            }
            if (octal) {
                out.push_back(static_cast<char>(v));
                i += 3;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

}  // namespace

HugepageSystem parse_hugepage_system(std::string_view meminfo, std::string_view mounts) {
    HugepageSystem sys;
    for_each_line(meminfo, [&](std::string_view line) {
        auto f = split_ws(line);
        if (f.size() < 2) return;
        if (f[0] == "HugePages_Total:")
            sys.total = to_u64(f[1]);
        else if (f[0] == "HugePages_Free:")
            sys.free = to_u64(f[1]);
        else if (f[0] == "HugePages_Rsvd:")
            sys.reserved = to_u64(f[1]);
        else if (f[0] == "Hugepagesize:")
            sys.default_page_bytes = to_u64(f[1]) << 10;  // kB
    });
    for_each_line(mounts, [&](std::string_view line) {
        auto f = split_ws(line);
        if (f.size() < 4 || f[2] != "hugetlbfs" || !sys.mount.empty()) return;
        uint64_t page = sys.default_page_bytes;
        const std::string_view opts = f[3];
        if (size_t at = opts.find("pagesize="); at != std::string_view::npos) {
            const std::string_view v = opts.substr(at + 9);
            page = parse_size(v.substr(0, v.find(',')));
        }
        if (page == kHugepageBytes) sys.mount = unescape_mount(f[1]);
    });
    return sys;
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
