// The shard reactor: see shard.hpp for the path of one message. This file owns the loop
// that drives that path one pass at a time, and the dispatch of each completion to its part:
// shard_accept.cpp (a socket becomes a connection), shard_receive.cpp (recv, parse, publish),
// shard_deliver.cpp (rings to send queues), shard_send.cpp (send queues to sockets),
// shard_lifecycle.cpp (open, close, timers, shutdown) and shard_handoff.cpp (hot restart).
#include "worker/shard.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "proto/close_code.hpp"
#include "shm/control.hpp"
#include "base/clock.hpp"
#include "base/exit_code.hpp"
#include "base/log.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

namespace {

constexpr unsigned kUringEntries = 4096;
constexpr uint32_t kRecvBuffers = 4096;          // power of two (buffer ring)
constexpr uint32_t kRecvBufferSize = 16 * 1024;
// Upgrade requests get their own small buffers: a handshake then touches a few pages of a
// small pool instead of one page of every large buffer the ring cycles through.
constexpr uint32_t kHandshakeBuffers = 256;      // power of two
constexpr uint32_t kHandshakeBufferSize = 1024;  // longer requests take several recvs
constexpr uint64_t kHousekeepingNs = 50 * kMs;

}  // namespace

Shard::Shard(shm::Segment& segment, const ShardOptions& options, const Settings& settings,
             const std::vector<int>& wake_fds, uint32_t worker_index)
    : segment_(segment),
      options_(options),
      settings_(settings),
      wake_fds_(wake_fds),
      worker_index_(worker_index),
      members_(segment.members()),
      ring_capacity_(segment.header().ring_capacity),
      max_buffered_(settings.max_buffered_bytes) {
    channels_.resize(1);  // channel 0: everyone, while channels are off
}

Shard::~Shard() {
    for (auto& c : table_) {
        if (c && c->fd >= 0) ::close(c->fd);
    }
}

void Shard::stop(uint16_t code) {
    stop_code_requested_.store(code, std::memory_order_relaxed);
    stop_requested_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wake_fds_[options_.member], &one, sizeof one);
}

int Shard::setup() {
    int rc = uring_.init(kUringEntries);
    if (rc < 0) {
        RC_LOG_ERROR("event=io_uring_unavailable error=\"%s\" hint=\"check kernel.io_uring_disabled and the seccomp profile\"",
                     std::strerror(-rc));
        return kExitFatal;
    }
    rc = buffers_.init(uring_.get(), kRecvBuffers, kRecvBufferSize, 0);
    if (rc == 0) rc = handshake_buffers_.init(uring_.get(), kHandshakeBuffers, kHandshakeBufferSize, 1);
    if (rc < 0) {
        RC_LOG_ERROR("event=buffer_ring_failed error=\"%s\" hint=\"provided buffer rings need Linux 5.19+\"",
                     std::strerror(-rc));
        return kExitFatal;
    }
    scratch_ = std::make_unique_for_overwrite<SendScratch>();  // pages touched only as used
    // libcrypto resolves SHA-1 and faults in its code on first use: pay that here, once,
    // rather than in the first client's handshake.
    (void)proto::compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==");
    producer_ = std::make_unique<shm::Producer>(segment_, options_.member);
    consumer_ = std::make_unique<shm::Consumer>(segment_, options_.member);
    now_ns_ = monotonic_ns();
    pick_up_policy();
    if (!policy_) policy_ = std::get<std::shared_ptr<const AdmissionPolicy>>(make_admission_policy({}));
    if (adopting_) {
        // The old process is frozen and keeps its hands off shared memory until our ack:
        // rebuild from its state (reading shm only), then wait for the go.
        if (!rebuild(adopted_, adopted_fds_)) {
            failed_.store(true, std::memory_order_release);
            return kExitFatal;
        }
        adopted_ = {};
        prepared_.store(true, std::memory_order_release);
        go_.wait(false, std::memory_order_acquire);
        now_ns_ = monotonic_ns();
    } else {
        consumer_->join();
        trackers_.clear();
        next_seq_.assign(members_, 0);
        released_.assign(members_, 0);
        for (uint32_t p = 0; p < members_; ++p) {
            uint64_t start = segment_.cursor(options_.member, p).load(std::memory_order_acquire);
            trackers_.emplace_back(ring_capacity_, start);
            next_seq_[p] = start;
            released_[p] = start;
        }
        prepared_.store(true, std::memory_order_release);
    }
    recount_addresses();  // ours alone from here on: a dead predecessor's counts go
    recount_channels();
    arm_wake();
    accepting_ = true;
    arm_accept();
    io_uring_submit(uring_.get());
    return 0;
}

int Shard::run() {
    log::set_origin("worker=%u shard=%u", worker_index_, options_.member);
    int rc = setup();
    if (rc != 0) {
        failed_.store(true, std::memory_order_release);
        return rc;
    }
    RC_LOG_INFO("event=shard_ready cpu=%d listen_fd=%d connections=%u", options_.cpu, options_.listen_fd,
                live_connections_);
    loop();
    if (verdict_.load(std::memory_order_acquire) == 1) {
        // Handed over: the new process owns this member now; touch nothing more.
        RC_LOG_INFO("event=shard_handed_over");
        return 0;
    }
    shm::mark_dead(segment_, options_.member);
    RC_LOG_INFO("event=shard_stopped");
    return 0;
}

void Shard::loop() {
    io_uring* ring = uring_.get();
    auto& stats = segment_.control(options_.member).stats;
    while (true) {
        now_ns_ = monotonic_ns();
        if (handoff_sock_.load(std::memory_order_acquire) >= 0 && !freezing_ && !shutting_down_) begin_freeze();
        if (freezing_ && quiescent()) {
            if (finish_freeze()) return;  // our connections live in the new process now
        }
        if (stop_requested_.load(std::memory_order_acquire) && !shutting_down_ && !freezing_) begin_shutdown();
        if (dump_state_.load(std::memory_order_acquire) == 1) dump_connections();
        if (shutting_down_ && (live_connections_ == 0 || now_ns_ >= shutdown_deadline_ns_)) break;

        // Completions, at most `batch` per pass.
        unsigned handled = 0;
        io_uring_cqe* cqe;
        unsigned head;
        io_uring_for_each_cqe(ring, head, cqe) {
            handle(cqe);
            if (++handled >= settings_.batch) break;
        }
        io_uring_cq_advance(ring, handled);
        shm::count(stats.loop_iterations);
        if (handled) shm::count(stats.completions, handled);

        if (!paused_.empty()) resume_paused();
        if (committed_) {
            producer_->publish();
            committed_ = 0;
            wake_consumers();
        }
        deliver_from_rings();
        flush_sends();
        release_cursors();
        const uint32_t returned = buffers_.commit() + handshake_buffers_.commit();
        if (returned > 0 && !starved_.empty()) rearm_starved();
        if (now_ns_ >= next_housekeeping_ns_) {
            housekeeping(now_ns_);
            next_housekeeping_ns_ = now_ns_ + kHousekeepingNs;
        }
        shm::set_gauge(stats.connections, live_connections_);
        shm::set_gauge(stats.deflate_connections, deflate_open_);
        shm::set_gauge(stats.admitted, admitted_);
        shm::set_gauge(stats.listeners, listeners_);
        shm::set_gauge(stats.authenticated, authenticated_);
        shm::set_gauge(stats.channels, live_channels_);

        if (handled > 0 || io_uring_cq_ready(ring) > 0 || (freezing_ && quiescent())) {
            // Busy: submit and collect whatever completed, without blocking.
            io_uring_submit_and_get_events(ring);
            scratch_submitted();
            continue;
        }
        // Idle: announce that we sleep, then look once more so a record published between
        // our last look and the flag is not missed (the producer wakes flagged sleepers).
        consumer_->prepare_sleep();
        if (any_ring_ready()) {
            consumer_->cancel_sleep();
            io_uring_submit_and_get_events(ring);
            scratch_submitted();
            continue;
        }
        // Paused input waits for ring space freed by other consumers: poll it briskly.
        uint64_t wait_ns = paused_.empty() ? kHousekeepingNs : kMs;
        __kernel_timespec ts{};
        ts.tv_sec = 0;
        ts.tv_nsec = static_cast<long long>(wait_ns);
        io_uring_cqe* ignored = nullptr;
        io_uring_submit_and_wait_timeout(ring, &ignored, 1, &ts, nullptr);
        scratch_submitted();
        consumer_->cancel_sleep();
    }
    // Leave nothing referenced: close what is left.
    for (auto& c : table_) {
        if (c && c->fd >= 0) destroy(*c);
    }
}

bool Shard::any_ring_ready() {
    for (uint32_t p = 0; p < members_; ++p) {
        if (consumer_->available(p) != next_seq_[p]) return true;
    }
    return false;
}

Connection* Shard::connection_for(uint64_t ud) {
    uint32_t slot = slot_of(ud);
    if (slot >= table_.size() || !table_[slot]) return nullptr;
    Connection* c = table_[slot].get();
    return c->generation == gen_of(ud) ? c : nullptr;
}

void Shard::handle(io_uring_cqe* cqe) {
    uint64_t ud = cqe->user_data;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    switch (kind_of(ud)) {
        case kAccept: on_accept(cqe->res, more); return;
        case kWake: on_wake(cqe->res); return;
        case kRecv:
        case kRecvHandshake: {
            BufferRing& pool = kind_of(ud) == kRecv ? buffers_ : handshake_buffers_;
            Connection* c = connection_for(ud);
            if (c) {
                guarded(*c, [&] { on_recv(*c, pool, cqe->res, cqe->flags); });
            } else if (cqe->flags & IORING_CQE_F_BUFFER) {
                pool.recycle(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
            }
            return;
        }
        case kSend: {
            Connection* c = connection_for(ud);
            if (c) guarded(*c, [&] { on_send(*c, cqe->res); });
            return;
        }
        case kCancel:
        case kShutdown:
            return;
    }
}

// Recovery: whatever goes wrong while handling one connection (an allocation that fails, a
// bug) closes that connection with 1011 and is logged; the shard and its other clients go on.
template <class F>
void Shard::guarded(Connection& c, F&& body) {
    try {
        body();
    } catch (const std::exception& e) {
        recover(c, e.what());
    } catch (...) {
        recover(c, "unknown exception");
    }
}

void Shard::recover(Connection& c, const char* what) {
    RC_LOG_ERROR("event=connection_failed conn=%u peer=%s error=\"%s\" action=close_1011", c.serial,
                 PeerName(c.peer).c_str(), what);
    shm::count_protocol_error(segment_.control(options_.member).stats, proto::close_code::InternalError);
    try {
        if (c.fd >= 0 && (c.state == ConnState::Open || c.state == ConnState::Handshake)) {
            if (c.in) {
                c.in->msg_active = c.in->msg_ready = false;
                c.in->direct = nullptr;
            }
            queue_close(c, proto::close_code::InternalError, "internal error");
            return;
        }
    } catch (...) {
    }
    destroy(c);
}

// ---- wake ---------------------------------------------------------------------------------

void Shard::arm_wake() {
    wake_armed_ = true;
    io_uring_sqe* s = uring_.sqe();
    io_uring_prep_read(s, wake_fds_[options_.member], &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(s, pack(kWake));
}

void Shard::on_wake(int res) {
    wake_armed_ = false;
    // A frozen shard leaves the member's eventfd to the process taking over.
    if (res == -ECANCELED || freezing_) return;
    arm_wake();
}

}  // namespace ringcast::worker
