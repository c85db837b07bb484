// What the supervisor shares between its parts about its children: the monotonic clock its
// deadlines use, the restart backoff, and the command channel (SOCK_SEQPACKET, one command
// per message, optionally carrying one fd).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

namespace ringcast::supervisor {

inline constexpr uint64_t kMs = 1000000;
inline constexpr uint64_t kInitialBackoffMs = 100;
inline constexpr uint64_t kMaxBackoffMs = 5000;
inline constexpr uint64_t kStableNs = 10000 * kMs;  // a child that lived this long restarts at once

inline uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// One command, with `fd` passed over SCM_RIGHTS when >= 0. False when it was not sent whole.
bool send_command(int sock, const std::string& cmd, int fd);

}  // namespace ringcast::supervisor
