// The producer's view of the cursor matrix (cursor.hpp).
//
// Why the fence makes join safe. A consumer c joins with
//     state[c] = Live (seq_cst);  h = head (seq_cst);  cursor[c] = h
// and the producer scans with
//     head stores (release) ... fence(seq_cst);  load state[c];  load cursors
// If the scan reads state[c] != Live, the fence precedes c's Live store in the single total
// order of seq_cst operations, so c's later seq_cst load of head sees at least the head the
// producer had published before the fence. c therefore starts at a cursor >= that head, and
// every record it will read is at or after it. The limit the producer computes from the other
// cursors (all <= that head) only lets it overwrite records before them: it cannot lap c,
// however long it keeps the cached limit. If the scan reads Live, it sees c's cursor as
// stored before or after the join: at worst stale and smaller, which only makes the limit
// tighter (the producer treats a cursor more than a ring behind as "try again").
#include "shm/cursor.hpp"

#include <algorithm>

#include "shm/control.hpp"
#include "shm/fence.hpp"

namespace ringcast::shm {

uint64_t min_live_cursor(Segment& seg, uint32_t producer, uint64_t head) {
    full_fence();  // pairs with the seq_cst state store in Consumer::join() (argument above)
    uint64_t min = head;
    const uint32_t members = seg.members();
    for (uint32_t c = 0; c < members; ++c) {
        if (state_of(seg.control(c)) != MemberState::Live) continue;
        // Pairs with the release in Consumer::release(): the consumer's reads of the record
        // and its slab bytes happen before we overwrite them.
        min = std::min(min, seg.cursor(c, producer).load(std::memory_order_acquire));
    }
    return min;
}

}  // namespace ringcast::shm
