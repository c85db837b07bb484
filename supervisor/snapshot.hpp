/*
 * A point-in-time picture of the cluster as plain data, and its three renderings: the JSON
 * answers of the control socket (`status`, `workers`, `stats`) and the Prometheus text
 * exposition served at /metrics. The supervisor fills a ClusterSnapshot from its own state
 * and the shm control blocks each time one is asked for; nothing here reads shared memory,
 * opens a socket or keeps state, so every rendering is a pure function tested on its own.
 *
 * Labels are per worker (worker="N") and per shard (shard="member"), never per client, so the
 * number of series stays bounded by the topology. The one exception is channel="...", given
 * only to the busiest channels (at most kMetricsTopChannels of each list).
 */
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringcast::supervisor {

// One channel's figures (docs/channels.md): as one shard wrote them in its top lists, or
// summed over shards.
struct ChannelFigures {
    std::string name;          // "" = the root channel
    uint64_t subscribers = 0;  // gauge
    uint64_t messages = 0;     // published since the channel appeared (on each shard)

    friend bool operator==(const ChannelFigures&, const ChannelFigures&) = default;
};

struct ShardSnapshot {
    uint32_t member = 0;  // index in the ring fabric (shm control block)
    int cpu = -1;
    std::string state;         // "starting" | "live" | "dead" | "empty"
    uint64_t connections = 0;  // gauge
    uint64_t accepted = 0;
    uint64_t messages_in = 0;
    uint64_t deliveries = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t slow_closes = 0;
    uint64_t protocol_errors = 0;  // all codes; may exceed the sum of the counted ones
    uint64_t ring_full = 0;
    // permessage-deflate (docs/compression.md)
    uint64_t deflate_connections = 0;  // gauge
    uint64_t deflated_messages = 0;
    uint64_t deflate_bytes_in = 0;
    uint64_t deflate_bytes_out = 0;
    uint64_t inflated_messages = 0;
    uint64_t inflate_errors = 0;
    std::vector<std::pair<uint16_t, uint64_t>> protocol_errors_by_code;  // {close code, count}
    // Admission (docs/admission.md). Every reason and every error is listed, 0 or not.
    std::vector<std::pair<std::string, uint64_t>> upgrades_rejected;  // {reason label, count}
    std::vector<std::pair<std::string, uint64_t>> auth_failures;      // {JwtError label, count}
    uint64_t rate_limited = 0;
    uint64_t listener_sends = 0;  // data messages from listeners, closed or dropped
    uint64_t token_expired = 0;
    uint64_t listeners = 0;      // gauge: open connections that may not publish
    uint64_t authenticated = 0;  // gauge: open connections admitted with a token
    // Channels (docs/channels.md).
    uint64_t channels = 0;          // gauge: channels with a subscriber on this shard
    uint64_t channel_messages = 0;  // messages published on a channel
    // The shard's busiest channels, each once (the union of its two top lists); empty when it
    // has none, or its lists kept changing while they were read.
    std::vector<ChannelFigures> top_channels;
    uint64_t ring_head = 0;
    uint64_t ring_capacity = 0;
    uint64_t ring_occupancy = 0;  // head - min live cursor
    uint64_t heartbeat_age_ms = 0;
};

struct WorkerSnapshot {
    uint32_t index = 0;
    int pid = -1;
    std::string state;  // "running" | "starting" | "restarting" | "dead"
    uint32_t incarnation = 0;
    uint32_t restarts = 0;
    int numa_node = -1;
    std::vector<ShardSnapshot> shards;
    std::string version;  // the build the worker process runs ("" until it said so)
};

// The Redis bridge as the supervisor last heard from it.
struct BridgeSnapshot {
    bool enabled = false;
    int pid = -1;
    std::string state;  // "running" | "starting" | "restarting" | "stopped" | "failed"
    uint32_t restarts = 0;
    nlohmann::json stats = nlohmann::json::object();  // the bridge's own report (docs/bridge.md)
};

struct ClusterSnapshot {
    std::string version;
    uint64_t uptime_ms = 0;
    bool draining = false;
    std::string listen;  // canonical ListenAddress::text()
    uint32_t ring = 0;
    uint64_t slab_bytes = 0;
    uint64_t max_message_bytes = 0;
    uint64_t max_buffered_bytes = 0;
    bool hugepages = false;  // the segment really is backed by hugepages
    std::string channels = "off";  // the channels key: "off" | "path"
    uint64_t worker_restarts_total = 0;
    std::vector<WorkerSnapshot> workers;
    BridgeSnapshot bridge;
};

// Every shard's top channels merged by name (subscribers and messages summed over the shards),
// the `limit` busiest of each list, ties by name. A shard counts a channel only while it is
// in that shard's own top list, so a merged figure is a lower bound.
struct ChannelRanking {
    std::vector<ChannelFigures> by_subscribers;
    std::vector<ChannelFigures> by_messages;
};
ChannelRanking rank_channels(const ClusterSnapshot& s, size_t limit);

// Channels named in /metrics and the stats JSON, per list.
inline constexpr size_t kMetricsTopChannels = 10;

// {"by_subscribers": [{"channel", "subscribers", "messages"}...], "by_messages": [...]}
nlohmann::json channel_ranking_json(const ChannelRanking& r);

// ringcastctl channels: {"mode", "channels" (summed over shards: a channel on two shards
// counts twice), "channel_messages", "workers": [{"index", "channels", "channel_messages",
// "shards": [{"member", "channels"}]}], "top": channel_ranking_json(rank_channels(s, top))}
nlohmann::json channels_json(const ClusterSnapshot& s, size_t top);

// {"version", "uptime_ms", "draining", "config": {...}, "workers": {"total", "running", ...},
//  "shards", "totals": {counters summed over every shard, "worker_restarts"}}
nlohmann::json status_json(const ClusterSnapshot& s);

// {"workers": [{"index", "pid", "state", "incarnation", "numa_node", "shards" (count),
//  "members" ([member...]), "connections", "messages_in", "messages_out" (= deliveries),
//  "restarts"}]}
nlohmann::json workers_json(const ClusterSnapshot& s);

// {"shards": [{"worker", "member", "cpu", "state", every counter, "protocol_errors_by_code":
//  {"1002": n, ...}, "ring": {"head", "capacity", "occupancy"}, "heartbeat_age_ms"}],
//  "totals": {...}, "channel_top": channel_ranking_json(the kMetricsTopChannels busiest)}
nlohmann::json stats_json(const ClusterSnapshot& s);

// {"enabled", and when enabled: "state", "pid", "restarts", "connected", "buffered", "sent",
//  "received", "replayed", "dropped", "lag_ms", ... (the bridge's own report)}
nlohmann::json bridge_json(const BridgeSnapshot& b);

// Prometheus text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).
std::string render_prometheus(const ClusterSnapshot& s);

// The label value as written between the quotes: \ " and newline escaped.
std::string escape_label_value(std::string_view value);

}  // namespace ringcast::supervisor
