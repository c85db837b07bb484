// Strict base64url (RFC 4648 section 5) as JWS uses it (RFC 7515 section 2): no padding, no
// white space, only A-Z a-z 0-9 - _, and the unused bits of the last character zero, so that
// every byte string has exactly one encoding and a token cannot be altered without changing
// the signed text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ringcast::admission {

// nullopt for any character outside the alphabet, '=' padding, a length that is 1 mod 4, or
// non-zero trailing bits.
std::optional<std::string> base64url_decode(std::string_view text);

std::string base64url_encode(std::string_view bytes);

}  // namespace ringcast::admission
