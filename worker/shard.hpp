// One reactor thread: an io_uring, its SO_REUSEPORT listener, its connections, and its
// producer/consumer ends of the shared-memory ring fabric.
//
// The path of one message (DESIGN.md): a recv completion is parsed in place; a complete
// message is written once into this shard's slab as a ready-to-send server frame and
// published in its ring; every shard (this one included) reads every ring and queues a
// reference on each of its open connections except the origin; sends coalesce every queued
// frame of a connection into one sendmsg; the cursor passes a record once no connection of
// this shard still holds it.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "shm/channel_hash.hpp"
#include "shm/segment.hpp"
#include "shm/ring.hpp"
#include "worker/admission_policy.hpp"
#include "worker/connection.hpp"
#include "worker/handoff.hpp"
#include "worker/options.hpp"
#include "worker/uring.hpp"

namespace ringcast::worker {

struct SendScratch;

class Shard {
public:
    Shard(shm::Segment& segment, const ShardOptions& options, const Settings& settings,
          const std::vector<int>& wake_fds, uint32_t worker_index);
    ~Shard();
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    // Runs the reactor until stop() and the graceful close are done (or its connections
    // were handed to a new process). Returns 0, or a worker exit code when the shard cannot
    // run here (e.g. io_uring unavailable).
    int run();
    // Thread-safe: asks the reactor to close every client with `code` (1001 going away,
    // 1012 service restart) after flushing, and return.
    void stop(uint16_t code = 1001);
    // Thread-safe: who may connect and publish (docs/admission.md). Before run() it is the
    // policy the shard starts with; later the shard takes it at its next housekeeping pass.
    void set_admission(std::shared_ptr<const AdmissionPolicy> policy);
    // Thread-safe: the slow-client bound, changeable at run time.
    void set_max_buffered_bytes(uint64_t v) { max_buffered_.store(v, std::memory_order_relaxed); }

    // Thread-safe: the shard describes its connections (one JSON object per line) at its next
    // pass; take_connections() returns it once ready.
    void request_connections();
    bool take_connections(std::string* out);

    // ---- hot restart (docs/handoff.md) ----
    // New process: the state handed over for this member (before run()); run() then sets up
    // io_uring, rebuilds the connections without touching shared memory, reports
    // `prepared()`, and waits for go() before it serves. Without adopt(), run() joins fresh.
    void adopt(handoff::ShardState state, std::vector<int> fds);
    bool prepared() const { return prepared_.load(std::memory_order_acquire); }
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    void go();
    // Old process: freeze, send this shard's state on `sock`, then wait for the verdict:
    // handoff_done() ends run() without closing anything; handoff_failed() resumes serving.
    void request_handoff(int sock);
    void handoff_done();
    void handoff_failed();
    bool frozen_or_sent() const { return verdict_wait_.load(std::memory_order_acquire) != 0; }

private:
    // Members declared inline here are small and called on the hot paths of several
    // shard_*.cpp files: worker/shard_internal.hpp defines them so every caller can inline them.
    struct FrameEvents;
    friend struct FrameEvents;

    int setup();
    void loop();
    void handle(io_uring_cqe* cqe);
    template <class F>
    void guarded(Connection& c, F&& body);
    void recover(Connection& c, const char* what);
    void on_accept(int res, bool more);
    void on_recv(Connection& c, BufferRing& pool, int res, uint32_t flags);
    void on_send(Connection& c, int res);
    void on_wake(int res);

    void arm_accept();
    void arm_recv(Connection& c);
    void arm_wake();

    void receive(Connection& c, BufferRing& pool, uint16_t bid, size_t n);
    void receive_handshake(Connection& c, const uint8_t* data, size_t n);
    void feed_chunk(Connection& c, uint16_t bid, uint32_t offset, size_t n);
    size_t feed_frames(Connection& c, uint8_t* data, size_t n);
    bool publish(Connection& c);
    uint32_t write_deflated(const uint8_t* payload, size_t len, proto::Opcode op, uint8_t* out);
    bool inflate_message(Connection& c, ConnInput& in);
    void refresh_cluster_deflate();
    void pause(Connection& c);
    void resume_paused();
    bool resume_input(Connection& c);
    void rearm_starved();

    ConnInput& input(Connection& c);
    void settle_input(Connection& c);
    void release_input(Connection& c);
    void recycle_held(Connection& c);
    static inline bool holding(const Connection& c);

    void deliver_from_rings();
    void flush_sends();
    bool submit_send(Connection& c);
    inline void scratch_submitted();
    void release_cursors();
    void housekeeping(uint64_t now);
    inline void wake_consumers();

    // Admission (shard_admission.cpp).
    bool admit_upgrade(Connection& c, const proto::HandshakeRequest& req, std::string* protocol);
    void refuse_upgrade(Connection& c, int status, std::string_view reason, shm::RejectReason why,
                        std::string_view headers = {});
    bool refuse_message(Connection& c, ConnInput& in, bool close, std::string_view reason);
    bool within_rate(Connection& c, size_t len);
    void count_admitted(Connection& c, int delta);
    bool admit_channel(Connection& c, const std::string& channel, const nlohmann::json* ringcast_claim,
                       bool* publish);

    // Channels (shard_channels.cpp).
    uint32_t acquire_channel(std::string_view name);
    void release_channel(Connection& c);
    const std::vector<Connection*>* audience_of(uint32_t producer, const shm::Descriptor& d);
    void recount_channels();
    void publish_channel_top();
    void recount_addresses();
    void pick_up_policy();
    void expire_tokens();

    void queue_owned(Connection& c, const uint8_t* data, size_t n);
    void queue_close(Connection& c, uint16_t code, std::string_view reason);
    inline void mark_dirty(Connection& c);
    void open(Connection& c);
    void leave_open_list(Connection& c);
    void destroy(Connection& c);
    void finish_if_idle(Connection& c);
    void push_ref(Connection& c, const OutFrame& f);
    void drop_frame(Connection& c, const OutFrame& f);
    void begin_shutdown();

    void begin_freeze();
    bool quiescent() const;
    bool finish_freeze();  // true when the connections are gone to the new process
    void unfreeze();
    handoff::ShardState capture(std::vector<int>* fds);
    void capture_input(const ConnInput& in, handoff::ConnRecord* r);
    bool rebuild(const handoff::ShardState& st, const std::vector<int>& fds);

    Connection* connection_for(uint64_t user_data);
    bool any_ring_ready();

    shm::Segment& segment_;
    ShardOptions options_;
    Settings settings_;
    const std::vector<int>& wake_fds_;
    uint32_t worker_index_;
    uint32_t members_;
    uint32_t ring_capacity_;

    Uring uring_;
    BufferRing buffers_;            // frames (group 0)
    BufferRing handshake_buffers_;  // upgrade requests (group 1)
    std::unique_ptr<shm::Producer> producer_;
    std::unique_ptr<shm::Consumer> consumer_;
    std::vector<shm::ReleaseTracker> trackers_;   // per producer
    std::vector<uint64_t> next_seq_;              // per producer: first record not yet queued
    std::vector<uint64_t> released_;              // per producer: last cursor stored

    std::vector<std::unique_ptr<Connection>> table_;
    std::vector<uint32_t> free_slots_;
    // Who receives what: each channel's open connections. Channel 0 is everyone while
    // channels are off (DESIGN.md's one audience); with channels, ids from 1 are handed out
    // by name and reused once a channel's last connection is gone.
    struct Channel {
        std::string name;
        std::vector<Connection*> members;  // open connections on it: they receive its records
        uint32_t holders = 0;              // admitted connections on it (open or closing)
        uint64_t messages = 0;             // published here since it appeared
        shm::ChannelSlots slots;
    };
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::vector<Channel> channels_;
    std::vector<uint32_t> free_channels_;
    std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>> channel_ids_;
    uint32_t live_channels_ = 0;
    uint64_t next_channel_top_ns_ = 0;
    std::vector<Connection*> dirty_;     // have something to send
    std::vector<Connection*> paused_;    // hold input back while the ring is full
    std::vector<Connection*> slow_;      // over their buffer bound this pass
    std::vector<Connection*> starved_;   // recv waiting for provided buffers
    std::unique_ptr<SendScratch> scratch_;
    std::vector<std::unique_ptr<ConnInput>> spare_inputs_;  // pool: at most kSpareInputs

    // permessage-deflate (docs/compression.md): one compressor for what this shard produces,
    // one inflater for every client that resets its context each message, one output buffer.
    std::unique_ptr<proto::MessageDeflater> deflater_;
    std::unique_ptr<proto::MessageInflater> shared_inflater_;
    // By connection slot: the inflater of each client that keeps its window (no
    // client_no_context_takeover), made at its first compressed message, dropped in destroy().
    // A side table, so that Connection, which every idle socket pays for, does not grow.
    std::unordered_map<uint32_t, std::unique_ptr<proto::MessageInflater>> kept_inflaters_;
    std::vector<uint8_t> inflate_out_;
    uint32_t deflate_open_ = 0;     // open connections here that negotiated the extension
    bool cluster_deflate_ = false;  // some member has such a connection: write both variants

    // Admission: the policy in force, one handed over by set_admission() and not yet taken,
    // the grants of connections that have one (by slot), and what the gauges publish.
    std::shared_ptr<const AdmissionPolicy> policy_;
    std::mutex policy_mutex_;
    std::shared_ptr<const AdmissionPolicy> policy_next_;
    std::atomic<bool> policy_pending_{false};
    std::unordered_map<uint32_t, ConnGrant> grants_;
    uint32_t admitted_ = 0;
    uint32_t listeners_ = 0;
    uint32_t authenticated_ = 0;
    uint64_t next_expiry_check_ns_ = 0;

    uint64_t wake_value_ = 0;
    uint32_t next_serial_ = 1;
    uint32_t committed_ = 0;             // records committed since the last publish
    uint32_t live_connections_ = 0;
    uint64_t now_ns_ = 0;
    uint64_t next_housekeeping_ns_ = 0;
    uint64_t last_ping_sweep_ns_ = 0;
    uint64_t shutdown_deadline_ns_ = 0;
    bool accepting_ = false;
    bool accept_armed_ = false;
    bool wake_armed_ = false;
    bool shutting_down_ = false;
    bool freezing_ = false;
    uint16_t stop_code_ = 1001;
    std::atomic<bool> stop_requested_{false};
    std::atomic<int> stop_code_requested_{1001};
    std::atomic<uint64_t> max_buffered_{0};
    std::atomic<int> dump_state_{0};   // 1 requested, 2 ready in dump_
    std::string dump_;
    void dump_connections();

    // Hot restart.
    std::atomic<int> handoff_sock_{-1};      // set by request_handoff
    std::atomic<int> verdict_{0};            // 0 pending, 1 done, 2 failed
    std::atomic<int> verdict_wait_{0};       // 1 while frozen or waiting for the verdict
    std::atomic<bool> prepared_{false};
    std::atomic<bool> failed_{false};
    std::atomic<bool> go_{false};
    bool adopting_ = false;
    handoff::ShardState adopted_;
    std::vector<int> adopted_fds_;
};

}  // namespace ringcast::worker
