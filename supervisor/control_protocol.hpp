/*
 * The control protocol's shapes (docs/control.md), the one place both ends include: the
 * server (supervisor/control_server.cpp and the Supervisor's dispatch) and the operator's CLI
 * (supervisor/ctl/main.cpp), which depends on nothing else of ours but base/.
 *
 * One JSON object per line each way. A request names its command in "cmd" and carries its
 * arguments as fields; every answer has "ok" and, when false, "error" (a sentence for people).
 * Header-only on purpose: ringcastctl links no supervisor code.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ringcast::control {

inline constexpr const char* kDefaultSocket = "/run/ringcast/control.sock";
inline constexpr const char* kSocketEnv = "RINGCAST_CONTROL_SOCKET";  // ringcastctl's default
inline constexpr size_t kMaxRequestBytes = 64 * 1024;                 // one line, without its newline

// Command names ("cmd").
inline constexpr std::string_view kStatus = "status";
inline constexpr std::string_view kWorkers = "workers";
inline constexpr std::string_view kStats = "stats";
inline constexpr std::string_view kChannels = "channels";  // + "top": N (default kDefaultTopChannels)
inline constexpr std::string_view kProbes = "probes";      // + "connections": true for the per-connection list
inline constexpr std::string_view kRestart = "restart";    // + "worker": index, "all" or "bridge"
inline constexpr std::string_view kSet = "set";            // + "key" (string), "value" (any JSON)
inline constexpr std::string_view kDrain = "drain";
inline constexpr std::string_view kShutdown = "shutdown";

// Field names.
inline constexpr const char* kCmd = "cmd";
inline constexpr const char* kOk = "ok";
inline constexpr const char* kError = "error";
inline constexpr const char* kConnections = "connections";
inline constexpr const char* kWorker = "worker";
inline constexpr const char* kKey = "key";
inline constexpr const char* kValue = "value";
inline constexpr const char* kTop = "top";
inline constexpr std::string_view kAllWorkers = "all";
inline constexpr std::string_view kBridge = "bridge";
inline constexpr uint64_t kDefaultTopChannels = 10;  // channels per top list in `channels`

// ---- requests ---------------------------------------------------------------------------

inline nlohmann::json request(std::string_view command) { return {{kCmd, command}}; }

inline nlohmann::json probes_request(bool connections) {
    nlohmann::json r = request(kProbes);
    if (connections) r[kConnections] = true;
    return r;
}

// `top`: how many channels each of the two top lists holds; nullopt = the server's default.
inline nlohmann::json channels_request(std::optional<uint64_t> top) {
    nlohmann::json r = request(kChannels);
    if (top) r[kTop] = *top;
    return r;
}

// `worker` is a worker index, or kAllWorkers / kBridge.
inline nlohmann::json restart_request(nlohmann::json worker) {
    nlohmann::json r = request(kRestart);
    r[kWorker] = std::move(worker);
    return r;
}

inline nlohmann::json set_request(std::string key, nlohmann::json value) {
    nlohmann::json r = request(kSet);
    r[kKey] = std::move(key);
    r[kValue] = std::move(value);
    return r;
}

// How long a client waits for the answer: a restart answers once the new process is ready.
inline int answer_timeout_s(std::string_view command) { return command == kRestart ? 60 : 10; }

// ---- answers ----------------------------------------------------------------------------

// {"ok": false, "error": message}
inline nlohmann::json error_reply(std::string message) { return {{kOk, false}, {kError, std::move(message)}}; }

// {"ok": true} plus every key of `extra` (an object); any other JSON goes under "result".
inline nlohmann::json ok_reply(nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json out = {{kOk, true}};
    if (extra.is_object()) {
        for (auto& [key, value] : extra.items()) {
            if (key != kOk) out[key] = std::move(value);
        }
    } else if (!extra.is_null()) {
        out["result"] = std::move(extra);
    }
    return out;
}

inline bool is_ok(const nlohmann::json& answer) {
    auto it = answer.find(kOk);
    return it != answer.end() && *it == nlohmann::json(true);
}

// The answer's "error" sentence, or "" when it has none.
inline std::string error_of(const nlohmann::json& answer) {
    auto it = answer.find(kError);
    return it != answer.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace ringcast::control
