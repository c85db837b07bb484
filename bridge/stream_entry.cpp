// Stream ids, entry decoding and XADD arguments (see stream_entry.hpp for the entry format).
#include "bridge/stream_entry.hpp"

#include <charconv>
#include <cstring>

#include "proto/utf8.hpp"

namespace ringcast::bridge {
namespace {

std::optional<uint64_t> parse_u64(std::string_view s) {
    uint64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

bool read_u64(const std::optional<std::string_view>& field, uint64_t* out) {
    if (!field) return false;
    auto v = parse_u64(*field);
    if (!v) return false;
    *out = *v;
    return true;
}

std::string_view view(const redisReply* r) { return {r->str, r->len}; }

bool is_text(const redisReply* r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

void set_arg(XaddArgs& a, int i, std::string_view s) {
    a.argv[i] = s.data();
    a.len[i] = s.size();
}

std::string_view number(char (&buf)[24], uint64_t v) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;  // 24 bytes hold any u64
    return {buf, static_cast<size_t>(p - buf)};
}

}  // namespace

std::string StreamId::text() const { return std::to_string(ms) + "-" + std::to_string(seq); }

std::optional<StreamId> StreamId::parse(std::string_view text) {
    size_t dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto ms = parse_u64(text.substr(0, dash));
    auto seq = parse_u64(text.substr(dash + 1));
    if (!ms || !seq) return std::nullopt;
    return StreamId{*ms, *seq};
}

DecodedEntry decode_entry(const redisReply* entry) {
    DecodedEntry out;
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || !is_text(entry->element[0])) {
        out.error = "entry is not [id, fields]";
        return out;
    }
    out.id = StreamId::parse(view(entry->element[0]));
    if (!out.id) {
        out.error = "bad stream id";
        return out;
    }
    const redisReply* fields = entry->element[1];
    if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0) {
        out.error = "fields are not name/value pairs";
        return out;
    }
    std::optional<std::string_view> node, epoch, member, seq, op, data, channel;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply* k = fields->element[i];
        const redisReply* v = fields->element[i + 1];
        if (!is_text(k) || !is_text(v)) {
            out.error = "a field name or value is not a string";
            return out;
        }
        std::string_view key = view(k);
        std::optional<std::string_view>* slot = key == "n"   ? &node
                                                : key == "e" ? &epoch
                                                : key == "m" ? &member
                                                : key == "s" ? &seq
                                                : key == "o" ? &op
                                                : key == "d" ? &data
                                                : key == "ch" ? &channel
                                                             : nullptr;
        if (slot) *slot = view(v);
    }
    StreamMessage m;
    m.id = *out.id;
    if (!node || node->empty()) {
        out.error = "field n (node) missing";
        return out;
    }
    m.origin.node = *node;
    uint64_t e = 0, mem = 0, sq = 0;
    if (!read_u64(epoch, &e)) out.error = "field e (epoch) missing or not a number";
    else if (!read_u64(member, &mem) || mem > UINT32_MAX) out.error = "field m (member) missing or not a number";
    else if (!read_u64(seq, &sq)) out.error = "field s (sequence) missing or not a number";
    else if (!op || (*op != "t" && *op != "b")) out.error = "field o must be \"t\" or \"b\"";
    else if (!data) out.error = "field d (payload) missing";
    // A text frame with bad UTF-8 would make every client fail the connection (RFC 6455 8.1).
    else if (*op == "t" && !proto::utf8_valid(reinterpret_cast<const uint8_t*>(data->data()), data->size()))
        out.error = "field d of a text message is not valid UTF-8";
    else if (channel && channel->size() > kMaxChannelBytes)
        out.error = "field ch (channel) longer than " + std::to_string(kMaxChannelBytes) + " bytes";
    if (!out.error.empty()) return out;
    m.origin.epoch = e;
    m.origin.member = static_cast<uint32_t>(mem);
    m.origin.seq = sq;
    m.op = *op == "t" ? proto::Opcode::Text : proto::Opcode::Binary;
    m.payload = *data;
    if (channel) m.channel = *channel;  // an empty one is no channel, as channel_len 0 in a ring
    out.message = m;
    return out;
}

const redisReply* entries_of(const redisReply* reply, bool xread, std::string* error) {
    error->clear();
    if (!reply) {
        *error = "no reply";
        return nullptr;
    }
    if (reply->type == REDIS_REPLY_NIL) return nullptr;  // XREAD BLOCK timed out
    if (reply->type == REDIS_REPLY_ERROR) {
        *error = "error reply: " + std::string(reply->str, reply->len);
        return nullptr;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        *error = "reply is not an array";
        return nullptr;
    }
    if (!xread) return reply;
    if (reply->elements == 0) return nullptr;
    if (reply->elements != 1) {
        *error = "XREAD reply names more than one stream";
        return nullptr;
    }
    const redisReply* stream = reply->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
        stream->element[1]->type != REDIS_REPLY_ARRAY) {
        *error = "XREAD stream element is not [key, entries]";
        return nullptr;
    }
    return stream->element[1];
}

void build_xadd(XaddArgs& a, std::string_view stream, uint64_t maxlen, std::string_view node,
                const Origin& origin, proto::Opcode op, std::string_view payload, std::string_view channel) {
    set_arg(a, 0, "XADD");
    set_arg(a, 1, stream);
    set_arg(a, 2, "MAXLEN");
    set_arg(a, 3, "~");  // approximate trimming: Redis trims whole nodes, far cheaper
    set_arg(a, 4, number(a.numbers[0], maxlen));
    set_arg(a, 5, "*");
    set_arg(a, 6, "n");
    set_arg(a, 7, node);
    set_arg(a, 8, "e");
    set_arg(a, 9, number(a.numbers[1], origin.epoch));
    set_arg(a, 10, "m");
    set_arg(a, 11, number(a.numbers[2], origin.member));
    set_arg(a, 12, "s");
    set_arg(a, 13, number(a.numbers[3], origin.seq));
    set_arg(a, 14, "o");
    set_arg(a, 15, op == proto::Opcode::Text ? "t" : "b");
    set_arg(a, 16, "d");
    set_arg(a, 17, payload);
    a.count = XaddArgs::kCount;
    if (!channel.empty()) {
        set_arg(a, 18, "ch");
        set_arg(a, 19, channel);
        a.count = XaddArgs::kMaxCount;
    }
}

}  // namespace ringcast::bridge
