// The metrics endpoint: accept, read one request head, answer, close.
#include "supervisor/metrics_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>

#include "supervisor/listeners.hpp"
#include "supervisor/nonblocking_socket.hpp"
#include "supervisor/status_page.hpp"
#include "base/log.hpp"

namespace ringcast::supervisor {

namespace {

constexpr size_t kReadChunk = 4096;
constexpr int kReadsPerPoll = 16;     // so a client streaming junk cannot keep on_poll busy
constexpr uint64_t kLingerMs = 1000;  // waiting for the client's EOF after our response
// The status page loads nothing from elsewhere and may only fetch from us; it is read-only,
// so nobody needs to frame it.
constexpr const char* kPageHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'\r\nX-Content-Type-Options: nosniff\r\n";

struct Response {
    int status;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
    std::string extra_headers = {};  // full "Name: value\r\n" lines
};

const char* reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
    }
    return "Unknown";
}

std::string serialize(const Response& r, bool head_only) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                      "\r\nContent-Type: " + r.content_type +
                      "\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\nCache-Control: no-store\r\nConnection: close\r\n";
    out += r.extra_headers;
    out += "\r\n";
    if (!head_only) out += r.body;
    return out;
}

// Where the request head ends (just past its blank line), or npos while incomplete.
size_t head_end(std::string_view in) {
    size_t crlf = in.find("\r\n\r\n");
    size_t lf = in.find("\n\n");  // tolerated, as most servers do
    if (crlf == std::string_view::npos && lf == std::string_view::npos)
        return std::string_view::npos;
    if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf))
        return crlf + 4;
    return lf + 2;
}

}  // namespace

std::variant<std::unique_ptr<MetricsServer>, std::string> MetricsServer::open(
    const std::string& host, uint16_t port, bool ipv6, MetricsLimits limits) {
    std::string error;
    Fd fd = open_listener(ListenSpec{host, port, ipv6}, &error);
    if (!fd.valid()) return "metrics endpoint: " + error;
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0)
        return std::string("metrics endpoint: fcntl O_NONBLOCK: ") + std::strerror(errno);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return std::string("metrics endpoint: getsockname: ") + std::strerror(errno);
    uint16_t bound = ss.ss_family == AF_INET6
                         ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                         : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(fd), bound, limits));
}

MetricsServer::MetricsServer(Fd listener, uint16_t port, MetricsLimits limits)
    : listener_(std::move(listener)), port_(port), limits_(limits), clients_(limits.max_clients) {}

MetricsServer::~MetricsServer() = default;

size_t MetricsServer::client_count() const {
    size_t n = 0;
    for (const auto& c : clients_) n += c.fd.valid() ? 1 : 0;
    return n;
}

void MetricsServer::add_pollfds(std::vector<pollfd>& out) const {
    if (monotonic_ms() >= accept_paused_until_ms_) out.push_back({listener_.get(), POLLIN, 0});
    for (const auto& c : clients_) {
        if (!c.fd.valid()) continue;
        const bool writing = c.answered && !c.lingering;
        out.push_back({c.fd.get(), static_cast<short>(writing ? POLLOUT : POLLIN), 0});
    }
}

void MetricsServer::on_poll(const std::vector<pollfd>& fds, MetricsHandler& handler) {
    bool accept_ready = false;
    for (const pollfd& p : fds) {
        if (p.revents == 0 || p.fd < 0) continue;
        if (p.fd == listener_.get()) {
            accept_ready = true;
            continue;
        }
        Client* c = nullptr;
        for (auto& candidate : clients_) {
            if (candidate.fd.get() == p.fd) {
                c = &candidate;
                break;
            }
        }
        if (c == nullptr) continue;  // not ours, or closed earlier in this call
        if (p.revents & POLLOUT) flush(*c);
        if (c->fd.valid() && (p.revents & (POLLIN | POLLHUP | POLLERR))) read_client(*c, handler);
        if (c->fd.valid() && (p.revents & (POLLHUP | POLLERR))) drop(*c);
    }
    const uint64_t now = monotonic_ms();
    for (auto& c : clients_) {
        if (c.fd.valid() && now >= c.deadline_ms) drop(c);
    }
    // Accept last, once no entry of `fds` is looked at any more (fd numbers get reused).
    if (accept_ready) accept_clients();
}

void MetricsServer::accept_clients() {
    accept_batch(listener_.get(), "metrics", accept_paused_until_ms_, [&](Fd fd) {
        const auto free_slot = std::find_if(clients_.begin(), clients_.end(),
                                            [](const Client& c) { return !c.fd.valid(); });
        if (free_slot == clients_.end()) {
            RC_LOG_DEBUG("event=metrics_client_refused reason=too_many_clients max=%zu",
                         limits_.max_clients);
            std::string busy = serialize({503, "too many clients\n"}, false);
            (void)!::send(fd.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            return;  // fd closes here
        }
        free_slot->fd = std::move(fd);
        free_slot->deadline_ms = monotonic_ms() + limits_.client_timeout_ms;
    });
}

void MetricsServer::read_client(Client& c, MetricsHandler& handler) {
    char buf[kReadChunk];
    for (int reads = 0; c.fd.valid() && reads < kReadsPerPoll; ++reads) {
        ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) drop(c);
            return;
        }
        if (n == 0) {
            // EOF after our response: the goodbye we waited for. Before a complete request:
            // the client gave up. While the response is still being written, keep writing.
            if (c.lingering || !c.answered) drop(c);
            return;
        }
        if (c.answered) continue;  // a body or a second request: read and ignore
        c.in.append(buf, static_cast<size_t>(n));
        const size_t end = head_end(c.in);
        if (end == std::string::npos ? c.in.size() > kMaxRequestHead : end > kMaxRequestHead) {
            c.out = serialize({431, "request head too large (at most 8 KiB)\n"}, false);
            c.answered = true;
            flush(c);
            return;
        }
        if (end != std::string::npos) {
            answer(c, handler);
            return;
        }
    }
}

void MetricsServer::answer(Client& c, MetricsHandler& handler) {
    std::string_view head = c.in;
    std::string_view line = head.substr(0, head.find('\n'));
    if (line.ends_with('\r')) line.remove_suffix(1);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == line.npos ? line.npos : line.find(' ', sp1 + 1);
    Response r{400, "bad request\n"};
    bool head_only = false;
    if (sp1 != line.npos && sp2 != line.npos && line.find(' ', sp2 + 1) == line.npos &&
        line.substr(sp2 + 1).starts_with("HTTP/1.")) {
        const std::string_view method = line.substr(0, sp1);
        std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
        path = path.substr(0, path.find_first_of("?#"));
        head_only = method == "HEAD";
        const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz" ||
                           path == "/" || path == "/status.json";
        if (!known) {
            r = {404, "not found: try /, /metrics, /healthz or /readyz\n"};
        } else if (method != "GET" && method != "HEAD") {
            r = {405, "method not allowed\n", "text/plain; charset=utf-8", "Allow: GET, HEAD\r\n"};
        } else if (path == "/healthz") {
            r = {200, "ok\n"};
        } else if (path == "/") {
            r = {200, std::string(status_page_html()), "text/html; charset=utf-8", kPageHeaders};
        } else {
            try {
                if (path == "/status.json") {
                    r = {200, handler.live_status(), "application/json"};
                } else if (path == "/metrics") {
                    r = {200, handler.metrics(), "text/plain; version=0.0.4; charset=utf-8"};
                } else if (handler.ready()) {
                    r = {200, "ready\n"};
                } else {
                    r = {503, handler.not_ready_reason() + "\n"};
                }
            } catch (const std::exception& e) {
                RC_LOG_WARN("event=metrics_handler_error error=\"%s\"", e.what());
                r = {500, "internal error\n"};
            }
        }
    }
    c.in.clear();
    c.out = serialize(r, head_only);
    c.answered = true;
    flush(c);
}

void MetricsServer::flush(Client& c) {
    switch (send_pending(c.fd.get(), c.out, c.out_sent)) {
        case SendStatus::Failed:
            drop(c);
            return;
        case SendStatus::WouldBlock:
            return;
        case SendStatus::Sent:
            break;
    }
    if (c.answered && !c.lingering) {
        // Half-close and wait briefly for the client's EOF: closing with unread bytes in our
        // receive queue would send a RST that can destroy the response in flight.
        ::shutdown(c.fd.get(), SHUT_WR);
        c.out = std::string();
        c.out_sent = 0;
        c.lingering = true;
        c.deadline_ms = std::min(c.deadline_ms, monotonic_ms() + kLingerMs);
    }
}

}  // namespace ringcast::supervisor
