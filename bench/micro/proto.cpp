// Micro-benchmarks for the proto/ hot paths, each beside its naive baseline:
//   unmask vs unmask_naive, utf8_valid vs utf8_valid_naive (bytes/s at 64 B, 4 KiB, 1 MiB),
//   FrameParser vs a byte-at-a-time parser on a stream of 64-byte masked binary frames
//   (frames/s). Goals on the dev machine: unmask >= 10 GB/s, UTF-8 >= 5 GB/s on ASCII-heavy text.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "proto/encoder.hpp"
#include "proto/frame_parser.hpp"
#include "proto/unmask.hpp"
#include "proto/utf8.hpp"

using namespace ringcast::proto;

namespace {

std::vector<uint8_t> random_bytes(size_t n) {
    std::vector<uint8_t> v(n);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& b : v) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = static_cast<uint8_t>(x);
    }
    return v;
}

// Text of exactly n bytes made by repeating `unit` (cut on a character boundary, then
// padded with ASCII).
std::vector<uint8_t> text(size_t n, const std::string& unit) {
    std::string s;
    while (s.size() < n) s += unit;
    size_t cut = n;
    while (cut > 0 && (static_cast<uint8_t>(s[cut]) & 0xC0) == 0x80) --cut;
    s.resize(cut);
    s.append(n - cut, ' ');
    return {s.begin(), s.end()};
}

// Chat/JSON-like: ~1.5% of bytes in multi-byte characters.
const std::string kAsciiHeavy =
    R"({"user":"zoë","text":"see you at the café at 10, bring the 20€ you owe me",)"
    R"("ts":1700000000123,"room":"general","tags":["plans","coffee"]})"
    R"({"user":"alex","text":"ok! will do, I'm on my way right now","ts":1700000000456})";
// Mostly multi-byte: Cyrillic, CJK, emoji, a little ASCII.
const std::string kMixed = "Привет, мир! 你好，世界。こんにちは 🎉👍 Ünïcödé ça va? Ελληνικά ";

void unmask_bench(benchmark::State& state, bool naive) {
    auto buf = random_bytes(static_cast<size_t>(state.range(0)) + 1);
    uint8_t* p = buf.data() + 1;  // payloads follow a header: not aligned
    const size_t n = static_cast<size_t>(state.range(0));
    for (auto _ : state) {
        if (naive) {
            unmask_naive(p, n, 0x5A3C96E1, 1);
        } else {
            unmask(p, n, 0x5A3C96E1, 1);
        }
        benchmark::DoNotOptimize(p);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void utf8_bench(benchmark::State& state, const std::string& unit, bool naive) {
    const auto buf = text(static_cast<size_t>(state.range(0)), unit);
    if (!utf8_valid_naive(buf.data(), buf.size())) state.SkipWithError("bad corpus");
    for (auto _ : state) {
        const bool ok =
            naive ? utf8_valid_naive(buf.data(), buf.size()) : utf8_valid(buf.data(), buf.size());
        benchmark::DoNotOptimize(ok);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_unmask(benchmark::State& s) {
    unmask_bench(s, false);
}
void BM_unmask_naive(benchmark::State& s) {
    unmask_bench(s, true);
}
void BM_utf8_valid_ascii_heavy(benchmark::State& s) {
    utf8_bench(s, kAsciiHeavy, false);
}
void BM_utf8_valid_naive_ascii_heavy(benchmark::State& s) {
    utf8_bench(s, kAsciiHeavy, true);
}
void BM_utf8_valid_mixed(benchmark::State& s) {
    utf8_bench(s, kMixed, false);
}
void BM_utf8_valid_naive_mixed(benchmark::State& s) {
    utf8_bench(s, kMixed, true);
}

BENCHMARK(BM_unmask)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);
BENCHMARK(BM_unmask_naive)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);
BENCHMARK(BM_utf8_valid_ascii_heavy)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);
BENCHMARK(BM_utf8_valid_naive_ascii_heavy)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);
BENCHMARK(BM_utf8_valid_mixed)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);
BENCHMARK(BM_utf8_valid_naive_mixed)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);

// ---- frame parsing -----------------------------------------------------------------------

// `count` masked client frames of `payload` bytes each, back to back, as a recv would see them.
std::vector<uint8_t> client_frames(size_t count, size_t payload, Opcode op) {
    const auto body = op == Opcode::Text ? text(payload, kAsciiHeavy) : random_bytes(payload);
    const uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
    std::vector<uint8_t> out;
    for (size_t i = 0; i < count; ++i) {
        uint8_t h[kMaxFrameHeader];
        const size_t hs = encode_frame_header(h, op, payload);
        h[1] |= 0x80;
        out.insert(out.end(), h, h + hs);
        out.insert(out.end(), key, key + 4);
        for (size_t j = 0; j < payload; ++j) out.push_back(body[j] ^ key[j % 4]);
    }
    return out;
}

struct CountingHandler {
    uint64_t messages = 0;
    uint64_t bytes = 0;
    void on_message_begin(Opcode) {}
    void on_message_data(const uint8_t* p, size_t n) {
        benchmark::DoNotOptimize(p);
        bytes += n;
    }
    bool on_message_end() {
        ++messages;
        return true;
    }
    void on_ping(const uint8_t*, size_t) {}
    void on_pong(const uint8_t*, size_t) {}
    void on_close(uint16_t, std::string_view) {}
};

// The baseline: one switch per byte, unmasking byte by byte, only the basic checks.
class NaiveParser {
  public:
    template <class Handler>
    bool feed(uint8_t* data, size_t n, Handler& h) {
        for (size_t i = 0; i < n; ++i) {
            const uint8_t b = data[i];
            switch (stage_) {
                case 0:
                    if (b & 0x70) return false;
                    op_ = b & 0x0F;
                    fin_ = b & 0x80;
                    stage_ = 1;
                    break;
                case 1:
                    if (!(b & 0x80)) return false;
                    len_ = b & 0x7F;
                    need_ = len_ == 126 ? 2 : len_ == 127 ? 8 : 0;
                    if (need_) len_ = 0;
                    stage_ = need_ ? 2 : 3;
                    have_ = 0;
                    break;
                case 2:
                    len_ = (len_ << 8) | b;
                    if (--need_ == 0) stage_ = 3;
                    break;
                case 3:
                    key_[have_++] = b;
                    if (have_ == 4) {
                        got_ = 0;
                        if (op_ != 0) h.on_message_begin(static_cast<Opcode>(op_));
                        stage_ = len_ ? 4 : 0;
                        if (!len_ && fin_) h.on_message_end();
                    }
                    break;
                case 4:
                    data[i] = b ^ key_[got_ & 3];
                    h.on_message_data(data + i, 1);
                    if (++got_ == len_) {
                        stage_ = 0;
                        if (fin_) h.on_message_end();
                    }
                    break;
            }
        }
        return true;
    }

  private:
    int stage_ = 0;
    uint8_t op_ = 0;
    bool fin_ = false;
    uint64_t len_ = 0;
    uint64_t got_ = 0;
    int need_ = 0;
    int have_ = 0;
    uint8_t key_[4] = {};
};

constexpr size_t kFrames = 1024;

// Re-parsing the same buffer is fine: the parser only rewrites payloads (toggling their mask),
// never headers, so every iteration sees the same frames.
void BM_frame_parser(benchmark::State& state) {
    const size_t payload = static_cast<size_t>(state.range(0));
    auto buf = client_frames(kFrames, payload, Opcode::Binary);
    CountingHandler h;
    for (auto _ : state) {
        FrameParser parser;
        const FeedResult r = parser.feed(buf.data(), buf.size(), h);
        benchmark::DoNotOptimize(r);
    }
    if (h.messages != kFrames * state.iterations()) state.SkipWithError("lost frames");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kFrames));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
}

void BM_frame_parser_naive(benchmark::State& state) {
    const size_t payload = static_cast<size_t>(state.range(0));
    auto buf = client_frames(kFrames, payload, Opcode::Binary);
    CountingHandler h;
    for (auto _ : state) {
        NaiveParser parser;
        benchmark::DoNotOptimize(parser.feed(buf.data(), buf.size(), h));
    }
    if (h.messages != kFrames * state.iterations()) state.SkipWithError("lost frames");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kFrames));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
}

// Text frames pay for UTF-8 validation as well; payloads here stay valid under re-parsing
// only if unmasked once, so each iteration restores the masked copy first (timed out).
void BM_frame_parser_text(benchmark::State& state) {
    const size_t payload = static_cast<size_t>(state.range(0));
    const auto masked = client_frames(kFrames, payload, Opcode::Text);
    auto buf = masked;
    CountingHandler h;
    for (auto _ : state) {
        state.PauseTiming();
        std::memcpy(buf.data(), masked.data(), buf.size());
        state.ResumeTiming();
        FrameParser parser;
        const FeedResult r = parser.feed(buf.data(), buf.size(), h);
        if (r.violation) state.SkipWithError("violation");
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kFrames));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
}

BENCHMARK(BM_frame_parser)->Arg(64)->Arg(1024);
BENCHMARK(BM_frame_parser_naive)->Arg(64)->Arg(1024);
BENCHMARK(BM_frame_parser_text)->Arg(64)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
