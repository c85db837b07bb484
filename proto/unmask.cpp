// Vectorised unmasking: the key is rotated once to absorb `phase`, then the payload is
// XORed 64/32/16/8 bytes at a time with unaligned loads (the payload sits wherever the
// frame header left it in the receive buffer, so alignment is never known).
#include "proto/unmask.hpp"

#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ringcast::proto {
namespace {

// The key with byte (phase % 4) first, so byte i of the input takes key byte (phase+i)%4.
uint32_t rotate_key(uint32_t key, size_t phase) {
    const int shift = static_cast<int>(phase & 3) * 8;
    if constexpr (std::endian::native == std::endian::little) {
        return std::rotr(key, shift);
    } else {
        return std::rotl(key, shift);
    }
}

// Short inputs and what the vector loops leave; `key` is already phase-aligned at `data`.
inline __attribute__((always_inline)) void xor_words(uint8_t* data, size_t n, uint32_t key) {
    const uint64_t k64 = (static_cast<uint64_t>(key) << 32) | key;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, data + i, 8);
        w ^= k64;
        std::memcpy(data + i, &w, 8);
    }
    if (i + 4 <= n) {
        uint32_t w;
        std::memcpy(&w, data + i, 4);
        w ^= key;
        std::memcpy(data + i, &w, 4);
        i += 4;
    }
    uint8_t kb[4];
    std::memcpy(kb, &key, 4);
    for (size_t j = 0; i < n; ++i, ++j) data[i] ^= kb[j];
}

#if defined(__x86_64__)
inline __attribute__((always_inline)) void xor_sse2(uint8_t* data, size_t n, uint32_t key) {
    const __m128i k = _mm_set1_epi32(static_cast<int>(key));
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        auto* p = reinterpret_cast<__m128i*>(data + i);
        __m128i a = _mm_loadu_si128(p);
        __m128i b = _mm_loadu_si128(p + 1);
        __m128i c = _mm_loadu_si128(p + 2);
        __m128i d = _mm_loadu_si128(p + 3);
        _mm_storeu_si128(p, _mm_xor_si128(a, k));
        _mm_storeu_si128(p + 1, _mm_xor_si128(b, k));
        _mm_storeu_si128(p + 2, _mm_xor_si128(c, k));
        _mm_storeu_si128(p + 3, _mm_xor_si128(d, k));
    }
    for (; i + 16 <= n; i += 16) {
        auto* p = reinterpret_cast<__m128i*>(data + i);
        _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), k));
    }
    xor_words(data + i, n - i, key);
}
#endif

}  // namespace

namespace detail {

void unmask_words(uint8_t* data, size_t n, uint32_t key) {
    xor_words(data, n, key);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void unmask_avx2(uint8_t* data, size_t n, uint32_t key) {
    const __m256i k = _mm256_set1_epi32(static_cast<int>(key));
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        auto* p = reinterpret_cast<__m256i*>(data + i);
        __m256i a = _mm256_loadu_si256(p);
        __m256i b = _mm256_loadu_si256(p + 1);
        __m256i c = _mm256_loadu_si256(p + 2);
        __m256i d = _mm256_loadu_si256(p + 3);
        _mm256_storeu_si256(p, _mm256_xor_si256(a, k));
        _mm256_storeu_si256(p + 1, _mm256_xor_si256(b, k));
        _mm256_storeu_si256(p + 2, _mm256_xor_si256(c, k));
        _mm256_storeu_si256(p + 3, _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= n; i += 32) {
        auto* p = reinterpret_cast<__m256i*>(data + i);
        _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), k));
    }
    if (i + 16 <= n) {
        auto* p = reinterpret_cast<__m128i*>(data + i);
        _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), _mm256_castsi256_si128(k)));
        i += 16;
    }
    xor_words(data + i, n - i, key);
}

void unmask_sse2(uint8_t* data, size_t n, uint32_t key) {
    xor_sse2(data, n, key);
}

bool cpu_has_avx2() {
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }();
    return has;
}
#else
bool cpu_has_avx2() {
    return false;
}
#endif

}  // namespace detail

void unmask(uint8_t* data, size_t n, uint32_t key, size_t phase) {
    using namespace detail;
    key = rotate_key(key, phase);
#if defined(__x86_64__)
    // Below 32 bytes the vector setup costs more than it saves; below 256 the SSE2 loop,
    // inlined here, beats a call into the AVX2 kernel (which cannot be inlined).
    if (n < 32) return xor_words(data, n, key);
    if (n < 256 || !cpu_has_avx2()) return xor_sse2(data, n, key);
    return unmask_avx2(data, n, key);
#else
    xor_words(data, n, key);
#endif
}

void unmask_naive(uint8_t* data, size_t n, uint32_t key, size_t phase) {
    uint8_t kb[4];
    std::memcpy(kb, &key, 4);
    for (size_t i = 0; i < n; ++i) data[i] ^= kb[(phase + i) & 3];
}

}  // namespace ringcast::proto
