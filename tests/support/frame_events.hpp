// The harness of the frame parser tests: building masked client frames, recording what the
// parser reports as readable events, and expect(), which feeds an input whole, split in two
// at every offset (also handing the parser state to a fresh parser at the split, as a hot
// restart does), in three pieces and byte by byte, and requires the same outcome each time.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "proto/frame_parser.hpp"

namespace ringcast::proto::test {

using Bytes = std::vector<uint8_t>;

// ---- building client frames -------------------------------------------------------------

struct FrameOpts {
    bool fin = true;
    bool masked = true;
    uint8_t rsv = 0;        // 0x40 RSV1, 0x20 RSV2, 0x10 RSV3
    int length_bytes = -1;  // -1: minimal; 0, 2 or 8: force that length encoding
    int raw_opcode = -1;    // overrides the opcode (reserved opcodes)
    std::array<uint8_t, 4> key = {0xA5, 0x3C, 0x0F, 0x96};
    uint64_t declared = ~0ull;  // overrides the declared length (payload is still `payload`)
};

inline Bytes frame(Opcode op, std::string_view payload, FrameOpts o = {}) {
    Bytes f;
    const uint8_t opcode =
        o.raw_opcode >= 0 ? static_cast<uint8_t>(o.raw_opcode) : static_cast<uint8_t>(op);
    f.push_back(static_cast<uint8_t>((o.fin ? 0x80 : 0) | o.rsv | opcode));
    const uint64_t len = o.declared != ~0ull ? o.declared : payload.size();
    int ext = o.length_bytes;
    if (ext < 0) ext = len <= 125 ? 0 : len <= 0xFFFF ? 2 : 8;
    const uint8_t mask_bit = o.masked ? 0x80 : 0;
    if (ext == 0) {
        f.push_back(static_cast<uint8_t>(mask_bit | len));
    } else {
        f.push_back(static_cast<uint8_t>(mask_bit | (ext == 2 ? 126 : 127)));
        for (int i = ext - 1; i >= 0; --i) f.push_back(static_cast<uint8_t>(len >> (8 * i)));
    }
    if (o.masked) f.insert(f.end(), o.key.begin(), o.key.end());
    for (size_t i = 0; i < payload.size(); ++i) {
        const uint8_t b = static_cast<uint8_t>(payload[i]);
        f.push_back(o.masked ? static_cast<uint8_t>(b ^ o.key[i % 4]) : b);
    }
    return f;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

// ---- recording what the parser reports ----------------------------------------------------

// Events as readable strings; consecutive data callbacks merge into one "data:" event, so
// the list does not depend on how the input was chunked.
struct Recorder {
    std::vector<std::string> events;
    bool pause_on_end = false;
    bool in_message = false;
    const uint8_t* chunk = nullptr;  // the piece being fed, to check data is handed in place
    size_t chunk_len = 0;

    void on_message_begin(Opcode op) {
        REQUIRE_FALSE(in_message);
        REQUIRE((op == Opcode::Text || op == Opcode::Binary));
        in_message = true;
        events.push_back(op == Opcode::Text ? "text{" : "binary{");
    }
    void on_message_data(const uint8_t* p, size_t n) {
        REQUIRE(in_message);
        REQUIRE(n > 0);
        REQUIRE(p >= chunk);
        REQUIRE(p + n <= chunk + chunk_len);  // in place: inside the caller's buffer
        if (events.empty() || events.back().rfind("data:", 0) != 0) events.push_back("data:");
        events.back().append(reinterpret_cast<const char*>(p), n);
    }
    bool on_message_end() {
        REQUIRE(in_message);
        in_message = false;
        events.push_back("}");
        return !pause_on_end;
    }
    void on_ping(const uint8_t* p, size_t n) {
        REQUIRE(n <= 125);
        events.push_back("ping:" + std::string(reinterpret_cast<const char*>(p), n));
    }
    void on_pong(const uint8_t* p, size_t n) {
        REQUIRE(n <= 125);
        events.push_back("pong:" + std::string(reinterpret_cast<const char*>(p), n));
    }
    void on_close(uint16_t code, std::string_view reason) {
        events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
    }
};

struct Outcome {
    std::vector<std::string> events;
    uint16_t violation = 0;
    bool closed = false;
    bool operator==(const Outcome&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << "{violation=" << o.violation << " closed=" << o.closed << " events=[";
    for (const auto& e : o.events) {
        os << " \""
           << (e.size() > 60 ? e.substr(0, 60) + "...(" + std::to_string(e.size()) + ")" : e)
           << "\"";
    }
    return os << " ]}";
}

struct RunOpts {
    ParserLimits limits{};
    bool pause = false;    // handler returns false from every on_message_end
    bool restart = false;  // at each cut, copy the state into a fresh parser
};

// Feeds `input` cut at `cuts`, each piece in its own allocation (so ASan sees any read past
// a piece), resuming after pauses the way the worker does.
inline Outcome run(const Bytes& input, const std::vector<size_t>& cuts, RunOpts o) {
    FrameParser parser(o.limits);
    Recorder rec;
    rec.pause_on_end = o.pause;
    Outcome out;
    size_t start = 0;
    for (size_t k = 0; k <= cuts.size() && !out.violation; ++k) {
        const size_t end = k < cuts.size() ? cuts[k] : input.size();
        Bytes piece(input.begin() + static_cast<long>(start),
                    input.begin() + static_cast<long>(end));
        start = end;
        size_t off = 0;
        while (true) {
            rec.chunk = piece.data() + off;
            rec.chunk_len = piece.size() - off;
            const FeedResult r = parser.feed(piece.data() + off, piece.size() - off, rec);
            if (r.violation) {
                out.violation = r.violation.code;
                REQUIRE(parser.failed());
                REQUIRE(parser.violation().code == r.violation.code);
                break;
            }
            REQUIRE(r.consumed <= piece.size() - off);
            off += r.consumed;
            if (off == piece.size()) break;
            // Stopping early is only allowed right after a message the handler paused on.
            REQUIRE(o.pause);
            REQUIRE(r.consumed > 0);
            REQUIRE(rec.events.back() == "}");
        }
        if (o.restart && k < cuts.size() && !out.violation) {
            // Hand the state over as raw bytes, like the SCM_RIGHTS handoff does.
            alignas(FrameParser::State) unsigned char wire[sizeof(FrameParser::State)];
            std::memcpy(wire, &parser.state(), sizeof wire);
            FrameParser::State copy;
            std::memcpy(&copy, wire, sizeof copy);
            parser = FrameParser(copy, o.limits);
        }
    }
    if (out.violation) {
        // A failed parser keeps failing with the same violation and reports nothing more.
        const size_t before = rec.events.size();
        Bytes more = frame(Opcode::Text, "after");
        const FeedResult again = parser.feed(more.data(), more.size(), rec);
        REQUIRE(again.violation.code == out.violation);
        REQUIRE(rec.events.size() == before);
    }
    if (parser.closed()) {
        // After a close, further input is swallowed without events.
        const size_t before = rec.events.size();
        Bytes more = frame(Opcode::Text, "after close");
        const FeedResult again = parser.feed(more.data(), more.size(), rec);
        REQUIRE_FALSE(again.violation);
        REQUIRE(again.consumed == more.size());
        REQUIRE(rec.events.size() == before);
    }
    out.events = std::move(rec.events);
    out.closed = parser.closed();
    return out;
}

// The core of every parser test: the same outcome whatever the chunking.
inline void expect(const Bytes& input, const Outcome& want, RunOpts o = {}) {
    const size_t n = input.size();
    const Outcome whole = run(input, {}, o);
    CHECK(whole == want);
    if (whole != want) return;

    // Inputs over 8 KiB (the 64 KiB round trips) would cost n^2, too slow for the sanitizer
    // build: there, every offset within 256 bytes of either end (all headers, the first and
    // last payload bytes) and every 251st offset between (prime: meets every mask phase and
    // UTF-8 position); the state handoff every 1021st.
    const bool big = n > 8192;
    auto edge = [&](size_t i) { return i < 256 || n - i < 256; };
    for (size_t i = 0; i <= n; ++i) {
        if (big && !edge(i) && i % 251 != 0) continue;
        Outcome got = run(input, {i}, o);
        if (got != want) {
            FAIL_CHECK("split at " << i << " of " << n << ": got " << got << " want " << want);
            return;
        }
        if (big && !edge(i) && i % 1021 != 0) continue;
        RunOpts r = o;
        r.restart = true;
        got = run(input, {i}, r);
        if (got != want) {
            FAIL_CHECK("state handoff at " << i << " of " << n << ": got " << got);
            return;
        }
    }
    for (size_t i : {size_t{1}, size_t{2}, size_t{3}, n / 3, n / 2}) {
        for (size_t j : {i + 1, i + 2, i + 5, i + 9, (n + i) / 2, n - 1}) {
            if (i > n || j > n || j < i) continue;
            RunOpts r = o;
            r.restart = (i + j) % 2 == 0;
            const Outcome got = run(input, {i, j}, r);
            if (got != want) {
                FAIL_CHECK("three pieces at " << i << "," << j << ": got " << got);
                return;
            }
        }
    }
    if (!big) {
        std::vector<size_t> every;
        for (size_t i = 1; i < n; ++i) every.push_back(i);
        const Outcome got = run(input, every, o);
        if (got != want) FAIL_CHECK("byte by byte: got " << got);
    }
}

// The outcome of an input that parses cleanly, and of one that fails with `code` after `e`.
inline Outcome events(std::initializer_list<std::string> e) {
    return {e, 0, false};
}
inline Outcome fails(uint16_t code, std::initializer_list<std::string> e = {}) {
    return {e, code, false};
}

}  // namespace ringcast::proto::test
