/*
 * The control socket: a Unix stream socket speaking one JSON object per line each way
 * (docs/control.md). This file owns the socket file, the clients and their byte buffers;
 * what a command means is the ControlHandler's business. Everything is non-blocking and
 * driven by the supervisor's poll loop, so a stuck or vanished client never stalls it:
 *
 *   loop:  fds = own fds; server.add_pollfds(fds); poll(fds, ..., <= 1000 ms);
 *          server.on_poll(fds, handler)        // accept, read, dispatch, write, expire
 *          ... later, from anywhere in the loop: server.reply(id, answer)
 *
 * Limits: a request line is at most 64 KiB (longer: error, then close); at most 64 clients
 * (more: an error line, then close); a client with more than 1 MiB of unread answers is
 * closed. Each request gets exactly one answer, in the order the handler gives them.
 */
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "base/fd.hpp"
#include "supervisor/control_protocol.hpp"

namespace ringcast::supervisor {

// Names one client connection. A slot is reused by later clients; the generation tells
// them apart, so an answer for a client that went away is dropped, not misdelivered.
struct ControlClientId {
    uint32_t slot = 0;
    uint32_t generation = 0;
    friend bool operator==(const ControlClientId&, const ControlClientId&) = default;
};

class ControlHandler {
  public:
    virtual ~ControlHandler() = default;
    // Called for each well-formed request: a JSON object whose "cmd" is a string. Answer it
    // exactly once, now or later, with ControlServer::reply(id, ...) (a restart answers when
    // the new worker is ready). Unknown commands are answered here too:
    // error_reply("unknown command: foo").
    virtual void on_request(const nlohmann::json& request, ControlClientId id) = 0;
};

using control::error_reply;
using control::ok_reply;

class ControlServer {
  public:
    static constexpr size_t kMaxLineBytes = control::kMaxRequestBytes;
    static constexpr size_t kMaxClients = 64;
    static constexpr size_t kMaxPendingOutput = 1u << 20;  // unread answers per client
    static constexpr int kClosingTimeoutMs = 5000;         // flushing a last error line

    // Creates the socket at `path`: missing parent directories are made with mode 0755; a
    // stale socket file (nobody answers on it) is replaced; a live one is refused, as is any
    // other kind of file. The socket is mode 0660 and, when `group` is not empty, owned by
    // that group (a name or a numeric gid) before anyone can connect. Errors name the path.
    static std::variant<std::unique_ptr<ControlServer>, std::string> open(const std::string& path,
                                                                          const std::string& group);
    ~ControlServer();  // closes every client; unlinks the socket if it is still ours
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Appends the listener and every client (POLLIN while reading, POLLOUT while an answer
    // is pending).
    void add_pollfds(std::vector<pollfd>& out) const;
    // Handles whatever poll reported for our fds (others in `fds` are ignored): accepts,
    // reads, splits lines, parses, dispatches to `handler`, writes pending answers, closes
    // clients that are done or past their limits. Call it after every poll, even one that
    // timed out.
    void on_poll(const std::vector<pollfd>& fds, ControlHandler& handler);
    // Queues `answer` as one line for client `id` and tries to send it right away. A no-op
    // when that client has gone away. Callable at any time, also from inside on_request.
    void reply(ControlClientId id, const nlohmann::json& answer);

    const std::string& path() const { return path_; }
    size_t client_count() const;

  private:
    struct Client {
        Fd fd;
        uint32_t generation = 0;
        std::string in;
        std::string out;
        size_t out_sent = 0;
        uint32_t outstanding = 0;  // requests dispatched and not answered yet
        bool read_closed = false;  // the client sent EOF: no more requests
        bool closing = false;      // close once `out` is flushed (after a fatal error line)
        uint64_t closing_since_ms = 0;
    };

    ControlServer(std::string path, Fd listener, dev_t dev, ino_t ino);
    void accept_clients();
    void read_client(uint32_t slot, ControlHandler& handler);
    // Returns false when the client was closed while handling the line.
    bool handle_line(uint32_t slot, std::string_view line, ControlHandler& handler);
    void queue(Client& c, const nlohmann::json& answer);
    void flush(Client& c);
    void close_when_flushed(Client& c);
    void drop(Client& c);
    void retire_finished(Client& c, uint64_t now_ms);

    std::string path_;
    Fd listener_;
    dev_t dev_;  // identity of the socket file we created, so we never unlink someone else's
    ino_t ino_;
    pid_t owner_pid_;  // a forked child must not unlink the supervisor's socket
    std::vector<Client> clients_;
    uint32_t next_generation_ = 1;
    uint64_t accept_paused_until_ms_ = 0;  // after EMFILE and the like
};

}  // namespace ringcast::supervisor
