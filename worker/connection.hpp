// One client connection as a shard sees it: its socket, protocol state and send queue.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/frame_parser.hpp"
#include "proto/handshake.hpp"
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
    static constexpr uint16_t kReplay = 0xFFFF;  // bytes live in Connection::replay (handed over)
    uint16_t bid;
    uint32_t offset;
    uint32_t len;
};

struct Connection {
    int fd = -1;
    uint32_t slot = 0;        // index in the shard's connection table
    uint32_t generation = 0;  // bumps on reuse, so late completions for a old socket are ignored
    uint32_t serial = 0;      // shard-unique id carried as the ring record's origin
    ConnState state = ConnState::Handshake;

    std::unique_ptr<proto::HandshakeParser> handshake;  // only until the upgrade completes
    std::string handshake_bytes;  // the request so far, so a hot restart can replay it
    proto::FrameParser parser;

    // Message being received. A message wholly inside one recv chunk is published straight
    // from that chunk (`direct`); anything longer is gathered in `assembly`.
    proto::Opcode msg_op = proto::Opcode::Binary;
    bool msg_active = false;
    bool msg_ready = false;  // complete but not yet published (ring was full)
    const uint8_t* direct = nullptr;
    size_t direct_len = 0;
    std::vector<uint8_t> assembly;

    SendQueue out;
    bool send_inflight = false;
    uint32_t send_batch = 0;       // SendBatch in use while send_inflight
    uint32_t inflight_frames = 0;  // queue entries the kernel may still be reading
    bool recv_armed = false;
    bool in_dirty = false;     // listed for a send this iteration
    bool starved = false;
    bool in_paused = false;    // listed in the shard's paused_ (input held back)      // recv ended on an empty buffer pool: re-arm when buffers return
    bool slow = false;         // over its buffer bound: close after this pass
    bool want_close = false;   // close once the queue is flushed
    uint32_t open_index = UINT32_MAX;  // position in the shard's open list
    std::vector<HeldChunk> held;       // pushback: chunks not yet fed
    std::vector<uint8_t> replay;       // unparsed input handed over by a previous process
    std::vector<uint32_t> held_from;   // queued ring frames per producer (pins that ring's cursor)

    // Tracking (probes --connections, connection_log): cheap counters, always kept.
    char peer[48] = {};            // "ip:port"
    uint64_t opened_ns = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t msgs_in = 0;
    uint64_t msgs_out = 0;
    uint16_t close_code = 0;       // the code we sent (or echoed), 0 = none (TCP only)

    uint64_t last_rx_ns = 0;
    uint64_t linger_deadline_ns = 0;
    bool ping_outstanding = false;
    uint64_t ping_sent_ns = 0;
};

}  // namespace ringcast::worker
