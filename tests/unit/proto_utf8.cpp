// UTF-8 validation: the classic malformed cases (after Markus Kuhn's stress test), every
// valid sequence split at every feed boundary, and agreement between the DFA/SIMD validator
// and the naive decoder on generated input long enough to exercise the SIMD blocks.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "proto/utf8.hpp"

using namespace ringcast::proto;

namespace {

const uint8_t* bytes(std::string_view s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

bool valid(std::string_view s) {
    return utf8_valid(bytes(s), s.size());
}
bool naive(std::string_view s) {
    return utf8_valid_naive(bytes(s), s.size());
}

// Whole, then in two pieces at every offset, then byte by byte: all must agree.
bool valid_any_split(std::string_view s) {
    const bool whole = valid(s);
    for (size_t i = 0; i <= s.size(); ++i) {
        Utf8Validator v;
        const bool ok = v.feed(bytes(s), i) && v.feed(bytes(s) + i, s.size() - i) && v.complete();
        REQUIRE_MESSAGE(ok == whole, "split at " << i);
    }
    Utf8Validator v;
    bool ok = true;
    for (size_t i = 0; i < s.size() && ok; ++i) ok = v.feed(bytes(s) + i, 1);
    REQUIRE((ok && v.complete()) == whole);
    REQUIRE(naive(s) == whole);
    REQUIRE(detail::utf8_valid_dfa(bytes(s), s.size()) == whole);
    return whole;
}

// Pads a case so it also lands inside, across and after a 64-byte SIMD block.
std::vector<std::string> placements(std::string_view s) {
    std::vector<std::string> out{std::string(s)};
    for (size_t pad : {1u, 30u, 31u, 32u, 33u, 61u, 62u, 63u, 64u, 65u, 127u, 190u}) {
        out.push_back(std::string(pad, 'a') + std::string(s));
        out.push_back(std::string(pad, 'a') + std::string(s) + std::string(200, 'b'));
        out.push_back(std::string(pad, 'a') + std::string(s) + "\xc3\xa9" + std::string(100, 'c'));
    }
    return out;
}

void expect_valid(std::string_view s) {
    for (const auto& p : placements(s)) CHECK_MESSAGE(valid_any_split(p), "len " << p.size());
}
void expect_invalid(std::string_view s) {
    for (const auto& p : placements(s)) CHECK_FALSE_MESSAGE(valid_any_split(p), "len " << p.size());
}

}  // namespace

TEST_CASE("empty input and plain ASCII are valid") {
    CHECK(valid(""));
    expect_valid("hello, world");
    expect_valid(std::string(1000, 'x'));
    expect_valid(std::string_view("\0\x7f", 2));
}

TEST_CASE("well-formed sequences of every length are valid, including the boundaries") {
    expect_valid("\xc2\x80");          // U+0080, first 2-byte
    expect_valid("\xdf\xbf");          // U+07FF, last 2-byte
    expect_valid("\xe0\xa0\x80");      // U+0800, first 3-byte
    expect_valid("\xed\x9f\xbf");      // U+D7FF, just below the surrogates
    expect_valid("\xee\x80\x80");      // U+E000, just above
    expect_valid("\xef\xbf\xbd");      // U+FFFD
    expect_valid("\xef\xbf\xbf");      // U+FFFF (noncharacters are valid UTF-8)
    expect_valid("\xf0\x90\x80\x80");  // U+10000, first 4-byte
    expect_valid("\xf4\x8f\xbf\xbf");  // U+10FFFF, the last code point
    expect_valid("κόσμε");             // Kuhn's first test
    expect_valid("Привет, мир! 你好世界 🎉👍 ça va?");
}

TEST_CASE("overlong encodings are rejected") {
    expect_invalid("\xc0\xaf");              // '/' in 2 bytes
    expect_invalid("\xc1\xbf");              // U+007F in 2 bytes
    expect_invalid("\xc0\x80");              // NUL in 2 bytes
    expect_invalid("\xe0\x80\xaf");          // '/' in 3 bytes
    expect_invalid("\xe0\x9f\xbf");          // U+07FF in 3 bytes
    expect_invalid("\xf0\x80\x80\xaf");      // '/' in 4 bytes
    expect_invalid("\xf0\x8f\xbf\xbf");      // U+FFFF in 4 bytes
    expect_invalid("\xf8\x80\x80\x80\xaf");  // 5-byte form
    expect_invalid("\xfc\x80\x80\x80\x80\xaf");
}

TEST_CASE("UTF-16 surrogates are rejected") {
    expect_invalid("\xed\xa0\x80");              // U+D800
    expect_invalid("\xed\xad\xbf");              // U+DB7F
    expect_invalid("\xed\xb0\x80");              // U+DC00
    expect_invalid("\xed\xbf\xbf");              // U+DFFF
    expect_invalid("\xed\xa0\x80\xed\xb0\x80");  // a surrogate pair spelled out
}

TEST_CASE("code points above U+10FFFF and bytes that never occur are rejected") {
    expect_invalid("\xf4\x90\x80\x80");  // U+110000
    expect_invalid("\xf7\xbf\xbf\xbf");
    for (int b = 0xF5; b <= 0xFF; ++b)
        expect_invalid(std::string(1, static_cast<char>(b)) + "\x80\x80\x80");
    expect_invalid("\xc0");
    expect_invalid("\xc1");
    expect_invalid("\xfe");
    expect_invalid("\xff");
}

TEST_CASE("stray and missing continuation bytes are rejected") {
    expect_invalid("\x80");
    expect_invalid("\xbf");
    expect_invalid("a\x80z");
    expect_invalid("\xc3\xa9\x80");      // one continuation too many
    expect_invalid("\xc3z");             // lead then ASCII
    expect_invalid("\xe2\x82z");         // 3-byte cut by ASCII
    expect_invalid("\xf0\x9f\x98z");     // 4-byte cut by ASCII
    expect_invalid("\xe2\x82\xc3\xa9");  // lead interrupted by another lead
}

TEST_CASE("a sequence truncated at the end is rejected, but not while more may come") {
    for (std::string_view t : {"\xc3", "\xe2", "\xe2\x82", "\xf0", "\xf0\x9f", "\xf0\x9f\x98"}) {
        expect_invalid(t);
        Utf8Validator v;
        CHECK(v.feed(bytes(t), t.size()));
        CHECK_FALSE(v.complete());
    }
}

TEST_CASE("the validator fails at the first impossible byte, not at the end") {
    Utf8Validator v;
    CHECK(v.feed(bytes("\xf4"), 1));
    CHECK_FALSE(v.feed(bytes("\x90"), 1));  // F4 90 can only be > U+10FFFF
    Utf8Validator e0;
    CHECK(e0.feed(bytes("\xe0"), 1));
    CHECK_FALSE(e0.feed(bytes("\x9f"), 1));  // overlong, decided at the second byte
    Utf8Validator ed;
    CHECK(ed.feed(bytes("\xed"), 1));
    CHECK_FALSE(ed.feed(bytes("\xa0"), 1));  // surrogate, decided at the second byte
}

TEST_CASE("an error is sticky until reset") {
    Utf8Validator v;
    CHECK_FALSE(v.feed(bytes("\xff"), 1));
    CHECK_FALSE(v.feed(bytes("abc"), 3));
    CHECK_FALSE(v.complete());
    v.reset();
    CHECK(v.feed(bytes("abc"), 3));
    CHECK(v.complete());
}

TEST_CASE("every valid multi-byte character survives a feed boundary at every offset") {
    const std::string text = "a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xed\x9f\xbf.";
    for (size_t i = 0; i <= text.size(); ++i) {
        for (size_t j = i; j <= text.size(); ++j) {
            Utf8Validator v;
            CHECK(v.feed(bytes(text), i));
            CHECK(v.feed(bytes(text) + i, j - i));
            CHECK(v.feed(bytes(text) + j, text.size() - j));
            CHECK(v.complete());
        }
    }
}

TEST_CASE("validator agrees with the naive decoder on generated text of many lengths") {
    // Random code points, ASCII-heavy and multibyte-heavy, then single-byte corruptions.
    uint64_t x = 0x9E3779B97F4A7C15ull;
    auto next = [&x] {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        return x;
    };
    auto encode = [](std::string& s, uint32_t cp) {
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
    };
    int disagreements = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string s;
        const size_t chars = next() % 300;
        const int ascii_percent = static_cast<int>(next() % 101);
        for (size_t i = 0; i < chars; ++i) {
            uint32_t cp;
            if (static_cast<int>(next() % 100) < ascii_percent) {
                cp = static_cast<uint32_t>(next() % 0x80);
            } else {
                const uint32_t ranges[][2] = {
                    {0x80, 0x800}, {0x800, 0xD800}, {0xE000, 0x10000}, {0x10000, 0x110000}};
                const auto& r = ranges[next() % 4];
                cp = r[0] + static_cast<uint32_t>(next() % (r[1] - r[0]));
            }
            encode(s, cp);
        }
        REQUIRE(valid(s));
        REQUIRE(naive(s));
        for (int k = 0; k < 4 && !s.empty(); ++k) {
            std::string bad = s;
            bad[next() % bad.size()] = static_cast<char>(next());
            const bool want = naive(bad);
            if (valid(bad) != want) ++disagreements;
            if (detail::utf8_valid_dfa(bytes(bad), bad.size()) != want) ++disagreements;
            // Also two pieces at a random point.
            const size_t cut = next() % (bad.size() + 1);
            Utf8Validator v;
            const bool split_ok = v.feed(bytes(bad), cut) &&
                                  v.feed(bytes(bad) + cut, bad.size() - cut) && v.complete();
            if (split_ok != want) ++disagreements;
        }
    }
    CHECK(disagreements == 0);
}

TEST_CASE(
    "all 1- and 2-byte inputs and boundary 3- and 4-byte inputs agree with the naive decoder") {
    // Each candidate also sits across the 64-byte SIMD block edge inside ASCII padding.
    const uint8_t edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xF4, 0xFF};
    int mismatches = 0;
    auto check = [&](const uint8_t* s, size_t n) {
        const bool want = utf8_valid_naive(s, n);
        if (utf8_valid(s, n) != want) ++mismatches;
        if (detail::utf8_valid_dfa(s, n) != want) ++mismatches;
        for (size_t at : {size_t{61}, size_t{62}, size_t{63}}) {
            uint8_t buf[192];
            std::memset(buf, 'a', sizeof buf);
            std::memcpy(buf + at, s, n);
            if (utf8_valid(buf, sizeof buf) != want) ++mismatches;
        }
    };
    for (unsigned a = 0; a < 256; ++a) {
        const uint8_t one[1] = {static_cast<uint8_t>(a)};
        check(one, 1);
        for (unsigned b = 0; b < 256; ++b) {
            const uint8_t two[2] = {static_cast<uint8_t>(a), static_cast<uint8_t>(b)};
            check(two, 2);
            if (a < 0xE0 || a > 0xF7) continue;
            for (uint8_t c : edges) {
                const uint8_t three[3] = {static_cast<uint8_t>(a), static_cast<uint8_t>(b), c};
                check(three, 3);
                if (a < 0xF0) continue;
                for (uint8_t d : edges) {
                    const uint8_t four[4] = {static_cast<uint8_t>(a), static_cast<uint8_t>(b), c,
                                             d};
                    check(four, 4);
                }
            }
        }
    }
    CHECK(mismatches == 0);
}
