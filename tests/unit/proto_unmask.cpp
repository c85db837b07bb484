// Unmasking: the vector paths agree with the byte-at-a-time reference for every length,
// phase and alignment, and resuming mid-frame gives the same bytes as one pass.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "proto/unmask.hpp"

using namespace ringcast::proto;

namespace {

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b = static_cast<uint8_t>(x);
    }
    return v;
}

uint32_t key_of(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const uint8_t bytes[4] = {a, b, c, d};
    uint32_t k;
    std::memcpy(&k, bytes, 4);
    return k;
}

}  // namespace

TEST_CASE("unmask matches the naive loop for every length 0..300, phase 0..3 and alignment") {
    const uint32_t key = key_of(0x37, 0xFA, 0x21, 0x3D);
    for (size_t n = 0; n <= 300; ++n) {
        for (size_t phase = 0; phase < 4; ++phase) {
            for (size_t offset = 0; offset < 8; ++offset) {
                auto fast = pattern(n + 16, static_cast<uint32_t>(n * 31 + phase));
                auto slow = fast;
                unmask(fast.data() + offset, n, key, phase);
                unmask_naive(slow.data() + offset, n, key, phase);
                REQUIRE_MESSAGE(fast == slow,
                                "n=" << n << " phase=" << phase << " offset=" << offset);
            }
        }
    }
}

TEST_CASE("every unmask kernel this CPU can run matches the naive loop") {
    // unmask() picks one kernel per CPU; check the others directly so a machine without
    // AVX2 (or with it) still has every path tested where it can run.
    const uint32_t key = key_of(0x9A, 0x01, 0xC3, 0x7E);
    for (size_t n = 0; n <= 300; ++n) {
        for (size_t offset = 0; offset < 4; ++offset) {
            const auto original = pattern(n + 8, static_cast<uint32_t>(n));
            auto want = original;
            unmask_naive(want.data() + offset, n, key, 0);
            auto words = original;
            detail::unmask_words(words.data() + offset, n, key);
            CHECK(words == want);
#if defined(__x86_64__)
            auto sse2 = original;
            detail::unmask_sse2(sse2.data() + offset, n, key);
            CHECK(sse2 == want);
            if (detail::cpu_has_avx2()) {
                auto avx2 = original;
                detail::unmask_avx2(avx2.data() + offset, n, key);
                CHECK(avx2 == want);
            }
#endif
        }
    }
}

TEST_CASE("unmask leaves the bytes around the range untouched") {
    std::vector<uint8_t> buf(128, 0xAA);
    unmask(buf.data() + 3, 100, 0xFFFFFFFF, 1);
    for (size_t i = 0; i < 3; ++i) CHECK(buf[i] == 0xAA);
    for (size_t i = 103; i < buf.size(); ++i) CHECK(buf[i] == 0xAA);
    for (size_t i = 3; i < 103; ++i) CHECK(buf[i] == 0x55);
}

TEST_CASE("unmask uses the key bytes in wire order") {
    // RFC 6455 5.7: masked "Hello" with key 37 fa 21 3d.
    uint8_t data[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    unmask(data, sizeof data, key_of(0x37, 0xfa, 0x21, 0x3d), 0);
    CHECK(std::memcmp(data, "Hello", 5) == 0);
}

TEST_CASE("unmasking a frame in pieces with the running phase equals one pass") {
    const uint32_t key = key_of(1, 2, 3, 4);
    const auto original = pattern(5000, 7);
    auto whole = original;
    unmask_naive(whole.data(), whole.size(), key, 0);
    for (size_t step : {1u, 3u, 5u, 31u, 33u, 64u, 127u, 1000u}) {
        auto pieces = original;
        size_t done = 0;
        while (done < pieces.size()) {
            const size_t n = std::min(step, pieces.size() - done);
            unmask(pieces.data() + done, n, key, done);
            done += n;
            step = step * 7 % 257 + 1;  // vary piece sizes
        }
        CHECK(pieces == whole);
    }
}

TEST_CASE("unmask with a large phase only uses phase mod 4") {
    auto a = pattern(77, 3);
    auto b = a;
    unmask(a.data(), a.size(), 0xDEADBEEF, 1'000'003);
    unmask_naive(b.data(), b.size(), 0xDEADBEEF, 3);
    CHECK(a == b);
}

TEST_CASE("unmasking twice restores the input") {
    const auto original = pattern(4096 + 13, 11);
    auto buf = original;
    unmask(buf.data() + 1, buf.size() - 1, 0x01020304, 2);
    CHECK(buf != original);
    unmask(buf.data() + 1, buf.size() - 1, 0x01020304, 2);
    CHECK(buf == original);
}
