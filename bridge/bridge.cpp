/*
 * The bridge process (docs/bridge.md): one more member of the ring fabric that relays every
 * local message to a Redis stream and every other node's message from it into its own ring.
 *
 *   shard rings --consume--> Outbox --XADD (pipelined)--> Redis stream --XREAD BLOCK--> own ring
 *
 * Out: a shard record is copied into the outbox at once, but the bridge's cursor in that ring
 * stays on the oldest record Redis has not acknowledged (at most half a ring and half a slab,
 * so local broadcast never waits on Redis); a bridge killed mid-flight is restarted on the
 * same cursors and writes those records again. In: the last stream id put into the ring is
 * noted in shm together with the ring head that holds it (shm ResumePoint), so a restarted
 * bridge reads on from exactly there. Copies from replays are dropped by SeenTable. A message
 * on a channel carries its name both ways, and comes in only when some shard here counts a
 * subscriber of that channel (shm/channel_hash.hpp).
 *
 * One thread, one poll loop: two Redis connections (a blocking XREAD monopolises one), the
 * eventfd shards write when they publish to a sleeping bridge, the supervisor's channel and
 * a signalfd.
 */
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bridge/inbound.hpp"
#include "bridge/options.hpp"
#include "bridge/outbox.hpp"
#include "bridge/redis_link.hpp"
#include "bridge/seen.hpp"
#include "bridge/stream_entry.hpp"
#include "proto/encoder.hpp"
#include "ringcast/version.hpp"
#include "shm/control.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "base/fd.hpp"
#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/log_limiter.hpp"
#include "base/secret_file.hpp"
#include "base/exit_code.hpp"
#include "base/wake.hpp"

namespace ringcast::bridge {
namespace {

constexpr uint64_t kMs = 1000000;
constexpr size_t kWindow = 4096;                 // XADDs awaiting their reply at once
constexpr size_t kMaxOutputBytes = 1 << 20;      // written but not yet taken by the socket
constexpr uint32_t kReadCount = 1024;            // entries per XREAD
constexpr uint32_t kBlockMs = 1000;              // XREAD BLOCK
constexpr uint64_t kReplyTimeoutNs = 5000 * kMs;  // a silent broker (stopped, cut off) past this is down
constexpr size_t kSeedEntries = 10000;           // stream entries read back to fill SeenTable
constexpr uint64_t kSeedTimeoutNs = 60000 * kMs;  // reading them back may move a lot of payload
constexpr uint64_t kStopFlushNs = 3000 * kMs;
constexpr uint64_t kStatsEveryNs = 250 * kMs;

uint64_t realtime_ms() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000ull + static_cast<uint64_t>(ts.tv_nsec) / 1000000ull;
}

// Error replies that say "not now" rather than "never": the write is retried after a reconnect.
bool transient_error(std::string_view e) {
    for (std::string_view prefix : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY", "OOM", "CLUSTERDOWN"}) {
        if (e.substr(0, prefix.size()) == prefix) return true;
    }
    return false;
}

const char* state_name(RedisLink::State s) {
    switch (s) {
        case RedisLink::State::Down: return "down";
        case RedisLink::State::Connecting: return "connecting";
        case RedisLink::State::Authenticating: return "authenticating";
        case RedisLink::State::Up: return "up";
    }
    return "down";
}

struct Counters {
    uint64_t sent = 0;         // XADDs Redis acknowledged
    uint64_t received = 0;     // other nodes' messages put into the ring
    uint64_t duplicates = 0;   // copies from a writer's replay, dropped
    uint64_t own = 0;          // this node's entries, skipped
    uint64_t unsubscribed = 0;  // entries on a channel nobody here subscribes to, skipped
    uint64_t replayed = 0;     // messages written after a reconnect that waited for it
    uint64_t errors = 0;       // XADDs Redis refused (error replies)
    uint64_t bad_entries = 0;  // stream entries that are not ours to read
    uint64_t too_large = 0;    // entries larger than this node's slab can hold
    uint64_t reconnects = 0;
};

class Bridge {
  public:
    Bridge(const BridgeOptions& o, shm::Segment& seg, const RedisAuth& auth)
        : o_(o),
          seg_(seg),
          producer_(seg, o.member),
          consumer_(seg, o.member),
          channel_seed_(seg.header().address_seed),
          outbox_(o.buffer_messages, o.drop_newest ? Overflow::DropNewest : Overflow::DropOldest),
          writer_(o.redis_host, o.redis_port, auth),
          reader_(o.redis_host, o.redis_port, auth) {}

    int run(int signal_fd);

  private:
    void start_rings();
    void consume_rings();
    void release_rings();
    void write_outbox(uint64_t now);
    void read_writer_replies(uint64_t now);
    void reader_step(uint64_t now);
    void on_reader_reply(redisReply* r, uint64_t now);
    bool deliver_inbound();
    void note_and_publish();
    void write_note();
    std::optional<StreamId> resume_point() const;
    void watch_links(uint64_t now);
    void report_refusal(const char* role, const RedisLink& link, uint64_t& seen, log::RepeatLimiter& limit,
                        uint64_t now);
    const char* auth_text() const;
    void send_stats();
    void read_channel();
    bool rings_have_news() const;

    const BridgeOptions& o_;
    shm::Segment& seg_;
    shm::Producer producer_;
    shm::Consumer consumer_;
    const uint64_t channel_seed_;  // keys the channel-name hash of the segment's ChannelCounts
    Outbox outbox_;
    RedisLink writer_;
    RedisLink reader_;
    SeenTable seen_;
    Counters n_;

    // Shard rings (members below o_.member): next record to read, the cursor as stored, the
    // newest record that left the outbox, and how many are still in it.
    std::vector<uint64_t> consumed_, released_, acked_, outstanding_;
    // Ring geometry, for the hold bounds.
    uint64_t ring_capacity_ = 0, slab_bytes_ = 0;

    // Writer.
    RedisLink::State writer_was_ = RedisLink::State::Down;
    uint64_t last_reply_ns_ = 0;  // last XADD reply, or when the oldest in flight was sent
    size_t replay_quota_ = 0;     // messages queued when the writer came back: they count as replayed
    bool announced_unreachable_ = false;

    // Reader.
    enum class ReadState { Idle, Waiting, Holding } read_state_ = ReadState::Idle;
    RedisLink::State reader_was_ = RedisLink::State::Down;
    uint64_t read_sent_ns_ = 0;
    bool seeding_ = false;  // the outstanding command is the XREVRANGE that fills seen_
    bool seeded_ = false;
    std::optional<StreamId> last_id_;  // newest entry handled; nullopt = none yet
    std::optional<StreamId> noted_id_;
    redisReply* held_ = nullptr;  // an XREAD reply not wholly in the ring yet
    size_t held_next_ = 0;
    bool ring_full_ = false;  // the last delivery found no room: retry soon
    bool behind_ = false;     // the last XREAD was full: more is waiting
    uint64_t lag_ms_ = 0;

    bool stopping_ = false;
    bool channel_closed_ = false;
    const uint64_t started_ms_ = realtime_ms();
    bool warned_same_id_ = false;

    // Refused logins seen per link, and one warning line a second at most for what repeats.
    uint64_t writer_refusals_ = 0, reader_refusals_ = 0;
    log::RepeatLimiter writer_auth_log_, reader_auth_log_, read_failed_log_;
};

// ---- rings -> outbox ----------------------------------------------------------------------

void Bridge::start_rings() {
    const uint32_t shards = o_.member;
    shm::RingView own = seg_.ring(o_.member);
    ring_capacity_ = own.capacity;
    slab_bytes_ = own.slab_bytes;
    const bool live = shm::state_of(seg_.control(o_.member)) == shm::MemberState::Live;
    if (o_.resume && live) {
        // The previous bridge process left its cursors on what Redis had not acknowledged.
        RC_LOG_INFO("event=bridge_resume detail=\"continuing from the previous process's cursors\"");
    } else {
        consumer_.join();
    }
    consumed_.resize(shards);
    for (uint32_t p = 0; p < shards; ++p) consumed_[p] = consumer_.cursor(p);
    released_ = consumed_;
    acked_ = consumed_;
    outstanding_.assign(shards, 0);
    // The bridge never reads its own ring: keep its cursor there off the producer's path.
    consumer_.release(o_.member, producer_.head());
}

void Bridge::consume_rings() {
    for (uint32_t p = 0; p < o_.member; ++p) {
        const uint64_t head = consumer_.available(p);
        for (uint64_t seq = consumed_[p]; seq < head; ++seq) {
            const shm::Descriptor& d = consumer_.descriptor(p, seq);
            const uint8_t* frame = consumer_.frame(p, d);
            // A record is one whole server frame (FIN set, unmasked) as the shard encoded it.
            const auto op = static_cast<proto::Opcode>(frame[0] & 0x0F);
            const uint8_t len7 = frame[1] & 0x7F;
            const size_t header = len7 <= 125 ? 2 : len7 == 126 ? 4 : 10;
            std::string_view payload(reinterpret_cast<const char*>(frame) + header, d.length - header);
            // A dropped message never reaches Redis: it no longer counts as awaiting it. Its
            // record is released with the others once nothing older awaits a reply.
            bool queued = outbox_.push(p, seq, op, payload, consumer_.channel_name(p, d),
                                       [this](uint32_t m, uint64_t, bool was_queued) {
                                           if (was_queued) --outstanding_[m];
                                       });
            if (queued) ++outstanding_[p];
        }
        consumed_[p] = head;
    }
}

// Moves each cursor up to the oldest record still awaiting Redis, but never holds more than
// half the ring or half the slab: past that the outbox's copy is the only one.
void Bridge::release_rings() {
    for (uint32_t p = 0; p < o_.member; ++p) {
        uint64_t target = outstanding_[p] == 0 ? consumed_[p] : std::min(acked_[p], consumed_[p]);
        if (consumed_[p] - target > ring_capacity_ / 2) target = consumed_[p] - ring_capacity_ / 2;
        // Records below our stored cursor may already be rewritten by the shard: never read them.
        target = std::max(target, released_[p]);
        if (target < consumed_[p]) {
            const shm::Descriptor& last = consumer_.descriptor(p, consumed_[p] - 1);
            // A record may hold a compressed variant and a channel name after the plain frame
            // (shm/layout.hpp).
            const uint64_t end = last.slab_pos + shm::record_bytes(last);
            while (target < consumed_[p] && end - consumer_.descriptor(p, target).slab_pos > slab_bytes_ / 2) {
                ++target;
            }
        }
        target = std::max(target, released_[p]);
        if (target != released_[p]) {
            consumer_.release(p, target);
            released_[p] = target;
        }
    }
}

// ---- outbox -> Redis ----------------------------------------------------------------------

void Bridge::write_outbox(uint64_t now) {
    if (writer_.state() != RedisLink::State::Up) return;
    if (outbox_.in_flight() == 0) last_reply_ns_ = now;
    XaddArgs args;
    // Bounded in messages and in bytes: hiredis moves the unsent rest of its buffer down on
    // every partial write, so a huge buffer would cost quadratic copying.
    while (outbox_.pending() > 0 && outbox_.in_flight() < kWindow && writer_.output_bytes() < kMaxOutputBytes) {
        const OutMessage& m = outbox_.next_pending();
        Origin origin{o_.node_id, o_.epoch, m.member, m.seq};
        build_xadd(args, o_.stream, o_.maxlen, o_.node_id, origin, m.op, m.payload, m.channel);
        writer_.append(args.count, args.argv, args.len);
        outbox_.mark_sent();
        if (replay_quota_ > 0) {
            --replay_quota_;
            ++n_.replayed;
        }
    }
}

void Bridge::read_writer_replies(uint64_t now) {
    while (redisReply* r = writer_.next_reply()) {
        if (outbox_.in_flight() == 0) {
            freeReplyObject(r);
            writer_.fail("a reply nobody asked for", now);
            return;
        }
        if (r->type == REDIS_REPLY_ERROR && is_auth_error(std::string_view(r->str, r->len))) {
            // Not allowed to write (NOAUTH: no login; NOPERM: an ACL without XADD on the key):
            // the message waits for a login that may write, as it would for Redis to come back.
            std::string why = "refused by Redis: " + std::string(r->str, std::min<size_t>(r->len, 120));
            freeReplyObject(r);
            writer_.refuse_auth(why, now);
            return;
        }
        if (r->type == REDIS_REPLY_ERROR && transient_error(std::string_view(r->str, r->len))) {
            // Redis is up but cannot take writes yet (loading its data, a busy script, a
            // replica): drop the connection, so what awaits a reply goes again after it.
            std::string why = "transient error: " + std::string(r->str, std::min<size_t>(r->len, 80));
            freeReplyObject(r);
            writer_.fail(why, now);
            return;
        }
        OutMessage m = outbox_.acknowledge();
        if (r->type == REDIS_REPLY_ERROR) {
            // Refused for good (a wrong key type): writing it again would not
            // help. Counted and logged, never retried forever.
            if (n_.errors++ % 1000 == 0) {
                RC_LOG_ERROR("event=bridge_xadd_refused stream=%s error=\"%.*s\" refused_total=%llu",
                             o_.stream.c_str(), static_cast<int>(r->len), r->str,
                             static_cast<unsigned long long>(n_.errors));
            }
        } else {
            ++n_.sent;
        }
        --outstanding_[m.member];
        acked_[m.member] = std::max(acked_[m.member], m.seq + 1);
        outbox_.recycle(std::move(m.channel));
        outbox_.recycle(std::move(m.payload));
        freeReplyObject(r);
        last_reply_ns_ = now;
    }
}

// ---- Redis -> own ring --------------------------------------------------------------------

void Bridge::reader_step(uint64_t now) {
    if (reader_.state() != RedisLink::State::Up || read_state_ != ReadState::Idle || stopping_) return;
    if (!seeded_) {
        // Newest first: the first entry seen of each producer is its newest (SeenTable keeps
        // the first), and the first entry overall is where a fresh bridge starts reading.
        std::string from = last_id_ ? last_id_->text() : "+";
        std::string count = std::to_string(kSeedEntries);
        const char* argv[] = {"XREVRANGE", o_.stream.c_str(), from.c_str(), "-", "COUNT", count.c_str()};
        size_t lens[] = {9, o_.stream.size(), from.size(), 1, 5, count.size()};
        reader_.append(6, argv, lens);
        seeding_ = true;
    } else {
        std::string count = std::to_string(kReadCount);
        std::string block = std::to_string(kBlockMs);
        std::string from = last_id_ ? last_id_->text() : "0-0";
        const char* argv[] = {"XREAD", "COUNT", count.c_str(), "BLOCK", block.c_str(), "STREAMS", o_.stream.c_str(),
                              from.c_str()};
        size_t lens[] = {5, 5, count.size(), 5, block.size(), 7, o_.stream.size(), from.size()};
        reader_.append(8, argv, lens);
        seeding_ = false;
    }
    read_state_ = ReadState::Waiting;
    read_sent_ns_ = now;
}

void Bridge::on_reader_reply(redisReply* r, uint64_t now) {
    std::string error;
    const redisReply* entries = entries_of(r, !seeding_, &error);
    if (r->type == REDIS_REPLY_ERROR && is_auth_error(std::string_view(r->str, r->len))) {
        std::string why = "refused by Redis: " + std::string(r->str, std::min<size_t>(r->len, 120));
        freeReplyObject(r);
        reader_.refuse_auth(why, now);
        read_state_ = ReadState::Idle;
        return;
    }
    if (!error.empty()) {
        // Redis answers the same way on every retry (5 a second): one line a second at most.
        if (uint64_t held = 0; read_failed_log_.admit(now, &held)) {
            RC_LOG_WARN("event=bridge_read_failed stream=%s error=\"%s\" suppressed=%llu", o_.stream.c_str(),
                        error.c_str(), static_cast<unsigned long long>(held));
        }
        freeReplyObject(r);
        reader_.fail(error, now);
        read_state_ = ReadState::Idle;
        return;
    }
    if (seeding_) {
        for (size_t i = 0; entries && i < entries->elements; ++i) {
            DecodedEntry e = decode_entry(entries->element[i]);
            if (!last_id_ && e.id) last_id_ = e.id;  // a fresh bridge reads what comes after
            if (e.message) seen_.first_time(e.message->origin);
        }
        if (!last_id_) last_id_ = StreamId{0, 0};
        seeded_ = true;
        RC_LOG_INFO("event=bridge_reading stream=%s from=%s producers_known=%zu", o_.stream.c_str(),
                    last_id_->text().c_str(), seen_.producers());
        freeReplyObject(r);
        read_state_ = ReadState::Idle;
        return;
    }
    if (!entries || entries->elements == 0) {
        behind_ = false;
        lag_ms_ = 0;
        freeReplyObject(r);
        read_state_ = ReadState::Idle;
        return;
    }
    behind_ = entries->elements >= kReadCount;
    held_ = r;
    held_next_ = 0;
    read_state_ = ReadState::Holding;
    deliver_inbound();
}

// Puts the held reply's entries into the ring, in order, until it is done or the ring is
// full (then retried shortly: local consumers free it). True when the reply is done.
bool Bridge::deliver_inbound() {
    std::string ignored;
    const redisReply* entries = entries_of(held_, true, &ignored);
    const std::optional<StreamId> before = last_id_;
    bool full = false;
    for (; held_next_ < entries->elements; ++held_next_) {
        DecodedEntry e = decode_entry(entries->element[held_next_]);
        if (!e.message) {
            if (n_.bad_entries++ % 1000 == 0) {
                RC_LOG_WARN("event=bridge_bad_entry stream=%s id=%s error=\"%s\"", o_.stream.c_str(),
                            e.id ? e.id->text().c_str() : "?", e.error.c_str());
            }
            if (e.id) last_id_ = e.id;
            continue;
        }
        const StreamMessage& m = *e.message;
        if (m.origin.node == o_.node_id) {
            // Another epoch written since this node started: a second node uses our id, and
            // each of the two skips the other's messages as its own. Said once.
            if (m.origin.epoch != o_.epoch && m.id.ms > started_ms_ && !warned_same_id_) {
                warned_same_id_ = true;
                RC_LOG_ERROR("event=bridge_node_id_collision node_id=%s detail=\"another node writes to stream %s "
                             "with this node_id; give every node its own bridge.node_id\"",
                             o_.node_id.c_str(), o_.stream.c_str());
            }
            ++n_.own;
            last_id_ = m.id;
            continue;
        }
        if (!wanted_here(seg_, channel_seed_, m.channel)) {
            // Nobody here would receive it. Still noted as seen, so that a replayed copy
            // arriving after somebody subscribed is not delivered out of its turn.
            if (seen_.first_time(m.origin)) ++n_.unsubscribed;
            else ++n_.duplicates;
            last_id_ = m.id;
            continue;
        }
        // The channel's name follows the frame inside the record (shm/layout.hpp).
        const InboundRecord rec = inbound_record(m);
        if (rec.bytes() > producer_.max_frame()) {
            if (n_.too_large++ % 1000 == 0) {
                RC_LOG_WARN("event=bridge_entry_too_large id=%s bytes=%zu slab_bytes=%llu", m.id.text().c_str(),
                            m.payload.size(), static_cast<unsigned long long>(producer_.max_frame()));
            }
            last_id_ = m.id;
            continue;
        }
        uint8_t* out = producer_.reserve(static_cast<uint32_t>(rec.bytes()));
        if (!out) {
            full = true;
            break;
        }
        if (!seen_.first_time(m.origin)) {
            ++n_.duplicates;  // the reservation is simply not committed
            last_id_ = m.id;
            continue;
        }
        write_inbound_record(out, m, rec);
        producer_.commit(static_cast<uint32_t>(rec.frame_len), 0, rec.channel_len);
        ++n_.received;
        last_id_ = m.id;
    }
    if (last_id_ != before) note_and_publish();
    if (last_id_) lag_ms_ = behind_ ? realtime_ms() - std::min(realtime_ms(), last_id_->ms) : 0;
    ring_full_ = full;
    if (full) return false;
    freeReplyObject(held_);
    held_ = nullptr;
    read_state_ = ReadState::Idle;
    return true;
}

// Notes the newest stream id with the ring head that holds it, then publishes: whatever
// instant the process dies at, the note a successor reads matches what it finds published.
void Bridge::note_and_publish() {
    write_note();
    producer_.publish();
    wake_sleeping_consumers(producer_, o_.wake_fds);
    consumer_.release(o_.member, producer_.head());
    noted_id_ = last_id_;
}

// Fills the slot the generation does not point at, then points at it (release).
void Bridge::write_note() {
    shm::ResumePoint& rp = seg_.control(o_.member).resume;
    const uint64_t g = rp.generation.load(std::memory_order_relaxed);  // only this process writes it
    shm::ResumeNote& slot = rp.slots[(g + 1) & 1];
    slot.input[0] = last_id_->ms;
    slot.input[1] = last_id_->seq;
    slot.ring_head = producer_.head();
    // Pairs with the acquire in resume_point() of a later process.
    rp.generation.store(g + 1, std::memory_order_release);
}

std::optional<StreamId> Bridge::resume_point() const {
    const shm::ResumePoint& rp = seg_.control(o_.member).resume;
    // Pairs with the release in note_and_publish().
    const uint64_t g = rp.generation.load(std::memory_order_acquire);
    if (g == 0) return std::nullopt;
    // Pairs with the release store of head in Producer::publish().
    const uint64_t head = seg_.ring(o_.member).hdr->head.load(std::memory_order_acquire);
    const shm::ResumeNote& newest = rp.slots[g & 1];
    if (head >= newest.ring_head) return StreamId{newest.input[0], newest.input[1]};
    // Killed between the note and the publish: the records of that note are gone with it.
    if (g < 2) return std::nullopt;
    const shm::ResumeNote& before = rp.slots[(g - 1) & 1];
    return StreamId{before.input[0], before.input[1]};
}

// ---- links, supervisor --------------------------------------------------------------------

// A refused login is the operator's to fix: said as an error, with the user but never the
// password, each time it happens (at most once a second per connection; retries back off).
void Bridge::report_refusal(const char* role, const RedisLink& link, uint64_t& seen, log::RepeatLimiter& limit,
                            uint64_t now) {
    if (link.refusals() == seen) return;
    seen = link.refusals();
    uint64_t held = 0;
    if (!limit.admit(now, &held)) return;
    RC_LOG_ERROR("event=bridge_auth_refused role=%s redis=%s user=%s error=\"%s\" suppressed=%llu "
                 "detail=\"check bridge.username and bridge.password_file; retrying with backoff, local "
                 "broadcast goes on\"",
                 role, link.address().c_str(), o_.redis_username.empty() ? "default" : o_.redis_username.c_str(),
                 link.why().c_str(), static_cast<unsigned long long>(held));
}

const char* Bridge::auth_text() const {
    using A = RedisLink::Auth;
    const A w = writer_.auth(), r = reader_.auth();
    if (w == A::None) return "none";
    if (w == A::Refused || r == A::Refused) return "refused";
    if (w == A::Ok || r == A::Ok) return "ok";
    return "pending";
}

void Bridge::watch_links(uint64_t now) {
    report_refusal("writer", writer_, writer_refusals_, writer_auth_log_, now);
    report_refusal("reader", reader_, reader_refusals_, reader_auth_log_, now);
    const RedisLink::State w = writer_.state();
    if (w != writer_was_) {
        if (w == RedisLink::State::Up) {
            ++n_.reconnects;
            replay_quota_ = outbox_.size();
            RC_LOG_INFO("event=bridge_connected role=writer redis=%s stream=%s queued=%zu", writer_.address().c_str(),
                        o_.stream.c_str(), outbox_.size());
            announced_unreachable_ = false;
        } else if (w == RedisLink::State::Down) {
            // Replies lost with the connection: their messages go again (readers drop copies).
            size_t again = outbox_.requeue_in_flight();
            if (writer_was_ == RedisLink::State::Up || !announced_unreachable_) {
                RC_LOG_WARN("event=bridge_disconnected role=writer redis=%s error=\"%s\" requeued=%zu "
                            "detail=\"local broadcast goes on; buffering up to %llu messages\"",
                            writer_.address().c_str(), writer_.why().c_str(), again,
                            static_cast<unsigned long long>(o_.buffer_messages));
                announced_unreachable_ = true;
            }
        }
        writer_was_ = w;
    }
    if (w == RedisLink::State::Up && outbox_.in_flight() > 0 && now - last_reply_ns_ > kReplyTimeoutNs) {
        writer_.fail("no reply from Redis in time", now);
        watch_links(now);
        return;
    }
    const RedisLink::State r = reader_.state();
    if (r != reader_was_) {
        if (r == RedisLink::State::Up) {
            RC_LOG_INFO("event=bridge_connected role=reader redis=%s stream=%s", reader_.address().c_str(),
                        o_.stream.c_str());
        } else if (r == RedisLink::State::Down) {
            if (reader_was_ == RedisLink::State::Up) {
                RC_LOG_WARN("event=bridge_disconnected role=reader redis=%s error=\"%s\"", reader_.address().c_str(),
                            reader_.why().c_str());
            }
            if (read_state_ == ReadState::Waiting) read_state_ = ReadState::Idle;
        }
        reader_was_ = r;
    }
    if (r == RedisLink::State::Up && read_state_ == ReadState::Waiting &&
        now - read_sent_ns_ > (seeding_ ? kSeedTimeoutNs : kBlockMs * kMs + kReplyTimeoutNs)) {
        reader_.fail("no reply from Redis in time", now);
        read_state_ = ReadState::Idle;
        reader_was_ = RedisLink::State::Down;
    }
}

void Bridge::send_stats() {
    if (o_.control_fd < 0) return;
    nlohmann::json j = {{"connected", writer_.state() == RedisLink::State::Up && reader_.state() == RedisLink::State::Up},
                        {"writer", state_name(writer_.state())},
                        {"reader", state_name(reader_.state())},
                        {"redis", writer_.address()},
                        {"auth", auth_text()},
                        {"stream", o_.stream},
                        {"node_id", o_.node_id},
                        {"buffered", outbox_.size()},
                        {"in_flight", outbox_.in_flight()},
                        {"sent", n_.sent},
                        {"received", n_.received},
                        {"duplicates", n_.duplicates},
                        {"own_skipped", n_.own},
                        {"skipped_unsubscribed", n_.unsubscribed},
                        {"replayed", n_.replayed},
                        {"dropped", outbox_.dropped()},
                        {"refused", n_.errors},
                        {"bad_entries", n_.bad_entries},
                        {"too_large", n_.too_large},
                        {"reconnects", n_.reconnects},
                        {"lag_ms", lag_ms_},
                        {"last_id", last_id_ ? last_id_->text() : ""},
                        {"last_error", writer_.why().empty() ? reader_.why() : writer_.why()}};
    std::string line = "bridge-stats " + j.dump();
    (void)!::send(o_.control_fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void Bridge::read_channel() {
    char buf[256];
    while (true) {
        ssize_t n = ::recv(o_.control_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n == 0) {
            stopping_ = true;  // the supervisor is gone
            channel_closed_ = true;  // it would report POLLHUP on every poll from now on
            return;
        }
        if (n < 0) return;
        std::string cmd(buf, static_cast<size_t>(n));
        if (cmd == "stop") {
            stopping_ = true;
        } else if (cmd.rfind("set log_level ", 0) == 0) {
            log::threshold().store(std::atoi(cmd.c_str() + 14), std::memory_order_relaxed);
        }
    }
}

bool Bridge::rings_have_news() const {
    for (uint32_t p = 0; p < o_.member; ++p) {
        if (consumer_.available(p) != consumed_[p]) return true;
    }
    return false;
}

int Bridge::run(int signal_fd) {
    start_rings();
    last_id_ = resume_point();
    noted_id_ = last_id_;
    if (last_id_) {
        RC_LOG_INFO("event=bridge_resume_input from=%s", last_id_->text().c_str());
        // Note it again against the published head, so both slots hold published notes: a
        // second death between a note and its publish then falls back to this one.
        write_note();
    }
    const int wake_fd = o_.member < o_.wake_fds.size() ? o_.wake_fds[o_.member] : -1;
    uint64_t next_stats = 0;
    uint64_t stop_deadline = 0;
    std::vector<pollfd> fds;
    while (true) {
        uint64_t now = monotonic_ns();
        shm::beat(seg_.control(o_.member), now);
        if (stopping_ && stop_deadline == 0) {
            stop_deadline = now + kStopFlushNs;
            RC_LOG_INFO("event=bridge_stopping queued=%zu", outbox_.size());
        }
        // Without a writer there is nothing to flush to; the cursors still hold what Redis has
        // not taken (up to half a ring), and the shards must not wait on us meanwhile.
        if (stopping_ && (outbox_.size() == 0 || now >= stop_deadline || writer_.state() != RedisLink::State::Up)) {
            break;
        }

        writer_.tick(now);
        reader_.tick(now);
        watch_links(now);
        if (!stopping_) consume_rings();
        write_outbox(now);
        if (held_ && read_state_ == ReadState::Holding) deliver_inbound();
        reader_step(now);
        release_rings();
        if (now >= next_stats) {
            send_stats();
            next_stats = now + kStatsEveryNs;
        }

        fds.clear();
        fds.push_back({signal_fd, POLLIN, 0});
        fds.push_back({channel_closed_ ? -1 : o_.control_fd, POLLIN, 0});
        fds.push_back({wake_fd, POLLIN, 0});
        fds.push_back({writer_.fd(), writer_.poll_events(), 0});
        fds.push_back({reader_.fd(), reader_.poll_events(), 0});
        int timeout = ring_full_ ? 1 : 50;
        // Sleep protocol (shm/ring.hpp): flag, re-check, then block on the eventfd.
        consumer_.prepare_sleep();
        if (!stopping_ && rings_have_news()) timeout = 0;
        if (writer_.state() == RedisLink::State::Up && outbox_.pending() > 0 && outbox_.in_flight() < kWindow) {
            timeout = 0;
        }
        ::poll(fds.data(), fds.size(), timeout);
        consumer_.cancel_sleep();
        now = monotonic_ns();
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si{};
            while (::read(signal_fd, &si, sizeof si) == sizeof si) stopping_ = true;
        }
        if (fds[1].revents) read_channel();
        if (fds[2].revents & POLLIN) {
            uint64_t v;
            (void)!::read(wake_fd, &v, sizeof v);
        }
        if (fds[3].revents) writer_.on_poll(fds[3].revents, now);
        read_writer_replies(now);
        if (fds[4].revents) reader_.on_poll(fds[4].revents, now);
        while (read_state_ == ReadState::Waiting) {
            redisReply* r = reader_.next_reply();
            if (!r) break;
            on_reader_reply(r, now);
        }
        watch_links(now);
    }
    release_rings();
    if (outbox_.size() > 0) {
        RC_LOG_WARN("event=bridge_stopped_unflushed messages=%zu detail=\"Redis did not take them in time\"",
                    outbox_.size());
    }
    if (held_) freeReplyObject(held_);
    send_stats();
    RC_LOG_INFO("event=bridge_stopped sent=%llu received=%llu skipped_unsubscribed=%llu",
                static_cast<unsigned long long>(n_.sent), static_cast<unsigned long long>(n_.received),
                static_cast<unsigned long long>(n_.unsubscribed));
    return 0;
}

}  // namespace

int run_bridge(const BridgeOptions& o) {
    log::set_origin("bridge");
    log::threshold().store(o.log_level, std::memory_order_relaxed);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);
    Fd signal_fd(signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK));
    auto attached = shm::Segment::attach(o.segment);
    if (auto* err = std::get_if<std::string>(&attached)) {
        RC_LOG_ERROR("event=attach_failed segment=%s error=\"%s\"", o.segment.c_str(), err->c_str());
        return kExitFatal;
    }
    shm::Segment& seg = std::get<shm::Segment>(attached);
    if (o.member + 1 != seg.members()) {
        RC_LOG_ERROR("event=bridge_bad_member member=%u members=%u", o.member, seg.members());
        return kExitFatal;
    }
    seg.control(o.member).pid.store(getpid(), std::memory_order_relaxed);
    if (o.control_fd >= 0) {
        std::string version = std::string("version ") + kVersion;
        (void)!::send(o.control_fd, version.data(), version.size(), MSG_NOSIGNAL);
    }
    RedisAuth auth;
    if (!o.redis_password_file.empty()) {
        // Read here, not passed on the command line, where every local user could read it.
        auto read = read_secret_file(o.redis_password_file);
        if (auto* err = std::get_if<SecretFileError>(&read)) {
            RC_LOG_ERROR("event=bridge_password_file_failed error=\"%s\"", err->message.c_str());
            return kExitFatal;
        }
        auth.username = o.redis_username;
        auth.password = std::move(std::get<std::string>(read));
    }
    RC_LOG_INFO("event=bridge_started member=%u redis=%s:%u stream=%s node_id=%s resume=%d auth=%s", o.member,
                o.redis_host.c_str(), o.redis_port, o.stream.c_str(), o.node_id.c_str(), o.resume,
                auth.password.empty() ? "none" : (o.redis_username.empty() ? "password" : "acl_user"));
    Bridge bridge(o, seg, auth);
    return bridge.run(signal_fd.get());
}

}  // namespace ringcast::bridge
