// Hot-restart handoff: the state of one shard's connections as it crosses from the old
// worker process to the new one (docs/handoff.md has the sequence and a diagram).
//
// The old shard freezes (no recv, no send, no delivery in flight), then describes every
// connection: its socket (sent as an fd over SCM_RIGHTS), its protocol state (parser state,
// message being assembled, input not yet parsed, handshake bytes so far) and its queued
// output (ring references by producer and sequence, plus owned control frames). The ring
// cursors themselves stay in shared memory: the new shard continues from them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/frame_parser.hpp"
#include "worker/connection.hpp"

namespace ringcast::worker::handoff {

inline constexpr uint32_t kWireVersion = 5;
inline constexpr size_t kMaxFdsPerMessage = 253;   // SCM_MAX_FD
inline constexpr size_t kChunkBytes = 32 * 1024;   // SEQPACKET messages stay small

struct OutRecord {
    uint16_t producer;   // 0xFFFF: owned bytes follow
    uint64_t seq;
    uint32_t len;
    std::vector<uint8_t> owned;
};

struct ConnRecord {
    uint32_t fd_index = 0;   // into the fds that came with the state
    uint32_t serial = 0;
    uint8_t state = 0;       // ConnState
    uint8_t msg_op = 0;
    bool msg_active = false;
    bool msg_ready = false;
    bool ping_outstanding = false;
    bool want_close = false;
    // permessage-deflate: the agreement (proto::pack_agreement), whether the message being
    // received is still compressed (it is inflated at its end, after the handoff), and the
    // LZ77 window of a client that keeps its context (docs/handoff.md).
    uint8_t deflate = 0;
    bool msg_compressed = false;
    bool inflate_context = false;
    std::vector<uint8_t> inflate_window;
    // Admission (docs/admission.md): role and counting bits, and the token's subject and
    // expiry and the rate buckets when the connection has them (the buckets' clock is the
    // system-wide monotonic one, so they go on where they were).
    uint8_t admission = 0;
    bool has_grant = false;
    ConnGrant grant;
    std::string channel;  // the channel it joined (docs/channels.md); "" = root, or channels off
    uint64_t rx_age_ns = 0;
    uint64_t age_ns = 0;                 // since accept (tracking survives the handoff)
    uint64_t bytes_in = 0, bytes_out = 0, msgs_in = 0, msgs_out = 0;
    proto::FrameParserState parser{};
    std::vector<uint8_t> assembly;       // the message being received (or complete, unpublished)
    std::vector<uint8_t> pending_input;  // received but not yet parsed (held back by a full ring)
    std::vector<uint8_t> handshake;      // upgrade request bytes so far (Handshake state)
    uint32_t out_offset = 0;             // bytes of the first out frame already sent
    std::vector<OutRecord> out;
};

struct ShardState {
    uint32_t member = 0;
    uint32_t next_serial = 1;
    std::vector<uint64_t> next_seq;  // per producer: first record not yet queued
    std::vector<ConnRecord> conns;
};

std::vector<uint8_t> encode(const ShardState& s);
// Returns false on a malformed or truncated blob (the handoff then fails safely).
bool decode(const std::vector<uint8_t>& blob, ShardState* out);

// Message kinds on the handoff socket (SOCK_SEQPACKET: boundaries and order kept).
enum class Kind : uint8_t { Data = 1, Fds = 2, End = 3, Ack = 4 };

// Blocking helpers over the socket; each returns false on any error.
bool send_shard(int sock, uint32_t member, const std::vector<uint8_t>& blob, const std::vector<int>& fds);
bool send_ack(int sock, uint32_t member);

// Receiving side: collects the blobs and fds of every member until each has its End.
struct Incoming {
    std::vector<uint8_t> blob;
    std::vector<int> fds;
    bool complete = false;
};
// Reads one message into `members` (indexed by member id, sized by the caller).
// Returns 1 on a message, 0 on EOF, -1 on error or a malformed message.
int receive_one(int sock, std::vector<Incoming>& members);
// Old side: waits for one Ack; returns the member, -1 on EOF/error.
int receive_ack(int sock);

}  // namespace ringcast::worker::handoff
