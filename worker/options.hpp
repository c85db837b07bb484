// What a worker process is told by the supervisor: its shards, their fds and settings.
// Plain data; the supervisor serialises it onto the worker's command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringcast::worker {

struct ShardOptions {
    uint32_t member = 0;    // this shard's index in the shm fabric
    int listen_fd = -1;     // its own SO_REUSEPORT listener (inherited)
    int cpu = -1;           // CPU to pin the reactor thread to (-1 = leave as is)
};

struct Settings {
    uint32_t batch = 64;                     // completions handled per reactor iteration
    uint64_t max_message_bytes = 16u << 20;
    uint64_t max_buffered_bytes = 8u << 20;  // per connection, before the slow-client policy applies
    uint32_t ping_interval_ms = 30000;       // 0 = never ping
    uint32_t shutdown_timeout_ms = 5000;
    bool connection_log = false;             // one key=value line per connection event
    // permessage-deflate (docs/compression.md): accept offers; messages shorter than
    // compression_min_bytes are never compressed; zlib level 1..9.
    bool compression = true;
    uint32_t compression_min_bytes = 64;
    uint32_t compression_level = 6;
};

struct WorkerOptions {
    uint32_t index = 0;                 // worker number, for logs and the supervisor
    std::string segment;                // shm path to attach
    int numa_node = -1;                 // node to bind memory to (-1 = none)
    std::vector<ShardOptions> shards;
    std::vector<int> wake_fds;          // eventfd of every member, indexed by member
    Settings settings;
    int log_level = 1;
    int control_fd = -1;   // SOCK_SEQPACKET to the supervisor: "handoff" (+fd), "drain"
    int handoff_fd = -1;   // set when this process takes over a running worker's connections
};

// Runs the worker until SIGTERM/SIGINT (graceful: Close 1001 to every client) or a fatal error.
int run_worker(const WorkerOptions& options);

}  // namespace ringcast::worker
