// The bytes every ringcast-bench message carries: a fixed 24-byte head (magic, sender slot,
// sequence, send time) followed by padding up to the requested size. Receivers read only the
// head, so a delivery costs the same whatever the message size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ringcast::bench {

inline constexpr uint32_t kPayloadMagic = 0x31424352;  // "RCB1" little-endian
inline constexpr size_t kPayloadHead = 24;

// Offsets of the head's fields; native (little-endian) order, loaded with memcpy.
inline constexpr size_t kMagicAt = 0;
inline constexpr size_t kSenderAt = 4;
inline constexpr size_t kSeqAt = 8;
inline constexpr size_t kSendNsAt = 16;
static_assert(kSendNsAt + 8 == kPayloadHead);

struct PayloadHead {
    uint32_t sender = 0;   // sender slot, 0..senders-1
    uint64_t seq = 0;      // 0, 1, 2, ... per sender
    uint64_t send_ns = 0;  // CLOCK_MONOTONIC when the frame was built
};

inline void write_payload_head(uint8_t* p, const PayloadHead& h) {
    const uint32_t magic = kPayloadMagic;
    std::memcpy(p + kMagicAt, &magic, 4);
    std::memcpy(p + kSenderAt, &h.sender, 4);
    std::memcpy(p + kSeqAt, &h.seq, 8);
    std::memcpy(p + kSendNsAt, &h.send_ns, 8);
}

// False when the magic is wrong: the bytes are not one of ours (or were corrupted).
inline bool read_payload_head(const uint8_t* p, PayloadHead& out) {
    uint32_t magic;
    std::memcpy(&magic, p + kMagicAt, 4);
    if (magic != kPayloadMagic) return false;
    std::memcpy(&out.sender, p + kSenderAt, 4);
    std::memcpy(&out.seq, p + kSeqAt, 8);
    std::memcpy(&out.send_ns, p + kSendNsAt, 8);
    return true;
}

}  // namespace ringcast::bench
