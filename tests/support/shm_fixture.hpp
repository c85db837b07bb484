// What the shm tests build their segments with: a unique shm name that is unlinked when the
// test ends, a create that fails the test with the segment's own message, the byte pattern
// frames are filled with, and the ring_full counter.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "shm/segment.hpp"

namespace ringcast::shm::test {

// A unique shm name ("/ringcast-ut-<pid>-<n>"), unlinked when the test ends.
struct ScopedName {
    std::string name;
    ScopedName() {
        static int counter = 0;
        name = "/ringcast-ut-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    }
    ~ScopedName() { Segment::remove(name); }
    ScopedName(const ScopedName&) = delete;
    ScopedName& operator=(const ScopedName&) = delete;
};

inline Segment must_create(const std::string& name, Geometry g = {3, 64, 4096},
                           HugepageMode mode = HugepageMode::Off,
                           const std::vector<int>& nodes = {}) {
    auto r = Segment::create(name, g, mode, nodes);
    if (auto* e = std::get_if<std::string>(&r)) FAIL(*e);
    return std::move(std::get<Segment>(r));
}

// Byte i of the frame with sequence number seq.
inline uint8_t pattern(uint64_t seq, uint32_t i) {
    return static_cast<uint8_t>(seq * 131 + i * 7 + 1);
}

// How often member m's producer was refused because its ring or slab was full.
inline uint64_t ring_full(Segment& s, uint32_t m) {
    return s.control(m).stats.ring_full.load(std::memory_order_relaxed);
}

}  // namespace ringcast::shm::test
