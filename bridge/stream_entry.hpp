/*
 * How one relayed message lies in the Redis stream the nodes share, and nothing else: the
 * stream id, the fields of an entry, the XADD arguments that write one and the decoding of
 * an XREAD/XREVRANGE reply. No sockets here; the decoder takes hiredis reply objects, which
 * come from a broker we do not control, so every shape is checked and errors are values.
 *
 * An entry's fields (all bulk strings):
 *   n  node id of the producing node          e  its epoch (one per ring fabric it ran)
 *   m  ring member that produced the message  s  the record's sequence in that member's ring
 *   o  "t" text | "b" binary                  d  the payload, unchanged
 *   ch the channel's name (docs/channels.md), 1..128 bytes; absent (or empty) = no channel,
 *      as in every entry of a node with channels off or of a version before channels
 * {n, e, m, s} names a message uniquely and in per-sender order, so a reader can drop the
 * copies a writer's replay after a broken connection may have appended.
 */
#pragma once

#include <hiredis/hiredis.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/opcode.hpp"
#include "shm/layout.hpp"

namespace ringcast::bridge {

// The longest channel name an entry may carry (admission/channel.hpp allows 128 bytes).
inline constexpr size_t kMaxChannelBytes = shm::kTopChannelName;

// A Redis stream id "<ms>-<seq>".
struct StreamId {
    uint64_t ms = 0;
    uint64_t seq = 0;
    friend auto operator<=>(const StreamId&, const StreamId&) = default;
    std::string text() const;
    static std::optional<StreamId> parse(std::string_view text);
};

// Who produced a message, and its place in that producer's order.
struct Origin {
    std::string_view node;
    uint64_t epoch = 0;
    uint32_t member = 0;
    uint64_t seq = 0;
};

struct StreamMessage {
    StreamId id;
    Origin origin;
    proto::Opcode op = proto::Opcode::Binary;
    std::string_view payload;  // points into the reply
    std::string_view channel;  // points into the reply; empty = no channel
};

// Decodes one entry ([id, [field, value, ...]]). Unknown fields are ignored so a newer node
// may add some; a missing or malformed known one is an error naming it.
struct DecodedEntry {
    std::optional<StreamId> id;          // set whenever the id itself was readable
    std::optional<StreamMessage> message;  // set when the whole entry was
    std::string error;                   // why not
};
DecodedEntry decode_entry(const redisReply* entry);

// The entries of an XREAD reply for one stream ([[key, [entry...]]], or nil when the block
// timed out: no entries) or of an XRANGE/XREVRANGE reply ([entry...]). nullptr with *error
// set when the reply's shape is wrong; nullptr with *error empty when there are none.
const redisReply* entries_of(const redisReply* reply, bool xread, std::string* error);

// Argument vector of one XADD; the views stay valid while the caller's strings do. Without a
// channel the entry is exactly what nodes before channels wrote (count = kCount); with one,
// "ch <name>" follows (count = kMaxCount).
struct XaddArgs {
    static constexpr int kCount = 18;     // arguments of an entry without a channel
    static constexpr int kMaxCount = 20;  // with one
    XaddArgs() = default;
    XaddArgs(const XaddArgs&) = delete;  // argv points into its own `numbers`
    XaddArgs& operator=(const XaddArgs&) = delete;
    int count = 0;  // arguments filled by build_xadd()
    const char* argv[kMaxCount];
    size_t len[kMaxCount];
    char numbers[4][24];  // maxlen, epoch, member, seq as decimal text
};
void build_xadd(XaddArgs& out, std::string_view stream, uint64_t maxlen, std::string_view node,
                const Origin& origin, proto::Opcode op, std::string_view payload,
                std::string_view channel = {});

}  // namespace ringcast::bridge
