// The incremental parser for client-to-server frames (RFC 6455 5.2-5.5): a resumable state
// machine fed arbitrary chunks of the receive buffer. It unmasks payload in place and hands
// it on without copying, reassembles fragmented messages, validates text as UTF-8 across
// fragments, collects control payloads (<= 125 bytes) and reports every protocol error as a
// Violation (close code + reason). No exceptions, no allocation.
//
// The handler is a compile-time parameter with these members:
//   void on_message_begin(Opcode op);   // Text or Binary: first frame of a message
//   void on_message_data(const uint8_t* p, size_t n);
//                                       // unmasked payload in order, n > 0, any chunking
//   bool on_message_end();              // complete (text fully validated); returning false
//                                       // stops feed() right after this frame
//   void on_ping(const uint8_t* p, size_t n);  // whole payload, n <= 125
//   void on_pong(const uint8_t* p, size_t n);
//   void on_close(uint16_t code, std::string_view reason);  // 1005 if empty; input after it
//                                                           // is ignored
// On a violation, everything before the offending byte has been delivered and nothing at or
// after it, so the events do not depend on how the input was chunked. Data of a message that
// never reaches on_message_end (the peer failed or closed mid-message) must be discarded.
//
// permessage-deflate (RFC 7692): with ParserLimits::permessage_deflate, RSV1 on the first frame
// of a data message marks it compressed (message_compressed() tells the handler in
// on_message_begin); its payload is handed on as it came (still compressed: the handler
// inflates it and checks UTF-8 on the result). RSV1 without the extension, on a continuation
// or on a control frame is a protocol error.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "proto/close_code.hpp"
#include "proto/opcode.hpp"
#include "proto/unmask.hpp"
#include "proto/utf8.hpp"

namespace ringcast::proto {

struct ParserLimits {
    uint64_t max_message_bytes = 16u << 20;
    bool permessage_deflate = false;  // negotiated for this connection: RSV1 may be set
};

// consumed: bytes of this chunk the parser is done with. It is < n only when the handler
// paused (on_message_end returned false): feed the rest again later. After a close it is n
// (the rest is ignored). With a violation it is where parsing stopped (diagnostics only):
// send a Close with violation.code and fail the connection.
struct FeedResult {
    Violation violation;
    size_t consumed;
};

// Why a client's input was rejected. Kept in the parser state as one byte, so the state holds
// no pointers; violation_of() gives the close code and reason.
enum class FrameError : uint8_t {
    None,
    ReservedBits,
    UnknownOpcode,
    Rsv1WithoutExtension,
    Rsv1OnContinuation,
    Rsv1OnControl,
    Unmasked,
    FragmentedControl,
    ControlTooLong,
    ContinuationWithoutMessage,
    MessageInterrupted,
    LengthTopBit,
    MessageTooBig,
    InvalidUtf8,
    TruncatedUtf8,
    CloseOneByte,
    CloseCodeInvalid,
    CloseReasonInvalid,
};

constexpr Violation violation_of(FrameError e) {
    using namespace close_code;
    switch (e) {
        case FrameError::None:
            return {};
        case FrameError::ReservedBits:
            return {ProtocolError, "reserved bits set"};
        case FrameError::UnknownOpcode:
            return {ProtocolError, "unknown opcode"};
        case FrameError::Rsv1WithoutExtension:
            return {ProtocolError, "RSV1 set without permessage-deflate"};
        case FrameError::Rsv1OnContinuation:
            return {ProtocolError, "RSV1 set on a continuation frame"};
        case FrameError::Rsv1OnControl:
            return {ProtocolError, "RSV1 set on a control frame"};
        case FrameError::Unmasked:
            return {ProtocolError, "client frame not masked"};
        case FrameError::FragmentedControl:
            return {ProtocolError, "fragmented control frame"};
        case FrameError::ControlTooLong:
            return {ProtocolError, "control frame over 125 bytes"};
        case FrameError::ContinuationWithoutMessage:
            return {ProtocolError, "continuation frame without a message"};
        case FrameError::MessageInterrupted:
            return {ProtocolError, "new message inside a fragmented message"};
        case FrameError::LengthTopBit:
            return {ProtocolError, "64-bit length has top bit set"};
        case FrameError::MessageTooBig:
            return {TooBig, "message too big"};
        case FrameError::InvalidUtf8:
            return {InvalidPayload, "invalid UTF-8 in text message"};
        case FrameError::TruncatedUtf8:
            return {InvalidPayload, "text message ends inside a UTF-8 sequence"};
        case FrameError::CloseOneByte:
            return {ProtocolError, "close payload of 1 byte"};
        case FrameError::CloseCodeInvalid:
            return {ProtocolError, "invalid close code"};
        case FrameError::CloseReasonInvalid:
            return {InvalidPayload, "close reason not UTF-8"};
    }
    return {ProtocolError, "unknown parser error"};
}

// Bumped whenever FrameParserState's layout or meaning changes, so a hot restart between
// binaries can refuse a state it does not understand.
inline constexpr uint32_t kFrameParserStateVersion = 2;

// Everything the parser knows, as plain bytes: a hot restart copies it to another process.
struct FrameParserState {
    enum class Stage : uint8_t { Header, Payload, Closed, Failed };

    uint64_t remaining = 0;      // payload bytes of the current frame still to come
    uint64_t message_bytes = 0;  // declared length of the current message so far
    uint32_t mask_key = 0;       // as on the wire, native load
    Stage stage = Stage::Header;
    FrameError error = FrameError::None;
    uint8_t phase = 0;         // payload bytes of this frame unmasked so far, mod 4
    uint8_t frame_opcode = 0;  // raw opcode of the current frame
    uint8_t frame_fin = 0;
    uint8_t message_opcode = 0;  // Text/Binary while a message is open, 0 otherwise
    uint8_t header_have = 0;     // bytes of a split header buffered in `header`
    uint8_t control_len = 0;     // bytes of a split control payload buffered in `control`
    uint8_t message_compressed = 0;  // RSV1 on the message's first frame (permessage-deflate)
    Utf8Validator utf8;          // across all frames of a text message
    uint8_t header[14] = {};     // 2 + 8 (length) + 4 (mask key)
    uint8_t control[125] = {};
};
static_assert(std::is_trivially_copyable_v<FrameParserState>);
static_assert(std::is_standard_layout_v<FrameParserState>);
static_assert(sizeof(FrameParserState) == 176, "layout changed: bump kFrameParserStateVersion");

class FrameParser {
  public:
    using State = FrameParserState;

    explicit FrameParser(ParserLimits limits = {}) : limits_(limits) {}
    // Resumes a handed-over state. Limits are not part of it (they are this process's
    // configuration): pass them too, or call set_limits().
    explicit FrameParser(const State& s) : s_(s) {}
    FrameParser(const State& s, ParserLimits limits) : s_(s), limits_(limits) {}

    // Parses `data[0, n)`, unmasking payload in place, calling `h` as frames complete.
    template <class Handler>
    FeedResult feed(uint8_t* data, size_t n, Handler& h);

    bool closed() const { return s_.stage == State::Stage::Closed; }
    bool failed() const { return s_.stage == State::Stage::Failed; }
    bool in_message() const { return s_.message_opcode != 0; }
    // The open message's first frame had RSV1 (its payload is DEFLATE data).
    bool message_compressed() const { return s_.message_compressed != 0; }
    Violation violation() const { return violation_of(s_.error); }

    const State& state() const { return s_; }
    void set_limits(ParserLimits limits) { limits_ = limits; }
    const ParserLimits& limits() const { return limits_; }

  private:
    struct Header {
        size_t size = 0;  // 0 while incomplete
        uint8_t opcode = 0;
        bool fin = false;
        bool rsv1 = false;
        uint64_t len = 0;
        uint32_t key = 0;
    };
    enum class Next { Frame, Pause, Stop };

    FrameError read_header(const uint8_t* h, size_t avail, Header& out) const;
    template <class Handler>
    void begin_frame(const Header& fh, Handler& h);
    template <class Handler>
    Next end_frame(const uint8_t* control, size_t control_len, Handler& h);
    FeedResult fail(FrameError e, size_t consumed) {
        s_.stage = State::Stage::Failed;
        s_.error = e;
        return {violation_of(e), consumed};
    }

    State s_;
    ParserLimits limits_;
};

// Checks run in a fixed order, each as soon as the bytes it needs are present, so the first
// violation is the same however the input was split. Pure: a split header is re-read from the
// start when more bytes arrive.
inline FrameError FrameParser::read_header(const uint8_t* h, size_t avail, Header& out) const {
    if (avail < 2) return FrameError::None;
    const uint8_t b0 = h[0];
    const uint8_t b1 = h[1];
    if (b0 & 0x30) return FrameError::ReservedBits;
    const uint8_t op = b0 & 0x0F;
    const bool rsv1 = (b0 & 0x40) != 0;
    if (rsv1 && !limits_.permessage_deflate) return FrameError::Rsv1WithoutExtension;
    if (!opcode_known(op)) return FrameError::UnknownOpcode;
    if (rsv1 && (op & 0x8)) return FrameError::Rsv1OnControl;
    if (rsv1 && op == 0) return FrameError::Rsv1OnContinuation;
    if (!(b1 & 0x80)) return FrameError::Unmasked;
    const bool fin = (b0 & 0x80) != 0;
    const uint8_t len7 = b1 & 0x7F;
    const bool control = is_control(static_cast<Opcode>(op));
    if (control) {
        if (!fin) return FrameError::FragmentedControl;
    } else if (op == 0) {
        if (s_.message_opcode == 0) return FrameError::ContinuationWithoutMessage;
    } else if (s_.message_opcode != 0) {
        return FrameError::MessageInterrupted;
    }

    // Non-minimal length encodings are accepted (the RFC forbids sending, not receiving
    // them), control frames included: their limit applies to the decoded length.
    const size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (avail < 2 + ext) return FrameError::None;
    uint64_t len = len7;
    if (ext) {
        len = 0;
        for (size_t i = 0; i < ext; ++i) len = (len << 8) | h[2 + i];
        if (len >> 63) return FrameError::LengthTopBit;
    }
    if (control) {
        if (len > 125) return FrameError::ControlTooLong;
    } else {
        // The declared length decides, before any payload is delivered.
        const uint64_t so_far = op == 0 ? s_.message_bytes : 0;
        const uint64_t max = limits_.max_message_bytes;
        if (so_far > max || len > max - so_far) return FrameError::MessageTooBig;
    }

    if (avail < 2 + ext + 4) return FrameError::None;
    std::memcpy(&out.key, h + 2 + ext, 4);
    out.size = 2 + ext + 4;
    out.opcode = op;
    out.fin = fin;
    out.rsv1 = rsv1;
    out.len = len;
    return FrameError::None;
}

template <class Handler>
void FrameParser::begin_frame(const Header& fh, Handler& h) {
    s_.stage = State::Stage::Payload;
    s_.remaining = fh.len;
    s_.mask_key = fh.key;
    s_.phase = 0;
    s_.frame_opcode = fh.opcode;
    s_.frame_fin = fh.fin;
    s_.control_len = 0;
    if (fh.opcode & 0x8) return;
    if (fh.opcode == 0) {
        s_.message_bytes += fh.len;
        return;
    }
    s_.message_opcode = fh.opcode;
    s_.message_compressed = fh.rsv1 ? 1 : 0;
    s_.message_bytes = fh.len;
    s_.utf8.reset();
    h.on_message_begin(static_cast<Opcode>(fh.opcode));
}

template <class Handler>
FrameParser::Next FrameParser::end_frame(const uint8_t* control, size_t control_len, Handler& h) {
    s_.stage = State::Stage::Header;
    switch (static_cast<Opcode>(s_.frame_opcode)) {
        case Opcode::Ping:
            h.on_ping(control, control_len);
            return Next::Frame;
        case Opcode::Pong:
            h.on_pong(control, control_len);
            return Next::Frame;
        case Opcode::Close: {
            uint16_t code = close_code::NoStatus;
            std::string_view reason;
            if (control_len == 1) {
                fail(FrameError::CloseOneByte, 0);
                return Next::Stop;
            }
            if (control_len >= 2) {
                code = static_cast<uint16_t>((control[0] << 8) | control[1]);
                if (!close_code_valid_on_wire(code)) {
                    fail(FrameError::CloseCodeInvalid, 0);
                    return Next::Stop;
                }
                if (!utf8_valid(control + 2, control_len - 2)) {
                    fail(FrameError::CloseReasonInvalid, 0);
                    return Next::Stop;
                }
                reason = {reinterpret_cast<const char*>(control + 2), control_len - 2};
            }
            s_.stage = State::Stage::Closed;
            h.on_close(code, reason);
            return Next::Stop;
        }
        default:
            break;
    }
    if (!s_.frame_fin) return Next::Frame;
    if (s_.message_opcode == static_cast<uint8_t>(Opcode::Text) && !s_.message_compressed &&
        !s_.utf8.complete()) {
        fail(FrameError::TruncatedUtf8, 0);
        return Next::Stop;
    }
    s_.message_opcode = 0;
    s_.message_compressed = 0;
    s_.message_bytes = 0;
    return h.on_message_end() ? Next::Frame : Next::Pause;
}

template <class Handler>
FeedResult FrameParser::feed(uint8_t* data, size_t n, Handler& h) {
    using Stage = State::Stage;
    if (s_.stage == Stage::Failed) return {violation_of(s_.error), 0};
    if (s_.stage == Stage::Closed) return {{}, n};

    size_t pos = 0;
    while (pos < n) {
        const uint8_t* control = s_.control;
        size_t control_len = 0;
        if (s_.stage == Stage::Header) {
            Header fh;
            if (s_.header_have == 0) {
                // Usual case: the whole header is in this chunk; read it where it lies.
                const FrameError e = read_header(data + pos, n - pos, fh);
                if (e != FrameError::None) return fail(e, pos);
                if (fh.size == 0) {
                    s_.header_have = static_cast<uint8_t>(n - pos);
                    std::memcpy(s_.header, data + pos, n - pos);
                    return {{}, n};
                }
                pos += fh.size;
            } else {
                const size_t have = s_.header_have;
                const size_t take = std::min(n - pos, sizeof(s_.header) - have);
                std::memcpy(s_.header + have, data + pos, take);
                const FrameError e = read_header(s_.header, have + take, fh);
                if (e != FrameError::None) return fail(e, pos);
                if (fh.size == 0) {
                    s_.header_have = static_cast<uint8_t>(have + take);
                    return {{}, n};
                }
                pos += fh.size - have;
                s_.header_have = 0;
            }
            begin_frame(fh, h);
            if (s_.remaining != 0) continue;
        } else {
            uint8_t* p = data + pos;
            const size_t avail = static_cast<size_t>(std::min<uint64_t>(s_.remaining, n - pos));
            unmask(p, avail, s_.mask_key, s_.phase);
            s_.phase = static_cast<uint8_t>((s_.phase + avail) & 3);
            s_.remaining -= avail;
            pos += avail;
            if (s_.frame_opcode & 0x8) {
                if (s_.control_len == 0 && s_.remaining == 0) {
                    control = p;  // whole control payload in this chunk: no copy
                    control_len = avail;
                } else {
                    std::memcpy(s_.control + s_.control_len, p, avail);
                    s_.control_len = static_cast<uint8_t>(s_.control_len + avail);
                    control_len = s_.control_len;
                }
            } else {
                if (s_.message_opcode == static_cast<uint8_t>(Opcode::Text) &&
                    !s_.message_compressed) {
                    // Deliver exactly the bytes before the bad one, however the input was
                    // chunked, then fail.
                    const size_t good = s_.utf8.feed_prefix(p, avail);
                    if (good != avail) {
                        if (good) h.on_message_data(p, good);
                        return fail(FrameError::InvalidUtf8, pos - avail + good);
                    }
                }
                h.on_message_data(p, avail);
            }
            if (s_.remaining != 0) continue;
        }
        switch (end_frame(control, control_len, h)) {
            case Next::Frame:
                break;
            case Next::Pause:
                return {{}, pos};
            case Next::Stop:
                if (failed()) return {violation_of(s_.error), pos};
                return {{}, n};
        }
    }
    return {{}, n};
}

}  // namespace ringcast::proto
