// tests/fuzz/fuzz_handshake.cpp: libFuzzer target for proto/handshake.hpp.
// Input: [split hi][split lo][limit][request bytes...]. The request is parsed whole, in two pieces
// cut at the chosen offset, one byte at a time, and again after reset(); every way must reach the
// same verdict, and the verdict's response must be well formed. Each piece lives in its own
// allocation so that ASan sees a read past the end of any piece. The target of an accepted
// request, and the raw input too, go through admission/channel's path rules, whose answer must
// be a well-formed channel name (or a reason).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "admission/channel.hpp"
#include "proto/handshake.hpp"
#include "tests/support/fuzz_check.hpp"

using ringcast::proto::HandshakeParser;
using ringcast::proto::HandshakeRequest;
using ringcast::proto::HandshakeStatus;

namespace {

struct Outcome {
    HandshakeStatus status = HandshakeStatus::NeedMore;
    size_t consumed = 0;
    int error_status = 0;
    std::string reason;
    HandshakeRequest req;
};

// Feeds one piece through an exact-size copy; returns true once the parser has decided.
bool feed_piece(HandshakeParser& p, Outcome& o, const uint8_t* data, size_t n) {
    std::unique_ptr<char[]> copy(new char[n == 0 ? 1 : n]);
    if (n) std::memcpy(copy.get(), data, n);
    o.status = p.feed(copy.get(), n);
    FUZZ_CHECK(p.status() == o.status);
    if (o.status == HandshakeStatus::NeedMore) {
        FUZZ_CHECK(p.consumed() == n);
        o.consumed += n;
        return false;
    }
    FUZZ_CHECK(p.consumed() <= n);
    o.consumed += p.consumed();
    // A decided parser takes nothing more.
    FUZZ_CHECK(p.feed(copy.get(), n) == o.status);
    FUZZ_CHECK(p.consumed() == 0);
    return true;
}

Outcome finish(const HandshakeParser& p, Outcome o) {
    o.error_status = p.error_status();
    o.reason = std::string(p.error_reason());
    o.req = p.request();
    return o;
}

Outcome parse_split(HandshakeParser& p, const uint8_t* data, size_t n, size_t cut) {
    Outcome o;
    if (!feed_piece(p, o, data, cut)) feed_piece(p, o, data + cut, n - cut);
    return finish(p, o);
}

Outcome parse_bytes(size_t max, const uint8_t* data, size_t n) {
    HandshakeParser p(max);
    Outcome o;
    for (size_t i = 0; i < n; ++i)
        if (feed_piece(p, o, data + i, 1)) break;
    return finish(p, o);
}

void check_same(const Outcome& a, const Outcome& b) {
    FUZZ_CHECK(a.status == b.status);
    FUZZ_CHECK(a.consumed == b.consumed);
    FUZZ_CHECK(a.error_status == b.error_status);
    FUZZ_CHECK(a.reason == b.reason);
    FUZZ_CHECK(a.req.key == b.req.key);
    FUZZ_CHECK(a.req.method == b.req.method);
    FUZZ_CHECK(a.req.target == b.req.target);
    FUZZ_CHECK(a.req.host == b.req.host);
    FUZZ_CHECK(a.req.origin == b.req.origin);
    FUZZ_CHECK(a.req.protocols == b.req.protocols);
    FUZZ_CHECK(a.req.extensions == b.req.extensions);
    FUZZ_CHECK(a.req.http_minor == b.req.http_minor);
}

// Values the worker may log or echo must not be able to break a line.
bool has_line_break_or_nul(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) != s.npos;
}

void check_accepted(const Outcome& o, size_t max) {
    FUZZ_CHECK(o.consumed <= max);
    FUZZ_CHECK(o.error_status == 0 && o.reason.empty());
    FUZZ_CHECK(o.req.method == "GET");
    FUZZ_CHECK(!o.req.host.empty());
    FUZZ_CHECK(ringcast::proto::is_valid_client_key(o.req.key));
    for (const std::string* s : {&o.req.target, &o.req.host, &o.req.key, &o.req.origin,
                                 &o.req.protocols, &o.req.extensions})
        FUZZ_CHECK(!has_line_break_or_nul(*s));
    const std::string response = ringcast::proto::build_accept_response(o.req);
    const std::string accept = ringcast::proto::compute_accept_key(o.req.key);
    FUZZ_CHECK(accept.size() == 28);
    FUZZ_CHECK(response ==
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " +
                   accept + "\r\n\r\n");
}

// A channel name is at most 128 bytes of segments joined by single slashes: no "//", no '/'
// at either end, no "." or ".." segment, no '%'. It is its own path's name (one spelling per
// channel), matches itself and "*", and a reason for none is a non-empty text.
void check_channel(std::string_view target) {
    using ringcast::admission::channel_from_target;
    using ringcast::admission::channel_pattern_matches;
    const auto verdict = channel_from_target(target);
    if (const auto* reason = std::get_if<const char*>(&verdict)) {
        FUZZ_CHECK(*reason != nullptr && **reason != '\0');
        return;
    }
    const std::string& name = std::get<std::string>(verdict);
    FUZZ_CHECK(name.size() <= ringcast::admission::kMaxChannelName);
    FUZZ_CHECK(name.find("//") == std::string::npos);
    FUZZ_CHECK(name.find('%') == std::string::npos);
    FUZZ_CHECK(name.find_first_of("?# ") == std::string::npos);
    if (!name.empty()) {
        FUZZ_CHECK(name.front() != '/' && name.back() != '/');
        const std::string padded = "/" + name + "/";
        FUZZ_CHECK(padded.find("/./") == std::string::npos);
        FUZZ_CHECK(padded.find("/../") == std::string::npos);
    }
    const auto again = channel_from_target("/" + name);
    FUZZ_CHECK(std::holds_alternative<std::string>(again) && std::get<std::string>(again) == name);
    FUZZ_CHECK(channel_pattern_matches(name, name));
    FUZZ_CHECK(channel_pattern_matches("*", name));
}

void check_rejected(const Outcome& o, size_t max) {
    const int s = o.error_status;
    FUZZ_CHECK(s == 400 || s == 405 || s == 426 || s == 431 || s == 505);
    FUZZ_CHECK(!o.reason.empty());
    if (s == 431) FUZZ_CHECK(o.consumed == max);
    const std::string response = ringcast::proto::build_error_response(s, o.reason);
    const std::string status_line = "HTTP/1.1 " + std::to_string(s) + " ";
    FUZZ_CHECK(response.compare(0, status_line.size(), status_line) == 0);
    const size_t end = response.find("\r\n\r\n");
    FUZZ_CHECK(end != std::string::npos);
    const std::string_view head(response.data(), end + 2);
    const std::string_view body = std::string_view(response).substr(end + 4);
    FUZZ_CHECK(body == o.reason);
    FUZZ_CHECK(head.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n") !=
               head.npos);
    FUZZ_CHECK(head.find("\r\nConnection: close\r\n") != head.npos);
    FUZZ_CHECK((head.find("\r\nSec-WebSocket-Version: 13\r\n") != head.npos) == (s == 426));
    FUZZ_CHECK((head.find("\r\nAllow: GET\r\n") != head.npos) == (s == 405));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    const size_t split_seed = (size_t{data[0]} << 8) | data[1];
    // Half the inputs use the default limit; the rest a small one (0..1016) so 431 is reachable.
    const size_t max = data[2] < 0x80 ? 8192 : size_t{data[2] - 0x80u} * 8;
    data += 3;
    size -= 3;
    const size_t cut = split_seed % (size + 1);

    HandshakeParser whole_parser(max);
    const Outcome whole = parse_split(whole_parser, data, size, size);
    HandshakeParser split_parser(max);
    check_same(whole, parse_split(split_parser, data, size, cut));
    check_same(whole, parse_bytes(max, data, size));
    whole_parser.reset();
    check_same(whole, parse_split(whole_parser, data, size, cut));

    FUZZ_CHECK(whole.consumed <= size);
    check_channel(std::string_view(reinterpret_cast<const char*>(data), size));
    switch (whole.status) {
        case HandshakeStatus::NeedMore:
            FUZZ_CHECK(whole.consumed == size && (size == 0 || size < max));
            FUZZ_CHECK(whole.error_status == 0);
            break;
        case HandshakeStatus::Complete:
            check_accepted(whole, max);
            check_channel(whole.req.target);
            break;
        case HandshakeStatus::Rejected:
            check_rejected(whole, max);
            break;
    }
    return 0;
}
