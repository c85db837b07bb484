// Close handling: which codes may appear on the wire, how the parser validates a client's
// Close frame (code, length, reason), what happens after it, and encoder -> parser round
// trips of close frames. Parser inputs go through expect() (tests/support/frame_events.hpp):
// whole and split at every offset, as everywhere.
#include <doctest/doctest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "proto/close_code.hpp"
#include "proto/encoder.hpp"
#include "proto/frame_parser.hpp"
#include "tests/support/frame_events.hpp"

using namespace ringcast::proto;
using namespace ringcast::proto::test;

namespace {

// A masked client frame.
Bytes client_frame(Opcode op, std::string_view payload) {
    return frame(op, payload, {.key = {0x6B, 0x01, 0xE2, 0x9F}});
}

std::string close_payload(uint16_t code, std::string_view reason = {}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    return p + std::string(reason);
}

Outcome closed_with(uint16_t code, std::string reason, std::vector<std::string> before = {}) {
    before.push_back("close:" + std::to_string(code) + ":" + reason);
    return {before, 0, true};
}

}  // namespace

TEST_CASE("close codes allowed on the wire follow RFC 6455 7.4 and the IANA registry") {
    for (uint16_t c : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                       3999, 4000, 4999}) {
        CHECK_MESSAGE(close_code_valid_on_wire(c), c);
    }
    for (uint16_t c : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        CHECK_FALSE_MESSAGE(close_code_valid_on_wire(c), c);
    }
    int valid = 0;
    for (uint32_t c = 0; c <= 0xFFFF; ++c)
        valid += close_code_valid_on_wire(static_cast<uint16_t>(c));
    CHECK(valid == 4 + 8 + 2000);
}

TEST_CASE("the named close codes have their RFC values") {
    CHECK(close_code::Normal == 1000);
    CHECK(close_code::GoingAway == 1001);
    CHECK(close_code::ProtocolError == 1002);
    CHECK(close_code::Unsupported == 1003);
    CHECK(close_code::NoStatus == 1005);
    CHECK(close_code::Abnormal == 1006);
    CHECK(close_code::InvalidPayload == 1007);
    CHECK(close_code::PolicyViolation == 1008);
    CHECK(close_code::TooBig == 1009);
    CHECK(close_code::MandatoryExtension == 1010);
    CHECK(close_code::InternalError == 1011);
    CHECK(close_code::ServiceRestart == 1012);
    CHECK(close_code::TryAgainLater == 1013);
}

TEST_CASE("a Violation is false only when it has no code") {
    CHECK_FALSE(Violation{});
    CHECK(Violation{1002, "x"});
}

TEST_CASE("a close frame with code and reason is delivered and the parser is closed") {
    expect(client_frame(Opcode::Close, close_payload(1000, "bye")), closed_with(1000, "bye"));
    expect(client_frame(Opcode::Close, close_payload(4999, "app")), closed_with(4999, "app"));
    expect(client_frame(Opcode::Close, close_payload(1001)), closed_with(1001, ""));
}

TEST_CASE("an empty close payload is reported as 1005 with no reason") {
    expect(client_frame(Opcode::Close, ""), closed_with(1005, ""));
}

TEST_CASE("a close payload of 1 byte is rejected with 1002") {
    expect(client_frame(Opcode::Close, "\x03"), fails(1002));
}

TEST_CASE("a close code not allowed on the wire is rejected with 1002") {
    for (uint16_t c : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
        CAPTURE(c);
        expect(client_frame(Opcode::Close, close_payload(c)), fails(1002));
    }
}

TEST_CASE("a close reason that is not UTF-8 is rejected with 1007") {
    expect(client_frame(Opcode::Close, close_payload(1000, "bad \xff")), fails(1007));
    expect(client_frame(Opcode::Close, close_payload(1000, "cut \xe2\x82")), fails(1007));
    expect(client_frame(Opcode::Close, close_payload(1000, "\xed\xa0\x80")), fails(1007));
}

TEST_CASE("a multi-byte UTF-8 close reason up to 123 bytes is accepted") {
    std::string reason;
    while (reason.size() + 3 <= 123) reason += "\xe2\x82\xac";
    expect(client_frame(Opcode::Close, close_payload(1000, reason)), closed_with(1000, reason));
}

TEST_CASE("the close code is checked before the reason") {
    expect(client_frame(Opcode::Close, close_payload(1005, "\xff")), fails(1002));
}

TEST_CASE("input after a close frame is ignored") {
    const Bytes input = cat({client_frame(Opcode::Close, close_payload(1000, "done")),
                             client_frame(Opcode::Text, "late"), Bytes{0xFF, 0xFF, 0x00}});
    expect(input, closed_with(1000, "done"));

    FrameParser parser;
    Recorder rec;
    Bytes buf = input;
    const FeedResult r = parser.feed(buf.data(), buf.size(), rec);
    CHECK_FALSE(r.violation);
    CHECK(r.consumed == buf.size());
    CHECK(parser.closed());
    CHECK_FALSE(parser.failed());
}

TEST_CASE("a close between the fragments of a message ends the stream") {
    Bytes first = client_frame(Opcode::Text, "part");
    first[0] &= 0x7F;  // FIN clear: a fragment
    const Bytes input = cat({first, client_frame(Opcode::Close, close_payload(1001, "gone"))});
    expect(input, closed_with(1001, "gone", {"text{", "data:part"}));
}

TEST_CASE("encoder close frames masked like a client parse back") {
    const std::string long_reason(200, 'x');
    struct Case {
        uint16_t code;
        std::string reason;
        Outcome want;
    };
    for (const Case& c : {Case{1000, "normal", closed_with(1000, "normal")},
                          Case{1012, "service restart", closed_with(1012, "service restart")},
                          Case{0, "ignored", closed_with(1005, "")},
                          Case{1009, long_reason, closed_with(1009, long_reason.substr(0, 123))}}) {
        uint8_t out[kMaxControlFrame];
        const size_t n = encode_close_frame(out, c.code, c.reason);
        const std::string payload(reinterpret_cast<const char*>(out + 2), n - 2);
        expect(client_frame(Opcode::Close, payload), c.want);
    }
}
