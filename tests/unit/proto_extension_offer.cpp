// permessage-deflate negotiation (proto/extension_offer.hpp, RFC 7692 §7): every parameter,
// duplicates, bad and quoted values, several offers, grammar errors, and the response value.
#include <doctest/doctest.h>

#include <string>

#include "proto/extension_offer.hpp"

using namespace ringcast::proto;

namespace {

// The response for `header`, or "" when the extension is declined.
std::string answer(const std::string& header) {
    const DeflateAgreement a = negotiate_permessage_deflate(header);
    return a.enabled ? permessage_deflate_response(a) : "";
}

constexpr const char* kBase = "permessage-deflate; server_no_context_takeover";

}  // namespace

TEST_CASE("a bare offer is accepted with server_no_context_takeover only") {
    CHECK(answer("permessage-deflate") == kBase);
    const DeflateAgreement a = negotiate_permessage_deflate("permessage-deflate");
    CHECK(a.enabled);
    CHECK_FALSE(a.client_no_context_takeover);
    CHECK(a.client_window_bits == 15);
}

TEST_CASE("no header, other extensions only, or an empty list: no extension") {
    CHECK(answer("") == "");
    CHECK(answer("x-webkit-deflate-frame") == "");
    CHECK(answer("foo; bar=1, baz") == "");
    CHECK(answer(" , ,") == "");
}

TEST_CASE("server_no_context_takeover in the offer is accepted (we always answer with it)") {
    CHECK(answer("permessage-deflate; server_no_context_takeover") == kBase);
}

TEST_CASE("client_no_context_takeover is answered when offered") {
    CHECK(answer("permessage-deflate; client_no_context_takeover") ==
          std::string(kBase) + "; client_no_context_takeover");
    CHECK(negotiate_permessage_deflate("permessage-deflate; client_no_context_takeover")
              .client_no_context_takeover);
}

TEST_CASE("server_max_window_bits: only 15 can be honoured, smaller is declined") {
    CHECK(answer("permessage-deflate; server_max_window_bits=15") ==
          std::string(kBase) + "; server_max_window_bits=15");
    for (const char* v : {"8", "9", "10", "14"})
        CHECK_MESSAGE(answer(std::string("permessage-deflate; server_max_window_bits=") + v) == "",
                      v);
    // It requires a value.
    CHECK(answer("permessage-deflate; server_max_window_bits") == "");
}

TEST_CASE("client_max_window_bits: without a value it is left out, with one it is echoed") {
    CHECK(answer("permessage-deflate; client_max_window_bits") == kBase);
    for (int bits = 8; bits <= 15; ++bits) {
        const std::string b = std::to_string(bits);
        CAPTURE(b);
        CHECK(answer("permessage-deflate; client_max_window_bits=" + b) ==
              std::string(kBase) + "; client_max_window_bits=" + b);
        CHECK(negotiate_permessage_deflate("permessage-deflate; client_max_window_bits=" + b)
                  .client_window_bits == bits);
    }
}

TEST_CASE("bad window values decline the offer: out of range, leading zero, not a number") {
    for (const char* v : {"7", "16", "0", "08", "015", "-9", "1a", "9.0", "99999999999999999999"}) {
        CAPTURE(v);
        CHECK(answer(std::string("permessage-deflate; client_max_window_bits=") + v) == "");
        CHECK(answer(std::string("permessage-deflate; server_max_window_bits=") + v) == "");
    }
}

TEST_CASE("quoted values are unquoted first; a quoted non-token declines the offer") {
    CHECK(answer("permessage-deflate; client_max_window_bits=\"10\"") ==
          std::string(kBase) + "; client_max_window_bits=10");
    CHECK(answer("permessage-deflate; server_max_window_bits=\"15\"") ==
          std::string(kBase) + "; server_max_window_bits=15");
    CHECK(answer("permessage-deflate; client_max_window_bits=\"1 0\"") == "");
    CHECK(answer("permessage-deflate; client_max_window_bits=\"\"") == "");
    CHECK(answer("permessage-deflate; client_max_window_bits=\"1\\0\"") == "");
    // A comma inside quotes does not end the offer.
    CHECK(answer("permessage-deflate; x=\"a,b\", permessage-deflate") == kBase);
}

TEST_CASE("a value on a flag parameter declines the offer") {
    CHECK(answer("permessage-deflate; server_no_context_takeover=1") == "");
    CHECK(answer("permessage-deflate; client_no_context_takeover=true") == "");
}

TEST_CASE("a parameter given twice declines the offer") {
    for (const char* p :
         {"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=15",
          "client_max_window_bits", "client_max_window_bits=10"}) {
        CAPTURE(p);
        CHECK(answer(std::string("permessage-deflate; ") + p + "; " + p) == "");
    }
    CHECK(answer("permessage-deflate; client_max_window_bits; client_max_window_bits=9") == "");
}

TEST_CASE("an unknown parameter declines the offer") {
    CHECK(answer("permessage-deflate; mux") == "");
    CHECK(answer("permessage-deflate; client_max_window=10") == "");
}

TEST_CASE("several offers: the first acceptable one is taken") {
    // The browser-style list: the first has a bad parameter, the second is plain.
    CHECK(answer("permessage-deflate; server_max_window_bits=10, permessage-deflate") == kBase);
    CHECK(answer("permessage-deflate; client_no_context_takeover, permessage-deflate") ==
          std::string(kBase) + "; client_no_context_takeover");
    CHECK(answer("foo, permessage-deflate; client_max_window_bits=12, permessage-deflate") ==
          std::string(kBase) + "; client_max_window_bits=12");
    CHECK(answer("permessage-deflate; a, permessage-deflate; b") == "");
    // Repeated header lines arrive joined with ", " (proto/handshake.hpp).
    CHECK(answer("x-foo, permessage-deflate; client_max_window_bits") == kBase);
}

TEST_CASE("names and parameters compare case-insensitively; whitespace around ; , = is allowed") {
    CHECK(answer("PerMessage-Deflate;Client_No_Context_Takeover") ==
          std::string(kBase) + "; client_no_context_takeover");
    CHECK(answer("  permessage-deflate \t;\t client_max_window_bits = 9 ,  ") ==
          std::string(kBase) + "; client_max_window_bits=9");
}

TEST_CASE("a syntax error anywhere declines everything rather than failing the upgrade") {
    for (const char* h : {"permessage-deflate;", "permessage-deflate; =1", "permessage-deflate x",
                          "permessage-deflate; client_max_window_bits=", "; permessage-deflate",
                          "permessage-deflate, @bad", "permessage-deflate; a=\"unterminated",
                          "permessage-deflate; client_max_window_bits=\"10"}) {
        CAPTURE(h);
        CHECK(answer(h) == "");
    }
}

TEST_CASE("the agreement packs into one byte and back") {
    for (bool cnct : {false, true}) {
        for (int bits = 8; bits <= 15; ++bits) {
            DeflateAgreement a;
            a.enabled = true;
            a.client_no_context_takeover = cnct;
            a.client_window_bits = static_cast<uint8_t>(bits);
            const DeflateAgreement b = unpack_agreement(pack_agreement(a));
            CHECK(b.enabled);
            CHECK(b.client_no_context_takeover == cnct);
            CHECK(b.client_window_bits == bits);
        }
    }
    CHECK(pack_agreement(DeflateAgreement{}) == 0);
    CHECK_FALSE(unpack_agreement(0).enabled);
}
