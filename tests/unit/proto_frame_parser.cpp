// FrameParser: every RFC 6455 rule it enforces, fragmentation, pause/resume, state handoff,
// and encoder -> client masking -> parser round trips. Every input goes through expect()
// (tests/support/frame_events.hpp), which runs it whole, split in two at every offset (also
// with the parser state copied into a fresh parser at the split, as a hot restart does), in
// three pieces, and byte by byte, and requires the same events and the same violation each
// time (inputs over 8 KiB: see expect() for the offsets used).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "proto/encoder.hpp"
#include "proto/frame_parser.hpp"
#include "tests/support/frame_events.hpp"

using namespace ringcast::proto;
using namespace ringcast::proto::test;

namespace {

// A server frame from the encoder, masked the way a client masks its frames.
Bytes as_client(const Bytes& server, std::array<uint8_t, 4> key) {
    const uint8_t len7 = server[1] & 0x7F;
    const size_t hs = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    Bytes f(server.begin(), server.begin() + static_cast<long>(hs));
    f[1] |= 0x80;
    f.insert(f.end(), key.begin(), key.end());
    for (size_t i = hs; i < server.size(); ++i) f.push_back(server[i] ^ key[(i - hs) % 4]);
    return f;
}

std::string msg_data(std::string_view s) {
    return "data:" + std::string(s);
}

// `len` bytes of valid UTF-8 mixing 1- to 4-byte characters.
std::string utf8_text(size_t len) {
    static const char* chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "Z", " "};
    std::string s;
    for (size_t i = 0;; ++i) {
        const std::string_view c = chars[(i * 7 + i / 3) % 6];
        if (s.size() + c.size() > len) break;
        s += c;
    }
    s.append(len - s.size(), '.');
    return s;
}

std::string binary_bytes(size_t len) {
    std::string s(len, '\0');
    uint32_t x = 12345;
    for (auto& c : s) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 16);
    }
    return s;
}

}  // namespace

// ---- well-formed input ---------------------------------------------------------------------

TEST_CASE("a masked text frame is delivered as one message") {
    expect(frame(Opcode::Text, "Hello"), events({"text{", msg_data("Hello"), "}"}));
}

TEST_CASE("the RFC 6455 5.7 masked Hello example parses") {
    const Bytes rfc = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    expect(rfc, events({"text{", msg_data("Hello"), "}"}));
}

TEST_CASE("a binary frame delivers arbitrary bytes unchanged") {
    const std::string payload = binary_bytes(100) + std::string("\0\xff\xc0", 3);
    expect(frame(Opcode::Binary, payload), events({"binary{", msg_data(payload), "}"}));
}

TEST_CASE("an empty message is delivered with begin and end and no data") {
    expect(frame(Opcode::Text, ""), events({"text{", "}"}));
    expect(frame(Opcode::Binary, ""), events({"binary{", "}"}));
}

TEST_CASE("several frames in one chunk are all delivered in order") {
    expect(cat({frame(Opcode::Text, "one"), frame(Opcode::Binary, "two"), frame(Opcode::Ping, "p"),
                frame(Opcode::Text, ""), frame(Opcode::Pong, "q"), frame(Opcode::Text, "three")}),
           events({"text{", msg_data("one"), "}", "binary{", msg_data("two"), "}", "ping:p",
                   "text{", "}", "pong:q", "text{", msg_data("three"), "}"}));
}

TEST_CASE("16-bit and 64-bit extended lengths are read") {
    const std::string a = binary_bytes(300);
    const std::string b = binary_bytes(70000);
    expect(frame(Opcode::Binary, a), events({"binary{", msg_data(a), "}"}));
    expect(frame(Opcode::Binary, b), events({"binary{", msg_data(b), "}"}));
}

TEST_CASE("non-minimal length encodings are accepted") {
    expect(frame(Opcode::Text, "short", {.length_bytes = 2}),
           events({"text{", msg_data("short"), "}"}));
    expect(frame(Opcode::Text, "short", {.length_bytes = 8}),
           events({"text{", msg_data("short"), "}"}));
    expect(frame(Opcode::Ping, "p", {.length_bytes = 2}), events({"ping:p"}));
    expect(frame(Opcode::Binary, "", {.length_bytes = 8}), events({"binary{", "}"}));
}

TEST_CASE("every mask key, including zero, unmasks correctly") {
    for (std::array<uint8_t, 4> key : {std::array<uint8_t, 4>{0, 0, 0, 0},
                                       {0xFF, 0xFF, 0xFF, 0xFF},
                                       {1, 2, 3, 4},
                                       {0x80, 0, 0x7F, 0x01}}) {
        const std::string text = utf8_text(77);
        expect(frame(Opcode::Text, text, {.key = key}), events({"text{", msg_data(text), "}"}));
    }
}

TEST_CASE("a fragmented message is reassembled across continuation frames") {
    expect(cat({frame(Opcode::Text, "Hel", {.fin = false}),
                frame(Opcode::Continuation, "lo, ", {.fin = false}),
                frame(Opcode::Continuation, "world")}),
           events({"text{", msg_data("Hello, world"), "}"}));
    expect(cat({frame(Opcode::Binary, "ab", {.fin = false}), frame(Opcode::Continuation, "cd")}),
           events({"binary{", msg_data("abcd"), "}"}));
}

TEST_CASE("empty fragments are accepted anywhere in a message") {
    expect(cat({frame(Opcode::Text, "", {.fin = false}),
                frame(Opcode::Continuation, "", {.fin = false}),
                frame(Opcode::Continuation, "x", {.fin = false}), frame(Opcode::Continuation, "")}),
           events({"text{", msg_data("x"), "}"}));
}

TEST_CASE("pings, pongs and empty control frames between fragments are delivered") {
    expect(cat({frame(Opcode::Text, "ab", {.fin = false}), frame(Opcode::Ping, "p1"),
                frame(Opcode::Continuation, "cd", {.fin = false}), frame(Opcode::Pong, ""),
                frame(Opcode::Ping, ""), frame(Opcode::Continuation, "ef")}),
           events({"text{", msg_data("ab"), "ping:p1", msg_data("cd"),
                   "pong:", "ping:", msg_data("ef"), "}"}));
}

TEST_CASE("a 125-byte ping is accepted and delivered whole") {
    const std::string p = binary_bytes(125);
    expect(frame(Opcode::Ping, p), events({"ping:" + p}));
    expect(cat({frame(Opcode::Text, "a", {.fin = false}), frame(Opcode::Pong, p),
                frame(Opcode::Continuation, "b")}),
           events({"text{", msg_data("a"), "pong:" + p, msg_data("b"), "}"}));
}

TEST_CASE("ping payloads are not UTF-8 checked, even inside a text message") {
    const std::string bad = "\xff\xfe";
    expect(cat({frame(Opcode::Text, "\xc3", {.fin = false}), frame(Opcode::Ping, bad),
                frame(Opcode::Continuation, "\xa9")}),
           events({"text{", msg_data("\xc3"), "ping:" + bad, msg_data("\xa9"), "}"}));
}

TEST_CASE("a text message may split a UTF-8 character across fragments") {
    const std::string euro = "\xe2\x82\xac";
    expect(cat({frame(Opcode::Text, "\xe2", {.fin = false}),
                frame(Opcode::Continuation, "\x82", {.fin = false}),
                frame(Opcode::Continuation, "\xac")}),
           events({"text{", msg_data(euro), "}"}));
}

TEST_CASE("binary messages are not UTF-8 checked") {
    const std::string bad = "\xff\xc0\x80\xed\xa0\x80\xf4";
    expect(frame(Opcode::Binary, bad), events({"binary{", msg_data(bad), "}"}));
}

TEST_CASE("message length up to exactly max_message_bytes is accepted") {
    const RunOpts o{.limits = {.max_message_bytes = 10}};
    expect(frame(Opcode::Text, "0123456789"), events({"text{", msg_data("0123456789"), "}"}), o);
    expect(cat({frame(Opcode::Text, "01234", {.fin = false}), frame(Opcode::Ping, "control"),
                frame(Opcode::Continuation, "56789")}),
           events({"text{", msg_data("01234"), "ping:control", msg_data("56789"), "}"}), o);
}

TEST_CASE("the message length limit applies per message, not per connection") {
    const RunOpts o{.limits = {.max_message_bytes = 4}};
    expect(cat({frame(Opcode::Text, "abcd"), frame(Opcode::Text, "efgh")}),
           events({"text{", msg_data("abcd"), "}", "text{", msg_data("efgh"), "}"}), o);
}

TEST_CASE("control frames do not count toward max_message_bytes") {
    const RunOpts o{.limits = {.max_message_bytes = 0}};
    expect(cat({frame(Opcode::Ping, "ping payload"), frame(Opcode::Text, "")}),
           events({"ping:ping payload", "text{", "}"}), o);
}

// ---- protocol violations -------------------------------------------------------------------

TEST_CASE("unmasked client frame is rejected with 1002") {
    expect(frame(Opcode::Text, "hi", {.masked = false}), fails(1002));
    expect(frame(Opcode::Ping, "", {.masked = false}), fails(1002));
    expect(cat({frame(Opcode::Text, "ok"), frame(Opcode::Binary, "x", {.masked = false})}),
           fails(1002, {"text{", msg_data("ok"), "}"}));
}

TEST_CASE("a frame with any reserved bit set is rejected with 1002") {
    for (uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
        expect(frame(Opcode::Text, "x", {.rsv = rsv}), fails(1002));
        expect(frame(Opcode::Ping, "x", {.rsv = rsv}), fails(1002));
    }
}

// ---- permessage-deflate: RSV1 ----------------------------------------------------------------

TEST_CASE("with permessage-deflate, RSV1 on a message's first frame marks it compressed") {
    const RunOpts o{.limits = {.permessage_deflate = true}};
    // Compressed payload is not UTF-8 and is not checked as such (the inflated text is).
    const std::string deflated = "\xf2\x48\xcd\xc9\xc9\x07\x00";
    expect(frame(Opcode::Text, deflated, {.rsv = 0x40}),
           events({"text{", msg_data(deflated), "}"}), o);
    expect(frame(Opcode::Binary, deflated, {.rsv = 0x40}),
           events({"binary{", msg_data(deflated), "}"}), o);
    // Fragmented: RSV1 on the first frame only; a ping may come between.
    expect(cat({frame(Opcode::Text, "\xf2\x48", {.fin = false, .rsv = 0x40}),
                frame(Opcode::Ping, "p"),
                frame(Opcode::Continuation, "\xcd\xc9\xc9\x07\x00")}),
           events({"text{", msg_data("\xf2\x48"), "ping:p", msg_data("\xcd\xc9\xc9\x07\x00"), "}"}), o);
    // Plain messages stay plain (and UTF-8 checked) on the same connection.
    expect(frame(Opcode::Text, "\xff"), fails(1007, {"text{"}), o);
}

TEST_CASE("the parser tells whether the open message is compressed") {
    struct Probe : Recorder {
        FrameParser* parser = nullptr;
        std::vector<bool> seen;
        void on_message_begin(Opcode op) {
            Recorder::on_message_begin(op);
            seen.push_back(parser->message_compressed());
        }
    };
    FrameParser parser(ParserLimits{.permessage_deflate = true});
    Probe p;
    p.parser = &parser;
    Bytes in = cat({frame(Opcode::Text, "ab", {.rsv = 0x40}), frame(Opcode::Text, "cd")});
    p.chunk = in.data();
    p.chunk_len = in.size();
    CHECK_FALSE(parser.feed(in.data(), in.size(), p).violation);
    CHECK(p.seen == std::vector<bool>{true, false});
}

TEST_CASE("RSV1 on a continuation or a control frame is 1002, with the extension too") {
    const RunOpts o{.limits = {.permessage_deflate = true}};
    expect(cat({frame(Opcode::Text, "a", {.fin = false}),
                frame(Opcode::Continuation, "b", {.rsv = 0x40})}),
           fails(1002, {"text{", msg_data("a")}), o);
    expect(cat({frame(Opcode::Text, "a", {.fin = false, .rsv = 0x40}),
                frame(Opcode::Continuation, "b", {.rsv = 0x40})}),
           fails(1002, {"text{", msg_data("a")}), o);
    for (Opcode op : {Opcode::Ping, Opcode::Pong, Opcode::Close})
        expect(frame(op, "", {.rsv = 0x40}), fails(1002), o);
}

TEST_CASE("RSV2 and RSV3 stay reserved with permessage-deflate; RSV1 without it is 1002") {
    const RunOpts o{.limits = {.permessage_deflate = true}};
    for (uint8_t rsv : {0x20, 0x10, 0x60, 0x50})
        expect(frame(Opcode::Text, "x", {.rsv = rsv}), fails(1002), o);
    expect(frame(Opcode::Text, "x", {.rsv = 0x40}), fails(1002));
    FrameParser p;
    Recorder r;
    Bytes f = frame(Opcode::Binary, "x", {.rsv = 0x40});
    r.chunk = f.data();
    r.chunk_len = f.size();
    CHECK(p.feed(f.data(), f.size(), r).violation.reason == "RSV1 set without permessage-deflate");
}

TEST_CASE("reserved opcodes 3-7 and 0xB-0xF are rejected with 1002") {
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        expect(frame(Opcode::Text, "x", {.raw_opcode = op}), fails(1002));
        expect(frame(Opcode::Text, "", {.fin = false, .raw_opcode = op}), fails(1002));
    }
}

TEST_CASE("a control frame over 125 bytes is rejected with 1002") {
    const std::string p = binary_bytes(126);
    expect(frame(Opcode::Ping, p), fails(1002));
    expect(frame(Opcode::Pong, p), fails(1002));
    expect(frame(Opcode::Close, "\x03\xe8" + p), fails(1002));
    // Declared over 125 is enough: nothing of the payload needs to arrive.
    expect(frame(Opcode::Ping, "", {.declared = 1000}), fails(1002));
}

TEST_CASE("a fragmented control frame is rejected with 1002") {
    expect(frame(Opcode::Ping, "x", {.fin = false}), fails(1002));
    expect(frame(Opcode::Pong, "", {.fin = false}), fails(1002));
    expect(frame(Opcode::Close, "\x03\xe8", {.fin = false}), fails(1002));
}

TEST_CASE("a continuation without a message in progress is rejected with 1002") {
    expect(frame(Opcode::Continuation, "x"), fails(1002));
    expect(frame(Opcode::Continuation, "x", {.fin = false}), fails(1002));
    expect(cat({frame(Opcode::Text, "done"), frame(Opcode::Continuation, "more")}),
           fails(1002, {"text{", msg_data("done"), "}"}));
}

TEST_CASE("a new text or binary frame inside a fragmented message is rejected with 1002") {
    expect(cat({frame(Opcode::Text, "a", {.fin = false}), frame(Opcode::Text, "b")}),
           fails(1002, {"text{", msg_data("a")}));
    expect(cat({frame(Opcode::Binary, "a", {.fin = false}), frame(Opcode::Ping, ""),
                frame(Opcode::Binary, "b", {.fin = false})}),
           fails(1002, {"binary{", msg_data("a"), "ping:"}));
}

TEST_CASE("a 64-bit length with the top bit set is rejected with 1002") {
    expect(frame(Opcode::Binary, "", {.declared = 1ull << 63}), fails(1002));
    expect(frame(Opcode::Binary, "", {.declared = ~0ull - 1}), fails(1002));
    // ...even when the limit would allow anything.
    expect(frame(Opcode::Binary, "", {.declared = 1ull << 63}), fails(1002),
           {.limits = {.max_message_bytes = ~0ull}});
}

TEST_CASE("a message over max_message_bytes is rejected with 1009 before any payload") {
    const RunOpts o{.limits = {.max_message_bytes = 10}};
    expect(frame(Opcode::Text, "0123456789A"), fails(1009), o);
    expect(frame(Opcode::Binary, binary_bytes(300)), fails(1009), o);
    // Declared is enough: the header alone triggers it.
    expect(frame(Opcode::Binary, "", {.declared = 11}), fails(1009), o);
    expect(frame(Opcode::Binary, "", {.declared = (1ull << 63) - 1}), fails(1009));
    // Fragments add up; the frame that would cross the limit delivers nothing.
    expect(
        cat({frame(Opcode::Text, "012345", {.fin = false}), frame(Opcode::Continuation, "6789A")}),
        fails(1009, {"text{", msg_data("012345")}), o);
}

TEST_CASE("the 1009 check does not overflow with huge declared fragments") {
    const RunOpts o{.limits = {.max_message_bytes = ~0ull}};
    expect(cat({frame(Opcode::Binary, "ab", {.fin = false}),
                frame(Opcode::Continuation, "", {.fin = false, .declared = (1ull << 63) - 1})}),
           events({"binary{", msg_data("ab")}), o);  // allowed: incomplete frame waits for payload
    const RunOpts small{.limits = {.max_message_bytes = 100}};
    expect(cat({frame(Opcode::Binary, "ab", {.fin = false}),
                frame(Opcode::Continuation, "", {.fin = false, .declared = ~0ull >> 1})}),
           fails(1009, {"binary{", msg_data("ab")}), small);
}

TEST_CASE("invalid UTF-8 in a text message is rejected with 1007") {
    // The bytes before the bad one are delivered, then the violation.
    expect(frame(Opcode::Text, "ab\xff"), fails(1007, {"text{", msg_data("ab")}));
    expect(frame(Opcode::Text, "\xed\xa0\x80"), fails(1007, {"text{", msg_data("\xed")}));
    expect(frame(Opcode::Text, "\xc0\xaf"), fails(1007, {"text{"}));
    expect(frame(Opcode::Text, "\xf4\x90\x80\x80"), fails(1007, {"text{", msg_data("\xf4")}));
    const std::string long_prefix = utf8_text(500);
    expect(frame(Opcode::Text, long_prefix + "\xe2\x28\xa1" + utf8_text(200)),
           fails(1007, {"text{", msg_data(long_prefix + "\xe2")}));
}

TEST_CASE("invalid UTF-8 spread across fragments is rejected with 1007") {
    expect(
        cat({frame(Opcode::Text, "ok \xf0\x9f", {.fin = false}), frame(Opcode::Continuation, "z")}),
        fails(1007, {"text{", msg_data("ok \xf0\x9f")}));
    expect(cat({frame(Opcode::Text, "\xed", {.fin = false}), frame(Opcode::Ping, ""),
                frame(Opcode::Continuation, "\xa0\x80")}),
           fails(1007, {"text{", msg_data("\xed"), "ping:"}));
}

TEST_CASE("invalid UTF-8 fails as soon as the bad byte arrives, before the frame ends") {
    const Bytes f = frame(Opcode::Text, "valid \xff and a long tail that has not arrived yet");
    FrameParser parser;
    Recorder rec;
    Bytes head(f.begin(), f.begin() + 6 + 7);  // header + "valid \xff"
    rec.chunk = head.data();
    rec.chunk_len = head.size();
    const FeedResult r = parser.feed(head.data(), head.size(), rec);
    CHECK(r.violation.code == 1007);
    CHECK(parser.failed());
    expect(f, fails(1007, {"text{", msg_data("valid ")}));
}

TEST_CASE("a text message ending inside a UTF-8 sequence is rejected with 1007") {
    expect(frame(Opcode::Text, "abc\xe2\x82"), fails(1007, {"text{", msg_data("abc\xe2\x82")}));
    expect(cat({frame(Opcode::Text, "x", {.fin = false}), frame(Opcode::Continuation, "\xf0")}),
           fails(1007, {"text{", msg_data("x\xf0")}));
}

TEST_CASE("UTF-8 state starts fresh with each text message") {
    // A message that ended cleanly leaves no state; the next may start with any character.
    expect(cat({frame(Opcode::Text, "\xc3\xa9"), frame(Opcode::Text, "\xe2\x82\xac")}),
           events({"text{", msg_data("\xc3\xa9"), "}", "text{", msg_data("\xe2\x82\xac"), "}"}));
}

TEST_CASE("after a violation every later feed returns the same violation") {
    FrameParser parser;
    Recorder rec;
    Bytes bad = frame(Opcode::Text, "x", {.masked = false});
    rec.chunk = bad.data();
    rec.chunk_len = bad.size();
    CHECK(parser.feed(bad.data(), bad.size(), rec).violation.code == 1002);
    Bytes good = frame(Opcode::Text, "fine");
    rec.chunk = good.data();
    rec.chunk_len = good.size();
    for (int i = 0; i < 3; ++i) {
        const FeedResult r = parser.feed(good.data(), good.size(), rec);
        CHECK(r.violation.code == 1002);
        CHECK(r.violation.reason == "client frame not masked");
    }
    CHECK(rec.events.empty());
    CHECK(parser.failed());
}

TEST_CASE("violations carry a short reason") {
    for (int e = 1; e <= static_cast<int>(FrameError::CloseReasonInvalid); ++e) {
        const Violation v = violation_of(static_cast<FrameError>(e));
        CHECK(v);
        CHECK(!v.reason.empty());
        CHECK(v.reason.size() <= 123);  // fits in a close frame
        CHECK(close_code_valid_on_wire(v.code));
    }
    CHECK_FALSE(violation_of(FrameError::None));
}

// ---- feeding behaviour ---------------------------------------------------------------------

TEST_CASE("a zero-length feed consumes nothing and reports nothing") {
    FrameParser parser;
    Recorder rec;
    uint8_t dummy = 0;
    const FeedResult r = parser.feed(&dummy, 0, rec);
    CHECK_FALSE(r.violation);
    CHECK(r.consumed == 0);
    CHECK(rec.events.empty());
}

TEST_CASE("in_message is true only between the first and last frame of a message") {
    FrameParser parser;
    Recorder rec;
    Bytes a = frame(Opcode::Text, "a", {.fin = false});
    Bytes b = frame(Opcode::Ping, "");
    Bytes c = frame(Opcode::Continuation, "c");
    CHECK_FALSE(parser.in_message());
    for (Bytes* f : {&a, &b}) {
        rec.chunk = f->data();
        rec.chunk_len = f->size();
        parser.feed(f->data(), f->size(), rec);
        CHECK(parser.in_message());
    }
    rec.chunk = c.data();
    rec.chunk_len = c.size();
    parser.feed(c.data(), c.size(), rec);
    CHECK_FALSE(parser.in_message());
}

TEST_CASE("on_message_end returning false pauses right after that frame") {
    const Bytes f1 =
        cat({frame(Opcode::Text, "a", {.fin = false}), frame(Opcode::Continuation, "b")});
    const Bytes f2 = frame(Opcode::Binary, "second");
    const Bytes f3 = frame(Opcode::Ping, "p");
    const Bytes f4 = frame(Opcode::Text, "third");
    const Bytes all = cat({f1, f2, f3, f4});

    Bytes buf = all;
    FrameParser parser;
    Recorder rec;
    rec.pause_on_end = true;
    rec.chunk = buf.data();
    rec.chunk_len = buf.size();

    FeedResult r = parser.feed(buf.data(), buf.size(), rec);
    CHECK_FALSE(r.violation);
    CHECK(r.consumed == f1.size());
    CHECK(rec.events == std::vector<std::string>{"text{", msg_data("ab"), "}"});
    // Nothing past the pause point was touched (it is fed again later, still masked).
    CHECK(std::equal(buf.begin() + static_cast<long>(f1.size()), buf.end(),
                     all.begin() + static_cast<long>(f1.size())));

    size_t off = r.consumed;
    r = parser.feed(buf.data() + off, buf.size() - off, rec);
    CHECK(r.consumed == f2.size());
    off += r.consumed;
    rec.events.clear();
    // The ping does not pause; the next message end does.
    r = parser.feed(buf.data() + off, buf.size() - off, rec);
    CHECK(r.consumed == f3.size() + f4.size());
    CHECK(rec.events == std::vector<std::string>{"ping:p", "text{", msg_data("third"), "}"});
    // And paused runs give the same events whatever the chunking.
    expect(all,
           events({"text{", msg_data("ab"), "}", "binary{", msg_data("second"), "}", "ping:p",
                   "text{", msg_data("third"), "}"}),
           {.pause = true});
}

TEST_CASE("pausing on an empty final frame still consumes exactly that frame") {
    const Bytes f1 =
        cat({frame(Opcode::Binary, "x", {.fin = false}), frame(Opcode::Continuation, "")});
    const Bytes all = cat({f1, frame(Opcode::Text, "y")});
    Bytes buf = all;
    FrameParser parser;
    Recorder rec;
    rec.pause_on_end = true;
    rec.chunk = buf.data();
    rec.chunk_len = buf.size();
    CHECK(parser.feed(buf.data(), buf.size(), rec).consumed == f1.size());
}

TEST_CASE("data is delivered in place, unmasked inside the caller's buffer") {
    Bytes buf = frame(Opcode::Binary, "in place");
    struct Spy {
        const uint8_t* seen = nullptr;
        void on_message_begin(Opcode) {}
        void on_message_data(const uint8_t* p, size_t) { seen = p; }
        bool on_message_end() { return true; }
        void on_ping(const uint8_t*, size_t) {}
        void on_pong(const uint8_t*, size_t) {}
        void on_close(uint16_t, std::string_view) {}
    } spy;
    FrameParser parser;
    parser.feed(buf.data(), buf.size(), spy);
    CHECK(spy.seen == buf.data() + 6);
    CHECK(std::string(buf.begin() + 6, buf.end()) == "in place");
}

TEST_CASE("parser state copied mid-frame continues the stream in a new parser") {
    // Stop inside each part of a frame (header, extended length, mask key, payload, inside a
    // split control frame, between fragments), copy the state as bytes, resume elsewhere.
    const std::string text = utf8_text(300);
    const Bytes input =
        cat({frame(Opcode::Text, text.substr(0, 100), {.fin = false}), frame(Opcode::Ping, "ping!"),
             frame(Opcode::Continuation, text.substr(100), {.length_bytes = 8}),
             frame(Opcode::Close, "\x03\xe8ok")});
    Outcome w = events({"text{", msg_data(text.substr(0, 100)), "ping:ping!",
                        msg_data(text.substr(100)), "}", "close:1000:ok"});
    w.closed = true;
    expect(input, w, {.restart = true});

    // And explicitly: the State is the whole story.
    for (size_t cut = 0; cut <= input.size(); ++cut) {
        Bytes a(input.begin(), input.begin() + static_cast<long>(cut));
        Bytes b(input.begin() + static_cast<long>(cut), input.end());
        Recorder rec;
        FrameParser first;
        rec.chunk = a.data();
        rec.chunk_len = a.size();
        first.feed(a.data(), a.size(), rec);
        const FrameParser::State snapshot = first.state();
        FrameParser second(snapshot);
        CHECK(second.in_message() == first.in_message());
        rec.chunk = b.data();
        rec.chunk_len = b.size();
        second.feed(b.data(), b.size(), rec);
        REQUIRE_MESSAGE(rec.events == w.events, "cut at " << cut);
    }
}

TEST_CASE("limits are not part of the handed-over state and can be set on the new parser") {
    const Bytes f = frame(Opcode::Binary, binary_bytes(50));
    FrameParser strict(ParserLimits{.max_message_bytes = 10});
    Recorder rec;
    FrameParser restarted(strict.state());
    restarted.set_limits({.max_message_bytes = 10});
    Bytes buf = f;
    rec.chunk = buf.data();
    rec.chunk_len = buf.size();
    CHECK(restarted.feed(buf.data(), buf.size(), rec).violation.code == 1009);
    FrameParser with_limits(strict.state(), ParserLimits{.max_message_bytes = 10});
    buf = f;
    CHECK(with_limits.feed(buf.data(), buf.size(), rec).violation.code == 1009);
}

// ---- round trips ---------------------------------------------------------------------------

TEST_CASE("encoder frames masked like a client parse back for every length class") {
    for (size_t len : {0u, 1u, 124u, 125u, 126u, 127u, 65535u, 65536u, 65537u}) {
        for (Opcode op : {Opcode::Text, Opcode::Binary}) {
            CAPTURE(len);
            const std::string payload = op == Opcode::Text ? utf8_text(len) : binary_bytes(len);
            Bytes server(kMaxFrameHeader + len);
            const size_t hs = encode_frame_header(server.data(), op, len);
            std::memcpy(server.data() + hs, payload.data(), len);
            server.resize(hs + len);
            const Bytes client = as_client(server, {0x11, 0x22, 0x33, 0x44});
            Outcome want = events({op == Opcode::Text ? "text{" : "binary{", "}"});
            if (len) want.events.insert(want.events.begin() + 1, msg_data(payload));
            expect(client, want);
        }
    }
}

TEST_CASE("encoder fragments masked like a client reassemble with interleaved pings") {
    const std::string text = utf8_text(1000);
    Bytes stream;
    std::vector<std::string> want{"text{"};
    size_t off = 0;
    int k = 0;
    for (size_t piece : {1u, 7u, 126u, 300u, 0u, 566u}) {
        const bool last = off + piece == text.size();
        Bytes server(kMaxFrameHeader + piece);
        const size_t hs = encode_frame_header(
            server.data(), k == 0 ? Opcode::Text : Opcode::Continuation, piece, last);
        std::memcpy(server.data() + hs, text.data() + off, piece);
        server.resize(hs + piece);
        const Bytes c = as_client(server, {static_cast<uint8_t>(k), 0x5A, 0xA5, 0xFF});
        stream.insert(stream.end(), c.begin(), c.end());
        off += piece;
        if (!last) {
            uint8_t ping[kMaxControlFrame];
            const std::string p = "ping" + std::to_string(k);
            const size_t n = encode_control_frame(
                ping, Opcode::Ping, reinterpret_cast<const uint8_t*>(p.data()), p.size());
            const Bytes pc = as_client(Bytes(ping, ping + n), {9, 8, 7, 6});
            stream.insert(stream.end(), pc.begin(), pc.end());
        }
        ++k;
    }
    REQUIRE(off == text.size());
    // Expected: data merged between pings.
    off = 0;
    k = 0;
    for (size_t piece : {1u, 7u, 126u, 300u, 0u, 566u}) {
        if (piece) {
            if (want.back().rfind("data:", 0) == 0) {
                want.back() += text.substr(off, piece);
            } else {
                want.push_back(msg_data(text.substr(off, piece)));
            }
        }
        off += piece;
        if (off != text.size()) want.push_back("ping:ping" + std::to_string(k));
        ++k;
    }
    want.push_back("}");
    expect(stream, Outcome{want, 0, false});
}

TEST_CASE("random streams of valid frames parse identically under random chunking") {
    uint64_t x = 0x243F6A8885A308D3ull;
    auto rnd = [&x](uint64_t n) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        return n ? x % n : 0;
    };
    for (int round = 0; round < 300; ++round) {
        Bytes stream;
        std::vector<std::string> want;
        const int messages = 1 + static_cast<int>(rnd(5));
        for (int m = 0; m < messages; ++m) {
            const bool text = rnd(2);
            const std::string payload = text ? utf8_text(rnd(700)) : binary_bytes(rnd(700));
            want.push_back(text ? "text{" : "binary{");
            size_t off = 0;
            bool first = true;
            bool data_open = false;
            while (true) {
                const size_t piece = std::min<size_t>(rnd(300), payload.size() - off);
                const bool fin = off + piece == payload.size() && rnd(3) != 0;
                const std::array<uint8_t, 4> key = {
                    static_cast<uint8_t>(rnd(256)), static_cast<uint8_t>(rnd(256)),
                    static_cast<uint8_t>(rnd(256)), static_cast<uint8_t>(rnd(256))};
                const Bytes f =
                    frame(first ? (text ? Opcode::Text : Opcode::Binary) : Opcode::Continuation,
                          std::string_view(payload).substr(off, piece),
                          {.fin = fin, .length_bytes = rnd(8) == 0 ? 8 : -1, .key = key});
                stream.insert(stream.end(), f.begin(), f.end());
                if (piece) {
                    if (data_open) {
                        want.back() += payload.substr(off, piece);
                    } else {
                        want.push_back(msg_data(payload.substr(off, piece)));
                    }
                    data_open = true;
                }
                off += piece;
                first = false;
                if (fin) break;
                if (rnd(3) == 0) {
                    const std::string p = binary_bytes(rnd(126));
                    const bool ping = rnd(2);
                    const Bytes c = frame(ping ? Opcode::Ping : Opcode::Pong, p, {.key = key});
                    stream.insert(stream.end(), c.begin(), c.end());
                    want.push_back((ping ? "ping:" : "pong:") + p);
                    data_open = false;
                }
            }
            want.push_back("}");
        }
        const Outcome expected{want, 0, false};
        std::vector<size_t> cuts;
        size_t at = 0;
        while (true) {
            at += 1 + rnd(rnd(2) ? 16 : 400);
            if (at >= stream.size()) break;
            cuts.push_back(at);
        }
        const RunOpts o{.pause = rnd(2) == 1, .restart = rnd(2) == 1};
        REQUIRE(run(stream, {}, o) == expected);
        REQUIRE(run(stream, cuts, o) == expected);
    }
}
