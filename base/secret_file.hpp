// Reading a secret (a JWT HMAC key, a Redis password) from a file the operator names in the
// config. The bytes are taken as they are, one final newline stripped (editors add it). Errors
// are values naming the file and the reason; neither the secret nor any of its bytes ever
// appears in one.
#pragma once

#include <string>
#include <variant>

namespace ringcast {

// A secret file is a key or a password, never more than this.
inline constexpr size_t kMaxSecretFileBytes = 64 * 1024;

struct SecretFileError {
    std::string message;  // "cannot read \"/etc/x\": No such file or directory"
};

// The file's bytes with one final "\n" removed (a "\r" before it is kept: bytes as they are). An
// empty result is an error: an empty secret is never what was meant.
std::variant<std::string, SecretFileError> read_secret_file(const std::string& path);

}  // namespace ringcast
