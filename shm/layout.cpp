// Geometry checks shared by create() and attach().
#include "shm/layout.hpp"

namespace ringcast::shm {

std::string validate_geometry(const Geometry& g) {
    if (g.members == 0 || g.members > kMaxMembers) {
        return "members is " + std::to_string(g.members) + ", must be 1.." +
               std::to_string(kMaxMembers);
    }
    if (g.ring_capacity < 2 || g.ring_capacity > kMaxRingCapacity ||
        (g.ring_capacity & (g.ring_capacity - 1)) != 0) {
        return "ring capacity is " + std::to_string(g.ring_capacity) +
               ", must be a power of two in 2.." + std::to_string(kMaxRingCapacity);
    }
    if (g.slab_bytes < kFrameAlign || g.slab_bytes > kMaxSlabBytes ||
        g.slab_bytes % kFrameAlign != 0) {
        return "slab size is " + std::to_string(g.slab_bytes) + " bytes, must be a multiple of " +
               std::to_string(kFrameAlign) + " up to " + std::to_string(kMaxSlabBytes);
    }
    return {};
}

}  // namespace ringcast::shm
