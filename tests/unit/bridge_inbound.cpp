// Another node's message entering this node's ring (bridge/inbound.hpp): a message on a
// channel only when some member counts a subscriber of it, and the record it becomes, read
// back through a Consumer as a shard reads it: the frame, then the channel's name after it.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "bridge/inbound.hpp"
#include "proto/encoder.hpp"
#include "shm/channel_hash.hpp"
#include "shm/ring.hpp"
#include "tests/support/shm_fixture.hpp"

using namespace ringcast;
using namespace ringcast::bridge;
using namespace ringcast::shm::test;
using namespace std::string_literals;

namespace {

void subscribe(shm::Segment& s, uint32_t member, std::string_view channel, int delta) {
    const shm::ChannelSlots slots = shm::channel_slots(channel, s.header().address_seed);
    for (int row = 0; row < 2; ++row) {
        auto& v = s.control(member).channel_counts.rows[row][row == 0 ? slots.row0 : slots.row1];
        v.store(static_cast<uint32_t>(static_cast<int>(v.load(std::memory_order_relaxed)) + delta),
                std::memory_order_relaxed);
    }
}

StreamMessage message(proto::Opcode op, std::string_view payload, std::string_view channel) {
    StreamMessage m;
    m.op = op;
    m.payload = payload;
    m.channel = channel;
    return m;
}

}  // namespace

TEST_CASE("a message without a channel is always wanted; one on a channel only with a subscriber here") {
    ScopedName n;
    shm::Segment s = must_create(n.name, {3, 64, 4096});  // shards 0 and 1, the bridge 2
    const uint64_t seed = s.header().address_seed;
    CHECK(wanted_here(s, seed, ""));
    CHECK_FALSE(wanted_here(s, seed, "news"));
    subscribe(s, 1, "news", +1);
    CHECK(wanted_here(s, seed, "news"));
    CHECK_FALSE(wanted_here(s, seed, "sport"));
    subscribe(s, 0, "news", +2);
    subscribe(s, 1, "news", -1);
    CHECK(wanted_here(s, seed, "news"));
    subscribe(s, 0, "news", -2);
    CHECK_FALSE(wanted_here(s, seed, "news"));  // the last one left
    // The seed is the segment's: another seed looks at other counters.
    subscribe(s, 0, "news", +1);
    int elsewhere = 0;
    for (uint64_t other = 1; other <= 20; ++other) elsewhere += wanted_here(s, seed + other, "news");
    CHECK(elsewhere <= 1);
}

TEST_CASE("the record is the frame, then the channel's name, and a shard reads both back") {
    ScopedName n;
    shm::Segment s = must_create(n.name, {2, 64, 1 << 16});
    shm::Producer p(s, 1);
    shm::Consumer c(s, 0);
    c.join();
    const std::string big(300, 'b');  // a 16-bit length header
    struct Case {
        proto::Opcode op;
        std::string payload;
        std::string channel;
    };
    const Case cases[] = {{proto::Opcode::Text, "hello", "rooms/42"},
                          {proto::Opcode::Binary, big, std::string(kMaxChannelBytes, 'c')},
                          {proto::Opcode::Text, "plain", ""},
                          {proto::Opcode::Binary, "", "x"},
                          {proto::Opcode::Text, "after", "a"}};
    for (const Case& k : cases) {
        const StreamMessage m = message(k.op, k.payload, k.channel);
        const InboundRecord r = inbound_record(m);
        CHECK(r.frame_len == r.header + k.payload.size());
        CHECK(r.channel_len == k.channel.size());
        CHECK(r.bytes() == r.frame_len + k.channel.size());
        uint8_t* out = p.reserve(static_cast<uint32_t>(r.bytes()));
        REQUIRE(out);
        write_inbound_record(out, m, r);
        p.commit(static_cast<uint32_t>(r.frame_len), 0, r.channel_len);
    }
    p.publish();
    REQUIRE(c.available(1) == std::size(cases));
    for (uint64_t seq = 0; seq < std::size(cases); ++seq) {
        const Case& k = cases[seq];
        CAPTURE(seq);
        const shm::Descriptor& d = c.descriptor(1, seq);
        CHECK(d.channel_len == k.channel.size());
        CHECK(d.deflated_length == 0);
        CHECK(shm::record_bytes(d) == d.length + k.channel.size());
        CHECK(c.channel_name(1, d) == k.channel);
        // The frame: FIN, the opcode, unmasked, the payload.
        const uint8_t* f = c.frame(1, d);
        CHECK(f[0] == (0x80 | static_cast<uint8_t>(k.op)));
        CHECK((f[1] & 0x80) == 0);
        const size_t header = proto::frame_header_size(k.payload.size());
        CHECK(d.length == header + k.payload.size());
        CHECK(std::string_view(reinterpret_cast<const char*>(f) + header, k.payload.size()) == k.payload);
    }
}
