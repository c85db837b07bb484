// What the shard's .cpp files share and nothing outside them needs: the user_data encoding
// that routes each io_uring completion back to its connection, the deadlines that more than
// one part of a connection's life sets, the send scratch arena (the loop owns it,
// shard_send.cpp fills it), and the small members that hot paths in several files call.
// Include it from worker/shard*.cpp only.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "base/wake.hpp"
#include "worker/connection.hpp"
#include "worker/shard.hpp"

namespace ringcast::worker {

inline constexpr uint64_t kMs = 1000000;
inline constexpr uint64_t kLingerNs = 2000 * kMs;

// user_data: kind in the top byte, then the connection slot and its generation, so a
// completion for a socket that was since closed and reused is recognised and ignored.
// kRecvHandshake: a recv from the handshake buffer group (its buffer goes back there).
enum Kind : uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kWake = 4, kCancel = 5, kShutdown = 6, kRecvHandshake = 7 };

inline uint64_t pack(Kind k, uint32_t slot = 0, uint32_t gen = 0) {
    return (static_cast<uint64_t>(k) << 56) | (static_cast<uint64_t>(slot & 0xFFFFFF) << 32) | gen;
}
inline Kind kind_of(uint64_t ud) { return static_cast<Kind>(ud >> 56); }
inline uint32_t slot_of(uint64_t ud) { return static_cast<uint32_t>((ud >> 32) & 0xFFFFFF); }
inline uint32_t gen_of(uint64_t ud) { return static_cast<uint32_t>(ud); }

// The peer's address, read once when a socket becomes ours (accept or adoption).
PeerAddr describe_peer(int fd);

inline constexpr size_t kScratchIov = 8192;   // iovecs prepared between two submits
inline constexpr size_t kScratchMsgs = 1024;  // msghdrs prepared between two submits

// The iovecs and msghdrs of the sendmsgs prepared since the last submit. The kernel copies
// both when it takes the SQE (IORING_FEAT_SUBMIT_STABLE, Linux 5.5+), so one arena serves
// every send and nothing per connection or per send in flight is allocated.
struct SendScratch {
    iovec iov[kScratchIov];
    msghdr msg[kScratchMsgs];
    size_t iov_used = 0;
    size_t msg_used = 0;
};

// The members shard.hpp declares inline: each has callers on hot paths in more than one file.

void Shard::mark_dirty(Connection& c) {
    if (!c.in_dirty) {
        c.in_dirty = true;
        dirty_.push_back(&c);
    }
}

// After a submit: the kernel has copied every prepared msghdr and iovec (SUBMIT_STABLE),
// unless some SQE is still waiting in the queue.
void Shard::scratch_submitted() {
    if (io_uring_sq_ready(uring_.get()) == 0) scratch_->iov_used = scratch_->msg_used = 0;
}

void Shard::wake_consumers() { wake_sleeping_consumers(*producer_, wake_fds_); }

bool Shard::holding(const Connection& c) { return c.in && !c.in->held.empty(); }

}  // namespace ringcast::worker
