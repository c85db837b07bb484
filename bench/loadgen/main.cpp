// ringcast-bench: the coordinator. It plans the run (source addresses, sender placement),
// starts the reactor threads, steps them through connect -> idle hold -> warmup -> measure
// -> drain, samples the server's and its own CPU and memory at the edges of the measured
// window, and prints a summary on stderr and one JSON object as the last line on stdout.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/loadgen/client_reactor.hpp"
#include "bench/loadgen/clock.hpp"
#include "bench/loadgen/options.hpp"
#include "bench/loadgen/process_sample.hpp"
#include "bench/loadgen/run_state.hpp"
#include "bench/loadgen/self_test.hpp"

using namespace ringcast::bench;

namespace {

constexpr int kExitSetupFailure = 2;

void sleep_until_ns(uint64_t t) {
    const uint64_t now = now_ns();
    if (t > now) std::this_thread::sleep_for(std::chrono::nanoseconds(t - now));
}

uint64_t seconds_to_ns(double s) {
    return static_cast<uint64_t>(s * 1e9);
}

// --token-file: one token a line, blank lines (and a CR before the LF) skipped. Returns "" or
// why the file is unusable; never quotes a token.
std::string read_tokens(const std::string& path, std::vector<std::string>& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "--token-file " + path + ": cannot open";
    std::string line;
    size_t n = 0, bytes = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        for (const char ch : line) {
            const unsigned char c = static_cast<unsigned char>(ch);
            if (c <= 0x20 || c >= 0x7F)
                return "--token-file " + path + ": line " + std::to_string(n) +
                       " holds a space or a byte that is not printable ASCII";
        }
        bytes += line.size();
        if (line.size() > 16384 || bytes > (256u << 20))
            return "--token-file " + path + ": tokens too long (16 KiB each, 256 MiB in all)";
        out.push_back(std::move(line));
    }
    if (in.bad()) return "--token-file " + path + ": read error";
    if (out.empty()) return "--token-file " + path + ": no token in it";
    return "";
}

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
uint64_t raise_nofile() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

uint32_t ephemeral_ports() {
    std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
    uint32_t lo = 32768, hi = 60999;
    f >> lo >> hi;
    return hi >= lo ? hi - lo + 1 : 28232;
}

// A small JSON writer: enough for flat objects, nested objects and strings we escape.
class Json {
  public:
    Json& open(const char* key = nullptr) {
        sep(key);
        out_ += '{';
        first_ = true;
        return *this;
    }
    Json& close() {
        out_ += '}';
        first_ = false;
        return *this;
    }
    Json& num(const char* key, double v, int decimals = 3) {
        sep(key);
        if (!std::isfinite(v)) {
            out_ += "null";
            return *this;
        }
        char b[64];
        std::snprintf(b, sizeof b, "%.*f", decimals, v);
        out_ += b;
        return *this;
    }
    Json& u64(const char* key, uint64_t v) {
        sep(key);
        out_ += std::to_string(v);
        return *this;
    }
    Json& str(const char* key, const std::string& v) {
        sep(key);
        out_ += '"';
        for (char c : v) {
            if (c == '"' || c == '\\') {
                out_ += '\\';
                out_ += c;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                char b[8];
                std::snprintf(b, sizeof b, "\\u%04x", c);
                out_ += b;
            } else {
                out_ += c;
            }
        }
        out_ += '"';
        return *this;
    }
    Json& null(const char* key) {
        sep(key);
        out_ += "null";
        return *this;
    }
    Json& boolean(const char* key, bool v) {
        sep(key);
        out_ += v ? "true" : "false";
        return *this;
    }
    Json& array(const char* key) {
        sep(key);
        out_ += '[';
        first_ = true;
        return *this;
    }
    Json& close_array() {
        out_ += ']';
        first_ = false;
        return *this;
    }
    Json& strings(const char* key, const std::vector<std::string>& v) {
        sep(key);
        out_ += '[';
        first_ = true;
        for (const auto& s : v) str(nullptr, s);
        out_ += ']';
        first_ = false;
        return *this;
    }
    const std::string& text() const { return out_; }

  private:
    void sep(const char* key) {
        if (!first_) out_ += ',';
        first_ = false;
        if (key) {
            out_ += '"';
            out_ += key;
            out_ += "\":";
        }
    }
    std::string out_;
    bool first_ = true;
};

struct Totals {
    uint64_t sent = 0, measured_sent = 0, deliveries = 0, measured_deliveries = 0;
    uint64_t duplicates = 0, reordered = 0, gaps = 0, self_echo = 0, bad_payload = 0;
    uint64_t errors = 0, window_stalls = 0, nobufs = 0, pings = 0, server_closes = 0;
    uint64_t unique = 0, loss = 0, closed_receivers = 0, expected = 0, cross_channel = 0;
    uint64_t bytes_received = 0, measured_bytes_received = 0, deflate_conns = 0;
    uint64_t max_gap_ns = 0, max_gap_end_ns = 0;
    uint32_t max_gap_receiver = 0, max_gap_sender = 0;
    LatencyHistogram latency, latency_local, latency_remote;
    uint64_t deliveries_local = 0, deliveries_remote = 0;
    uint64_t measured_deliveries_local = 0, measured_deliveries_remote = 0;
    std::vector<std::string> error_samples;
    std::vector<uint64_t> loss_by_sender;
    std::vector<uint64_t> loss_by_channel;  // with --channels
};

Totals merge(const RunPlan& plan, std::vector<std::unique_ptr<ClientReactor>>& reactors) {
    Totals t;
    const uint32_t S = plan.opts.senders;
    std::vector<uint64_t> sent_by_slot(S, 0);
    t.loss_by_sender.assign(S, 0);
    for (auto& r : reactors) {
        ThreadResult& x = r->result();
        t.sent += x.sent;
        t.measured_sent += x.measured_sent;
        t.deliveries += x.deliveries;
        t.measured_deliveries += x.measured_deliveries;
        t.bytes_received += x.bytes_received;
        t.measured_bytes_received += x.measured_bytes_received;
        t.deflate_conns += x.deflate_conns;
        t.duplicates += x.duplicates;
        t.reordered += x.reordered;
        t.gaps += x.gaps;
        t.self_echo += x.self_echo;
        t.bad_payload += x.bad_payload;
        t.errors += x.errors;
        t.window_stalls += x.window_stalls;
        t.nobufs += x.nobufs;
        t.pings += x.pings;
        t.server_closes += x.server_closes;
        t.cross_channel += x.cross_channel;
        t.latency.merge(x.latency);
        t.latency_local.merge(x.latency_local);
        t.latency_remote.merge(x.latency_remote);
        t.deliveries_local += x.deliveries_local;
        t.deliveries_remote += x.deliveries_remote;
        t.measured_deliveries_local += x.measured_deliveries_local;
        t.measured_deliveries_remote += x.measured_deliveries_remote;
        if (x.max_gap_ns > t.max_gap_ns) {
            t.max_gap_ns = x.max_gap_ns;
            t.max_gap_end_ns = x.max_gap_end_ns;
            t.max_gap_receiver = x.max_gap_receiver;
            t.max_gap_sender = x.max_gap_sender;
        }
        for (auto& e : x.error_samples)
            if (t.error_samples.size() < 16) t.error_samples.push_back(e);
        for (auto [slot, n] : x.sender_sent) sent_by_slot[slot] = n;
    }
    // Loss: what every other connection (of the sender's channel) should have had from each
    // sender, minus what it had (late arrivals included, duplicates not).
    LossTotals lt;
    for (auto& r : reactors) add_receiver_loss(plan, r->result(), sent_by_slot, lt);
    t.unique = lt.unique;
    t.loss = lt.loss;
    t.closed_receivers = lt.closed_receivers;
    t.loss_by_sender = std::move(lt.by_sender);
    t.loss_by_channel = std::move(lt.by_channel);
    for (uint32_t s = 0; s < S; ++s) t.expected += sent_by_slot[s] * plan.fanout_of_slot(s);
    return t;
}

struct Samples {
    ServerSample baseline, idle_start, idle, start, end;  // of every --server-pid
    double self_start = 0, self_end = 0;
    HostCpuSample host_start, host_end;
    // Kernel work on the server's CPUs (its affinity) over the measured window.
    std::vector<int> srv_cpus;
    std::vector<pid_t> ksoftirqd;
    KernelCpuSample kern_start, kern_end;
};

std::string window_text(const RunPlan& plan) {
    return plan.window ? std::to_string(plan.window) : std::string("unbounded");
}

std::string fmt_num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}

double us(uint64_t ns) {
    return static_cast<double>(ns) / 1000.0;
}

// A latency object: p50, p90, p99, p999, max in microseconds. `empty_as_null`: all null when
// the histogram has no sample (the split objects), instead of 0 (latency_us, as it was).
void latency_object(Json& j, const char* key, const LatencyHistogram& h, bool empty_as_null) {
    j.open(key);
    if (empty_as_null && h.count() == 0) {
        j.null("p50").null("p90").null("p99").null("p999").null("max");
    } else {
        j.num("p50", us(h.percentile(0.5)), 2)
            .num("p90", us(h.percentile(0.9)), 2)
            .num("p99", us(h.percentile(0.99)), 2)
            .num("p999", us(h.percentile(0.999)), 2)
            .num("max", us(h.max()), 2);
    }
    j.close();
}

std::string latency_text(const LatencyHistogram& h) {
    char b[160];
    std::snprintf(b, sizeof b, "p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f",
                  us(h.percentile(0.5)), us(h.percentile(0.9)), us(h.percentile(0.99)),
                  us(h.percentile(0.999)), us(h.max()));
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    Options opts;
    const std::string perr = parse_options(argc, argv, opts);
    if (perr == "help") {
        std::fputs(usage_text(), stdout);
        return 0;
    }
    if (!perr.empty()) {
        std::fprintf(stderr, "ringcast-bench: %s (see --help)\n", perr.c_str());
        return 1;
    }
    if (opts.self_test) return run_self_test();

    RunPlan plan;
    plan.opts = opts;
    plan.window = opts.window;
    bool loopback = true;
    for (const Target& tg : opts.targets) {
        Endpoint e;
        e.addr.sin_family = AF_INET;
        e.addr.sin_port = htons(tg.port);
        inet_pton(AF_INET, tg.host.c_str(), &e.addr.sin_addr);
        e.host_header = tg.host + ":" + std::to_string(tg.port);
        e.path = tg.path;
        e.url = "ws://" + e.host_header + tg.path;
        loopback = loopback && (ntohl(e.addr.sin_addr.s_addr) >> 24) == 127;
        plan.servers.push_back(std::move(e));
    }
    const uint32_t n_targets = plan.targets();

    std::vector<std::string> setup_errors;
    for (const std::string& h : opts.headers) plan.header_block += h + "\r\n";
    if (!opts.token_file.empty())
        if (std::string why = read_tokens(opts.token_file, plan.tokens); !why.empty())
            setup_errors.push_back(std::move(why));
    const uint64_t nofile = raise_nofile();
    if (opts.conns + 64 * opts.threads + 64 > nofile)
        setup_errors.push_back("RLIMIT_NOFILE hard limit " + std::to_string(nofile) +
                               " is too low for " + std::to_string(opts.conns) + " connections");

    // One source address serves at most the ephemeral port range towards one server port.
    const uint32_t per_source = ephemeral_ports() * 9 / 10;
    uint32_t n_src = opts.src_addrs;
    if (n_src == 0) n_src = (opts.conns + per_source - 1) / per_source;
    if (n_src > 1 && !loopback)
        setup_errors.push_back("--src-addrs above 1 needs a loopback (127.0.0.0/8) target");
    else if (n_src > 254)
        setup_errors.push_back("too many connections for 254 source addresses");
    else if (opts.src_addrs != 0 || n_src > 1)
        for (uint32_t i = 0; i < n_src; ++i) plan.sources.push_back({htonl(0x7F000001u + i)});

    const std::string url = plan.servers[0].url;
    std::string urls_text = url;
    for (uint32_t i = 1; i < n_targets; ++i) urls_text += " + " + plan.servers[i].url;
    if (opts.channels)
        std::fprintf(stderr,
                     "ringcast-bench: %u channels by path (%s ... %s), %u to %u connections and "
                     "%u sender(s) each\n",
                     opts.channels, plan.path_of_conn(0).c_str(),
                     plan.path_of_conn(opts.channels - 1).c_str(),
                     plan.channel_members(opts.channels - 1), plan.channel_members(0),
                     opts.senders / opts.channels);
    std::fprintf(stderr,
                 "ringcast-bench: %s%s%s %u conns, %u senders, %u B, %s, window %s, %.1f s "
                 "(+%.1f s warmup), %u thread(s), %zu source address(es)\n",
                 opts.label.c_str(), opts.label.empty() ? "" : ": ", urls_text.c_str(), opts.conns,
                 opts.senders, opts.size,
                 opts.rate > 0 ? (fmt_num(opts.rate) + " msg/s per sender").c_str() : "max rate",
                 window_text(plan).c_str(), opts.duration, opts.warmup, opts.threads,
                 std::max<size_t>(1, plan.sources.size()));

    if (n_targets > 1 && std::gcd(opts.threads, n_targets) > 1)
        std::fprintf(stderr,
                     "  note: with %u threads and %u URLs each thread's connections reach only "
                     "some of the servers; a sender's window observer may be on its own\n",
                     opts.threads, n_targets);

    Samples smp;
    const bool sampling = !opts.server_pids.empty();
    if (sampling) {
        smp.baseline = sample_servers(opts.server_pids);
        for (size_t i = 0; i < opts.server_pids.size(); ++i)
            if (!smp.baseline.each[i].ok)
                setup_errors.push_back("--server-pid " + std::to_string(opts.server_pids[i]) +
                                       ": no such process readable in /proc");
    }

    RunControl control;
    std::vector<ThreadProgress> progress(opts.threads);
    std::vector<std::unique_ptr<ClientReactor>> reactors;
    std::vector<std::thread> threads;
    double setup_sec = 0;
    uint32_t established = 0, failed = 0;
    bool setup_ok = setup_errors.empty();
    const uint64_t t_setup = now_ns();

    auto sum = [&](auto field) {
        uint64_t s = 0;
        for (auto& p : progress) s += (p.*field).load(std::memory_order_relaxed);
        return s;
    };

    if (setup_ok) {
        for (uint32_t i = 0; i < opts.threads; ++i)
            reactors.push_back(std::make_unique<ClientReactor>(plan, control, progress[i], i));
        uint32_t blind = 0;
        for (auto& r : reactors) blind += r->senders_without_observer();
        if (blind) {
            setup_errors.push_back(
                "--channels with -t " + std::to_string(opts.threads) + ": " + std::to_string(blind) +
                " sender(s) have no other connection of their channel on their thread to "
                "free their window (use fewer threads, more connections, or --rate)");
            setup_ok = false;
        }
    }
    if (setup_ok) {
        for (uint32_t i = 0; i < opts.threads; ++i)
            threads.emplace_back([&reactors, i] { reactors[i]->run(); });

        // Setup: until every connection is open or has failed, or the timeout.
        uint64_t next_print = t_setup + seconds_to_ns(1);
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            established = static_cast<uint32_t>(sum(&ThreadProgress::established));
            failed = static_cast<uint32_t>(sum(&ThreadProgress::failed));
            const uint64_t now = now_ns();
            if (established + failed >= opts.conns) break;
            if (now - t_setup > seconds_to_ns(opts.connect_timeout)) {
                setup_errors.push_back("connect timeout: " + std::to_string(established) + " of " +
                                       std::to_string(opts.conns) + " open after " +
                                       std::to_string(opts.connect_timeout) + " s");
                break;
            }
            if (opts.progress_interval > 0 && now >= next_print) {
                std::fprintf(stderr, "  connecting: %u/%u open, %u failed\n", established,
                             opts.conns, failed);
                next_print = now + seconds_to_ns(1);
            }
        }
        setup_sec = static_cast<double>(now_ns() - t_setup) / 1e9;
        if (failed) setup_errors.push_back(std::to_string(failed) + " connection(s) failed");
        setup_ok = setup_errors.empty();
        std::fprintf(stderr, "  connected %u/%u in %.2f s\n", established, opts.conns, setup_sec);
    }

    double drain_sec = 0, measured_sec = 0;
    bool drained = false;
    uint64_t expected = 0;
    if (setup_ok) {
        if (opts.idle_hold > 0) {
            if (sampling) smp.idle_start = sample_servers(opts.server_pids);
            std::this_thread::sleep_for(std::chrono::nanoseconds(seconds_to_ns(opts.idle_hold)));
            if (sampling) smp.idle = sample_servers(opts.server_pids);
            std::fprintf(stderr,
                         "  idle %.1f s: server rss %" PRIu64 " kB (anon %" PRIu64
                         " kB), %+.0f B/conn over the baseline, %.3f cores\n",
                         opts.idle_hold, smp.idle.total.rss_kb, smp.idle.total.anon_kb,
                         (static_cast<double>(smp.idle.total.rss_kb) -
                          static_cast<double>(smp.baseline.total.rss_kb)) *
                             1024.0 / opts.conns,
                         (smp.idle.total.cpu_sec - smp.idle_start.total.cpu_sec) / opts.idle_hold);
        }
        const uint64_t t0 = now_ns() + 5'000'000;
        control.send_start_ns = t0;
        control.measure_start_ns = t0 + seconds_to_ns(opts.warmup);
        control.measure_end_ns = control.measure_start_ns + seconds_to_ns(opts.duration);
        // Pairs with the acquire load at the top of each reactor's loop.
        control.command.store(Command::Send, std::memory_order_release);

        if (sampling) {  // in the warmup: which CPUs the server may use, and their ksoftirqd
            smp.srv_cpus = server_cpus(opts.server_pids);
            smp.ksoftirqd = ksoftirqd_pids(smp.srv_cpus);
        }
        sleep_until_ns(control.measure_start_ns);
        if (sampling) smp.start = sample_servers(opts.server_pids);
        if (sampling) smp.kern_start = sample_kernel_cpu(smp.srv_cpus, smp.ksoftirqd);
        smp.self_start = self_cpu_sec();
        smp.host_start = sample_host_cpu();
        uint64_t last_t = now_ns(), last_d = sum(&ThreadProgress::deliveries);
        const uint64_t step =
            seconds_to_ns(opts.progress_interval > 0 ? opts.progress_interval : opts.duration + 1);
        for (uint64_t t = control.measure_start_ns + step; t < control.measure_end_ns; t += step) {
            sleep_until_ns(t);
            const uint64_t now = now_ns(), d = sum(&ThreadProgress::deliveries);
            std::fprintf(stderr, "  t=%5.1fs sent=%" PRIu64 " deliveries=%" PRIu64 " (%.0f/s)\n",
                         static_cast<double>(now - control.measure_start_ns) / 1e9,
                         sum(&ThreadProgress::sent), d,
                         static_cast<double>(d - last_d) * 1e9 / static_cast<double>(now - last_t));
            last_t = now;
            last_d = d;
        }
        sleep_until_ns(control.measure_end_ns);
        if (sampling) smp.end = sample_servers(opts.server_pids);
        if (sampling) smp.kern_end = sample_kernel_cpu(smp.srv_cpus, smp.ksoftirqd);
        smp.self_end = self_cpu_sec();
        smp.host_end = sample_host_cpu();
        measured_sec = static_cast<double>(now_ns() - control.measure_start_ns) / 1e9;

        // Drain: every message sent is due at every other connection.
        const uint64_t t_stop = now_ns();
        for (;;) {
            bool all_done = true;
            for (auto& p : progress)
                all_done = all_done && p.sending_done.load(std::memory_order_acquire);
            if (all_done) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        expected = sum(&ThreadProgress::expected);
        while (sum(&ThreadProgress::unique) < expected &&
               now_ns() - t_stop < seconds_to_ns(opts.drain_timeout))
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        drained = sum(&ThreadProgress::unique) >= expected;
        drain_sec = static_cast<double>(now_ns() - t_stop) / 1e9;
    }

    control.command.store(Command::Stop, std::memory_order_release);
    for (auto& t : threads) t.join();
    Totals t = merge(plan, reactors);
    if (!setup_ok) expected = t.expected;

    // Summary lines.
    const double srv_cpu = sampling ? smp.end.total.cpu_sec - smp.start.total.cpu_sec : NAN;
    const double cli_cpu = smp.self_end - smp.self_start;
    const double host_busy = smp.host_end.busy_sec - smp.host_start.busy_sec;
    const double other_cpu = host_busy - cli_cpu - (sampling ? srv_cpu : 0);
    const double dps = measured_sec > 0 ? t.measured_deliveries / measured_sec : 0;
    if (setup_ok) {
        std::fprintf(stderr,
                     "  measured %.2f s: sent %" PRIu64 " msgs, %" PRIu64
                     " deliveries (%.0f/s); latency us p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f "
                     "max %.1f\n",
                     measured_sec, t.measured_sent, t.measured_deliveries, dps,
                     us(t.latency.percentile(0.5)), us(t.latency.percentile(0.9)),
                     us(t.latency.percentile(0.99)), us(t.latency.percentile(0.999)),
                     us(t.latency.max()));
        if (n_targets > 1) {
            std::fprintf(stderr,
                         "  local (receiver on the sender's server): %" PRIu64
                         " deliveries; latency us %s\n",
                         t.deliveries_local, latency_text(t.latency_local).c_str());
            std::fprintf(stderr,
                         "  remote (receiver on another server): %" PRIu64
                         " deliveries; latency us %s\n",
                         t.deliveries_remote, latency_text(t.latency_remote).c_str());
        }
        std::fprintf(stderr,
                     "  whole run: sent %" PRIu64 ", deliveries %" PRIu64 " of %" PRIu64
                     " expected; loss %" PRIu64 " dup %" PRIu64 " reordered %" PRIu64
                     " self-echo %" PRIu64 " errors %" PRIu64 "%s\n",
                     t.sent, t.deliveries, expected, t.loss, t.duplicates, t.reordered, t.self_echo,
                     t.errors + t.bad_payload, drained ? "" : " (drain timed out)");
        if (opts.channels) {
            uint64_t lossy = 0, worst = 0;
            for (uint64_t l : t.loss_by_channel) {
                lossy += l ? 1 : 0;
                worst = std::max(worst, l);
            }
            std::fprintf(stderr,
                         "  channels: %u; cross-channel deliveries %" PRIu64
                         "%s; loss in %" PRIu64 " channel(s), at most %" PRIu64 " in one\n",
                         opts.channels, t.cross_channel,
                         t.cross_channel ? " (ERROR: a message reached another channel)" : "",
                         lossy, worst);
        }
        std::fprintf(stderr,
                     "  longest gap between two messages of one sender at one receiver: %.1f ms "
                     "(connection %u, sender %u)\n",
                     static_cast<double>(t.max_gap_ns) / 1e6, t.max_gap_receiver, t.max_gap_sender);
        std::fprintf(stderr,
                     "  cpu over the measured window: server %.2f s (%.2f cores, %.3f "
                     "us/delivery), client %.2f s (%.2f cores)\n",
                     srv_cpu, srv_cpu / measured_sec, srv_cpu * 1e6 / t.measured_deliveries,
                     cli_cpu, cli_cpu / measured_sec);
        if (opts.server_pids.size() > 1)
            for (size_t i = 0; i < opts.server_pids.size(); ++i)
                std::fprintf(stderr, "    server pid %d: %.2f cores\n", opts.server_pids[i],
                             (smp.end.each[i].cpu_sec - smp.start.each[i].cpu_sec) / measured_sec);
        if (sampling && smp.kern_start.ok && smp.kern_end.ok)
            std::fprintf(stderr,
                         "  server cpu(s) %zu: softirq %.3f cores (ksoftirqd %.3f), irq %.3f, "
                         "busy %.3f\n",
                         smp.srv_cpus.size(),
                         (smp.kern_end.softirq_sec - smp.kern_start.softirq_sec) / measured_sec,
                         (smp.kern_end.ksoftirqd_sec - smp.kern_start.ksoftirqd_sec) / measured_sec,
                         (smp.kern_end.irq_sec - smp.kern_start.irq_sec) / measured_sec,
                         (smp.kern_end.busy_sec - smp.kern_start.busy_sec) / measured_sec);
        std::fprintf(stderr,
                     "  host: %d cpus, %.2f cores busy, %.2f of them neither server "
                     "nor client%s\n",
                     smp.host_end.cpus, host_busy / measured_sec, other_cpu / measured_sec,
                     other_cpu / measured_sec > 0.2 ? " (shared machine: figures disturbed)" : "");
        for (uint32_t s = 0, shown = 0; s < opts.senders && shown < 10; ++s)
            if (t.loss_by_sender[s]) {
                ++shown;
                std::fprintf(stderr,
                             "  loss: sender %u (connection %u) missing %" PRIu64 " deliveries\n",
                             s, plan.sender_conn(s), t.loss_by_sender[s]);
            }
    } else {
        for (auto& e : setup_errors) std::fprintf(stderr, "  setup failed: %s\n", e.c_str());
    }

    Json j;
    j.open();
    j.str("status", setup_ok ? "completed" : "setup_failed");
    j.open("scenario").str("label", opts.label).str("url", url);
    std::vector<std::string> all_urls;
    for (const Endpoint& e : plan.servers) all_urls.push_back(e.url);
    j.strings("urls", all_urls)
        .u64("conns", opts.conns)
        .u64("senders", opts.senders)
        .u64("size", opts.size)
        .num("duration", opts.duration, 2)
        .num("warmup", opts.warmup, 2)
        .num("rate", opts.rate, 2);
    if (plan.window)
        j.u64("window", plan.window);
    else
        j.null("window");
    // Upgrade headers: how many --header lines, and --token-file's distinct count (0: none).
    j.u64("headers", opts.headers.size()).u64("tokens", plan.tokens.size());
    j.u64("channels", opts.channels);
    j.num("idle_hold", opts.idle_hold, 2)
        .u64("threads", opts.threads)
        .u64("src_addrs", std::max<size_t>(1, plan.sources.size()))
        .close();
    j.u64("connections", established)
        .u64("connections_failed", failed)
        .num("connect_sec", setup_sec)
        .num("duration_sec", measured_sec)
        .num("drain_sec", drain_sec)
        .boolean("drained", drained)
        .u64("messages_sent", t.sent)
        .u64("deliveries", t.deliveries)
        .u64("deliveries_local", t.deliveries_local)
        .u64("deliveries_remote", t.deliveries_remote)
        .num("deliveries_per_sec", dps, 1)
        .u64("expected_deliveries", expected)
        .u64("loss", t.loss)
        .u64("duplicates", t.duplicates)
        .u64("reordered", t.reordered)
        .u64("self_echo", t.self_echo)
        .u64("cross_channel", t.cross_channel);
    // --channels: the audiences, and loss per channel (null without the option).
    if (opts.channels) {
        uint64_t lossy = 0, worst = 0, worst_at = 0;
        for (uint32_t c = 0; c < opts.channels; ++c) {
            const uint64_t l = c < t.loss_by_channel.size() ? t.loss_by_channel[c] : 0;
            lossy += l ? 1 : 0;
            if (l > worst) {
                worst = l;
                worst_at = c;
            }
        }
        j.open("channels")
            .u64("count", opts.channels)
            .str("first_path", plan.path_of_conn(0))
            .u64("members_min", plan.channel_members(opts.channels - 1))
            .u64("members_max", plan.channel_members(0))
            .u64("senders_per_channel", opts.senders / opts.channels)
            .u64("cross_channel", t.cross_channel)
            .u64("channels_with_loss", lossy)
            .u64("max_channel_loss", worst);
        if (worst)
            j.u64("max_channel_loss_at", worst_at);
        else
            j.null("max_channel_loss_at");
        j.close();
    } else {
        j.null("channels");
    }
    // The longest a receiver waited between two messages of one sender (whole run); where it
    // ended, in seconds from the start of the measured window (negative: in the warmup).
    // Signed: the gap may have ended in the warmup, before the measured window.
    const auto gap_end_ns = static_cast<int64_t>(t.max_gap_end_ns - control.measure_start_ns);
    const double gap_end_sec = static_cast<double>(gap_end_ns) / 1e9;
    j.open("max_gap")
        .num("ms", static_cast<double>(t.max_gap_ns) / 1e6, 3)
        .num("end_sec", t.max_gap_ns ? gap_end_sec : NAN, 3)
        .u64("receiver", t.max_gap_receiver)
        .u64("sender", t.max_gap_sender)
        .close();
    j.open("measured")
        .num("seconds", measured_sec)
        .u64("messages_sent", t.measured_sent)
        .u64("deliveries", t.measured_deliveries)
        .u64("latency_samples", t.latency.count())
        .u64("deliveries_local", t.measured_deliveries_local)
        .u64("deliveries_remote", t.measured_deliveries_remote)
        .u64("latency_samples_local", t.latency_local.count())
        .u64("latency_samples_remote", t.latency_remote.count())
        .u64("bytes_received", t.measured_bytes_received)
        .num("bytes_per_delivery",
             t.measured_deliveries ? static_cast<double>(t.measured_bytes_received) / t.measured_deliveries : NAN, 1)
        .close();
    j.u64("deflate_connections", t.deflate_conns);
    latency_object(j, "latency_us", t.latency, false);
    latency_object(j, "latency_local", t.latency_local, true);
    latency_object(j, "latency_remote", t.latency_remote, true);
    if (sampling && setup_ok) {
        j.num("server_cpu_sec", srv_cpu)
            .num("server_cpu_cores", srv_cpu / measured_sec)
            .num("server_cpu_us_per_delivery",
                 t.measured_deliveries ? srv_cpu * 1e6 / t.measured_deliveries : NAN)
            .u64("server_rss_kb", smp.end.total.rss_kb)
            .u64("server_rss_anon_kb", smp.end.total.anon_kb)
            .u64("server_rss_baseline_kb", smp.baseline.total.rss_kb)
            .u64("server_processes", smp.end.total.processes);
        if (opts.idle_hold > 0) {
            const double conns = opts.conns;
            const ProcessTreeSample& idle = smp.idle.total;
            const ProcessTreeSample& base = smp.baseline.total;
            j.u64("server_rss_idle_kb", idle.rss_kb)
                .num("server_idle_cpu_cores",
                     (idle.cpu_sec - smp.idle_start.total.cpu_sec) / opts.idle_hold)
                .num("server_rss_per_conn_bytes",
                     (static_cast<double>(idle.rss_kb) - base.rss_kb) * 1024 / conns, 0)
                .num("server_anon_per_conn_bytes",
                     (static_cast<double>(idle.anon_kb) - base.anon_kb) * 1024 / conns, 0);
        }
        // Each --server-pid's own tree (the totals above count a process once).
        j.array("servers");
        for (size_t i = 0; i < opts.server_pids.size(); ++i) {
            const double cpu = smp.end.each[i].cpu_sec - smp.start.each[i].cpu_sec;
            j.open()
                .u64("pid", static_cast<uint64_t>(opts.server_pids[i]))
                .num("cpu_sec", cpu)
                .num("cpu_cores", cpu / measured_sec)
                .u64("rss_kb", smp.end.each[i].rss_kb)
                .u64("processes", smp.end.each[i].processes)
                .close();
        }
        j.close_array();
        // Kernel work on the server's CPUs over the measured window (bench/README.md).
        if (smp.kern_start.ok && smp.kern_end.ok && measured_sec > 0) {
            std::string cpus;
            for (int c : smp.srv_cpus) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
            const double per_d = t.measured_deliveries ? 1e6 / t.measured_deliveries : NAN;
            const double irq = smp.kern_end.irq_sec - smp.kern_start.irq_sec;
            const double sirq = smp.kern_end.softirq_sec - smp.kern_start.softirq_sec;
            const double ksd = smp.kern_end.ksoftirqd_sec - smp.kern_start.ksoftirqd_sec;
            const double busy = smp.kern_end.busy_sec - smp.kern_start.busy_sec;
            j.open("server_cpus_kernel")
                .str("cpus", cpus)
                .u64("ksoftirqd_threads", smp.ksoftirqd.size())
                .num("irq_sec", irq, 4)
                .num("softirq_sec", sirq, 4)
                .num("ksoftirqd_sec", ksd, 4)
                .num("busy_sec", busy, 4)
                .num("irq_cores", irq / measured_sec, 4)
                .num("softirq_cores", sirq / measured_sec, 4)
                .num("ksoftirqd_cores", ksd / measured_sec, 4)
                .num("busy_cores", busy / measured_sec, 4)
                .num("softirq_us_per_delivery", sirq * per_d, 5)
                .num("ksoftirqd_us_per_delivery", ksd * per_d, 5)
                .close();
        } else {
            j.null("server_cpus_kernel");
        }
    } else {
        j.null("server_cpu_sec").null("server_cpu_us_per_delivery").null("server_rss_kb");
    }
    j.num("client_cpu_sec", cli_cpu)
        .num("client_cpu_cores", measured_sec > 0 ? cli_cpu / measured_sec : 0)
        .num("client_cpu_us_per_delivery",
             t.measured_deliveries ? cli_cpu * 1e6 / t.measured_deliveries : NAN);
    j.u64("host_cpus", smp.host_end.cpus)
        .num("host_busy_cores", measured_sec > 0 ? host_busy / measured_sec : 0)
        .num("host_other_cores", measured_sec > 0 ? other_cpu / measured_sec : 0);
    std::vector<std::string> all_errors = setup_errors;
    all_errors.insert(all_errors.end(), t.error_samples.begin(), t.error_samples.end());
    j.u64("errors", setup_errors.size() + t.errors + t.bad_payload + t.cross_channel)
        .u64("bad_payload", t.bad_payload)
        .u64("window_stalls", t.window_stalls)
        .u64("server_closes", t.server_closes)
        .u64("closed_connections", setup_ok ? t.closed_receivers : 0)
        .u64("gaps", t.gaps)
        .u64("recv_nobufs", t.nobufs)
        .u64("pings_answered", t.pings)
        .strings("error_samples", all_errors)
        .close();
    std::fflush(stderr);
    std::printf("%s\n", j.text().c_str());
    std::fflush(stdout);
    return setup_ok ? 0 : kExitSetupFailure;
}
