// JwtVerifier: compact JWS parsing, signature checks through libcrypto, claim rules.
#include "admission/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <climits>
#include <cmath>
#include <cstring>

#include "admission/base64url.hpp"

namespace ringcast::admission {

using nlohmann::json;

struct JwtVerifier::Key {
    enum class Kind { Hmac, Rsa, Ec };
    Kind kind = Kind::Hmac;
    std::string secret;        // Hmac
    EVP_PKEY* pkey = nullptr;  // Rsa, Ec
    JwtRules rules;

    Key() = default;
    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    ~Key() {
        if (pkey) EVP_PKEY_free(pkey);
        // The process may live for months after a rotation: do not leave the old key behind.
        if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
    }
};

namespace {

constexpr size_t kMinHmacSecretBytes = 32;
constexpr int kMinRsaBits = 2048;
// exp/nbf beyond this (about the year 5000) are taken as this: no overflow in ms arithmetic.
constexpr double kMaxDateS = 1e11;

JwtRefusal refuse(JwtError e, const char* reason) {
    return JwtRefusal{e, reason};
}

// In the order of the enums (jwt.hpp).
constexpr std::array<std::string_view, 5> kAlgNames = {"HS256", "HS384", "HS512", "RS256", "ES256"};
constexpr std::array<std::string_view, 12> kErrorNames = {
    "missing", "too_large",     "malformed",      "bad_header",   "bad_algorithm", "bad_signature",
    "expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "bad_claims",    "internal"};
static_assert(static_cast<size_t>(JwtError::Internal) + 1 == kErrorNames.size());
static_assert(static_cast<size_t>(JwtAlg::ES256) + 1 == kAlgNames.size());

std::optional<JwtAlg> alg_of(std::string_view name) {
    for (size_t i = 0; i < kAlgNames.size(); ++i)
        if (kAlgNames[i] == name) return static_cast<JwtAlg>(i);
    return std::nullopt;
}

bool fits(JwtAlg alg, JwtVerifier::Key::Kind kind) {
    using Kind = JwtVerifier::Key::Kind;
    switch (alg) {
        case JwtAlg::HS256:
        case JwtAlg::HS384:
        case JwtAlg::HS512:
            return kind == Kind::Hmac;
        case JwtAlg::RS256:
            return kind == Kind::Rsa;
        case JwtAlg::ES256:
            return kind == Kind::Ec;
    }
    return false;
}

const EVP_MD* digest_of(JwtAlg alg) {
    switch (alg) {
        case JwtAlg::HS384:
            return EVP_sha384();
        case JwtAlg::HS512:
            return EVP_sha512();
        default:
            return EVP_sha256();
    }
}

std::optional<JwtRefusal> check_hmac(const JwtVerifier::Key& key, JwtAlg alg,
                                     std::string_view input, const std::string& signature) {
    const EVP_MD* md = digest_of(alg);
    const size_t hash_bytes = static_cast<size_t>(EVP_MD_get_size(md));
    if (key.secret.size() < hash_bytes)
        return refuse(JwtError::BadAlgorithm,
                      "the HMAC secret is shorter than this algorithm's hash");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(md, key.secret.data(), static_cast<int>(key.secret.size()),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len)) {
        ERR_clear_error();
        return refuse(JwtError::Internal, "HMAC failed");
    }
    // The length is public (it follows from alg); the bytes are compared in constant time.
    bool same = signature.size() == mac_len && CRYPTO_memcmp(signature.data(), mac, mac_len) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    if (!same) return refuse(JwtError::BadSignature, "signature does not match");
    return std::nullopt;
}

// JWS carries an ES256 signature as r||s, 32 bytes each (RFC 7518 section 3.4); libcrypto
// verifies the DER form.
std::optional<std::string> ecdsa_der(const std::string& raw) {
    if (raw.size() != 64) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(p, 32, nullptr);
    BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);  // frees r and s too
    if (len <= 0) return std::nullopt;
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    return out;
}

std::optional<JwtRefusal> check_public_key(const JwtVerifier::Key& key, JwtAlg alg,
                                           std::string_view input, const std::string& signature) {
    std::string der;
    const std::string* sig = &signature;
    if (alg == JwtAlg::ES256) {
        auto converted = ecdsa_der(signature);
        if (!converted) {
            ERR_clear_error();
            return refuse(JwtError::BadSignature, "an ES256 signature must be 64 bytes (r||s)");
        }
        der = std::move(*converted);
        sig = &der;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) return refuse(JwtError::Internal, "out of memory");
    int ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key.pkey);
    if (ok == 1)
        ok = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                              reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();  // a failed verification leaves errors on this thread's queue
    if (ok != 1) return refuse(JwtError::BadSignature, "signature does not match");
    return std::nullopt;
}

// A NumericDate (RFC 7519 section 2): an integer or a float, seconds since the epoch; as ms,
// rounded down.
std::optional<int64_t> date_ms(const json& v) {
    double s = 0;
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        s = u > static_cast<uint64_t>(kMaxDateS) ? kMaxDateS : static_cast<double>(u);
    } else if (v.is_number_integer()) {
        s = static_cast<double>(v.get<int64_t>());
    } else if (v.is_number_float()) {
        s = v.get<double>();
        if (!std::isfinite(s)) return std::nullopt;
    } else {
        return std::nullopt;
    }
    s = std::clamp(s, -kMaxDateS, kMaxDateS);
    return static_cast<int64_t>(std::floor(s * 1000.0));
}

bool audience_holds(const json& aud, const std::string& wanted) {
    if (aud.is_string()) return aud.get_ref<const std::string&>() == wanted;
    if (!aud.is_array()) return false;
    for (const auto& a : aud)
        if (a.is_string() && a.get_ref<const std::string&>() == wanted) return true;
    return false;
}

std::optional<json> json_object(std::string_view segment) {
    auto bytes = base64url_decode(segment);
    if (!bytes) return std::nullopt;
    json j = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return std::nullopt;  // a parse error is "discarded", not an object
    return j;
}

JwtResult check_claims(const JwtRules& rules, json claims, JwtAlg alg, int64_t now_ms) {
    JwtClaims out;
    out.alg = alg;
    const int64_t leeway_ms = static_cast<int64_t>(rules.leeway_s) * 1000;
    if (auto it = claims.find("exp"); it != claims.end()) {
        auto exp = date_ms(*it);
        if (!exp) return refuse(JwtError::BadClaims, "exp is not a number");
        // RFC 7519 4.1.4: the current time must be before exp.
        if (now_ms >= *exp + leeway_ms) return refuse(JwtError::Expired, "token expired");
        out.expires_at_ms = *exp;
    } else if (rules.require_exp) {
        return refuse(JwtError::BadClaims, "token has no exp");
    }
    if (auto it = claims.find("nbf"); it != claims.end()) {
        auto nbf = date_ms(*it);
        if (!nbf) return refuse(JwtError::BadClaims, "nbf is not a number");
        // RFC 7519 4.1.5: the current time must be at or after nbf.
        if (now_ms + leeway_ms < *nbf) return refuse(JwtError::NotYetValid, "token not valid yet");
    }
    if (auto it = claims.find("aud"); it != claims.end()) {
        if (!it->is_string() && !it->is_array())
            return refuse(JwtError::BadClaims, "aud is neither a string nor an array");
        // RFC 7519 4.1.3: a token for named audiences is refused by whoever is not among them.
        if (rules.audience.empty())
            return refuse(JwtError::WrongAudience,
                          "token names an audience but none is configured");
        if (!audience_holds(*it, rules.audience))
            return refuse(JwtError::WrongAudience, "token is not for this audience");
    } else if (!rules.audience.empty()) {
        return refuse(JwtError::WrongAudience, "token has no aud");
    }
    if (auto it = claims.find("iss"); it != claims.end()) {
        if (!it->is_string()) return refuse(JwtError::BadClaims, "iss is not a string");
        if (!rules.issuer.empty() && it->get_ref<const std::string&>() != rules.issuer)
            return refuse(JwtError::WrongIssuer, "token is from another issuer");
    } else if (!rules.issuer.empty()) {
        return refuse(JwtError::WrongIssuer, "token has no iss");
    }
    if (auto it = claims.find("sub"); it != claims.end()) {
        if (!it->is_string()) return refuse(JwtError::BadClaims, "sub is not a string");
        out.subject = it->get<std::string>();
    }
    if (auto it = claims.find("ringcast"); it != claims.end()) {
        if (!it->is_object())
            return refuse(JwtError::BadClaims, "the ringcast claim is not an object");
        if (auto p = it->find("publish"); p != it->end()) {
            if (!p->is_boolean())
                return refuse(JwtError::BadClaims, "ringcast.publish is not a boolean");
            out.publish = p->get<bool>();
        }
        out.ringcast = *it;
    }
    out.raw = std::move(claims);
    return out;
}

JwtResult verify_token(const JwtVerifier::Key& key, std::string_view token, int64_t now_ms) {
    if (token.empty()) return refuse(JwtError::Missing, "no token");
    if (token.size() > kMaxTokenBytes) return refuse(JwtError::TooLarge, "token larger than 8 KiB");
    const size_t dot1 = token.find('.');
    const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return refuse(JwtError::Malformed, "not three dot-separated segments");
    auto header = json_object(token.substr(0, dot1));
    if (!header) return refuse(JwtError::Malformed, "header is not base64url of a JSON object");
    auto alg_field = header->find("alg");
    if (alg_field == header->end() || !alg_field->is_string())
        return refuse(JwtError::BadHeader, "header has no alg");
    // RFC 7515 4.1.11: extensions marked critical that we do not implement refuse the token.
    if (header->contains("crit"))
        return refuse(JwtError::BadHeader, "crit extensions are not supported");
    const std::string& alg_name = alg_field->get_ref<const std::string&>();
    if (alg_name == "none" || alg_name == "None" || alg_name == "NONE")
        return refuse(JwtError::BadAlgorithm, "unsigned tokens (alg none) are never accepted");
    auto alg = alg_of(alg_name);
    if (!alg) return refuse(JwtError::BadAlgorithm, "algorithm not supported");
    // The key decides the algorithm family, never the token: an HS256 token signed with an
    // RSA public key's bytes must not pass against that key.
    if (!fits(*alg, key.kind))
        return refuse(JwtError::BadAlgorithm, "algorithm does not match the configured key");
    auto signature = base64url_decode(token.substr(dot2 + 1));
    if (!signature) return refuse(JwtError::Malformed, "signature is not base64url");
    if (signature->empty()) return refuse(JwtError::BadSignature, "signature is empty");
    const std::string_view input = token.substr(0, dot2);
    auto bad = key.kind == JwtVerifier::Key::Kind::Hmac
                   ? check_hmac(key, *alg, input, *signature)
                   : check_public_key(key, *alg, input, *signature);
    if (bad) return *bad;
    // Only a signed payload is parsed.
    auto claims = json_object(token.substr(dot1 + 1, dot2 - dot1 - 1));
    if (!claims) return refuse(JwtError::Malformed, "payload is not base64url of a JSON object");
    return check_claims(key.rules, std::move(*claims), *alg, now_ms);
}

std::string openssl_reason() {
    unsigned long e = ERR_peek_last_error();
    char buf[256] = {};
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf[0] ? std::string(" (") + buf + ")" : std::string();
}

EVP_PKEY* read_public_key(std::string_view pem) {
    if (pem.size() > static_cast<size_t>(INT_MAX)) return nullptr;
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return nullptr;
    EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (pkey) return pkey;
    // An identity provider often publishes its certificate rather than the bare key.
    bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return nullptr;
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!cert) return nullptr;
    pkey = X509_get_pubkey(cert);
    X509_free(cert);
    return pkey;
}

}  // namespace

std::string_view to_string(JwtAlg alg) {
    return kAlgNames.at(static_cast<size_t>(alg));
}

std::string_view to_string(JwtError e) {
    return kErrorNames.at(static_cast<size_t>(e));
}

std::variant<JwtVerifier, std::string> JwtVerifier::from_hmac_secret(std::string secret,
                                                                     JwtRules rules) {
    if (secret.size() < kMinHmacSecretBytes) {
        OPENSSL_cleanse(secret.data(), secret.size());
        return std::string(
                   "an HMAC secret must be at least 32 bytes (RFC 7518 section 3.2), got ") +
               std::to_string(secret.size());
    }
    auto key = std::make_shared<Key>();
    key->kind = Key::Kind::Hmac;
    key->secret = std::move(secret);
    key->rules = std::move(rules);
    return JwtVerifier(std::move(key));
}

std::variant<JwtVerifier, std::string> JwtVerifier::from_public_key_pem(std::string_view pem,
                                                                        JwtRules rules) {
    auto key = std::make_shared<Key>();
    key->rules = std::move(rules);
    key->pkey = read_public_key(pem);
    if (!key->pkey)
        return "not a PEM public key (BEGIN PUBLIC KEY) or certificate" + openssl_reason();
    ERR_clear_error();
    const int id = EVP_PKEY_get_base_id(key->pkey);
    if (id == EVP_PKEY_RSA) {
        const int bits = EVP_PKEY_get_bits(key->pkey);
        if (bits < kMinRsaBits)
            return "an RSA key must have at least 2048 bits, got " + std::to_string(bits);
        key->kind = Key::Kind::Rsa;
    } else if (id == EVP_PKEY_EC) {
        char group[64] = {};
        size_t len = 0;
        if (EVP_PKEY_get_group_name(key->pkey, group, sizeof group, &len) != 1 ||
            (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0)) {
            ERR_clear_error();
            return std::string("an EC key must be on curve P-256 (ES256), got ") +
                   (group[0] ? group : "an unnamed curve");
        }
        key->kind = Key::Kind::Ec;
    } else {
        return std::string("the key must be RSA (RS256) or EC P-256 (ES256)");
    }
    return JwtVerifier(std::move(key));
}

JwtResult JwtVerifier::verify(std::string_view token, int64_t now_ms) const noexcept {
    try {
        return verify_token(*key_, token, now_ms);
    } catch (...) {
        // Only allocation can throw here; a refusal is the safe answer.
        ERR_clear_error();
        return refuse(JwtError::Internal, "out of memory");
    }
}

const JwtRules& JwtVerifier::rules() const {
    return key_->rules;
}

std::string_view JwtVerifier::key_kind() const {
    constexpr std::array<std::string_view, 3> kKinds = {"hmac", "rsa", "ec"};  // Key::Kind order
    return kKinds.at(static_cast<size_t>(key_->kind));
}

}  // namespace ringcast::admission
