// What the bridge process is told by the supervisor, and its command-line form
// (`ringcast --bridge '<json>'`, fds inherited by number). Plain data.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ringcast::bridge {

struct BridgeOptions {
    std::string segment;        // shm path to attach
    uint32_t member = 0;        // the bridge's index in the ring fabric (= number of shards)
    std::vector<int> wake_fds;  // eventfd of every member, indexed by member
    int control_fd = -1;        // SOCK_SEQPACKET to the supervisor
    std::string redis_host = "127.0.0.1";
    uint16_t redis_port = 6379;
    std::string redis_username;       // "" = AUTH with the password alone (or no AUTH)
    std::string redis_password_file;  // "" = no AUTH; the bridge reads it: no secret on argv
    std::string stream = "ringcast";
    std::string node_id;
    uint64_t maxlen = 100000;
    uint64_t buffer_messages = 100000;
    bool drop_newest = false;   // overflow policy; false = drop the oldest
    uint64_t epoch = 0;         // identifies this node's ring fabric (its sequences start over)
    bool resume = false;        // continue from the member's cursors instead of joining
    int log_level = 1;
};

std::string encode_bridge_spec(const BridgeOptions& o);
std::variant<BridgeOptions, std::string> decode_bridge_spec(const std::string& text);

// Runs the bridge until SIGTERM/SIGINT or "stop" (then flushes what it holds to Redis,
// bounded in time). Exit 0 when stopped, kExitFatal when it cannot attach.
int run_bridge(const BridgeOptions& options);

}  // namespace ringcast::bridge
