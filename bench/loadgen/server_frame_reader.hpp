// The client's side of RFC 6455 framing: a resumable reader of server-to-client frames
// (unmasked), fed socket bytes split anywhere. It never buffers a payload: of each data
// message it keeps only the first kPayloadCapture bytes (all a receiver needs), and control
// payloads (<= 125 bytes). Fragmented messages are reassembled in the same way.
//
// permessage-deflate (enable_deflate(), once the server agreed): a message with RSV1 on its
// first frame is gathered whole (the server compresses with no context, so it inflates on
// its own), inflated by the inflater given, and reported with its inflated head and length.
//
// Handler (compile-time):
//   void on_message(proto::Opcode op, const uint8_t* head, size_t head_len, uint64_t len);
//   void on_ping(const uint8_t* p, size_t n);
//   void on_close(uint16_t code, std::string_view reason);
// Errors are values: feed() returns nullptr or a static reason, and the reader stays failed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <vector>

#include "bench/loadgen/payload.hpp"
#include "proto/message_deflate.hpp"
#include "proto/opcode.hpp"

namespace ringcast::bench {

class ServerFrameReader {
  public:
    template <class Handler>
    const char* feed(const uint8_t* data, size_t n, Handler& h);

    // `inflater` (no context kept) and `scratch` are shared by a reactor's connections.
    void enable_deflate(proto::MessageInflater* inflater, std::vector<uint8_t>* scratch) {
        inflater_ = inflater;
        scratch_ = scratch;
    }
    bool failed() const { return error_ != nullptr; }
    bool closed() const { return closed_; }

  private:
    template <class Handler>
    const char* end_frame(Handler& h);

    uint64_t remaining_ = 0;    // payload bytes of the current frame still to come
    uint64_t message_len_ = 0;  // payload bytes of the current message so far
    const char* error_ = nullptr;
    uint8_t header_have_ = 0;
    uint8_t opcode_ = 0;          // of the current frame
    uint8_t message_opcode_ = 0;  // Text/Binary while a message is open
    uint8_t in_payload_ = 0;
    uint8_t fin_ = 0;
    uint8_t head_have_ = 0;
    uint8_t control_len_ = 0;
    bool closed_ = false;
    bool compressed_ = false;  // the open message had RSV1
    proto::MessageInflater* inflater_ = nullptr;
    std::vector<uint8_t>* scratch_ = nullptr;
    std::vector<uint8_t> deflated_;  // a compressed message's payload until its end
    uint8_t header_[10] = {};
    uint8_t head_[kPayloadCapture] = {};
    uint8_t control_[125] = {};
};

template <class Handler>
const char* ServerFrameReader::end_frame(Handler& h) {
    in_payload_ = 0;
    switch (static_cast<proto::Opcode>(opcode_)) {
        case proto::Opcode::Ping:
            h.on_ping(control_, control_len_);
            return nullptr;
        case proto::Opcode::Pong:
            return nullptr;
        case proto::Opcode::Close: {
            if (control_len_ == 1) return error_ = "close payload of 1 byte";
            uint16_t code = 1005;
            std::string_view reason;
            if (control_len_ >= 2) {
                code = static_cast<uint16_t>((control_[0] << 8) | control_[1]);
                reason = {reinterpret_cast<const char*>(control_ + 2),
                          static_cast<size_t>(control_len_ - 2)};
            }
            closed_ = true;
            h.on_close(code, reason);
            return nullptr;
        }
        default:
            break;
    }
    if (!fin_) return nullptr;
    if (compressed_) {
        compressed_ = false;
        const proto::InflateResult r =
            inflater_->inflate(deflated_.data(), deflated_.size(), *scratch_, 1u << 30, false);
        deflated_.clear();
        if (r != proto::InflateResult::Ok) return error_ = "compressed message does not inflate";
        h.on_message(static_cast<proto::Opcode>(message_opcode_), scratch_->data(),
                     std::min(scratch_->size(), kPayloadCapture), scratch_->size());
    } else {
        h.on_message(static_cast<proto::Opcode>(message_opcode_), head_, head_have_, message_len_);
    }
    message_opcode_ = 0;
    message_len_ = 0;
    head_have_ = 0;
    return nullptr;
}

template <class Handler>
const char* ServerFrameReader::feed(const uint8_t* data, size_t n, Handler& h) {
    if (error_) return error_;
    size_t pos = 0;
    while (pos < n && !closed_) {
        if (!in_payload_) {
            // Gather the 2-byte header, then its extended length; a split header waits here.
            const uint8_t* hd;
            size_t avail;
            if (header_have_ == 0 && n - pos >= 10) {
                hd = data + pos;
                avail = n - pos;
            } else {
                const size_t take = std::min<size_t>(n - pos, 10 - header_have_);
                std::memcpy(header_ + header_have_, data + pos, take);
                hd = header_;
                avail = header_have_ + take;
            }
            if (avail < 2) {
                header_have_ = static_cast<uint8_t>(avail);
                return nullptr;
            }
            const uint8_t b0 = hd[0], b1 = hd[1];
            if (b0 & 0x30) return error_ = "reserved bits set";
            const bool rsv1 = (b0 & 0x40) != 0;
            if (rsv1 && !inflater_) return error_ = "RSV1 without permessage-deflate";
            if (b1 & 0x80) return error_ = "server frame is masked";
            const uint8_t op = b0 & 0x0F;
            if (!proto::opcode_known(op)) return error_ = "unknown opcode";
            const bool control = (op & 0x8) != 0;
            const bool fin = (b0 & 0x80) != 0;
            const uint8_t len7 = b1 & 0x7F;
            const size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
            if (avail < 2 + ext) {
                header_have_ = static_cast<uint8_t>(avail);
                return nullptr;
            }
            uint64_t len = len7;
            if (ext) {
                len = 0;
                for (size_t i = 0; i < ext; ++i) len = (len << 8) | hd[2 + i];
            }
            if (rsv1 && (control || op == 0)) return error_ = "RSV1 on a control or continuation frame";
            if (control) {
                if (!fin) return error_ = "fragmented control frame";
                if (len > 125) return error_ = "control frame over 125 bytes";
                control_len_ = 0;
            } else if (op == 0) {
                if (!message_opcode_) return error_ = "continuation without a message";
            } else {
                if (message_opcode_) return error_ = "new message inside a fragmented one";
                message_opcode_ = op;
                message_len_ = 0;
                head_have_ = 0;
                compressed_ = rsv1;
            }
            pos += 2 + ext - header_have_;  // header bytes that came from this chunk
            header_have_ = 0;
            opcode_ = op;
            fin_ = fin;
            remaining_ = len;
            in_payload_ = 1;
            if (!control) message_len_ += len;
            if (len != 0) continue;
        } else {
            const size_t avail = static_cast<size_t>(std::min<uint64_t>(remaining_, n - pos));
            const uint8_t* p = data + pos;
            if (opcode_ & 0x8) {
                std::memcpy(control_ + control_len_, p, avail);
                control_len_ = static_cast<uint8_t>(control_len_ + avail);
            } else if (compressed_) {
                deflated_.insert(deflated_.end(), p, p + avail);
            } else if (head_have_ < kPayloadCapture) {
                const size_t take = std::min(avail, kPayloadCapture - head_have_);
                std::memcpy(head_ + head_have_, p, take);
                head_have_ = static_cast<uint8_t>(head_have_ + take);
            }
            pos += avail;
            remaining_ -= avail;
            if (remaining_ != 0) continue;
        }
        if (const char* e = end_frame(h)) return e;
    }
    return nullptr;
}

}  // namespace ringcast::bench
