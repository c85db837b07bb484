// proto/handshake.hpp: the server side of the RFC 6455 opening handshake, without sockets.
//
// Owns: HandshakeParser (an incremental HTTP/1.1 Upgrade request parser fed socket bytes in
// any split), the Sec-WebSocket-Accept computation, and the bytes of the 101 and error responses.
//
// Decisions (each has a unit test):
//  - Size: the request head, from its first byte through the blank line, may be at most
//    max_header_bytes. The parser rejects with 431 as soon as that many bytes have arrived
//    without the head ending, so it never waits for (or buffers) one byte more.
//  - Request line: `METHOD SP target SP HTTP/D.D`, single spaces, nothing else, else 400.
//    The version is judged before the method: HTTP/1.0 and older, and HTTP/2 or later
//    written as text (never a real h2 connection), get 505; HTTP/1.1 to HTTP/1.9 are accepted.
//    A method other than GET (case-sensitive, so "get" too) gets 405. The target must be
//    origin-form ("/...") or absolute-form ("ws://h/..."), else 400.
//  - Line endings: CRLF, or bare LF for tolerance; a CR anywhere else is a control character.
//    Empty lines before the request line are skipped (RFC 9112 §2.2); they count toward the size.
//  - Header lines: name is a token followed directly by ':' (no space before it), value is
//    trimmed of SP/HTAB; a control character (other than HTAB) anywhere in a line, or a line
//    starting with whitespace (obs-fold), is 400. Names compare case-insensitively.
//  - A missing Upgrade: websocket is 400 rather than 426: a request without it is not a
//    WebSocket request that could be retried with another version, it is a plain HTTP request.
//  - Upgrade and Connection are comma-separated lists; repeated lines add to the same list.
//    Host, Origin, Sec-WebSocket-Key and Sec-WebSocket-Version may appear once (else 400);
//    Sec-WebSocket-Protocol and -Extensions repeated lines are joined with ", ".
//  - A request body is refused (Transfer-Encoding, or a Content-Length other than 0: 400):
//    the bytes after the head must be WebSocket frames, never a body some proxy skipped.
//  - Checks run in this order, first failure wins: request line (at its end), each header line
//    (at its end), then at the blank line Host, Upgrade, Connection, Version (426), Key.
//    The verdict depends only on the bytes, never on how they were split.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ringcast::proto {

struct HandshakeRequest {
    // protocols and extensions are the raw Sec-WebSocket-Protocol/-Extensions values.
    std::string method, target, host, key, origin, protocols, extensions;
    std::string authorization;  // the Authorization value (at most one such header, else 400)
    bool has_origin = false;    // an Origin header was sent (its value may still be empty)
    int http_minor = 1;
};

enum class HandshakeStatus { NeedMore, Complete, Rejected };

class HandshakeParser {
  public:
    explicit HandshakeParser(size_t max_header_bytes = 8192);

    // Feeds the next bytes from the socket; the request may be split anywhere. On Complete,
    // consumed() is how many bytes of this call belonged to the request; the rest are the first
    // WebSocket frame bytes. On Rejected, consumed() counts through the byte that decided it.
    // Once Complete or Rejected, further calls return the same status and consume nothing.
    // A rejection can come before the client has sent everything: write the error response,
    // then shutdown(SHUT_WR) and drain briefly before close, or the peer's RST may eat it.
    HandshakeStatus feed(const char* data, size_t n);
    size_t consumed() const { return consumed_; }
    const HandshakeRequest& request() const { return request_; }
    // 400, 405, 426, 431 or 505 when Rejected, else 0.
    int error_status() const { return error_status_; }
    // Short static text such as "missing Sec-WebSocket-Key"; empty unless Rejected.
    std::string_view error_reason() const { return error_reason_; }
    HandshakeStatus status() const { return status_; }
    // Forgets the request so the parser can take another; keeps the line buffer's memory.
    void reset();

  private:
    void on_line(std::string_view line);
    void on_request_line(std::string_view line);
    void on_header(std::string_view line);
    void on_end_of_head();
    void reject(int status, const char* reason);

    size_t max_header_bytes_;
    // Only a line split across feed() calls is copied here; reserved once, to the cap.
    std::string line_;
    size_t head_bytes_ = 0;
    size_t consumed_ = 0;
    HandshakeStatus status_ = HandshakeStatus::NeedMore;
    int error_status_ = 0;
    std::string_view error_reason_;
    HandshakeRequest request_;
    bool seen_request_line_ = false;
    bool seen_host_ = false, seen_origin_ = false, seen_key_ = false, seen_version_ = false;
    bool seen_authorization_ = false;
    bool seen_upgrade_ = false, upgrade_websocket_ = false, connection_upgrade_ = false;
    std::string version_;
};

// base64(SHA-1(client_key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), through OpenSSL libcrypto;
// empty only if libcrypto fails.
std::string compute_accept_key(std::string_view client_key);

// True when `key` is 24 base64 characters that decode to exactly 16 bytes (RFC 6455 §4.1).
bool is_valid_client_key(std::string_view key);

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and Sec-WebSocket-Accept,
// Sec-WebSocket-Extensions when `extensions` (the agreed response value) is not empty, and
// Sec-WebSocket-Protocol when `protocol` (one the client offered) is not empty. Empty only if
// libcrypto fails (answer 500 then).
std::string build_accept_response(const HandshakeRequest& req, std::string_view extensions = {},
                                  std::string_view protocol = {});

// A complete error response that closes the connection: status line with the standard reason
// phrase, Content-Type: text/plain, Content-Length, Connection: close, body = reason. 405 adds
// "Allow: GET"; 426 adds "Upgrade: websocket" and "Sec-WebSocket-Version: 13". A status outside
// 400..599 is sent as 500, so a caller's mistake still yields a well-formed error.
// `extra_headers`: whole header lines, each ending in CRLF ("Retry-After: 1\r\n").
std::string build_error_response(int status, std::string_view reason, std::string_view extra_headers = {});

}  // namespace ringcast::proto
