// tests/fuzz/fuzz_admission_token.cpp: libFuzzer target for admission/: where a token is found
// (Authorization, query, Sec-WebSocket-Protocol), strict base64url, the JWT verifier, and the
// Origin allowlist. Input: [mode][split][bytes...].
//   mode bit 0 set: bytes are "header JSON \n claims JSON", signed here with the HMAC key, so
//                   the claim rules are reached with arbitrary JSON behind a valid signature;
//   otherwise:      bytes are a token / header value as a client would send it.
// Every piece lives in its own exact-size allocation so ASan sees a read past its end, and the
// token is also verified cut at the split the input chooses.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "admission/base64url.hpp"
#include "admission/jwt.hpp"
#include "admission/origin.hpp"
#include "admission/token_source.hpp"
#include "tests/support/fuzz_check.hpp"
#include "tests/support/public_key_pem.hpp"

using namespace ringcast::admission;

namespace {

const std::string kSecret(64, 's');
constexpr int64_t kNow = 1700000000000;

struct Verifiers {
    JwtVerifier hmac;
    JwtVerifier ec;
};

JwtVerifier must(std::variant<JwtVerifier, std::string> v) {
    FUZZ_CHECK(std::holds_alternative<JwtVerifier>(v));
    return std::get<JwtVerifier>(std::move(v));
}

const Verifiers& verifiers() {
    static const Verifiers v = [] {
        JwtRules rules;
        rules.audience = "ringcast";
        rules.issuer = "issuer";
        rules.leeway_s = 30;
        EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        std::string pem = ringcast::testing::public_key_pem(k);
        EVP_PKEY_free(k);
        return Verifiers{must(JwtVerifier::from_hmac_secret(kSecret, rules)),
                         must(JwtVerifier::from_public_key_pem(pem, rules))};
    }();
    return v;
}

// Verifies through an exact-size copy; a refusal must carry a fixed, non-empty reason.
void verify(const JwtVerifier& v, std::string_view token) {
    std::unique_ptr<char[]> copy(new char[token.empty() ? 1 : token.size()]);
    if (!token.empty()) std::memcpy(copy.get(), token.data(), token.size());
    JwtResult r = v.verify(std::string_view(copy.get(), token.size()), kNow);
    if (const auto* refusal = std::get_if<JwtRefusal>(&r)) {
        FUZZ_CHECK(refusal->reason && refusal->reason[0] != '\0');
        FUZZ_CHECK(!to_string(refusal->error).empty());
    } else {
        const JwtClaims& c = std::get<JwtClaims>(r);
        FUZZ_CHECK(c.raw.is_object());
        FUZZ_CHECK(!c.expires_at_ms || *c.expires_at_ms + 30000 > kNow);
    }
}

std::string sign_hmac(std::string_view header, std::string_view claims) {
    std::string input = base64url_encode(header) + "." + base64url_encode(claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

void sources(std::string_view text) {
    FoundToken a = token_from_authorization(text);
    FUZZ_CHECK(a.status != TokenLookup::Found || !a.token.empty());
    FoundToken q = token_from_query(text);
    FUZZ_CHECK(q.status != TokenLookup::Found || !q.token.empty());
    SubprotocolOffer s = token_from_subprotocols(text);
    FUZZ_CHECK(s.answer.empty() || s.answer == kSubprotocol);  // never the token entry
    FUZZ_CHECK(s.token.status != TokenLookup::Found || !s.token.token.empty());
    for (const FoundToken* t : {&a, &q, &s.token})
        if (t->status == TokenLookup::Found) verify(verifiers().hmac, t->token);
}

void base64(std::string_view text) {
    auto decoded = base64url_decode(text);
    // Strict decoding is canonical: what decodes encodes back to the very same text.
    if (decoded) FUZZ_CHECK(base64url_encode(*decoded) == text);
}

void origins(std::string_view text) {
    auto parsed = parse_origin(text);
    auto list = OriginAllowlist::parse({std::string(text)});
    if (auto* l = std::get_if<OriginAllowlist>(&list)) {
        (void)l->allows(text);
        (void)l->allows("https://a.example.com");
        // An entry without a wildcard admits exactly the origin it parses to.
        if (std::holds_alternative<Origin>(parsed)) FUZZ_CHECK(l->allows(text));
    }
    auto fixed = OriginAllowlist::parse({"https://app.example.com", "https://*.example.com"});
    const bool allowed = std::get<OriginAllowlist>(fixed).allows(text);
    if (allowed) FUZZ_CHECK(std::holds_alternative<Origin>(parsed));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t mode = data[0];
    std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
    const size_t split = body.empty() ? 0 : data[1] % (body.size() + 1);
    if (mode & 1) {
        const size_t nl = body.find('\n');
        std::string token = nl == std::string_view::npos
                                ? sign_hmac(body, "{}")
                                : sign_hmac(body.substr(0, nl), body.substr(nl + 1));
        verify(verifiers().hmac, token);
        verify(verifiers().hmac, std::string_view(token).substr(0, split));
        verify(verifiers().ec, token);  // the wrong family: always refused
        return 0;
    }
    verify(verifiers().hmac, body);
    verify(verifiers().ec, body);
    verify(verifiers().hmac, body.substr(0, split));
    verify(verifiers().hmac, body.substr(split));
    sources(body);
    base64(body);
    origins(body);
    return 0;
}
