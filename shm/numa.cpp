// hwloc memory binding for the segment's regions.
#include "shm/numa.hpp"

#include <hwloc.h>

#include <cerrno>
#include <cstring>

namespace ringcast::shm {

NumaBinder::NumaBinder() {
    if (hwloc_topology_init(&topology_) != 0) {
        topology_ = nullptr;
        error_ = std::string("hwloc_topology_init failed: ") + std::strerror(errno);
        return;
    }
    if (hwloc_topology_load(topology_) != 0) {
        error_ = std::string("hwloc_topology_load failed: ") + std::strerror(errno);
        hwloc_topology_destroy(topology_);
        topology_ = nullptr;
    }
}

NumaBinder::~NumaBinder() {
    restore_thread();
    if (topology_) hwloc_topology_destroy(topology_);
}

namespace {

hwloc_obj_t node_obj(hwloc_topology_t topo, int node) {
    return node < 0 ? nullptr
                    : hwloc_get_numanode_obj_by_os_index(topo, static_cast<unsigned>(node));
}

std::string no_node(int node) {
    return "NUMA node " + std::to_string(node) + " does not exist on this machine";
}

}  // namespace

std::string NumaBinder::bind(void* addr, size_t len, int node) {
    if (!topology_) return error_;
    hwloc_obj_t obj = node_obj(topology_, node);
    if (!obj) return no_node(node);
    // STRICT: an operator who asked for a node wants to hear when the kernel cannot honour it.
    if (hwloc_set_area_membind(topology_, addr, len, obj->nodeset, HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_STRICT) != 0) {
        return "binding memory to NUMA node " + std::to_string(node) +
               " failed: " + std::strerror(errno);
    }
    return {};
}

std::string NumaBinder::bind_thread(int node) {
    if (!topology_) return error_;
    hwloc_obj_t obj = node_obj(topology_, node);
    if (!obj) return no_node(node);
    if (!saved_) {
        saved_set_ = hwloc_bitmap_alloc();
        hwloc_membind_policy_t policy{};
        if (saved_set_ && hwloc_get_membind(topology_, saved_set_, &policy,
                                            HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) == 0) {
            saved_policy_ = policy;
            saved_ = true;
        } else {
            hwloc_bitmap_free(saved_set_);
            saved_set_ = nullptr;
        }
    }
    if (hwloc_set_membind(topology_, obj->nodeset, HWLOC_MEMBIND_BIND,
                          HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) != 0) {
        return "binding allocations to NUMA node " + std::to_string(node) +
               " failed: " + std::strerror(errno);
    }
    return {};
}

void NumaBinder::restore_thread() {
    if (!topology_ || !saved_) return;
    hwloc_set_membind(topology_, saved_set_, static_cast<hwloc_membind_policy_t>(saved_policy_),
                      HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET);
    hwloc_bitmap_free(saved_set_);
    saved_set_ = nullptr;
    saved_ = false;
}

}  // namespace ringcast::shm
