// Client handshake: request text, Sec-WebSocket-Key, and response verification.
#include "bench/loadgen/client_handshake.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "proto/handshake.hpp"

namespace ringcast::bench {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// True when the comma-separated list `value` holds `token` (case-insensitive).
bool list_has(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const size_t comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace

ClientHandshake make_client_handshake(std::string_view host_port, std::string_view path,
                                      const uint8_t key16[16], bool offer_deflate,
                                      std::string_view extra_headers) {
    unsigned char b64[32];
    const int n = EVP_EncodeBlock(b64, key16, 16);
    const std::string key(reinterpret_cast<const char*>(b64), static_cast<size_t>(n));
    ClientHandshake hs;
    hs.request.reserve(200 + extra_headers.size());
    hs.request += "GET ";
    hs.request += path;
    hs.request += " HTTP/1.1\r\nHost: ";
    hs.request += host_port;
    hs.request +=
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: ";
    hs.request += key;
    if (offer_deflate)
        hs.request +=
            "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover";
    hs.request += "\r\n";
    hs.request += extra_headers;
    hs.request += "\r\n";
    hs.expected_accept = proto::compute_accept_key(key);
    return hs;
}

ResponseStatus HandshakeResponseReader::feed(const char* data, size_t n,
                                             std::string_view expected_accept) {
    const size_t before = head_.size();
    head_.append(data, std::min(n, kMaxHead + 4 - before));
    const size_t end = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
    if (end == std::string::npos) {
        if (head_.size() >= kMaxHead) {
            error_ = "response head over 8 KiB";
            return ResponseStatus::Rejected;
        }
        return ResponseStatus::NeedMore;
    }
    consumed_ = end + 4 - before;
    return judge(std::string_view(head_).substr(0, end + 2), expected_accept);
}

ResponseStatus HandshakeResponseReader::judge(std::string_view head,
                                              std::string_view expected_accept) {
    const size_t eol = head.find("\r\n");
    const std::string_view status = head.substr(0, eol);
    if (status.size() < 12 || status.substr(0, 9) != "HTTP/1.1 " || status.substr(9, 3) != "101") {
        error_ = "status line is not 101: ";
        error_ += status.substr(0, 80);
        return ResponseStatus::Rejected;
    }
    bool upgrade = false, connection = false, accept = false;
    std::string_view rest = head.substr(eol + 2);
    while (!rest.empty()) {
        const size_t e = rest.find("\r\n");
        const std::string_view line = rest.substr(0, e);
        rest.remove_prefix(e == std::string_view::npos ? rest.size() : e + 2);
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "Upgrade")) upgrade = upgrade || iequals(value, "websocket");
        if (iequals(name, "Connection")) connection = connection || list_has(value, "upgrade");
        if (iequals(name, "Sec-WebSocket-Extensions"))
            deflate_ = deflate_ || iequals(value.substr(0, 18), "permessage-deflate");
        if (iequals(name, "Sec-WebSocket-Accept")) {
            if (value != expected_accept) {
                error_ = "Sec-WebSocket-Accept mismatch";
                return ResponseStatus::Rejected;
            }
            accept = true;
        }
    }
    if (!upgrade)
        error_ = "no Upgrade: websocket";
    else if (!connection)
        error_ = "no Connection: Upgrade";
    else if (!accept)
        error_ = "no Sec-WebSocket-Accept";
    return error_.empty() ? ResponseStatus::Accepted : ResponseStatus::Rejected;
}

}  // namespace ringcast::bench
