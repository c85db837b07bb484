/*
 * Where a client's token comes from at the upgrade (docs/admission.md):
 *
 *   Authorization: Bearer <token>                       any client that can set headers
 *   GET /?token=<percent-encoded token>                  anything that can build a URL
 *   Sec-WebSocket-Protocol: ringcast,                    a browser: its WebSocket API sets no
 *       base64url.bearer.ringcast.<base64url(token)>     headers but this one
 *
 * The subprotocol form follows Kubernetes' (base64url.bearer.authorization.k8s.io.<token>):
 * the token is base64url-encoded again, so any bearer token fits the header's token syntax.
 * The server answers with "ringcast" when it was offered (a browser fails a handshake that
 * names protocols and gets none back) and never with the token entry.
 *
 * Pure functions over the header values the caller passes; no allocation but the token.
 */
#pragma once

#include <string>
#include <string_view>

namespace ringcast::admission {

inline constexpr std::string_view kSubprotocol = "ringcast";
inline constexpr std::string_view kSubprotocolTokenPrefix = "base64url.bearer.ringcast.";

enum class TokenLookup {
    Absent,  // this source holds no token
    Found,
    Malformed,  // it holds one, but not in a form we can read (bad escape, two tokens, ...)
};

struct FoundToken {
    TokenLookup status = TokenLookup::Absent;
    std::string token;
};

// "Bearer <token>" (scheme case-insensitive, RFC 7235); another scheme is Absent.
FoundToken token_from_authorization(std::string_view value);

// The `token` parameter of a request target's query ("/path?a=1&token=..."), percent-decoded.
// Given twice, or with a bad %-escape: Malformed.
FoundToken token_from_query(std::string_view target);

struct SubprotocolOffer {
    FoundToken token;
    std::string_view answer;  // the protocol to echo in the 101, "" = send none
};

// The client's Sec-WebSocket-Protocol value(s), comma-separated (several header lines joined
// with ","). The answer is kSubprotocol when offered, else "".
SubprotocolOffer token_from_subprotocols(std::string_view value);

// "%41b+" -> "Ab+": RFC 3986 percent-decoding ('+' stays '+'); false on a bad escape.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace ringcast::admission
