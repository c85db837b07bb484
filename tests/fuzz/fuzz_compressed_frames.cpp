// tests/fuzz/fuzz_compressed_frames.cpp: libFuzzer target for client traffic under
// permessage-deflate: FrameParser with the extension agreed, then MessageInflater on every
// complete compressed message, the way a shard does it. Input: [split][limit][flags][frames...].
// The frames are parsed whole and split at the chosen offset (both must give the same messages
// and violation); each message marked compressed is inflated with a context kept or not (flag
// bit 0), bounded by the limit: an inflated message never exceeds it, whatever the input (a
// bomb is refused as TooBig), and a message that inflates is compressed again by
// MessageDeflater and must inflate back to itself. Bit 1 also inflates the raw input bytes as
// one message, so the inflater sees arbitrary DEFLATE streams and not only framed ones.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "proto/frame_parser.hpp"
#include "proto/message_deflate.hpp"

#include "tests/support/fuzz_check.hpp"

using namespace ringcast::proto;

namespace {

struct Message {
    uint8_t opcode;
    bool compressed;
    std::string bytes;
    bool operator==(const Message&) const = default;
};

struct Collect {
    FrameParser* parser = nullptr;
    std::vector<Message> messages;
    bool open = false;
    void on_message_begin(Opcode op) {
        FUZZ_CHECK(!open);
        open = true;
        messages.push_back({static_cast<uint8_t>(op), parser->message_compressed(), {}});
    }
    void on_message_data(const uint8_t* p, size_t n) {
        FUZZ_CHECK(open && n > 0);
        messages.back().bytes.append(reinterpret_cast<const char*>(p), n);
    }
    bool on_message_end() {
        FUZZ_CHECK(open);
        open = false;
        return true;
    }
    void on_ping(const uint8_t*, size_t) {}
    void on_pong(const uint8_t*, size_t) {}
    void on_close(uint16_t, std::string_view) {}
};

struct Outcome {
    std::vector<Message> messages;  // complete ones only
    uint16_t violation = 0;
};

Outcome parse(const uint8_t* data, size_t size, size_t split, uint64_t limit) {
    FrameParser parser(ParserLimits{limit, true});
    Collect c;
    c.parser = &parser;
    Outcome out;
    for (const auto& [from, to] : {std::pair{size_t{0}, split}, std::pair{split, size}}) {
        std::unique_ptr<uint8_t[]> piece(new uint8_t[to - from + 1]);
        if (to > from) std::memcpy(piece.get(), data + from, to - from);
        const FeedResult r = parser.feed(piece.get(), to - from, c);
        if (r.violation) {
            FUZZ_CHECK(r.violation.code == 1002 || r.violation.code == 1007 ||
                       r.violation.code == 1009);
            out.violation = r.violation.code;
            break;
        }
    }
    if (c.open) c.messages.pop_back();  // unfinished: never published
    out.messages = std::move(c.messages);
    return out;
}

void check_inflate(MessageInflater& inf, const std::string& z, uint64_t limit, bool keep) {
    std::vector<uint8_t> out;
    const InflateResult r =
        inf.inflate(reinterpret_cast<const uint8_t*>(z.data()), z.size(), out, limit, keep);
    if (r != InflateResult::Ok) {
        FUZZ_CHECK(out.empty());
        FUZZ_CHECK(out.capacity() <= limit + 1 || out.capacity() <= 4 * z.size() + 1024);
        return;
    }
    FUZZ_CHECK(out.size() <= limit);
    if (out.empty()) return;
    // Compressed once by the server and inflated by any client: the same bytes.
    static MessageDeflater deflater(1);
    std::vector<uint8_t> again(out.size() + 3);
    const size_t n = deflater.compress(out.data(), out.size(), again.data(), again.size());
    if (n == 0) return;  // did not shrink
    FUZZ_CHECK(n < out.size());
    MessageInflater fresh;
    std::vector<uint8_t> back;
    FUZZ_CHECK(fresh.inflate(again.data(), n, back, out.size(), false) == InflateResult::Ok);
    FUZZ_CHECK(back == out);
}

const uint64_t kLimits[4] = {0, 125, 4096, 1 << 20};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    const size_t split_seed = data[0];
    const uint64_t limit = kLimits[data[1] & 3];
    const uint8_t flags = data[2];
    data += 3;
    size -= 3;
    const size_t split = split_seed % (size + 1);

    const Outcome whole = parse(data, size, size, limit);
    const Outcome cut = parse(data, size, split, limit);
    FUZZ_CHECK(whole.violation == cut.violation);
    FUZZ_CHECK(whole.messages == cut.messages);

    const bool keep = flags & 1;
    MessageInflater inflater;
    for (const Message& m : whole.messages) {
        FUZZ_CHECK(m.bytes.size() <= limit);
        if (m.compressed) check_inflate(inflater, m.bytes, limit, keep);
    }
    if (flags & 2) {
        MessageInflater raw;
        check_inflate(raw, std::string(reinterpret_cast<const char*>(data), size), limit, keep);
    }
    return 0;
}
