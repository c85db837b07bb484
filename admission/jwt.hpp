/*
 * JwtVerifier: checks a compact JWS token (RFC 7515/7519) once, at the upgrade, and returns
 * what the server needs to know about its holder, or why it is refused.
 *
 *   token ── size bound ── split header.payload.signature ── strict base64url ── JSON
 *         ── alg must fit the configured key (never "none", never an HS token against a
 *            public key: no algorithm confusion) ── signature (libcrypto; HMAC compared in
 *            constant time; ES256's raw r||s turned into DER) ── exp / nbf (leeway) / aud / iss
 *
 * Pure code: no I/O but the bytes the caller passes in, no clock (the caller passes the time),
 * no exception escapes. A verifier is immutable and cheap to copy (it shares its key), so a key
 * rotation builds a new one and swaps it in while connections verified by the old one go on.
 * Refusal reasons are fixed texts: they never hold token bytes or key material.
 */
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ringcast::admission {

// A token larger than this is refused before any decoding (a header cannot hold more anyway).
inline constexpr size_t kMaxTokenBytes = 8 * 1024;

enum class JwtAlg { HS256, HS384, HS512, RS256, ES256 };
std::string_view to_string(JwtAlg alg);

// What the claims are checked against. Empty audience/issuer = not checked.
struct JwtRules {
    std::string audience;      // the token's aud (a string or an array) must hold it
    std::string issuer;        // the token's iss must equal it
    uint32_t leeway_s = 0;     // clock skew tolerated on exp and nbf
    bool require_exp = false;  // refuse a token that never expires
};

enum class JwtError {
    Missing,       // no token at all
    TooLarge,      // over kMaxTokenBytes
    Malformed,     // not three base64url segments of JSON objects
    BadHeader,     // header without alg, or with a crit extension we do not implement
    BadAlgorithm,  // "none", unknown, or not the configured key's kind
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    BadClaims,  // a registered or ringcast claim of the wrong type
    Internal,   // out of memory or a libcrypto failure
};
std::string_view to_string(JwtError e);  // "expired", "bad_signature", ... (a metrics label)

struct JwtRefusal {
    JwtError error;
    const char* reason;  // a fixed text, safe to log: never token or key material
};

// What the server needs from an accepted token.
struct JwtClaims {
    JwtAlg alg = JwtAlg::HS256;
    std::string subject;                   // sub, "" when absent
    std::optional<int64_t> expires_at_ms;  // exp as Unix ms (rounded down), nullopt = never
    std::optional<bool> publish;           // ringcast.publish; nullopt = the default role decides
    nlohmann::json ringcast;               // the "ringcast" claim object, null when absent
    nlohmann::json raw;                    // every claim, for later rules (channels)
};

using JwtResult = std::variant<JwtClaims, JwtRefusal>;

class JwtVerifier {
  public:
    // An HMAC key (HS256/384/512 tokens), its bytes as they are. At least 32 bytes (RFC 7518
    // section 3.2: no shorter than the HS256 hash); an HS384/512 token needs 48/64.
    static std::variant<JwtVerifier, std::string> from_hmac_secret(std::string secret,
                                                                   JwtRules rules);
    // A PEM public key ("BEGIN PUBLIC KEY", or a certificate): RSA of 2048 bits or more for
    // RS256, or EC P-256 for ES256.
    static std::variant<JwtVerifier, std::string> from_public_key_pem(std::string_view pem,
                                                                      JwtRules rules);

    // now_ms: the wall clock (Unix ms); exp/nbf are wall-clock times.
    JwtResult verify(std::string_view token, int64_t now_ms) const noexcept;

    const JwtRules& rules() const;
    std::string_view key_kind() const;  // "hmac", "rsa" or "ec"

    struct Key;  // the secret or the EVP_PKEY; shared, never changed

  private:
    explicit JwtVerifier(std::shared_ptr<const Key> key) : key_(std::move(key)) {}
    std::shared_ptr<const Key> key_;
};

}  // namespace ringcast::admission
