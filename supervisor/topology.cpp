// hwloc discovery and the shard placement plan.
#include "supervisor/topology.hpp"

#include <hwloc.h>
#include <sched.h>

#include <algorithm>

namespace ringcast::supervisor {

Topology discover_topology() {
    Topology t;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &allowed);
    }
    hwloc_topology_t topo;
    bool loaded = hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0;
    if (loaded) {
        int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        for (int i = 0; i < n; ++i) {
            hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
            if (!node || !node->cpuset) continue;
            NodeInfo info;
            info.os_index = static_cast<int>(node->os_index);
            unsigned cpu;
            hwloc_bitmap_foreach_begin(cpu, node->cpuset) {
                if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &allowed)) info.cpus.push_back(static_cast<int>(cpu));
            }
            hwloc_bitmap_foreach_end();
            if (!info.cpus.empty()) t.nodes.push_back(std::move(info));
        }
    }
    if (loaded) hwloc_topology_destroy(topo);
    if (t.nodes.empty()) {
        NodeInfo info;
        for (int i = 0; i < CPU_SETSIZE; ++i) {
            if (CPU_ISSET(i, &allowed)) info.cpus.push_back(i);
        }
        t.nodes.push_back(std::move(info));
    }
    for (const auto& n : t.nodes) t.allowed_cpus += static_cast<int>(n.cpus.size());
    return t;
}

std::vector<WorkerPlacement> plan_workers(const Topology& topo, uint32_t worker_processes,
                                          uint32_t shards, int numa_node, std::string* error) {
    std::vector<const NodeInfo*> nodes;
    for (const auto& n : topo.nodes) {
        if (numa_node < 0 || n.os_index == numa_node) nodes.push_back(&n);
    }
    if (nodes.empty()) {
        if (error) *error = "numa_node: node " + std::to_string(numa_node) + " has no CPUs this process may use";
        return {};
    }
    uint32_t cpus = 0;
    for (const auto* n : nodes) cpus += static_cast<uint32_t>(n->cpus.size());
    uint32_t workers = worker_processes ? worker_processes : static_cast<uint32_t>(nodes.size());
    uint32_t total = shards ? shards : cpus;
    total = std::max(total, workers);

    // Worker w lives on node w % nodes; its shards take that node's CPUs round-robin.
    std::vector<WorkerPlacement> plan(workers);
    std::vector<size_t> next_cpu(nodes.size(), 0);
    for (uint32_t w = 0; w < workers; ++w) plan[w].numa_node = nodes[w % nodes.size()]->os_index;
    for (uint32_t s = 0; s < total; ++s) {
        uint32_t w = s % workers;
        size_t ni = w % nodes.size();
        const NodeInfo& node = *nodes[ni];
        int cpu = node.cpus[next_cpu[ni]++ % node.cpus.size()];
        plan[w].shards.push_back(ShardPlacement{s, cpu});
    }
    // Members numbered worker by worker, so a worker's shards are contiguous.
    uint32_t member = 0;
    for (auto& w : plan) {
        for (auto& s : w.shards) s.member = member++;
    }
    return plan;
}

}  // namespace ringcast::supervisor
