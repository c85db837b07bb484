// libFuzzer target for FrameParser. The first two input bytes choose a split point, a
// max_message_bytes value, whether the handler pauses after every message, whether the
// parser state is handed to a fresh parser at the split, and whether the part after the
// split is fed in small pieces too (so a frame can be cut more than once); the rest is
// client traffic. The input is parsed whole and in pieces, and both runs must report the
// same events and the same violation. A checking handler asserts the parser's invariants on the
// way: data only inside a message, never more than the limit, text complete and valid UTF-8 at
// on_message_end, close codes and reasons valid, nothing at all after a close or violation.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "proto/close_code.hpp"
#include "proto/frame_parser.hpp"
#include "proto/utf8.hpp"
#include "tests/support/fuzz_check.hpp"

using namespace ringcast::proto;

namespace {

enum class Kind : uint8_t { Begin, Data, End, Ping, Pong, Close };

struct Event {
    Kind kind;
    uint16_t code;  // opcode for Begin, close code for Close
    std::string bytes;
    bool operator==(const Event&) const = default;
};

struct Checker {
    uint64_t limit = 0;
    bool pause = false;
    bool stopped = false;  // closed, or the harness saw a violation
    bool in_message = false;
    bool text = false;
    std::string message;
    std::vector<Event> events;

    void on_message_begin(Opcode op) {
        FUZZ_CHECK(!stopped && !in_message);
        FUZZ_CHECK(op == Opcode::Text || op == Opcode::Binary);
        in_message = true;
        text = op == Opcode::Text;
        message.clear();
        events.push_back({Kind::Begin, static_cast<uint16_t>(op), {}});
    }
    void on_message_data(const uint8_t* p, size_t n) {
        FUZZ_CHECK(!stopped && in_message && n > 0);
        message.append(reinterpret_cast<const char*>(p), n);
        FUZZ_CHECK(message.size() <= limit);
        // Chunk boundaries are free to differ between runs: merge.
        if (events.back().kind != Kind::Data) events.push_back({Kind::Data, 0, {}});
        events.back().bytes.append(reinterpret_cast<const char*>(p), n);
    }
    bool on_message_end() {
        FUZZ_CHECK(!stopped && in_message);
        if (text) {
            FUZZ_CHECK(
                utf8_valid_naive(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
        }
        in_message = false;
        events.push_back({Kind::End, 0, {}});
        return !pause;
    }
    void on_ping(const uint8_t* p, size_t n) {
        FUZZ_CHECK(!stopped && n <= 125);
        events.push_back({Kind::Ping, 0, std::string(reinterpret_cast<const char*>(p), n)});
    }
    void on_pong(const uint8_t* p, size_t n) {
        FUZZ_CHECK(!stopped && n <= 125);
        events.push_back({Kind::Pong, 0, std::string(reinterpret_cast<const char*>(p), n)});
    }
    void on_close(uint16_t code, std::string_view reason) {
        FUZZ_CHECK(!stopped);
        FUZZ_CHECK(code == close_code::NoStatus ? reason.empty() : close_code_valid_on_wire(code));
        FUZZ_CHECK(reason.size() <= 123);
        FUZZ_CHECK(
            utf8_valid_naive(reinterpret_cast<const uint8_t*>(reason.data()), reason.size()));
        stopped = true;
        events.push_back({Kind::Close, code, std::string(reason)});
    }
};

struct Outcome {
    std::vector<Event> events;
    uint16_t violation = 0;
    bool closed = false;
    bool in_message = false;
};

const uint64_t kLimits[8] = {0, 1, 125, 126, 1000, 65535, 65536, 16u << 20};

// Feeds [0, split) and then the rest, the rest in pieces of `tail_chunk` bytes (0: at once).
Outcome run(const uint8_t* data, size_t size, size_t split, size_t tail_chunk, uint64_t limit,
            bool pause, bool handoff) {
    FrameParser parser(ParserLimits{limit});
    Checker h;
    h.limit = limit;
    h.pause = pause;
    Outcome out;
    std::vector<size_t> bounds{0, split};
    if (tail_chunk) {
        for (size_t b = split + tail_chunk; b < size; b += tail_chunk) bounds.push_back(b);
    }
    bounds.push_back(size);
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
        // Each piece in its own exact-size allocation, so ASan catches reads past it.
        const size_t len = bounds[k + 1] - bounds[k];
        std::unique_ptr<uint8_t[]> piece(new uint8_t[len ? len : 1]);
        if (len) std::memcpy(piece.get(), data + bounds[k], len);
        size_t off = 0;
        while (true) {
            const size_t before = h.events.size();
            const FeedResult r = parser.feed(piece.get() + off, len - off, h);
            if (out.violation) {
                // Already failed: same violation, nothing reported.
                FUZZ_CHECK(r.violation.code == out.violation);
                FUZZ_CHECK(h.events.size() == before);
                break;
            }
            if (r.violation) {
                const uint16_t c = r.violation.code;
                FUZZ_CHECK(c == close_code::ProtocolError || c == close_code::InvalidPayload ||
                           c == close_code::TooBig);
                FUZZ_CHECK(!r.violation.reason.empty());
                FUZZ_CHECK(parser.failed() && !parser.closed());
                out.violation = c;
                h.stopped = true;
                break;
            }
            FUZZ_CHECK(r.consumed <= len - off);
            off += r.consumed;
            if (off == len) break;
            // Only a pause may stop early, right after a message end, having made progress.
            FUZZ_CHECK(pause && r.consumed > 0 && !h.events.empty() &&
                       h.events.back().kind == Kind::End);
        }
        if (k == 0 && handoff) {  // hot restart at the split
            FrameParser::State copy;
            std::memcpy(static_cast<void*>(&copy), &parser.state(), sizeof copy);
            parser = FrameParser(copy, ParserLimits{limit});
        }
    }
    FUZZ_CHECK(parser.closed() == h.stopped || out.violation);
    FUZZ_CHECK(parser.in_message() == h.in_message || out.violation || parser.closed());
    out.events = std::move(h.events);
    out.closed = parser.closed();
    out.in_message = parser.in_message();
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t split_choice = data[0];
    const uint8_t options = data[1];
    data += 2;
    size -= 2;
    const size_t split = size * split_choice / 255;
    const uint64_t limit = kLimits[options & 7];
    const bool pause = options & 0x08;
    const bool handoff = options & 0x10;
    static const size_t kTailChunks[8] = {0, 1, 2, 3, 5, 7, 13, 64};
    const size_t tail_chunk = kTailChunks[options >> 5];

    const Outcome whole = run(data, size, size, 0, limit, pause, false);
    const Outcome pieces = run(data, size, split, tail_chunk, limit, pause, handoff);
    FUZZ_CHECK(whole.violation == pieces.violation);
    FUZZ_CHECK(whole.closed == pieces.closed);
    FUZZ_CHECK(whole.in_message == pieces.in_message);
    FUZZ_CHECK(whole.events == pieces.events);
    return 0;
}
