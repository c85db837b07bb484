// Outbox (bridge/outbox.hpp): local messages leave for Redis oldest first; written ones stay
// in flight until their replies, and go again in the same order when the connection breaks;
// past the limit the overflow policy drops the newest or the oldest pending message, never one
// in flight, and says which; payload buffers are recycled.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "bridge/outbox.hpp"

using namespace ringcast::bridge;
using ringcast::proto::Opcode;
using namespace std::string_literals;

namespace {

// What on_drop was told.
struct Drop {
    uint32_t member;
    uint64_t seq;
    bool was_queued;
    bool operator==(const Drop&) const = default;
};

struct Drops {
    std::vector<Drop> seen;
    auto callback() {
        return [this](uint32_t member, uint64_t seq, bool was_queued) {
            seen.push_back({member, seq, was_queued});
        };
    }
};

std::string payload_of(uint64_t seq) {
    return "message " + std::to_string(seq);
}

// Pushes seq on member 0 with payload_of(seq); returns what push() returned.
bool push(Outbox& box, uint64_t seq, Drops& drops) {
    return box.push(0, seq, Opcode::Text, payload_of(seq), drops.callback());
}

// Writes every pending message; returns their sequences in the order they were written.
std::vector<uint64_t> write_all(Outbox& box) {
    std::vector<uint64_t> seqs;
    while (box.pending() > 0) {
        seqs.push_back(box.next_pending().seq);
        box.mark_sent();
    }
    return seqs;
}

// Acknowledges every message in flight; returns their sequences in order.
std::vector<uint64_t> acknowledge_all(Outbox& box) {
    std::vector<uint64_t> seqs;
    while (box.in_flight() > 0) {
        OutMessage m = box.acknowledge();
        seqs.push_back(m.seq);
        box.recycle(std::move(m.payload));
    }
    return seqs;
}

using Seqs = std::vector<uint64_t>;

}  // namespace

TEST_CASE("messages are written in the order they were pushed, with their fields intact") {
    Outbox box(16, Overflow::DropOldest);
    Drops drops;
    CHECK(box.push(3, 10, Opcode::Text, "first", drops.callback()));
    CHECK(box.push(1, 20, Opcode::Binary, "\0second\xff"s, drops.callback()));
    CHECK(box.push(3, 11, Opcode::Text, "", drops.callback()));
    CHECK(box.size() == 3);
    CHECK(box.pending() == 3);
    CHECK(box.in_flight() == 0);

    const OutMessage& a = box.next_pending();
    CHECK(a.member == 3);
    CHECK(a.seq == 10);
    CHECK(a.op == Opcode::Text);
    CHECK(a.payload == "first");
    box.mark_sent();
    const OutMessage& b = box.next_pending();
    CHECK(b.member == 1);
    CHECK(b.seq == 20);
    CHECK(b.op == Opcode::Binary);
    CHECK(b.payload == "\0second\xff"s);
    box.mark_sent();
    const OutMessage& c = box.next_pending();
    CHECK(c.seq == 11);
    CHECK(c.payload.empty());
    box.mark_sent();
    CHECK(drops.seen.empty());
}

TEST_CASE("the push copies the payload: the caller's buffer may change at once") {
    Outbox box(4, Overflow::DropOldest);
    Drops drops;
    std::string buffer = "original";
    box.push(0, 1, Opcode::Text, buffer, drops.callback());
    buffer.assign("overwritten with something longer");
    CHECK(box.next_pending().payload == "original");
}

TEST_CASE("written messages are in flight until acknowledged, oldest first") {
    Outbox box(16, Overflow::DropOldest);
    Drops drops;
    for (uint64_t s = 0; s < 5; ++s) push(box, s, drops);
    box.mark_sent();
    box.mark_sent();
    CHECK(box.in_flight() == 2);
    CHECK(box.pending() == 3);
    CHECK(box.size() == 5);
    CHECK(box.next_pending().seq == 2);

    OutMessage m = box.acknowledge();
    CHECK(m.seq == 0);
    CHECK(m.payload == payload_of(0));
    CHECK(box.in_flight() == 1);
    CHECK(box.pending() == 3);
    CHECK(box.size() == 4);

    CHECK(write_all(box) == Seqs{2, 3, 4});
    CHECK(box.in_flight() == 4);
    CHECK(box.pending() == 0);
    CHECK(acknowledge_all(box) == Seqs{1, 2, 3, 4});
    CHECK(box.size() == 0);
}

TEST_CASE("after a broken connection the messages in flight are pending again, in order") {
    Outbox box(16, Overflow::DropOldest);
    Drops drops;
    for (uint64_t s = 0; s < 6; ++s) push(box, s, drops);
    box.mark_sent();
    box.mark_sent();
    box.mark_sent();
    box.acknowledge();  // seq 0 made it

    CHECK(box.requeue_in_flight() == 2);
    CHECK(box.in_flight() == 0);
    CHECK(box.pending() == 5);
    CHECK(write_all(box) == Seqs{1, 2, 3, 4, 5});
    CHECK(acknowledge_all(box) == Seqs{1, 2, 3, 4, 5});
}

TEST_CASE("requeueing with nothing in flight changes nothing") {
    Outbox box(4, Overflow::DropOldest);
    Drops drops;
    CHECK(box.requeue_in_flight() == 0);
    push(box, 7, drops);
    CHECK(box.requeue_in_flight() == 0);
    CHECK(box.pending() == 1);
    CHECK(box.next_pending().seq == 7);
}

TEST_CASE("DropNewest refuses a message past the limit and says it was never queued") {
    Outbox box(3, Overflow::DropNewest);
    Drops drops;
    for (uint64_t s = 0; s < 3; ++s) CHECK(push(box, s, drops));
    CHECK(box.dropped() == 0);
    CHECK(!box.push(5, 3, Opcode::Binary, "late", drops.callback()));
    CHECK(drops.seen == std::vector<Drop>{{5, 3, false}});
    CHECK(box.dropped() == 1);
    CHECK(box.size() == 3);
    CHECK(write_all(box) == Seqs{0, 1, 2});
}

TEST_CASE("DropOldest makes room by dropping the oldest pending message") {
    Outbox box(3, Overflow::DropOldest);
    Drops drops;
    for (uint64_t s = 0; s < 3; ++s) push(box, s, drops);
    // The new message is queued (true); the oldest one left and was queued before.
    CHECK(box.push(0, 3, Opcode::Text, payload_of(3), drops.callback()));
    CHECK(drops.seen == std::vector<Drop>{{0, 0, true}});
    CHECK(box.dropped() == 1);
    CHECK(box.size() == 3);
    CHECK(box.push(0, 4, Opcode::Text, payload_of(4), drops.callback()));
    CHECK(drops.seen == std::vector<Drop>{{0, 0, true}, {0, 1, true}});
    CHECK(box.dropped() == 2);
    std::vector<std::string> payloads;
    while (box.pending() > 0) {
        payloads.push_back(box.next_pending().payload);
        box.mark_sent();
    }
    CHECK(payloads == std::vector<std::string>{payload_of(2), payload_of(3), payload_of(4)});
}

TEST_CASE("DropOldest never drops a message in flight") {
    // The limit bounds pending messages; those in flight are the broker's to answer for.
    Outbox box(2, Overflow::DropOldest);
    Drops drops;
    for (uint64_t s = 0; s < 4; ++s) push(box, s, drops);  // 0 and 1 dropped on the way
    CHECK(write_all(box) == Seqs{2, 3});
    CHECK(box.in_flight() == 2);
    drops.seen.clear();

    push(box, 4, drops);
    push(box, 5, drops);
    CHECK(drops.seen.empty());  // two pending: at the limit, not past it
    push(box, 6, drops);
    CHECK(drops.seen == std::vector<Drop>{{0, 4, true}});
    CHECK(box.in_flight() == 2);
    CHECK(box.pending() == 2);
    CHECK(box.next_pending().seq == 5);
    CHECK(acknowledge_all(box) == Seqs{2, 3});
    CHECK(write_all(box) == Seqs{5, 6});
}

TEST_CASE("the oldest pending message dropped is the one right after those in flight") {
    Outbox box(3, Overflow::DropOldest);
    Drops drops;
    for (uint64_t s = 0; s < 5; ++s) push(box, s, drops);  // 0, 1 dropped: 2 3 4 left
    box.mark_sent();                                       // 2 in flight
    drops.seen.clear();
    push(box, 5, drops);  // pending 3 4 5: at the limit
    CHECK(drops.seen.empty());
    push(box, 6, drops);
    CHECK(drops.seen == std::vector<Drop>{{0, 3, true}});
    CHECK(box.requeue_in_flight() == 1);
    CHECK(write_all(box) == Seqs{2, 4, 5, 6});
}

TEST_CASE("with a zero limit every message is refused, under either policy") {
    for (Overflow policy : {Overflow::DropOldest, Overflow::DropNewest}) {
        Outbox box(0, policy);
        Drops drops;
        CHECK(!push(box, 1, drops));
        CHECK(drops.seen == std::vector<Drop>{{0, 1, false}});
        CHECK(box.size() == 0);
        CHECK(box.dropped() == 1);
    }
}

TEST_CASE("dropped() counts every message the policy dropped") {
    Outbox newest(2, Overflow::DropNewest);
    Outbox oldest(2, Overflow::DropOldest);
    Drops drops;
    for (uint64_t s = 0; s < 10; ++s) {
        push(newest, s, drops);
        push(oldest, s, drops);
    }
    CHECK(newest.dropped() == 8);
    CHECK(oldest.dropped() == 8);
    CHECK(drops.seen.size() == 16);
    CHECK(write_all(newest) == Seqs{0, 1});
    CHECK(write_all(oldest) == Seqs{8, 9});
}

TEST_CASE("recycled buffers are reused and hold exactly the new payload") {
    Outbox box(16, Overflow::DropOldest);
    Drops drops;
    const std::string big(1000, 'B');
    box.push(0, 0, Opcode::Binary, big, drops.callback());
    box.mark_sent();
    OutMessage m = box.acknowledge();
    const char* storage = m.payload.data();
    box.recycle(std::move(m.payload));

    // A shorter payload lands in the same storage, without the old bytes.
    box.push(0, 1, Opcode::Text, "short", drops.callback());
    CHECK(box.next_pending().payload == "short");
    CHECK(box.next_pending().payload.size() == 5);
    CHECK(box.next_pending().payload.data() == storage);
    CHECK(box.next_pending().payload.capacity() >= big.size());

    // Over many rounds the content is always the message's own.
    for (uint64_t s = 2; s < 200; ++s) {
        const std::string p = s % 3 ? payload_of(s) : std::string(s * 7, static_cast<char>(s));
        box.push(0, s, s % 2 ? Opcode::Text : Opcode::Binary, p, drops.callback());
        box.mark_sent();
        OutMessage done = box.acknowledge();
        CHECK(done.seq == s - 1);
        box.recycle(std::move(done.payload));
        CHECK(box.next_pending().payload == p);
    }
}

TEST_CASE("a message dropped by DropOldest gives its buffer back for the next one") {
    Outbox box(1, Overflow::DropOldest);
    Drops drops;
    box.push(0, 0, Opcode::Binary, std::string(500, 'x'), drops.callback());
    const char* storage = box.next_pending().payload.data();
    box.push(0, 1, Opcode::Text, "next", drops.callback());
    CHECK(box.next_pending().seq == 1);
    CHECK(box.next_pending().payload == "next");
    CHECK(box.next_pending().payload.data() == storage);
}

TEST_CASE("large buffers are not kept for reuse") {
    Outbox box(4, Overflow::DropOldest);
    Drops drops;
    const std::string huge(256 * 1024, 'h');
    box.push(0, 0, Opcode::Binary, huge, drops.callback());
    box.mark_sent();
    OutMessage m = box.acknowledge();
    box.recycle(std::move(m.payload));
    box.push(0, 1, Opcode::Text, "small", drops.callback());
    CHECK(box.next_pending().payload == "small");
    CHECK(box.next_pending().payload.capacity() < huge.size());
}

TEST_CASE("a message keeps its channel through the outbox; one without has none") {
    Outbox box(8, Overflow::DropOldest);
    Drops drops;
    const std::string long_name = "rooms/" + std::string(100, 'r');
    CHECK(box.push(2, 1, Opcode::Text, "on a channel", "news", drops.callback()));
    CHECK(box.push(2, 2, Opcode::Text, "plain", drops.callback()));
    const std::string long_payload(200, 'p');
    CHECK(box.push(2, 3, Opcode::Binary, long_payload, long_name, drops.callback()));
    CHECK(box.push(2, 4, Opcode::Binary, "empty", "", drops.callback()));
    CHECK(box.next_pending().channel == "news");
    while (box.pending() > 0) box.mark_sent();
    OutMessage a = box.acknowledge();
    OutMessage b = box.acknowledge();
    OutMessage c = box.acknowledge();
    OutMessage d = box.acknowledge();
    CHECK(a.channel == "news");
    CHECK(a.payload == "on a channel");
    CHECK(b.channel.empty());
    CHECK(c.channel == long_name);
    CHECK(c.payload == long_payload);
    CHECK(d.channel.empty());
    // Both buffers are reused, given back as the bridge does (the name first: the payload's
    // buffer is taken first, last in first out), so the next message allocates nothing.
    const char* channel_storage = c.channel.data();
    const char* payload_storage = c.payload.data();
    box.recycle(std::move(c.channel));
    box.recycle(std::move(c.payload));
    const std::string other = "feeds/" + std::string(60, 'f');
    box.push(2, 5, Opcode::Text, "x", other, drops.callback());
    CHECK(box.next_pending().channel == other);
    CHECK(box.next_pending().payload == "x");
    CHECK(box.next_pending().channel.data() == channel_storage);
    CHECK(box.next_pending().payload.data() == payload_storage);
}

TEST_CASE("short strings are not kept as buffers: a recycled one is no heap storage") {
    Outbox box(4, Overflow::DropOldest);
    Drops drops;
    const std::string big(1000, 'B');
    box.push(0, 0, Opcode::Binary, big, drops.callback());
    box.mark_sent();
    OutMessage m = box.acknowledge();
    const char* storage = m.payload.data();
    box.recycle(std::string("tiny"));  // inline storage: ignored
    box.recycle(std::move(m.payload));
    box.recycle(std::string());
    box.push(0, 1, Opcode::Text, "next", drops.callback());
    CHECK(box.next_pending().payload.data() == storage);
}

TEST_CASE("DropOldest gives back the victim's channel buffer and its payload buffer to the payload") {
    Outbox box(1, Overflow::DropOldest);
    Drops drops;
    box.push(0, 0, Opcode::Binary, std::string(500, 'x'), std::string(100, 'c'), drops.callback());
    const char* payload_storage = box.next_pending().payload.data();
    box.push(0, 1, Opcode::Text, "next", "ch", drops.callback());
    CHECK(drops.seen == std::vector<Drop>{{0, 0, true}});
    CHECK(box.next_pending().payload == "next");
    CHECK(box.next_pending().channel == "ch");
    CHECK(box.next_pending().payload.data() == payload_storage);
}
