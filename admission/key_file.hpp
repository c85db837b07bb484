// Building a JwtVerifier from the files the config names (auth.jwt.hmac_secret_file,
// auth.jwt.public_key_file). The only I/O of admission/: one bounded read through
// base/secret_file. Errors name the file and the reason, never a byte of the key.
#pragma once

#include <string>
#include <variant>

#include "admission/jwt.hpp"

namespace ringcast::admission {

// The secret's bytes as they are, one final newline stripped.
std::variant<JwtVerifier, std::string> load_hmac_verifier(const std::string& path, JwtRules rules);

// A PEM public key or certificate (RSA >= 2048 bits, or EC P-256).
std::variant<JwtVerifier, std::string> load_public_key_verifier(const std::string& path,
                                                                JwtRules rules);

}  // namespace ringcast::admission
