// XOR-unmasking of client payloads (RFC 6455 5.3), resumable at any byte of a frame.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::proto {

// `key` is the 4 mask bytes as they appear on the wire, loaded with memcpy (native order).
// `phase` is how many payload bytes of this frame were already unmasked, so a frame
// split across reads continues with the right key byte. Any alignment, any length.
// Uses AVX2 when the CPU has it, SSE2 otherwise (x86-64), 8 bytes at a time elsewhere.
void unmask(uint8_t* data, size_t n, uint32_t key, size_t phase);

// Byte-at-a-time reference for tests and benchmarks.
void unmask_naive(uint8_t* data, size_t n, uint32_t key, size_t phase);

// The kernels unmask() picks from, so tests can check each one on any CPU.
// `key` here is already rotated for the phase (byte 0 of `data` takes key byte 0).
namespace detail {
bool cpu_has_avx2();
void unmask_words(uint8_t* data, size_t n, uint32_t key);
void unmask_sse2(uint8_t* data, size_t n, uint32_t key);  // x86-64 only
void unmask_avx2(uint8_t* data, size_t n, uint32_t key);  // only if cpu_has_avx2()
}  // namespace detail

}  // namespace ringcast::proto
