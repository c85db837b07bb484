// proto/http_token.hpp: the small pieces of HTTP's grammar (RFC 9110 §5.6) that the handshake
// parser and the Sec-WebSocket-Extensions parser both read: token characters and
// case-insensitive comparison of ASCII names.
#pragma once

#include <string_view>

namespace ringcast::proto::http {

constexpr bool is_tchar(char ch) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

constexpr char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// `lower_ascii` is already lower case.
constexpr bool iequals(std::string_view s, std::string_view lower_ascii) {
    if (s.size() != lower_ascii.size()) return false;
    for (size_t i = 0; i < s.size(); ++i)
        if (lower(s[i]) != lower_ascii[i]) return false;
    return true;
}

}  // namespace ringcast::proto::http
