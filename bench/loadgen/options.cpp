// Flag parsing for ringcast-bench: -flag VALUE, -flag=VALUE, --flag VALUE or --flag=VALUE.
#include "bench/loadgen/options.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cctype>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <string_view>

#include "bench/loadgen/payload.hpp"

namespace ringcast::bench {
namespace {

bool to_u64(std::string_view s, uint64_t& out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool to_double(const std::string& s, double& out) {
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size() && std::isfinite(out) && out >= 0;
}

// ws://HOST[:PORT][/PATH]
std::string parse_url(std::string_view url, Target& o) {
    constexpr std::string_view scheme = "ws://";
    if (url.substr(0, scheme.size()) != scheme) return "--url: only ws:// URLs are supported";
    url.remove_prefix(scheme.size());
    const size_t slash = url.find('/');
    o.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    std::string_view authority = url.substr(0, slash);
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
        uint64_t port;
        if (!to_u64(authority.substr(colon + 1), port) || port == 0 || port > 65535)
            return "--url: bad port";
        o.port = static_cast<uint16_t>(port);
        authority = authority.substr(0, colon);
    }
    if (authority.empty()) return "--url: no host";
    o.host = std::string(authority);
    return "";
}

}  // namespace

std::string check_header_line(const std::string& h) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) return "want 'Name: value'";
    for (size_t i = 0; i < colon; ++i) {
        const unsigned char c = static_cast<unsigned char>(h[i]);
        // RFC 9110 token characters.
        if (!(std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr))
            return "the name is not an HTTP token";
    }
    for (const char ch : h) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7F) return "control byte in the header";
    }
    return "";
}

const char* usage_text() {
    return R"(ringcast-bench: load generator for ringcast (RFC 6455 clients over io_uring)

USAGE
    ringcast-bench [--url ws://127.0.0.1:9002/ | --host H --port P] [FLAG VALUE]...
    ringcast-bench --url ws://A/ --url ws://B/ ... [FLAG VALUE]...   (several nodes)
    ringcast-bench --self-test

Every connection receives; --senders of them also send binary messages of --size bytes
carrying (magic, sender, sequence, CLOCK_MONOTONIC send time). Receivers count
deliveries, loss, duplicates, reordering and self-echo, and time each delivery.

FLAGS
    --url URL             ws://HOST[:PORT][/PATH] (IPv4 literal or localhost); give it
                          several times for several servers (nodes joined by a bridge):
                          connection i connects to the (i mod N)-th URL, senders are spread
                          over every URL, and latency is also split into local (receiver
                          on the sender's URL) and remote
    --host H, --port P    the same in pieces (default 127.0.0.1:9002)
    --conns N             connections (default 100)
    --senders N           connections that also send (default 1), spread evenly
    --size BYTES          payload bytes per message, >= 24 (default 64; >= 32 with --json)
    --json                text messages: the head in base64, then compressible JSON
    --deflate             offer permessage-deflate (no context takeover either way), inflate
                          compressed messages; messages are sent uncompressed
    --header 'NAME: VALUE'
                          send this header on every upgrade request; repeatable
    --token-file FILE     one token a line (blank lines skipped): connection i sends
                          "Authorization: Bearer " + line (i mod N) on its upgrade
    --channels N          spread the connections over N channels by URL path: connection
                          i upgrades on PATH/ch/<i mod N> (PATH: the --url's path, "/"
                          giving /ch/<i mod N>); --senders must be a multiple of N (that
                          many senders per channel, sender s on channel s mod N); a message
                          is due at every other connection of its channel only, and one
                          arriving on another channel is counted as an error
                          (cross_channel); one --url only
    --duration SEC        measured seconds (default 10)
    --warmup SEC          seconds of sending before measuring (default 1)
    --rate N              messages/s per sender, paced (default 0 = max mode)
    --window N            a sender's messages not yet seen by its observer, at most
                          (default 4 in max mode, unbounded with --rate)
    --idle-hold SEC       connect everyone, hold idle SEC, sample server RSS, then run
    --server-pid PID      sample RSS and CPU of PID and all its descendants; repeatable
                          (the totals count every process once, each PID is also reported)
    --src-addrs N         source addresses 127.0.0.1..127.0.0.N (default: enough for
                          the ephemeral port range; loopback targets only)
    -t, --threads N       reactor threads (default 1)
    --connect-parallel N  connects + handshakes in flight at once (default 512)
    --connect-timeout SEC give up setting up after SEC (default 60)
    --drain-timeout SEC   wait for in-flight deliveries after sending stops (default 5)
    --progress SEC        seconds between progress lines on stderr, 0 = none (default 1)
    --label NAME          scenario name echoed in the JSON
    --self-test           check the frame reader, histogram and trackers, then exit

OUTPUT
    Progress and a summary on stderr; the last line on stdout is one JSON object.
    Exit 0 when the run completed (loss is reported, not fatal), 2 on setup failure,
    1 on bad flags.
)";
}

std::string parse_options(int argc, char** argv, Options& o) {
    bool window_set = false;
    bool host_or_port_set = false;
    std::vector<Target> urls;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") return "help";
        if (arg == "--self-test" || arg == "-self-test") {
            o.self_test = true;
            continue;
        }
        if (arg == "--json") {
            o.json = true;
            continue;
        }
        if (arg == "--deflate") {
            o.deflate = true;
            continue;
        }
        if (arg.size() < 2 || arg[0] != '-') return "unexpected argument: " + arg;
        std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
        std::string value;
        if (const size_t eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        } else {
            if (i + 1 >= argc) return "--" + name + ": missing value";
            value = argv[++i];
        }
        const std::string flag = "--" + name;
        uint64_t u = 0;
        double d = 0;
        auto need_u = [&](uint64_t lo, uint64_t hi) -> std::string {
            if (!to_u64(value, u) || u < lo || u > hi)
                return flag + ": want an integer in " + std::to_string(lo) + ".." +
                       std::to_string(hi) + ", got '" + value + "'";
            return "";
        };
        auto need_d = [&]() -> std::string {
            if (!to_double(value, d)) return flag + ": want a number >= 0, got '" + value + "'";
            return "";
        };
        std::string err;
        if (name == "url") {
            Target t;
            if ((err = parse_url(value, t)).empty()) {
                o.host = t.host;
                o.port = t.port;
                o.path = t.path;
                urls.push_back(std::move(t));
            }
        } else if (name == "host") {
            o.host = value;
            host_or_port_set = true;
        } else if (name == "port") {
            if ((err = need_u(1, 65535)).empty()) o.port = static_cast<uint16_t>(u);
            host_or_port_set = true;
        } else if (name == "conns") {
            if ((err = need_u(2, 1000000)).empty()) o.conns = static_cast<uint32_t>(u);
        } else if (name == "senders") {
            if ((err = need_u(1, 1000000)).empty()) o.senders = static_cast<uint32_t>(u);
        } else if (name == "size") {
            if ((err = need_u(kPayloadHead, 1u << 30)).empty()) o.size = static_cast<uint32_t>(u);
        } else if (name == "duration") {
            if ((err = need_d()).empty()) o.duration = d;
        } else if (name == "warmup") {
            if ((err = need_d()).empty()) o.warmup = d;
        } else if (name == "rate") {
            if ((err = need_d()).empty()) o.rate = d;
        } else if (name == "window") {
            if ((err = need_u(1, 1u << 30)).empty()) o.window = static_cast<uint32_t>(u);
            window_set = true;
        } else if (name == "idle-hold") {
            if ((err = need_d()).empty()) o.idle_hold = d;
        } else if (name == "server-pid") {
            if ((err = need_u(1, 1u << 30)).empty()) o.server_pids.push_back(static_cast<pid_t>(u));
        } else if (name == "src-addrs") {
            if ((err = need_u(1, 254)).empty()) o.src_addrs = static_cast<uint32_t>(u);
        } else if (name == "t" || name == "threads") {
            if ((err = need_u(1, 256)).empty()) o.threads = static_cast<uint32_t>(u);
        } else if (name == "connect-parallel") {
            if ((err = need_u(1, 1000000)).empty()) o.connect_parallel = static_cast<uint32_t>(u);
        } else if (name == "connect-timeout") {
            if ((err = need_d()).empty()) o.connect_timeout = d;
        } else if (name == "drain-timeout") {
            if ((err = need_d()).empty()) o.drain_timeout = d;
        } else if (name == "progress") {
            if ((err = need_d()).empty()) o.progress_interval = d;
        } else if (name == "header") {
            if (const std::string why = check_header_line(value); !why.empty())
                err = "--header: " + why + ", got '" + value + "'";
            else
                o.headers.push_back(value);
        } else if (name == "token-file") {
            if (value.empty()) err = "--token-file: empty path";
            o.token_file = value;
        } else if (name == "channels") {
            if ((err = need_u(1, 1000000)).empty()) o.channels = static_cast<uint32_t>(u);
        } else if (name == "label") {
            o.label = value;
        } else {
            return "unknown flag: " + arg;
        }
        if (!err.empty()) return err;
    }
    if (o.self_test) return "";
    if (urls.size() > 1) {
        if (host_or_port_set) return "--host/--port: not with several --url";
        o.targets = std::move(urls);
    } else {
        // One server: --url, --host and --port each set a piece, the last one wins.
        o.targets = {Target{o.host, o.port, o.path}};
    }
    for (Target& t : o.targets) {
        if (t.host == "localhost") t.host = "127.0.0.1";
        in_addr a{};
        if (inet_pton(AF_INET, t.host.c_str(), &a) != 1)
            return "--host: want an IPv4 literal, got '" + t.host + "'";
    }
    o.host = o.targets[0].host;
    if (o.targets.size() > 255) return "--url: at most 255 URLs";
    if (o.senders > o.conns) return "--senders: more senders than --conns";
    if (o.conns < 2 * o.threads) return "--threads: want at least 2 connections per thread";
    if (o.conns < 2 * o.targets.size()) return "--url: want at least 2 connections per URL";

    if (o.channels) {
        if (o.targets.size() > 1) return "--channels: one --url only";
        if (o.targets[0].path.find_first_of("?#") != std::string::npos)
            return "--channels: the --url's path is the prefix of every channel's, no query";
        if (o.senders % o.channels != 0)
            return "--channels: --senders must be a multiple of --channels (" +
                   std::to_string(o.senders) + " over " + std::to_string(o.channels) + ")";
        if (o.conns < 2 * o.channels) return "--channels: want at least 2 connections per channel";
    }
    if (o.duration <= 0) return "--duration: must be > 0";
    if (!window_set) o.window = o.rate > 0 ? 0 : 4;
    if (o.json && o.size < kTextHead) return "--size: want at least 32 with --json, got " + std::to_string(o.size);
    return "";
}

}  // namespace ringcast::bench
