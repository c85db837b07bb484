// Segment: the one shared mapping of the ring fabric, created by the supervisor and
// attached by name by every worker. Owns the mapping (RAII, move-only), the header check
// on attach, the hugepage decision and the NUMA binding of each member's region. The
// protocols that run over it are in ring.hpp (rings, slabs, cursors) and control.hpp.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "shm/layout.hpp"

namespace ringcast::shm {

enum class HugepageMode { Auto, Require, Off };

// One member's ring and slab as this process sees them (process-local pointers).
struct RingView {
    RingHeader* hdr;
    Descriptor* slots;
    uint8_t* slab;
    uint32_t capacity;
    uint64_t slab_bytes;
};

class Segment {
  public:
    // Supervisor: creates (replacing any stale one of the same name) and initialises a
    // segment. `name` is a POSIX shm name ("/ringcast-<pid>", lives in /dev/shm); with
    // hugepages the segment is the file <hugetlbfs mount><name> instead. numa_nodes[m] is the
    // node member m's region is bound to (-1 or absent = not bound).
    static std::variant<Segment, std::string> create(const std::string& name, const Geometry& g,
                                                     HugepageMode mode,
                                                     const std::vector<int>& numa_nodes);
    // Workers: maps an existing segment (a shm name or a hugetlbfs file path, as path()
    // returned) and refuses it with a clear message when its header does not match this build.
    static std::variant<Segment, std::string> attach(const std::string& path_or_name);
    // Supervisor at exit: unlinks the name (mappings stay valid until unmapped).
    static void remove(const std::string& path_or_name);

    Segment(Segment&&) noexcept;
    Segment& operator=(Segment&&) noexcept;
    Segment(const Segment&) = delete;
    Segment& operator=(const Segment&) = delete;
    ~Segment();

    const std::string& path() const { return path_; }  // what to pass to attach()
    bool hugepages() const { return hugepages_; }
    const std::string& note() const { return note_; }  // why hugepages/NUMA were not used, or empty

    SegmentHeader& header() { return *header_; }
    ControlBlock& control(uint32_t member) { return control_[member]; }
    const ControlBlock& control(uint32_t member) const { return control_[member]; }
    std::atomic<uint64_t>& cursor(uint32_t consumer, uint32_t producer) {
        return cursors_[uint64_t{consumer} * members_ + producer].value;
    }
    RingView ring(uint32_t member) {
        uint8_t* region = regions_ + uint64_t{member} * region_stride_;
        return RingView{reinterpret_cast<RingHeader*>(region),
                        reinterpret_cast<Descriptor*>(region + slots_offset_),
                        region + slab_offset_, capacity_, slab_bytes_};
    }
    uint32_t members() const { return members_; }
    Geometry geometry() const { return Geometry{members_, capacity_, slab_bytes_}; }
    uint64_t size() const { return region_.get_size(); }

  private:
    Segment() = default;
    void bind(boost::interprocess::mapped_region region);  // caches the block pointers
    // Create, size, map, allocate and initialise; empty on success, else why not.
    std::string map_hugepage_file(const std::string& file, const Geometry& g, const Layout& l,
                                  const std::vector<int>& numa_nodes, std::string& note);
    std::string map_shm(const std::string& name, const Geometry& g, const Layout& l,
                        const std::vector<int>& numa_nodes, std::string& note);

    boost::interprocess::mapped_region region_;
    std::string path_;
    std::string note_;
    bool hugepages_ = false;
    SegmentHeader* header_ = nullptr;
    ControlBlock* control_ = nullptr;
    Cursor* cursors_ = nullptr;
    uint8_t* regions_ = nullptr;
    uint64_t region_stride_ = 0;
    uint64_t slots_offset_ = 0;
    uint64_t slab_offset_ = 0;
    uint64_t slab_bytes_ = 0;
    uint32_t members_ = 0;
    uint32_t capacity_ = 0;
};

// Supervisor: member's process has died. Producers stop honouring its cursors (state = Dead,
// seq_cst), its wake flag is cleared and its connection gauge zeroed (it has none now).
void mark_dead(Segment& seg, uint32_t member);
// Supervisor: a new process runs member (pid, incarnation + 1, Empty/Dead -> Starting; a
// member that already joined stays Live, so call it before or after the fork). Producers
// ignore a Starting member until its Consumer::join().
void mark_starting(Segment& seg, uint32_t member, pid_t pid);

}  // namespace ringcast::shm
