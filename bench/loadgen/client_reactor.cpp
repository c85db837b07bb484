// The reactor loop: connect, handshake, multishot receive, paced or windowed sending.
#include "bench/loadgen/client_reactor.hpp"

#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "bench/loadgen/client_frame.hpp"
#include "bench/loadgen/clock.hpp"
#include "bench/loadgen/payload.hpp"

namespace ringcast::bench {
namespace {

constexpr uint64_t kIdleWaitNs = 20'000'000;  // re-check commands this often when idle
constexpr uint64_t kStallNs = 1'000'000'000;  // a full window this long is a stall
constexpr uint64_t kMaxBurstPerPump = 1024;   // a late paced sender catches up in steps
constexpr size_t kMaxErrorSamples = 8;
constexpr uint16_t kBufGroup = 0;

uint64_t user_data(uint32_t local, uint8_t op) {
    return (uint64_t{local} << 8) | op;
}

std::string errno_text(int e) {
    return std::strerror(e);
}

}  // namespace

uint8_t* ByteBuffer::append(size_t n) {
    if (size + n > cap) {
        const size_t want = std::max({cap * 2, size + n, size_t{4096}});
        std::unique_ptr<uint8_t[]> grown(new uint8_t[want]);
        if (size) std::memcpy(grown.get(), bytes.get(), size);
        bytes = std::move(grown);
        cap = want;
    }
    uint8_t* p = bytes.get() + size;
    size += n;
    return p;
}

// The frame reader's handler for one connection's bytes, received at `now`.
struct ClientReactor::Receipt {
    ClientReactor& r;
    uint32_t local;
    uint64_t now;

    void on_message(proto::Opcode op, const uint8_t* head, size_t head_len, uint64_t len) {
        ThreadResult& res = r.result_;
        PayloadHead h;
        const bool json = r.plan_.opts.json;
        const bool head_ok = json ? op == proto::Opcode::Text && head_len >= kTextHead && read_text_head(head, h)
                                  : op == proto::Opcode::Binary && head_len >= kPayloadHead &&
                                        read_payload_head(head, h);
        if (!head_ok || len != r.plan_.opts.size || h.sender >= r.senders_total_) {
            if (res.bad_payload++ == 0)
                r.note_error("payload not ours: opcode " + std::to_string(int(op)) + ", " +
                             std::to_string(len) + " bytes");
            return;
        }
        Connection& c = r.conns_[local];
        if (static_cast<int64_t>(h.sender) == c.sender_slot) {
            ++res.self_echo;
            return;
        }
        // --channels: not due here (without it, one test of a flag per delivery).
        if (r.plan_.opts.channels && r.channel_of_slot_[h.sender] != c.channel) {
            if (res.cross_channel++ == 0)
                r.note_error("cross-channel delivery: sender " + std::to_string(h.sender) +
                             " (channel " + std::to_string(r.plan_.channel_of_slot(h.sender)) +
                             ") reached connection " + std::to_string(c.global_id) +
                             " (channel " + std::to_string(c.channel) + ")");
            return;
        }
        ++res.deliveries;
        // Local delivery: the receiver is connected to the sender's server.
        const bool same_server = c.target == r.target_of_slot_[h.sender];
        ++(same_server ? res.deliveries_local : res.deliveries_remote);
        switch (res.tracks[size_t{local} * r.senders_total_ + h.sender].observe(h.seq)) {
            case Arrival::InOrder:
                break;
            case Arrival::Gap:
                ++res.gaps;
                break;
            case Arrival::Late:
                ++res.reordered;
                break;
            case Arrival::Duplicate:
                ++res.duplicates;
                return;
        }
        ++r.unique_;
        uint64_t& last = res.last_rx_ns[size_t{local} * r.senders_total_ + h.sender];
        if (last && now - last > res.max_gap_ns) {
            res.max_gap_ns = now - last;
            res.max_gap_end_ns = now;
            res.max_gap_receiver = c.global_id;
            res.max_gap_sender = h.sender;
        }
        last = now;
        if (now >= r.measure_start_ns_ && now < r.measure_end_ns_) {
            ++res.measured_deliveries;
            ++(same_server ? res.measured_deliveries_local : res.measured_deliveries_remote);
        }
        if (h.send_ns >= r.measure_start_ns_ && h.send_ns < r.measure_end_ns_) {
            const uint64_t lat = now > h.send_ns ? now - h.send_ns : 0;
            res.latency.record(lat);
            (same_server ? res.latency_local : res.latency_remote).record(lat);
        }
        const int32_t si = r.sender_of_slot_[h.sender];
        if (si >= 0) {
            Sender& s = r.senders_[static_cast<size_t>(si)];
            if (s.observer == local && h.seq + 1 > s.acked) s.acked = h.seq + 1;
        }
    }
    void on_ping(const uint8_t* p, size_t n) {
        ++r.result_.pings;
        Connection& c = r.conns_[local];
        uint8_t* out = c.pending.append(kMaxClientHeader + n);
        const size_t w = encode_masked_frame(out, proto::Opcode::Pong, p, n, r.random32());
        c.pending.size -= kMaxClientHeader + n - w;
        r.flush(local);
    }
    void on_close(uint16_t code, std::string_view reason) {
        ++r.result_.server_closes;
        r.fail(local,
               "server sent close " + std::to_string(code) + " '" + std::string(reason) + "'");
    }
};

ClientReactor::ClientReactor(const RunPlan& plan, RunControl& control, ThreadProgress& progress,
                             uint32_t index)
    : plan_(plan),
      control_(control),
      progress_(progress),
      index_(index),
      senders_total_(plan.opts.senders),
      frame_bytes_(client_frame_size(plan.opts.size)) {
    if (plan.opts.json) {
        // A price feed's shape: the same keys, varying numbers (compresses about 4:1).
        std::string j = "{\"feed\":\"ringcast-bench\",\"quotes\":[";
        for (uint32_t i = 0; j.size() < plan.opts.size; ++i) {
            j += "{\"sym\":\"SYM" + std::to_string(i % 37) + "\",\"bid\":" + std::to_string(1000 + (i * 7919) % 997) +
                 "." + std::to_string(i % 100) + ",\"ask\":" + std::to_string(1001 + (i * 104729) % 991) +
                 ",\"size\":" + std::to_string((i * 31) % 5000) + "},";
        }
        json_.assign(j.begin(), j.end());
    }
    const uint32_t threads = plan.opts.threads;
    for (uint32_t g = index; g < plan.opts.conns; g += threads) {
        Connection c;
        c.global_id = g;
        c.target = plan.target_of_conn(g);
        c.channel = plan.channel_of_conn(g);
        conns_.push_back(std::move(c));
    }
    sender_of_slot_.assign(senders_total_, -1);
    target_of_slot_.assign(senders_total_, 0);
    channel_of_slot_.assign(senders_total_, 0);
    const uint32_t n = static_cast<uint32_t>(conns_.size());
    for (uint32_t slot = 0; slot < senders_total_; ++slot) {
        const uint32_t g = plan.sender_conn(slot);
        target_of_slot_[slot] = plan.target_of_conn(g);
        channel_of_slot_[slot] = plan.channel_of_slot(slot);
        if (g % threads != index) continue;
        Sender s;
        s.slot = slot;
        s.conn = g / threads;
        // The slice's last connection observes: the broadcast reaches it late if the
        // server delivers in connection order, so a freed slot means "everyone has it".
        s.observer = s.conn == n - 1 ? n - 2 : n - 1;
        s.fanout = plan.fanout_of_slot(slot);
        // With several servers, the last one on another server than the sender's: the
        // cross-server path is the longer one, and the window must bound it too.
        if (plan.targets() > 1) {
            for (uint32_t o = n; o-- > 0;) {
                if (conns_[o].target != conns_[s.conn].target) {
                    s.observer = o;
                    break;
                }
            }
        }
        // With --channels, the last other connection of the sender's channel here (none:
        // n, counted by senders_without_observer()).
        if (plan.opts.channels) {
            s.observer = n;
            for (uint32_t o = n; o-- > 0;) {
                if (o != s.conn && conns_[o].channel == conns_[s.conn].channel) {
                    s.observer = o;
                    break;
                }
            }
        }
        sender_of_slot_[slot] = static_cast<int32_t>(senders_.size());
        conns_[s.conn].sender_slot = slot;
        conns_[s.conn].sender = static_cast<int32_t>(senders_.size());
        senders_.push_back(s);
    }
    result_.tracks.assign(conns_.size() * senders_total_, SequenceTrack{});
    result_.last_rx_ns.assign(conns_.size() * senders_total_, 0);
    if (plan.opts.rate > 0) interval_ns_ = static_cast<uint64_t>(1e9 / plan.opts.rate);

    uint64_t seed[2] = {0, 0};
    if (getrandom(seed, sizeof seed, 0) != sizeof seed) seed[0] = now_ns();
    rng_[0] = seed[0] ^ (0x9E3779B97F4A7C15ull * (index + 1));
    rng_[1] = seed[1] | 1;
}

ClientReactor::~ClientReactor() {
    teardown();
}

uint32_t ClientReactor::random32() {
    // xorshift128+: a mask key must be unpredictable to intermediaries (RFC 6455 10.3); for
    // a load generator on loopback a fast generator seeded from getrandom() is enough.
    uint64_t s1 = rng_[0];
    const uint64_t s0 = rng_[1];
    rng_[0] = s0;
    s1 ^= s1 << 23;
    rng_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return static_cast<uint32_t>((rng_[1] + s0) >> 32);
}

void ClientReactor::note_error(const std::string& what) {
    ++result_.errors;
    if (result_.error_samples.size() < kMaxErrorSamples) {
        result_.error_samples.push_back(what);
        std::fprintf(stderr, "ringcast-bench: thread=%u error: %s\n", index_, what.c_str());
    }
}

bool ClientReactor::setup_ring() {
    const size_t n = conns_.size();
    // Every connection may hold a buffer in the CQ at once (one broadcast message lands on
    // all of them together), so the ring has a buffer per connection plus slack, up to
    // the kernel's limit; buffers shrink as they multiply to keep the pool near 128 MiB.
    buf_count_ = std::bit_ceil(static_cast<uint32_t>(std::clamp<size_t>(n + 1024, 1024, 32768)));
    const size_t want = std::clamp<size_t>(std::bit_ceil(frame_bytes_ * 4), 16384, 65536);
    buf_size_ = static_cast<uint32_t>(
        std::max<size_t>(4096, std::min(want, std::bit_floor((size_t{128} << 20) / buf_count_))));

    io_uring_params p{};
    const unsigned cq = std::min<unsigned>(buf_count_ * 2, 65536);
    // SINGLE_ISSUER: only this thread submits. DEFER_TASKRUN: completion work runs when we
    // ask for events, in batches, not by interrupting the loop (and it is billed to us).
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = cq;
    int rc = io_uring_queue_init_params(4096, &ring_, &p);
    if (rc == -EINVAL) {  // kernel before 6.1: no DEFER_TASKRUN
        p = {};
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = cq;
        rc = io_uring_queue_init_params(4096, &ring_, &p);
    }
    if (rc < 0) {
        note_error("io_uring_queue_init: " + errno_text(-rc));
        return false;
    }
    ring_ok_ = true;

    buf_ring_bytes_ = sizeof(io_uring_buf) * buf_count_;
    void* br =
        mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    buffers_bytes_ = size_t{buf_count_} * buf_size_;
    void* bufs =
        mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED || bufs == MAP_FAILED) {
        note_error("mmap of receive buffers failed");
        if (br != MAP_FAILED) munmap(br, buf_ring_bytes_);
        if (bufs != MAP_FAILED) munmap(bufs, buffers_bytes_);
        return false;
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(br);
    buffers_ = static_cast<uint8_t*>(bufs);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
    reg.ring_entries = buf_count_;
    reg.bgid = kBufGroup;
    if ((rc = io_uring_register_buf_ring(&ring_, &reg, 0)) < 0) {
        note_error("io_uring_register_buf_ring (needs Linux 5.19): " + errno_text(-rc));
        return false;
    }
    io_uring_buf_ring_init(buf_ring_);
    const int mask = io_uring_buf_ring_mask(buf_count_);
    for (uint32_t i = 0; i < buf_count_; ++i)
        io_uring_buf_ring_add(buf_ring_, buffers_ + size_t{i} * buf_size_, buf_size_,
                              static_cast<uint16_t>(i), mask, static_cast<int>(i));
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buf_count_));
    return true;
}

io_uring_sqe* ClientReactor::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    while (!s) {  // SQ full: hand what we have to the kernel and take a fresh slot
        io_uring_submit(&ring_);
        s = io_uring_get_sqe(&ring_);
    }
    return s;
}

void ClientReactor::recycle(uint16_t bid) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + size_t{bid} * buf_size_, buf_size_, bid,
                          io_uring_buf_ring_mask(buf_count_), recycled_++);
}

void ClientReactor::start_connects() {
    const uint32_t budget = std::max<uint32_t>(1, plan_.opts.connect_parallel / plan_.opts.threads);
    while (next_to_connect_ < conns_.size() && connecting_ < budget)
        open_connection(next_to_connect_++);
}

void ClientReactor::open_connection(uint32_t local) {
    Connection& c = conns_[local];
    ++connecting_;
    c.phase = Phase::Connecting;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(local, "socket: " + errno_text(errno));
    const int one = 1;
    // Bench messages are small and latency is measured: never wait to coalesce.
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!plan_.sources.empty()) {
        // NO_PORT: pick the port at connect(), unique per 4-tuple, not per source address.
        setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr = plan_.sources[c.global_id % plan_.sources.size()];
        if (bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) < 0)
            return fail(local, "bind: " + errno_text(errno));
    }
    io_uring_sqe* s = sqe();
    const sockaddr_in& server = plan_.servers[c.target].addr;
    io_uring_prep_connect(s, c.fd, reinterpret_cast<const sockaddr*>(&server), sizeof server);
    io_uring_sqe_set_data64(s, user_data(local, OpConnect));
}

void ClientReactor::arm_recv(uint32_t local) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, conns_[local].fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = kBufGroup;
    io_uring_sqe_set_data64(s, user_data(local, OpRecv));
}

// One send in flight per connection keeps the byte order; whatever queued behind it goes
// out together in the next one.
void ClientReactor::flush(uint32_t local) {
    Connection& c = conns_[local];
    if (c.send_inflight || c.pending.size == 0 || c.phase == Phase::Closed) return;
    std::swap(c.sending, c.pending);
    c.pending.clear();
    c.sending_off = 0;
    c.send_inflight = true;
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c.fd, c.sending.bytes.get(), c.sending.size, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, user_data(local, OpSend));
}

void ClientReactor::fail(uint32_t local, const std::string& why) {
    Connection& c = conns_[local];
    if (c.phase == Phase::Closed) return;
    if (c.phase == Phase::Connecting || c.phase == Phase::Handshaking) {
        ++failed_;
        --connecting_;
        note_error("connection " + std::to_string(c.global_id) + " setup: " + why);
    } else {
        note_error("connection " + std::to_string(c.global_id) + ": " + why);
    }
    c.phase = Phase::Closed;
    c.handshake.reset();
    // Shut down, not close: queued SQEs still name this fd, and a reused number would
    // send them to another socket. The fd is closed at teardown.
    if (c.fd >= 0) shutdown(c.fd, SHUT_RDWR);
}

void ClientReactor::on_connect(uint32_t local, int res) {
    Connection& c = conns_[local];
    if (c.phase != Phase::Connecting) return;
    if (res < 0) return fail(local, "connect: " + errno_text(-res));
    c.phase = Phase::Handshaking;
    uint8_t key[16];
    for (int i = 0; i < 4; ++i) {
        const uint32_t r = random32();
        std::memcpy(key + 4 * i, &r, 4);
    }
    c.handshake = std::make_unique<Handshake>();
    const Endpoint& server = plan_.servers[c.target];
    c.handshake->hs = make_client_handshake(server.host_header, plan_.path_of_conn(c.global_id), key,
                                            plan_.opts.deflate, plan_.extra_headers(c.global_id));
    const std::string& req = c.handshake->hs.request;
    std::memcpy(c.pending.append(req.size()), req.data(), req.size());
    arm_recv(local);
    flush(local);
}

void ClientReactor::on_send(uint32_t local, int res) {
    Connection& c = conns_[local];
    if (c.phase == Phase::Closed) {
        c.send_inflight = false;
        return;
    }
    if (res < 0) {
        c.send_inflight = false;
        return fail(local, "send: " + errno_text(-res));
    }
    c.sending_off += static_cast<size_t>(res);
    if (c.sending_off < c.sending.size) {  // short send: the rest goes next, before anything
        io_uring_sqe* s = sqe();
        io_uring_prep_send(s, c.fd, c.sending.bytes.get() + c.sending_off,
                           c.sending.size - c.sending_off, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, user_data(local, OpSend));
        return;
    }
    c.send_inflight = false;
    flush(local);
}

void ClientReactor::on_bytes(uint32_t local, const uint8_t* data, size_t n, uint64_t now) {
    Connection& c = conns_[local];
    if (c.phase == Phase::Handshaking) {
        Handshake& h = *c.handshake;
        const ResponseStatus st =
            h.reader.feed(reinterpret_cast<const char*>(data), n, h.hs.expected_accept);
        if (st == ResponseStatus::NeedMore) return;
        if (st == ResponseStatus::Rejected) return fail(local, "handshake: " + h.reader.error());
        const size_t used = h.reader.consumed();
        if (h.reader.deflate()) {
            if (!plan_.opts.deflate) return fail(local, "handshake: server agreed an extension not offered");
            c.reader.enable_deflate(&inflater_, &inflated_);
            ++result_.deflate_conns;
        }
        c.handshake.reset();
        c.phase = Phase::Open;
        --connecting_;
        ++established_;
        data += used;
        n -= used;
        if (n == 0) return;
    }
    if (c.phase != Phase::Open) return;
    result_.bytes_received += n;
    if (now >= measure_start_ns_ && now < measure_end_ns_) result_.measured_bytes_received += n;
    Receipt receipt{*this, local, now};
    if (const char* err = c.reader.feed(data, n, receipt))
        fail(local, std::string("bad frame from server: ") + err);
}

void ClientReactor::on_recv(uint32_t local, const io_uring_cqe* cqe) {
    const int res = cqe->res;
    const bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    const uint16_t bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    Connection& c = conns_[local];
    if (res > 0 && has_buf && c.phase != Phase::Closed)
        on_bytes(local, buffers_ + size_t{bid} * buf_size_, static_cast<size_t>(res), now_ns());
    if (has_buf) recycle(bid);
    if (c.phase == Phase::Closed) return;
    if (res == 0) return fail(local, "server closed the TCP connection");
    if (res == -ENOBUFS) {
        ++result_.nobufs;  // every buffer was in the CQ: re-arm, the data waits in the socket
    } else if (res < 0) {
        return fail(local, "recv: " + errno_text(-res));
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(local);  // the multishot ended
}

void ClientReactor::handle(const io_uring_cqe* cqe) {
    const uint64_t ud = io_uring_cqe_get_data64(cqe);
    const uint32_t local = static_cast<uint32_t>(ud >> 8);
    switch (static_cast<Op>(ud & 0xFF)) {
        case OpConnect:
            return on_connect(local, cqe->res);
        case OpSend:
            return on_send(local, cqe->res);
        case OpRecv:
            return on_recv(local, cqe);
    }
}

void ClientReactor::send_message(Sender& s, Connection& c) {
    const uint64_t now = now_ns();
    PayloadHead head{s.slot, s.sent, now};
    if (plan_.opts.json) {
        encode_json_message(c.pending.append(frame_bytes_), head, plan_.opts.size, random32(), json_.data());
    } else {
        encode_bench_message(c.pending.append(frame_bytes_), head, plan_.opts.size, random32());
    }
    ++s.sent;
    ++result_.sent;
    expected_ += s.fanout;
    if (now >= measure_start_ns_ && now < measure_end_ns_) ++result_.measured_sent;
}

// Sends what each local sender may send now; returns how long until one is due again.
uint64_t ClientReactor::pump_senders(uint64_t now) {
    uint64_t wake = now + kIdleWaitNs;
    const uint32_t window = plan_.window;
    for (Sender& s : senders_) {
        Connection& c = conns_[s.conn];
        if (c.phase != Phase::Open) continue;
        bool built = false;
        for (uint64_t burst = 0; burst < kMaxBurstPerPump; ++burst) {
            if (window && s.sent - s.acked >= window) {
                if (!s.blocked_since_ns) {
                    s.blocked_since_ns = now;
                } else if (now - s.blocked_since_ns > kStallNs && !s.stall_reported) {
                    s.stall_reported = true;
                    ++result_.window_stalls;
                    note_error("sender " + std::to_string(s.slot) + " stalled: window full " +
                               "for 1 s, observer saw up to seq " + std::to_string(s.acked) +
                               " of " + std::to_string(s.sent));
                }
                break;
            }
            s.blocked_since_ns = 0;
            s.stall_reported = false;
            if (interval_ns_) {
                if (s.next_due_ns > now) {
                    wake = std::min(wake, s.next_due_ns);
                    break;
                }
                s.next_due_ns += interval_ns_;
            }
            send_message(s, c);
            built = true;
        }
        if (built) flush(s.conn);
    }
    return wake > now ? wake - now : 0;
}

void ClientReactor::publish() {
    progress_.established.store(established_, std::memory_order_relaxed);
    progress_.failed.store(failed_, std::memory_order_relaxed);
    progress_.sent.store(result_.sent, std::memory_order_relaxed);
    progress_.expected.store(expected_, std::memory_order_relaxed);
    progress_.unique.store(unique_, std::memory_order_relaxed);
    progress_.deliveries.store(result_.deliveries, std::memory_order_relaxed);
}

void ClientReactor::run() {
    if (!setup_ring()) {
        failed_ = static_cast<uint32_t>(conns_.size());
        publish();
        progress_.ready.store(true, std::memory_order_release);
        progress_.sending_done.store(true, std::memory_order_release);
        teardown();
        return;
    }
    progress_.ready.store(true, std::memory_order_release);
    for (;;) {
        // Pairs with the release store of Send in the coordinator: the deadlines are set.
        const Command cmd = control_.command.load(std::memory_order_acquire);
        if (cmd == Command::Stop) break;
        uint64_t wait = kIdleWaitNs;
        const uint64_t now = now_ns();
        start_connects();
        if (cmd == Command::Send && !sending_) {
            sending_ = true;
            send_start_ns_ = control_.send_start_ns;
            measure_start_ns_ = control_.measure_start_ns;
            measure_end_ns_ = control_.measure_end_ns;
            // Paced senders are staggered over one interval so they do not fire together.
            for (Sender& s : senders_)
                s.next_due_ns = send_start_ns_ + interval_ns_ * s.slot / senders_total_;
        }
        if (sending_ && !sending_done_) {
            if (now >= measure_end_ns_) {
                sending_done_ = true;
                publish();
                progress_.sending_done.store(true, std::memory_order_release);
            } else if (now >= send_start_ns_) {
                wait = std::min(wait, pump_senders(now));
                wait = std::min(wait, measure_end_ns_ - now);
            } else {
                wait = std::min(wait, send_start_ns_ - now);
            }
        }
        __kernel_timespec ts{static_cast<long long>(wait / 1'000'000'000),
                             static_cast<long long>(wait % 1'000'000'000)};
        io_uring_cqe* first = nullptr;
        const int rc = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            note_error("io_uring_submit_and_wait_timeout: " + errno_text(-rc));
        unsigned head;
        unsigned seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            handle(cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
        if (recycled_) {
            io_uring_buf_ring_advance(buf_ring_, recycled_);
            recycled_ = 0;
        }
        publish();
    }
    teardown();
}

uint32_t ClientReactor::senders_without_observer() const {
    if (!plan_.window) return 0;
    uint32_t n = 0;
    for (const Sender& s : senders_) n += s.observer >= conns_.size() ? 1 : 0;
    return n;
}

void ClientReactor::open_all_for_test() {
    for (Connection& c : conns_) c.phase = Phase::Open;
    measure_start_ns_ = 0;
    measure_end_ns_ = UINT64_MAX;
}

void ClientReactor::feed_for_test(uint32_t local, const uint8_t* data, size_t n, uint64_t now) {
    on_bytes(local, data, n, now);
}

void ClientReactor::sent_for_test(uint64_t n) {
    for (Sender& s : senders_) {
        s.sent += n;
        result_.sent += n;
        expected_ += n * s.fanout;
    }
    publish();
}

void ClientReactor::teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    // A polite close (1000) where the socket has room; the server may be gone already.
    uint8_t close_frame[8];
    const uint8_t code[2] = {0x03, 0xE8};
    for (Connection& c : conns_) {
        if (c.phase != Phase::Open) continue;
        const size_t n =
            encode_masked_frame(close_frame, proto::Opcode::Close, code, 2, random32());
        (void)!send(c.fd, close_frame, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    for (size_t i = 0; i < conns_.size(); ++i) {
        result_.receiver_slot.push_back(conns_[i].sender_slot);
        result_.receiver_channel.push_back(conns_[i].channel);
        result_.receiver_open.push_back(conns_[i].phase == Phase::Open ? 1 : 0);
    }
    for (const Sender& s : senders_) result_.sender_sent.emplace_back(s.slot, s.sent);
    if (ring_ok_) io_uring_queue_exit(&ring_);  // cancels the multishot receives
    ring_ok_ = false;
    for (Connection& c : conns_) {
        if (c.fd >= 0) close(c.fd);
        c.fd = -1;
    }
    if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
    if (buffers_) munmap(buffers_, buffers_bytes_);
    buf_ring_ = nullptr;
    buffers_ = nullptr;
}

}  // namespace ringcast::bench
