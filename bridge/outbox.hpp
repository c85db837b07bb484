/*
 * Outbox: the local messages on their way to Redis, oldest first. The front `in_flight()`
 * entries are written to the broker and await their XADD replies (which come back in order);
 * the rest are pending. While the broker is away everything is pending, bounded by `limit`
 * messages: past it the overflow policy drops the oldest pending message or refuses the new
 * one, and counts it. On a broken connection the in-flight entries become pending again:
 * their fate is unknown, so they are written again (readers drop the copies, see seen.hpp).
 *
 * Payload buffers (and the buffers of channel names too long to live inside a std::string) are
 * recycled, so a steady flow allocates nothing per message.
 */
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/opcode.hpp"

namespace ringcast::bridge {

enum class Overflow { DropOldest, DropNewest };

struct OutMessage {
    uint32_t member = 0;  // ring member that produced it
    uint64_t seq = 0;     // its sequence in that ring
    proto::Opcode op = proto::Opcode::Binary;
    std::string payload;
    std::string channel;  // the record's channel name; empty = none
};

class Outbox {
  public:
    Outbox(size_t limit, Overflow policy) : limit_(limit), policy_(policy) {}

    // Queues a copy of the message. Returns false when the new message was not queued
    // (DropNewest at the limit). Either way a drop is counted in dropped() and reported to
    // `on_drop(member, seq, was_queued)`: the new message (was_queued = false) or, under
    // DropOldest, the oldest pending one (was_queued = true), so its ring may move on.
    template <class F>
    bool push(uint32_t member, uint64_t seq, proto::Opcode op, std::string_view payload, F&& on_drop) {
        return push(member, seq, op, payload, std::string_view{}, on_drop);
    }
    // The same, for a message on a channel (an empty name is none).
    template <class F>
    bool push(uint32_t member, uint64_t seq, proto::Opcode op, std::string_view payload, std::string_view channel,
              F&& on_drop) {
        if (pending() >= limit_) {
            ++dropped_;
            if (policy_ == Overflow::DropNewest || pending() == 0) {
                on_drop(member, seq, false);
                return false;
            }
            OutMessage& victim = q_[in_flight_];
            on_drop(victim.member, victim.seq, true);
            recycle(std::move(victim.channel));
            recycle(std::move(victim.payload));  // last in, first out: the next payload's
            q_.erase(q_.begin() + static_cast<long>(in_flight_));
        }
        OutMessage m;
        m.member = member;
        m.seq = seq;
        m.op = op;
        m.payload = take_buffer();
        m.payload.assign(payload.data(), payload.size());
        if (channel.size() > kInlineBytes) m.channel = take_buffer();
        m.channel.assign(channel.data(), channel.size());
        q_.push_back(std::move(m));
        return true;
    }

    size_t size() const { return q_.size(); }
    size_t in_flight() const { return in_flight_; }
    size_t pending() const { return q_.size() - in_flight_; }
    uint64_t dropped() const { return dropped_; }

    // The next pending message, to be written; mark_sent() once it is.
    const OutMessage& next_pending() const { return q_[in_flight_]; }
    void mark_sent() { ++in_flight_; }

    // The oldest in-flight message got its reply.
    OutMessage acknowledge() {
        OutMessage m = std::move(q_.front());
        q_.pop_front();
        --in_flight_;
        return m;
    }
    void recycle(std::string&& buffer) {
        // A string's inline storage is no heap buffer: nothing to keep.
        if (buffer.capacity() <= kInlineBytes) return;
        if (spare_.size() < kSpareBuffers && buffer.capacity() <= kSpareMaxBytes) {
            buffer.clear();
            spare_.push_back(std::move(buffer));
        }
    }

    // The connection broke: nothing is in flight any more. Returns how many go again.
    size_t requeue_in_flight() { return std::exchange(in_flight_, 0); }

  private:
    static constexpr size_t kSpareBuffers = 4096;
    static constexpr size_t kSpareMaxBytes = 64 * 1024;  // large payloads go back to the heap
    static inline const size_t kInlineBytes = std::string().capacity();  // short-string storage

    std::string take_buffer() {
        if (spare_.empty()) return {};
        std::string b = std::move(spare_.back());
        spare_.pop_back();
        return b;
    }

    std::deque<OutMessage> q_;
    size_t in_flight_ = 0;
    size_t limit_;
    Overflow policy_;
    uint64_t dropped_ = 0;
    std::vector<std::string> spare_;
};

}  // namespace ringcast::bridge
