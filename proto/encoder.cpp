// Control-frame encoders (close, ping, pong); the data-frame header is inline in the header.
#include "proto/encoder.hpp"

#include <cstring>

namespace ringcast::proto {

size_t encode_close_frame(uint8_t* out, uint16_t code, std::string_view reason) {
    if (code == 0) return encode_control_frame(out, Opcode::Close, nullptr, 0);
    size_t len = reason.size() < kMaxControlPayload - 2 ? reason.size() : kMaxControlPayload - 2;
    // Never split a character: back up while the first byte left out is a continuation.
    if (len < reason.size()) {
        while (len > 0 && (static_cast<uint8_t>(reason[len]) & 0xC0) == 0x80) --len;
    }
    out[0] = 0x80 | static_cast<uint8_t>(Opcode::Close);
    out[1] = static_cast<uint8_t>(2 + len);
    out[2] = static_cast<uint8_t>(code >> 8);
    out[3] = static_cast<uint8_t>(code);
    if (len) std::memcpy(out + 4, reason.data(), len);
    return 4 + len;
}

size_t encode_control_frame(uint8_t* out, Opcode op, const uint8_t* payload, size_t n) {
    if (n > kMaxControlPayload) n = kMaxControlPayload;
    out[0] = 0x80 | static_cast<uint8_t>(op);
    out[1] = static_cast<uint8_t>(n);
    if (n) std::memcpy(out + 2, payload, n);
    return 2 + n;
}

}  // namespace ringcast::proto
