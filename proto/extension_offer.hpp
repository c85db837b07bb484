// proto/extension_offer.hpp: the server side of permessage-deflate negotiation (RFC 7692 §7)
// over a Sec-WebSocket-Extensions request value, without sockets.
//
// Owns: the extension-list grammar (RFC 6455 §9.1: `ext *( ";" param [ "=" value ] )`, values
// a token or a quoted-string whose content is a token), the per-offer checks of RFC 7692, and
// the response value.
//
// Decisions (each has a unit test):
//  - ringcast compresses each message once for every receiver, so it always answers with
//    `server_no_context_takeover` (legal whether or not the client offered it, §7.1.1.1).
//  - It compresses with a 32 KiB window, so an offer with `server_max_window_bits` < 15 is
//    declined (§7.1.2.1 lets a server decline what it cannot honour); `=15` is echoed.
//  - `client_no_context_takeover` is answered when offered: that client's messages then need
//    no inflate state between messages. Without it the client keeps its window and the
//    server keeps one inflate state for it (allocated on its first compressed message).
//  - `client_max_window_bits` without a value is accepted and left out of the answer (the
//    client then uses 15); with a value it is echoed, and inflate uses that window.
//  - An offer with an unknown parameter, a parameter twice, a value where none belongs, or a
//    bad value (not 8..15 written without leading zeros) is declined; the next offer is tried,
//    and the first acceptable one wins. A syntax error anywhere in the header declines all of
//    it. Declining never fails the upgrade: the connection simply runs without compression.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast::proto {

// What was agreed for one connection; `enabled == false` means no extension.
struct DeflateAgreement {
    bool enabled = false;
    bool client_no_context_takeover = false;
    bool server_window_echo = false;  // the offer named server_max_window_bits=15
    uint8_t client_window_bits = 15;  // the window the client compresses with (8..15)
    bool client_window_echo = false;  // answer client_max_window_bits=<client_window_bits>
};

// The first acceptable permessage-deflate offer of `header` (the joined
// Sec-WebSocket-Extensions values), or a disabled agreement.
DeflateAgreement negotiate_permessage_deflate(std::string_view header);

// The Sec-WebSocket-Extensions response value for an enabled agreement.
std::string permessage_deflate_response(const DeflateAgreement& a);

// One byte that travels with a connection (and in a handoff): bit 0 enabled, bit 1
// client_no_context_takeover, bits 4..7 the client's window bits.
inline uint8_t pack_agreement(const DeflateAgreement& a) {
    if (!a.enabled) return 0;
    return static_cast<uint8_t>(1u | (a.client_no_context_takeover ? 2u : 0u) |
                                (static_cast<unsigned>(a.client_window_bits & 0xF) << 4));
}
inline DeflateAgreement unpack_agreement(uint8_t b) {
    DeflateAgreement a;
    a.enabled = (b & 1) != 0;
    a.client_no_context_takeover = (b & 2) != 0;
    a.client_window_bits = static_cast<uint8_t>(b >> 4);
    if (a.client_window_bits < 8) a.client_window_bits = 15;
    return a;
}

}  // namespace ringcast::proto
