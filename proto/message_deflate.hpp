// proto/message_deflate.hpp: permessage-deflate's payload transforms (RFC 7692 §7.2) over
// zlib, without sockets.
//
// Owns: MessageDeflater (one per producer: compresses a whole message once, raw DEFLATE, no
// context kept between messages, ending in a sync flush whose 00 00 FF FF tail is removed)
// and MessageInflater (one per shard for clients without context, one per connection for a
// client that keeps its LZ77 window: inflates a whole compressed message, counting its
// output against a bound while it inflates, so a small frame that would inflate past the
// bound stops there). Errors are values.
//
// zlib, not libdeflate: for the messages a broadcast server carries (hundreds of bytes) zlib's
// deflateReset + one deflate(Z_SYNC_FLUSH) measured faster than libdeflate's one-shot
// compressor at the same level (docs/compression.md), and only zlib inflates a stream whose
// window continues across messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ringcast::proto {

inline constexpr uint8_t kDeflateTail[4] = {0x00, 0x00, 0xFF, 0xFF};

class MessageDeflater {
  public:
    explicit MessageDeflater(int level = 6);
    ~MessageDeflater();
    MessageDeflater(const MessageDeflater&) = delete;
    MessageDeflater& operator=(const MessageDeflater&) = delete;

    // Compresses in[0, n) into out[0, cap) and returns the payload's length (the tail removed),
    // or 0 when it does not fit in cap (give cap < n to keep only results that shrink) or zlib
    // failed. Each call starts from an empty window. From kSecondStrategyBytes on, the message
    // is compressed with both zlib strategies (default and filtered) and the smaller kept.
    size_t compress(const uint8_t* in, size_t n, uint8_t* out, size_t cap);

    static constexpr size_t kSecondStrategyBytes = 128;

  private:
    struct Stream;
    std::unique_ptr<Stream> z_;
    std::unique_ptr<Stream> filtered_;
    std::vector<uint8_t> scratch_;  // the second try's output
};

enum class InflateResult : uint8_t { Ok, TooBig, Corrupt };

class MessageInflater {
  public:
    // window_bits: the client's agreed window (8..15; zlib needs at least 9, and a window
    // larger than the sender's is always safe).
    explicit MessageInflater(int window_bits = 15);
    ~MessageInflater();
    MessageInflater(const MessageInflater&) = delete;
    MessageInflater& operator=(const MessageInflater&) = delete;

    // Inflates one whole message (its payload without the tail, which is appended here) and
    // writes it to out (resized to the result; its capacity is reused). Stops as soon as the
    // output would exceed max_bytes (TooBig). keep_context = false forgets the window
    // afterwards (client_no_context_takeover); true keeps it for the client's next message.
    // After TooBig or Corrupt the state is unusable for this client: close the connection.
    InflateResult inflate(const uint8_t* in, size_t n, std::vector<uint8_t>& out,
                          uint64_t max_bytes, bool keep_context);

    // The LZ77 window as it stands between two messages (at most 32 KiB), so a hot restart can
    // carry a client's context to another process; restore() puts it into a fresh inflater.
    std::vector<uint8_t> window() const;
    bool restore(const uint8_t* window, size_t n);

  private:
    struct Stream;
    std::unique_ptr<Stream> z_;
};

}  // namespace ringcast::proto
