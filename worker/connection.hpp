// One client connection as a shard sees it: its socket, protocol state and send queue.
//
// Memory: a shard may hold hundreds of thousands of mostly idle connections, so the struct
// keeps only what an idle connection needs. The input side beyond "between frames" (the
// handshake, a frame or message in progress, input held back) lives in a ConnInput taken
// from the shard's pool while needed; the first queued frame sits inline in the SendQueue.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "admission/rate_limit.hpp"
#include "proto/frame_parser.hpp"
#include "proto/handshake.hpp"
#include "proto/message_deflate.hpp"
#include "proto/opcode.hpp"
#include "worker/send_queue.hpp"

namespace ringcast::worker {

enum class ConnState : uint8_t {
    Handshake,  // reading the HTTP upgrade request
    Open,       // exchanging frames; receives broadcasts
    Closing,    // our close frame (or HTTP error) is queued; flush, then shut down
    Lingering,  // flushed and write side shut: drain input until EOF or deadline
};

// A received chunk held back while the shard's ring is full (pushback): the provided
// buffer stays out of the kernel's pool until the chunk is fed.
struct HeldChunk {
    static constexpr uint16_t kReplay = 0xFFFF;  // bytes live in ConnInput::replay
    uint16_t bid;
    uint32_t offset;
    uint32_t len;
};

// The input side of a connection while a fresh parser would not do: during the handshake,
// inside a frame or a message, or while input is held back. At rest it goes back to the
// shard's pool (see Shard::settle_input).
struct ConnInput {
    proto::FrameParser parser;
    std::unique_ptr<proto::HandshakeParser> handshake;  // only until the upgrade completes
    std::string handshake_bytes;  // the request so far, so a hot restart can replay it

    // Message being received. A message wholly inside one recv chunk is published straight
    // from that chunk (`direct`); anything longer is gathered in `assembly`.
    proto::Opcode msg_op = proto::Opcode::Binary;
    bool msg_active = false;
    bool msg_compressed = false;  // permessage-deflate data until inflated at its end
    proto::Violation inflate_violation;  // why the last message could not be inflated
    bool msg_ready = false;  // complete but not yet published (ring was full)
    const uint8_t* direct = nullptr;
    size_t direct_len = 0;
    std::vector<uint8_t> assembly;

    std::vector<HeldChunk> held;   // pushback: chunks not yet fed
    std::vector<uint8_t> replay;   // unparsed input handed over by a previous process

    // Nothing here that a fresh ConnInput would not rebuild: the pool may take it back.
    bool at_rest() const {
        const proto::FrameParserState& s = parser.state();
        return !handshake && !msg_active && !msg_ready && !inflate_violation && held.empty() &&
               replay.empty() &&
               s.stage == proto::FrameParserState::Stage::Header && s.header_have == 0 &&
               s.message_opcode == 0;
    }
};

// The peer's address in binary, formatted only when a log line or a probe asks for it.
struct PeerAddr {
    uint8_t family = 0;  // AF_INET, AF_INET6, or 0 when unknown
    uint16_t port = 0;   // host order
    uint8_t addr[16] = {};
};

// "ip:port" / "[ip6]:port" of a PeerAddr, on the stack.
struct PeerName {
    explicit PeerName(const PeerAddr& a);
    const char* c_str() const { return text; }
    char text[56];
};

// Connection::admission bits: what the upgrade decided. A token's facts (subject, expiry) and
// a connection's rate buckets live in the shard's side table (Shard::grants_), so a
// connection without them pays one byte.
inline constexpr uint8_t kAdmitted = 1;        // passed the upgrade: counted on the node
inline constexpr uint8_t kListener = 2;        // may not publish data messages
inline constexpr uint8_t kAuthenticated = 4;   // admitted with a token (it has a grant)

// What a token (or the rate limit) left on a connection; in Shard::grants_ by slot.
struct ConnGrant {
    std::string subject;                 // the token's sub
    int64_t expires_at_ms = INT64_MAX;   // the token's exp (Unix ms); INT64_MAX = never
    admission::InboundBuckets buckets{};
    bool buckets_set = false;            // filled at the first message under a rate limit
};

struct Connection {
    // Touched for every delivery (deliver_from_rings, flush_sends): kept together up front.
    SendQueue out;
    uint32_t serial = 0;  // shard-unique id carried as the ring record's origin
    ConnState state = ConnState::Handshake;
    bool in_dirty = false;       // listed for a send this iteration
    bool slow = false;           // over its buffer bound: close after this pass
    bool send_inflight = false;
    std::unique_ptr<uint32_t[]> held_from;  // queued ring frames per producer (pins its cursor)

    int fd = -1;
    uint32_t slot = 0;        // index in the shard's connection table
    uint32_t generation = 0;  // bumps on reuse, so late completions for a old socket are ignored
    uint32_t inflight_frames = 0;      // queue entries the kernel may still be reading
    uint32_t open_index = UINT32_MAX;  // position in its channel's open list
    bool recv_armed = false;
    bool recv_handshake = false;  // the armed recv reads from the handshake buffer group
    bool starved = false;         // recv ended on an empty buffer pool: re-arm when buffers return
    bool in_paused = false;       // listed in the shard's paused_ (input held back)
    bool want_close = false;      // close once the queue is flushed
    bool ping_outstanding = false;
    uint16_t close_code = 0;      // the code we sent (or echoed), 0 = none (TCP only)
    uint8_t deflate = 0;          // proto::pack_agreement(): permessage-deflate as negotiated
    uint8_t admission = 0;        // kAdmitted | kListener | ... (docs/admission.md)

    std::unique_ptr<ConnInput> in;  // null at rest (see ConnInput)
    // A client that keeps its LZ77 window has its inflater in the shard's kept_inflaters_,
    // not here: idle and plain connections pay nothing for it.

    // Tracking (probes --connections, connection_log): cheap counters, always kept.
    PeerAddr peer;
    uint32_t channel = 0;  // index in the shard's channel table (0: everyone, channels off)
    uint64_t opened_ns = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t msgs_in = 0;
    uint64_t msgs_out = 0;

    uint64_t last_rx_ns = 0;
    uint64_t linger_deadline_ns = 0;
    uint64_t ping_sent_ns = 0;
};

}  // namespace ringcast::worker
