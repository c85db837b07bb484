// What the coordinating thread and the reactor threads share: the plan (read-only once
// threads start), the commands and deadlines the coordinator publishes, the progress each
// reactor publishes while running, and the result it leaves when it stops.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/loadgen/latency_histogram.hpp"
#include "bench/loadgen/options.hpp"
#include "bench/loadgen/sequence_track.hpp"

namespace ringcast::bench {

// One server of the run, resolved.
struct Endpoint {
    sockaddr_in addr{};
    std::string host_header;  // HOST:PORT
    std::string path;
    std::string url;  // ws://HOST:PORT/PATH, for the log and the JSON
};

struct RunPlan {
    Options opts;
    std::vector<Endpoint> servers;  // one per --url; connection i goes to servers[i % size]
    std::vector<in_addr> sources;   // empty: let the kernel choose
    uint32_t window = 0;            // 0 = unbounded
    std::string header_block;       // every --header, each line ending in CRLF
    std::vector<std::string> tokens;  // --token-file's lines; connection i sends i mod size

    // The header lines connection `conn` adds to its upgrade request.
    std::string extra_headers(uint32_t conn) const {
        if (tokens.empty()) return header_block;
        std::string h = header_block;
        const std::string& t = tokens[conn % tokens.size()];
        h.reserve(h.size() + 24 + t.size());
        h += "Authorization: Bearer ";
        h += t;
        h += "\r\n";
        return h;
    }

    uint32_t targets() const { return static_cast<uint32_t>(servers.size()); }
    uint32_t target_of_conn(uint32_t conn) const { return conn % targets(); }

    // --channels N: connection i is on channel i mod N, sender slot s on channel s mod N
    // (sender_conn places it there); without it everyone is on channel 0.
    uint32_t channels() const { return opts.channels ? opts.channels : 1; }
    uint32_t channel_of_conn(uint32_t conn) const { return conn % channels(); }
    uint32_t channel_of_slot(uint32_t slot) const { return slot % channels(); }
    // Connections on channel c: i = c, c + N, ... below conns.
    uint32_t channel_members(uint32_t c) const {
        return (opts.conns - c + channels() - 1) / channels();
    }
    // Deliveries one message of sender `slot` is due: every other connection of its channel.
    uint64_t fanout_of_slot(uint32_t slot) const {
        return channel_members(channel_of_slot(slot)) - 1;
    }
    // The path connection `conn` upgrades on: the URL's, or with --channels the URL's path
    // (without a trailing '/') + "/ch/<channel>".
    std::string path_of_conn(uint32_t conn) const {
        const std::string& base = servers[target_of_conn(conn)].path;
        if (!opts.channels) return base;
        std::string p = base;
        while (!p.empty() && p.back() == '/') p.pop_back();
        return p + "/ch/" + std::to_string(channel_of_conn(conn));
    }

    // Connection i belongs to thread i % threads and server i % targets. With one server,
    // sender slot s is connection floor(s * conns / senders), so senders are spread over
    // threads and source addresses. With T servers, slot s goes to server s % T and is
    // spread the same way over that server's connections (t, t + T, t + 2T, ...), so every
    // server has senders (when there are at least T) and the single-server placement is the
    // case T = 1.
    // With --channels (one server) the same spread with the channels in the servers' place:
    // slot s on channel s mod N, the channel's senders spread evenly over its connections.
    uint32_t sender_conn(uint32_t slot) const {
        return sender_conn_of(slot, opts.conns, opts.senders,
                              opts.channels ? opts.channels : targets());
    }

    static uint32_t sender_conn_of(uint32_t slot, uint32_t conns, uint32_t senders, uint32_t n) {
        if (n <= 1) return static_cast<uint32_t>(uint64_t{slot} * conns / senders);
        const uint32_t t = slot % n;
        const uint64_t conns_here = (conns - t + n - 1) / n;      // t, t + n, ... below conns
        const uint64_t senders_here = (senders - t + n - 1) / n;  // t, t + n, ... below senders
        const uint64_t k = slot / n;
        return static_cast<uint32_t>(t + n * (k * conns_here / senders_here));
    }
};

enum class Command : int { Connect, Send, Stop };

struct RunControl {
    std::atomic<Command> command{Command::Connect};
    // Written before command becomes Send (release); read after seeing Send (acquire).
    uint64_t send_start_ns = 0;
    uint64_t measure_start_ns = 0;
    uint64_t measure_end_ns = 0;  // sending stops here
};

// Published by one reactor with relaxed stores, read by the coordinator for progress and
// for deciding when setup and the drain are over. Each on its own cache line.
struct alignas(64) ThreadProgress {
    std::atomic<uint32_t> established{0};
    std::atomic<uint32_t> failed{0};
    std::atomic<bool> ready{false};         // ring set up (or failed: see failed)
    std::atomic<bool> sending_done{false};  // final `sent` published
    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> expected{0};  // deliveries due for what this thread's senders sent
    std::atomic<uint64_t> unique{0};  // distinct deliveries from other connections
    std::atomic<uint64_t> deliveries{0};
};

struct ThreadResult {
    uint64_t sent = 0, measured_sent = 0;
    uint64_t deliveries = 0, measured_deliveries = 0;
    uint64_t duplicates = 0, reordered = 0, gaps = 0, self_echo = 0;
    uint64_t bad_payload = 0, errors = 0, window_stalls = 0, nobufs = 0, pings = 0;
    uint64_t server_closes = 0;
    uint64_t cross_channel = 0;  // --channels: arrived at a connection of another channel
    uint64_t bytes_received = 0, measured_bytes_received = 0;  // from the server, on the wire
    uint64_t deflate_conns = 0;  // connections the server agreed permessage-deflate with
    LatencyHistogram latency;
    // Split by where the receiver is: on the sender's server (local) or another (remote).
    // With one server every delivery is local. deliveries_* split `deliveries` (duplicates
    // included), measured_deliveries_* split `measured_deliveries`.
    LatencyHistogram latency_local, latency_remote;
    uint64_t deliveries_local = 0, deliveries_remote = 0;
    uint64_t measured_deliveries_local = 0, measured_deliveries_remote = 0;
    std::vector<std::string> error_samples;  // the first few, for the log
    // Per local sender: its slot and how many it sent.
    std::vector<std::pair<uint32_t, uint64_t>> sender_sent;
    // Per local receiver: its own sender slot (or -1) and its view of every sender.
    std::vector<int64_t> receiver_slot;
    std::vector<uint32_t> receiver_channel;
    std::vector<SequenceTrack> tracks;   // receiver-major, opts.senders per receiver
    std::vector<uint8_t> receiver_open;  // 1 while the connection stayed open to the end
    // Longest wait between two distinct arrivals from one sender at one receiver (a stall,
    // e.g. during a restart), where it ended and who saw it; last_rx_ns is indexed as tracks.
    std::vector<uint64_t> last_rx_ns;
    uint64_t max_gap_ns = 0, max_gap_end_ns = 0;
    uint32_t max_gap_receiver = 0, max_gap_sender = 0;
};

// Loss over one reactor's receivers, after the drain: for each receiver and each other sender
// of its channel, messages sent minus distinct messages received (late arrivals included,
// duplicates not). Adds to the totals and to each sender's and each channel's loss.
struct LossTotals {
    uint64_t unique = 0, loss = 0, closed_receivers = 0;
    std::vector<uint64_t> by_sender;   // opts.senders
    std::vector<uint64_t> by_channel;  // plan.channels()
};

inline void add_receiver_loss(const RunPlan& plan, const ThreadResult& x,
                              const std::vector<uint64_t>& sent_by_slot, LossTotals& t) {
    const uint32_t S = plan.opts.senders;
    t.by_sender.resize(S, 0);
    t.by_channel.resize(plan.channels(), 0);
    for (size_t i = 0; i < x.receiver_slot.size(); ++i) {
        if (!x.receiver_open[i]) ++t.closed_receivers;
        const uint32_t ch = x.receiver_channel[i];
        for (uint32_t s = 0; s < S; ++s) {
            if (static_cast<int64_t>(s) == x.receiver_slot[i]) continue;
            if (plan.channel_of_slot(s) != ch) continue;  // not due here
            const uint64_t got = x.tracks[i * S + s].unique;
            t.unique += got;
            if (got < sent_by_slot[s]) {
                t.loss += sent_by_slot[s] - got;
                t.by_sender[s] += sent_by_slot[s] - got;
                t.by_channel[ch] += sent_by_slot[s] - got;
            }
        }
    }
}

}  // namespace ringcast::bench
