/*
 * The per-connection inbound rate limit (docs/admission.md): two token buckets, messages/s
 * and bytes/s, each with its burst. Integer arithmetic on the monotonic ns clock the caller
 * passes, no allocation, and plain trivially-copyable data, so a bucket can travel with its
 * connection in a hot-restart handoff as bytes and go on where it was.
 *
 * A bucket holds up to `burst` tokens, kept in nano-tokens (token x 1e9) so that a refill of
 * `per_s` tokens a second is exact at ns resolution: elapsed_ns x per_s nano-tokens. A message
 * passes when the bucket holds its cost; one larger than the whole burst passes only from a
 * full bucket and leaves it in debt, so the long-run rate still holds.
 */
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

namespace ringcast::admission {

// Rates and bursts up to 2^32 keep every product below 2^63.
inline constexpr uint64_t kMaxRateOrBurst = 1ull << 32;

struct RateLimit {
    uint64_t per_s = 0;  // 0 = unlimited
    uint64_t burst = 0;  // tokens a full bucket holds; >= 1 when per_s > 0
};

// Why a limit cannot be used, or nullopt. `what` names it in the text ("rate_limit.bytes_per_s").
inline std::optional<std::string> check_rate_limit(const RateLimit& l, const std::string& what) {
    if (l.per_s > kMaxRateOrBurst || l.burst > kMaxRateOrBurst)
        return what + ": rate and burst must be at most 4294967296";
    if (l.per_s > 0 && l.burst == 0) return what + ": a burst of 0 would refuse everything";
    return std::nullopt;
}

struct TokenBucket {
    static constexpr int64_t kNano = 1000000000;

    int64_t level = 0;     // nano-tokens; negative = debt from a message larger than the burst
    uint64_t last_ns = 0;  // when level was last brought up to date

    // A bucket starts full: a client's first burst is what the operator allowed.
    static TokenBucket full(const RateLimit& l, uint64_t now_ns) {
        return TokenBucket{static_cast<int64_t>(l.burst) * kNano, now_ns};
    }

    void refill(const RateLimit& l, uint64_t now_ns) {
        const int64_t cap = static_cast<int64_t>(l.burst) * kNano;
        const uint64_t elapsed =
            now_ns > last_ns ? now_ns - last_ns : 0;  // a clock never goes back
        last_ns = now_ns > last_ns ? now_ns : last_ns;
        if (l.per_s == 0 || elapsed == 0) return;
        if (level >= cap) {  // the limit was lowered since: the new burst is the most it holds
            level = cap;
            return;
        }
        // Past the time a refill to full takes the bucket is full; below it elapsed x per_s
        // stays under the deficit + per_s, and the deficit (at most 2 x 2^32 x 1e9) under 2^63.
        const uint64_t deficit = static_cast<uint64_t>(cap - level);
        const uint64_t to_full = deficit / l.per_s + 1;
        if (elapsed >= to_full) {
            level = cap;
            return;
        }
        level += static_cast<int64_t>(elapsed * l.per_s);
        if (level > cap) level = cap;
    }

    // Takes `cost` tokens when the bucket holds them (or is full); false leaves it unchanged.
    bool would_pass(const RateLimit& l, uint64_t cost) const {
        if (l.per_s == 0) return true;
        const int64_t cap = static_cast<int64_t>(l.burst) * kNano;
        const uint64_t clamped = cost < kMaxRateOrBurst ? cost : kMaxRateOrBurst;
        const int64_t need = static_cast<int64_t>(clamped) * kNano;
        return level >= (need < cap ? need : cap);
    }
    void take(const RateLimit& l, uint64_t cost) {
        if (l.per_s == 0) return;
        const uint64_t clamped = cost < kMaxRateOrBurst ? cost : kMaxRateOrBurst;
        level -= static_cast<int64_t>(clamped) * kNano;
    }
};

struct InboundLimits {
    RateLimit messages;
    RateLimit bytes;
};

// One connection's two buckets, in the connection's state.
struct InboundBuckets {
    TokenBucket messages;
    TokenBucket bytes;

    static InboundBuckets full(const InboundLimits& l, uint64_t now_ns) {
        return {TokenBucket::full(l.messages, now_ns), TokenBucket::full(l.bytes, now_ns)};
    }

    // A message of `bytes` arrived: true = within the limits (both buckets pay), false = over
    // one of them (neither pays: a dropped message costs nothing).
    bool admit(const InboundLimits& l, uint64_t bytes_len, uint64_t now_ns) {
        messages.refill(l.messages, now_ns);
        bytes.refill(l.bytes, now_ns);
        if (!messages.would_pass(l.messages, 1) || !bytes.would_pass(l.bytes, bytes_len))
            return false;
        messages.take(l.messages, 1);
        bytes.take(l.bytes, bytes_len);
        return true;
    }
};

static_assert(std::is_trivially_copyable_v<InboundBuckets> &&
                  std::is_standard_layout_v<InboundBuckets>,
              "buckets travel in the handoff as bytes");
static_assert(sizeof(InboundBuckets) == 32);

}  // namespace ringcast::admission
