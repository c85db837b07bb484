// UTF-8 validation in three tiers:
//  - a shift-based DFA (one table load, shift and mask per byte) that carries the state
//    between feeds and decides each byte exactly;
//  - an ASCII skip of 8 bytes at a time in front of it;
//  - on AVX2 CPUs, the Keiser-Lemire "lookup" algorithm (as in simdjson) over 64-byte
//    blocks, which checks every byte against its three predecessors with table lookups.
// The SIMD tier only ever starts on a character boundary and hands any sequence left open
// at its end back to the DFA, so the incremental state stays a single DFA byte.
#include "proto/utf8.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ringcast::proto {
namespace {

// States are multiples of 6 so that a state is also the shift that selects its 6-bit field
// in a transition word. kError == 0 makes the error state absorbing with no extra check.
enum : uint8_t {
    kErr = Utf8Validator::kError,
    kAcc = Utf8Validator::kAccept,
    kTail1 = 12,    // one continuation byte 80..BF left
    kTail2 = 18,    // two left
    kTail3 = 24,    // three left
    kAfterE0 = 30,  // E0: A0..BF (anything lower is overlong)
    kAfterED = 36,  // ED: 80..9F (A0..BF would be a surrogate)
    kAfterF0 = 42,  // F0: 90..BF (lower is overlong)
    kAfterF4 = 48,  // F4: 80..8F (higher is above U+10FFFF)
};

constexpr uint64_t edge(uint8_t from, uint8_t to) {
    return static_cast<uint64_t>(to) << from;
}

// The state a byte leads to from kAcc: the start of a character, or kErr for bytes that
// cannot start one (continuations, C0/C1 which only make overlongs, F5..FF).
constexpr uint8_t after_first_byte(unsigned b) {
    if (b <= 0x7F) return kAcc;
    if (b >= 0xC2 && b <= 0xDF) return kTail1;
    if (b == 0xE0) return kAfterE0;
    if (b == 0xED) return kAfterED;
    if (b >= 0xE1 && b <= 0xEF) return kTail2;
    if (b == 0xF0) return kAfterF0;
    if (b >= 0xF1 && b <= 0xF3) return kTail3;
    if (b == 0xF4) return kAfterF4;
    return kErr;
}

constexpr std::array<uint64_t, 256> make_transitions() {
    std::array<uint64_t, 256> t{};
    for (unsigned b = 0; b < 256; ++b) {
        uint64_t w = edge(kAcc, after_first_byte(b));
        if (b >= 0x80 && b <= 0xBF) {
            w |= edge(kTail1, kAcc) | edge(kTail2, kTail1) | edge(kTail3, kTail2);
            if (b >= 0xA0) w |= edge(kAfterE0, kTail1);
            if (b <= 0x9F) w |= edge(kAfterED, kTail1);
            if (b >= 0x90) w |= edge(kAfterF0, kTail2);
            if (b <= 0x8F) w |= edge(kAfterF4, kTail2);
        }
        t[b] = w;
    }
    return t;
}

constexpr std::array<uint64_t, 256> kTransitions = make_transitions();

inline uint8_t step(uint8_t state, uint8_t byte) {
    return static_cast<uint8_t>((kTransitions[byte] >> state) & 63);
}

// DFA with the ASCII skip. Returns where it stopped: `end`, or the first invalid byte
// (with `s` == kErr).
const uint8_t* run_dfa(uint8_t& s, const uint8_t* p, const uint8_t* end) {
    while (p < end) {
        if (s == kAcc) {
            while (end - p >= 8) {
                uint64_t w;
                std::memcpy(&w, p, 8);
                if (w & 0x8080808080808080ull) break;
                p += 8;
            }
            // Finish the ASCII run the word test stopped in (or the < 8 bytes left).
            while (p < end && *p < 0x80) ++p;
            if (p == end) break;
        }
        s = step(s, *p);
        if (s == kErr) return p;
        ++p;
    }
    return p;
}

#if defined(__x86_64__)
#define RC_AVX2 __attribute__((target("avx2")))

RC_AVX2 inline __m256i table16(uint8_t t0, uint8_t t1, uint8_t t2, uint8_t t3, uint8_t t4,
                               uint8_t t5, uint8_t t6, uint8_t t7, uint8_t t8, uint8_t t9,
                               uint8_t t10, uint8_t t11, uint8_t t12, uint8_t t13, uint8_t t14,
                               uint8_t t15) {
    return _mm256_setr_epi8(t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15,
                            t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15);
}

// The last N bytes of `prev` followed by the first 32-N bytes of `in`.
template <int N>
RC_AVX2 inline __m256i prev_bytes(__m256i in, __m256i prev) {
    return _mm256_alignr_epi8(in, _mm256_permute2x128_si256(prev, in, 0x21), 16 - N);
}

RC_AVX2 inline __m256i high_nibble(__m256i v) {
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

// Error bits for the pair (prev1, input), from Keiser & Lemire, "Validating UTF-8 In Less
// Than One Instruction Per Byte" (2021). Each table marks which error classes a nibble is
// compatible with; a class survives the AND only if all three nibbles agree.
RC_AVX2 inline __m256i special_cases(__m256i input, __m256i prev1) {
    constexpr uint8_t kTooShort = 1 << 0;      // lead then ASCII/lead
    constexpr uint8_t kTooLong = 1 << 1;       // ASCII then continuation
    constexpr uint8_t kOverlong3 = 1 << 2;     // E0 80..9F
    constexpr uint8_t kTooLarge = 1 << 3;      // F4 90..BF, F5+ 90..BF
    constexpr uint8_t kSurrogate = 1 << 4;     // ED A0..BF
    constexpr uint8_t kOverlong2 = 1 << 5;     // C0/C1 then continuation
    constexpr uint8_t kTooLarge1000 = 1 << 6;  // F5+ 80..8F
    constexpr uint8_t kOverlong4 = 1 << 6;     // F0 80..8F
    constexpr uint8_t kTwoConts = 1 << 7;      // continuation then continuation
    constexpr uint8_t kCarry = kTooShort | kTooLong | kTwoConts;

    const __m256i byte1_high = _mm256_shuffle_epi8(
        table16(kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong,
                kTwoConts, kTwoConts, kTwoConts, kTwoConts, kTooShort | kOverlong2, kTooShort,
                kTooShort | kOverlong3 | kSurrogate,
                kTooShort | kTooLarge | kTooLarge1000 | kOverlong4),
        high_nibble(prev1));
    const __m256i byte1_low = _mm256_shuffle_epi8(
        table16(kCarry | kOverlong3 | kOverlong2 | kOverlong4, kCarry | kOverlong2, kCarry, kCarry,
                kCarry | kTooLarge, kCarry | kTooLarge | kTooLarge1000,
                kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000,
                kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000,
                kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000,
                kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000 | kSurrogate,
                kCarry | kTooLarge | kTooLarge1000, kCarry | kTooLarge | kTooLarge1000),
        _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)));
    const __m256i byte2_high = _mm256_shuffle_epi8(
        table16(kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort,
                kTooShort,
                kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge1000 | kOverlong4,
                kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge,
                kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge,
                kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge, kTooShort, kTooShort,
                kTooShort, kTooShort),
        high_nibble(input));
    return _mm256_and_si256(_mm256_and_si256(byte1_high, byte1_low), byte2_high);
}

// Third and fourth bytes of 3/4-byte sequences must be continuations and nothing else may
// be one: compare "must be a continuation" (from prev2/prev3) with the kTwoConts bit.
RC_AVX2 inline __m256i check_block(__m256i input, __m256i prev_input) {
    const __m256i sc = special_cases(input, prev_bytes<1>(input, prev_input));
    const __m256i third = _mm256_subs_epu8(prev_bytes<2>(input, prev_input),
                                           _mm256_set1_epi8(static_cast<char>(0xE0 - 0x80)));
    const __m256i fourth = _mm256_subs_epu8(prev_bytes<3>(input, prev_input),
                                            _mm256_set1_epi8(static_cast<char>(0xF0 - 0x80)));
    const __m256i must23 =
        _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8(static_cast<char>(0x80)));
    return _mm256_xor_si256(must23, sc);
}

// Nonzero where the last three bytes start a sequence longer than what follows them.
RC_AVX2 inline __m256i incomplete_at_end(__m256i input) {
    const __m256i max =
        _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, static_cast<char>(0xF0 - 1),
                         static_cast<char>(0xE0 - 1), static_cast<char>(0xC0 - 1));
    return _mm256_subs_epu8(input, max);
}

// [p, p+n), n a multiple of 64, starting on a character boundary: false if any byte is
// invalid given the ones before it. A sequence still open at the end is not an error here.
RC_AVX2 bool blocks_valid_avx2(const uint8_t* p, size_t n) {
    __m256i error = _mm256_setzero_si256();
    __m256i prev_input = _mm256_setzero_si256();
    __m256i prev_incomplete = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i += 64) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32));
        if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
            // All ASCII: only a sequence left open by the previous block can be wrong.
            error = _mm256_or_si256(error, prev_incomplete);
            prev_incomplete = _mm256_setzero_si256();
            prev_input = b;
            continue;
        }
        error = _mm256_or_si256(error, check_block(a, prev_input));
        error = _mm256_or_si256(error, check_block(b, a));
        prev_incomplete = incomplete_at_end(b);
        prev_input = b;
    }
    return _mm256_testz_si256(error, error) != 0;
}

bool cpu_has_avx2() {
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }();
    return has;
}
#endif

}  // namespace

size_t Utf8Validator::feed_prefix(const uint8_t* const begin, size_t n) {
    if (state_ == kErr) return 0;
    const uint8_t* const end = begin + n;
    const uint8_t* p = begin;
    uint8_t s = state_;
    // Close a sequence the previous piece left open, so the bulk starts on a boundary.
    while (s != kAcc && p < end) {
        s = step(s, *p);
        if (s == kErr) {
            state_ = kErr;
            return static_cast<size_t>(p - begin);
        }
        ++p;
    }
#if defined(__x86_64__)
    if (end - p >= 64 && cpu_has_avx2()) {
        const size_t bulk = static_cast<size_t>(end - p) & ~size_t{63};
        if (!blocks_valid_avx2(p, bulk)) {
            // Rare: let the DFA find the exact byte (it lies inside the bulk).
            s = kAcc;
            p = run_dfa(s, p, p + bulk);
            state_ = kErr;
            return static_cast<size_t>(p - begin);
        }
        // Hand a sequence left open at the end of the bulk back to the DFA: step back to
        // its lead byte (a lead within the last three bytes; earlier ones are complete).
        const uint8_t* q = p + bulk;
        for (int k = 1; k <= 3; ++k) {
            const uint8_t b = q[-k];
            if ((b & 0xC0) != 0x80) {
                if (b >= 0xC0) q -= k;
                break;
            }
        }
        p = q;
    }
#endif
    p = run_dfa(s, p, end);
    state_ = s;
    return static_cast<size_t>(p - begin);
}

bool utf8_valid(const uint8_t* p, size_t n) {
    Utf8Validator v;
    return v.feed(p, n) && v.complete();
}

bool detail::utf8_valid_dfa(const uint8_t* p, size_t n) {
    uint8_t s = kAcc;
    run_dfa(s, p, p + n);
    return s == kAcc;
}

bool utf8_valid_naive(const uint8_t* p, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t b = p[i];
        if (b < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        uint32_t min;
        if ((b & 0xE0) == 0xC0) {
            len = 2, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4, cp = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            const uint8_t c = p[i + k];
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

}  // namespace ringcast::proto
