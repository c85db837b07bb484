// proto/message_deflate.cpp: MessageDeflater and MessageInflater over zlib's raw streams.
#include "proto/message_deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace ringcast::proto {

struct MessageDeflater::Stream {
    z_stream z{};
    bool ok = false;
};

namespace {

// One raw DEFLATE of a whole message from an empty window, the sync flush's tail removed;
// 0 when it does not fit in cap or zlib failed.
size_t deflate_once(z_stream& z, const uint8_t* in, size_t n, uint8_t* out, size_t cap) {
    deflateReset(&z);  // no context takeover: every message starts from an empty window
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(n);
    z.next_out = out;
    z.avail_out = static_cast<uInt>(cap);
    const int ret = deflate(&z, Z_SYNC_FLUSH);
    // avail_out == 0 may mean output is still pending: treat as "does not fit".
    if (ret != Z_OK || z.avail_in != 0 || z.avail_out == 0) return 0;
    const size_t len = cap - z.avail_out;
    if (len < 4 || std::memcmp(out + len - 4, kDeflateTail, 4) != 0) return 0;
    return len - 4;
}

}  // namespace

MessageDeflater::MessageDeflater(int level)
    : z_(std::make_unique<Stream>()), filtered_(std::make_unique<Stream>()) {
    // Negative window bits: raw DEFLATE, no zlib header (RFC 7692 §7.2.1).
    z_->ok = deflateInit2(&z_->z, std::clamp(level, 1, 9), Z_DEFLATED, -15, 8,
                          Z_DEFAULT_STRATEGY) == Z_OK;
    filtered_->ok = deflateInit2(&filtered_->z, std::clamp(level, 1, 9), Z_DEFLATED, -15, 8,
                                 Z_FILTERED) == Z_OK;
}

MessageDeflater::~MessageDeflater() {
    if (z_->ok) deflateEnd(&z_->z);
    if (filtered_->ok) deflateEnd(&filtered_->z);
}

size_t MessageDeflater::compress(const uint8_t* in, size_t n, uint8_t* out, size_t cap) {
    if (!z_->ok || n == 0 || cap < 5) return 0;
    const size_t plain = deflate_once(z_->z, in, n, out, cap);
    if (n < kSecondStrategyBytes || !filtered_->ok) return plain;
    // A message is compressed once and sent to every subscriber, so a second try with the
    // other strategy pays for itself many times over when it is smaller (docs/compression.md).
    const size_t room = plain ? plain + 4 : cap;
    if (scratch_.size() < room) scratch_.resize(room);
    const size_t filtered = deflate_once(filtered_->z, in, n, scratch_.data(), room);
    if (filtered == 0 || (plain != 0 && filtered >= plain)) return plain;
    std::memcpy(out, scratch_.data(), filtered);
    return filtered;
}

struct MessageInflater::Stream {
    z_stream z{};
    bool ok = false;
};

MessageInflater::MessageInflater(int window_bits) : z_(std::make_unique<Stream>()) {
    // zlib's raw inflate takes 9..15 (a peer's 8 is in practice 9, zlib's own deflate writes so).
    z_->ok = inflateInit2(&z_->z, -std::clamp(window_bits, 9, 15)) == Z_OK;
}

MessageInflater::~MessageInflater() {
    if (z_->ok) inflateEnd(&z_->z);
}

InflateResult MessageInflater::inflate(const uint8_t* in, size_t n, std::vector<uint8_t>& out,
                                       uint64_t max_bytes, bool keep_context) {
    out.clear();
    if (!z_->ok) return InflateResult::Corrupt;
    z_stream& z = z_->z;
    // The output may hold max_bytes + 1: reaching that proves the message too big.
    const uint64_t limit = max_bytes + 1;
    size_t produced = 0;
    bool tail_fed = false;
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(n);
    InflateResult result = InflateResult::Ok;
    while (true) {
        if (z.avail_in == 0 && !tail_fed) {
            z.next_in = const_cast<Bytef*>(kDeflateTail);
            z.avail_in = 4;
            tail_fed = true;
        }
        if (produced == out.size()) {
            // Grow geometrically from a guess, never past the limit: a bomb costs at most
            // max_bytes + 1 bytes of output before it is refused.
            const uint64_t want = out.empty() ? std::max<uint64_t>(4 * uint64_t{n} + 256, 1024)
                                              : 2 * uint64_t{out.size()};
            const size_t size = static_cast<size_t>(std::min(limit, want));
            if (size > out.capacity()) out.reserve(size);  // exactly: never past the limit
            out.resize(size);
        }
        z.next_out = out.data() + produced;
        const size_t room = std::min<size_t>(out.size() - produced, 1u << 30);
        z.avail_out = static_cast<uInt>(room);
        const int ret = ::inflate(&z, Z_SYNC_FLUSH);
        produced += room - z.avail_out;
        if (produced >= limit) {
            result = InflateResult::TooBig;
            break;
        }
        if (ret == Z_STREAM_END) {
            // A block with BFINAL set (§7.2.3.4): what follows starts a new stream, with the
            // same window when the context is kept.
            uint8_t dict[32768];
            uInt dict_len = 0;
            if (keep_context) inflateGetDictionary(&z, dict, &dict_len);
            inflateReset(&z);
            if (dict_len) inflateSetDictionary(&z, dict, dict_len);
            if (z.avail_in == 0 && tail_fed) break;
            continue;
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) {
            result = InflateResult::Corrupt;
            break;
        }
        if (tail_fed && z.avail_in == 0 && z.avail_out != 0) break;  // all in, all out
        if (ret == Z_BUF_ERROR && z.avail_out != 0 && z.avail_in != 0) {
            result = InflateResult::Corrupt;  // no progress possible
            break;
        }
    }
    out.resize(result == InflateResult::Ok ? produced : 0);
    if (!keep_context || result != InflateResult::Ok) inflateReset(&z);
    return result;
}

std::vector<uint8_t> MessageInflater::window() const {
    std::vector<uint8_t> w(32768);
    uInt len = 0;
    if (!z_->ok || inflateGetDictionary(&z_->z, w.data(), &len) != Z_OK) len = 0;
    w.resize(len);
    return w;
}

bool MessageInflater::restore(const uint8_t* window, size_t n) {
    if (!z_->ok) return false;
    if (n == 0) return true;
    return inflateSetDictionary(&z_->z, window, static_cast<uInt>(n)) == Z_OK;
}

}  // namespace ringcast::proto
