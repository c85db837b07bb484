// ringcast-bench's command line: the scenario (connections, senders, size, pacing, timing)
// and where the server is. Parsing reports the first bad flag by name, like ringcast does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ringcast::bench {

// One server to connect to: ws://HOST:PORT/PATH.
struct Target {
    std::string host = "127.0.0.1";  // IPv4 literal ("localhost" is taken as 127.0.0.1)
    uint16_t port = 9002;
    std::string path = "/";
};

struct Options {
    std::string host = "127.0.0.1";  // IPv4 literal ("localhost" is taken as 127.0.0.1)
    uint16_t port = 9002;
    std::string path = "/";
    // Every server, in --url order; after parsing at least one (the first is host:port/path).
    // Connection i connects to targets[i % targets.size()].
    std::vector<Target> targets;
    uint32_t conns = 100;
    uint32_t senders = 1;
    uint32_t size = 64;              // payload bytes of every message, >= kPayloadHead
    double duration = 10;            // measured seconds
    double warmup = 1;               // seconds of sending before the measured window
    double rate = 0;                 // messages/s per sender; 0 = max mode (window-bound)
    uint32_t window = 0;             // in flight per sender; 0 = 4 in max mode, none at a rate
    double idle_hold = 0;            // seconds all connected and idle before sending
    std::vector<pid_t> server_pids;  // --server-pid, repeatable; empty = no server sampling
    uint32_t src_addrs = 0;          // 0 = as many as the ephemeral port range calls for
    uint32_t threads = 1;
    uint32_t connect_parallel = 512;  // connects + handshakes in progress at once
    double connect_timeout = 60;
    double drain_timeout = 5;      // after sending stops, wait this long for the tail
    double progress_interval = 1;  // seconds between progress lines; 0 = none
    std::string label;             // scenario name, echoed in the JSON
    bool self_test = false;
    bool json = false;     // text messages: base64 head + compressible JSON (size >= 32)
    bool deflate = false;  // offer permessage-deflate; inflate what comes compressed
    // --header "Name: value", repeatable: sent on every upgrade request, in order.
    std::vector<std::string> headers;
    // --token-file F: one token a line; connection i sends "Authorization: Bearer " and
    // line i mod N of the file on its upgrade request. Read by main before connecting.
    std::string token_file;
    // --channels N: connection i upgrades on the URL's path + "/ch/<i mod N>" (ringcast's
    // `channels: "path"` makes that its channel, uWebSockets' topics glue its topic), and
    // a message is due at every other connection of its sender's channel only. 0 = off:
    // one audience, every message due at every other connection.
    uint32_t channels = 0;
};

// "" when `h` is a header line the generator may send as it is ("Name: value", a token for
// the name, no CR, LF or other control bytes), else why not.
std::string check_header_line(const std::string& h);

// Parses argv into `out`. Returns "" on success, "help" for -h/--help, else one line naming
// the flag and the problem.
std::string parse_options(int argc, char** argv, Options& out);

const char* usage_text();

}  // namespace ringcast::bench
