// The supervisor <-> child command channel: a SOCK_SEQPACKET socket pair, one command per
// message (a short text such as "drain" or "handoff"), optionally carrying one fd over
// SCM_RIGHTS. Both ends use these two calls so the framing lives in one place.
#pragma once

#include <string>

namespace ringcast {

// Longest command either side sends; longer messages are truncated by the reader. Most are a
// word or two; the admission settings (an Origin allowlist, key file paths) are the longest.
inline constexpr size_t kMaxCommandBytes = 64 * 1024;

// One command, with `fd` passed over SCM_RIGHTS when >= 0. False when it was not sent whole.
bool send_command(int sock, const std::string& cmd, int fd);

// Reads one command; "" on EOF, error, or (with MSG_DONTWAIT in `flags`) nothing waiting.
// An fd sent along lands in *fd (-1 when none came); it is close-on-exec.
std::string read_command(int sock, int* fd, int flags = 0);

}  // namespace ringcast
