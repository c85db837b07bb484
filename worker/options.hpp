// What a worker process is told by the supervisor: its shards, their fds and settings.
// Plain data; the supervisor serialises it onto the worker's command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringcast::worker {

// Who may connect and publish, and the bounds on each client (docs/admission.md). Decided at
// the upgrade by the shard that accepted the socket; all of it can change at run time (the
// supervisor sends a new copy with the "admission" command; key files are read again then).
struct AdmissionSettings {
    std::vector<std::string> allowed_origins;  // empty = no Origin check
    bool allow_missing_origin = true;          // a request without Origin (not a browser)

    bool auth_required = false;     // no token (or a bad one) = 401
    std::string hmac_secret_file;   // at most one of the two; with neither, tokens are not read
    std::string public_key_file;
    std::string audience;           // "" = aud not checked
    std::string issuer;             // "" = iss not checked
    uint32_t leeway_s = 0;
    bool default_publish = true;     // auth.default_role: "publisher" (true) or "listener"
    bool listener_send_close = true; // auth.listener_send: "close" (1008) or "drop" (counted)
    bool close_on_expiry = true;     // a token's exp reached mid-connection: 1008 "token expired"

    uint32_t max_connections = 0;         // open connections on this node; 0 = no limit
    uint32_t max_connections_per_ip = 0;  // per source address on this node; 0 = no limit
    uint32_t handshake_timeout_ms = 10000;

    // Inbound rate limit per connection (two token buckets); 0 per second = unlimited.
    uint64_t messages_per_s = 0;
    uint64_t bytes_per_s = 0;
    uint64_t burst_messages = 0;
    uint64_t burst_bytes = 0;
    bool rate_limit_close = true;  // rate_limit.policy: "close" (1008 "rate limit") or "drop"

    friend bool operator==(const AdmissionSettings&, const AdmissionSettings&) = default;
};

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
    AdmissionSettings admission;
    // Channels (docs/channels.md): with channels, the upgrade's path names the audience a
    // connection joins; without, every path is one audience (as before).
    bool channels = false;                     // channels: "path"
    uint32_t max_channels = 100000;            // channels one shard holds subscribers of
    uint32_t max_subscribers_per_channel = 0;  // on the node; 0 = no limit
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
