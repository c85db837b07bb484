// libFuzzer target for the bridge's reading of broker replies (bridge/stream_entry.hpp). The
// first input byte chooses a split point; the rest is what a broker sends on the reader's
// connection. It goes through a hiredis reader whole, in two pieces cut at the split, and byte
// by byte; each way must give the same replies. Every reply is then read as an XREAD reply and
// as an XRANGE reply, and every entry (and every other object in the reply) is decoded. The
// checks: the shapes entries_of() hands on are the ones it promises, a decoded message's node,
// payload and channel are views of string objects inside the entry (the channel at most
// kMaxChannelBytes, empty when the entry has no "ch"), a decoded entry written again with
// build_xadd()'s fields (with "ch" exactly when it has a channel) decodes to the same message,
// and every failure names its reason.
#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/stream_entry.hpp"
#include "tests/support/redis_reply_text.hpp"
#include "tests/support/fuzz_check.hpp"

using namespace ringcast::bridge;

namespace {

// hiredis 0.14 allocates an array's element vector when it reads the count ("*2147483647"
// is 16 GiB). An array with more elements than the input has bytes can never be completed,
// so refusing it (hiredis then reports out of memory) changes no reply the input can give,
// and keeps the fuzzer under its memory limit.
size_t g_max_elements = 0;
void* (*g_create_array)(const redisReadTask*, int) = nullptr;

void* create_array_bounded(const redisReadTask* task, int elements) {
    if (static_cast<size_t>(elements) > g_max_elements) return nullptr;
    return g_create_array(task, elements);
}

struct ReaderFree {
    void operator()(redisReader* r) const { redisReaderFree(r); }
};
using Reader = std::unique_ptr<redisReader, ReaderFree>;

Reader make_reader() {
    static redisReplyObjectFunctions functions;
    Reader r(redisReaderCreate());
    FUZZ_CHECK(r);
    if (!g_create_array) {
        functions = *r->fn;
        g_create_array = functions.createArray;
        functions.createArray = create_array_bounded;
    }
    r->fn = &functions;
    return r;
}

struct ReplyFree {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct Replies {
    std::vector<Reply> replies;
    bool failed = false;  // the reader stopped on bytes that are not RESP
};

// Feeds the pieces in order (each in its own exact-size allocation), taking every reply.
Replies read_pieces(const uint8_t* data, const std::vector<size_t>& bounds) {
    Reader reader = make_reader();
    Replies out;
    for (size_t k = 0; k + 1 < bounds.size() && !out.failed; ++k) {
        const size_t len = bounds[k + 1] - bounds[k];
        std::unique_ptr<char[]> piece(new char[len ? len : 1]);
        if (len) std::memcpy(piece.get(), data + bounds[k], len);
        if (redisReaderFeed(reader.get(), piece.get(), len) != REDIS_OK) {
            out.failed = true;
            break;
        }
        while (true) {
            void* r = nullptr;
            if (redisReaderGetReply(reader.get(), &r) != REDIS_OK) {
                FUZZ_CHECK(r == nullptr);
                out.failed = true;
                break;
            }
            if (!r) break;
            out.replies.emplace_back(static_cast<redisReply*>(r));
        }
    }
    return out;
}

using ringcast::test::describe_reply;

void check_same(const Replies& a, const Replies& b) {
    FUZZ_CHECK(a.failed == b.failed);
    FUZZ_CHECK(a.replies.size() == b.replies.size());
    for (size_t i = 0; i < a.replies.size(); ++i) {
        FUZZ_CHECK(describe_reply(a.replies[i].get()) == describe_reply(b.replies[i].get()));
    }
}

bool is_string(const redisReply* r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

// True when `v` is exactly the value of a field of `entry` (a view, not a copy).
bool is_field_value(const redisReply* entry, std::string_view v) {
    const redisReply* fields = entry->element[1];
    for (size_t i = 1; i < fields->elements; i += 2) {
        const redisReply* f = fields->element[i];
        if (is_string(f) && f->str == v.data() && f->len == v.size()) return true;
    }
    return false;
}

std::string bulk(std::string_view s) {
    return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

// Writes the message as an entry whose fields are build_xadd()'s, and decodes that.
void check_written_again(const StreamMessage& m) {
    XaddArgs a;
    build_xadd(a, "stream", 1, m.origin.node, m.origin, m.op, m.payload, m.channel);
    FUZZ_CHECK(a.count == (m.channel.empty() ? XaddArgs::kCount : XaddArgs::kMaxCount));
    std::string resp = "*2\r\n" + bulk(m.id.text()) + "*" + std::to_string(a.count - 6) + "\r\n";
    for (int i = 6; i < a.count; ++i) resp += bulk({a.argv[i], a.len[i]});
    Reader reader(redisReaderCreate());
    FUZZ_CHECK(reader);
    FUZZ_CHECK(redisReaderFeed(reader.get(), resp.data(), resp.size()) == REDIS_OK);
    void* raw = nullptr;
    FUZZ_CHECK(redisReaderGetReply(reader.get(), &raw) == REDIS_OK && raw);
    Reply again(static_cast<redisReply*>(raw));
    const DecodedEntry d = decode_entry(again.get());
    FUZZ_CHECK(d.error.empty() && d.message);
    const StreamMessage& n = *d.message;
    FUZZ_CHECK(n.id == m.id);
    FUZZ_CHECK(n.origin.node == m.origin.node);
    FUZZ_CHECK(n.origin.epoch == m.origin.epoch);
    FUZZ_CHECK(n.origin.member == m.origin.member);
    FUZZ_CHECK(n.origin.seq == m.origin.seq);
    FUZZ_CHECK(n.op == m.op);
    FUZZ_CHECK(n.payload == m.payload);
    FUZZ_CHECK(n.channel == m.channel);
}

// Decodes any object as an entry; checks what a result may look like.
void check_decode(const redisReply* entry) {
    const DecodedEntry d = decode_entry(entry);
    if (d.id) FUZZ_CHECK(StreamId::parse(d.id->text()) == d.id);
    if (!d.message) {
        FUZZ_CHECK(!d.error.empty());
        return;
    }
    const StreamMessage& m = *d.message;
    FUZZ_CHECK(d.error.empty());
    FUZZ_CHECK(d.id && *d.id == m.id);
    FUZZ_CHECK(entry->type == REDIS_REPLY_ARRAY && entry->elements == 2);
    FUZZ_CHECK(StreamId::parse({entry->element[0]->str, entry->element[0]->len}) == m.id);
    FUZZ_CHECK(!m.origin.node.empty());
    FUZZ_CHECK(m.op == ringcast::proto::Opcode::Text || m.op == ringcast::proto::Opcode::Binary);
    FUZZ_CHECK(is_field_value(entry, m.origin.node));
    FUZZ_CHECK(is_field_value(entry, m.payload));
    FUZZ_CHECK(m.channel.size() <= kMaxChannelBytes);
    if (!m.channel.empty()) FUZZ_CHECK(is_field_value(entry, m.channel));
    check_written_again(m);
}

void check_entries_of(const redisReply* reply, bool xread) {
    std::string error = "stale";
    const redisReply* entries = entries_of(reply, xread, &error);
    if (reply->type == REDIS_REPLY_NIL) FUZZ_CHECK(!entries && error.empty());
    if (reply->type == REDIS_REPLY_ERROR) {
        FUZZ_CHECK(!entries);
        FUZZ_CHECK(error.find(std::string(reply->str, reply->len)) != std::string::npos);
    }
    if (reply->type != REDIS_REPLY_ARRAY) FUZZ_CHECK(!entries);
    if (!entries) return;
    FUZZ_CHECK(error.empty());
    FUZZ_CHECK(entries->type == REDIS_REPLY_ARRAY);
    if (xread) {
        FUZZ_CHECK(reply->elements == 1 && entries == reply->element[0]->element[1]);
    } else {
        FUZZ_CHECK(entries == reply);
    }
    for (size_t i = 0; i < entries->elements; ++i) check_decode(entries->element[i]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t split_choice = data[0];
    data += 1;
    size -= 1;
    const size_t split = size * split_choice / 255;
    g_max_elements = size;

    const Replies whole = read_pieces(data, {0, size});
    check_same(whole, read_pieces(data, {0, split, size}));
    std::vector<size_t> bytes;
    for (size_t i = 0; i <= size; ++i) bytes.push_back(i);
    check_same(whole, read_pieces(data, bytes));

    for (const Reply& r : whole.replies) {
        check_entries_of(r.get(), true);
        check_entries_of(r.get(), false);
        // Decoding is total: any object, at any depth the entry shape reaches.
        check_decode(r.get());
        if (r->type == REDIS_REPLY_ARRAY) {
            for (size_t i = 0; i < r->elements; ++i) check_decode(r->element[i]);
        }
    }
    return 0;
}
