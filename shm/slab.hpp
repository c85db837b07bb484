// The slab arena of one member: a circular log of ready-to-send frames addressed by
// monotonic 64-bit positions (physical offset = position % slab_bytes). A frame never
// straddles the end: when it does not fit before it, the producer skips to the next
// multiple of slab_bytes and the bytes skipped are padding nobody reads. Pure arithmetic;
// the producer (ring.hpp) decides when space is free.
#pragma once

#include <cstdint>

#include "shm/layout.hpp"

namespace ringcast::shm {

struct SlabSpan {
    uint64_t start;  // monotonic position of the frame's first byte
    uint64_t end;    // one past its (8-byte aligned) footprint
};

constexpr uint64_t frame_footprint(uint64_t len) {
    return align_up(len, kFrameAlign);
}

constexpr uint64_t slab_offset(uint64_t pos, uint64_t slab_bytes) {
    return pos % slab_bytes;
}

// Where a frame of `len` bytes goes when the log currently ends at `pos`.
constexpr SlabSpan place_frame(uint64_t pos, uint64_t len, uint64_t slab_bytes) {
    const uint64_t size = frame_footprint(len);
    const uint64_t off = slab_offset(pos, slab_bytes);
    if (off + size > slab_bytes) pos += slab_bytes - off;  // padding up to the wrap
    return {pos, pos + size};
}

// The bytes [tail, tail + slab_bytes) are writable when nobody still reads from `tail` on.
constexpr bool slab_fits(uint64_t end, uint64_t tail, uint64_t slab_bytes) {
    return end - tail <= slab_bytes;
}

static_assert(place_frame(0, 10, 64).start == 0 && place_frame(0, 10, 64).end == 16);
static_assert(place_frame(56, 10, 64).start == 64);  // 16 bytes do not fit in the last 8
static_assert(place_frame(48, 16, 64).start == 48);  // exactly fits before the end
static_assert(place_frame(130, 64, 64).start == 192);

}  // namespace ringcast::shm
