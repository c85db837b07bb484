// What the supervisor shares between its parts about its children: the units and backoff of
// its deadlines (on worker/clock.hpp's monotonic_ns), and the command channel (SOCK_SEQPACKET,
// one command per message, optionally carrying one fd).
#pragma once

#include <cstdint>
#include <string>

#include "worker/clock.hpp"

namespace ringcast::supervisor {

inline constexpr uint64_t kMs = 1000000;
inline constexpr uint64_t kInitialBackoffMs = 100;
inline constexpr uint64_t kMaxBackoffMs = 5000;
inline constexpr uint64_t kStableNs = 10000 * kMs;  // a child that lived this long restarts at once

// One command, with `fd` passed over SCM_RIGHTS when >= 0. False when it was not sent whole.
bool send_command(int sock, const std::string& cmd, int fd);

}  // namespace ringcast::supervisor
