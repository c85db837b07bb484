// MessageDeflater / MessageInflater (proto/message_deflate.hpp): round trips, "does not
// shrink", the inflate bound (a bomb stops at max + 1 bytes of output), context kept or
// not across messages, the window carried to a fresh inflater (hot restart), BFINAL blocks,
// and corrupt input.
#include <doctest/doctest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "proto/message_deflate.hpp"

using namespace ringcast::proto;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes bytes_of(const std::string& s) {
    return Bytes(s.begin(), s.end());
}

std::string json_text(size_t len) {
    std::string s;
    for (int i = 0; s.size() < len; ++i)
        s += "{\"sym\":\"AB" + std::to_string(i % 7) + "\",\"px\":" + std::to_string(100 + i % 13) +
             "},";
    s.resize(len);
    return s;
}

Bytes noise(size_t len) {
    Bytes b(len);
    uint32_t x = 2463534242u;
    for (auto& c : b) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<uint8_t>(x);
    }
    return b;
}

Bytes compress(MessageDeflater& d, const Bytes& in) {
    Bytes out(in.size() + 3);
    const size_t n = d.compress(in.data(), in.size(), out.data(), out.size());
    out.resize(n);
    return out;
}

// A client that keeps its context: one zlib stream, a sync flush per message, tail removed.
struct ContextClient {
    z_stream z{};
    explicit ContextClient(int bits = 15) {
        deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
    }
    ~ContextClient() { deflateEnd(&z); }
    Bytes send(const Bytes& in, int flush = Z_SYNC_FLUSH) {
        Bytes out(in.size() + 64);
        z.next_in = const_cast<Bytef*>(in.data());
        z.avail_in = static_cast<uInt>(in.size());
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        deflate(&z, flush);
        out.resize(out.size() - z.avail_out);
        if (flush == Z_SYNC_FLUSH) out.resize(out.size() - 4);
        return out;
    }
};

}  // namespace

TEST_CASE("a message compressed once inflates back intact, for sizes around every boundary") {
    MessageDeflater d(1);
    MessageInflater inf;
    for (size_t len : {size_t{64}, size_t{125}, size_t{126}, size_t{512}, size_t{65535},
                       size_t{65536}, size_t{1} << 20}) {
        CAPTURE(len);
        const Bytes msg = bytes_of(json_text(len));
        const Bytes z = compress(d, msg);
        REQUIRE(!z.empty());
        CHECK(z.size() < msg.size());
        CHECK((z.size() < 4 || !(z[z.size() - 4] == 0 && z[z.size() - 3] == 0 &&
                                 z[z.size() - 2] == 0xFF && z[z.size() - 1] == 0xFF)));
        Bytes out;
        REQUIRE(inf.inflate(z.data(), z.size(), out, 16u << 20, false) == InflateResult::Ok);
        CHECK(out == msg);
    }
}

TEST_CASE("each compression starts from an empty window: any message inflates on its own") {
    MessageDeflater d(6);
    const Bytes a = bytes_of(json_text(600)), b = bytes_of(json_text(600));
    compress(d, a);
    const Bytes zb = compress(d, b);
    MessageInflater fresh;
    Bytes out;
    REQUIRE(fresh.inflate(zb.data(), zb.size(), out, 1 << 20, false) == InflateResult::Ok);
    CHECK(out == b);
}

TEST_CASE("data that does not shrink is not compressed") {
    MessageDeflater d(1);
    const Bytes r = noise(4096);
    CHECK(compress(d, r).empty());
    CHECK(compress(d, Bytes{}).empty());
    // Too little room is "does not fit" too, never a truncated result.
    const Bytes msg = bytes_of(json_text(512));
    Bytes out(8);
    CHECK(d.compress(msg.data(), msg.size(), out.data(), out.size()) == 0);
}

TEST_CASE("inflate stops at max + 1 bytes: a deflate bomb is refused without growing past it") {
    MessageDeflater d(9);
    const Bytes zeros(8u << 20, 0);
    Bytes z(zeros.size());
    const size_t n = d.compress(zeros.data(), zeros.size(), z.data(), z.size());
    REQUIRE(n > 0);
    REQUIRE(n < 16384);  // a small frame...
    z.resize(n);
    MessageInflater inf;
    Bytes out;
    const uint64_t max = 1u << 20;
    CHECK(inf.inflate(z.data(), z.size(), out, max, false) == InflateResult::TooBig);  // ...too big
    CHECK(out.empty());
    CHECK(out.capacity() <= max + 1);
    // The same inflater (shared by clients without context) still works afterwards.
    const Bytes msg = bytes_of(json_text(1000));
    const Bytes zm = compress(d, msg);
    REQUIRE(inf.inflate(zm.data(), zm.size(), out, max, false) == InflateResult::Ok);
    CHECK(out == msg);
}

TEST_CASE("the bound is exact: max bytes inflate, max + 1 do not") {
    MessageDeflater d(1);
    const Bytes msg = bytes_of(json_text(5000));
    const Bytes z = compress(d, msg);
    MessageInflater inf;
    Bytes out;
    CHECK(inf.inflate(z.data(), z.size(), out, 5000, false) == InflateResult::Ok);
    CHECK(out == msg);
    CHECK(inf.inflate(z.data(), z.size(), out, 4999, false) == InflateResult::TooBig);
}

TEST_CASE("an empty compressed message (one empty stored block) inflates to nothing") {
    const uint8_t empty[] = {0x00};
    MessageInflater inf;
    Bytes out{1, 2, 3};
    CHECK(inf.inflate(empty, 1, out, 100, false) == InflateResult::Ok);
    CHECK(out.empty());
}

TEST_CASE("a client that keeps its context needs the window kept between messages") {
    ContextClient client;
    const Bytes m1 = bytes_of(json_text(2000));
    const Bytes m2 = bytes_of(json_text(2000));  // repeats m1: compressed against its window
    const Bytes z1 = client.send(m1), z2 = client.send(m2);
    CHECK(z2.size() < z1.size());

    MessageInflater kept;
    Bytes out;
    REQUIRE(kept.inflate(z1.data(), z1.size(), out, 1 << 20, true) == InflateResult::Ok);
    CHECK(out == m1);
    REQUIRE(kept.inflate(z2.data(), z2.size(), out, 1 << 20, true) == InflateResult::Ok);
    CHECK(out == m2);

    // Without the window the second message cannot be read.
    MessageInflater reset;
    REQUIRE(reset.inflate(z1.data(), z1.size(), out, 1 << 20, false) == InflateResult::Ok);
    CHECK(reset.inflate(z2.data(), z2.size(), out, 1 << 20, false) != InflateResult::Ok);
}

TEST_CASE("the window carried to a fresh inflater continues the client's stream (hot restart)") {
    ContextClient client(10);
    const Bytes m1 = bytes_of(json_text(3000)), m2 = bytes_of(json_text(3000));
    const Bytes z1 = client.send(m1), z2 = client.send(m2);
    MessageInflater old_process(10);
    Bytes out;
    REQUIRE(old_process.inflate(z1.data(), z1.size(), out, 1 << 20, true) == InflateResult::Ok);
    const Bytes window = old_process.window();
    CHECK(window.size() <= 32768);
    CHECK(!window.empty());
    MessageInflater new_process(10);
    REQUIRE(new_process.restore(window.data(), window.size()));
    REQUIRE(new_process.inflate(z2.data(), z2.size(), out, 1 << 20, true) == InflateResult::Ok);
    CHECK(out == m2);
    // A never-used inflater has no window; restoring nothing is fine.
    MessageInflater idle;
    CHECK(idle.window().empty());
    CHECK(idle.restore(nullptr, 0));
}

TEST_CASE("a message ending in a BFINAL block (RFC 7692 §7.2.3.4) inflates, context kept") {
    ContextClient client;
    const Bytes m1 = bytes_of(json_text(700));
    const Bytes z1 = client.send(m1, Z_FINISH);
    MessageInflater inf;
    Bytes out;
    REQUIRE(inf.inflate(z1.data(), z1.size(), out, 1 << 20, true) == InflateResult::Ok);
    CHECK(out == m1);
}

TEST_CASE("corrupt DEFLATE data is refused") {
    MessageInflater inf;
    Bytes out;
    const uint8_t bad_type[] = {0xFF, 0xFF, 0xFF};  // BTYPE 11 is reserved
    CHECK(inf.inflate(bad_type, sizeof bad_type, out, 1 << 20, false) == InflateResult::Corrupt);
    // A stored block whose length and its complement disagree.
    const uint8_t bad_stored[] = {0x00, 0x05, 0x00, 0x00, 0x00};
    CHECK(inf.inflate(bad_stored, sizeof bad_stored, out, 1 << 20, false) ==
          InflateResult::Corrupt);
    // Still usable for the next client.
    MessageDeflater d;
    const Bytes msg = bytes_of(json_text(300));
    const Bytes z = compress(d, msg);
    REQUIRE(inf.inflate(z.data(), z.size(), out, 1 << 20, false) == InflateResult::Ok);
    CHECK(out == msg);
}

TEST_CASE("one inflate stream reads a run of once-compressed messages, as a context-keeping client does") {
    // A receiver may keep one inflater for every message the server sends: each payload must
    // leave the stream at a block boundary, whatever its size.
    MessageDeflater d(6);
    MessageInflater receiver;
    for (size_t len : {size_t{64}, size_t{100}, size_t{126}, size_t{513}, size_t{4000},
                       size_t{16384}, size_t{200000}, size_t{77}}) {
        CAPTURE(len);
        const Bytes msg = bytes_of(json_text(len));
        const Bytes z = compress(d, msg);
        REQUIRE(!z.empty());
        Bytes out;
        REQUIRE(receiver.inflate(z.data(), z.size(), out, 1u << 20, true) == InflateResult::Ok);
        CHECK(out == msg);
    }
}

TEST_CASE("from 128 bytes on the smaller of zlib's default and filtered strategies is kept") {
    // What zlib alone gives with one strategy, from an empty window, tail removed.
    auto with = [](const Bytes& in, int strategy) {
        z_stream z{};
        deflateInit2(&z, 6, Z_DEFLATED, -15, 8, strategy);
        Bytes out(in.size() + 64);
        z.next_in = const_cast<Bytef*>(in.data());
        z.avail_in = static_cast<uInt>(in.size());
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        deflate(&z, Z_SYNC_FLUSH);
        out.resize(out.size() - z.avail_out - 4);
        deflateEnd(&z);
        return out.size();
    };
    MessageDeflater d;
    MessageInflater inf;
    size_t filtered_won = 0;
    for (size_t len : {64, 127, 128, 300, 512, 2048, 8192, 65536}) {
        CAPTURE(len);
        const Bytes in = bytes_of(json_text(len));
        const Bytes c = compress(d, in);
        REQUIRE(!c.empty());
        const size_t best = len < MessageDeflater::kSecondStrategyBytes
                                ? with(in, Z_DEFAULT_STRATEGY)
                                : std::min(with(in, Z_DEFAULT_STRATEGY), with(in, Z_FILTERED));
        CHECK(c.size() == best);
        filtered_won += c.size() < with(in, Z_DEFAULT_STRATEGY);
        Bytes out;
        REQUIRE(inf.inflate(c.data(), c.size(), out, 1u << 20, false) == InflateResult::Ok);
        CHECK(out == in);
    }
    CHECK(filtered_won > 0);  // on repetitive JSON the second try does pay
}
