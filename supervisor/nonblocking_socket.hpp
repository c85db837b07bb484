/*
 * What the supervisor's poll-driven servers (control_server, metrics_server) do alike with
 * their non-blocking stream sockets: accept waiting clients in bounded batches, backing off
 * when out of fds instead of spinning, and send a client's pending bytes without blocking.
 */
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "base/fd.hpp"

namespace ringcast::supervisor {

// CLOCK_MONOTONIC in milliseconds: the clock of the servers' deadlines.
uint64_t monotonic_ms();

// After accept4 failed with `err` on the listener of `server` ("control", "metrics"): true
// to try the next connection (EINTR, ECONNABORTED). Otherwise false; an error other than
// EAGAIN is logged, and out of fds or memory `paused_until_ms` is set 100 ms ahead, so the
// caller leaves the listener out of poll until then.
bool handle_accept_error(int err, const char* server, uint64_t& paused_until_ms);

// Accepts up to 64 waiting connections, non-blocking and close-on-exec, and hands each to
// on_accept(Fd) (a bound, so a connection storm cannot keep the poll loop here).
template <class OnAccept>
void accept_batch(int listener, const char* server, uint64_t& paused_until_ms,
                  OnAccept&& on_accept) {
    constexpr int kAcceptBatch = 64;
    for (int i = 0; i < kAcceptBatch; ++i) {
        Fd fd(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd.valid()) {
            on_accept(std::move(fd));
        } else if (!handle_accept_error(errno, server, paused_until_ms)) {
            return;
        }
    }
}

enum class SendStatus {
    Sent,        // all of `out` has gone
    WouldBlock,  // the socket buffer is full: wait for POLLOUT
    Failed,      // EPIPE, ECONNRESET and the like: the client is gone
};

// Sends out[sent..] without blocking and without SIGPIPE, advancing `sent`.
SendStatus send_pending(int fd, const std::string& out, size_t& sent);

}  // namespace ringcast::supervisor
