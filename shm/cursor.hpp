// The cursor matrix as a producer reads it: the oldest record any live consumer still needs.
// cursor[c][p] = first record of producer p's ring that consumer c has not released. Only
// Live consumers count; Empty, Starting (not joined yet) and Dead ones are ignored, so a
// dead worker never holds a producer back.
#pragma once

#include <cstdint>

#include "shm/segment.hpp"

namespace ringcast::shm {

// min(head, cursor[c][producer] for every Live c). Starts with a full fence; see cursor.cpp
// for why that makes a consumer joining concurrently safe.
uint64_t min_live_cursor(Segment& seg, uint32_t producer, uint64_t head);

}  // namespace ringcast::shm
