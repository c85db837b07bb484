/*
 * The specification of what the supervisor shows about the cluster (supervisor/snapshot.hpp,
 * supervisor/metrics_server.hpp): the Prometheus exposition checked line by line by a small
 * validator of the 0.0.4 text format (which is itself shown to reject bad input), the
 * control-socket JSON renderings, and the HTTP endpoint answering real TCP clients.
 */
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/metrics_server.hpp"
#include "supervisor/snapshot.hpp"
#include "supervisor/status_page.hpp"

using namespace ringcast;
using namespace ringcast::supervisor;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// --- a validator of the Prometheus text exposition format 0.0.4 ---------------------------

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;  // unescaped values
    double value = 0;
};

struct Exposition {
    std::vector<std::string> errors;  // "line N: why"
    std::map<std::string, std::string> types;
    std::vector<Sample> samples;

    // The value of the one sample with this name and exactly these labels; NaN if none.
    double value(const std::string& name,
                 const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& s : samples)
            if (s.name == name && s.labels == labels) return s.value;
        return std::nan("");
    }
    size_t count(const std::string& name) const {
        return static_cast<size_t>(std::count_if(samples.begin(), samples.end(),
                                                 [&](const Sample& s) { return s.name == name; }));
    }
};

const std::regex kMetricName("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");

bool parse_value(const std::string& text, double& out) {
    if (text == "NaN" || text == "+Inf" || text == "-Inf") {
        out = text == "NaN" ? std::nan("") : (text[0] == '-' ? -HUGE_VAL : HUGE_VAL);
        return true;
    }
    if (text.empty()) return false;
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    return end == text.c_str() + text.size();
}

// The family a sample belongs to: itself, or for histograms and summaries its base name.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (name.ends_with(suffix)) {
            std::string base = name.substr(0, name.size() - std::strlen(suffix));
            auto it = types.find(base);
            if (it != types.end() && (it->second == "histogram" || it->second == "summary"))
                return base;
        }
    }
    return name;
}

Exposition validate(const std::string& text) {
    Exposition e;
    auto fail = [&](size_t n, const std::string& why) {
        e.errors.push_back("line " + std::to_string(n) + ": " + why);
    };
    if (text.empty() || text.back() != '\n') fail(0, "the exposition must end with a newline");
    std::set<std::string> finished_families, series;
    std::string current_family;
    size_t n = 0;
    for (size_t pos = 0; pos < text.size();) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        const std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++n;
        if (line.empty()) {
            fail(n, "empty line");
            continue;
        }
        if (line[0] == '#') {
            std::smatch m;
            static const std::regex help(R"(# HELP (\S+) (.*))"), type(R"(# TYPE (\S+) (\S+))");
            if (line.starts_with("# HELP ")) {
                if (!std::regex_match(line, m, help) ||
                    !std::regex_match(m[1].str(), kMetricName)) {
                    fail(n, "bad HELP line");
                    continue;
                }
                const std::string doc = m[2];
                for (size_t i = 0; i < doc.size(); ++i)
                    if (doc[i] == '\\' &&
                        (i + 1 == doc.size() || (doc[i + 1] != '\\' && doc[i + 1] != 'n')))
                        fail(n, "bad escape in HELP");
            } else if (line.starts_with("# TYPE ")) {
                if (!std::regex_match(line, m, type) ||
                    !std::regex_match(m[1].str(), kMetricName)) {
                    fail(n, "bad TYPE line");
                    continue;
                }
                static const std::set<std::string> kinds = {"counter", "gauge", "histogram",
                                                            "summary", "untyped"};
                const std::string name = m[1], kind = m[2];
                if (!kinds.count(kind)) fail(n, "unknown type " + kind);
                if (e.types.count(name)) fail(n, "second TYPE for " + name);
                if (finished_families.count(name) || current_family == name)
                    fail(n, "TYPE after samples of " + name);
                if (kind == "counter" && !name.ends_with("_total"))
                    fail(n, "counter " + name + " lacks _total");
                e.types[name] = kind;
            }
            continue;  // other comments are allowed
        }
        // name [{labels}] value [timestamp]
        Sample s;
        size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
        s.name = line.substr(0, i);
        if (!std::regex_match(s.name, kMetricName)) {
            fail(n, "bad metric name '" + s.name + "'");
            continue;
        }
        bool ok = true;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (ok && i < line.size() && line[i] != '}') {
                size_t eq = line.find('=', i);
                if (eq == std::string::npos) {
                    ok = false;
                    break;
                }
                std::string lname = line.substr(i, eq - i);
                if (!std::regex_match(lname, kLabelName) || lname.starts_with("__") ||
                    s.labels.count(lname)) {
                    fail(n, "bad or repeated label name '" + lname + "'");
                    ok = false;
                    break;
                }
                i = eq + 1;
                if (i >= line.size() || line[i] != '"') {
                    ok = false;
                    break;
                }
                ++i;
                std::string value;
                while (i < line.size() && line[i] != '"') {
                    if (line[i] == '\\') {
                        if (i + 1 >= line.size()) {
                            ok = false;
                            break;
                        }
                        char c = line[i + 1];
                        if (c == '\\' || c == '"') {
                            value += c;
                        } else if (c == 'n') {
                            value += '\n';
                        } else {
                            fail(n, std::string("bad escape \\") + c);
                            ok = false;
                            break;
                        }
                        i += 2;
                    } else {
                        value += line[i++];
                    }
                }
                if (!ok || i >= line.size()) {
                    ok = false;
                    break;
                }
                ++i;  // closing quote
                s.labels[lname] = value;
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (!ok || i >= line.size() || line[i] != '}') {
                fail(n, "bad label set");
                continue;
            }
            ++i;
        }
        if (i >= line.size() || line[i] != ' ') {
            fail(n, "no value");
            continue;
        }
        std::string rest = line.substr(i + 1);
        std::string value_text = rest.substr(0, rest.find(' '));
        if (!parse_value(value_text, s.value)) fail(n, "bad value '" + value_text + "'");
        if (rest.find(' ') != std::string::npos) {
            double ts;
            if (!parse_value(rest.substr(rest.find(' ') + 1), ts)) fail(n, "bad timestamp");
        }
        const std::string family = family_of(s.name, e.types);
        if (!e.types.count(family)) fail(n, "sample of " + s.name + " without a preceding TYPE");
        if (family != current_family) {
            if (finished_families.count(family))
                fail(n, "samples of " + family + " are not together");
            if (!current_family.empty()) finished_families.insert(current_family);
            current_family = family;
        }
        std::string key = s.name;
        for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
        if (!series.insert(key).second) fail(n, "duplicate series " + key);
        e.samples.push_back(std::move(s));
    }
    return e;
}

std::string errors_of(const Exposition& e) {
    std::string out;
    for (const auto& err : e.errors) out += err + "\n";
    return out;
}

// --- a cluster to render -------------------------------------------------------------------

ShardSnapshot shard(uint32_t member, uint64_t base) {
    ShardSnapshot s;
    s.member = member;
    s.cpu = static_cast<int>(member);
    s.state = "live";
    s.connections = base + 1;
    s.accepted = base + 2;
    s.messages_in = base + 3;
    s.deliveries = base + 4;
    s.bytes_in = base + 5;
    s.bytes_out = base + 6;
    s.slow_closes = base + 7;
    s.protocol_errors = 10;
    s.ring_full = base + 9;
    s.protocol_errors_by_code = {{1002, 3}, {1007, 1}, {1008, 0}, {1009, 2}, {1011, 0}};  // 6 of 10
    // As the supervisor fills them: every reason and every error, zero or not.
    s.upgrades_rejected = {
        {"bad_request", base + 10},    {"origin", 1},           {"auth", 2}, {"max_connections", 0},
        {"max_connections_per_ip", 3}, {"handshake_timeout", 0}};
    s.auth_failures = {{"missing", 1}, {"expired", 0}, {"bad_signature", base + 1}};
    s.rate_limited = base + 11;
    s.listener_sends = base + 12;
    s.token_expired = base + 13;
    s.listeners = base / 2;  // of base + 1 connections
    s.authenticated = base / 4;
    s.channels = base + 14;
    s.channel_messages = base + 15;
    s.ring_head = 5000 + member;
    s.ring_capacity = 2048;
    s.ring_occupancy = 100 + member;
    s.heartbeat_age_ms = 1500;
    return s;
}

ClusterSnapshot cluster() {
    ClusterSnapshot c;
    c.version = "0.1.0";
    c.uptime_ms = 123456;
    c.listen = ":9002";
    c.ring = 2048;
    c.slab_bytes = 64ull << 20;
    c.max_message_bytes = 16ull << 20;
    c.max_buffered_bytes = 8ull << 20;
    c.hugepages = true;
    c.channels = "path";
    c.worker_restarts_total = 3;
    WorkerSnapshot w0{0, 100, "running", 2, 1, 0, {shard(0, 0), shard(1, 100)}, "0.1.0"};
    WorkerSnapshot w1{1, 200, "restarting", 4, 2, 0, {shard(2, 1000)}, ""};
    w1.shards[0].state = "starting";
    c.workers = {w0, w1};
    return c;
}

}  // namespace

TEST_CASE("the validator rejects what Prometheus would reject") {
    CHECK(validate("# TYPE a_total counter\na_total 1\n").errors.empty());
    CHECK(validate("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n")
              .errors.empty());
    CHECK(!validate("a 1\n").errors.empty());                                   // no TYPE
    CHECK(!validate("# TYPE a gauge\na 1").errors.empty());                     // no final newline
    CHECK(!validate("# TYPE 1a gauge\n1a 1\n").errors.empty());                 // bad name
    CHECK(!validate("# TYPE a gauge\na{x=\"\\t\"} 1\n").errors.empty());        // bad escape
    CHECK(!validate("# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n").errors.empty());  // repeated label
    CHECK(!validate("# TYPE a gauge\na{x=1} 1\n").errors.empty());              // unquoted
    CHECK(!validate("# TYPE a gauge\na one\n").errors.empty());                 // bad value
    CHECK(!validate("# TYPE a gauge\n# TYPE a gauge\na 1\n").errors.empty());   // second TYPE
    CHECK(!validate("# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 1\n")
               .errors.empty());                                    // split
    CHECK(!validate("# TYPE a gauge\na 1\na 2\n").errors.empty());  // duplicate series
    CHECK(!validate("# TYPE a counter\na 1\n").errors.empty());     // counter w/o _total
}

TEST_CASE("render_prometheus is valid exposition format with HELP and TYPE for every family") {
    const std::string text = render_prometheus(cluster());
    const Exposition e = validate(text);
    CHECK_MESSAGE(e.errors.empty(), errors_of(e) << text);
    size_t helps = 0, types = 0;
    for (size_t pos = 0; (pos = text.find("# HELP ", pos)) != std::string::npos; ++pos) ++helps;
    for (size_t pos = 0; (pos = text.find("# TYPE ", pos)) != std::string::npos; ++pos) ++types;
    CHECK(helps == types);
    CHECK(types == e.types.size());
    for (const char* name :
         {"ringcast_connections", "ringcast_connections_accepted_total",
          "ringcast_messages_received_total", "ringcast_deliveries_total",
          "ringcast_bytes_received_total", "ringcast_bytes_sent_total",
          "ringcast_slow_client_closes_total", "ringcast_protocol_errors_total",
          "ringcast_ring_full_total", "ringcast_ring_occupancy", "ringcast_worker_restarts_total",
          "ringcast_workers", "ringcast_uptime_seconds", "ringcast_build_info"})
        CHECK_MESSAGE(e.types.count(name) == 1, name);
    CHECK(e.types.at("ringcast_connections") == "gauge");
    CHECK(e.types.at("ringcast_deliveries_total") == "counter");
    CHECK(e.types.at("ringcast_ring_occupancy") == "gauge");
}

TEST_CASE("render_prometheus sums shards per worker and labels rings per shard") {
    const Exposition e = validate(render_prometheus(cluster()));
    CHECK(e.value("ringcast_build_info", {{"version", "0.1.0"}}) == 1);
    CHECK(e.value("ringcast_uptime_seconds") == doctest::Approx(123.456));
    CHECK(e.value("ringcast_worker_restarts_total") == 3);
    CHECK(e.value("ringcast_workers", {{"state", "running"}}) == 1);
    CHECK(e.value("ringcast_workers", {{"state", "restarting"}}) == 1);
    CHECK(e.value("ringcast_workers", {{"state", "dead"}}) == 0);  // present at zero
    CHECK(e.value("ringcast_shards", {{"state", "live"}}) == 2);
    CHECK(e.value("ringcast_shards", {{"state", "starting"}}) == 1);

    CHECK(e.value("ringcast_connections", {{"worker", "0"}}) == 1 + 101);
    CHECK(e.value("ringcast_connections", {{"worker", "1"}}) == 1001);
    CHECK(e.value("ringcast_connections_accepted_total", {{"worker", "0"}}) == 2 + 102);
    CHECK(e.value("ringcast_messages_received_total", {{"worker", "1"}}) == 1003);
    CHECK(e.value("ringcast_deliveries_total", {{"worker", "1"}}) == 1004);
    CHECK(e.value("ringcast_bytes_received_total", {{"worker", "1"}}) == 1005);
    CHECK(e.value("ringcast_bytes_sent_total", {{"worker", "1"}}) == 1006);
    CHECK(e.value("ringcast_slow_client_closes_total", {{"worker", "1"}}) == 1007);
    CHECK(e.value("ringcast_ring_full_total", {{"worker", "1"}}) == 1009);

    CHECK(e.value("ringcast_protocol_errors_total", {{"worker", "0"}, {"code", "1002"}}) == 6);
    CHECK(e.value("ringcast_protocol_errors_total", {{"worker", "0"}, {"code", "1008"}}) == 0);
    CHECK(e.value("ringcast_protocol_errors_total", {{"worker", "0"}, {"code", "other"}}) == 8);
    CHECK(e.value("ringcast_protocol_errors_total", {{"worker", "1"}, {"code", "other"}}) == 4);
    CHECK(e.count("ringcast_protocol_errors_total") == 2 * 6);

    CHECK(e.value("ringcast_ring_occupancy", {{"worker", "0"}, {"shard", "1"}}) == 101);
    CHECK(e.value("ringcast_ring_occupancy", {{"worker", "1"}, {"shard", "2"}}) == 102);
    CHECK(e.value("ringcast_ring_capacity", {{"worker", "1"}, {"shard", "2"}}) == 2048);
    CHECK(e.count("ringcast_ring_occupancy") == 3);
}

TEST_CASE("admission: rejected upgrades by reason, auth failures by error, roles per worker") {
    const Exposition e = validate(render_prometheus(cluster()));
    CHECK(e.types.at("ringcast_upgrades_rejected_total") == "counter");
    CHECK(e.types.at("ringcast_auth_failures_total") == "counter");
    CHECK(e.types.at("ringcast_rate_limited_total") == "counter");
    CHECK(e.types.at("ringcast_listener_messages_refused_total") == "counter");
    CHECK(e.types.at("ringcast_token_expired_total") == "counter");
    CHECK(e.types.at("ringcast_connections_by_role") == "gauge");
    CHECK(e.types.at("ringcast_connections_authenticated") == "gauge");

    CHECK(e.count("ringcast_upgrades_rejected_total") == 2 * 6);  // every reason, every worker
    CHECK(e.value("ringcast_upgrades_rejected_total",
                  {{"worker", "0"}, {"reason", "bad_request"}}) == 10 + 110);
    CHECK(e.value("ringcast_upgrades_rejected_total", {{"worker", "0"}, {"reason", "origin"}}) ==
          2);
    CHECK(e.value("ringcast_upgrades_rejected_total",
                  {{"worker", "1"}, {"reason", "max_connections_per_ip"}}) == 3);
    CHECK(e.value("ringcast_upgrades_rejected_total",
                  {{"worker", "1"}, {"reason", "handshake_timeout"}}) == 0);
    CHECK(e.count("ringcast_auth_failures_total") == 2 * 3);
    CHECK(e.value("ringcast_auth_failures_total", {{"worker", "0"}, {"error", "bad_signature"}}) ==
          1 + 101);
    CHECK(e.value("ringcast_auth_failures_total", {{"worker", "1"}, {"error", "missing"}}) == 1);
    CHECK(e.value("ringcast_rate_limited_total", {{"worker", "0"}}) == 11 + 111);
    CHECK(e.value("ringcast_listener_messages_refused_total", {{"worker", "1"}}) == 1012);
    CHECK(e.value("ringcast_token_expired_total", {{"worker", "1"}}) == 1013);
    // worker 0: 102 connections, 0 + 50 listeners; worker 1: 1001 connections, 500 listeners.
    CHECK(e.value("ringcast_connections_by_role", {{"worker", "0"}, {"role", "listener"}}) == 50);
    CHECK(e.value("ringcast_connections_by_role", {{"worker", "0"}, {"role", "publisher"}}) == 52);
    CHECK(e.value("ringcast_connections_by_role", {{"worker", "1"}, {"role", "publisher"}}) == 501);
    CHECK(e.value("ringcast_connections_authenticated", {{"worker", "1"}}) == 250);
}

TEST_CASE("publishers are never counted below zero when listeners are read after a close") {
    ClusterSnapshot c = cluster();
    c.workers[1].shards[0].listeners = c.workers[1].shards[0].connections + 5;
    const Exposition e = validate(render_prometheus(c));
    CHECK(e.value("ringcast_connections_by_role", {{"worker", "1"}, {"role", "publisher"}}) == 0);
}

TEST_CASE("label values are escaped and read back unchanged") {
    ClusterSnapshot c = cluster();
    c.version = "1.0 \"beta\" C:\\build\nline two";
    const std::string text = render_prometheus(c);
    const Exposition e = validate(text);
    CHECK_MESSAGE(e.errors.empty(), errors_of(e));
    CHECK(e.value("ringcast_build_info", {{"version", c.version}}) == 1);
    CHECK(text.find(R"(version="1.0 \"beta\" C:\\build\nline two")") != std::string::npos);
    CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

TEST_CASE("an empty cluster still renders a valid exposition") {
    const Exposition e = validate(render_prometheus(ClusterSnapshot{}));
    CHECK_MESSAGE(e.errors.empty(), errors_of(e));
    CHECK(e.value("ringcast_workers", {{"state", "running"}}) == 0);
}

TEST_CASE("status_json summarises the configuration and the totals") {
    const json s = status_json(cluster());
    CHECK(s["version"] == "0.1.0");
    CHECK(s["uptime_ms"] == 123456);
    CHECK(s["draining"] == false);
    CHECK(s["config"] == json{{"listen", ":9002"},
                              {"ring", 2048},
                              {"slab_bytes", 64ull << 20},
                              {"max_message_bytes", 16ull << 20},
                              {"max_buffered_bytes", 8ull << 20},
                              {"hugepages", true},
                              {"channels", "path"}});
    CHECK(s["workers"]["total"] == 2);
    CHECK(s["workers"]["running"] == 1);
    CHECK(s["shards"]["total"] == 3);
    CHECK(s["totals"]["connections"] == 1 + 101 + 1001);
    CHECK(s["totals"]["deliveries"] == 4 + 104 + 1004);
    CHECK(s["totals"]["protocol_errors"] == 30);
    CHECK(s["totals"]["protocol_errors_by_code"]["1002"] == 9);
    CHECK(s["totals"]["worker_restarts"] == 3);
}

TEST_CASE("workers_json lists each worker with its shards and summed counters") {
    const json w = workers_json(cluster())["workers"];
    REQUIRE(w.size() == 2);
    CHECK(w[0] == json{{"index", 0},
                       {"pid", 100},
                       {"state", "running"},
                       {"incarnation", 2},
                       {"numa_node", 0},
                       {"shards", 2},
                       {"members", {0, 1}},
                       {"connections", 102},
                       {"messages_in", 3 + 103},
                       {"messages_out", 108},
                       {"restarts", 1},
                       {"version", "0.1.0"}});
    CHECK(w[1]["state"] == "restarting");
    CHECK(w[1]["restarts"] == 2);
    CHECK(w[1]["members"] == json{2});
}

TEST_CASE("stats_json gives every shard's counters and ring occupancy") {
    const json s = stats_json(cluster());
    REQUIRE(s["shards"].size() == 3);
    const json& last = s["shards"][2];
    CHECK(last["worker"] == 1);
    CHECK(last["member"] == 2);
    CHECK(last["cpu"] == 2);
    CHECK(last["state"] == "starting");
    CHECK(last["messages_in"] == 1003);
    CHECK(last["ring"] == json{{"head", 5002}, {"capacity", 2048}, {"occupancy", 102}});
    CHECK(last["protocol_errors_by_code"]["1009"] == 2);
    CHECK(last["heartbeat_age_ms"] == 1500);
    CHECK(s["totals"]["messages_in"] == 3 + 103 + 1003);
    CHECK(last["upgrades_rejected"] == json{{"bad_request", 1010},
                                            {"origin", 1},
                                            {"auth", 2},
                                            {"max_connections", 0},
                                            {"max_connections_per_ip", 3},
                                            {"handshake_timeout", 0}});
    CHECK(last["auth_failures"] == json{{"missing", 1}, {"expired", 0}, {"bad_signature", 1001}});
    CHECK(last["rate_limited"] == 1011);
    CHECK(last["listener_messages_refused"] == 1012);
    CHECK(last["token_expired"] == 1013);
    CHECK(last["connections_by_role"] == json{{"publisher", 501}, {"listener", 500}});
    CHECK(last["authenticated"] == 250);
    const json& totals = s["totals"];
    CHECK(totals["upgrades_rejected"]["bad_request"] == 10 + 110 + 1010);
    CHECK(totals["upgrades_rejected"]["origin"] == 3);
    CHECK(totals["auth_failures"]["missing"] == 3);
    CHECK(totals["rate_limited"] == 11 + 111 + 1011);
    CHECK(totals["connections_by_role"] == json{{"publisher", 1103 - 550}, {"listener", 550}});
    CHECK(totals["authenticated"] == 25 + 250);
}

// --- channels ------------------------------------------------------------------------------

namespace {

// n channels "c0".."c{n-1}" on one shard: c{i} has n - i subscribers and i * 10 messages.
std::vector<ChannelFigures> many_channels(size_t n) {
    std::vector<ChannelFigures> out;
    for (size_t i = 0; i < n; ++i) out.push_back({"c" + std::to_string(i), n - i, i * 10});
    return out;
}

ClusterSnapshot with_top_channels() {
    ClusterSnapshot c = cluster();
    c.workers[0].shards[0].top_channels = {{"rooms/1", 5, 100}, {"", 2, 7}, {"news", 1, 900}};
    c.workers[0].shards[1].top_channels = {{"rooms/1", 3, 50}, {"lobby", 4, 3}};
    c.workers[1].shards[0].top_channels = {{"rooms/1", 1, 1}, {"news", 6, 100}};
    return c;
}

}  // namespace

TEST_CASE("channels: a gauge and a counter per worker, summed over its shards") {
    const Exposition e = validate(render_prometheus(cluster()));
    CHECK_MESSAGE(e.errors.empty(), errors_of(e));
    CHECK(e.types.at("ringcast_channels") == "gauge");
    CHECK(e.types.at("ringcast_channel_messages_total") == "counter");
    CHECK(e.value("ringcast_channels", {{"worker", "0"}}) == 14 + 114);  // per shard, summed
    CHECK(e.value("ringcast_channels", {{"worker", "1"}}) == 1014);
    CHECK(e.value("ringcast_channel_messages_total", {{"worker", "0"}}) == 15 + 115);
    CHECK(e.count("ringcast_channels") == 2);
}

TEST_CASE("the busiest channels are merged by name over every shard and worker") {
    const ChannelRanking r = rank_channels(with_top_channels(), 10);
    REQUIRE(r.by_subscribers.size() == 4);
    CHECK(r.by_subscribers[0] == ChannelFigures{"rooms/1", 5 + 3 + 1, 100 + 50 + 1});
    CHECK(r.by_subscribers[1] == ChannelFigures{"news", 1 + 6, 900 + 100});
    CHECK(r.by_subscribers[2] == ChannelFigures{"lobby", 4, 3});
    CHECK(r.by_subscribers[3] == ChannelFigures{"", 2, 7});
    REQUIRE(r.by_messages.size() == 4);
    CHECK(r.by_messages[0].name == "news");
    CHECK(r.by_messages[1].name == "rooms/1");
    CHECK(r.by_messages[2].name == "");
    CHECK(r.by_messages[3].name == "lobby");
    CHECK(rank_channels(cluster(), 10).by_subscribers.empty());  // no channel traffic: empty
}

TEST_CASE("the ranking is cut at its limit, equal figures ordered by the other, then by name") {
    ClusterSnapshot c = cluster();
    c.workers[0].shards[0].top_channels = many_channels(16);
    c.workers[0].shards[1].top_channels = many_channels(16);
    c.workers[1].shards[0].top_channels = {{"tie-b", 1, 5}, {"tie-a", 1, 5}, {"tie-c", 1, 6}};
    const ChannelRanking r = rank_channels(c, 10);
    REQUIRE(r.by_subscribers.size() == 10);
    CHECK(r.by_subscribers[0] == ChannelFigures{"c0", 32, 0});
    CHECK(r.by_subscribers[9] == ChannelFigures{"c9", 14, 180});
    REQUIRE(r.by_messages.size() == 10);
    CHECK(r.by_messages[0] == ChannelFigures{"c15", 2, 300});
    const ChannelRanking all = rank_channels(c, 100);
    CHECK(all.by_subscribers.size() == 19);
    // c15 has 2 subscribers; the three ties have 1, tie-c with more messages first.
    CHECK(all.by_subscribers[16].name == "tie-c");
    CHECK(all.by_subscribers[17].name == "tie-a");
    CHECK(all.by_subscribers[18].name == "tie-b");
    CHECK(rank_channels(c, 0).by_messages.empty());
}

TEST_CASE("/metrics names at most 10 channels per list, however many the shards report") {
    ClusterSnapshot c = cluster();
    c.workers[0].shards[0].top_channels = many_channels(16);
    c.workers[1].shards[0].top_channels = many_channels(16);
    for (auto& ch : c.workers[1].shards[0].top_channels) ch.name += "/other";
    const Exposition e = validate(render_prometheus(c));
    CHECK_MESSAGE(e.errors.empty(), errors_of(e));
    CHECK(e.types.at("ringcast_channel_top_subscribers") == "gauge");
    CHECK(e.types.at("ringcast_channel_top_messages_total") == "counter");
    CHECK(e.count("ringcast_channel_top_subscribers") == kMetricsTopChannels);
    CHECK(e.count("ringcast_channel_top_messages_total") == kMetricsTopChannels);
    CHECK(e.value("ringcast_channel_top_subscribers", {{"channel", "c0"}}) == 16);
    CHECK(e.value("ringcast_channel_top_messages_total", {{"channel", "c15"}}) == 150);
}

TEST_CASE("channel names are escaped as label values; the root channel is channel=\"\"") {
    const Exposition e = validate(render_prometheus(with_top_channels()));
    CHECK_MESSAGE(e.errors.empty(), errors_of(e));
    CHECK(e.value("ringcast_channel_top_subscribers", {{"channel", "rooms/1"}}) == 9);
    CHECK(e.value("ringcast_channel_top_subscribers", {{"channel", ""}}) == 2);
    CHECK(e.value("ringcast_channel_top_messages_total", {{"channel", "news"}}) == 1000);
    ClusterSnapshot c = cluster();
    c.workers[0].shards[0].top_channels = {{"a\"b\\c\nd", 1, 2}};
    const std::string text = render_prometheus(c);
    const Exposition odd = validate(text);
    CHECK_MESSAGE(odd.errors.empty(), errors_of(odd));
    CHECK(odd.value("ringcast_channel_top_subscribers", {{"channel", "a\"b\\c\nd"}}) == 1);
    CHECK(text.find(R"(channel="a\"b\\c\nd")") != std::string::npos);
}

TEST_CASE("without channel traffic the channel families are present and empty") {
    const std::string text = render_prometheus(ClusterSnapshot{});
    const Exposition e = validate(text);
    CHECK_MESSAGE(e.errors.empty(), errors_of(e));
    CHECK(e.types.count("ringcast_channel_top_subscribers") == 1);
    CHECK(e.count("ringcast_channel_top_subscribers") == 0);
    CHECK(e.count("ringcast_channel_top_messages_total") == 0);
}

TEST_CASE("stats_json counts channels per shard and in all, with the merged top lists") {
    const json s = stats_json(with_top_channels());
    CHECK(s["shards"][2]["channels"] == 1014);
    CHECK(s["shards"][2]["channel_messages"] == 1015);
    CHECK(s["totals"]["channels"] == 14 + 114 + 1014);
    CHECK(s["totals"]["channel_messages"] == 15 + 115 + 1015);
    const json& top = s["channel_top"];
    REQUIRE(top["by_subscribers"].size() == 4);
    CHECK(top["by_subscribers"][0] ==
          json{{"channel", "rooms/1"}, {"subscribers", 9}, {"messages", 151}});
    CHECK(top["by_messages"][0]["channel"] == "news");
    CHECK(status_json(with_top_channels())["totals"]["channels"] == 14 + 114 + 1014);
}

TEST_CASE("channels_json: mode, counts per worker and shard and in all, top N per list") {
    const json j = channels_json(with_top_channels(), 2);
    CHECK(j["mode"] == "path");
    CHECK(j["channels"] == 14 + 114 + 1014);
    CHECK(j["channel_messages"] == 15 + 115 + 1015);
    REQUIRE(j["workers"].size() == 2);
    CHECK(j["workers"][0] == json{{"index", 0},
                                  {"channels", 128},
                                  {"channel_messages", 130},
                                  {"shards",
                                   {{{"member", 0}, {"channels", 14}},
                                    {{"member", 1}, {"channels", 114}}}}});
    CHECK(j["top"]["by_subscribers"].size() == 2);
    CHECK(j["top"]["by_messages"].size() == 2);
    CHECK(j["top"]["by_messages"][1]["channel"] == "rooms/1");
    const json off = channels_json(ClusterSnapshot{}, 10);
    CHECK(off["mode"] == "off");
    CHECK(off["channels"] == 0);
    CHECK(off["top"] == json{{"by_subscribers", json::array()}, {"by_messages", json::array()}});
}

// --- the HTTP endpoint ---------------------------------------------------------------------

namespace {

class FakeCluster : public MetricsHandler {
  public:
    bool is_ready = true;
    std::string reason = "draining";
    int scrapes = 0;
    std::string metrics() override {
        ++scrapes;
        return render_prometheus(cluster());
    }
    bool ready() override { return is_ready; }
    std::string not_ready_reason() override { return reason; }
    bool status_fails = false;
    std::string live_status() override {
        if (status_fails) throw std::runtime_error("snapshot failed");
        return live_status_json(cluster()).dump();
    }
};

std::unique_ptr<MetricsServer> open_metrics(MetricsLimits limits = {}) {
    auto r = MetricsServer::open("127.0.0.1", 0, false, limits);
    const auto* err = std::get_if<std::string>(&r);
    REQUIRE_MESSAGE(err == nullptr, "unexpected error: " << (err ? *err : std::string()));
    return std::move(std::get<std::unique_ptr<MetricsServer>>(r));
}

void pump(MetricsServer& s, MetricsHandler& h, int timeout_ms = 5) {
    std::vector<pollfd> fds;
    fds.push_back({-1, 0, 0});
    s.add_pollfds(fds);
    ::poll(fds.data(), fds.size(), timeout_ms);
    s.on_poll(fds, h);
}

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool complete = false;  // the server closed the connection after it
};

class HttpClient {
  public:
    explicit HttpClient(uint16_t port) {
        fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        ::fcntl(fd_.get(), F_SETFL, O_NONBLOCK);
    }
    void send(const std::string& bytes) {
        REQUIRE(::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(bytes.size()));
    }
    // Everything until the server closes.
    std::string read_all(MetricsServer& s, MetricsHandler& h, int timeout_ms = 3000) {
        std::string in;
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (Clock::now() < deadline) {
            char buf[65536];
            ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
            if (n > 0) {
                in.append(buf, static_cast<size_t>(n));
            } else if (n == 0 || errno == ECONNRESET) {
                closed_ = true;
                return in;
            } else {
                pump(s, h);
            }
        }
        return in;
    }
    HttpResponse response(MetricsServer& s, MetricsHandler& h) {
        std::string raw = read_all(s, h);
        HttpResponse r;
        r.complete = closed_;
        size_t end = raw.find("\r\n\r\n");
        if (end == std::string::npos) return r;
        r.body = raw.substr(end + 4);
        std::string head = raw.substr(0, end);
        if (head.starts_with("HTTP/1.1 ")) r.status = std::atoi(head.c_str() + 9);
        for (size_t pos = head.find("\r\n"); pos != std::string::npos;) {
            size_t next = head.find("\r\n", pos + 2);
            std::string line = head.substr(
                pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
            size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string name = line.substr(0, colon);
                std::transform(name.begin(), name.end(), name.begin(), ::tolower);
                r.headers[name] = line.substr(colon + 2);
            }
            pos = next;
        }
        return r;
    }
    bool closed() const { return closed_; }

  private:
    Fd fd_;
    bool closed_ = false;
};

HttpResponse request(MetricsServer& s, MetricsHandler& h, const std::string& bytes) {
    HttpClient c(s.port());
    c.send(bytes);
    return c.response(s, h);
}

HttpResponse get(MetricsServer& s, MetricsHandler& h, const std::string& target,
                 const char* method = "GET") {
    return request(s, h,
                   std::string(method) + " " + target +
                       " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n");
}

}  // namespace

TEST_CASE("GET /metrics answers 200 with the exposition content type and the handler's text") {
    auto server = open_metrics();
    CHECK(server->port() != 0);
    FakeCluster cluster_handler;
    HttpResponse r = get(*server, cluster_handler, "/metrics");
    CHECK(r.complete);
    CHECK(r.status == 200);
    CHECK(r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(r.headers["content-length"] == std::to_string(r.body.size()));
    CHECK(r.headers["connection"] == "close");
    CHECK(r.body == render_prometheus(cluster()));
    CHECK(validate(r.body).errors.empty());

    CHECK(get(*server, cluster_handler, "/metrics?name[]=ringcast_connections").status == 200);
}

TEST_CASE("HEAD gives the headers of GET without a body") {
    auto server = open_metrics();
    FakeCluster h;
    HttpResponse r = get(*server, h, "/metrics", "HEAD");
    CHECK(r.status == 200);
    CHECK(r.headers["content-length"] == std::to_string(render_prometheus(cluster()).size()));
    CHECK(r.body.empty());
    r = get(*server, h, "/healthz", "HEAD");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
}

TEST_CASE("/healthz is ok; /readyz is 200 when ready and 503 with the reason when not") {
    auto server = open_metrics();
    FakeCluster h;
    HttpResponse r = get(*server, h, "/healthz");
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
    r = get(*server, h, "/readyz");
    CHECK(r.status == 200);
    CHECK(r.body == "ready\n");
    h.is_ready = false;
    r = get(*server, h, "/readyz");
    CHECK(r.status == 503);
    CHECK(r.body == "draining\n");
    h.reason = "starting";
    CHECK(get(*server, h, "/readyz").body == "starting\n");
    CHECK(h.scrapes == 0);  // health checks never render metrics
}

TEST_CASE("unknown paths are 404, other methods 405, garbage 400") {
    auto server = open_metrics();
    FakeCluster h;
    CHECK(get(*server, h, "/").status == 200);  // the status page (supervisor_status_page.cpp)
    CHECK(get(*server, h, "/index.html").status == 404);
    CHECK(get(*server, h, "/metricsx").status == 404);
    HttpResponse r = get(*server, h, "/metrics", "POST");
    CHECK(r.status == 405);
    CHECK(r.headers["allow"] == "GET, HEAD");
    CHECK(get(*server, h, "/healthz", "DELETE").status == 405);
    CHECK(request(*server, h, "HELLO\r\n\r\n").status == 400);
    CHECK(request(*server, h, "GET /metrics SPDY/3\r\n\r\n").status == 400);
    CHECK(h.scrapes == 0);
}

TEST_CASE("a request head over 8 KiB is answered 431") {
    auto server = open_metrics();
    FakeCluster h;
    const std::string big_header = "X-Pad: " + std::string(9000, 'a') + "\r\n";
    CHECK(request(*server, h, "GET /metrics HTTP/1.1\r\n" + big_header + "\r\n").status == 431);
    // Without ever ending the head: answered as soon as it is too long.
    HttpClient c(server->port());
    c.send("GET /metrics HTTP/1.1\r\n" + big_header);
    CHECK(c.response(*server, h).status == 431);
    // Just under the limit is fine.
    const std::string head = "GET /metrics HTTP/1.1\r\nX-Pad: ";
    const std::string fits =
        head + std::string(MetricsServer::kMaxRequestHead - head.size() - 4, 'a') + "\r\n\r\n";
    REQUIRE(fits.size() == MetricsServer::kMaxRequestHead);
    CHECK(request(*server, h, fits).status == 200);
}

TEST_CASE("a request arriving a byte at a time is answered once complete") {
    auto server = open_metrics();
    FakeCluster h;
    HttpClient c(server->port());
    const std::string req = "GET /healthz HTTP/1.0\r\n\r\n";
    for (char ch : req) {
        c.send(std::string(1, ch));
        pump(*server, h);
    }
    HttpResponse r = c.response(*server, h);
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
}

TEST_CASE("clients are bounded: extras get 503, and a silent one is dropped after the timeout") {
    auto server = open_metrics(MetricsLimits{2, 300});
    FakeCluster h;
    HttpClient a(server->port()), b(server->port());
    for (int i = 0; i < 20 && server->client_count() < 2; ++i) pump(*server, h);
    REQUIRE(server->client_count() == 2);
    HttpClient extra(server->port());
    CHECK(extra.response(*server, h).status == 503);

    const auto start = Clock::now();
    a.read_all(*server, h);  // a and b never send anything
    CHECK(a.closed());
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    CHECK(waited >= 250);
    CHECK(waited < 2000);
    b.read_all(*server, h);
    CHECK(b.closed());
    CHECK(server->client_count() == 0);
    CHECK(get(*server, h, "/healthz").status == 200);
}

TEST_CASE("a port in use is a clear error") {
    auto first = open_metrics();
    auto r = MetricsServer::open("127.0.0.1", first->port(), false);
    REQUIRE(std::holds_alternative<std::string>(r));
    const std::string err = std::get<std::string>(r);
    CHECK(err.starts_with("metrics endpoint: "));
    CHECK(err.find("Address already in use") != std::string::npos);
}

// --- the live status page (supervisor/status_page.hpp) -------------------------------------

TEST_CASE("live_status_json is status, workers and the shards of stats from one snapshot") {
    const ClusterSnapshot c = cluster();
    const json doc = live_status_json(c);
    CHECK(doc["status"] == status_json(c));
    CHECK(doc["workers"] == workers_json(c)["workers"]);
    CHECK(doc["shards"] == stats_json(c)["shards"]);
    // What the page draws: per worker state, incarnation, restarts, counters; per shard the
    // ring; the bridge inside status.
    REQUIRE(doc["workers"].size() == 2);
    CHECK(doc["workers"][1]["state"] == "restarting");
    CHECK(doc["workers"][1]["incarnation"] == 4);
    CHECK(doc["workers"][1]["restarts"] == 2);
    REQUIRE(doc["shards"].size() == 3);
    CHECK(doc["shards"][0]["ring"].contains("occupancy"));
    CHECK(doc["shards"][0]["ring"].contains("capacity"));
    CHECK(doc["status"]["bridge"]["enabled"] == false);
}

namespace {

// GET `target`, which must answer 200 with this Content-Type.
HttpResponse get_ok(MetricsServer& s, MetricsHandler& h, const std::string& target,
                    const std::string& content_type) {
    HttpResponse r = get(s, h, target);
    CHECK(r.status == 200);
    CHECK(r.headers["content-type"] == content_type);
    return r;
}

}  // namespace

TEST_CASE("GET / serves the self-contained, read-only status page") {
    auto server = open_metrics();
    FakeCluster h;
    HttpResponse r = get_ok(*server, h, "/", "text/html; charset=utf-8");
    CHECK(r.body == status_page_html());
    CHECK(r.body.starts_with("<!doctype html>"));
    CHECK(r.body.find("status.json") != std::string::npos);
    // Nothing is loaded from elsewhere: no external script, stylesheet, font or image.
    for (const char* external : {"<script src", "<link", "@import", "url(", "<img", "<iframe"})
        CHECK_MESSAGE(r.body.find(external) == std::string::npos, external);
    CHECK(r.headers["content-security-policy"].find("default-src 'none'") != std::string::npos);
    CHECK(r.headers["content-security-policy"].find("connect-src 'self'") != std::string::npos);
    CHECK(r.headers["x-content-type-options"] == "nosniff");
    CHECK(get(*server, h, "/?interval=250").status == 200);
    r = get(*server, h, "/", "HEAD");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.headers["content-length"] == std::to_string(status_page_html().size()));
    CHECK(get(*server, h, "/", "POST").status == 405);
    CHECK(h.scrapes == 0);  // the page itself renders no metrics
}

TEST_CASE("GET /status.json answers the handler's live status as JSON; a failure is a 500") {
    auto server = open_metrics();
    FakeCluster h;
    HttpResponse r = get_ok(*server, h, "/status.json", "application/json");
    CHECK(json::parse(r.body) == live_status_json(cluster()));
    CHECK(get(*server, h, "/status.json", "DELETE").status == 405);
    CHECK(get(*server, h, "/status.jsonx").status == 404);
    h.status_fails = true;
    CHECK(get(*server, h, "/status.json").status == 500);
}
