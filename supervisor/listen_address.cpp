/*
 * parse_address(): HOST:PORT, [IPV6]:PORT and :PORT into a ListenAddress, with reasons that
 * say what was expected. IP literals are checked with inet_pton so that what passes here is
 * exactly what bind() will accept.
 */
#include "supervisor/listen_address.hpp"

#include <arpa/inet.h>

#include <cstdio>

namespace ringcast::supervisor {
namespace {

constexpr std::string_view kForms = "expected HOST:PORT, [IPV6]:PORT or :PORT";

// Quoted like a JSON string so that the reason shows exactly what was given.
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\x%02x", c);
            out += esc;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

bool is_ipv4(const std::string& s) {
    in_addr a;
    return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
    in6_addr a;
    return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
bool is_host_name(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    size_t label = 0;
    char prev = '.';
    for (char c : s) {
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (c == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else if (alnum || (c == '-' && label > 0)) {
            if (++label > 63) return false;
        } else {
            return false;
        }
        prev = c;
    }
    return prev != '-' && prev != '.';
}

// Port 0 is refused: with one SO_REUSEPORT listener per shard, each would get its own port.
std::variant<uint16_t, std::string> parse_port(std::string_view port, std::string_view text) {
    if (port.empty()) return "missing port after ':' in " + quote(text);
    if (!all_digits(port)) return "port must be a number, got " + quote(port);
    unsigned long value = 0;
    for (char c : port) {
        value = value * 10 + static_cast<unsigned long>(c - '0');
        if (value > 65535) break;
    }
    if (value < 1 || value > 65535) return "port must be 1..65535, got " + std::string(port);
    return static_cast<uint16_t>(value);
}

}  // namespace

std::string ListenAddress::text() const {
    std::string p = std::to_string(port);
    return ipv6 ? "[" + host + "]:" + p : host + ":" + p;
}

std::variant<ListenAddress, std::string> parse_address(std::string_view text, AddressUse use) {
    ListenAddress addr;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos)
            return "missing ']' after the IPv6 address in " + quote(text);
        addr.host = std::string(text.substr(1, close - 1));
        addr.ipv6 = true;
        if (close + 1 >= text.size() || text[close + 1] != ':')
            return "expected ':PORT' after ']' in " + quote(text);
        port = text.substr(close + 2);
        if (!is_ipv6(addr.host)) return quote(addr.host) + " is not an IPv6 address";
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            if (all_digits(text))
                return "missing ':' before the port; did you mean \":" + std::string(text) + "\"?";
            return std::string(kForms) + ", got " + quote(text);
        }
        if (text.find(':') != colon)
            return "an IPv6 address must be in brackets, e.g. \"[::1]:9002\", got " + quote(text);
        addr.host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
        if (addr.host.empty()) {
            if (use == AddressUse::Connect) return "missing host in " + quote(text);
        } else if (!is_ipv4(addr.host)) {
            if (use == AddressUse::Listen)
                return "host must be an IPv4 address or an IPv6 address in brackets, got " +
                       quote(addr.host);
            if (!is_host_name(addr.host))
                return "host must be a host name, an IPv4 address or an IPv6 address in brackets, "
                       "got " +
                       quote(addr.host);
        }
    }
    auto p = parse_port(port, text);
    if (auto* reason = std::get_if<std::string>(&p)) return std::move(*reason);
    addr.port = std::get<uint16_t>(p);
    return addr;
}

}  // namespace ringcast::supervisor
