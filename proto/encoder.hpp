// Server-to-client frame encoding (RFC 6455 5.2): unmasked, minimal length encoding,
// written into a buffer the caller owns (a slab chunk, a control-frame scratch buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/close_code.hpp"
#include "proto/opcode.hpp"

namespace ringcast::proto {

inline constexpr size_t kMaxFrameHeader = 10;      // server frames carry no mask key
inline constexpr size_t kMaxControlPayload = 125;  // RFC 6455 5.5
inline constexpr size_t kMaxControlFrame = 2 + kMaxControlPayload;

constexpr size_t frame_header_size(uint64_t payload_len) {
    return payload_len <= 125 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
}

// Writes the header for `payload_len` bytes (the payload follows it, unchanged).
// `fin = false` with Text/Binary then Continuation frames writes a fragmented message.
inline size_t encode_frame_header(uint8_t* out, Opcode op, uint64_t payload_len, bool fin = true) {
    out[0] = static_cast<uint8_t>((fin ? 0x80 : 0x00) | static_cast<uint8_t>(op));
    if (payload_len <= 125) {
        out[1] = static_cast<uint8_t>(payload_len);
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = static_cast<uint8_t>(payload_len >> 8);
        out[3] = static_cast<uint8_t>(payload_len);
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(payload_len >> (56 - 8 * i));
    return 10;
}

// A whole Close frame into `out` (>= kMaxControlFrame bytes). Code 0 sends an empty
// payload (no status); otherwise `code` must be close_code_valid_on_wire() (never 1005/1006)
// and the reason is cut to fit 123 bytes, on a UTF-8 boundary.
size_t encode_close_frame(uint8_t* out, uint16_t code, std::string_view reason);

// A whole Ping/Pong (or Close) frame into `out` (>= 2 + n bytes). n above 125 is
// truncated to 125 so a bad caller can never produce an invalid or oversized frame.
size_t encode_control_frame(uint8_t* out, Opcode op, const uint8_t* payload, size_t n);

}  // namespace ringcast::proto
