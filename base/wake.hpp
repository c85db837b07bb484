// How a producer wakes the consumers that went to sleep on their eventfds (shm/ring.hpp's
// sleep protocol): one write per flagged sleeper, nothing when nobody sleeps. Shards and the
// bridge both publish this way. The producer is a template parameter so that base/ needs
// nothing of shm/: anything with `wake_sleepers(callback(member))` will do.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <vector>

namespace ringcast {

// Adds one to an eventfd; a full counter or a closed fd only means the sleeper is awake or gone.
inline void wake_eventfd(int fd) {
    uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);
}

// `wake_fds` holds every member's eventfd, indexed by member (-1 = none).
template <class Producer>
inline void wake_sleeping_consumers(Producer& producer, const std::vector<int>& wake_fds) {
    producer.wake_sleepers([&wake_fds](uint32_t member) {
        if (member < wake_fds.size() && wake_fds[member] >= 0) wake_eventfd(wake_fds[member]);
    });
}

}  // namespace ringcast
