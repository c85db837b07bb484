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

inline bool read_payload_head(const uint8_t* p, PayloadHead& out);

// Text messages (--json) carry the same head as 32 base64 characters, then JSON: valid UTF-8,
// and as compressible as the feeds permessage-deflate is for.
inline constexpr size_t kTextHead = 32;
inline constexpr size_t kPayloadCapture = kTextHead;  // what a receiver keeps of a message

inline void write_text_head(uint8_t* p, const PayloadHead& h) {
    static constexpr char k64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t raw[kPayloadHead];
    write_payload_head(raw, h);
    for (size_t i = 0, o = 0; i < kPayloadHead; i += 3, o += 4) {
        const uint32_t v = (uint32_t{raw[i]} << 16) | (uint32_t{raw[i + 1]} << 8) | raw[i + 2];
        for (size_t k = 0; k < 4; ++k) p[o + k] = static_cast<uint8_t>(k64[(v >> (18 - 6 * k)) & 63]);
    }
}

inline bool read_text_head(const uint8_t* p, PayloadHead& out) {
    auto val = [](uint8_t c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        return c == '+' ? 62 : c == '/' ? 63 : -1;
    };
    uint8_t raw[kPayloadHead];
    for (size_t i = 0, o = 0; i < kPayloadHead; i += 3, o += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; ++k) {
            const int d = val(p[o + k]);
            if (d < 0) return false;
            v = (v << 6) | static_cast<uint32_t>(d);
        }
        raw[i] = static_cast<uint8_t>(v >> 16);
        raw[i + 1] = static_cast<uint8_t>(v >> 8);
        raw[i + 2] = static_cast<uint8_t>(v);
    }
    return read_payload_head(raw, out);
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
