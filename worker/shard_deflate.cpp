// Compression (permessage-deflate, docs/compression.md): the compressed variant a producer
// writes beside the plain frame, inflating a client's compressed message before it is
// published, and the cluster-wide switch that says whether any connection would read a
// compressed variant at all. The negotiation itself is at the upgrade (shard_accept.cpp).
#include <cstring>

#include "proto/close_code.hpp"
#include "proto/encoder.hpp"
#include "proto/extension_offer.hpp"
#include "proto/utf8.hpp"
#include "shm/control.hpp"
#include "worker/shard.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

// Producers compress only while some connection anywhere negotiated the extension: a plain
// cluster pays nothing. Read every housekeeping pass (one relaxed load per member); a client
// that negotiates meanwhile gets plain frames until then, which are valid for it too.
void Shard::refresh_cluster_deflate() {
    bool any = deflate_open_ > 0;
    for (uint32_t m = 0; m < members_ && !any; ++m) {
        const shm::ControlBlock& cb = segment_.control(m);
        if (shm::state_of(cb) != shm::MemberState::Live) continue;
        any = cb.stats.deflate_connections.load(std::memory_order_relaxed) != 0;
    }
    cluster_deflate_ = any;
}

// Writes the compressed frame of a message at `out` (room: kMaxFrameHeader + len + 3) and
// returns its length, or 0 when compressing does not shrink the payload (then every client
// gets the plain frame).
uint32_t Shard::write_deflated(const uint8_t* payload, size_t len, proto::Opcode op, uint8_t* out) {
    if (!deflater_)
        deflater_ =
            std::make_unique<proto::MessageDeflater>(static_cast<int>(settings_.compression_level));
    // The payload goes where the longest header would end, and moves back once its length,
    // and so its header's size, is known.
    uint8_t* body = out + proto::kMaxFrameHeader;
    const size_t n = deflater_->compress(payload, len, body, len + 3);  // room for < len only
    if (n == 0) return 0;
    const size_t header = proto::encode_frame_header(out, op, n);
    out[0] |= 0x40;  // RSV1: a compressed message (RFC 7692 §6)
    std::memmove(out + header, body, n);
    auto& stats = segment_.control(options_.member).stats;
    shm::count(stats.deflated_messages);
    shm::count(stats.deflate_bytes_in, len);
    shm::count(stats.deflate_bytes_out, n);
    return static_cast<uint32_t>(header + n);
}

// Replaces a complete compressed message with its inflated bytes (in.direct, pointing into the
// shard's buffer), or records why it cannot be published (in.inflate_violation) and returns
// false.
bool Shard::inflate_message(Connection& c, ConnInput& in) {
    const proto::DeflateAgreement a = proto::unpack_agreement(c.deflate);
    proto::MessageInflater* inflater;
    if (a.client_no_context_takeover) {
        // Nothing survives between messages: one inflater serves every such client.
        if (!shared_inflater_) shared_inflater_ = std::make_unique<proto::MessageInflater>(15);
        inflater = shared_inflater_.get();
    } else {
        auto& kept = kept_inflaters_[c.slot];
        if (!kept) kept = std::make_unique<proto::MessageInflater>(a.client_window_bits);
        inflater = kept.get();
    }
    const uint8_t* src = in.direct ? in.direct : in.assembly.data();
    const size_t n = in.direct ? in.direct_len : in.assembly.size();
    const proto::InflateResult r = inflater->inflate(
        src, n, inflate_out_, settings_.max_message_bytes, !a.client_no_context_takeover);
    auto& stats = segment_.control(options_.member).stats;
    if (r == proto::InflateResult::TooBig) {
        in.inflate_violation = {proto::close_code::TooBig, "message too big when inflated"};
    } else if (r == proto::InflateResult::Corrupt) {
        in.inflate_violation = {proto::close_code::InvalidPayload, "invalid DEFLATE data"};
    } else if (in.msg_op == proto::Opcode::Text &&
               !proto::utf8_valid(inflate_out_.data(), inflate_out_.size())) {
        in.inflate_violation = {proto::close_code::InvalidPayload, "invalid UTF-8 in text message"};
    }
    if (in.inflate_violation) {
        shm::count(stats.inflate_errors);
        return false;
    }
    shm::count(stats.inflated_messages);
    // The message is now the inflated bytes, published from the shard's buffer like a message
    // lying in a receive buffer (`direct`): if the ring is full, feed_frames() copies it into
    // the connection's assembly before the buffer is used again. No allocation per message.
    in.direct = inflate_out_.empty() ? nullptr : inflate_out_.data();
    in.direct_len = inflate_out_.size();
    in.assembly.clear();  // the compressed bytes, if the message was gathered
    in.msg_compressed = false;
    return true;
}

}  // namespace ringcast::worker
