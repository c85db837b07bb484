// tests/unit/admission_token_source.cpp: where a token is found at the upgrade
// (admission/token_source.hpp): the Authorization header, the token query parameter, and the
// Sec-WebSocket-Protocol convention, including the protocol answered (never the token).
#include <doctest/doctest.h>

#include <string>

#include "admission/base64url.hpp"
#include "admission/token_source.hpp"

using namespace ringcast::admission;

namespace {
const std::string kJwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
}

TEST_CASE("Authorization: Bearer, scheme case-insensitive; another scheme holds no token") {
    auto t = token_from_authorization("Bearer " + kJwt);
    CHECK(t.status == TokenLookup::Found);
    CHECK(t.token == kJwt);
    CHECK(token_from_authorization("bearer   " + kJwt + "  ").token == kJwt);
    CHECK(token_from_authorization("BEARER\t" + kJwt).token == kJwt);
    CHECK(token_from_authorization("Basic dXNlcjpwYXNz").status == TokenLookup::Absent);
    CHECK(token_from_authorization("").status == TokenLookup::Absent);
    CHECK(token_from_authorization("Bearer").status == TokenLookup::Malformed);
    CHECK(token_from_authorization("Bearer ").status == TokenLookup::Malformed);
    CHECK(token_from_authorization("Bearer a b").status == TokenLookup::Malformed);
    CHECK(token_from_authorization("Bearerx " + kJwt).status == TokenLookup::Absent);
}

TEST_CASE("the token query parameter, percent-decoded; two of them or a bad escape are malformed") {
    CHECK(token_from_query("/?token=" + kJwt).token == kJwt);
    CHECK(token_from_query("/chat?x=1&token=" + kJwt + "&y=2").token == kJwt);
    CHECK(token_from_query("/?tok%65n=abc%2Edef").token == "abc.def");
    CHECK(token_from_query("/?token=a+b").token == "a+b");
    CHECK(token_from_query("/?token=abc#token=zzz").token == "abc");
    CHECK(token_from_query("/").status == TokenLookup::Absent);
    CHECK(token_from_query("/?tokens=abc&xtoken=1").status == TokenLookup::Absent);
    CHECK(token_from_query("/?token=").status == TokenLookup::Malformed);
    CHECK(token_from_query("/?token").status == TokenLookup::Malformed);
    CHECK(token_from_query("/?token=a&token=b").status == TokenLookup::Malformed);
    CHECK(token_from_query("/?token=%4").status == TokenLookup::Malformed);
    CHECK(token_from_query("/?token=%zz").status == TokenLookup::Malformed);
    CHECK(token_from_query("/?token=%").status == TokenLookup::Malformed);
    CHECK(token_from_query("/?%zz=1&token=ok").token == "ok");
}

TEST_CASE(
    "Sec-WebSocket-Protocol: the base64url.bearer.ringcast. entry carries the token, ringcast is "
    "answered") {
    const std::string entry = std::string(kSubprotocolTokenPrefix) + base64url_encode(kJwt);
    auto o = token_from_subprotocols("ringcast, " + entry);
    CHECK(o.token.status == TokenLookup::Found);
    CHECK(o.token.token == kJwt);
    CHECK(o.answer == "ringcast");
    o = token_from_subprotocols(entry + ",ringcast");
    CHECK(o.token.token == kJwt);
    CHECK(o.answer == "ringcast");
    // Without "ringcast" offered nothing is answered, and never the token entry.
    o = token_from_subprotocols(entry + ", chat.v2");
    CHECK(o.token.token == kJwt);
    CHECK(o.answer.empty());
    o = token_from_subprotocols("ringcast");
    CHECK(o.token.status == TokenLookup::Absent);
    CHECK(o.answer == "ringcast");
    CHECK(token_from_subprotocols("").token.status == TokenLookup::Absent);
    CHECK(token_from_subprotocols("ringcast, " + std::string(kSubprotocolTokenPrefix) + "a=b")
              .token.status == TokenLookup::Malformed);
    CHECK(token_from_subprotocols(std::string(kSubprotocolTokenPrefix)).token.status ==
          TokenLookup::Malformed);
    CHECK(token_from_subprotocols(entry + "," + entry).token.status == TokenLookup::Malformed);
    CHECK(token_from_subprotocols("RingCast").answer.empty());  // protocol names are case-sensitive
}
