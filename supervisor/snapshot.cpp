// Renderings of a ClusterSnapshot: control-socket JSON and Prometheus text.
#include "supervisor/snapshot.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace ringcast::supervisor {

namespace {

using nlohmann::json;

// Counters summed over any set of shards (a worker, the cluster).
struct Totals {
    uint64_t shards = 0;
    uint64_t connections = 0;
    uint64_t accepted = 0;
    uint64_t messages_in = 0;
    uint64_t deliveries = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t slow_closes = 0;
    uint64_t protocol_errors = 0;
    uint64_t ring_full = 0;
    uint64_t deflate_connections = 0;
    uint64_t deflated_messages = 0;
    uint64_t deflate_bytes_in = 0;
    uint64_t deflate_bytes_out = 0;
    uint64_t inflated_messages = 0;
    uint64_t inflate_errors = 0;
    std::map<uint16_t, uint64_t> protocol_errors_by_code;
    std::map<std::string, uint64_t> upgrades_rejected;
    std::map<std::string, uint64_t> auth_failures;
    uint64_t rate_limited = 0;
    uint64_t listener_sends = 0;
    uint64_t token_expired = 0;
    uint64_t listeners = 0;
    uint64_t authenticated = 0;
    uint64_t channels = 0;  // per shard: a channel on two shards counts twice
    uint64_t channel_messages = 0;

    void add(const ShardSnapshot& s) {
        ++shards;
        connections += s.connections;
        accepted += s.accepted;
        messages_in += s.messages_in;
        deliveries += s.deliveries;
        bytes_in += s.bytes_in;
        bytes_out += s.bytes_out;
        slow_closes += s.slow_closes;
        protocol_errors += s.protocol_errors;
        ring_full += s.ring_full;
        deflate_connections += s.deflate_connections;
        deflated_messages += s.deflated_messages;
        deflate_bytes_in += s.deflate_bytes_in;
        deflate_bytes_out += s.deflate_bytes_out;
        inflated_messages += s.inflated_messages;
        inflate_errors += s.inflate_errors;
        for (const auto& [code, n] : s.protocol_errors_by_code) protocol_errors_by_code[code] += n;
        for (const auto& [reason, n] : s.upgrades_rejected) upgrades_rejected[reason] += n;
        for (const auto& [error, n] : s.auth_failures) auth_failures[error] += n;
        rate_limited += s.rate_limited;
        listener_sends += s.listener_sends;
        token_expired += s.token_expired;
        listeners += s.listeners;
        authenticated += s.authenticated;
        channels += s.channels;
        channel_messages += s.channel_messages;
    }
    void add(const WorkerSnapshot& w) {
        for (const auto& s : w.shards) add(s);
    }
    // Connections that may publish: a shard counts its listeners among its connections, but
    // reads of the two may straddle a close.
    uint64_t publishers() const { return connections > listeners ? connections - listeners : 0; }
    // Protocol errors whose close code is not counted one by one.
    uint64_t other_protocol_errors() const {
        uint64_t counted = 0;
        for (const auto& [code, n] : protocol_errors_by_code) counted += n;
        return protocol_errors > counted ? protocol_errors - counted : 0;
    }
};

json by_code_json(const std::map<uint16_t, uint64_t>& codes) {
    json out = json::object();
    for (const auto& [code, n] : codes) out[std::to_string(code)] = n;
    return out;
}

json by_label_json(const std::map<std::string, uint64_t>& counts) {
    json out = json::object();
    for (const auto& [label, n] : counts) out[label] = n;
    return out;
}

json counters_json(const Totals& t) {
    return {
        {"connections", t.connections},
        {"accepted", t.accepted},
        {"messages_in", t.messages_in},
        {"deliveries", t.deliveries},
        {"bytes_in", t.bytes_in},
        {"bytes_out", t.bytes_out},
        {"slow_closes", t.slow_closes},
        {"protocol_errors", t.protocol_errors},
        {"protocol_errors_by_code", by_code_json(t.protocol_errors_by_code)},
        {"ring_full", t.ring_full},
        {"deflate_connections", t.deflate_connections},
        {"deflated_messages", t.deflated_messages},
        {"deflate_bytes_in", t.deflate_bytes_in},
        {"deflate_bytes_out", t.deflate_bytes_out},
        {"inflated_messages", t.inflated_messages},
        {"inflate_errors", t.inflate_errors},
        {"upgrades_rejected", by_label_json(t.upgrades_rejected)},
        {"auth_failures", by_label_json(t.auth_failures)},
        {"rate_limited", t.rate_limited},
        {"listener_messages_refused", t.listener_sends},
        {"token_expired", t.token_expired},
        {"connections_by_role", {{"publisher", t.publishers()}, {"listener", t.listeners}}},
        {"authenticated", t.authenticated},
        {"channels", t.channels},
        {"channel_messages", t.channel_messages},
    };
}

Totals cluster_totals(const ClusterSnapshot& s) {
    Totals t;
    for (const auto& w : s.workers) t.add(w);
    return t;
}

// The worker states always reported, so a state that empties reads 0 instead of vanishing.
constexpr const char* kWorkerStates[] = {"running", "starting", "restarting", "dead"};
constexpr const char* kShardStates[] = {"live", "starting", "dead", "empty"};

template <class Items, class StateOf>
std::map<std::string, uint64_t> count_states(const Items& items, StateOf state_of,
                                             const auto& always) {
    std::map<std::string, uint64_t> counts;
    for (const char* st : always) counts[st] = 0;
    for (const auto& item : items) ++counts[state_of(item)];
    return counts;
}

std::map<std::string, uint64_t> worker_states(const ClusterSnapshot& s) {
    return count_states(
        s.workers, [](const WorkerSnapshot& w) { return w.state; }, kWorkerStates);
}

std::map<std::string, uint64_t> shard_states(const ClusterSnapshot& s) {
    std::vector<const ShardSnapshot*> all;
    for (const auto& w : s.workers)
        for (const auto& sh : w.shards) all.push_back(&sh);
    return count_states(
        all, [](const ShardSnapshot* sh) { return sh->state; }, kShardStates);
}

// --- Prometheus text format 0.0.4 -------------------------------------------------------

std::string escape_help(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

using Labels = std::vector<std::pair<const char*, std::string>>;

class Exposition {
  public:
    // Starts a metric family: its HELP and TYPE lines come before any of its samples.
    void family(const char* name, const char* type, const char* help) {
        name_ = name;
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += escape_help(help);
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    void sample(const Labels& labels, uint64_t value) { sample(labels, std::to_string(value)); }
    void sample(const Labels& labels, double value) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.3f", value);
        sample(labels, std::string(buf));
    }
    std::string take() { return std::move(out_); }

  private:
    void sample(const Labels& labels, const std::string& value) {
        out_ += name_;
        if (!labels.empty()) {
            out_ += '{';
            for (size_t i = 0; i < labels.size(); ++i) {
                if (i) out_ += ',';
                out_ += labels[i].first;
                out_ += "=\"";
                out_ += escape_label_value(labels[i].second);
                out_ += '"';
            }
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }

    std::string out_;
    std::string name_;
};

std::string worker_label(const WorkerSnapshot& w) {
    return std::to_string(w.index);
}

// One family with one sample per worker, the value summed over its shards.
void per_worker(Exposition& e, const ClusterSnapshot& s, const char* name, const char* type,
                const char* help, uint64_t Totals::*field) {
    e.family(name, type, help);
    for (const auto& w : s.workers) {
        Totals t;
        t.add(w);
        e.sample({{"worker", worker_label(w)}}, t.*field);
    }
}

// One family with one sample per worker and label value (every value the shards list).
void per_worker_by(Exposition& e, const ClusterSnapshot& s, const char* name, const char* help,
                   const char* label, std::map<std::string, uint64_t> Totals::*field) {
    e.family(name, "counter", help);
    for (const auto& w : s.workers) {
        Totals t;
        t.add(w);
        for (const auto& [value, n] : t.*field)
            e.sample({{"worker", worker_label(w)}, {label, value}}, n);
    }
}

// One family with one sample per shard.
void per_shard(Exposition& e, const ClusterSnapshot& s, const char* name, const char* help,
               auto value_of) {
    e.family(name, "gauge", help);
    for (const auto& w : s.workers)
        for (const auto& sh : w.shards)
            e.sample({{"worker", worker_label(w)}, {"shard", std::to_string(sh.member)}},
                     value_of(sh));
}

}  // namespace

json bridge_json(const BridgeSnapshot& b) {
    json out = {{"enabled", b.enabled}};
    if (!b.enabled) return out;
    out["state"] = b.state;
    out["pid"] = b.pid;
    out["restarts"] = b.restarts;
    if (b.stats.is_object()) {
        for (const auto& [k, v] : b.stats.items()) out[k] = v;
    }
    if (!out.contains("connected")) out["connected"] = false;
    return out;
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

json status_json(const ClusterSnapshot& s) {
    Totals t = cluster_totals(s);
    json totals = counters_json(t);
    totals["worker_restarts"] = s.worker_restarts_total;
    json workers = {{"total", s.workers.size()}};
    for (const auto& [state, n] : worker_states(s)) workers[state] = n;
    json shards = {{"total", t.shards}};
    for (const auto& [state, n] : shard_states(s)) shards[state] = n;
    return {
        {"version", s.version},
        {"uptime_ms", s.uptime_ms},
        {"draining", s.draining},
        {"config",
         {
             {"listen", s.listen},
             {"ring", s.ring},
             {"slab_bytes", s.slab_bytes},
             {"max_message_bytes", s.max_message_bytes},
             {"max_buffered_bytes", s.max_buffered_bytes},
             {"hugepages", s.hugepages},
             {"channels", s.channels},
         }},
        {"workers", std::move(workers)},
        {"shards", std::move(shards)},
        {"totals", std::move(totals)},
        {"bridge", bridge_json(s.bridge)},
    };
}

json workers_json(const ClusterSnapshot& s) {
    json list = json::array();
    for (const auto& w : s.workers) {
        Totals t;
        t.add(w);
        json members = json::array();
        for (const auto& sh : w.shards) members.push_back(sh.member);
        list.push_back({
            {"index", w.index},
            {"pid", w.pid},
            {"state", w.state},
            {"incarnation", w.incarnation},
            {"numa_node", w.numa_node},
            {"shards", w.shards.size()},
            {"members", std::move(members)},
            {"connections", t.connections},
            {"messages_in", t.messages_in},
            {"messages_out", t.deliveries},
            {"restarts", w.restarts},
            {"version", w.version},
        });
    }
    return {{"workers", std::move(list)}};
}

json stats_json(const ClusterSnapshot& s) {
    json list = json::array();
    for (const auto& w : s.workers) {
        for (const auto& sh : w.shards) {
            Totals one;
            one.add(sh);
            json entry = counters_json(one);
            entry["worker"] = w.index;
            entry["member"] = sh.member;
            entry["cpu"] = sh.cpu;
            entry["state"] = sh.state;
            entry["ring"] = {{"head", sh.ring_head},
                             {"capacity", sh.ring_capacity},
                             {"occupancy", sh.ring_occupancy}};
            entry["heartbeat_age_ms"] = sh.heartbeat_age_ms;
            list.push_back(std::move(entry));
        }
    }
    return {{"shards", std::move(list)},
            {"totals", counters_json(cluster_totals(s))},
            {"channel_top", channel_ranking_json(rank_channels(s, kMetricsTopChannels))}};
}

ChannelRanking rank_channels(const ClusterSnapshot& s, size_t limit) {
    std::map<std::string, ChannelFigures> merged;
    for (const auto& w : s.workers) {
        for (const auto& sh : w.shards) {
            for (const auto& c : sh.top_channels) {
                ChannelFigures& m = merged[c.name];
                m.name = c.name;
                m.subscribers += c.subscribers;
                m.messages += c.messages;
            }
        }
    }
    std::vector<ChannelFigures> all;
    all.reserve(merged.size());
    for (auto& [name, figures] : merged) all.push_back(std::move(figures));
    // The busiest first; equal figures by the other figure, then by name, so the order is stable.
    auto top_by = [&](uint64_t ChannelFigures::*first, uint64_t ChannelFigures::*second) {
        std::vector<ChannelFigures> list = all;
        std::sort(list.begin(), list.end(), [&](const ChannelFigures& a, const ChannelFigures& b) {
            if (a.*first != b.*first) return a.*first > b.*first;
            if (a.*second != b.*second) return a.*second > b.*second;
            return a.name < b.name;
        });
        if (list.size() > limit) list.resize(limit);
        return list;
    };
    return {top_by(&ChannelFigures::subscribers, &ChannelFigures::messages),
            top_by(&ChannelFigures::messages, &ChannelFigures::subscribers)};
}

json channel_ranking_json(const ChannelRanking& r) {
    auto list = [](const std::vector<ChannelFigures>& channels) {
        json out = json::array();
        for (const auto& c : channels)
            out.push_back(
                {{"channel", c.name}, {"subscribers", c.subscribers}, {"messages", c.messages}});
        return out;
    };
    return {{"by_subscribers", list(r.by_subscribers)}, {"by_messages", list(r.by_messages)}};
}

json channels_json(const ClusterSnapshot& s, size_t top) {
    json workers = json::array();
    for (const auto& w : s.workers) {
        Totals t;
        t.add(w);
        json shards = json::array();
        for (const auto& sh : w.shards)
            shards.push_back({{"member", sh.member}, {"channels", sh.channels}});
        workers.push_back({{"index", w.index},
                           {"channels", t.channels},
                           {"channel_messages", t.channel_messages},
                           {"shards", std::move(shards)}});
    }
    const Totals all = cluster_totals(s);
    return {{"mode", s.channels},
            {"channels", all.channels},
            {"channel_messages", all.channel_messages},
            {"workers", std::move(workers)},
            {"top", channel_ranking_json(rank_channels(s, top))}};
}

std::string render_prometheus(const ClusterSnapshot& s) {
    Exposition e;
    e.family("ringcast_build_info", "gauge", "Always 1; the version label names the build.");
    e.sample({{"version", s.version}}, uint64_t{1});
    // During a rollout the workers may run another build than the supervisor.
    e.family("ringcast_worker_build_info", "gauge", "Always 1; the build each worker process runs.");
    for (const auto& w : s.workers) {
        if (!w.version.empty()) e.sample({{"worker", std::to_string(w.index)}, {"version", w.version}}, uint64_t{1});
    }
    e.family("ringcast_uptime_seconds", "gauge", "Seconds since the supervisor started.");
    e.sample({}, static_cast<double>(s.uptime_ms) / 1000.0);
    e.family("ringcast_draining", "gauge",
             "1 while the cluster is draining (/readyz answers 503).");
    e.sample({}, uint64_t{s.draining ? 1u : 0u});

    e.family("ringcast_workers", "gauge", "Worker processes by state.");
    for (const auto& [state, n] : worker_states(s)) e.sample({{"state", state}}, n);
    e.family("ringcast_shards", "gauge", "Reactor threads (ring members) by state.");
    for (const auto& [state, n] : shard_states(s)) e.sample({{"state", state}}, n);
    e.family("ringcast_worker_restarts_total", "counter",
             "Worker processes started again after a crash or a restart command.");
    e.sample({}, s.worker_restarts_total);

    per_worker(e, s, "ringcast_connections", "gauge", "Open WebSocket connections.",
               &Totals::connections);
    per_worker(e, s, "ringcast_connections_accepted_total", "counter",
               "WebSocket connections accepted.", &Totals::accepted);
    per_worker(e, s, "ringcast_messages_received_total", "counter",
               "Complete messages received from clients.", &Totals::messages_in);
    per_worker(e, s, "ringcast_deliveries_total", "counter",
               "Messages queued to a client (one per message per receiving connection).",
               &Totals::deliveries);
    per_worker(e, s, "ringcast_bytes_received_total", "counter", "Bytes read from client sockets.",
               &Totals::bytes_in);
    per_worker(e, s, "ringcast_bytes_sent_total", "counter", "Bytes written to client sockets.",
               &Totals::bytes_out);
    per_worker(e, s, "ringcast_slow_client_closes_total", "counter",
               "Clients closed for exceeding max_buffered_bytes of queued output.",
               &Totals::slow_closes);
    per_worker(e, s, "ringcast_ring_full_total", "counter",
               "Times a shard stopped reading its clients because its ring was full.",
               &Totals::ring_full);
    per_worker(e, s, "ringcast_deflate_connections", "gauge",
               "Open connections that negotiated permessage-deflate.", &Totals::deflate_connections);
    per_worker(e, s, "ringcast_deflated_messages_total", "counter",
               "Messages written with a compressed variant (compressed once, for every client "
               "that negotiated permessage-deflate).",
               &Totals::deflated_messages);
    per_worker(e, s, "ringcast_deflate_bytes_in_total", "counter",
               "Payload bytes of those messages before compression.", &Totals::deflate_bytes_in);
    per_worker(e, s, "ringcast_deflate_bytes_out_total", "counter",
               "Payload bytes of those messages after compression.", &Totals::deflate_bytes_out);
    per_worker(e, s, "ringcast_inflated_messages_total", "counter",
               "Compressed client messages inflated.", &Totals::inflated_messages);
    per_worker(e, s, "ringcast_inflate_errors_total", "counter",
               "Compressed client messages refused (corrupt, or too big once inflated).",
               &Totals::inflate_errors);

    per_worker_by(e, s, "ringcast_upgrades_rejected_total",
                  "Upgrade requests refused, by reason: bad_request (400, 405, 426, 431, 505), "
                  "origin (403), auth (401), max_connections and max_connections_per_ip (503), "
                  "handshake_timeout, channel_forbidden (403), max_channels and max_subscribers "
                  "(503).",
                  "reason", &Totals::upgrades_rejected);
    per_worker_by(e, s, "ringcast_auth_failures_total",
                  "Tokens refused at the upgrade, by error (missing, expired, bad_signature, ...).",
                  "error", &Totals::auth_failures);
    per_worker(e, s, "ringcast_rate_limited_total", "counter",
               "Client messages over their connection's rate limit (closed or dropped by "
               "rate_limit.policy).",
               &Totals::rate_limited);
    per_worker(e, s, "ringcast_listener_messages_refused_total", "counter",
               "Data messages sent by listeners (closed or dropped by auth.listener_send).",
               &Totals::listener_sends);
    per_worker(e, s, "ringcast_token_expired_total", "counter",
               "Connections closed because their token expired.", &Totals::token_expired);
    e.family("ringcast_connections_by_role", "gauge",
             "Open WebSocket connections by role: publisher (may send) or listener.");
    for (const auto& w : s.workers) {
        Totals t;
        t.add(w);
        e.sample({{"worker", worker_label(w)}, {"role", "publisher"}}, t.publishers());
        e.sample({{"worker", worker_label(w)}, {"role", "listener"}}, t.listeners);
    }
    per_worker(e, s, "ringcast_connections_authenticated", "gauge",
               "Open WebSocket connections admitted with a valid token.", &Totals::authenticated);

    per_worker(e, s, "ringcast_channels", "gauge",
               "Channels with a subscriber, counted per shard: a channel with subscribers on two "
               "shards counts twice (channels \"path\").",
               &Totals::channels);
    per_worker(e, s, "ringcast_channel_messages_total", "counter",
               "Messages published on a channel (channels \"path\").", &Totals::channel_messages);
    // Bounded: only the busiest channels are named, never one series per channel.
    const ChannelRanking top = rank_channels(s, kMetricsTopChannels);
    e.family("ringcast_channel_top_subscribers", "gauge",
             "Subscribers on this node of the channels with the most, at most 10, summed over "
             "the shards whose own top list holds the channel (a lower bound).");
    for (const auto& c : top.by_subscribers) e.sample({{"channel", c.name}}, c.subscribers);
    e.family("ringcast_channel_top_messages_total", "counter",
             "Messages published on this node on the busiest channels, at most 10, summed over "
             "the shards whose own top list holds the channel, each since the channel appeared "
             "there (a lower bound).");
    for (const auto& c : top.by_messages) e.sample({{"channel", c.name}}, c.messages);

    e.family("ringcast_protocol_errors_total", "counter",
             "Connections closed for a protocol error, by close code (other = not counted "
             "one by one).");
    for (const auto& w : s.workers) {
        Totals t;
        t.add(w);
        std::set<uint16_t> codes;
        for (const auto& [code, n] : t.protocol_errors_by_code) codes.insert(code);
        for (uint16_t code : codes)
            e.sample({{"worker", worker_label(w)}, {"code", std::to_string(code)}},
                     t.protocol_errors_by_code[code]);
        e.sample({{"worker", worker_label(w)}, {"code", "other"}}, t.other_protocol_errors());
    }

    per_shard(e, s, "ringcast_ring_occupancy",
              "Records in a shard's ring not yet released by its slowest live consumer.",
              [](const ShardSnapshot& sh) { return sh.ring_occupancy; });
    per_shard(e, s, "ringcast_ring_capacity", "Records a shard's ring holds.",
              [](const ShardSnapshot& sh) { return sh.ring_capacity; });
    per_shard(e, s, "ringcast_shard_heartbeat_age_seconds",
              "Seconds since the shard's reactor last beat.", [](const ShardSnapshot& sh) {
                  return static_cast<double>(sh.heartbeat_age_ms) / 1000.0;
              });
    if (s.bridge.enabled) {
        const BridgeSnapshot& b = s.bridge;
        auto num = [&b](const char* key) -> uint64_t {
            auto it = b.stats.find(key);
            return it != b.stats.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
        };
        e.family("ringcast_bridge_up", "gauge", "1 while the Redis bridge process runs.");
        e.sample({}, uint64_t{b.pid > 0 ? 1u : 0u});
        e.family("ringcast_bridge_connected", "gauge",
                 "1 while the bridge holds both of its Redis connections (writer and reader).");
        e.sample({}, uint64_t{b.stats.value("connected", false) ? 1u : 0u});
        e.family("ringcast_bridge_lag_seconds", "gauge",
                 "How far behind the stream's newest entries the bridge is reading (0 when caught up).");
        e.sample({}, static_cast<double>(num("lag_ms")) / 1000.0);
        e.family("ringcast_bridge_buffered_messages", "gauge",
                 "Local messages waiting for Redis (queued or awaiting the reply).");
        e.sample({}, num("buffered"));
        const std::pair<const char*, const char*> counters[][1] = {
            {{"sent", "Local messages Redis acknowledged."}},
            {{"received", "Other nodes' messages delivered into the local ring fabric."}},
            {{"replayed", "Local messages written after a reconnect that waited for it."}},
            {{"dropped", "Local messages dropped by the overflow policy while Redis was away."}},
            {{"duplicates", "Stream entries read twice (a writer's replay) and delivered once."}},
            {{"refused", "XADDs Redis answered with an error."}},
            {{"reconnects", "Times the bridge's writer connection came up."}},
        };
        for (const auto& c : counters) {
            std::string name = std::string("ringcast_bridge_") + c[0].first + "_total";
            e.family(name.c_str(), "counter", c[0].second);
            e.sample({}, num(c[0].first));
        }
        e.family("ringcast_bridge_restarts_total", "counter", "Bridge processes started again.");
        e.sample({}, uint64_t{b.restarts});
    }
    return e.take();
}

}  // namespace ringcast::supervisor
