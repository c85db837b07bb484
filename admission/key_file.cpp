// Key files -> JwtVerifier.
#include "admission/key_file.hpp"

#include <openssl/crypto.h>

#include "base/secret_file.hpp"

namespace ringcast::admission {

namespace {

std::variant<JwtVerifier, std::string> build(const std::string& path, bool hmac, JwtRules rules) {
    auto read = read_secret_file(path);
    if (auto* e = std::get_if<SecretFileError>(&read)) return std::move(e->message);
    std::string& bytes = std::get<std::string>(read);
    auto made = hmac ? JwtVerifier::from_hmac_secret(std::move(bytes), std::move(rules))
                     : JwtVerifier::from_public_key_pem(bytes, std::move(rules));
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
    if (auto* why = std::get_if<std::string>(&made)) return "\"" + path + "\": " + *why;
    return made;
}

}  // namespace

std::variant<JwtVerifier, std::string> load_hmac_verifier(const std::string& path, JwtRules rules) {
    return build(path, true, std::move(rules));
}

std::variant<JwtVerifier, std::string> load_public_key_verifier(const std::string& path,
                                                                JwtRules rules) {
    return build(path, false, std::move(rules));
}

}  // namespace ringcast::admission
