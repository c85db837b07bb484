// proto/handshake.cpp: the opening-handshake parser, the accept key and the response bytes.
// The rules and their order are listed at the top of handshake.hpp.
#include "proto/handshake.hpp"
#include "proto/http_token.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace ringcast::proto {
namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

using http::iequals;
using http::is_tchar;

constexpr bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(c); });
}

// Controls other than HTAB, and DEL; obs-text (0x80..0xFF) is allowed in values.
constexpr bool is_ctl(unsigned char c) {
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

constexpr bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

constexpr std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// True if the comma-separated list holds `member` (lower case) as one whole element.
constexpr bool list_contains(std::string_view list, std::string_view member) {
    while (true) {
        size_t comma = list.find(',');
        if (iequals(trim_ows(list.substr(0, comma)), member)) return true;
        if (comma == std::string_view::npos) return false;
        list.remove_prefix(comma + 1);
    }
}

constexpr bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// origin-form ("/path?q") or absolute-form ("scheme://authority/path"), visible ASCII only.
constexpr bool is_request_target(std::string_view t) {
    if (t.empty()) return false;
    for (char c : t)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            return false;
    if (t.front() == '/') return true;
    size_t colon = t.find("://");
    if (colon == std::string_view::npos || !is_alpha(t.front())) return false;
    for (char c : t.substr(0, colon))
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
    return true;
}

void append_list(std::string& to, std::string_view value) {
    if (value.empty()) return;
    if (!to.empty()) to += ", ";
    to += value;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 413:
            return "Content Too Large";
        case 426:
            return "Upgrade Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return status < 500 ? "Client Error" : "Server Error";
    }
}

}  // namespace

HandshakeParser::HandshakeParser(size_t max_header_bytes) : max_header_bytes_(max_header_bytes) {}

void HandshakeParser::reset() {
    line_.clear();
    head_bytes_ = 0;
    consumed_ = 0;
    status_ = HandshakeStatus::NeedMore;
    error_status_ = 0;
    error_reason_ = {};
    request_ = HandshakeRequest{};
    seen_request_line_ = false;
    seen_host_ = seen_origin_ = seen_key_ = seen_version_ = seen_authorization_ = false;
    seen_upgrade_ = upgrade_websocket_ = connection_upgrade_ = false;
    version_.clear();
}

void HandshakeParser::reject(int status, const char* reason) {
    status_ = HandshakeStatus::Rejected;
    error_status_ = status;
    error_reason_ = reason;
}

HandshakeStatus HandshakeParser::feed(const char* data, size_t n) {
    consumed_ = 0;
    if (status_ != HandshakeStatus::NeedMore) return status_;
    size_t pos = 0;
    while (pos < n) {
        // Never look past the cap: a head that reaches it without ending is rejected right there.
        size_t window = std::min(n - pos, max_header_bytes_ - head_bytes_);
        const char* start = data + pos;
        const char* nl = static_cast<const char*>(std::memchr(start, '\n', window));
        size_t take = nl ? static_cast<size_t>(nl - start) + 1 : window;
        head_bytes_ += take;
        pos += take;
        if (nl) {
            std::string_view line(start, take - 1);
            if (!line_.empty()) {  // the line began in an earlier call
                line_.append(line);
                line = line_;
            }
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            on_line(line);
            line_.clear();
        } else {
            if (line_.capacity() < max_header_bytes_)
                line_.reserve(max_header_bytes_);  // once per parser
            line_.append(start, take);
        }
        if (status_ == HandshakeStatus::NeedMore && head_bytes_ >= max_header_bytes_)
            reject(431, "request header too large");
        if (status_ != HandshakeStatus::NeedMore) {
            consumed_ = pos;
            return status_;
        }
    }
    consumed_ = n;
    return status_;
}

void HandshakeParser::on_line(std::string_view line) {
    if (!seen_request_line_) {
        if (!line.empty())
            on_request_line(line);  // empty lines before the request line are skipped
    } else if (line.empty()) {
        on_end_of_head();
    } else {
        on_header(line);
    }
}

void HandshakeParser::on_request_line(std::string_view line) {
    seen_request_line_ = true;
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return reject(400, "malformed request line");
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (!is_token(method)) return reject(400, "malformed request method");
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
        version[6] != '.' || !is_digit(version[7]))
        return reject(400, "malformed HTTP version");
    int major = version[5] - '0', minor = version[7] - '0';
    if (major != 1 || minor < 1) return reject(505, "HTTP/1.1 required");
    if (method != "GET") return reject(405, "method not allowed, use GET");
    if (!is_request_target(target)) return reject(400, "malformed request target");
    request_.method = method;
    request_.target = target;
    request_.http_minor = minor;
}

void HandshakeParser::on_header(std::string_view line) {
    if (is_ows(line.front())) return reject(400, "obsolete header line folding");
    for (char c : line)
        if (is_ctl(static_cast<unsigned char>(c)))
            return reject(400, "control character in header");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return reject(400, "header line without colon");
    std::string_view name = line.substr(0, colon);
    if (!is_token(name)) return reject(400, "malformed header name");
    std::string_view value = trim_ows(line.substr(colon + 1));

    if (iequals(name, "host")) {
        if (seen_host_) return reject(400, "duplicate Host");
        seen_host_ = true;
        request_.host = value;
    } else if (iequals(name, "upgrade")) {
        seen_upgrade_ = true;
        upgrade_websocket_ = upgrade_websocket_ || list_contains(value, "websocket");
    } else if (iequals(name, "connection")) {
        connection_upgrade_ = connection_upgrade_ || list_contains(value, "upgrade");
    } else if (iequals(name, "sec-websocket-key")) {
        if (seen_key_) return reject(400, "duplicate Sec-WebSocket-Key");
        seen_key_ = true;
        request_.key = value;
    } else if (iequals(name, "sec-websocket-version")) {
        if (seen_version_) return reject(400, "duplicate Sec-WebSocket-Version");
        seen_version_ = true;
        version_ = value;
    } else if (iequals(name, "origin")) {
        if (seen_origin_) return reject(400, "duplicate Origin");
        seen_origin_ = true;
        request_.origin = value;
        request_.has_origin = true;
    } else if (iequals(name, "authorization")) {
        // Two credentials would leave the server to guess which one to check.
        if (seen_authorization_) return reject(400, "duplicate Authorization");
        seen_authorization_ = true;
        request_.authorization = value;
    } else if (iequals(name, "sec-websocket-protocol")) {
        append_list(request_.protocols, value);
    } else if (iequals(name, "sec-websocket-extensions")) {
        append_list(request_.extensions, value);
    } else if (iequals(name, "transfer-encoding")) {
        return reject(400, "request body not allowed");
    } else if (iequals(name, "content-length")) {
        if (value.empty() || value.find_first_not_of('0') != std::string_view::npos)
            return reject(400, "request body not allowed");
    }
}

void HandshakeParser::on_end_of_head() {
    if (!seen_host_ || request_.host.empty()) return reject(400, "missing Host");
    if (!seen_upgrade_ || !upgrade_websocket_) return reject(400, "missing Upgrade: websocket");
    if (!connection_upgrade_) return reject(400, "missing Connection: Upgrade");
    if (!seen_version_) return reject(426, "missing Sec-WebSocket-Version");
    if (version_ != "13") return reject(426, "unsupported Sec-WebSocket-Version");
    if (!seen_key_) return reject(400, "missing Sec-WebSocket-Key");
    if (!is_valid_client_key(request_.key)) return reject(400, "invalid Sec-WebSocket-Key");
    status_ = HandshakeStatus::Complete;
}

bool is_valid_client_key(std::string_view key) {
    // 16 bytes are 22 base64 characters and "=="; checking the alphabet first keeps OpenSSL's
    // tolerance of embedded whitespace and stray characters out of the protocol.
    constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (key.size() != 24 || key.substr(22) != "==") return false;
    if (key.substr(0, 22).find_first_not_of(kAlphabet) != std::string_view::npos) return false;
    std::array<unsigned char, 18> out{};
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(key.data()), 24);
    return n == 18;  // EVP_DecodeBlock counts the two padding characters as zero bytes
}

std::string compute_accept_key(std::string_view client_key) {
    std::string input;
    input.reserve(client_key.size() + kWebSocketGuid.size());
    input.append(client_key).append(kWebSocketGuid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    // Fails only when libcrypto itself does (out of memory).
    int ok =
        EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha1(), nullptr);
    if (ok != 1) return {};
    // 28 characters and the NUL that EVP_EncodeBlock writes.
    std::array<unsigned char, 29> b64{};
    int len = EVP_EncodeBlock(b64.data(), digest.data(), 20);
    return std::string(reinterpret_cast<const char*>(b64.data()), static_cast<size_t>(len));
}

std::string build_accept_response(const HandshakeRequest& req, std::string_view extensions,
                                  std::string_view protocol) {
    std::string accept = compute_accept_key(req.key);
    if (accept.empty()) return {};
    std::string out;
    out.reserve(130 + (extensions.empty() ? 0 : 30 + extensions.size()));
    out += "HTTP/1.1 101 Switching Protocols\r\n";
    out += "Upgrade: websocket\r\n";
    out += "Connection: Upgrade\r\n";
    out += "Sec-WebSocket-Accept: ";
    out += accept;
    if (!extensions.empty()) {
        out += "\r\nSec-WebSocket-Extensions: ";
        out += extensions;
    }
    if (!protocol.empty()) {
        out += "\r\nSec-WebSocket-Protocol: ";
        out += protocol;
    }
    out += "\r\n\r\n";
    return out;
}

std::string build_error_response(int status, std::string_view reason, std::string_view extra_headers) {
    if (status < 400 || status > 599) status = 500;
    std::string out;
    out.reserve(200 + reason.size());
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += reason_phrase(status);
    out += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
    out += std::to_string(reason.size());
    out += "\r\nConnection: close\r\n";
    if (status == 405) out += "Allow: GET\r\n";
    if (status == 426) out += "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
    out += extra_headers;
    out += "\r\n";
    out += reason;
    return out;
}

}  // namespace ringcast::proto
