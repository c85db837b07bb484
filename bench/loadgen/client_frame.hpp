// Client-to-server frames (RFC 6455 5.2-5.3): masked, minimal length encoding, a fresh mask
// key per frame. A bench message is a 24-byte head plus zero padding; masking zeros yields
// the key itself, so the padding is written as the repeated key with 8-byte stores instead of
// being XORed byte by byte. Anything else is masked through proto::unmask (AVX2/SSE2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bench/loadgen/payload.hpp"
#include "proto/opcode.hpp"
#include "proto/unmask.hpp"

namespace ringcast::bench {

inline constexpr size_t kMaxClientHeader = 14;  // 2 + 8 (length) + 4 (mask key)

constexpr size_t client_frame_size(uint64_t payload_len) {
    return (payload_len <= 125 ? 2 : payload_len <= 0xFFFF ? 4 : 10) + 4 + payload_len;
}

// Writes the header including the mask key; returns its size. `key` is the 4 wire bytes
// as a native load, the form proto::unmask takes.
inline size_t encode_masked_header(uint8_t* out, proto::Opcode op, uint64_t len, uint32_t key) {
    out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(op));
    size_t at;
    if (len <= 125) {
        out[1] = static_cast<uint8_t>(0x80 | len);
        at = 2;
    } else if (len <= 0xFFFF) {
        out[1] = 0x80 | 126;
        out[2] = static_cast<uint8_t>(len >> 8);
        out[3] = static_cast<uint8_t>(len);
        at = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(len >> (56 - 8 * i));
        at = 10;
    }
    std::memcpy(out + at, &key, 4);
    return at + 4;
}

// A whole masked frame carrying `payload` into `out` (client_frame_size(n) bytes).
inline size_t encode_masked_frame(uint8_t* out, proto::Opcode op, const uint8_t* payload, size_t n,
                                  uint32_t key) {
    const size_t h = encode_masked_header(out, op, n, key);
    if (n) {
        std::memcpy(out + h, payload, n);
        proto::unmask(out + h, n, key, 0);
    }
    return h + n;
}

// A masked binary bench message of `size` bytes (>= kPayloadHead): head, then zero padding.
inline size_t encode_bench_message(uint8_t* out, const PayloadHead& head, size_t size,
                                   uint32_t key) {
    const size_t h = encode_masked_header(out, proto::Opcode::Binary, size, key);
    uint8_t* p = out + h;
    write_payload_head(p, head);
    proto::unmask(p, kPayloadHead, key, 0);
    // Padding starts at payload offset 24, a multiple of 4: the mask restarts at key byte 0.
    const uint64_t key2 = (uint64_t{key} << 32) | key;
    size_t i = kPayloadHead;
    for (; i + 8 <= size; i += 8) std::memcpy(p + i, &key2, 8);
    if (i < size) std::memcpy(p + i, &key2, size - i);
    return h + size;
}

// A masked text bench message of `size` bytes (>= kTextHead): the base64 head, then `size -
// kTextHead` bytes of `json` (a JSON text the caller made at least that long).
inline size_t encode_json_message(uint8_t* out, const PayloadHead& head, size_t size, uint32_t key,
                                  const uint8_t* json) {
    const size_t h = encode_masked_header(out, proto::Opcode::Text, size, key);
    uint8_t* p = out + h;
    write_text_head(p, head);
    std::memcpy(p + kTextHead, json, size - kTextHead);
    proto::unmask(p, size, key, 0);
    return h + size;
}

}  // namespace ringcast::bench
