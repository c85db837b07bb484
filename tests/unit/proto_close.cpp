// Close handling: which codes may appear on the wire, how the parser validates a client's
// Close frame (code, length, reason), what happens after it, and encoder -> parser round
// trips of close frames. Parser inputs run whole and split at every offset, as everywhere.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "proto/close_code.hpp"
#include "proto/encoder.hpp"
#include "proto/frame_parser.hpp"

using namespace ringcast::proto;

namespace {

using Bytes = std::vector<uint8_t>;

// A masked client frame.
Bytes client_frame(Opcode op, std::string_view payload) {
    const std::array<uint8_t, 4> key = {0x6B, 0x01, 0xE2, 0x9F};
    Bytes f{static_cast<uint8_t>(0x80 | static_cast<uint8_t>(op))};
    if (payload.size() <= 125) {
        f.push_back(static_cast<uint8_t>(0x80 | payload.size()));
    } else {
        f.push_back(0x80 | 126);
        f.push_back(static_cast<uint8_t>(payload.size() >> 8));
        f.push_back(static_cast<uint8_t>(payload.size()));
    }
    f.insert(f.end(), key.begin(), key.end());
    for (size_t i = 0; i < payload.size(); ++i) {
        f.push_back(static_cast<uint8_t>(payload[i]) ^ key[i % 4]);
    }
    return f;
}

std::string close_payload(uint16_t code, std::string_view reason = {}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    return p + std::string(reason);
}

Bytes cat(const Bytes& a, const Bytes& b) {
    Bytes out = a;
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

struct Recorder {
    std::vector<std::string> events;
    void on_message_begin(Opcode) { events.push_back("begin"); }
    void on_message_data(const uint8_t* p, size_t n) {
        events.push_back("data:" + std::string(reinterpret_cast<const char*>(p), n));
    }
    bool on_message_end() {
        events.push_back("end");
        return true;
    }
    void on_ping(const uint8_t*, size_t) { events.push_back("ping"); }
    void on_pong(const uint8_t*, size_t) { events.push_back("pong"); }
    void on_close(uint16_t code, std::string_view reason) {
        events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
    }
};

struct Outcome {
    std::vector<std::string> events;
    uint16_t violation = 0;
    bool closed = false;
    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << "{violation=" << o.violation << " closed=" << o.closed << " events=[";
    for (const auto& e : o.events) os << " \"" << e << "\"";
    return os << " ]}";
}

// Feeds the input in two pieces (cut == npos: whole), optionally handing the state to a
// new parser at the cut. Data events are merged so chunking does not show.
Outcome run(const Bytes& input, size_t cut, bool handoff) {
    FrameParser parser;
    Recorder rec;
    Outcome out;
    const size_t first = cut == std::string::npos ? input.size() : cut;
    Bytes a(input.begin(), input.begin() + static_cast<long>(first));
    Bytes b(input.begin() + static_cast<long>(first), input.end());
    for (Bytes* piece : {&a, &b}) {
        const FeedResult r = parser.feed(piece->data(), piece->size(), rec);
        if (r.violation) {
            out.violation = r.violation.code;
            break;
        }
        REQUIRE(r.consumed == piece->size());
        if (handoff) parser = FrameParser(FrameParser::State(parser.state()));
    }
    for (const auto& e : rec.events) {
        if (e.rfind("data:", 0) == 0 && !out.events.empty() &&
            out.events.back().rfind("data:", 0) == 0) {
            out.events.back() += e.substr(5);
        } else {
            out.events.push_back(e);
        }
    }
    out.closed = parser.closed();
    return out;
}

void expect(const Bytes& input, const Outcome& want) {
    const Outcome whole = run(input, std::string::npos, false);
    CHECK(whole == want);
    for (size_t i = 0; i <= input.size(); ++i) {
        for (bool handoff : {false, true}) {
            const Outcome got = run(input, i, handoff);
            if (got != want) {
                FAIL_CHECK("split at " << i << (handoff ? " with handoff" : "") << ": got " << got);
                return;
            }
        }
    }
}

Outcome closed_with(uint16_t code, std::string reason, std::vector<std::string> before = {}) {
    before.push_back("close:" + std::to_string(code) + ":" + reason);
    return {before, 0, true};
}

Outcome violation(uint16_t code) {
    return {{}, code, false};
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
    expect(client_frame(Opcode::Close, "\x03"), violation(1002));
}

TEST_CASE("a close code not allowed on the wire is rejected with 1002") {
    for (uint16_t c : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
        CAPTURE(c);
        expect(client_frame(Opcode::Close, close_payload(c)), violation(1002));
    }
}

TEST_CASE("a close reason that is not UTF-8 is rejected with 1007") {
    expect(client_frame(Opcode::Close, close_payload(1000, "bad \xff")), violation(1007));
    expect(client_frame(Opcode::Close, close_payload(1000, "cut \xe2\x82")), violation(1007));
    expect(client_frame(Opcode::Close, close_payload(1000, "\xed\xa0\x80")), violation(1007));
}

TEST_CASE("a multi-byte UTF-8 close reason up to 123 bytes is accepted") {
    std::string reason;
    while (reason.size() + 3 <= 123) reason += "\xe2\x82\xac";
    expect(client_frame(Opcode::Close, close_payload(1000, reason)), closed_with(1000, reason));
}

TEST_CASE("the close code is checked before the reason") {
    expect(client_frame(Opcode::Close, close_payload(1005, "\xff")), violation(1002));
}

TEST_CASE("input after a close frame is ignored") {
    const Bytes input = cat(client_frame(Opcode::Close, close_payload(1000, "done")),
                            cat(client_frame(Opcode::Text, "late"), Bytes{0xFF, 0xFF, 0x00}));
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
    const Bytes input = cat(first, client_frame(Opcode::Close, close_payload(1001, "gone")));
    expect(input, closed_with(1001, "gone", {"begin", "data:part"}));
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
