// RFC 6455 5.2 frame opcodes and the predicates the parser and encoder share.
#pragma once

#include <cstdint>

namespace ringcast::proto {

enum class Opcode : uint8_t {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
};

// Control opcodes have the high bit of the 4-bit opcode set (RFC 6455 5.5).
constexpr bool is_control(Opcode op) {
    return (static_cast<uint8_t>(op) & 0x8) != 0;
}

// 0x3-0x7 and 0xB-0xF are reserved; a peer sending them fails the connection (5.2).
constexpr bool opcode_known(uint8_t raw) {
    return raw <= 0x2 || (raw >= 0x8 && raw <= 0xA);
}

}  // namespace ringcast::proto
