/*
 * The metrics endpoint: a deliberately tiny HTTP/1.1 server for Prometheus and for health
 * checks (load balancers, Kubernetes probes, systemd). One request per connection, answered
 * with `Connection: close`; non-blocking and driven by the supervisor's poll loop like the
 * control socket (see control_server.hpp for the loop).
 *
 *   GET|HEAD /metrics      200 text/plain; version=0.0.4; charset=utf-8   (MetricsHandler::metrics)
 *   GET|HEAD /healthz      200 "ok"          the supervisor's loop is turning
 *   GET|HEAD /readyz       200 "ready", or 503 with MetricsHandler::not_ready_reason()
 *   GET|HEAD /             200 text/html: the live status page (supervisor/status_page.hpp),
 *                          self-contained and read-only; it polls /status.json
 *   GET|HEAD /status.json  200 application/json (MetricsHandler::live_status)
 *   other paths 404, other methods 405 (with Allow), a request head over 8 KiB 431,
 *   a garbled request line 400. A query string is ignored by the server (the page reads
 *   its own, e.g. /?interval=500).
 *
 * Bounded: at most max_clients connections at once (more are refused with a 503 and
 * closed), and a client that has not been answered and gone within client_timeout_ms is
 * dropped.
 */
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/fd.hpp"

namespace ringcast::supervisor {

class MetricsHandler {
  public:
    virtual ~MetricsHandler() = default;
    virtual std::string metrics() = 0;  // Prometheus text, e.g. render_prometheus(snapshot)
    virtual bool ready() = 0;
    // The /readyz body when not ready ("draining", "starting", ...).
    virtual std::string not_ready_reason() { return "draining"; }
    // The /status.json body: live_status_json(snapshot) of supervisor/status_page.hpp.
    virtual std::string live_status() = 0;
};

struct MetricsLimits {
    size_t max_clients = 64;
    uint32_t client_timeout_ms = 5000;  // from accept to the end of the response
};

class MetricsServer {
  public:
    static constexpr size_t kMaxRequestHead = 8 * 1024;

    // Listens on host:port ("" host = every address, dual-stack; port 0 = any free port, see
    // port()). Errors name the address: "metrics 127.0.0.1:9100: Address already in use".
    static std::variant<std::unique_ptr<MetricsServer>, std::string> open(
        const std::string& host, uint16_t port, bool ipv6, MetricsLimits limits = {});
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void add_pollfds(std::vector<pollfd>& out) const;
    // Call after every poll, also one that timed out: it expires slow clients.
    void on_poll(const std::vector<pollfd>& fds, MetricsHandler& handler);
    uint16_t port() const { return port_; }
    size_t client_count() const;

  private:
    struct Client {
        Fd fd;
        std::string in;
        std::string out;
        size_t out_sent = 0;
        bool answered = false;   // `out` holds the whole response
        bool lingering = false;  // response sent, write side shut: wait for the client's EOF
        uint64_t deadline_ms = 0;
    };

    MetricsServer(Fd listener, uint16_t port, MetricsLimits limits);
    void accept_clients();
    void read_client(Client& c, MetricsHandler& handler);
    void answer(Client& c, MetricsHandler& handler);
    void flush(Client& c);
    void drop(Client& c) { c = Client{}; }

    Fd listener_;
    uint16_t port_;
    MetricsLimits limits_;
    std::vector<Client> clients_;
    uint64_t accept_paused_until_ms_ = 0;
};

}  // namespace ringcast::supervisor
