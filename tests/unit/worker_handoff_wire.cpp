// The hot-restart state blob (worker/handoff.hpp): a connection's permessage-deflate fields
// (agreement, a message still compressed, the inflate window) survive encode -> decode, and
// a blob claiming a window larger than 32 KiB, or from another wire version, is refused; a
// connection's admission (role, token subject and expiry, rate buckets) crosses too.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "proto/extension_offer.hpp"
#include "worker/handoff.hpp"

using namespace ringcast;
using namespace ringcast::worker;

namespace {

handoff::ShardState state_with(std::vector<uint8_t> window) {
    handoff::ShardState s;
    s.member = 2;
    s.next_serial = 9;
    s.next_seq = {5, 6, 7};
    handoff::ConnRecord c;
    c.fd_index = 0;
    c.serial = 4;
    c.state = 1;
    c.msg_active = true;
    proto::DeflateAgreement a;
    a.enabled = true;
    a.client_window_bits = 12;
    c.deflate = proto::pack_agreement(a);
    c.msg_compressed = true;
    c.inflate_context = !window.empty();
    c.inflate_window = std::move(window);
    c.assembly = {0xf2, 0x48, 0xcd};  // compressed bytes of the message in progress
    c.out.push_back(handoff::OutRecord{1, 6, 40, {}});
    s.conns.push_back(std::move(c));
    return s;
}

}  // namespace

TEST_CASE("a connection's permessage-deflate state crosses the handoff intact") {
    std::vector<uint8_t> window(32768);
    for (size_t i = 0; i < window.size(); ++i) window[i] = static_cast<uint8_t>(i * 7);
    const auto blob = handoff::encode(state_with(window));
    handoff::ShardState back;
    REQUIRE(handoff::decode(blob, &back));
    REQUIRE(back.conns.size() == 1);
    const auto& c = back.conns[0];
    const proto::DeflateAgreement a = proto::unpack_agreement(c.deflate);
    CHECK(a.enabled);
    CHECK(a.client_window_bits == 12);
    CHECK_FALSE(a.client_no_context_takeover);
    CHECK(c.msg_compressed);
    CHECK(c.msg_active);
    CHECK(c.inflate_context);
    CHECK(c.inflate_window == window);
    CHECK(c.assembly == std::vector<uint8_t>{0xf2, 0x48, 0xcd});
    CHECK(c.out.size() == 1);
}

TEST_CASE("a plain connection carries no window") {
    const auto blob = handoff::encode(state_with({}));
    handoff::ShardState back;
    REQUIRE(handoff::decode(blob, &back));
    CHECK_FALSE(back.conns[0].inflate_context);
    CHECK(back.conns[0].inflate_window.empty());
}

TEST_CASE("a window over 32 KiB, a truncated blob or another wire version is refused") {
    handoff::ShardState back;
    CHECK_FALSE(
        handoff::decode(handoff::encode(state_with(std::vector<uint8_t>(32769, 1))), &back));
    auto blob = handoff::encode(state_with(std::vector<uint8_t>(100, 1)));
    auto cut = blob;
    cut.resize(cut.size() - 1);
    CHECK_FALSE(handoff::decode(cut, &back));
    uint32_t old_version = handoff::kWireVersion - 1;
    std::memcpy(blob.data(), &old_version, sizeof old_version);
    CHECK_FALSE(handoff::decode(blob, &back));
}

TEST_CASE("a connection's role, token subject and expiry and rate buckets cross the handoff") {
    handoff::ShardState s = state_with({});
    s.conns[0].admission = kAdmitted | kListener | kAuthenticated;
    s.conns[0].has_grant = true;
    s.conns[0].grant.subject = "user-\xc3\xa9-42";
    s.conns[0].grant.expires_at_ms = 1900000000123;
    s.conns[0].grant.buckets_set = true;
    s.conns[0].grant.buckets.messages = {-5 * admission::TokenBucket::kNano, 123456789};
    s.conns[0].grant.buckets.bytes = {77, 987654321};
    handoff::ConnRecord plain;
    plain.fd_index = 1;
    plain.admission = kAdmitted;
    s.conns.push_back(plain);
    const auto blob = handoff::encode(s);
    handoff::ShardState back;
    REQUIRE(handoff::decode(blob, &back));
    REQUIRE(back.conns.size() == 2);
    const auto& c = back.conns[0];
    CHECK(c.admission == (kAdmitted | kListener | kAuthenticated));
    REQUIRE(c.has_grant);
    CHECK(c.grant.subject == "user-\xc3\xa9-42");
    CHECK(c.grant.expires_at_ms == 1900000000123);
    CHECK(c.grant.buckets_set);
    CHECK(c.grant.buckets.messages.level == -5 * admission::TokenBucket::kNano);
    CHECK(c.grant.buckets.messages.last_ns == 123456789);
    CHECK(c.grant.buckets.bytes.level == 77);
    CHECK(c.grant.buckets.bytes.last_ns == 987654321);
    CHECK(back.conns[1].admission == kAdmitted);
    CHECK_FALSE(back.conns[1].has_grant);
    // Every truncation of the blob is refused, never read past its end.
    for (size_t n = 0; n < blob.size(); ++n) {
        handoff::ShardState cut;
        CHECK_FALSE(handoff::decode(std::vector<uint8_t>(blob.begin(), blob.begin() + static_cast<long>(n)), &cut));
    }
}
