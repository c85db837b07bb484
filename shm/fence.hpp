// The one full fence of the ring protocol (limit scan vs join, publish vs sleep). GCC's
// -Wtsan warns that ThreadSanitizer does not model fences; the fence is still emitted and
// the protocol's data accesses are ordered by acquire/release pairs TSan does see.
#pragma once

#include <atomic>

namespace ringcast::shm {

inline void full_fence() {
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
    std::atomic_thread_fence(std::memory_order_seq_cst);
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}

}  // namespace ringcast::shm
