// How a producer wakes the consumers that went to sleep on their eventfds (shm/ring.hpp's
// sleep protocol): one write per flagged sleeper, nothing when nobody sleeps. Shards and the
// bridge both publish this way.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <vector>

#include "shm/ring.hpp"

namespace ringcast::worker {

// `wake_fds` holds every member's eventfd, indexed by member (-1 = none).
inline void wake_sleeping_consumers(shm::Producer& producer, const std::vector<int>& wake_fds) {
    producer.wake_sleepers([&wake_fds](uint32_t member) {
        if (member < wake_fds.size() && wake_fds[member] >= 0) {
            uint64_t one = 1;
            (void)!::write(wake_fds[member], &one, sizeof one);
        }
    });
}

}  // namespace ringcast::worker
