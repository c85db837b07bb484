// Stream entries (bridge/stream_entry.hpp): stream ids, the decoding of XREAD and XRANGE
// replies entry by entry, and the XADD arguments that write an entry. Replies are real hiredis
// reply objects made from RESP bytes as a broker sends them: every reply is read whole, split
// in two at every byte offset and byte by byte, and each way must give the same reply before
// the decoder sees it.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/stream_entry.hpp"
#include "tests/support/redis_reply_text.hpp"

using namespace ringcast::bridge;
using ringcast::proto::Opcode;
using namespace std::string_literals;

namespace {

// ---- RESP bytes ----------------------------------------------------------------------------

std::string bulk(std::string_view s) {
    return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

std::string array(std::initializer_list<std::string> items) {
    std::string out = "*" + std::to_string(items.size()) + "\r\n";
    for (const std::string& item : items) out += item;
    return out;
}

std::string array_of(const std::vector<std::string>& items) {
    std::string out = "*" + std::to_string(items.size()) + "\r\n";
    for (const std::string& item : items) out += item;
    return out;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// [id, [name, value, ...]] with every name and value a bulk string.
std::string entry(std::string_view id, const Fields& fields) {
    std::vector<std::string> flat;
    for (const auto& [name, value] : fields) {
        flat.push_back(bulk(name));
        flat.push_back(bulk(value));
    }
    return array({bulk(id), array_of(flat)});
}

// [[stream, [entry, ...]]]
std::string xread(std::string_view stream, const std::vector<std::string>& entries) {
    return array({array({bulk(stream), array_of(entries)})});
}

const Fields kTextFields = {{"n", "node-b"}, {"e", "7"}, {"m", "2"},
                            {"s", "41"},     {"o", "t"}, {"d", "hello"}};

// kTextFields with one field replaced (or, with no value, removed).
Fields with(std::string_view name, std::optional<std::string> value) {
    Fields out;
    for (const auto& f : kTextFields) {
        if (f.first != name)
            out.push_back(f);
        else if (value)
            out.emplace_back(f.first, *value);
    }
    return out;
}

// ---- reading replies -----------------------------------------------------------------------

struct FreeReply {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, FreeReply>;

using ringcast::test::describe_reply;

// Feeds the pieces in order and returns the one reply they make (nullptr when they make none).
Reply read_pieces(const std::vector<std::string_view>& pieces) {
    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(redisReaderCreate(),
                                                                    redisReaderFree);
    REQUIRE(reader);
    Reply got;
    for (std::string_view piece : pieces) {
        REQUIRE(redisReaderFeed(reader.get(), piece.data(), piece.size()) == REDIS_OK);
        void* r = nullptr;
        REQUIRE(redisReaderGetReply(reader.get(), &r) == REDIS_OK);
        if (r) {
            REQUIRE(!got);  // one reply per input
            got.reset(static_cast<redisReply*>(r));
        }
    }
    void* extra = nullptr;
    REQUIRE(redisReaderGetReply(reader.get(), &extra) == REDIS_OK);
    REQUIRE(extra == nullptr);
    return got;
}

// The reply `resp` makes, having checked that it is the same however the bytes arrive.
Reply read(std::string_view resp) {
    Reply whole = read_pieces({resp});
    REQUIRE(whole);
    const std::string expected = describe_reply(whole.get());
    for (size_t cut = 0; cut <= resp.size(); ++cut) {
        Reply split = read_pieces({resp.substr(0, cut), resp.substr(cut)});
        REQUIRE(split);
        REQUIRE(describe_reply(split.get()) == expected);
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < resp.size(); ++i) bytes.push_back(resp.substr(i, 1));
    Reply one_by_one = read_pieces(bytes);
    REQUIRE(one_by_one);
    REQUIRE(describe_reply(one_by_one.get()) == expected);
    return whole;
}

// The message's views point into `r`: keep it while they are used.
DecodedEntry decode(const Reply& r) {
    return decode_entry(r.get());
}

// Decoding failed for the reason named by `error_part`; the id was readable iff `id` is set.
void require_error(const DecodedEntry& d, std::string_view error_part,
                   std::optional<StreamId> id = StreamId{1, 0}) {
    CHECK(!d.message);
    CHECK(d.error.find(error_part) != std::string::npos);
    CHECK(d.id == id);
}

size_t count(const redisReply* entries) {
    return entries ? entries->elements : 0;
}

// The object holding the value of field `name` in an entry.
const redisReply* value_of(const redisReply* entry, std::string_view name) {
    const redisReply* fields = entry->element[1];
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (std::string_view(fields->element[i]->str, fields->element[i]->len) == name) {
            return fields->element[i + 1];
        }
    }
    return nullptr;
}

std::string_view arg(const XaddArgs& a, int i) {
    return {a.argv[i], a.len[i]};
}

}  // namespace

// ---- stream ids ----------------------------------------------------------------------------

TEST_CASE("a stream id is read from and written as <ms>-<seq>") {
    for (std::string_view text :
         {"0-0", "1-0", "0-1", "1526919030474-55", "18446744073709551615-18446744073709551615"}) {
        CAPTURE(text);
        const std::optional<StreamId> id = StreamId::parse(text);
        REQUIRE(id);
        CHECK(id->text() == text);
        CHECK(StreamId::parse(id->text()) == id);
    }
    CHECK(StreamId::parse("1526919030474-55") == StreamId{1526919030474, 55});
    const StreamId max{UINT64_MAX, UINT64_MAX};
    CHECK(StreamId::parse(max.text()) == max);
}

TEST_CASE("stream ids order by time, then by sequence") {
    CHECK(StreamId{1, 9} < StreamId{2, 0});
    CHECK(StreamId{2, 0} < StreamId{2, 1});
    CHECK(StreamId{0, 0} < StreamId{0, 1});
    CHECK(StreamId{UINT64_MAX, 0} > StreamId{UINT64_MAX - 1, UINT64_MAX});
    CHECK(StreamId{3, 3} == StreamId{3, 3});
}

TEST_CASE("anything but two decimal numbers joined by one dash is not a stream id") {
    for (std::string_view text : {"",
                                  "1",
                                  "1-",
                                  "-1",
                                  "-",
                                  "--",
                                  "a-1",
                                  "1-a",
                                  "1-2-3",
                                  "1--2",
                                  "+1-0",
                                  "1-+0",
                                  " 1-0",
                                  "1-0 ",
                                  "1 -0",
                                  "0x1-0",
                                  "1.5-0",
                                  "1-0\n",
                                  "18446744073709551616-0",
                                  "0-18446744073709551616",
                                  "99999999999999999999999-0"}) {
        CAPTURE(text);
        CHECK(!StreamId::parse(text));
    }
    CHECK(!StreamId::parse(std::string_view("1\0-0", 4)));
    CHECK(!StreamId::parse(std::string_view("1-0\0", 4)));
}

// ---- one entry -----------------------------------------------------------------------------

TEST_CASE("a text entry decodes to its id, origin, opcode and payload") {
    const Reply r = read(entry("1700000000000-3", kTextFields));
    const DecodedEntry d = decode(r);
    CHECK(d.error.empty());
    REQUIRE(d.id);
    CHECK(*d.id == StreamId{1700000000000, 3});
    REQUIRE(d.message);
    const StreamMessage& m = *d.message;
    CHECK(m.id == *d.id);
    CHECK(m.origin.node == "node-b");
    CHECK(m.origin.epoch == 7);
    CHECK(m.origin.member == 2);
    CHECK(m.origin.seq == 41);
    CHECK(m.op == Opcode::Text);
    CHECK(m.payload == "hello");
}

TEST_CASE("a binary payload keeps every byte, NUL bytes included, and is not copied") {
    std::string payload = "\0\xff\x00\r\n$3\r\n\x80"s;
    for (int i = 0; i < 300; ++i) payload.push_back(static_cast<char>(i * 37));
    Fields fields = with("o", "b");
    for (auto& f : fields) {
        if (f.first == "d") f.second = payload;
    }
    const Reply binary = read(entry("5-0", fields));
    const DecodedEntry d = decode(binary);
    REQUIRE(d.message);
    CHECK(d.message->op == Opcode::Binary);
    CHECK(d.message->payload.size() == payload.size());
    CHECK(d.message->payload == payload);
    // A view into the reply: valid exactly as long as the reply is.
    const redisReply* value = value_of(binary.get(), "d");
    CHECK(d.message->payload.data() == value->str);
    CHECK(d.message->origin.node.data() == value_of(binary.get(), "n")->str);
}

TEST_CASE("an empty payload is a message with no bytes") {
    for (const char* op : {"t", "b"}) {
        CAPTURE(op);
        Fields fields = with("o", op);
        for (auto& f : fields) {
            if (f.first == "d") f.second.clear();
        }
        const Reply r = read(entry("2-2", fields));
        const DecodedEntry d = decode(r);  // views into r
        REQUIRE(d.message);
        CHECK(d.message->payload.empty());
        CHECK(d.message->op == (op == "t"s ? Opcode::Text : Opcode::Binary));
    }
}

TEST_CASE("fields may come in any order and unknown fields are ignored") {
    const Fields shuffled = {{"d", "hello"}, {"x-trace", "abc"}, {"s", "41"}, {"o", "t"},
                             {"e", "7"},     {"m", "2"},         {"zz", ""},  {"n", "node-b"},
                             {"N", "other"}, {"dd", "no"}};
    const Reply r = read(entry("9-9", shuffled));
    const DecodedEntry d = decode(r);  // views into r
    REQUIRE(d.message);
    CHECK(d.message->origin.node == "node-b");
    CHECK(d.message->origin.epoch == 7);
    CHECK(d.message->origin.member == 2);
    CHECK(d.message->origin.seq == 41);
    CHECK(d.message->op == Opcode::Text);
    CHECK(d.message->payload == "hello");
}

TEST_CASE("the largest epoch, member and sequence are read exactly") {
    Fields fields = kTextFields;
    for (auto& f : fields) {
        if (f.first == "e" || f.first == "s") f.second = "18446744073709551615";
        if (f.first == "m") f.second = "4294967295";
    }
    const Reply r = read(entry("1-0", fields));
    const DecodedEntry d = decode(r);  // views into r
    REQUIRE(d.message);
    CHECK(d.message->origin.epoch == UINT64_MAX);
    CHECK(d.message->origin.member == UINT32_MAX);
    CHECK(d.message->origin.seq == UINT64_MAX);
}

TEST_CASE("a field sent as a simple string is read like a bulk string") {
    // [id, [+n, +node-b, ...]] written with status replies instead of bulk strings.
    std::string flat;
    for (const auto& [name, value] : kTextFields) flat += "+" + name + "\r\n+" + value + "\r\n";
    const Reply r = read("*2\r\n+1-0\r\n*12\r\n" + flat);
    const DecodedEntry d = decode(r);
    REQUIRE(d.message);
    CHECK(d.message->origin.node == "node-b");
    CHECK(d.message->payload == "hello");
}

TEST_CASE("each missing field is an error naming it, with the id still read") {
    require_error(decode(read(entry("1-0", with("n", std::nullopt)))), "field n");
    require_error(decode(read(entry("1-0", with("e", std::nullopt)))), "field e");
    require_error(decode(read(entry("1-0", with("m", std::nullopt)))), "field m");
    require_error(decode(read(entry("1-0", with("s", std::nullopt)))), "field s");
    require_error(decode(read(entry("1-0", with("o", std::nullopt)))), "field o");
    require_error(decode(read(entry("1-0", with("d", std::nullopt)))), "field d");
    require_error(decode(read(entry("1-0", {}))), "field n");
}

TEST_CASE("an empty node id is as good as none") {
    require_error(decode(read(entry("1-0", with("n", "")))), "field n");
}

TEST_CASE("epoch, member and sequence must be plain unsigned decimal numbers") {
    for (const char* bad :
         {"", "x", "-1", "+1", " 1", "1 ", "1.0", "0x10", "1e3", "18446744073709551616"}) {
        CAPTURE(bad);
        require_error(decode(read(entry("1-0", with("e", bad)))), "field e");
        require_error(decode(read(entry("1-0", with("m", bad)))), "field m");
        require_error(decode(read(entry("1-0", with("s", bad)))), "field s");
    }
}

TEST_CASE("a member above 2^32-1 is an error") {
    require_error(decode(read(entry("1-0", with("m", "4294967296")))), "field m");
    require_error(decode(read(entry("1-0", with("m", "18446744073709551615")))), "field m");
}

TEST_CASE("the opcode field must be exactly t or b") {
    for (const char* bad : {"", "x", "T", "B", "text", "tb", "t ", "1", "2"}) {
        CAPTURE(bad);
        require_error(decode(read(entry("1-0", with("o", bad)))), "field o");
    }
}

TEST_CASE("a text message whose payload is not valid UTF-8 is an error; binary takes any bytes") {
    for (std::string bad : {"\xff"s, "ab\xc3"s, "\xed\xa0\x80"s, "\xc0\xaf"s}) {
        CAPTURE(bad);
        require_error(decode(read(entry("1-0", with("d", bad)))), "not valid UTF-8");
        Fields binary = with("d", bad);
        binary[4].second = "b";
        CHECK(decode(read(entry("1-0", binary))).message.has_value());
    }
    CHECK(decode(read(entry("1-0", with("d", "caf\xc3\xa9 \xe2\x82\xac")))).message.has_value());
}

TEST_CASE("an odd number of field names and values is an error") {
    const Reply r = read(array({bulk("1-0"), array({bulk("n"), bulk("node-b"), bulk("e")})}));
    require_error(decode(r), "name/value pairs");
}

TEST_CASE("fields that are not an array are an error") {
    require_error(decode(read(array({bulk("1-0"), bulk("n")}))), "name/value pairs");
    require_error(decode(read(array({bulk("1-0"), ":3\r\n"}))), "name/value pairs");
    require_error(decode(read(array({bulk("1-0"), "$-1\r\n"}))), "name/value pairs");
}

TEST_CASE("a field name or value that is not a string is an error") {
    // An integer reply where the value should be.
    const std::string integer_value = array(
        {bulk("1-0"), array({bulk("n"), bulk("node-b"), bulk("e"), ":7\r\n", bulk("m"), bulk("2"),
                             bulk("s"), bulk("41"), bulk("o"), bulk("t"), bulk("d"), bulk("x")})});
    require_error(decode(read(integer_value)), "not a string");
    require_error(decode(read(array({bulk("1-0"), array({":1\r\n", bulk("x")})}))), "not a string");
    require_error(decode(read(array({bulk("1-0"), array({bulk("d"), "$-1\r\n"})}))),
                  "not a string");
    require_error(decode(read(array({bulk("1-0"), array({bulk("d"), array({bulk("x")})})}))),
                  "not a string");
    require_error(decode(read(array({bulk("1-0"), array({bulk("d"), "-ERR no\r\n"})}))),
                  "not a string");
}

TEST_CASE("an entry that is not [id, fields] is an error without an id") {
    const std::string fields = array({bulk("n"), bulk("node-b")});
    for (const std::string& bad :
         {bulk("1-0"), ":1\r\n"s, "$-1\r\n"s, "*-1\r\n"s, "+OK\r\n"s, "-ERR x\r\n"s, array({}),
          array({bulk("1-0")}), array({bulk("1-0"), fields, bulk("extra")}),
          array({":1\r\n", fields}), array({"$-1\r\n", fields}),
          array({array({bulk("1-0")}), fields})}) {
        CAPTURE(bad);
        require_error(decode(read(bad)), "not [id, fields]", std::nullopt);
    }
    require_error(decode_entry(nullptr), "not [id, fields]", std::nullopt);
}

TEST_CASE("an entry with a malformed id is an error without an id") {
    for (const char* bad : {"", "1", "1-", "x-1", "1-2-3", "18446744073709551616-0"}) {
        CAPTURE(bad);
        require_error(decode(read(entry(bad, kTextFields))), "bad stream id", std::nullopt);
    }
}

// ---- channels ------------------------------------------------------------------------------

TEST_CASE("an entry without ch has no channel, as every entry before channels") {
    const Reply r = read(entry("1-0", kTextFields));
    const DecodedEntry d = decode(r);
    REQUIRE(d.message);
    CHECK(d.message->channel.empty());
}

TEST_CASE("ch is the message's channel, a view into the reply, in any position") {
    Fields last = kTextFields;
    last.emplace_back("ch", "rooms/42");
    Fields first = {{"ch", "news/sport"}};
    for (const auto& f : kTextFields) first.push_back(f);
    for (const auto& [fields, name] : {std::pair{last, "rooms/42"s}, std::pair{first, "news/sport"s}}) {
        CAPTURE(name);
        const Reply r = read(entry("3-1", fields));
        const DecodedEntry d = decode(r);
        REQUIRE(d.message);
        CHECK(d.message->channel == name);
        CHECK(d.message->channel.data() == value_of(r.get(), "ch")->str);
        CHECK(d.message->payload == "hello");
        CHECK(d.message->origin.seq == 41);
    }
}

TEST_CASE("a channel name takes any bytes up to 128; an empty one is no channel") {
    for (std::string name : {"a"s, std::string(kMaxChannelBytes, 'c'), "rooms/\0/x"s, "\xff\x00"s}) {
        CAPTURE(name.size());
        Fields fields = kTextFields;
        fields.emplace_back("ch", name);
        const Reply r = read(entry("1-0", fields));
        const DecodedEntry d = decode(r);
        REQUIRE(d.message);
        CHECK(d.message->channel == name);
    }
    Fields empty = kTextFields;
    empty.emplace_back("ch", "");
    const Reply r = read(entry("1-0", empty));
    const DecodedEntry d = decode(r);
    REQUIRE(d.message);
    CHECK(d.message->channel.empty());
}

TEST_CASE("a channel name longer than 128 bytes is an error naming the field") {
    REQUIRE(kMaxChannelBytes == 128);
    Fields fields = kTextFields;
    fields.emplace_back("ch", std::string(kMaxChannelBytes + 1, 'c'));
    require_error(decode(read(entry("1-0", fields))), "field ch");
}

TEST_CASE("ch must be a string like every other field") {
    std::vector<std::string> flat;
    for (const auto& [name, value] : kTextFields) {
        flat.push_back(bulk(name));
        flat.push_back(bulk(value));
    }
    flat.push_back(bulk("ch"));
    flat.push_back(":5\r\n");
    require_error(decode(read(array({bulk("1-0"), array_of(flat)}))), "not a string");
}

TEST_CASE("fields named like ch are not the channel") {
    Fields fields = kTextFields;
    fields.emplace_back("c", "x");
    fields.emplace_back("CH", "y");
    fields.emplace_back("chan", "z");
    fields.emplace_back("ch ", "w");
    const Reply r = read(entry("1-0", fields));
    const DecodedEntry d = decode(r);
    REQUIRE(d.message);
    CHECK(d.message->channel.empty());
}

// ---- whole replies -------------------------------------------------------------------------

TEST_CASE("an XREAD that timed out (nil) has no entries and no error") {
    for (const char* nil : {"*-1\r\n", "$-1\r\n"}) {
        CAPTURE(nil);
        const Reply r = read(nil);
        std::string error = "left over";
        CHECK(entries_of(r.get(), true, &error) == nullptr);
        CHECK(error.empty());
        CHECK(entries_of(r.get(), false, &error) == nullptr);
        CHECK(error.empty());
    }
}

TEST_CASE("an XREAD reply naming no stream has no entries and no error") {
    const Reply r = read(array({}));
    std::string error = "left over";
    CHECK(count(entries_of(r.get(), true, &error)) == 0);
    CHECK(error.empty());
}

TEST_CASE("an XREAD reply for one stream gives its entries in order") {
    const Reply r =
        read(xread("ringcast", {entry("1-0", kTextFields), entry("1-1", with("s", "42")),
                                entry("2-0", with("n", "node-c"))}));
    std::string error;
    const redisReply* entries = entries_of(r.get(), true, &error);
    CHECK(error.empty());
    REQUIRE(entries);
    REQUIRE(entries->elements == 3);
    CHECK(entries == r->element[0]->element[1]);
    const DecodedEntry a = decode_entry(entries->element[0]);
    const DecodedEntry b = decode_entry(entries->element[1]);
    const DecodedEntry c = decode_entry(entries->element[2]);
    REQUIRE((a.message && b.message && c.message));
    CHECK(a.message->id == StreamId{1, 0});
    CHECK(b.message->id == StreamId{1, 1});
    CHECK(b.message->origin.seq == 42);
    CHECK(c.message->id == StreamId{2, 0});
    CHECK(c.message->origin.node == "node-c");
}

TEST_CASE("an XREAD reply for a stream with no entries gives an empty list") {
    const Reply r = read(xread("ringcast", {}));
    std::string error;
    CHECK(count(entries_of(r.get(), true, &error)) == 0);
    CHECK(error.empty());
}

TEST_CASE("an XREAD reply naming two streams is an error") {
    const std::string one = array({bulk("a"), array({entry("1-0", kTextFields)})});
    const std::string two = array({bulk("b"), array({entry("1-1", kTextFields)})});
    const Reply r = read(array({one, two}));
    std::string error;
    CHECK(entries_of(r.get(), true, &error) == nullptr);
    CHECK(error.find("more than one stream") != std::string::npos);
}

TEST_CASE("an error reply is an error that quotes it, for XREAD and XRANGE alike") {
    const Reply r = read("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    for (bool xread_reply : {true, false}) {
        std::string error;
        CHECK(entries_of(r.get(), xread_reply, &error) == nullptr);
        CHECK(error.find("WRONGTYPE Operation against a key holding the wrong kind of value") !=
              std::string::npos);
    }
}

TEST_CASE("a reply that is neither an array, nil nor an error is an error") {
    for (const std::string& bad : {":1\r\n"s, bulk("ringcast"), "+OK\r\n"s}) {
        CAPTURE(bad);
        const Reply r = read(bad);
        for (bool xread_reply : {true, false}) {
            std::string error;
            CHECK(entries_of(r.get(), xread_reply, &error) == nullptr);
            CHECK(error.find("not an array") != std::string::npos);
        }
    }
    std::string error;
    CHECK(entries_of(nullptr, true, &error) == nullptr);
    CHECK(!error.empty());
}

TEST_CASE("an XREAD stream element that is not [key, entries] is an error") {
    const std::string entries = array({entry("1-0", kTextFields)});
    for (const std::string& bad :
         {array({bulk("ringcast")}), array({bulk("ringcast"), entries, bulk("x")}),
          array({bulk("ringcast"), bulk("entries")}), array({bulk("ringcast"), ":1\r\n"}),
          array({bulk("ringcast"), "*-1\r\n"}), bulk("ringcast"), ":1\r\n"s, "$-1\r\n"s,
          array({})}) {
        CAPTURE(bad);
        const Reply r = read(array({bad}));
        std::string error;
        CHECK(entries_of(r.get(), true, &error) == nullptr);
        CHECK(error.find("not [key, entries]") != std::string::npos);
    }
}

TEST_CASE("an XRANGE or XREVRANGE reply is the list of entries itself") {
    const Reply r = read(array({entry("3-0", with("s", "43")), entry("2-0", with("s", "42"))}));
    std::string error = "left over";
    const redisReply* entries = entries_of(r.get(), false, &error);
    CHECK(error.empty());
    REQUIRE(entries == r.get());
    REQUIRE(entries->elements == 2);
    const DecodedEntry newest = decode_entry(entries->element[0]);
    REQUIRE(newest.message);
    CHECK(newest.message->id == StreamId{3, 0});
    CHECK(newest.message->origin.seq == 43);

    const Reply empty = read(array({}));
    CHECK(count(entries_of(empty.get(), false, &error)) == 0);
    CHECK(error.empty());
}

TEST_CASE("a bad entry in a list does not hide the good ones around it") {
    const Reply r = read(array({entry("1-0", kTextFields), entry("1-1", with("o", "x")), ":5\r\n",
                                entry("1-2", kTextFields)}));
    std::string error;
    const redisReply* entries = entries_of(r.get(), false, &error);
    REQUIRE(count(entries) == 4);
    CHECK(decode_entry(entries->element[0]).message);
    const DecodedEntry bad = decode_entry(entries->element[1]);
    CHECK(!bad.message);
    CHECK(bad.id == StreamId{1, 1});  // the reader can still move past it
    CHECK(!decode_entry(entries->element[2]).message);
    CHECK(decode_entry(entries->element[3]).message);
}

// ---- XADD ----------------------------------------------------------------------------------

TEST_CASE("XADD arguments are the entry's fields after a trimmed, auto-id XADD") {
    const std::string stream = "ringcast";
    const std::string node = "node-a";
    const std::string payload = "x\0y\0\0z"s;
    XaddArgs a;
    build_xadd(a, stream, 100000, node, Origin{node, 3, 1, 99}, Opcode::Binary, payload);
    const std::vector<std::string> expected = {
        "XADD", "ringcast", "MAXLEN", "~", "100000", "*", "n", "node-a", "e",
        "3",    "m",        "1",      "s", "99",     "o", "b", "d",      payload};
    REQUIRE(XaddArgs::kCount == 18);
    REQUIRE(a.count == XaddArgs::kCount);  // no channel: no "ch", as before channels
    for (int i = 0; i < XaddArgs::kCount; ++i) {
        CAPTURE(i);
        CHECK(a.len[i] == expected[static_cast<size_t>(i)].size());
        CHECK(arg(a, i) == expected[static_cast<size_t>(i)]);
    }
    CHECK(a.len[17] == 6);  // NUL bytes counted, not cut
    // The stream, node and payload are the caller's bytes, not copies.
    CHECK(a.argv[1] == stream.data());
    CHECK(a.argv[7] == node.data());
    CHECK(a.argv[17] == payload.data());
}

TEST_CASE("XADD writes a text message as o=t and anything else as o=b") {
    XaddArgs a;
    build_xadd(a, "s", 1, "n1", Origin{"n1", 0, 0, 0}, Opcode::Text, "hi");
    CHECK(arg(a, 15) == "t");
    build_xadd(a, "s", 1, "n1", Origin{"n1", 0, 0, 0}, Opcode::Binary, "hi");
    CHECK(arg(a, 15) == "b");
}

TEST_CASE("XADD writes the largest numbers in full and zero as 0") {
    XaddArgs a;
    build_xadd(a, "s", UINT64_MAX, "n1", Origin{"n1", UINT64_MAX, UINT32_MAX, UINT64_MAX},
               Opcode::Text, "");
    CHECK(arg(a, 4) == "18446744073709551615");
    CHECK(arg(a, 9) == "18446744073709551615");
    CHECK(arg(a, 11) == "4294967295");
    CHECK(arg(a, 13) == "18446744073709551615");
    CHECK(a.len[17] == 0);
    build_xadd(a, "s", 0, "n1", Origin{"n1", 0, 0, 0}, Opcode::Text, "");
    CHECK(arg(a, 4) == "0");
    CHECK(arg(a, 9) == "0");
    CHECK(arg(a, 11) == "0");
    CHECK(arg(a, 13) == "0");
}

TEST_CASE("one XaddArgs can be rebuilt for each message") {
    XaddArgs a;
    build_xadd(a, "s", 10, "n1", Origin{"n1", 12345678901, 4000000000, 98765432109876},
               Opcode::Binary, "first payload");
    build_xadd(a, "s", 7, "n2", Origin{"n2", 2, 3, 4}, Opcode::Text, "second");
    CHECK(arg(a, 4) == "7");
    CHECK(arg(a, 7) == "n2");
    CHECK(arg(a, 9) == "2");
    CHECK(arg(a, 11) == "3");
    CHECK(arg(a, 13) == "4");
    CHECK(arg(a, 15) == "t");
    CHECK(arg(a, 17) == "second");
}

TEST_CASE("XADD with a channel appends ch <name> after the fields of an entry without one") {
    const std::string channel = "rooms/42";
    XaddArgs a;
    build_xadd(a, "ringcast", 100000, "node-a", Origin{"node-a", 3, 1, 99}, Opcode::Text, "hi", channel);
    REQUIRE(a.count == XaddArgs::kMaxCount);
    const std::vector<std::string> expected = {"XADD", "ringcast", "MAXLEN", "~", "100000", "*", "n",
                                               "node-a", "e", "3", "m", "1", "s", "99", "o", "t", "d",
                                               "hi", "ch", "rooms/42"};
    REQUIRE(expected.size() == XaddArgs::kMaxCount);
    for (int i = 0; i < a.count; ++i) {
        CAPTURE(i);
        CHECK(arg(a, i) == expected[static_cast<size_t>(i)]);
    }
    CHECK(a.argv[19] == channel.data());  // the caller's bytes
    // Rebuilt without one: back to the old entry.
    build_xadd(a, "ringcast", 100000, "node-a", Origin{"node-a", 3, 1, 100}, Opcode::Text, "hi");
    CHECK(a.count == XaddArgs::kCount);
    build_xadd(a, "ringcast", 100000, "node-a", Origin{"node-a", 3, 1, 101}, Opcode::Text, "hi", "");
    CHECK(a.count == XaddArgs::kCount);
}

TEST_CASE("hiredis sends the XADD arguments as bulk strings, NUL bytes included") {
    const std::string payload = "\0bin\0"s;
    XaddArgs a;
    build_xadd(a, "ringcast", 5, "node-a", Origin{"node-a", 1, 2, 3}, Opcode::Binary, payload);
    char* cmd = nullptr;
    const int n = redisFormatCommandArgv(&cmd, a.count, a.argv, a.len);
    REQUIRE(n > 0);
    const std::string formatted(cmd, static_cast<size_t>(n));
    redisFreeCommand(cmd);
    std::vector<std::string> bulks;
    for (int i = 0; i < a.count; ++i) bulks.push_back(bulk(arg(a, i)));
    CHECK(formatted == array_of(bulks));
}

TEST_CASE("an entry written with the XADD fields decodes to the same origin, opcode and payload") {
    std::string binary = "\0\x01\xfe\xff"s;
    for (int i = 0; i < 200; ++i) binary.push_back(static_cast<char>(255 - i));
    struct Case {
        Origin origin;
        Opcode op;
        std::string payload;
        std::string channel;
    };
    const std::string node = "node-a:9002";
    for (const Case& c : {Case{{node, 1, 0, 0}, Opcode::Text, "hello", ""},
                          Case{{node, 77, 3, 123456}, Opcode::Binary, binary, ""},
                          Case{{node, UINT64_MAX, UINT32_MAX, UINT64_MAX}, Opcode::Text, "", ""},
                          Case{{node, 5, 1, 9}, Opcode::Text, "on a channel", "rooms/42"},
                          Case{{node, 5, 1, 10}, Opcode::Binary, binary, std::string(kMaxChannelBytes, 'z')}}) {
        XaddArgs a;
        build_xadd(a, "ringcast", 1000, node, c.origin, c.op, c.payload, c.channel);
        // The stream stores the field list exactly as XADD gave it: arguments 6 to the last.
        std::vector<std::string> fields;
        for (int i = 6; i < a.count; ++i) fields.push_back(bulk(arg(a, i)));
        const Reply r =
            read(xread("ringcast", {array({bulk("1700000000000-0"), array_of(fields)})}));
        std::string error;
        const redisReply* entries = entries_of(r.get(), true, &error);
        REQUIRE(count(entries) == 1);
        const DecodedEntry d = decode_entry(entries->element[0]);
        REQUIRE(d.message);
        CHECK(d.message->origin.node == node);
        CHECK(d.message->origin.epoch == c.origin.epoch);
        CHECK(d.message->origin.member == c.origin.member);
        CHECK(d.message->origin.seq == c.origin.seq);
        CHECK(d.message->op == c.op);
        CHECK(d.message->payload == c.payload);
        CHECK(d.message->channel == c.channel);
    }
}
