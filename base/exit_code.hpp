// Exit codes of the processes the supervisor starts (workers, the bridge), which it acts on.
#pragma once

namespace ringcast {

inline constexpr int kExitOk = 0;
// Cannot ever work here (io_uring unavailable, segment mismatch, bad options): do not restart.
inline constexpr int kExitFatal = 3;

}  // namespace ringcast
