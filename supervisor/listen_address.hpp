/*
 * The HOST:PORT syntax shared by `listen`, `metrics_listen`, `-addr` and the bridge's Redis
 * address, parsed into what bind() or connect() needs. Pure text handling: nothing here
 * opens a socket or knows which config key the text came from.
 *
 *   ":9002"            every address, IPv4 and IPv6 (one dual-stack socket)
 *   "0.0.0.0:9002"     every IPv4 address only
 *   "127.0.0.1:9002"   one IPv4 address
 *   "[::]:9002"        every IPv6 address (the binder decides on IPV6_V6ONLY)
 *   "[::1]:9002"       one IPv6 address
 *   "redis.lan:6379"   a host name, only where the address is connected to (AddressUse::Connect)
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace ringcast::supervisor {

struct ListenAddress {
    std::string host;  // "" = every address; else an IP literal (or a host name, for Connect)
    uint16_t port = 0;
    bool ipv6 = false;  // host is an IPv6 literal, written in brackets

    // The canonical text, which parse_address() reads back to an equal value.
    std::string text() const;

    friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

enum class AddressUse {
    Listen,   // host may be empty (every address); IP literals only, since nothing resolves names
    Connect,  // host required; host names allowed (resolved by whoever connects)
};

// On failure returns the reason without a key, e.g. "port must be 1..65535, got 70000".
std::variant<ListenAddress, std::string> parse_address(std::string_view text, AddressUse use);

}  // namespace ringcast::supervisor
