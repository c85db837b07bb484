// Creating, attaching and checking the shared segment. Creation order matters:
//   map -> bind each region to its node -> allocate every page (fallocate: a full /dev/shm or
//   hugepage pool fails here with a message, not later with SIGBUS) -> initialise the blocks
//   -> store the magic last (release), so an attach that sees it sees a complete header.
#include "shm/segment.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>

#include "shm/hugepages.hpp"
#include "shm/numa.hpp"
#include "shm/sys.hpp"

namespace ringcast::shm {
namespace bip = boost::interprocess;

namespace {

uint64_t now_for_seed() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr mode_t kMode = 0660;  // the supervisor and its workers may run as a shared group

// A POSIX shm name has one leading '/' and no other; anything else is a file path.
bool is_shm_name(const std::string& s) {
    return s.size() > 1 && s.front() == '/' && s.find('/', 1) == std::string::npos;
}

std::string errno_text(int err) {
    return std::strerror(err);
}

class FileDescriptor {
  public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() {
        if (fd_ >= 0) sys().close(fd_);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

std::string mib(uint64_t bytes) {
    return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

// Allocates every page of the segment, each member's region on its node. fallocate takes the
// shared policy set by mbind on tmpfs and the calling thread's policy on hugetlbfs, so both
// are set.
std::string allocate_pages(int fd, uint8_t* base, const Layout& l, uint32_t members,
                           const std::vector<int>& numa_nodes, bool hugepages, std::string& note) {
    std::optional<NumaBinder> numa;
    auto fallocate = [&](uint64_t off, uint64_t len) -> std::string {
        SysResult r = sys().fallocate(fd, off, len);
        if (r.error == 0) return {};
        std::string where = hugepages ? "the hugepage pool" : "/dev/shm";
        return "cannot allocate " + mib(len) + " in " + where + ": " + errno_text(r.error) +
               (hugepages ? " (reserve more: sysctl -w vm.nr_hugepages=N)"
                          : " (free space in /dev/shm or raise its size: mount -o "
                            "remount,size=<bytes> /dev/shm)");
    };
    if (auto e = fallocate(0, l.regions_offset); !e.empty()) return e;
    for (uint32_t m = 0; m < members; ++m) {
        const uint64_t off = l.regions_offset + uint64_t{m} * l.region_stride;
        const int node = m < numa_nodes.size() ? numa_nodes[m] : -1;
        bool bound = false;
        if (node >= 0) {
            if (!numa) numa.emplace();
            std::string e = numa->bind(base + off, l.region_stride, node);
            if (e.empty()) e = numa->bind_thread(node);
            if (e.empty()) {
                bound = true;
            } else {
                if (!note.empty()) note += "; ";
                note += "member " + std::to_string(m) + " not NUMA-bound: " + e;
            }
        }
        std::string e = fallocate(off, l.region_stride);
        if (bound) numa->restore_thread();
        if (!e.empty()) return e;
    }
    return {};
}

void initialise(uint8_t* base, const Geometry& g, const Layout& l, bool hugepages) {
    auto* h = new (base) SegmentHeader{};
    h->layout_version = kLayoutVersion;
    h->header_bytes = sizeof(SegmentHeader);
    h->control_bytes = sizeof(ControlBlock);
    h->cursor_bytes = sizeof(Cursor);
    h->descriptor_bytes = sizeof(Descriptor);
    h->ring_header_bytes = sizeof(RingHeader);
    h->members = g.members;
    h->ring_capacity = g.ring_capacity;
    h->slab_bytes = g.slab_bytes;
    h->control_offset = l.control_offset;
    h->cursors_offset = l.cursors_offset;
    h->regions_offset = l.regions_offset;
    h->region_stride = l.region_stride;
    h->slots_offset = l.slots_offset;
    h->slab_offset = l.slab_offset;
    h->total_bytes = l.total_bytes;
    h->hugepages = hugepages ? 1 : 0;
    h->creator_pid = static_cast<int32_t>(::getpid());
    // Unpredictable, so a client cannot pick addresses that collide in both rows on purpose.
    if (::getrandom(&h->address_seed, sizeof h->address_seed, 0) != sizeof h->address_seed)
        h->address_seed = static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^ now_for_seed();
    // The blocks hold atomics: construct them (the fresh mapping is already zero).
    for (uint32_t m = 0; m < g.members; ++m) {
        new (base + l.control_offset + uint64_t{m} * sizeof(ControlBlock)) ControlBlock{};
        new (base + l.regions_offset + uint64_t{m} * l.region_stride) RingHeader{};
    }
    for (uint64_t i = 0; i < uint64_t{g.members} * g.members; ++i) {
        new (base + l.cursors_offset + i * sizeof(Cursor)) Cursor{};
    }
    // Pairs with the acquire in check_header(): a process that sees the magic sees the rest.
    std::atomic_ref<uint64_t>(h->magic).store(kMagic, std::memory_order_release);
}

template <class T>
std::string mismatch(const char* what, T found, T expected) {
    return std::string(what) + " is " + std::to_string(found) + " in the segment but " +
           std::to_string(expected) + " in this build";
}

std::string check_header(SegmentHeader& h, uint64_t mapped) {
    if (mapped < sizeof(SegmentHeader)) {
        return "it is " + std::to_string(mapped) + " bytes, too small to hold a ringcast header";
    }
    // Pairs with the release store of the magic in initialise().
    const uint64_t magic = std::atomic_ref<uint64_t>(h.magic).load(std::memory_order_acquire);
    if (magic != kMagic) {
        char buf[160];
        std::snprintf(buf, sizeof buf,
                      "bad magic 0x%016" PRIx64
                      " (expected \"RINGCAST\"): not a ringcast segment, or its creator "
                      "has not finished initialising it",
                      magic);
        return buf;
    }
    const std::string same_build = " (run the supervisor and workers from the same build)";
    if (h.layout_version != kLayoutVersion) {
        return mismatch("layout version", h.layout_version, kLayoutVersion) + same_build;
    }
    struct Size {
        const char* name;
        uint32_t found;
        size_t expected;
    };
    const Size sizes[] = {{"sizeof(SegmentHeader)", h.header_bytes, sizeof(SegmentHeader)},
                          {"sizeof(ControlBlock)", h.control_bytes, sizeof(ControlBlock)},
                          {"sizeof(Cursor)", h.cursor_bytes, sizeof(Cursor)},
                          {"sizeof(Descriptor)", h.descriptor_bytes, sizeof(Descriptor)},
                          {"sizeof(RingHeader)", h.ring_header_bytes, sizeof(RingHeader)}};
    for (const Size& s : sizes) {
        if (s.found != s.expected) {
            return mismatch(s.name, uint64_t{s.found}, uint64_t{s.expected}) + same_build;
        }
    }
    const Geometry g{h.members, h.ring_capacity, h.slab_bytes};
    if (auto e = validate_geometry(g); !e.empty()) return "bad geometry: " + e;
    const Layout l = compute_layout(g);
    struct Offset {
        const char* name;
        uint64_t found;
        uint64_t expected;
    };
    const Offset offsets[] = {{"control_offset", h.control_offset, l.control_offset},
                              {"cursors_offset", h.cursors_offset, l.cursors_offset},
                              {"regions_offset", h.regions_offset, l.regions_offset},
                              {"region_stride", h.region_stride, l.region_stride},
                              {"slots_offset", h.slots_offset, l.slots_offset},
                              {"slab_offset", h.slab_offset, l.slab_offset},
                              {"total_bytes", h.total_bytes, l.total_bytes}};
    for (const Offset& o : offsets) {
        if (o.found != o.expected) {
            return mismatch(o.name, o.found, o.expected) + " for its geometry" + same_build;
        }
    }
    if (l.total_bytes > mapped) {
        return "the header describes " + std::to_string(l.total_bytes) + " bytes but only " +
               std::to_string(mapped) + " are mapped (truncated segment)";
    }
    return {};
}

}  // namespace

Segment::Segment(Segment&&) noexcept = default;
Segment& Segment::operator=(Segment&&) noexcept = default;
Segment::~Segment() = default;

void Segment::bind(bip::mapped_region region) {
    region_ = std::move(region);
    auto* base = static_cast<uint8_t*>(region_.get_address());
    header_ = reinterpret_cast<SegmentHeader*>(base);
    control_ = reinterpret_cast<ControlBlock*>(base + header_->control_offset);
    cursors_ = reinterpret_cast<Cursor*>(base + header_->cursors_offset);
    regions_ = base + header_->regions_offset;
    region_stride_ = header_->region_stride;
    slots_offset_ = header_->slots_offset;
    slab_offset_ = header_->slab_offset;
    slab_bytes_ = header_->slab_bytes;
    members_ = header_->members;
    capacity_ = header_->ring_capacity;
    hugepages_ = header_->hugepages != 0;
}

std::string Segment::map_hugepage_file(const std::string& file, const Geometry& g, const Layout& l,
                                       const std::vector<int>& numa_nodes, std::string& note) {
    sys().unlink(file.c_str());  // a stale segment of a dead supervisor with our pid
    std::string failure;
    try {
        SysResult fd = sys().open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kMode);
        if (fd.error != 0) return "cannot create " + file + ": " + errno_text(fd.error);
        FileDescriptor owned(static_cast<int>(fd.value));
        // hugetlbfs sizes files by ftruncate only; the mapping reserves the pages.
        if (SysResult t = sys().ftruncate(owned.get(), l.total_bytes); t.error != 0) {
            failure = "cannot size " + file + ": " + errno_text(t.error);
        } else {
            bip::file_mapping fm(file.c_str(), bip::read_write);
            bip::mapped_region region(fm, bip::read_write, 0, l.total_bytes);
            auto* base = static_cast<uint8_t*>(region.get_address());
            failure = allocate_pages(owned.get(), base, l, g.members, numa_nodes, true, note);
            if (failure.empty()) {
                initialise(base, g, l, true);
                path_ = file;
                bind(std::move(region));
            }
        }
    } catch (const bip::interprocess_exception& e) {
        failure = "cannot map " + file + ": " + e.what();
    }
    if (!failure.empty()) sys().unlink(file.c_str());
    return failure;
}

std::string Segment::map_shm(const std::string& name, const Geometry& g, const Layout& l,
                             const std::vector<int>& numa_nodes, std::string& note) {
    bip::shared_memory_object::remove(name.c_str());  // a stale segment with our name
    std::string failure;
    try {
        bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write,
                                      bip::permissions(kMode));
        obj.truncate(static_cast<bip::offset_t>(l.total_bytes));
        bip::mapped_region region(obj, bip::read_write, 0, l.total_bytes);
        auto* base = static_cast<uint8_t*>(region.get_address());
        failure = allocate_pages(obj.get_mapping_handle().handle, base, l, g.members, numa_nodes,
                                 false, note);
        if (failure.empty()) {
            initialise(base, g, l, false);
            path_ = name;
            bind(std::move(region));
        }
    } catch (const bip::interprocess_exception& e) {
        failure = std::string("cannot create it in /dev/shm: ") + e.what();
    }
    if (!failure.empty()) bip::shared_memory_object::remove(name.c_str());
    return failure;
}

std::variant<Segment, std::string> Segment::create(const std::string& name, const Geometry& g,
                                                   HugepageMode mode,
                                                   const std::vector<int>& numa_nodes) {
    const std::string where = "ringcast shm " + name + ": ";
    if (!is_shm_name(name)) {
        return where +
               "a segment name is one '/' followed by a name without '/', like "
               "/ringcast-<pid>";
    }
    if (auto e = validate_geometry(g); !e.empty()) return where + e;
    if (numa_nodes.size() > g.members) {
        return where + std::to_string(numa_nodes.size()) + " NUMA nodes given for " +
               std::to_string(g.members) + " members";
    }
    const Layout l = compute_layout(g);
    Segment seg;
    std::string hugepage_failure;
    if (mode != HugepageMode::Off) {
        const HugepagePlan plan = plan_hugepages(read_hugepage_system(), name, l.total_bytes);
        hugepage_failure = plan.reason;
        if (plan.usable) {
            hugepage_failure = seg.map_hugepage_file(plan.file, g, l, numa_nodes, seg.note_);
        }
        if (!hugepage_failure.empty() && mode == HugepageMode::Require) {
            return where + "hugepages required, but " + hugepage_failure;
        }
    }
    if (seg.header_ == nullptr) {
        seg.note_.clear();  // binding notes of a failed hugepage attempt would repeat below
        if (auto e = seg.map_shm(name, g, l, numa_nodes, seg.note_); !e.empty()) return where + e;
        if (!hugepage_failure.empty()) {
            seg.note_ = "hugepages not used: " + hugepage_failure +
                        "; using 4 KiB pages in /dev/shm" +
                        (seg.note_.empty() ? "" : "; " + seg.note_);
        }
    }
    return seg;
}

std::variant<Segment, std::string> Segment::attach(const std::string& path_or_name) {
    const std::string where = "ringcast shm " + path_or_name + ": refusing to attach: ";
    bip::mapped_region region;
    try {
        if (is_shm_name(path_or_name)) {
            bip::shared_memory_object obj(bip::open_only, path_or_name.c_str(), bip::read_write);
            bip::offset_t size = 0;
            if (!obj.get_size(size) || size < static_cast<bip::offset_t>(sizeof(SegmentHeader))) {
                return where + "it is " + std::to_string(size) +
                       " bytes, too small to hold a ringcast header";
            }
            region = bip::mapped_region(obj, bip::read_write);
        } else {
            bip::file_mapping fm(path_or_name.c_str(), bip::read_write);
            region = bip::mapped_region(fm, bip::read_write);
        }
    } catch (const bip::interprocess_exception& e) {
        return where + "cannot open or map it: " + e.what();
    }
    auto* h = static_cast<SegmentHeader*>(region.get_address());
    if (auto e = check_header(*h, region.get_size()); !e.empty()) return where + e;
    Segment seg;
    seg.path_ = path_or_name;
    seg.bind(std::move(region));
    return seg;
}

void Segment::remove(const std::string& path_or_name) {
    if (is_shm_name(path_or_name)) {
        bip::shared_memory_object::remove(path_or_name.c_str());
    } else {
        sys().unlink(path_or_name.c_str());
    }
}

}  // namespace ringcast::shm
