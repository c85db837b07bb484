// The control socket: socket file lifecycle, clients, line framing and JSON dispatch.
#include "supervisor/control_server.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>

#include "supervisor/nonblocking_socket.hpp"
#include "base/log.hpp"

namespace ringcast::supervisor {

namespace {

using nlohmann::json;

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kReadBudget = 256 * 1024;  // per client per on_poll, so one cannot starve others

std::string errno_text(int err) {
    return std::strerror(err);
}

// Answers are dumped with invalid UTF-8 replaced: an error may quote the client's bytes.
std::string to_line(const json& answer) {
    return answer.dump(-1, ' ', false, json::error_handler_t::replace) + '\n';
}

bool fill_address(const std::string& path, sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return true;
}

// Makes every missing directory above `path` with mode 0755 (umask notwithstanding).
std::string make_parent_directories(const std::string& path) {
    for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
        std::string dir = path.substr(0, pos);
        if (::mkdir(dir.c_str(), 0755) == 0) {
            ::chmod(dir.c_str(), 0755);
            continue;
        }
        int err = errno;
        struct stat st {};
        if (err == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        if (err == EEXIST)
            return "cannot create directory " + dir + ": exists and is not a directory";
        return "cannot create directory " + dir + ": " + errno_text(err);
    }
    return {};
}

// "" when nothing is there or a stale socket was removed; else why we must not bind.
std::string clear_stale_socket(const std::string& path, const sockaddr_un& addr) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return "cannot inspect it: " + errno_text(errno);
    }
    if (!S_ISSOCK(st.st_mode)) return "exists and is not a socket; refusing to replace it";
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe.valid()) return "cannot probe it: socket: " + errno_text(errno);
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
        errno == EAGAIN) {
        // EAGAIN: a full accept backlog, which only a live listener has.
        return "another server is answering on it (is ringcast already running?)";
    }
    int err = errno;
    if (err == ENOENT) return {};  // removed meanwhile
    if (err != ECONNREFUSED) return "cannot probe it: connect: " + errno_text(err);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return "cannot remove the stale socket: " + errno_text(errno);
    RC_LOG_INFO("event=control_socket_stale_removed path=%s", path.c_str());
    return {};
}

// A group name or a numeric gid.
std::variant<gid_t, std::string> resolve_group(const std::string& name) {
    if (name.find_first_not_of("0123456789") == std::string::npos && name.size() < 10)
        return static_cast<gid_t>(std::stoul(name));
    std::vector<char> buf(16 * 1024);
    struct group g {};
    struct group* found = nullptr;
    int rc;
    while ((rc = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found)) == ERANGE &&
           buf.size() < (1u << 22))
        buf.resize(buf.size() * 2);
    if (rc != 0) return "cannot look up group '" + name + "': " + errno_text(rc);
    if (found == nullptr) return "no such group '" + name + "'";
    return g.gr_gid;
}

}  // namespace

std::variant<std::unique_ptr<ControlServer>, std::string> ControlServer::open(
    const std::string& path, const std::string& group) {
    const std::string what = "control socket " + path + ": ";
    sockaddr_un addr{};
    if (!fill_address(path, addr)) {
        return what + "path must be 1.." + std::to_string(sizeof addr.sun_path - 1) +
               " bytes, got " + std::to_string(path.size());
    }
    if (std::string err = make_parent_directories(path); !err.empty()) return what + err;
    if (std::string err = clear_stale_socket(path, addr); !err.empty()) return what + err;

    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return what + "socket: " + errno_text(errno);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EADDRINUSE) return what + "created by another process meanwhile";
        return what + "bind: " + errno_text(errno);
    }
    // From here on the file is ours: remove it again on any failure. Mode and group are set
    // before listen(), so nobody can connect while they are still the umask's.
    auto fail = [&](std::string why) {
        ::unlink(path.c_str());
        return what + why;
    };
    if (::chmod(path.c_str(), 0660) != 0) return fail("chmod 0660: " + errno_text(errno));
    if (!group.empty()) {
        auto gid = resolve_group(group);
        if (auto* err = std::get_if<std::string>(&gid)) return fail(*err);
        if (::chown(path.c_str(), static_cast<uid_t>(-1), std::get<gid_t>(gid)) != 0)
            return fail("chown to group '" + group + "': " + errno_text(errno));
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return fail("stat: " + errno_text(errno));
    if (::listen(fd.get(), 128) != 0) return fail("listen: " + errno_text(errno));
    return std::unique_ptr<ControlServer>(
        new ControlServer(path, std::move(fd), st.st_dev, st.st_ino));
}

ControlServer::ControlServer(std::string path, Fd listener, dev_t dev, ino_t ino)
    : path_(std::move(path)),
      listener_(std::move(listener)),
      dev_(dev),
      ino_(ino),
      owner_pid_(::getpid()),
      clients_(kMaxClients) {}

ControlServer::~ControlServer() {
    clients_.clear();
    listener_.reset();
    if (::getpid() != owner_pid_) return;
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
        ::unlink(path_.c_str());
}

size_t ControlServer::client_count() const {
    size_t n = 0;
    for (const auto& c : clients_) n += c.fd.valid() ? 1 : 0;
    return n;
}

void ControlServer::add_pollfds(std::vector<pollfd>& out) const {
    if (monotonic_ms() >= accept_paused_until_ms_) out.push_back({listener_.get(), POLLIN, 0});
    for (const auto& c : clients_) {
        if (!c.fd.valid()) continue;
        short events = 0;
        if (!c.read_closed && !c.closing) events |= POLLIN;
        if (c.out_sent < c.out.size()) events |= POLLOUT;
        // With no events left, poll still reports POLLHUP when the peer is gone for good.
        out.push_back({c.fd.get(), events, 0});
    }
}

void ControlServer::on_poll(const std::vector<pollfd>& fds, ControlHandler& handler) {
    bool accept_ready = false;
    for (const pollfd& p : fds) {
        if (p.revents == 0 || p.fd < 0) continue;
        if (p.fd == listener_.get()) {
            accept_ready = true;
            continue;
        }
        uint32_t slot = 0;
        while (slot < clients_.size() && clients_[slot].fd.get() != p.fd) ++slot;
        if (slot == clients_.size()) continue;  // not ours, or closed earlier in this call
        Client& c = clients_[slot];
        const uint32_t gen = c.generation;
        auto alive = [&] { return c.fd.valid() && c.generation == gen; };
        if (p.revents & POLLOUT) flush(c);
        if (alive() && (p.revents & (POLLIN | POLLHUP | POLLERR))) read_client(slot, handler);
        // POLLHUP on a Unix stream socket: the peer closed both directions; nobody can read
        // an answer any more.
        if (alive() && (p.revents & (POLLHUP | POLLERR))) drop(c);
    }
    const uint64_t now = monotonic_ms();
    for (auto& c : clients_) retire_finished(c, now);
    // Accept last: a client closed above frees its fd number, which accept may hand out
    // again; by now no entry of `fds` is looked at any more.
    if (accept_ready) accept_clients();
}

void ControlServer::reply(ControlClientId id, const json& answer) {
    if (id.slot >= clients_.size()) return;
    Client& c = clients_[id.slot];
    if (!c.fd.valid() || c.generation != id.generation) return;
    if (c.outstanding > 0) --c.outstanding;
    queue(c, answer);
    if (c.fd.valid() && c.generation == id.generation) retire_finished(c, monotonic_ms());
}

void ControlServer::accept_clients() {
    accept_batch(listener_.get(), "control", accept_paused_until_ms_, [&](Fd fd) {
        const auto free_slot = std::find_if(clients_.begin(), clients_.end(),
                                            [](const Client& c) { return !c.fd.valid(); });
        if (free_slot == clients_.end()) {
            RC_LOG_WARN("event=control_client_refused reason=too_many_clients max=%zu",
                        kMaxClients);
            std::string line = to_line(error_reply("too many control clients (at most " +
                                                   std::to_string(kMaxClients) + ")"));
            // Best effort: a fresh socket's buffer takes one short line without blocking.
            (void)!::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            return;  // fd closes here
        }
        free_slot->fd = std::move(fd);
        free_slot->generation = next_generation_++;
        if (next_generation_ == 0) next_generation_ = 1;  // 0 never names a live client
    });
}

void ControlServer::read_client(uint32_t slot, ControlHandler& handler) {
    Client& c = clients_[slot];
    const uint32_t gen = c.generation;
    auto alive = [&] { return c.fd.valid() && c.generation == gen; };
    if (c.read_closed || c.closing) return;
    char buf[kReadChunk];
    size_t budget = kReadBudget;
    while (budget > 0 && alive() && !c.closing) {
        ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) drop(c);
            return;
        }
        if (n == 0) {
            // EOF: the client sends no more requests but may still wait for its answers.
            c.read_closed = true;
            if (!c.in.empty()) {
                std::string last = std::move(c.in);
                c.in.clear();
                if (last.size() > kMaxLineBytes) {
                    queue(c, error_reply("request too long"));
                    if (alive()) close_when_flushed(c);
                } else {
                    handle_line(slot, last, handler);
                }
            }
            return;
        }
        budget -= std::min(budget, static_cast<size_t>(n));
        const size_t scan_from = c.in.size();
        c.in.append(buf, static_cast<size_t>(n));
        size_t start = 0;
        for (size_t nl = c.in.find('\n', scan_from); nl != std::string::npos;
             nl = c.in.find('\n', start)) {
            std::string line = c.in.substr(start, nl - start);
            start = nl + 1;
            if (line.size() > kMaxLineBytes) {
                queue(c, error_reply("request too long"));
                if (alive()) close_when_flushed(c);
                return;
            }
            if (!handle_line(slot, line, handler)) return;  // closed while answering
            if (c.closing) return;
        }
        c.in.erase(0, start);
        if (c.in.size() > kMaxLineBytes) {
            queue(c, error_reply("request too long"));
            if (alive()) close_when_flushed(c);
            return;
        }
    }
}

bool ControlServer::handle_line(uint32_t slot, std::string_view line, ControlHandler& handler) {
    Client& c = clients_[slot];
    const ControlClientId id{slot, c.generation};
    auto alive = [&] { return c.fd.valid() && c.generation == id.generation; };
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return true;  // blank line

    json request;
    try {
        request = json::parse(line);
    } catch (const json::parse_error& e) {
        std::string why = e.what();
        // "[json.exception.parse_error.101] parse error at line 1, ..." -> "parse error at ..."
        if (auto pos = why.find("] "); why.starts_with("[json.exception.") && pos != why.npos)
            why.erase(0, pos + 2);
        queue(c, error_reply("malformed JSON: " + why));
        return alive();
    }
    if (!request.is_object()) {
        queue(c, error_reply("a request must be a JSON object, like {\"cmd\":\"status\"}"));
        return alive();
    }
    auto cmd = request.find(control::kCmd);
    if (cmd == request.end()) {
        queue(c, error_reply(
                     "missing \"cmd\": a request names its command, like {\"cmd\":\"status\"}"));
        return alive();
    }
    if (!cmd->is_string()) {
        queue(c, error_reply("\"cmd\" must be a string"));
        return alive();
    }

    ++c.outstanding;
    const uint32_t before = c.outstanding;
    try {
        handler.on_request(request, id);
    } catch (const std::exception& e) {
        // A handler bug (say, a type error on a field) fails that request, not the supervisor.
        RC_LOG_WARN("event=control_handler_error cmd=%s error=\"%s\"",
                    cmd->get_ref<const std::string&>().c_str(), e.what());
        if (alive() && c.outstanding == before)
            reply(id, error_reply(std::string("internal error: ") + e.what()));
    }
    return alive();
}

void ControlServer::queue(Client& c, const json& answer) {
    const size_t pending = c.out.size() - c.out_sent;
    if (pending > kMaxPendingOutput) {
        // It has not read earlier answers; a single large answer is fine, a pile of them is not.
        RC_LOG_WARN("event=control_client_closed reason=unread_answers pending_bytes=%zu", pending);
        drop(c);
        return;
    }
    c.out += to_line(answer);
    flush(c);
}

void ControlServer::flush(Client& c) {
    if (send_pending(c.fd.get(), c.out, c.out_sent) == SendStatus::Failed) {
        drop(c);  // EPIPE, ECONNRESET: the client is gone
        return;
    }
    if (c.out_sent == c.out.size()) {
        c.out.clear();
        c.out_sent = 0;
        if (c.closing) drop(c);
    } else if (c.out_sent >= 64 * 1024 && c.out_sent * 2 >= c.out.size()) {
        c.out.erase(0, c.out_sent);
        c.out_sent = 0;
    }
}

void ControlServer::close_when_flushed(Client& c) {
    c.closing = true;
    c.closing_since_ms = monotonic_ms();
    c.in.clear();
    flush(c);
}

void ControlServer::drop(Client& c) {
    c = Client{};
}

void ControlServer::retire_finished(Client& c, uint64_t now) {
    if (!c.fd.valid()) return;
    const bool flushed = c.out_sent == c.out.size();
    if (c.closing && (flushed || now - c.closing_since_ms >= kClosingTimeoutMs)) {
        drop(c);
    } else if (c.read_closed && c.outstanding == 0 && flushed) {
        drop(c);  // said EOF and has every answer
    }
}

}  // namespace ringcast::supervisor
