// Supervisor-side transitions of a member's life: Starting (a new process), Dead (reaped).
// Live is set by the member itself in Consumer::join().
#include "shm/control.hpp"

namespace ringcast::shm {

void mark_dead(Segment& seg, uint32_t member) {
    ControlBlock& cb = seg.control(member);
    // seq_cst: producers scanning cursors after their fence stop honouring this member's cursors.
    cb.state.store(static_cast<uint32_t>(MemberState::Dead), std::memory_order_seq_cst);
    cb.sleeping.store(0, std::memory_order_relaxed);           // nobody to wake any more
    cb.stats.connections.store(0, std::memory_order_relaxed);  // its clients are gone with it
    cb.stats.deflate_connections.store(0, std::memory_order_relaxed);
}

void mark_starting(Segment& seg, uint32_t member, pid_t pid) {
    ControlBlock& cb = seg.control(member);
    cb.pid.store(static_cast<int32_t>(pid), std::memory_order_relaxed);
    cb.incarnation.store(cb.incarnation.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
    cb.heartbeat_ns.store(0, std::memory_order_relaxed);
    // Only Empty/Dead -> Starting: a child that already joined (Live) must stay Live, so this
    // may be called before or after the fork. Producers ignore Starting like Dead.
    for (MemberState s : {MemberState::Empty, MemberState::Dead}) {
        uint32_t expected = static_cast<uint32_t>(s);
        if (cb.state.compare_exchange_strong(expected, static_cast<uint32_t>(MemberState::Starting),
                                             std::memory_order_seq_cst)) {
            break;
        }
    }
}

}  // namespace ringcast::shm
