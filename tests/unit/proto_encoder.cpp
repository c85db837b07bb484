// Server frame encoding: header sizes and bytes for every length class, FIN/opcode bits,
// close and control frames, and the UTF-8-safe truncation of close reasons.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proto/encoder.hpp"
#include "proto/utf8.hpp"

using namespace ringcast::proto;

namespace {
std::vector<uint8_t> header(Opcode op, uint64_t len, bool fin = true) {
    std::vector<uint8_t> out(kMaxFrameHeader + 4, 0xEE);
    const size_t n = encode_frame_header(out.data(), op, len, fin);
    CHECK(n == frame_header_size(len));
    CHECK(out[n] == 0xEE);  // nothing written past the header
    out.resize(n);
    return out;
}
using B = std::vector<uint8_t>;
}  // namespace

TEST_CASE("frame_header_size uses the minimal length encoding") {
    static_assert(frame_header_size(0) == 2);
    static_assert(frame_header_size(125) == 2);
    static_assert(frame_header_size(126) == 4);
    static_assert(frame_header_size(65535) == 4);
    static_assert(frame_header_size(65536) == 10);
    static_assert(frame_header_size(~0ull >> 1) == 10);
    CHECK(kMaxFrameHeader == 10);
}

TEST_CASE("server frame headers are unmasked with FIN set and a minimal length") {
    CHECK(header(Opcode::Text, 0) == B{0x81, 0x00});
    CHECK(header(Opcode::Binary, 125) == B{0x82, 125});
    CHECK(header(Opcode::Binary, 126) == B{0x82, 126, 0x00, 126});
    CHECK(header(Opcode::Text, 65535) == B{0x81, 126, 0xFF, 0xFF});
    CHECK(header(Opcode::Binary, 65536) == B{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0});
    CHECK(header(Opcode::Binary, 0x0102030405060708ull) == B{0x82, 127, 1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("fin=false writes a fragment header, continuation frames use opcode 0") {
    CHECK(header(Opcode::Text, 3, false) == B{0x01, 3});
    CHECK(header(Opcode::Continuation, 3, false) == B{0x00, 3});
    CHECK(header(Opcode::Continuation, 3, true) == B{0x80, 3});
}

TEST_CASE("a close frame carries the code big-endian and the reason") {
    uint8_t out[kMaxControlFrame];
    const size_t n = encode_close_frame(out, close_code::GoingAway, "bye");
    CHECK(B(out, out + n) == B{0x88, 5, 0x03, 0xE9, 'b', 'y', 'e'});
}

TEST_CASE("close code 0 writes an empty close payload") {
    uint8_t out[kMaxControlFrame];
    const size_t n = encode_close_frame(out, 0, "ignored");
    CHECK(B(out, out + n) == B{0x88, 0});
}

TEST_CASE("a long close reason is cut to 123 bytes") {
    uint8_t out[kMaxControlFrame + 8];
    const std::string reason(300, 'r');
    const size_t n = encode_close_frame(out, 1000, reason);
    CHECK(n == 2 + 125);
    CHECK(out[1] == 125);
}

TEST_CASE("a close reason is never cut inside a UTF-8 character") {
    uint8_t out[kMaxControlFrame];
    // ASCII then multi-byte characters straddling byte 123: a character that does not fit
    // whole is dropped whole.
    for (size_t ascii = 115; ascii <= 123; ++ascii) {
        for (const std::string ch : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
            const std::string reason = std::string(ascii, 'a') + ch + ch;
            const size_t n = encode_close_frame(out, 1001, reason);
            const size_t reason_len = n - 4;
            CHECK(reason_len <= 123);
            CHECK(utf8_valid(out + 4, reason_len));
            if (reason.size() > 123) {
                CHECK(reason_len + ch.size() > 123);  // as much as fits, no less
            } else {
                CHECK(reason_len == reason.size());
            }
            CHECK(out[1] == n - 2);
        }
    }
}

TEST_CASE("control frames are written whole; payloads over 125 bytes are truncated") {
    uint8_t out[kMaxControlFrame + 16];
    const uint8_t ping[] = {1, 2, 3};
    size_t n = encode_control_frame(out, Opcode::Pong, ping, 3);
    CHECK(B(out, out + n) == B{0x8A, 3, 1, 2, 3});
    n = encode_control_frame(out, Opcode::Ping, nullptr, 0);
    CHECK(B(out, out + n) == B{0x89, 0});
    std::vector<uint8_t> big(200, 7);
    n = encode_control_frame(out, Opcode::Ping, big.data(), big.size());
    CHECK(n == kMaxControlFrame);
    CHECK(out[1] == 125);
}
