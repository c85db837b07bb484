// tests/unit/proto_handshake.cpp: the specification of the server-side opening handshake
// (proto/handshake.hpp). Every request is parsed whole, split in two at every byte offset, and
// one byte at a time; all of those must reach the same verdict before the behaviour is checked.
#include <doctest/doctest.h>

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proto/handshake.hpp"

using namespace ringcast::proto;
using namespace std::string_literals;

namespace {

struct Outcome {
    HandshakeStatus status = HandshakeStatus::NeedMore;
    size_t consumed = 0;  // bytes of the whole input that belonged to the request
    int error_status = 0;
    std::string reason;
    HandshakeRequest req;
};

// Feeds the pieces in order until the parser decides.
Outcome run(const std::vector<std::string_view>& pieces, size_t max_header_bytes) {
    HandshakeParser p(max_header_bytes);
    Outcome o;
    for (std::string_view piece : pieces) {
        o.status = p.feed(piece.data(), piece.size());
        if (o.status != HandshakeStatus::NeedMore) {
            REQUIRE(p.consumed() <= piece.size());
            o.consumed += p.consumed();
            break;
        }
        REQUIRE(p.consumed() == piece.size());
        o.consumed += piece.size();
    }
    o.error_status = p.error_status();
    o.reason = std::string(p.error_reason());
    o.req = p.request();
    if (o.status != HandshakeStatus::Rejected) REQUIRE(o.error_status == 0);
    return o;
}

void require_same(const Outcome& a, const Outcome& b) {
    REQUIRE(a.status == b.status);
    REQUIRE(a.consumed == b.consumed);
    REQUIRE(a.error_status == b.error_status);
    REQUIRE(a.reason == b.reason);
    REQUIRE(a.req.method == b.req.method);
    REQUIRE(a.req.target == b.req.target);
    REQUIRE(a.req.host == b.req.host);
    REQUIRE(a.req.key == b.req.key);
    REQUIRE(a.req.origin == b.req.origin);
    REQUIRE(a.req.has_origin == b.req.has_origin);
    REQUIRE(a.req.authorization == b.req.authorization);
    REQUIRE(a.req.protocols == b.req.protocols);
    REQUIRE(a.req.extensions == b.req.extensions);
    REQUIRE(a.req.http_minor == b.req.http_minor);
}

// Parses `input` whole, in two pieces split at every offset, and byte by byte; returns the
// outcome after requiring that every way agreed.
Outcome parse(std::string_view input, size_t max_header_bytes = 8192) {
    Outcome whole = run({input}, max_header_bytes);
    for (size_t cut = 0; cut <= input.size(); ++cut) {
        CAPTURE(cut);
        require_same(whole, run({input.substr(0, cut), input.substr(cut)}, max_header_bytes));
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
    INFO("one byte at a time");
    require_same(whole, run(bytes, max_header_bytes));
    return whole;
}

constexpr std::string_view kRfcRequest =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

constexpr std::string_view kHost = "Host: server.example.com";
constexpr std::string_view kUpgrade = "Upgrade: websocket";
constexpr std::string_view kConnection = "Connection: Upgrade";
constexpr std::string_view kKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kVersion = "Sec-WebSocket-Version: 13";

std::string head(std::string_view request_line, std::initializer_list<std::string_view> headers) {
    std::string out(request_line);
    out += "\r\n";
    for (std::string_view h : headers) out.append(h).append("\r\n");
    return out + "\r\n";
}

std::string head(std::initializer_list<std::string_view> headers) {
    return head("GET /chat HTTP/1.1", headers);
}

std::string valid_head_with(std::string_view request_line) {
    return head(request_line, {kHost, kUpgrade, kConnection, kKey, kVersion});
}

void check_rejected(const Outcome& o, int status, std::string_view reason) {
    CHECK(o.status == HandshakeStatus::Rejected);
    CHECK(o.error_status == status);
    CHECK(o.reason == reason);
}

struct Response {
    std::string status_line;
    std::map<std::string, std::string> headers;
    std::string body;
};

Response split_response(const std::string& raw) {
    Response r;
    size_t end = raw.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    r.body = raw.substr(end + 4);
    std::string_view h(raw.data(), end);
    size_t eol = h.find("\r\n");
    r.status_line = std::string(h.substr(0, eol));
    while (eol != std::string_view::npos) {
        h.remove_prefix(eol + 2);
        eol = h.find("\r\n");
        std::string_view line = h.substr(0, eol);
        size_t colon = line.find(": ");
        REQUIRE(colon != std::string_view::npos);
        r.headers[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
    }
    return r;
}

}  // namespace

TEST_SUITE("accept key") {
    TEST_CASE("the RFC 6455 sample key yields the RFC 6455 sample accept value") {
        CHECK(compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    TEST_CASE(
        "accept response is 101 with Upgrade, Connection and the accept key, and nothing chosen") {
        HandshakeRequest req;
        req.key = "dGhlIHNhbXBsZSBub25jZQ==";
        req.protocols = "chat";
        CHECK(build_accept_response(req) ==
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "\r\n");
    }

    TEST_CASE("a client key is valid only as 24 base64 characters decoding to 16 bytes") {
        CHECK(is_valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
        CHECK(is_valid_client_key("AAAAAAAAAAAAAAAAAAAAAA=="));
        CHECK_FALSE(is_valid_client_key(""));
        CHECK_FALSE(is_valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));    // 23 characters
        CHECK_FALSE(is_valid_client_key("dGhlIHNhbXBsZSBub25jZSE="));   // 17 bytes
        CHECK_FALSE(is_valid_client_key("dGhlIHNhbXBsZSBub25j=="));     // 15 bytes
        CHECK_FALSE(is_valid_client_key("dGhlIHNh bXBsZSBub25jZQ=="));  // whitespace inside
        CHECK_FALSE(is_valid_client_key("dGhlIHNhbXBsZSBub25j-Q=="));   // base64url alphabet
        CHECK_FALSE(is_valid_client_key("AAAA=AAAAAAAAAAAAAAAAA=="));   // padding inside
        CHECK_FALSE(is_valid_client_key("dGhlIHNhbXBsZSBub25jZQ=A"));
    }
}

TEST_SUITE("handshake parser: accepted requests") {
    TEST_CASE("the RFC 6455 sample request completes and every field is captured") {
        Outcome o = parse(kRfcRequest);
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.consumed == kRfcRequest.size());
        CHECK(o.req.method == "GET");
        CHECK(o.req.target == "/chat");
        CHECK(o.req.host == "server.example.com");
        CHECK(o.req.key == "dGhlIHNhbXBsZSBub25jZQ==");
        CHECK(o.req.origin == "http://example.com");
        CHECK(o.req.protocols == "chat, superchat");
        CHECK(o.req.extensions == "");
        CHECK(o.req.http_minor == 1);
        CHECK(build_accept_response(o.req).find(
                  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
    }

    TEST_CASE("bytes pipelined behind the request are left unconsumed for the frame parser") {
        // A masked text frame "Hi" right behind the blank line, then the start of another.
        const std::string frame = "\x81\x82\x01\x02\x03\x04\x49\x6b"s + "\x81\x85"s;
        const std::string input = std::string(kRfcRequest) + frame;
        Outcome o = parse(input);
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.consumed == kRfcRequest.size());
        CHECK(input.substr(o.consumed) == frame);
    }

    TEST_CASE("pipelined bytes that look like another request are not parsed as headers") {
        const std::string input = std::string(kRfcRequest) + "GET / HTTP/1.1\r\n\r\n";
        Outcome o = parse(input);
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.consumed == kRfcRequest.size());
    }

    TEST_CASE("bare LF line endings are accepted, alone or mixed with CRLF") {
        Outcome lf = parse(
            "GET / HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: Upgrade\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\nrest");
        REQUIRE(lf.status == HandshakeStatus::Complete);
        CHECK(lf.req.host == "h");
        CHECK(lf.req.key == "dGhlIHNhbXBsZSBub25jZQ==");
        const std::string mixed =
            "GET / HTTP/1.1\r\nHost: h\nUpgrade: websocket\r\nConnection: Upgrade\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\n\r\n";
        Outcome m = parse(mixed + "x");
        REQUIRE(m.status == HandshakeStatus::Complete);
        CHECK(m.consumed == mixed.size());
    }

    TEST_CASE("empty lines before the request line are skipped") {
        const std::string input = "\r\n\n" + std::string(kRfcRequest);
        Outcome o = parse(input);
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.consumed == input.size());
    }

    TEST_CASE("header names match case-insensitively") {
        Outcome o =
            parse(head("GET / HTTP/1.1", {"hOsT: h", "UPGRADE: websocket", "connection: Upgrade",
                                          "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
                                          "SEC-WEBSOCKET-VERSION: 13", "oRiGiN: https://o"}));
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.req.host == "h");
        CHECK(o.req.origin == "https://o");
    }

    TEST_CASE("Upgrade and Connection tokens match case-insensitively as members of a list") {
        Outcome o = parse(head(
            {kHost, "Upgrade: foo, WebSocket", "Connection: keep-alive, UPGRADE", kKey, kVersion}));
        CHECK(o.status == HandshakeStatus::Complete);
        Outcome spaced = parse(head(
            {kHost, "Upgrade: ,\t,websocket ,", "Connection:upgrade,keep-alive", kKey, kVersion}));
        CHECK(spaced.status == HandshakeStatus::Complete);
    }

    TEST_CASE("repeated Connection and Upgrade lines count as one list") {
        Outcome o = parse(head({kHost, "Upgrade: h2c", "Upgrade: websocket",
                                "Connection: keep-alive", "Connection: Upgrade", kKey, kVersion}));
        CHECK(o.status == HandshakeStatus::Complete);
        Outcome later =
            parse(head({kHost, "Upgrade: websocket", "Upgrade: h2c", "Connection: Upgrade",
                        "Connection: keep-alive", kKey, kVersion}));
        CHECK(later.status == HandshakeStatus::Complete);
    }

    TEST_CASE("whitespace around header values is trimmed") {
        Outcome o = parse(
            head({"Host: \t server.example.com \t", "Upgrade:websocket", "Connection:\tUpgrade ",
                  "Sec-WebSocket-Key:    dGhlIHNhbXBsZSBub25jZQ==\t\t",
                  "Sec-WebSocket-Version:  13  ", "Origin:  http://example.com  "}));
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.req.host == "server.example.com");
        CHECK(o.req.key == "dGhlIHNhbXBsZSBub25jZQ==");
        CHECK(o.req.origin == "http://example.com");
    }

    TEST_CASE("Sec-WebSocket-Protocol and -Extensions are kept raw and repeated lines are joined") {
        Outcome o = parse(
            head({kHost, kUpgrade, kConnection, kKey, kVersion, "Sec-WebSocket-Protocol: chat",
                  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
                  "Sec-WebSocket-Protocol:  superchat , v2 ", "Sec-WebSocket-Extensions: x-foo"}));
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.req.protocols == "chat, superchat , v2");
        CHECK(o.req.extensions == "permessage-deflate; client_max_window_bits, x-foo");
    }

    TEST_CASE("unknown headers are ignored and may carry any visible text") {
        Outcome o = parse(
            head({kHost, "User-Agent: Mozilla/5.0 (X11; \xc3\xa9t\xc3\xa9)", "X-Empty:", kUpgrade,
                  kConnection, kKey, kVersion, "Cookie: a=b; c=\"d e\""}));
        CHECK(o.status == HandshakeStatus::Complete);
    }

    TEST_CASE("absolute-form targets and query strings are accepted verbatim") {
        Outcome abs =
            parse(valid_head_with("GET ws://server.example.com:9002/chat?room=1 HTTP/1.1"));
        REQUIRE(abs.status == HandshakeStatus::Complete);
        CHECK(abs.req.target == "ws://server.example.com:9002/chat?room=1");
        Outcome q = parse(valid_head_with("GET /?a=b&c=%20 HTTP/1.1"));
        REQUIRE(q.status == HandshakeStatus::Complete);
        CHECK(q.req.target == "/?a=b&c=%20");
    }

    TEST_CASE("later HTTP/1.x minor versions are accepted and recorded") {
        Outcome o = parse(valid_head_with("GET / HTTP/1.2"));
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.req.http_minor == 2);
    }

    TEST_CASE("Content-Length: 0 is accepted") {
        CHECK(parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, "Content-Length: 0"}))
                  .status == HandshakeStatus::Complete);
    }
}

TEST_SUITE("handshake parser: request line") {
    TEST_CASE("a method other than GET is rejected with 405 as soon as the request line ends") {
        const std::string line = "POST /chat HTTP/1.1\r\n";
        Outcome o = parse(line + std::string(kRfcRequest.substr(kRfcRequest.find('\n') + 1)));
        check_rejected(o, 405, "method not allowed, use GET");
        CHECK(o.consumed == line.size());
        check_rejected(parse(valid_head_with("get / HTTP/1.1")), 405,
                       "method not allowed, use GET");
        check_rejected(parse(valid_head_with("HEAD / HTTP/1.1")), 405,
                       "method not allowed, use GET");
    }

    TEST_CASE("HTTP/1.0 and older are rejected with 505") {
        check_rejected(parse(valid_head_with("GET / HTTP/1.0")), 505, "HTTP/1.1 required");
        check_rejected(parse(valid_head_with("GET / HTTP/0.9")), 505, "HTTP/1.1 required");
    }

    TEST_CASE("HTTP/2 and later written as text are rejected with 505") {
        check_rejected(parse(valid_head_with("GET / HTTP/2.0")), 505, "HTTP/1.1 required");
        check_rejected(parse(valid_head_with("GET / HTTP/2.1")), 505, "HTTP/1.1 required");
        check_rejected(parse(valid_head_with("GET / HTTP/3.0")), 505, "HTTP/1.1 required");
        check_rejected(parse(valid_head_with("GET / HTTP/9.9")), 505, "HTTP/1.1 required");
    }

    TEST_CASE("the version is judged before the method") {
        check_rejected(parse(valid_head_with("POST / HTTP/1.0")), 505, "HTTP/1.1 required");
    }

    TEST_CASE("a malformed request line is rejected with 400") {
        for (std::string_view line :
             {"GET /", "GET / HTTP/1.1 ", "GET  / HTTP/1.1", "GET /  HTTP/1.1", " GET / HTTP/1.1",
              "GET\t/\tHTTP/1.1", "GET / / HTTP/1.1", "GET HTTP/1.1", "GET", "/ HTTP/1.1"}) {
            CAPTURE(line);
            check_rejected(parse(valid_head_with(line)), 400, "malformed request line");
        }
    }

    TEST_CASE("a malformed HTTP version is rejected with 400") {
        for (std::string_view line :
             {"GET / HTTP/1.1x", "GET / HTTP/11", "GET / http/1.1", "GET / HTTP/1.", "GET / HTTP/1",
              "GET / HTTP/1.10", "GET / HTTPS/1.1", "GET / HTTP/a.b", "GET / HTTP/1.1\r"}) {
            CAPTURE(line);
            check_rejected(parse(valid_head_with(line)), 400, "malformed HTTP version");
        }
    }

    TEST_CASE("a method that is not a token is rejected with 400") {
        check_rejected(parse(valid_head_with("G(T / HTTP/1.1")), 400, "malformed request method");
        check_rejected(parse(valid_head_with("G\x01T / HTTP/1.1")), 400,
                       "malformed request method");
    }

    TEST_CASE("a NUL or control character in the request line is rejected with 400") {
        check_rejected(parse(valid_head_with("GE\0T / HTTP/1.1"s)), 400,
                       "malformed request method");
        check_rejected(parse(valid_head_with("GET /ch\0at HTTP/1.1"s)), 400,
                       "malformed request target");
        check_rejected(parse(valid_head_with("GET /ch\x7f"
                                             "at HTTP/1.1")),
                       400, "malformed request target");
        check_rejected(parse(valid_head_with("GET /ch\rat HTTP/1.1")), 400,
                       "malformed request target");
        check_rejected(parse(valid_head_with("GET / HTTP/1.1\0"s)), 400, "malformed HTTP version");
    }

    TEST_CASE("a target that is neither origin-form nor absolute-form is rejected with 400") {
        for (std::string_view line :
             {"GET * HTTP/1.1", "GET chat HTTP/1.1", "GET server.example.com:9002 HTTP/1.1",
              "GET ://x/ HTTP/1.1", "GET 1ws://x/ HTTP/1.1", "GET /caf\xc3\xa9 HTTP/1.1"}) {
            CAPTURE(line);
            check_rejected(parse(valid_head_with(line)), 400, "malformed request target");
        }
    }
}

TEST_SUITE("handshake parser: header lines") {
    TEST_CASE("an obs-fold continuation line is rejected with 400") {
        check_rejected(
            parse(head({kHost, "X-Long: a", " continued", kUpgrade, kConnection, kKey, kVersion})),
            400, "obsolete header line folding");
        check_rejected(parse(head({"\tHost: h", kUpgrade, kConnection, kKey, kVersion})), 400,
                       "obsolete header line folding");
    }

    TEST_CASE("a header line without a colon is rejected with 400") {
        check_rejected(parse(head({kHost, "Upgrade websocket", kConnection, kKey, kVersion})), 400,
                       "header line without colon");
    }

    TEST_CASE("whitespace between a header name and its colon is rejected with 400") {
        check_rejected(parse(head({"Host : h", kUpgrade, kConnection, kKey, kVersion})), 400,
                       "malformed header name");
    }

    TEST_CASE("an empty or non-token header name is rejected with 400") {
        check_rejected(parse(head({kHost, ": x", kUpgrade, kConnection, kKey, kVersion})), 400,
                       "malformed header name");
        check_rejected(parse(head({kHost, "X(y): x", kUpgrade, kConnection, kKey, kVersion})), 400,
                       "malformed header name");
        check_rejected(parse(head({kHost, "X\xc3\xa9: x", kUpgrade, kConnection, kKey, kVersion})),
                       400, "malformed header name");
    }

    TEST_CASE("a NUL or control character in a header line is rejected with 400") {
        check_rejected(parse(head({kHost, "X-A\0b: x"s, kUpgrade, kConnection, kKey, kVersion})),
                       400, "control character in header");
        check_rejected(parse(head({kHost, "X-A\x1b: x", kUpgrade, kConnection, kKey, kVersion})),
                       400, "control character in header");
        check_rejected(parse(head({kHost, "X-A: a\0b"s, kUpgrade, kConnection, kKey, kVersion})),
                       400, "control character in header");
        check_rejected(parse(head({kHost, "X-A: a\rb", kUpgrade, kConnection, kKey, kVersion})),
                       400, "control character in header");
        check_rejected(parse(head({kHost, "X-A: a\x7f", kUpgrade, kConnection, kKey, kVersion})),
                       400, "control character in header");
    }

    TEST_CASE("a header error is reported when its line ends, before the rest arrives") {
        const std::string prefix = "GET / HTTP/1.1\r\nHost: h\r\nHost: g\r\n";
        Outcome o = parse(prefix + "Upgrade: websocket\r\n");
        check_rejected(o, 400, "duplicate Host");
        CHECK(o.consumed == prefix.size());
    }

    TEST_CASE("a request announcing a body is rejected with 400") {
        check_rejected(
            parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, "Content-Length: 5"})), 400,
            "request body not allowed");
        check_rejected(
            parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, "Content-Length:"})), 400,
            "request body not allowed");
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey, kVersion,
                                   "Transfer-Encoding: chunked"})),
                       400, "request body not allowed");
    }
}

TEST_SUITE("handshake parser: WebSocket headers") {
    TEST_CASE("request without Host is rejected with 400") {
        check_rejected(parse(head({kUpgrade, kConnection, kKey, kVersion})), 400, "missing Host");
    }

    TEST_CASE("request with an empty Host is rejected with 400") {
        check_rejected(parse(head({"Host: \t", kUpgrade, kConnection, kKey, kVersion})), 400,
                       "missing Host");
    }

    TEST_CASE("request with two Host lines is rejected with 400") {
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, "host: other"})),
                       400, "duplicate Host");
    }

    TEST_CASE("request without Upgrade: websocket is rejected with 400") {
        check_rejected(parse(head({kHost, kConnection, kKey, kVersion})), 400,
                       "missing Upgrade: websocket");
        for (std::string_view upgrade :
             {"Upgrade: h2c", "Upgrade: websocket/13", "Upgrade: websockets", "Upgrade: web socket",
              "Upgrade:", "Upgrade: \"websocket\""}) {
            CAPTURE(upgrade);
            check_rejected(parse(head({kHost, upgrade, kConnection, kKey, kVersion})), 400,
                           "missing Upgrade: websocket");
        }
    }

    TEST_CASE("request without Connection: Upgrade is rejected with 400") {
        check_rejected(parse(head({kHost, kUpgrade, kKey, kVersion})), 400,
                       "missing Connection: Upgrade");
        for (std::string_view connection : {"Connection: keep-alive", "Connection: upgraded",
                                            "Connection: keep-alive upgrade", "Connection:"}) {
            CAPTURE(connection);
            check_rejected(parse(head({kHost, kUpgrade, connection, kKey, kVersion})), 400,
                           "missing Connection: Upgrade");
        }
    }

    TEST_CASE("request without Sec-WebSocket-Key is rejected with 400") {
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kVersion})), 400,
                       "missing Sec-WebSocket-Key");
    }

    TEST_CASE("request with two Sec-WebSocket-Key lines is rejected with 400") {
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey, kVersion,
                                   "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="})),
                       400, "duplicate Sec-WebSocket-Key");
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, kKey})), 400,
                       "duplicate Sec-WebSocket-Key");
    }

    TEST_CASE("request whose Sec-WebSocket-Key does not decode to 16 bytes is rejected with 400") {
        for (std::string_view key :
             {"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j",
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=",
              "Sec-WebSocket-Key: not base64 at all!!!!!!", "Sec-WebSocket-Key:",
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=="}) {
            CAPTURE(key);
            check_rejected(parse(head({kHost, kUpgrade, kConnection, key, kVersion})), 400,
                           "invalid Sec-WebSocket-Key");
        }
    }

    TEST_CASE("request without Sec-WebSocket-Version is rejected with 426") {
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey})), 426,
                       "missing Sec-WebSocket-Version");
    }

    TEST_CASE("request with a Sec-WebSocket-Version other than 13 is rejected with 426") {
        for (std::string_view version :
             {"Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 14", "Sec-WebSocket-Version: 013",
              "Sec-WebSocket-Version: 13, 8", "Sec-WebSocket-Version:"}) {
            CAPTURE(version);
            check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey, version})), 426,
                           "unsupported Sec-WebSocket-Version");
        }
    }

    TEST_CASE("request with two Sec-WebSocket-Version lines is rejected with 400") {
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, kVersion})), 400,
                       "duplicate Sec-WebSocket-Version");
    }

    TEST_CASE("request with two Origin lines is rejected with 400") {
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, "Origin: http://a",
                                   "Origin: http://b"})),
                       400, "duplicate Origin");
    }

    TEST_CASE(
        "missing headers are reported in a fixed order: Host, Upgrade, Connection, Version, Key") {
        check_rejected(parse(head({})), 400, "missing Host");
        check_rejected(parse(head({kHost})), 400, "missing Upgrade: websocket");
        check_rejected(parse(head({kHost, kUpgrade})), 400, "missing Connection: Upgrade");
        check_rejected(parse(head({kHost, kUpgrade, kConnection})), 426,
                       "missing Sec-WebSocket-Version");
        check_rejected(parse(head({kHost, kUpgrade, kConnection, kVersion})), 400,
                       "missing Sec-WebSocket-Key");
    }
}

TEST_SUITE("handshake parser: size limit") {
    // Pads a valid request with an X-Pad header so that the whole head is exactly `size` bytes.
    std::string request_of_size(size_t size) {
        const std::string base = head({kHost, kUpgrade, kConnection, kKey, kVersion, "X-Pad: "});
        REQUIRE(size >= base.size());
        return head({kHost, kUpgrade, kConnection, kKey, kVersion,
                     "X-Pad: " + std::string(size - base.size(), 'p')});
    }

    TEST_CASE("a request head of exactly max_header_bytes completes") {
        const std::string input = request_of_size(256);
        REQUIRE(input.size() == 256);
        Outcome o = parse(input + "\x81", 256);
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.consumed == 256);
    }

    TEST_CASE("a request head one byte over max_header_bytes is rejected with 431 at the limit") {
        const std::string input = request_of_size(257);
        Outcome o = parse(input, 256);
        check_rejected(o, 431, "request header too large");
        CHECK(o.consumed == 256);
    }

    TEST_CASE(
        "the default limit is 8192 bytes: exactly at it completes, one over is rejected with 431") {
        CHECK(parse(request_of_size(8192)).status == HandshakeStatus::Complete);
        Outcome over = parse(request_of_size(8193));
        check_rejected(over, 431, "request header too large");
        CHECK(over.consumed == 8192);
    }

    TEST_CASE("an endless line is rejected with 431 after exactly max_header_bytes") {
        Outcome o = parse(std::string(300, 'A'), 64);
        check_rejected(o, 431, "request header too large");
        CHECK(o.consumed == 64);
    }

    TEST_CASE("empty lines before the request line count toward the limit") {
        Outcome o = parse(std::string(100, '\n'), 64);
        check_rejected(o, 431, "request header too large");
        CHECK(o.consumed == 64);
    }
}

TEST_SUITE("handshake parser: lifecycle") {
    TEST_CASE("after a verdict, feed returns it again and consumes nothing") {
        HandshakeParser p;
        REQUIRE(p.feed(kRfcRequest.data(), kRfcRequest.size()) == HandshakeStatus::Complete);
        CHECK(p.feed("GET", 3) == HandshakeStatus::Complete);
        CHECK(p.consumed() == 0);
        CHECK(p.status() == HandshakeStatus::Complete);

        HandshakeParser q;
        REQUIRE(q.feed("PUT / HTTP/1.1\r\n", 16) == HandshakeStatus::Rejected);
        CHECK(q.feed(kRfcRequest.data(), kRfcRequest.size()) == HandshakeStatus::Rejected);
        CHECK(q.consumed() == 0);
        CHECK(q.error_status() == 405);
    }

    TEST_CASE("reset lets one parser take a fresh request, forgetting the last one") {
        HandshakeParser p(64);
        REQUIRE(p.feed("GET / HTTP/1.1\r\nHost: a-long-host-name-", 39) ==
                HandshakeStatus::NeedMore);
        p.reset();
        CHECK(p.request().host.empty());
        CHECK(p.error_status() == 0);
        const std::string small =
            "GET / HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: upgrade\n";
        REQUIRE(p.feed(small.data(), small.size()) == HandshakeStatus::NeedMore);
        p.reset();
        REQUIRE(p.feed("POST", 4) == HandshakeStatus::NeedMore);
        REQUIRE(p.feed(" / HTTP/1.1\r\n", 13) == HandshakeStatus::Rejected);
        CHECK(p.error_status() == 405);
        p.reset();
        CHECK(p.status() == HandshakeStatus::NeedMore);
        CHECK(p.error_reason().empty());
    }

    TEST_CASE("feeding nothing changes nothing") {
        HandshakeParser p;
        CHECK(p.feed(nullptr, 0) == HandshakeStatus::NeedMore);
        CHECK(p.consumed() == 0);
    }
}

TEST_SUITE("error responses") {
    TEST_CASE(
        "an error response has the standard reason phrase, text/plain, a matching Content-Length "
        "and closes") {
        struct Case {
            int status;
            std::string_view status_line;
        };
        for (Case c :
             {Case{400, "HTTP/1.1 400 Bad Request"}, Case{405, "HTTP/1.1 405 Method Not Allowed"},
              Case{426, "HTTP/1.1 426 Upgrade Required"},
              Case{431, "HTTP/1.1 431 Request Header Fields Too Large"},
              Case{505, "HTTP/1.1 505 HTTP Version Not Supported"},
              Case{503, "HTTP/1.1 503 Service Unavailable"}}) {
            CAPTURE(c.status);
            Response r =
                split_response(build_error_response(c.status, "missing Sec-WebSocket-Key"));
            CHECK(r.status_line == c.status_line);
            CHECK(r.headers["Content-Type"] == "text/plain; charset=utf-8");
            CHECK(r.headers["Content-Length"] == std::to_string(r.body.size()));
            CHECK(r.headers["Connection"] == "close");
            CHECK(r.body == "missing Sec-WebSocket-Key");
        }
    }

    TEST_CASE("the exact bytes of a 400 response") {
        CHECK(build_error_response(400, "missing Host") ==
              "HTTP/1.1 400 Bad Request\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 12\r\n"
              "Connection: close\r\n"
              "\r\n"
              "missing Host");
    }

    TEST_CASE("a 426 response names the supported version and protocol") {
        Response r = split_response(build_error_response(426, "unsupported Sec-WebSocket-Version"));
        CHECK(r.headers["Sec-WebSocket-Version"] == "13");
        CHECK(r.headers["Upgrade"] == "websocket");
        CHECK(r.headers["Content-Length"] == std::to_string(r.body.size()));
    }

    TEST_CASE("a 405 response carries Allow: GET") {
        Response r = split_response(build_error_response(405, "method not allowed, use GET"));
        CHECK(r.headers["Allow"] == "GET");
        CHECK(r.headers.count("Sec-WebSocket-Version") == 0);
    }

    TEST_CASE("only 426 carries Sec-WebSocket-Version and only 405 carries Allow") {
        for (int status : {400, 431, 505}) {
            Response r = split_response(build_error_response(status, "x"));
            CHECK(r.headers.count("Sec-WebSocket-Version") == 0);
            CHECK(r.headers.count("Allow") == 0);
        }
    }

    TEST_CASE("a status outside 400..599 is sent as 500 so the response stays well formed") {
        CHECK(split_response(build_error_response(101, "oops")).status_line ==
              "HTTP/1.1 500 Internal Server Error");
        CHECK(split_response(build_error_response(-7, "oops")).status_line ==
              "HTTP/1.1 500 Internal Server Error");
        CHECK(split_response(build_error_response(499, "")).status_line ==
              "HTTP/1.1 499 Client Error");
    }

    TEST_CASE("every rejection the parser makes has a response whose body is its reason") {
        HandshakeParser p;
        const std::string input = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        REQUIRE(p.feed(input.data(), input.size()) == HandshakeStatus::Rejected);
        Response r = split_response(build_error_response(p.error_status(), p.error_reason()));
        CHECK(r.status_line == "HTTP/1.1 400 Bad Request");
        CHECK(r.body == "missing Upgrade: websocket");
    }

    TEST_CASE("Authorization is captured once; two of them are rejected with 400") {
        Outcome o = parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, "authorization:  Bearer abc.def.ghi "}));
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.req.authorization == "Bearer abc.def.ghi");
        CHECK_FALSE(o.req.has_origin);
        check_rejected(parse(head({kHost, "Authorization: Bearer a", "Authorization: Bearer b", kUpgrade,
                                   kConnection, kKey, kVersion})),
                       400, "duplicate Authorization");
    }

    TEST_CASE("an Origin header is told apart from none, even when empty") {
        Outcome o = parse(head({kHost, kUpgrade, kConnection, kKey, kVersion, "Origin:"}));
        REQUIRE(o.status == HandshakeStatus::Complete);
        CHECK(o.req.has_origin);
        CHECK(o.req.origin.empty());
    }

    TEST_CASE("the 101 names the chosen subprotocol; refusals carry their extra headers") {
        Outcome o = parse(kRfcRequest);
        Response r = split_response(build_accept_response(o.req, {}, "chat"));
        CHECK(r.headers["Sec-WebSocket-Protocol"] == "chat");
        CHECK(split_response(build_accept_response(o.req)).headers.count("Sec-WebSocket-Protocol") == 0);
        Response u = split_response(build_error_response(401, "token required", "WWW-Authenticate: Bearer\r\n"));
        CHECK(u.status_line == "HTTP/1.1 401 Unauthorized");
        CHECK(u.headers["WWW-Authenticate"] == "Bearer");
        CHECK(u.body == "token required");
        Response f = split_response(build_error_response(503, "server full", "Retry-After: 5\r\n"));
        CHECK(f.status_line == "HTTP/1.1 503 Service Unavailable");
        CHECK(f.headers["Retry-After"] == "5");
        CHECK(split_response(build_error_response(403, "origin not allowed")).status_line == "HTTP/1.1 403 Forbidden");
    }
}
