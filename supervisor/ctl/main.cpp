/*
 * ringcastctl: the operator's command line for the control socket (docs/control.md).
 * Sends one request line, waits for its one answer line, prints it as a table (or raw with
 * --json). Exit status: 0 the server said ok, 1 it said no (or the answer never came),
 * 2 usage error or the socket could not be reached.
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "ringcast/version.hpp"
#include "base/fd.hpp"
#include "supervisor/control_protocol.hpp"

namespace {

using nlohmann::json;
namespace control = ringcast::control;
using Clock = std::chrono::steady_clock;

constexpr int kExitOk = 0, kExitRefused = 1, kExitUsage = 2;

constexpr const char* kHelp = R"(usage: ringcastctl [--socket PATH] [--json] COMMAND [ARGS]

Talks to a running ringcast through its control socket.

commands:
  status              version, uptime, configuration summary and cluster totals
  workers             one line per worker process
  stats               one line per shard: counters and ring occupancy
  channels [--top N]  channels per worker and in all (counted per shard), and the
                      busiest channels by subscribers and by messages, merged over the
                      shards (N per list, default 10, at most 16 per shard)
  probes              per shard: loop iterations, completions per iteration, heartbeat,
                      ring occupancy, slab usage, oldest unreleased record
  probes --connections
                      every tracked connection: id, peer, worker/shard, state, age,
                      bytes and messages in/out, queued bytes
  restart N|all       replace worker N (or every worker, one at a time) with a fresh
                      process from the binary on disk; answers once the new one is ready
  restart bridge      replace the Redis bridge process: it flushes what it holds to
                      Redis and the new one continues where it stopped
  set KEY VALUE       change a runtime setting, e.g. `set log_level debug`,
                      `set allowed_origins '["https://app.example.com"]'` (VALUE is
                      sent as JSON when it reads as a number, true, false, an array
                      or an object, else as a string)
  drain               enter draining: /readyz answers 503 so load balancers move
                      traffic away before a shutdown
  shutdown            graceful shutdown of the whole cluster
  raw JSON            send one request object as written, e.g. raw '{"cmd":"status"}'

options:
  --socket PATH       control socket (default: $RINGCAST_CONTROL_SOCKET, else
                      /run/ringcast/control.sock)
  --json              print the server's answer line as it came
  -h, --help          this text
  --version           ringcastctl's version

The answer is awaited up to 60 s for restart and 10 s for anything else.
exit status: 0 ok; 1 the server answered with an error (printed to stderr), or no answer
came in time; 2 usage error, or the socket cannot be reached.
)";

struct Args {
    std::string socket;
    bool json = false;
    std::vector<std::string> words;  // command and its arguments
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "ringcastctl: %s\n(see ringcastctl --help)\n", message.c_str());
    std::exit(kExitUsage);
}

Args parse_args(int argc, char** argv) {
    Args a;
    if (const char* env = std::getenv(control::kSocketEnv); env && *env) a.socket = env;
    if (a.socket.empty()) a.socket = control::kDefaultSocket;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (options_done || arg.size() < 2 || arg[0] != '-' || (arg[1] != '-' && arg != "-h")) {
            a.words.push_back(arg);  // also "-5", a negative value for `set`
        } else if (arg == "--") {
            options_done = true;
        } else if (arg == "-h" || arg == "--help") {
            std::fputs(kHelp, stdout);
            std::exit(kExitOk);
        } else if (arg == "--version") {
            std::printf("ringcastctl %s\n", ringcast::kVersion);
            std::exit(kExitOk);
        } else if (arg == "--json") {
            a.json = true;
        } else if (arg == "--socket") {
            if (i + 1 >= argc) usage_error("--socket needs a PATH");
            a.socket = argv[++i];
        } else if (arg.starts_with("--socket=")) {
            a.socket = arg.substr(9);
        } else if (arg == "--connections") {
            a.words.push_back(arg);  // an argument of `probes`, not a global option
        } else if (arg == "--top") {  // an argument of `channels`
            if (i + 1 >= argc) usage_error("--top needs a number");
            a.words.push_back(arg);
            a.words.push_back(argv[++i]);
        } else if (arg.starts_with("--top=")) {
            a.words.push_back("--top");
            a.words.push_back(arg.substr(6));
        } else {
            usage_error("unknown option " + arg);
        }
    }
    if (a.socket.empty()) usage_error("--socket: empty path");
    return a;
}

// VALUE as JSON when it reads as a number ("42", "-1.5", "1e3"), a boolean, an array or an
// object (`set auth '{"required": true}'`), else as a string.
json setting_value(const std::string& text) {
    json v = json::parse(text, nullptr, false);
    if (v.is_discarded()) return text;
    if (v.is_number() && std::isfinite(v.get<double>())) return v;
    if (v.is_boolean() || v.is_array() || v.is_object()) return v;
    return text;
}

json build_request(const std::vector<std::string>& words) {
    if (words.empty()) usage_error("no command given");
    const std::string& cmd = words[0];
    const size_t nargs = words.size() - 1;
    auto want = [&](size_t n, const char* shape) {
        if (nargs != n) usage_error("usage: ringcastctl " + std::string(shape));
    };
    if (cmd == control::kProbes && nargs == 1 && words[1] == "--connections") {
        return control::probes_request(true);
    }
    if (cmd == control::kStatus || cmd == control::kWorkers || cmd == control::kStats ||
        cmd == control::kProbes || cmd == control::kDrain || cmd == control::kShutdown) {
        want(0, cmd.c_str());
        return control::request(cmd);
    }
    if (cmd == control::kChannels) {
        if (nargs == 0) return control::channels_request(std::nullopt);
        if (nargs != 2 || words[1] != "--top") usage_error("usage: ringcastctl channels [--top N]");
        const std::string& n = words[2];
        if (n.empty() || n.size() > 9 || n.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(n) == 0)
            usage_error("channels: --top must be a positive number, got '" + n + "'");
        return control::channels_request(std::stoul(n));
    }
    if (cmd == control::kRestart) {
        want(1, "restart N|all|bridge");
        const std::string& w = words[1];
        if (w == control::kAllWorkers || w == control::kBridge) return control::restart_request(w);
        if (w.empty() || w.size() > 9 || w.find_first_not_of("0123456789") != std::string::npos)
            usage_error("restart: worker must be an index (0, 1, ...), \"all\" or \"bridge\", got '" + w + "'");
        return control::restart_request(std::stoul(w));
    }
    if (cmd == control::kSet) {
        want(2, "set KEY VALUE");
        return control::set_request(words[1], setting_value(words[2]));
    }
    if (cmd == "raw") {
        want(1, "raw JSON");
        json r = json::parse(words[1], nullptr, false);
        if (r.is_discarded() || !r.is_object())
            usage_error("raw: the request must be a JSON object");
        return r;
    }
    usage_error("unknown command '" + cmd + "'");
}

// --- the socket -------------------------------------------------------------------------

struct Failure {
    int exit_code;
    std::string message;
};

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
}

std::string connect_hint(int err) {
    switch (err) {
        case ENOENT:
            return " (is ringcast running? --socket or RINGCAST_CONTROL_SOCKET name another path)";
        case ECONNREFUSED:
            return " (nobody listens on it: ringcast is not running)";
        case EACCES:
            return " (the socket is mode 0660: run as its owner or a member of its group)";
        default:
            return "";
    }
}

std::variant<ringcast::Fd, Failure> connect_to(const std::string& path,
                                               Clock::time_point deadline) {
    const std::string what = "cannot connect to " + path + ": ";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        return Failure{kExitUsage, what + "path longer than " +
                                       std::to_string(sizeof addr.sun_path - 1) + " bytes"};
    std::memcpy(addr.sun_path, path.data(), path.size());
    ringcast::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return Failure{kExitUsage, what + "socket: " + std::strerror(errno)};
    while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        if (err == EINTR) continue;
        // EAGAIN: the server's accept backlog is full; it is alive, so retry for a while.
        if (err == EAGAIN && remaining_ms(deadline) > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        return Failure{kExitUsage, what + std::strerror(err) + connect_hint(err)};
    }
    return fd;
}

// Sends `line` and returns the first line of the answer (without its newline).
std::variant<std::string, Failure> exchange(const ringcast::Fd& fd, const std::string& line,
                                            Clock::time_point deadline, int timeout_s) {
    const std::string too_late =
        "no answer within " + std::to_string(timeout_s) + " s (the request may still take effect)";
    size_t sent = 0;
    while (sent < line.size()) {
        ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n >= 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN)
            return Failure{kExitRefused,
                           std::string("sending the request: ") + std::strerror(errno)};
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, remaining_ms(deadline)) == 0) return Failure{kExitRefused, too_late};
    }
    std::string in;
    char buf[65536];
    while (true) {
        if (auto nl = in.find('\n'); nl != std::string::npos) return in.substr(0, nl);
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n > 0) {
            in.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n == 0) {
            if (!in.empty()) return in;  // an answer without its newline is still an answer
            return Failure{kExitRefused, "the server closed the connection without answering"};
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN)
            return Failure{kExitRefused,
                           std::string("reading the answer: ") + std::strerror(errno)};
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, remaining_ms(deadline)) == 0) return Failure{kExitRefused, too_late};
    }
}

// --- human-readable output --------------------------------------------------------------

std::string cell(const json& v) {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) return std::to_string(v.size());
    return v.dump();
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], r[i].size());
    auto print_row = [&](const std::vector<std::string>& r) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            if (i) line += "  ";
            line += r[i];
            if (i + 1 < r.size()) line.append(width[i] - r[i].size(), ' ');
        }
        std::puts(line.c_str());
    };
    print_row(header);
    for (const auto& r : rows) print_row(r);
}

json field(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? json(nullptr) : *it;
}

void print_workers(const json& answer) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& w : field(answer, "workers").is_array() ? answer["workers"] : json::array()) {
        rows.push_back({cell(field(w, "index")), cell(field(w, "pid")), cell(field(w, "state")),
                        cell(field(w, "incarnation")), cell(field(w, "shards")),
                        cell(field(w, "connections")), cell(field(w, "messages_in")),
                        cell(field(w, "messages_out")), cell(field(w, "restarts")),
                        cell(field(w, "version"))});
    }
    print_table({"INDEX", "PID", "STATE", "INCARNATION", "SHARDS", "CONNS", "MSGS_IN", "MSGS_OUT",
                 "RESTARTS", "VERSION"},
                rows);
}

void print_stats(const json& answer) {
    auto counters = [](const json& s) {
        return std::vector<std::string>{
            cell(field(s, "connections")), cell(field(s, "accepted")),
            cell(field(s, "messages_in")), cell(field(s, "deliveries")),
            cell(field(s, "bytes_in")),    cell(field(s, "bytes_out")),
            cell(field(s, "slow_closes")), cell(field(s, "protocol_errors")),
            cell(field(s, "ring_full"))};
    };
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : field(answer, "shards").is_array() ? answer["shards"] : json::array()) {
        std::vector<std::string> r = {cell(field(s, "worker")), cell(field(s, "member")),
                                      cell(field(s, "cpu")), cell(field(s, "state"))};
        for (auto& c : counters(s)) r.push_back(std::move(c));
        const json ring = field(s, "ring");
        r.push_back(cell(field(ring, "occupancy")) + "/" + cell(field(ring, "capacity")));
        r.push_back(cell(field(s, "heartbeat_age_ms")));
        rows.push_back(std::move(r));
    }
    if (const json totals = field(answer, "totals"); totals.is_object()) {
        std::vector<std::string> r = {"total", "", "", ""};
        for (auto& c : counters(totals)) r.push_back(std::move(c));
        rows.push_back(std::move(r));
    }
    print_table({"WORKER", "SHARD", "CPU", "STATE", "CONNS", "ACCEPTED", "MSGS_IN", "DELIVERIES",
                 "BYTES_IN", "BYTES_OUT", "SLOW_CLOSES", "PROTO_ERRORS", "RING_FULL", "RING",
                 "HEARTBEAT_MS"},
                rows);
}

// The root channel has the empty name; a table shows it by what it is.
std::string channel_cell(const json& name) {
    return name == json("") ? "(root)" : cell(name);
}

void print_channels(const json& answer) {
    std::printf("channels %s (counted per shard: a channel on two shards counts twice)\n",
                cell(field(answer, "mode")).c_str());
    std::vector<std::vector<std::string>> rows;
    for (const auto& w : field(answer, "workers").is_array() ? answer["workers"] : json::array())
        rows.push_back({cell(field(w, "index")), cell(field(w, "channels")),
                        cell(field(w, "channel_messages"))});
    rows.push_back({"total", cell(field(answer, "channels")),
                    cell(field(answer, "channel_messages"))});
    print_table({"WORKER", "CHANNELS", "MESSAGES"}, rows);
    const json top = field(answer, "top");
    for (const auto& [list, title] : {std::pair{"by_subscribers", "by subscribers"},
                                      std::pair{"by_messages", "by messages"}}) {
        std::printf("\nbusiest channels %s\n", title);
        const json entries = field(top, list);
        if (!entries.is_array() || entries.empty()) {
            std::puts("(none)");
            continue;
        }
        std::vector<std::vector<std::string>> top_rows;
        for (const auto& c : entries)
            top_rows.push_back({channel_cell(field(c, "channel")), cell(field(c, "subscribers")),
                                cell(field(c, "messages"))});
        print_table({"CHANNEL", "SUBSCRIBERS", "MESSAGES"}, top_rows);
    }
}

std::string duration_text(uint64_t ms) {
    uint64_t s = ms / 1000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
    char buf[64];
    if (d) {
        std::snprintf(buf, sizeof buf, "%llud%02lluh%02llum%02llus", (unsigned long long)d,
                      (unsigned long long)h, (unsigned long long)m, (unsigned long long)(s % 60));
    } else if (h) {
        std::snprintf(buf, sizeof buf, "%lluh%02llum%02llus", (unsigned long long)h,
                      (unsigned long long)m, (unsigned long long)(s % 60));
    } else {
        std::snprintf(buf, sizeof buf, "%llum%02llus", (unsigned long long)m,
                      (unsigned long long)(s % 60));
    }
    return buf;
}

// Every leaf as "a.b.c  value", in the answer's order (keys sorted), minus "ok".
void flatten(const json& v, const std::string& prefix,
             std::vector<std::vector<std::string>>& rows) {
    if (prefix.empty() && v.is_object() && v.empty()) return;
    if (v.is_object() && !v.empty()) {
        for (const auto& [k, child] : v.items()) {
            if (prefix.empty() && k == control::kOk) continue;
            flatten(child, prefix.empty() ? k : prefix + "." + k, rows);
        }
    } else if (v.is_array() && !v.empty() && (v[0].is_object() || v[0].is_array())) {
        for (size_t i = 0; i < v.size(); ++i) flatten(v[i], prefix + "." + std::to_string(i), rows);
    } else if (v.is_array()) {
        std::string joined;
        for (const auto& e : v) joined += (joined.empty() ? "" : ", ") + cell(e);
        rows.push_back({prefix, joined});
    } else {
        rows.push_back({prefix, cell(v)});
    }
}

void print_key_values(const json& answer) {
    std::vector<std::vector<std::string>> rows;
    flatten(answer, "", rows);
    if (rows.empty()) {
        std::puts("ok");
        return;
    }
    size_t width = 0;
    for (const auto& r : rows) width = std::max(width, r[0].size());
    for (const auto& r : rows)
        std::printf("%-*s  %s\n", static_cast<int>(width), r[0].c_str(), r[1].c_str());
}

std::string bytes_text(const json& v) {
    if (!v.is_number_unsigned()) return cell(v);
    uint64_t n = v.get<uint64_t>();
    if (n >= (1ull << 30) && n % (1ull << 30) == 0) return std::to_string(n >> 30) + " GiB";
    if (n >= (1ull << 20) && n % (1ull << 20) == 0) return std::to_string(n >> 20) + " MiB";
    if (n >= (1ull << 10) && n % (1ull << 10) == 0) return std::to_string(n >> 10) + " KiB";
    return std::to_string(n) + " B";
}

// Takes `key` out of `obj` (so what is left can be printed generically).
json take(json& obj, const char* key) {
    if (!obj.is_object() || !obj.contains(key)) return nullptr;
    json v = std::move(obj[key]);
    obj.erase(key);
    return v;
}

void print_status(json answer) {
    answer.erase(control::kOk);
    const json version = take(answer, "version"), up = take(answer, "uptime_ms");
    const json draining = take(answer, "draining");
    std::printf("ringcast %s, up %s, %s\n", cell(version).c_str(),
                up.is_number_unsigned() ? duration_text(up.get<uint64_t>()).c_str() : "-",
                draining == json(true) ? "DRAINING" : "serving");
    std::vector<std::vector<std::string>> rows;
    json config = take(answer, "config"), workers = take(answer, "workers");
    json shards = take(answer, "shards"), totals = take(answer, "totals");
    rows.push_back({"listen", cell(take(config, "listen"))});
    // "2: 2 running, 0 starting, ..."
    auto by_state = [](json& counts, std::initializer_list<const char*> states) {
        std::string text = cell(take(counts, "total")) + ":";
        const char* sep = " ";
        for (const char* st : states) {
            text += sep + cell(take(counts, st)) + " " + st;
            sep = ", ";
        }
        return text;
    };
    rows.push_back({"workers", by_state(workers, {"running", "starting", "restarting", "dead"})});
    rows.push_back({"shards", by_state(shards, {"live", "starting", "dead", "empty"})});
    rows.push_back({"connections", cell(take(totals, "connections")) + " open, " +
                                       cell(take(totals, "accepted")) + " accepted"});
    rows.push_back({"messages", cell(take(totals, "messages_in")) + " in, " +
                                    cell(take(totals, "deliveries")) + " deliveries"});
    rows.push_back({"bytes", cell(take(totals, "bytes_in")) + " in, " +
                                 cell(take(totals, "bytes_out")) + " out"});
    std::string errors = cell(take(totals, "protocol_errors")) + " protocol errors";
    if (json codes = take(totals, "protocol_errors_by_code"); codes.is_object() && !codes.empty()) {
        std::string list;
        for (const auto& [code, n] : codes.items())
            list += (list.empty() ? "" : ", ") + code + ": " + cell(n);
        errors += " (" + list + ")";
    }
    rows.push_back({"closes", cell(take(totals, "slow_closes")) + " slow clients, " + errors});
    rows.push_back({"ring full", cell(take(totals, "ring_full"))});
    rows.push_back({"compression", cell(take(totals, "deflate_connections")) + " connections, " +
                                       cell(take(totals, "deflated_messages")) + " messages compressed (" +
                                       cell(take(totals, "deflate_bytes_in")) + " -> " +
                                       cell(take(totals, "deflate_bytes_out")) + " bytes), " +
                                       cell(take(totals, "inflated_messages")) + " inflated, " +
                                       cell(take(totals, "inflate_errors")) + " inflate errors"});
    rows.push_back({"restarts", cell(take(totals, "worker_restarts"))});
    rows.push_back({"config", "ring " + cell(take(config, "ring")) + ", slab " +
                                  bytes_text(take(config, "slab_bytes")) + ", max message " +
                                  bytes_text(take(config, "max_message_bytes")) +
                                  ", max buffered " +
                                  bytes_text(take(config, "max_buffered_bytes")) + ", hugepages " +
                                  (take(config, "hugepages") == json(true) ? "yes" : "no")});
    json bridge = take(answer, "bridge");
    if (take(bridge, "enabled") == json(true)) {
        const bool connected = take(bridge, "connected") == json(true);
        // The login's state matters only where there is one: "auth refused" explains NOT CONNECTED.
        const json auth = take(bridge, "auth");
        const std::string login = auth.is_string() && auth != "none" ? ", auth " + cell(auth) : "";
        rows.push_back({"bridge", cell(take(bridge, "state")) + ", " + (connected ? "connected" : "NOT CONNECTED") +
                                      " to redis " + cell(take(bridge, "redis")) + ", stream " +
                                      cell(take(bridge, "stream")) + ", node " + cell(take(bridge, "node_id")) +
                                      login});
        rows.push_back({"bridge flow", cell(take(bridge, "sent")) + " sent, " + cell(take(bridge, "received")) +
                                           " received, " + cell(take(bridge, "buffered")) + " buffered, " +
                                           cell(take(bridge, "replayed")) + " replayed, " +
                                           cell(take(bridge, "dropped")) + " dropped, lag " +
                                           cell(take(bridge, "lag_ms")) + " ms"});
    } else {
        rows.push_back({"bridge", "off"});
    }
    // Whatever else the server sent, as it came.
    const std::pair<const char*, json*> leftovers[] = {{"config", &config}, {"workers", &workers},
                                                       {"shards", &shards}, {"totals", &totals},
                                                       {"bridge", &bridge}};
    for (const auto& [name, rest] : leftovers) {
        if (rest->is_object() && !rest->empty()) flatten(*rest, name, rows);
    }
    flatten(answer, "", rows);
    size_t width = 0;
    for (const auto& r : rows) width = std::max(width, r[0].size());
    for (const auto& r : rows)
        std::printf("%-*s  %s\n", static_cast<int>(width), r[0].c_str(), r[1].c_str());
}

void print_probes(const json& answer) {
    if (field(answer, "connections").is_array()) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& c : answer["connections"]) {
            rows.push_back({cell(field(c, "conn")), cell(field(c, "peer")), cell(field(c, "worker")),
                            cell(field(c, "shard")), cell(field(c, "state")), cell(field(c, "age_ms")),
                            cell(field(c, "bytes_in")), cell(field(c, "bytes_out")), cell(field(c, "msgs_in")),
                            cell(field(c, "msgs_out")), cell(field(c, "queued_bytes"))});
        }
        print_table({"CONN", "PEER", "WORKER", "SHARD", "STATE", "AGE_MS", "BYTES_IN", "BYTES_OUT", "MSGS_IN",
                     "MSGS_OUT", "QUEUED"},
                    rows);
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : field(answer, "shards").is_array() ? answer["shards"] : json::array()) {
        rows.push_back({cell(field(p, "worker")), cell(field(p, "member")), cell(field(p, "state")),
                        cell(field(p, "loop_iterations")), cell(field(p, "completions_per_iteration")),
                        cell(field(p, "heartbeat_age_ms")), cell(field(p, "ring_occupancy")),
                        cell(field(p, "slab_used_bytes")), cell(field(p, "oldest_unreleased_seq")),
                        cell(field(p, "ok"))});
    }
    print_table({"WORKER", "SHARD", "STATE", "LOOPS", "CQES/LOOP", "HEARTBEAT_MS", "RING_OCC", "SLAB_USED",
                 "OLDEST_SEQ", "OK"},
                rows);
    std::printf("healthy %s, ready %s\n", cell(field(answer, "healthy")).c_str(), cell(field(answer, "ready")).c_str());
}

void print_human(const std::string& cmd, const json& answer) {
    if (cmd == "probes") {
        print_probes(answer);
    } else if (cmd == "workers") {
        print_workers(answer);
    } else if (cmd == "stats") {
        print_stats(answer);
    } else if (cmd == control::kChannels) {
        print_channels(answer);
    } else if (cmd == "status") {
        print_status(answer);
    } else {
        print_key_values(answer);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse_args(argc, argv);
    const json request = build_request(args.words);
    const std::string cmd = request.value(control::kCmd, std::string());
    const int timeout_s = control::answer_timeout_s(cmd);
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);

    auto connected = connect_to(args.socket, deadline);
    if (auto* f = std::get_if<Failure>(&connected)) {
        std::fprintf(stderr, "ringcastctl: %s\n", f->message.c_str());
        return f->exit_code;
    }
    auto answered =
        exchange(std::get<ringcast::Fd>(connected), request.dump() + "\n", deadline, timeout_s);
    if (auto* f = std::get_if<Failure>(&answered)) {
        std::fprintf(stderr, "ringcastctl: %s: %s\n", args.socket.c_str(), f->message.c_str());
        return f->exit_code;
    }
    const std::string& line = std::get<std::string>(answered);
    json answer = json::parse(line, nullptr, false);
    if (answer.is_discarded() || !answer.is_object()) {
        if (args.json) std::puts(line.c_str());
        std::fprintf(stderr, "ringcastctl: unreadable answer from %s: %s\n", args.socket.c_str(),
                     line.c_str());
        return kExitRefused;
    }
    const bool ok = control::is_ok(answer);
    if (args.json) {
        std::puts(line.c_str());
    } else if (ok) {
        print_human(cmd, answer);
    }
    if (!ok) {
        const std::string err = control::error_of(answer);
        std::fprintf(stderr, "ringcastctl: %s\n", err.empty() ? line.c_str() : err.c_str());
        return kExitRefused;
    }
    return kExitOk;
}
