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

struct RunPlan {
    Options opts;
    sockaddr_in server{};
    std::vector<in_addr> sources;  // empty: let the kernel choose
    std::string host_header;       // HOST:PORT
    uint32_t window = 0;           // 0 = unbounded

    // Connection i belongs to thread i % threads. Sender slot s is connection
    // floor(s * conns / senders), so senders are spread over threads and source addresses.
    uint32_t sender_conn(uint32_t slot) const {
        return static_cast<uint32_t>(uint64_t{slot} * opts.conns / opts.senders);
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
    std::atomic<uint64_t> unique{0};  // distinct deliveries from other connections
    std::atomic<uint64_t> deliveries{0};
};

struct ThreadResult {
    uint64_t sent = 0, measured_sent = 0;
    uint64_t deliveries = 0, measured_deliveries = 0;
    uint64_t duplicates = 0, reordered = 0, gaps = 0, self_echo = 0;
    uint64_t bad_payload = 0, errors = 0, window_stalls = 0, nobufs = 0, pings = 0;
    uint64_t server_closes = 0;
    LatencyHistogram latency;
    std::vector<std::string> error_samples;  // the first few, for the log
    // Per local sender: its slot and how many it sent.
    std::vector<std::pair<uint32_t, uint64_t>> sender_sent;
    // Per local receiver: its own sender slot (or -1) and its view of every sender.
    std::vector<int64_t> receiver_slot;
    std::vector<SequenceTrack> tracks;   // receiver-major, opts.senders per receiver
    std::vector<uint8_t> receiver_open;  // 1 while the connection stayed open to the end
    // Longest wait between two distinct arrivals from one sender at one receiver (a stall,
    // e.g. during a restart), where it ended and who saw it; last_rx_ns is indexed as tracks.
    std::vector<uint64_t> last_rx_ns;
    uint64_t max_gap_ns = 0, max_gap_end_ns = 0;
    uint32_t max_gap_receiver = 0, max_gap_sender = 0;
};

}  // namespace ringcast::bench
