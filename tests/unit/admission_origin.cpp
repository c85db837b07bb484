// tests/unit/admission_origin.cpp: the specification of the Origin allowlist
// (admission/origin.hpp): exact entries, one-label wildcards, normalization, config errors,
// and the allow_missing_origin decision.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "admission/origin.hpp"

using namespace ringcast::admission;

namespace {

OriginAllowlist list_of(const std::vector<std::string>& entries) {
    auto parsed = OriginAllowlist::parse(entries);
    if (auto* e = std::get_if<std::string>(&parsed)) FAIL(*e);
    return std::get<OriginAllowlist>(parsed);
}

std::string error_of(const std::vector<std::string>& entries) {
    auto parsed = OriginAllowlist::parse(entries);
    REQUIRE_MESSAGE(std::holds_alternative<std::string>(parsed), "expected a config error");
    return std::get<std::string>(parsed);
}

}  // namespace

TEST_CASE("an exact entry matches its origin: host case-insensitive, default port implied") {
    auto l = list_of({"https://app.example.com", "http://localhost:8080"});
    CHECK(l.allows("https://app.example.com"));
    CHECK(l.allows("https://APP.Example.COM"));
    CHECK(l.allows("HTTPS://app.example.com"));
    CHECK(l.allows("https://app.example.com:443"));
    CHECK(l.allows("http://localhost:8080"));
    CHECK_FALSE(l.allows("http://app.example.com"));        // another scheme
    CHECK_FALSE(l.allows("https://app.example.com:8443"));  // another port
    CHECK_FALSE(l.allows("http://localhost"));              // :80, not :8080
    CHECK_FALSE(l.allows("https://app.example.com.evil.com"));
    CHECK_FALSE(l.allows("https://evilapp.example.com"));
    CHECK_FALSE(l.allows("https://example.com"));
    CHECK(list_of({"http://a.test:80"}).allows("http://a.test"));
    CHECK(list_of({"https://[::1]:9443"}).allows("https://[::1]:9443"));
    CHECK_FALSE(list_of({"https://[::1]:9443"}).allows("https://[::1]"));
}

TEST_CASE("a wildcard admits exactly one label in front of its domain") {
    auto l = list_of({"https://*.example.com"});
    CHECK(l.allows("https://a.example.com"));
    CHECK(l.allows("https://A-1.Example.com:443"));
    CHECK_FALSE(l.allows("https://a.b.example.com"));
    CHECK_FALSE(l.allows("https://example.com"));
    CHECK_FALSE(l.allows("https://.example.com"));
    CHECK_FALSE(l.allows("https://aexample.com"));
    CHECK_FALSE(l.allows("https://a.example.com.evil.org"));
    CHECK_FALSE(l.allows("http://a.example.com"));
    CHECK_FALSE(l.allows("https://a.example.com:8443"));
    CHECK(list_of({"https://*.example.com:8443"}).allows("https://a.example.com:8443"));
}

TEST_CASE("header values that are no origin match nothing") {
    auto l = list_of({"https://app.example.com", "https://*.example.com"});
    for (const char* bad :
         {"null", "", "app.example.com", "https://app.example.com/", "https://app.example.com/path",
          "https://user@app.example.com", "https://app.example.com:0",
          "https://app.example.com:99999", "https://app.example.com:", "https://*.example.com",
          "https://app..example.com", "ftp://app.example.com", "https://app.example.com\r\n"}) {
        CAPTURE(bad);
        CHECK_FALSE(l.allows(bad));
    }
}

TEST_CASE("malformed entries are config errors naming the index, the entry and the reason") {
    CHECK(error_of({"https://ok.example.com", "https://a.com/"}) ==
          "allowed_origins[1]: \"https://a.com/\" has a path; an origin is scheme://host[:port]");
    CHECK(error_of({"app.example.com"}).find("scheme://host") != std::string::npos);
    CHECK(error_of({"ws://app.example.com"}).find("http or https") != std::string::npos);
    CHECK(error_of({"https://*.com"}).find("single label") != std::string::npos);
    CHECK(error_of({"https://a.*.example.com"}).find("'*'") != std::string::npos);
    CHECK(error_of({"https://*"}).find("allowed_origins[0]") == 0);
    CHECK(error_of({"https://*example.com"}).find("'*'") != std::string::npos);
    CHECK(error_of({"https://app.example.com:70000"}).find("port") != std::string::npos);
    CHECK(error_of({"https://"}).find("no host") != std::string::npos);
    CHECK(error_of({"https://a b.com"}).find("host") != std::string::npos);
    CHECK(error_of({"https://*.[::1]"}).size() > 0);
    auto named = OriginAllowlist::parse({"nope"}, "auth.origins");
    REQUIRE(std::holds_alternative<std::string>(named));
    CHECK(std::get<std::string>(named).find("auth.origins[0]") == 0);
}

TEST_CASE("parse_origin normalizes scheme, host and port") {
    auto o = parse_origin("HTTPS://App.Example.COM");
    REQUIRE(std::holds_alternative<Origin>(o));
    CHECK(std::get<Origin>(o) == Origin{"https", "app.example.com", 443});
    o = parse_origin("http://127.0.0.1:9002");
    REQUIRE(std::holds_alternative<Origin>(o));
    CHECK(std::get<Origin>(o) == Origin{"http", "127.0.0.1", 9002});
}

TEST_CASE(
    "the upgrade's decision: empty list admits all, a missing Origin follows "
    "allow_missing_origin") {
    OriginAllowlist none;
    CHECK(origin_admitted(none, std::nullopt, false));
    CHECK(origin_admitted(none, "https://anything.example", false));
    auto l = list_of({"https://app.example.com"});
    CHECK(origin_admitted(l, std::nullopt, true));
    CHECK_FALSE(origin_admitted(l, std::nullopt, false));
    CHECK(origin_admitted(l, "https://app.example.com", false));
    CHECK_FALSE(origin_admitted(l, "https://evil.example.com", true));
    CHECK_FALSE(origin_admitted(l, "null", true));  // a sandboxed page is not a missing Origin
}
