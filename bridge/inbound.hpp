/*
 * How one other node's message enters this node's ring: whether anybody here wants it (a
 * message on a channel only when some member counts a subscriber of that channel, see
 * shm/channel_hash.hpp), and the record it becomes: one unmasked server frame (FIN set) with
 * the channel's name right after it (shm/layout.hpp: channel_name_offset without a compressed
 * variant is the frame's length), committed with channel_len.
 */
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "bridge/stream_entry.hpp"
#include "proto/encoder.hpp"
#include "shm/channel_hash.hpp"
#include "shm/segment.hpp"

namespace ringcast::bridge {

// True for a message without a channel, and for one on a channel some member of the node
// has a subscriber on (the count is never below the true one: a collision may let a message
// in, never keep one out). `seed` is the segment's address_seed.
inline bool wanted_here(const shm::Segment& segment, uint64_t seed, std::string_view channel) {
    return channel.empty() || shm::node_channel_count(segment, shm::channel_slots(channel, seed)) > 0;
}

// The sizes of the record a message becomes.
struct InboundRecord {
    uint64_t header = 0;       // bytes of the frame header
    uint64_t frame_len = 0;    // header + payload
    uint16_t channel_len = 0;  // bytes of the name after the frame
    uint64_t bytes() const { return frame_len + channel_len; }  // what to reserve
};
inline InboundRecord inbound_record(const StreamMessage& m) {
    InboundRecord r;
    r.header = proto::frame_header_size(m.payload.size());
    r.frame_len = r.header + m.payload.size();
    r.channel_len = static_cast<uint16_t>(m.channel.size());  // decode_entry() bounds it
    return r;
}

// Writes the record into `out` (r.bytes() reserved); commit(r.frame_len, origin, r.channel_len).
inline void write_inbound_record(uint8_t* out, const StreamMessage& m, const InboundRecord& r) {
    proto::encode_frame_header(out, m.op, m.payload.size());
    if (!m.payload.empty()) std::memcpy(out + r.header, m.payload.data(), m.payload.size());
    if (r.channel_len) std::memcpy(out + r.frame_len, m.channel.data(), r.channel_len);
}

}  // namespace ringcast::bridge
