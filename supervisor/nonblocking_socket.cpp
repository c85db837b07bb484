// Accept back-off and pending-byte sends of the supervisor's poll-driven servers.
#include "supervisor/nonblocking_socket.hpp"

#include <cstring>
#include <ctime>

#include "base/log.hpp"

namespace ringcast::supervisor {

namespace {

constexpr uint64_t kAcceptPauseMs = 100;  // after EMFILE/ENFILE: retry later instead of spinning

}  // namespace

uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

bool handle_accept_error(int err, const char* server, uint64_t& paused_until_ms) {
    if (err == EINTR || err == ECONNABORTED) return true;
    if (err == EAGAIN) return false;
    RC_LOG_WARN("event=%s_accept_failed error=\"%s\"", server, std::strerror(err));
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
        paused_until_ms = monotonic_ms() + kAcceptPauseMs;
    return false;
}

SendStatus send_pending(int fd, const std::string& out, size_t& sent) {
    while (sent < out.size()) {
        ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        return errno == EAGAIN ? SendStatus::WouldBlock : SendStatus::Failed;
    }
    return SendStatus::Sent;
}

}  // namespace ringcast::supervisor
