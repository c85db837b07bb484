// Binding a member's region of the segment to its NUMA node (hwloc). Loading the topology
// costs milliseconds, so one NumaBinder serves every region of a segment.
#pragma once

#include <cstddef>
#include <string>

struct hwloc_topology;
struct hwloc_bitmap_s;

namespace ringcast::shm {

class NumaBinder {
  public:
    NumaBinder();
    ~NumaBinder();
    NumaBinder(const NumaBinder&) = delete;
    NumaBinder& operator=(const NumaBinder&) = delete;

    // Binds the pages of [addr, addr + len) to `node` (its OS index). Empty on success,
    // else a one-line reason. Pages already faulted in are not moved: bind before touching.
    std::string bind(void* addr, size_t len, int node);

    // Binds this thread's future allocations to `node` until restore_thread(): hugetlbfs
    // allocates a shared page with the policy of the thread that first allocates it.
    std::string bind_thread(int node);
    void restore_thread();

  private:
    hwloc_topology* topology_ = nullptr;
    hwloc_bitmap_s* saved_set_ = nullptr;
    int saved_policy_ = 0;
    bool saved_ = false;
    std::string error_;
};

}  // namespace ringcast::shm
