// Plans where shards run: NUMA nodes and CPUs from hwloc, intersected with the CPU set this
// process was given (taskset, systemd CPUAffinity=, a container's cpuset). Never widens it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringcast::supervisor {

struct NodeInfo {
    int os_index = 0;          // NUMA node number
    std::vector<int> cpus;     // allowed CPUs on this node
};

struct Topology {
    std::vector<NodeInfo> nodes;   // nodes with at least one allowed CPU
    int allowed_cpus = 0;
};

// Reads the machine with hwloc; falls back to one node holding the affinity mask.
Topology discover_topology();

struct ShardPlacement {
    uint32_t member = 0;
    int cpu = -1;
};
struct WorkerPlacement {
    int numa_node = -1;
    std::vector<ShardPlacement> shards;
};

// worker_processes 0 = one per node; shards 0 = one per allowed CPU; numa_node -1 = all.
// Every worker gets at least one shard. Returns an error message when the request cannot
// be met (e.g. a numa_node the machine does not have).
std::vector<WorkerPlacement> plan_workers(const Topology& topo, uint32_t worker_processes,
                                          uint32_t shards, int numa_node, std::string* error);

}  // namespace ringcast::supervisor
