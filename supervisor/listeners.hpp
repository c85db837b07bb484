// The SO_REUSEPORT listening sockets: opened once by the supervisor, one per shard, and
// kept for the life of the cluster so nothing waiting in an accept queue is lost when a
// worker restarts.
#pragma once

#include <string>
#include <vector>

#include "base/fd.hpp"

namespace ringcast::supervisor {

struct ListenSpec {
    std::string host;  // "" = every address (dual-stack when IPv6 is there)
    int port = 9002;
    bool ipv6 = false;
};

// Opens `count` listeners bound to the same address. On failure returns an empty vector
// and sets *error (e.g. "listen 127.0.0.1:9002: Address already in use").
std::vector<Fd> open_listeners(const ListenSpec& spec, size_t count, std::string* error);

// Opens one plain TCP listener (metrics, control over TCP); -1 with *error on failure.
Fd open_listener(const ListenSpec& spec, std::string* error);

}  // namespace ringcast::supervisor
