// One reactor thread of ringcast-bench: an io_uring owning a slice of the connections.
// It connects them (bounded concurrency, one source address per connection), does the
// client handshake, then receives with one multishot recv per connection from a provided
// buffer ring, and drives the senders that live in its slice: paced (--rate) or bounded by
// a window of messages not yet seen by the sender's observer (a receiver in the same
// slice, so a window never waits on another thread).
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/loadgen/client_handshake.hpp"
#include "bench/loadgen/run_state.hpp"
#include "bench/loadgen/server_frame_reader.hpp"

namespace ringcast::bench {

// A growable byte buffer that never zero-fills what it hands out (std::vector would,
// for every message appended).
struct ByteBuffer {
    std::unique_ptr<uint8_t[]> bytes;
    size_t size = 0;
    size_t cap = 0;

    uint8_t* append(size_t n);
    void clear() { size = 0; }
};

class ClientReactor {
  public:
    ClientReactor(const RunPlan& plan, RunControl& control, ThreadProgress& progress,
                  uint32_t index);
    ~ClientReactor();
    ClientReactor(const ClientReactor&) = delete;
    ClientReactor& operator=(const ClientReactor&) = delete;

    // Runs until Command::Stop, then leaves its figures in result().
    void run();
    ThreadResult& result() { return result_; }

    // Senders in max mode whose window has no observer: with --channels and -t, a thread
    // may hold no other connection of a sender's channel (main refuses such a run).
    uint32_t senders_without_observer() const;

    // For the self-test, without a ring or sockets: open every connection as if its
    // handshake had passed, feed one connection server bytes received at `now`, account
    // what sending `n` messages of every local sender would have, and fill result() as a
    // finished run does.
    void open_all_for_test();
    void feed_for_test(uint32_t local, const uint8_t* data, size_t n, uint64_t now);
    void sent_for_test(uint64_t n);
    void finish_for_test() { teardown(); }

  private:
    enum class Phase : uint8_t { Idle, Connecting, Handshaking, Open, Closed };
    enum Op : uint8_t { OpConnect = 1, OpSend = 2, OpRecv = 3 };

    struct Handshake {
        ClientHandshake hs;
        HandshakeResponseReader reader;
    };

    struct Connection {
        int fd = -1;
        uint32_t global_id = 0;
        uint32_t target = 0;       // index into plan.servers
        uint32_t channel = 0;      // plan.channel_of_conn(global_id)
        int64_t sender_slot = -1;  // >= 0 when this connection sends
        int32_t sender = -1;       // index into senders_ when it does
        Phase phase = Phase::Idle;
        bool send_inflight = false;
        ServerFrameReader reader;
        std::unique_ptr<Handshake> handshake;  // only while handshaking
        ByteBuffer sending;                    // owned by the kernel while send_inflight
        ByteBuffer pending;                    // frames queued behind it
        size_t sending_off = 0;
    };

    struct Sender {
        uint32_t slot = 0;
        uint32_t conn = 0;      // local connection index
        uint32_t observer = 0;  // local connection whose receipt frees a window slot
        uint64_t fanout = 0;    // deliveries each message is due (its channel's others)
        uint64_t sent = 0;
        uint64_t acked = 0;  // one past the highest sequence the observer has seen
        uint64_t next_due_ns = 0;
        uint64_t blocked_since_ns = 0;
        bool stall_reported = false;
    };

    struct Receipt;  // the frame reader's handler for one connection

    bool setup_ring();
    io_uring_sqe* sqe();
    void start_connects();
    void open_connection(uint32_t local);
    void arm_recv(uint32_t local);
    void flush(uint32_t local);
    void fail(uint32_t local, const std::string& why);
    void note_error(const std::string& what);
    uint64_t pump_senders(uint64_t now);
    void send_message(Sender& s, Connection& c);
    void handle(const io_uring_cqe* cqe);
    void on_connect(uint32_t local, int res);
    void on_send(uint32_t local, int res);
    void on_recv(uint32_t local, const io_uring_cqe* cqe);
    void on_bytes(uint32_t local, const uint8_t* data, size_t n, uint64_t now);
    void recycle(uint16_t bid);
    void publish();
    void teardown();
    uint32_t random32();

    const RunPlan& plan_;
    RunControl& control_;
    ThreadProgress& progress_;
    const uint32_t index_;
    const uint32_t senders_total_;
    const size_t frame_bytes_;

    io_uring ring_{};
    bool ring_ok_ = false;
    bool torn_down_ = false;
    io_uring_buf_ring* buf_ring_ = nullptr;
    size_t buf_ring_bytes_ = 0;
    uint8_t* buffers_ = nullptr;
    size_t buffers_bytes_ = 0;
    uint32_t buf_count_ = 0;
    uint32_t buf_size_ = 0;
    int recycled_ = 0;

    std::vector<Connection> conns_;
    std::vector<Sender> senders_;
    std::vector<int32_t> sender_of_slot_;   // slot -> index into senders_, -1 if elsewhere
    std::vector<uint32_t> target_of_slot_;  // slot -> the server its connection is on
    std::vector<uint32_t> channel_of_slot_;  // slot -> its channel (--channels)
    uint32_t next_to_connect_ = 0;
    uint32_t connecting_ = 0;
    uint32_t established_ = 0;
    uint32_t failed_ = 0;

    bool sending_ = false;
    bool sending_done_ = false;
    uint64_t send_start_ns_ = 0, measure_start_ns_ = 0, measure_end_ns_ = 0;
    uint64_t interval_ns_ = 0;  // --rate
    uint64_t unique_ = 0;
    uint64_t expected_ = 0;  // deliveries due for what the local senders sent
    uint64_t rng_[2] = {};

    ThreadResult result_;
    // --deflate: one inflater (servers compress with no context) and its output, for every
    // connection of this reactor; --json: the JSON a text message carries after its head.
    proto::MessageInflater inflater_;
    std::vector<uint8_t> inflated_;
    std::vector<uint8_t> json_;
};

}  // namespace ringcast::bench
