// The shard's admission policy (worker/admission_policy.hpp): built from the settings with
// errors that name the setting, a burst of 0 meaning one second's worth, and the node-wide
// per-address count over every member's shared counters (a count-min sketch: never below the
// true count, and each address apart from the others while the table is sparse).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/support/shm_fixture.hpp"
#include "worker/admission_policy.hpp"

using namespace ringcast;
using namespace ringcast::worker;

namespace {

PeerAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    PeerAddr p;
    p.family = 2;  // AF_INET
    p.addr[0] = a;
    p.addr[1] = b;
    p.addr[2] = c;
    p.addr[3] = d;
    return p;
}

std::string error_of(const AdmissionSettings& s) {
    auto r = make_admission_policy(s);
    auto* e = std::get_if<std::string>(&r);
    return e ? *e : std::string();
}

}  // namespace

TEST_CASE("defaults admit everyone: no Origin check, no verifier, no rate limit") {
    auto r = make_admission_policy({});
    REQUIRE(std::holds_alternative<std::shared_ptr<const AdmissionPolicy>>(r));
    const auto& p = *std::get<std::shared_ptr<const AdmissionPolicy>>(r);
    CHECK(p.origins.empty());
    CHECK_FALSE(p.verifier.has_value());
    CHECK_FALSE(p.rate_limited());
}

TEST_CASE("errors name the setting: a bad Origin entry, a missing key file, auth without a key") {
    AdmissionSettings s;
    s.allowed_origins = {"https://a.example", "https://b.example/path"};
    CHECK(error_of(s).find("allowed_origins[1]") != std::string::npos);
    s = {};
    s.hmac_secret_file = "/nonexistent/ringcast-secret";
    CHECK(error_of(s).rfind("auth.jwt.hmac_secret_file: ", 0) == 0);
    s = {};
    s.public_key_file = "/nonexistent/ringcast-key.pem";
    CHECK(error_of(s).rfind("auth.jwt.public_key_file: ", 0) == 0);
    s = {};
    s.auth_required = true;
    CHECK(error_of(s).rfind("auth.required: ", 0) == 0);
}

TEST_CASE("a secret file makes a verifier; a burst of 0 is one second's worth") {
    char path[] = "/tmp/ringcast-ut-secret-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string secret = "0123456789abcdef0123456789abcdef\n";
    REQUIRE(::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()));
    ::close(fd);
    AdmissionSettings s;
    s.hmac_secret_file = path;
    s.auth_required = true;
    s.messages_per_s = 10;
    s.bytes_per_s = 1000;
    s.burst_bytes = 5000;
    auto r = make_admission_policy(s);
    ::unlink(path);
    REQUIRE(std::holds_alternative<std::shared_ptr<const AdmissionPolicy>>(r));
    const auto& p = *std::get<std::shared_ptr<const AdmissionPolicy>>(r);
    REQUIRE(p.verifier.has_value());
    CHECK(p.verifier->key_kind() == "hmac");
    CHECK(p.rate_limited());
    CHECK(p.limits.messages.burst == 10);
    CHECK(p.limits.bytes.burst == 5000);
}

TEST_CASE("address slots depend on the address and the segment's seed") {
    const PeerAddr a = v4(127, 0, 0, 2), b = v4(127, 0, 0, 3);
    const AddressSlots sa = address_slots(a, 1), sb = address_slots(b, 1), sa2 = address_slots(a, 2);
    CHECK(sa.row0 < shm::kAddressBuckets);
    CHECK(sa.row1 < shm::kAddressBuckets);
    CHECK((sa.row0 != sb.row0 || sa.row1 != sb.row1));
    CHECK((sa.row0 != sa2.row0 || sa.row1 != sa2.row1));
    CHECK(address_slots(a, 1).row0 == sa.row0);
}

TEST_CASE("the node count of an address sums every member and never counts others' addresses") {
    shm::test::ScopedName n;
    shm::Segment seg = shm::test::must_create(n.name, {3, 64, 4096});
    const uint64_t seed = seg.header().address_seed;
    const AddressSlots a = address_slots(v4(127, 0, 0, 2), seed);
    const AddressSlots b = address_slots(v4(10, 1, 2, 3), seed);
    CHECK(node_address_count(seg, a) == 0);
    add_address(seg.control(0), a, +1);
    add_address(seg.control(1), a, +1);
    add_address(seg.control(2), a, +1);
    add_address(seg.control(1), b, +1);
    CHECK(node_address_count(seg, a) == 3);
    CHECK(node_address_count(seg, b) == 1);
    add_address(seg.control(1), a, -1);
    CHECK(node_address_count(seg, a) == 2);
    // A count never goes below zero, even if asked to.
    add_address(seg.control(0), b, -1);
    add_address(seg.control(1), b, -1);
    CHECK(node_address_count(seg, b) == 0);
    // Many other addresses raise an address's count only where they collide in both rows.
    for (uint32_t i = 0; i < 1000; ++i)
        add_address(seg.control(i % 3), address_slots(v4(10, 9, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), seed), +1);
    CHECK(node_address_count(seg, a) >= 2);
    CHECK(node_address_count(seg, a) <= 4);
}
