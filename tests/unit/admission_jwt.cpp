// tests/unit/admission_jwt.cpp: the specification of the JWT verifier (admission/jwt.hpp).
// Tokens are signed here with libcrypto (keys generated per run), plus the known-answer
// vectors of RFC 7515 appendix A.1 (HS256) and A.3 (ES256). Every algorithm, every claim rule
// at its boundaries, algorithm confusion, and every truncation, deletion, flip and split of a
// valid token.
#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "admission/base64url.hpp"
#include "admission/jwt.hpp"
#include "admission/key_file.hpp"
#include "tests/support/public_key_pem.hpp"

using namespace ringcast::admission;
using nlohmann::json;
using ringcast::testing::public_key_pem;

namespace {

const std::string kSecret(48, 'k');  // long enough for HS256 and HS384, not for HS512
const std::string kSecret64 = kSecret + std::string(16, 'x');
constexpr int64_t kNow = 1700000000000;  // ms

JwtRules rules(std::string audience, std::string issuer = "", uint32_t leeway_s = 0,
               bool require_exp = false) {
    JwtRules r;
    r.audience = std::move(audience);
    r.issuer = std::move(issuer);
    r.leeway_s = leeway_s;
    r.require_exp = require_exp;
    return r;
}

std::string b64(std::string_view s) {
    return base64url_encode(s);
}

std::string hmac_sign(const EVP_MD* md, const std::string& secret, const std::string& input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(md, secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
}

std::string hs(const json& header, const json& claims, const std::string& secret = kSecret,
               const EVP_MD* md = EVP_sha256()) {
    std::string input = b64(header.dump()) + "." + b64(claims.dump());
    return input + "." + b64(hmac_sign(md, secret, input));
}

std::string hs256(const json& claims) {
    return hs({{"alg", "HS256"}, {"typ", "JWT"}}, claims);
}

EVP_PKEY* keygen(const char* type, bool rsa) {
    return rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, static_cast<size_t>(2048))
               : EVP_PKEY_Q_keygen(nullptr, nullptr, type, "P-256");
}

std::string digest_sign(EVP_PKEY* k, const std::string& input) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k);
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
}

// DER ECDSA -> JWS r||s.
std::string der_to_raw(const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    return raw;
}

struct Keys {
    EVP_PKEY* rsa = keygen("RSA", true);
    EVP_PKEY* ec = keygen("EC", false);
    EVP_PKEY* rsa2 = keygen("RSA", true);
    std::string rsa_pem = public_key_pem(rsa), ec_pem = public_key_pem(ec),
                rsa2_pem = public_key_pem(rsa2);
};
const Keys& keys() {
    static Keys k;
    return k;
}

std::string rs256(const json& claims, EVP_PKEY* k = keys().rsa, const char* alg = "RS256") {
    std::string input = b64(json{{"alg", alg}}.dump()) + "." + b64(claims.dump());
    return input + "." + b64(digest_sign(k, input));
}

std::string es256(const json& claims, EVP_PKEY* k = keys().ec) {
    std::string input = b64(json{{"alg", "ES256"}}.dump()) + "." + b64(claims.dump());
    return input + "." + b64(der_to_raw(digest_sign(k, input)));
}

JwtVerifier hmac_verifier(JwtRules rules = {}, const std::string& secret = kSecret) {
    auto v = JwtVerifier::from_hmac_secret(secret, std::move(rules));
    REQUIRE(std::holds_alternative<JwtVerifier>(v));
    return std::get<JwtVerifier>(v);
}

JwtVerifier pem_verifier(const std::string& pem, JwtRules rules = {}) {
    auto v = JwtVerifier::from_public_key_pem(pem, std::move(rules));
    if (auto* e = std::get_if<std::string>(&v)) FAIL(*e);
    return std::get<JwtVerifier>(v);
}

const JwtClaims* accepted(const JwtResult& r) {
    if (auto* refusal = std::get_if<JwtRefusal>(&r)) {
        INFO("refused: " << to_string(refusal->error) << ": " << refusal->reason);
        return nullptr;
    }
    return &std::get<JwtClaims>(r);
}

JwtError refused(const JwtResult& r) {
    REQUIRE_MESSAGE(std::holds_alternative<JwtRefusal>(r), "expected a refusal");
    return std::get<JwtRefusal>(r).error;
}

const json kClaims = {{"sub", "user-1"}, {"exp", kNow / 1000 + 60}};

}  // namespace

TEST_CASE(
    "RFC 7515 A.1: the HS256 example token verifies with its key, and not a second past exp") {
    const std::string token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cn"
        "VlfQ."
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    auto key = base64url_decode(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
    REQUIRE(key);
    JwtVerifier v = hmac_verifier(rules("", "joe"), *key);
    auto r = v.verify(token, 1300819379000);
    const JwtClaims* c = accepted(r);
    REQUIRE(c);
    CHECK(c->alg == JwtAlg::HS256);
    CHECK(c->expires_at_ms == 1300819380000);
    CHECK(c->raw.at("http://example.com/is_root") == true);
    CHECK(refused(v.verify(token, 1300819380000)) == JwtError::Expired);
    CHECK(refused(hmac_verifier(rules("", "ann"), *key).verify(token, 1300819379000)) ==
          JwtError::WrongIssuer);
}

TEST_CASE("RFC 7515 A.3: the ES256 example token verifies against its published P-256 key") {
    const std::string token =
        "eyJhbGciOiJFUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cn"
        "VlfQ."
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    auto x = base64url_decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU");
    auto y = base64url_decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    REQUIRE((x && y));
    std::string point = "\x04" + *x + *y;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY* pkey = nullptr;
    REQUIRE(EVP_PKEY_fromdata_init(ctx) == 1);
    REQUIRE(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1);
    JwtVerifier v = pem_verifier(public_key_pem(pkey));
    CHECK(v.key_kind() == "ec");
    const JwtClaims* c = accepted(v.verify(token, 1300819379000));
    CHECK(c);
    // The signature's last byte changed: refused.
    std::string tampered = token;
    tampered.back() = 'A';
    CHECK(refused(v.verify(tampered, 1300819379000)) == JwtError::BadSignature);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
}

TEST_CASE("HS256, HS384 and HS512 tokens are accepted with the secret they were signed with") {
    JwtVerifier v = hmac_verifier({}, kSecret64);
    struct {
        const char* alg;
        const EVP_MD* md;
        JwtAlg want;
    } cases[] = {{"HS256", EVP_sha256(), JwtAlg::HS256},
                 {"HS384", EVP_sha384(), JwtAlg::HS384},
                 {"HS512", EVP_sha512(), JwtAlg::HS512}};
    for (const auto& c : cases) {
        CAPTURE(c.alg);
        auto r = v.verify(hs({{"alg", c.alg}}, kClaims, kSecret64, c.md), kNow);
        const JwtClaims* claims = accepted(r);
        REQUIRE(claims);
        CHECK(claims->alg == c.want);
        CHECK(claims->subject == "user-1");
        // Another secret, same length: refused.
        std::string other = kSecret64;
        other[0] = 'z';
        CHECK(refused(v.verify(hs({{"alg", c.alg}}, kClaims, other, c.md), kNow)) ==
              JwtError::BadSignature);
        // The header says one hash, the signature was made with another.
        const EVP_MD* wrong = c.md == EVP_sha256() ? EVP_sha512() : EVP_sha256();
        CHECK(refused(v.verify(hs({{"alg", c.alg}}, kClaims, kSecret64, wrong), kNow)) ==
              JwtError::BadSignature);
    }
}

TEST_CASE(
    "an HMAC secret shorter than 32 bytes is refused at load, and shorter than the hash per "
    "token") {
    auto short_secret = JwtVerifier::from_hmac_secret(std::string(31, 's'), {});
    REQUIRE(std::holds_alternative<std::string>(short_secret));
    CHECK(std::get<std::string>(short_secret).find("sss") == std::string::npos);
    JwtVerifier v = hmac_verifier();  // 48 bytes
    CHECK(accepted(v.verify(hs({{"alg", "HS384"}}, kClaims, kSecret, EVP_sha384()), kNow)));
    CHECK(refused(v.verify(hs({{"alg", "HS512"}}, kClaims, kSecret, EVP_sha512()), kNow)) ==
          JwtError::BadAlgorithm);
}

TEST_CASE(
    "RS256 and ES256 tokens are accepted with the matching public key, refused with another") {
    JwtVerifier rsa = pem_verifier(keys().rsa_pem);
    JwtVerifier ec = pem_verifier(keys().ec_pem);
    CHECK(rsa.key_kind() == "rsa");
    CHECK(accepted(rsa.verify(rs256(kClaims), kNow)));
    CHECK(accepted(ec.verify(es256(kClaims), kNow)));
    CHECK(refused(pem_verifier(keys().rsa2_pem).verify(rs256(kClaims), kNow)) ==
          JwtError::BadSignature);
    EVP_PKEY* other_ec = keygen("EC", false);
    CHECK(refused(ec.verify(es256(kClaims, other_ec), kNow)) == JwtError::BadSignature);
    EVP_PKEY_free(other_ec);
}

TEST_CASE("an ES256 signature that is not 64 bytes of r||s is refused (DER, short, long)") {
    JwtVerifier ec = pem_verifier(keys().ec_pem);
    std::string input = b64(json{{"alg", "ES256"}}.dump()) + "." + b64(kClaims.dump());
    std::string der = digest_sign(keys().ec, input);
    CHECK(refused(ec.verify(input + "." + b64(der), kNow)) == JwtError::BadSignature);
    std::string raw = der_to_raw(der);
    CHECK(accepted(ec.verify(input + "." + b64(raw), kNow)));
    CHECK(refused(ec.verify(input + "." + b64(raw.substr(0, 63)), kNow)) == JwtError::BadSignature);
    CHECK(refused(ec.verify(input + "." + b64(raw + std::string(1, '\0')), kNow)) ==
          JwtError::BadSignature);
    CHECK(refused(ec.verify(input + "." + b64(std::string(64, '\0')), kNow)) ==
          JwtError::BadSignature);
}

TEST_CASE(
    "alg none and any algorithm that does not fit the key are refused: no algorithm confusion") {
    JwtVerifier rsa = pem_verifier(keys().rsa_pem);
    JwtVerifier ec = pem_verifier(keys().ec_pem);
    JwtVerifier hmac = hmac_verifier();
    // The classic attack: an HS256 token whose "secret" is the server's public key text.
    const std::string confused = hs({{"alg", "HS256"}}, kClaims, keys().rsa_pem);
    CHECK(refused(rsa.verify(confused, kNow)) == JwtError::BadAlgorithm);
    CHECK(refused(ec.verify(hs({{"alg", "HS256"}}, kClaims, keys().ec_pem), kNow)) ==
          JwtError::BadAlgorithm);
    CHECK(refused(hmac.verify(rs256(kClaims), kNow)) == JwtError::BadAlgorithm);
    CHECK(refused(ec.verify(rs256(kClaims), kNow)) == JwtError::BadAlgorithm);
    CHECK(refused(rsa.verify(es256(kClaims), kNow)) == JwtError::BadAlgorithm);
    // An RSA signature labelled ES256, and the reverse.
    CHECK(refused(rsa.verify(rs256(kClaims, keys().rsa, "ES256"), kNow)) == JwtError::BadAlgorithm);
    for (const char* none : {"none", "None", "NONE", "nOnE"}) {
        CAPTURE(none);
        std::string unsigned_token =
            b64(json{{"alg", none}}.dump()) + "." + b64(kClaims.dump()) + ".";
        CHECK(refused(hmac.verify(unsigned_token, kNow)) == JwtError::BadAlgorithm);
        CHECK(refused(hmac.verify(unsigned_token + "AAAA", kNow)) == JwtError::BadAlgorithm);
    }
    for (const char* other : {"PS256", "RS512", "ES384", "EdDSA", "hs256", ""}) {
        CAPTURE(other);
        CHECK(refused(hmac.verify(hs({{"alg", other}}, kClaims), kNow)) == JwtError::BadAlgorithm);
    }
    CHECK(refused(hmac.verify(hs({{"typ", "JWT"}}, kClaims), kNow)) == JwtError::BadHeader);
    CHECK(refused(hmac.verify(hs({{"alg", 256}}, kClaims), kNow)) == JwtError::BadHeader);
    CHECK(refused(hmac.verify(hs({{"alg", "HS256"}, {"crit", {"exp"}}}, kClaims), kNow)) ==
          JwtError::BadHeader);
}

TEST_CASE("exp: valid before it, refused from it on, leeway moves the boundary by whole seconds") {
    const int64_t exp_s = 1000;
    const std::string token = hs256({{"exp", exp_s}});
    CHECK(accepted(hmac_verifier().verify(token, 999999)));
    CHECK(refused(hmac_verifier().verify(token, 1000000)) == JwtError::Expired);
    JwtVerifier lenient = hmac_verifier(rules("", "", 5));
    CHECK(accepted(lenient.verify(token, 1004999)));
    CHECK(refused(lenient.verify(token, 1005000)) == JwtError::Expired);
    // Floats are NumericDates too; the expiry is kept in ms, rounded down.
    const std::string fractional = hs256({{"exp", 1000.5}});
    auto r = hmac_verifier().verify(fractional, 1000499);
    REQUIRE(accepted(r));
    CHECK(std::get<JwtClaims>(r).expires_at_ms == 1000500);
    CHECK(refused(hmac_verifier().verify(fractional, 1000500)) == JwtError::Expired);
    // No exp: accepted and never expires, unless the rules require one.
    auto forever = hmac_verifier().verify(hs256({{"sub", "a"}}), kNow);
    REQUIRE(accepted(forever));
    CHECK_FALSE(std::get<JwtClaims>(forever).expires_at_ms.has_value());
    CHECK(refused(hmac_verifier(rules("", "", 0, true)).verify(hs256({{"sub", "a"}}), kNow)) ==
          JwtError::BadClaims);
    CHECK(refused(hmac_verifier().verify(hs256({{"exp", "1000"}}), 0)) == JwtError::BadClaims);
    CHECK(refused(hmac_verifier().verify(hs256({{"exp", nullptr}}), 0)) == JwtError::BadClaims);
    // Far-future and huge dates do not overflow.
    CHECK(accepted(hmac_verifier().verify(hs256({{"exp", 1e300}}), kNow)));
    CHECK(accepted(hmac_verifier().verify(hs256({{"exp", UINT64_MAX}}), kNow)));
    CHECK(refused(hmac_verifier().verify(hs256({{"exp", -1e300}}), kNow)) == JwtError::Expired);
}

TEST_CASE("nbf: refused before it, valid from it on, leeway lets it in early") {
    const std::string token = hs256({{"nbf", 1000}});
    CHECK(refused(hmac_verifier().verify(token, 999999)) == JwtError::NotYetValid);
    CHECK(accepted(hmac_verifier().verify(token, 1000000)));
    JwtVerifier lenient = hmac_verifier(rules("", "", 5));
    CHECK(refused(lenient.verify(token, 994999)) == JwtError::NotYetValid);
    CHECK(accepted(lenient.verify(token, 995000)));
    CHECK(refused(hmac_verifier().verify(hs256({{"nbf", 1000.25}}), 1000249)) ==
          JwtError::NotYetValid);
    CHECK(accepted(hmac_verifier().verify(hs256({{"nbf", 1000.25}}), 1000250)));
    CHECK(refused(hmac_verifier().verify(hs256({{"nbf", true}}), kNow)) == JwtError::BadClaims);
}

TEST_CASE("aud: a string or an array holding the configured audience; refused otherwise") {
    JwtVerifier v = hmac_verifier(rules("ringcast"));
    CHECK(accepted(v.verify(hs256({{"aud", "ringcast"}}), kNow)));
    CHECK(accepted(v.verify(hs256({{"aud", json::array({"other", "ringcast"})}}), kNow)));
    CHECK(refused(v.verify(hs256({{"aud", "other"}}), kNow)) == JwtError::WrongAudience);
    CHECK(refused(v.verify(hs256({{"aud", json::array({"other", "RINGCAST"})}}), kNow)) ==
          JwtError::WrongAudience);
    CHECK(refused(v.verify(hs256({{"aud", json::array()}}), kNow)) == JwtError::WrongAudience);
    CHECK(refused(v.verify(hs256({{"sub", "x"}}), kNow)) == JwtError::WrongAudience);
    CHECK(refused(v.verify(hs256({{"aud", 7}}), kNow)) == JwtError::BadClaims);
    CHECK(refused(v.verify(hs256({{"aud", {{"x", "ringcast"}}}}), kNow)) == JwtError::BadClaims);
    CHECK(refused(v.verify(hs256({{"aud", json::array({1, json::array({"ringcast"})})}}), kNow)) ==
          JwtError::WrongAudience);
    // RFC 7519 4.1.3: a token for named audiences is not for a server that names none.
    CHECK(refused(hmac_verifier().verify(hs256({{"aud", "ringcast"}}), kNow)) ==
          JwtError::WrongAudience);
}

TEST_CASE("iss: must equal the configured issuer; any string when none is configured") {
    JwtVerifier v = hmac_verifier(rules("", "https://auth.example.com"));
    CHECK(accepted(v.verify(hs256({{"iss", "https://auth.example.com"}}), kNow)));
    CHECK(refused(v.verify(hs256({{"iss", "https://auth.example.com/"}}), kNow)) ==
          JwtError::WrongIssuer);
    CHECK(refused(v.verify(hs256({{"sub", "x"}}), kNow)) == JwtError::WrongIssuer);
    CHECK(accepted(hmac_verifier().verify(hs256({{"iss", "anyone"}}), kNow)));
    CHECK(refused(hmac_verifier().verify(hs256({{"iss", 1}}), kNow)) == JwtError::BadClaims);
}

TEST_CASE("sub and the ringcast claim are returned; wrong types are refused") {
    auto r = hmac_verifier().verify(
        hs256({{"sub", "alice"}, {"ringcast", {{"publish", false}, {"channels", {"a"}}}}}), kNow);
    const JwtClaims* c = accepted(r);
    REQUIRE(c);
    CHECK(c->subject == "alice");
    CHECK(c->publish == false);
    CHECK(c->ringcast.at("channels") == json::array({"a"}));
    CHECK(c->raw.at("sub") == "alice");
    auto plain = hmac_verifier().verify(hs256({{"sub", "bob"}}), kNow);
    REQUIRE(accepted(plain));
    CHECK_FALSE(std::get<JwtClaims>(plain).publish.has_value());
    CHECK(std::get<JwtClaims>(plain).ringcast.is_null());
    CHECK(refused(hmac_verifier().verify(hs256({{"sub", 5}}), kNow)) == JwtError::BadClaims);
    CHECK(refused(hmac_verifier().verify(hs256({{"ringcast", true}}), kNow)) ==
          JwtError::BadClaims);
    CHECK(refused(hmac_verifier().verify(hs256({{"ringcast", {{"publish", "yes"}}}}), kNow)) ==
          JwtError::BadClaims);
}

TEST_CASE("malformed tokens are refused: segments, base64url, JSON, size") {
    JwtVerifier v = hmac_verifier();
    const std::string good = hs256(kClaims);
    REQUIRE(accepted(v.verify(good, kNow)));
    CHECK(refused(v.verify("", kNow)) == JwtError::Missing);
    CHECK(refused(v.verify("abc", kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify("a.b", kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify(good + ".", kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify(good + ".x", kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify("..", kNow)) == JwtError::Malformed);
    // Padding, standard base64's + and /, white space: not base64url as JWS writes it.
    const size_t dot1 = good.find('.'), dot2 = good.rfind('.');
    std::string header = good.substr(0, dot1), payload = good.substr(dot1 + 1, dot2 - dot1 - 1);
    std::string sig = good.substr(dot2 + 1);
    CHECK(refused(v.verify(header + "=." + payload + "." + sig, kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify(header + "." + payload + "." + sig + "=", kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify(" " + good, kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify(good + "\n", kNow)) == JwtError::Malformed);
    // Header or payload that is not a JSON object, even with a valid signature.
    auto signed_with = [&](const std::string& h, const std::string& p) {
        std::string input = b64(h) + "." + b64(p);
        return input + "." + b64(hmac_sign(EVP_sha256(), kSecret, input));
    };
    CHECK(refused(v.verify(signed_with("{\"alg\":\"HS256\"", "{}"), kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify(signed_with("[\"HS256\"]", "{}"), kNow)) == JwtError::Malformed);
    CHECK(refused(v.verify(signed_with("{\"alg\":\"HS256\"}", "{\"sub\":"), kNow)) ==
          JwtError::Malformed);
    CHECK(refused(v.verify(signed_with("{\"alg\":\"HS256\"}", "\"sub\""), kNow)) ==
          JwtError::Malformed);
    CHECK(refused(v.verify(signed_with("{\"alg\":\"HS256\"}", "{\"sub\":\"\xff\"}"), kNow)) ==
          JwtError::Malformed);
    CHECK(accepted(v.verify(signed_with("{\"alg\":\"HS256\"}", "{}"), kNow)));
    // Size: refused before decoding, whatever it holds.
    std::string big = hs256({{"pad", std::string(kMaxTokenBytes, 'p')}});
    CHECK(refused(v.verify(big, kNow)) == JwtError::TooLarge);
    std::string huge(kMaxTokenBytes + 1, 'A');
    CHECK(refused(v.verify(huge, kNow)) == JwtError::TooLarge);
    // Just under the bound still works.
    std::string near = hs256({{"pad", std::string(kMaxTokenBytes / 2, 'p')}});
    CHECK(near.size() <= kMaxTokenBytes);
    CHECK(accepted(v.verify(near, kNow)));
}

TEST_CASE("every truncation, deletion, byte flip and extra dot of a valid token is refused") {
    JwtVerifier hmac = hmac_verifier();
    JwtVerifier ec = pem_verifier(keys().ec_pem);
    for (auto [v, token] : {std::pair{&hmac, hs256(kClaims)}, std::pair{&ec, es256(kClaims)}}) {
        REQUIRE(accepted(v->verify(token, kNow)));
        for (size_t i = 0; i < token.size(); ++i) {
            CAPTURE(i);
            CHECK(std::holds_alternative<JwtRefusal>(v->verify(token.substr(0, i), kNow)));
            CHECK(std::holds_alternative<JwtRefusal>(v->verify(token.substr(i + 1), kNow)));
            std::string deleted = token;
            deleted.erase(i, 1);
            CHECK(std::holds_alternative<JwtRefusal>(v->verify(deleted, kNow)));
            std::string flipped = token;
            flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
            CHECK(std::holds_alternative<JwtRefusal>(v->verify(flipped, kNow)));
            std::string split = token;
            split.insert(i, ".");
            CHECK(std::holds_alternative<JwtRefusal>(v->verify(split, kNow)));
            // Split into two pieces that are verified apart: neither is a token.
            CHECK(std::holds_alternative<JwtRefusal>(
                v->verify(std::string_view(token).substr(0, i), kNow)));
        }
    }
}

TEST_CASE("refusal reasons never contain token or key material") {
    const std::string secret = "0123456789abcdefghijklmnopqrstuvwxyzSECRET";
    JwtVerifier v = hmac_verifier(rules("aud-x", "iss-x"), secret);
    const std::string token =
        hs({{"alg", "HS256"}}, {{"sub", "SUBJECTSUBJECT"}, {"aud", "nope"}}, secret);
    std::vector<std::string> inputs = {
        token, token.substr(0, token.size() - 3), hs({{"alg", "HSXYZ"}}, kClaims, secret),
        hs({{"alg", "HS256"}}, {{"iss", "ISSUERISSUER"}, {"aud", "aud-x"}}, secret)};
    for (const auto& in : inputs) {
        auto r = v.verify(in, kNow);
        REQUIRE(std::holds_alternative<JwtRefusal>(r));
        std::string reason = std::get<JwtRefusal>(r).reason;
        CHECK(reason.find("SECRET") == std::string::npos);
        CHECK(reason.find("SUBJECT") == std::string::npos);
        CHECK(reason.find("ISSUER") == std::string::npos);
        CHECK(reason.find("HSXYZ") == std::string::npos);
        CHECK(reason.find(in.substr(0, 10)) == std::string::npos);
    }
}

TEST_CASE("public keys: RSA under 2048 bits, other curves and non-keys are refused at load") {
    EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
    auto r = JwtVerifier::from_public_key_pem(public_key_pem(small), {});
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(std::get<std::string>(r).find("2048") != std::string::npos);
    EVP_PKEY_free(small);
    EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
    r = JwtVerifier::from_public_key_pem(public_key_pem(p384), {});
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(std::get<std::string>(r).find("P-256") != std::string::npos);
    EVP_PKEY_free(p384);
    EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    CHECK(std::holds_alternative<std::string>(
        JwtVerifier::from_public_key_pem(public_key_pem(ed), {})));
    EVP_PKEY_free(ed);
    CHECK(std::holds_alternative<std::string>(JwtVerifier::from_public_key_pem("", {})));
    CHECK(std::holds_alternative<std::string>(JwtVerifier::from_public_key_pem(
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", {})));
}

TEST_CASE("a verifier is immutable and shared: copies verify alike, a rotation is a new verifier") {
    JwtVerifier a = hmac_verifier(rules("", "", 3));
    JwtVerifier copy = a;
    const std::string token = hs256(kClaims);
    CHECK(accepted(copy.verify(token, kNow)));
    CHECK(copy.rules().leeway_s == 3);
    JwtVerifier rotated = hmac_verifier({}, kSecret64);
    CHECK(refused(rotated.verify(token, kNow)) == JwtError::BadSignature);
    CHECK(accepted(a.verify(token, kNow)));  // the old one still serves who holds it
}

TEST_CASE("one verifier serves several shard threads at once") {
    JwtVerifier rsa = pem_verifier(keys().rsa_pem);
    JwtVerifier ec = pem_verifier(keys().ec_pem);
    const std::string rs = rs256(kClaims), es = es256(kClaims);
    const std::string bad = es.substr(0, es.size() - 2) + (es.back() == 'A' ? "BA" : "AA");
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                if (!std::holds_alternative<JwtClaims>(rsa.verify(rs, kNow))) ++wrong;
                if (!std::holds_alternative<JwtClaims>(ec.verify(es, kNow))) ++wrong;
                if (std::holds_alternative<JwtClaims>(ec.verify(bad, kNow))) ++wrong;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(wrong.load() == 0);
}

TEST_CASE(
    "key files: the secret's final newline is stripped, errors name the file, never the key") {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir_text = std::string(tmp && *tmp ? tmp : "/tmp") + "/ringcast-jwt-XXXXXX";
    char* dir = dir_text.data();
    REQUIRE(mkdtemp(dir));
    const std::string secret_path = std::string(dir) + "/secret";
    std::ofstream(secret_path) << kSecret << "\n";
    auto v = load_hmac_verifier(secret_path, {});
    REQUIRE(std::holds_alternative<JwtVerifier>(v));
    CHECK(accepted(std::get<JwtVerifier>(v).verify(hs256(kClaims), kNow)));
    // Only one newline goes: a secret that ends in "\n" keeps it.
    std::ofstream(secret_path) << kSecret << "\n\n";
    v = load_hmac_verifier(secret_path, {});
    REQUIRE(std::holds_alternative<JwtVerifier>(v));
    CHECK(refused(std::get<JwtVerifier>(v).verify(hs256(kClaims), kNow)) == JwtError::BadSignature);
    std::ofstream(secret_path) << "shortSECRET\n";
    v = load_hmac_verifier(secret_path, {});
    REQUIRE(std::holds_alternative<std::string>(v));
    CHECK(std::get<std::string>(v).find(secret_path) != std::string::npos);
    CHECK(std::get<std::string>(v).find("SECRET") == std::string::npos);
    v = load_hmac_verifier(std::string(dir) + "/missing", {});
    REQUIRE(std::holds_alternative<std::string>(v));
    CHECK(std::get<std::string>(v).find("/missing") != std::string::npos);
    CHECK(std::get<std::string>(v).find("No such file") != std::string::npos);
    std::ofstream(secret_path, std::ios::trunc).flush();
    v = load_hmac_verifier(secret_path, {});
    REQUIRE(std::holds_alternative<std::string>(v));
    CHECK(std::get<std::string>(v).find("empty") != std::string::npos);
    const std::string pem_path = std::string(dir) + "/key.pem";
    std::ofstream(pem_path) << keys().rsa_pem;
    auto p = load_public_key_verifier(pem_path, {});
    REQUIRE(std::holds_alternative<JwtVerifier>(p));
    CHECK(accepted(std::get<JwtVerifier>(p).verify(rs256(kClaims), kNow)));
    std::ofstream(pem_path) << "not a key";
    p = load_public_key_verifier(pem_path, {});
    REQUIRE(std::holds_alternative<std::string>(p));
    CHECK(std::get<std::string>(p).find(pem_path) != std::string::npos);
    std::remove(secret_path.c_str());
    std::remove(pem_path.c_str());
    rmdir(dir);
}

TEST_CASE("algorithm and refusal names are the metrics labels documented") {
    CHECK(to_string(JwtAlg::HS256) == "HS256");
    CHECK(to_string(JwtAlg::ES256) == "ES256");
    CHECK(to_string(JwtError::Missing) == "missing");
    CHECK(to_string(JwtError::Expired) == "expired");
    CHECK(to_string(JwtError::BadSignature) == "bad_signature");
    CHECK(to_string(JwtError::Internal) == "internal");
    CHECK(pem_verifier(keys().ec_pem).key_kind() == "ec");
    CHECK(hmac_verifier().key_kind() == "hmac");
}
