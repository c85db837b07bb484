// tests/unit/admission_channel.cpp: the specification of channels' path rules and rights
// (admission/channel.hpp): which channel a request target names or why it names none, how a
// token's patterns match a channel, and what its ringcast claim lets it join and publish.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "admission/channel.hpp"

using namespace ringcast::admission;
using nlohmann::json;

namespace {

// The channel named, or "ERROR: reason".
std::string channel_of(std::string_view target) {
    auto r = channel_from_target(target);
    if (auto* reason = std::get_if<const char*>(&r)) return std::string("ERROR: ") + *reason;
    return std::get<std::string>(r);
}

bool accepted(std::string_view target) {
    return std::holds_alternative<std::string>(channel_from_target(target));
}

constexpr std::string_view kNameCharacters =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~:@!$&'()*+,;=";

}  // namespace

TEST_SUITE("channel names from the request target") {
    TEST_CASE("the root path is the root channel, named \"\"") {
        CHECK(channel_of("/") == "");
        CHECK(channel_of("/?token=abc") == "");
        CHECK(channel_of("/#top") == "");
    }

    TEST_CASE("a path names its channel without the leading slash, nested segments kept") {
        CHECK(channel_of("/rooms") == "rooms");
        CHECK(channel_of("/rooms/42") == "rooms/42");
        CHECK(channel_of("/a/b/c/d") == "a/b/c/d");
        CHECK(channel_of("/ticker/ABC") == "ticker/ABC");  // case is kept: ABC is not abc
    }

    TEST_CASE("the query and the fragment are not part of the name") {
        CHECK(channel_of("/rooms/42?token=x.y.z") == "rooms/42");
        CHECK(channel_of("/rooms/42#frag") == "rooms/42");
        CHECK(channel_of("/rooms/42?a=b#frag") == "rooms/42");
        // What follows ? or # is never checked as a name: slashes, dots, %, spaces are fine.
        CHECK(channel_of("/a?next=/b//c/../%20d e") == "a");
        CHECK(channel_of("/a#/../..") == "a");
    }

    TEST_CASE("an absolute-form target names the channel of its path") {
        CHECK(channel_of("ws://host/ticker/ABC") == "ticker/ABC");
        CHECK(channel_of("wss://host:443/rooms/42?token=t") == "rooms/42");
        CHECK(channel_of("http://example.com/") == "");
        CHECK(channel_of("ws://host") == "");
        CHECK(channel_of("ws://host?a=/b") == "");  // the authority ends at ?, so no path
        CHECK(channel_of("ws://host#x/y") == "");
        CHECK(channel_of("ws://host//a") == "ERROR: empty segment in channel name");
        CHECK(channel_of("ws://host/a/") == "ERROR: trailing slash in channel name");
    }

    TEST_CASE("a target that is neither a path nor absolute-form names no channel") {
        CHECK(channel_of("") == "ERROR: empty request target");
        CHECK(channel_of("*") == "ERROR: request target is not a path");
        CHECK(channel_of("rooms/42") == "ERROR: request target is not a path");
        CHECK(channel_of("host:80") == "ERROR: request target is not a path");
        CHECK(channel_of("?x://y/z") == "ERROR: request target is not a path");  // not a scheme
        CHECK(channel_of("1ws://h/a") == "ERROR: request target is not a path");
    }

    TEST_CASE("a name of 128 bytes is accepted, 129 is refused, wherever the query starts") {
        const std::string name128(128, 'a');
        CHECK(channel_of("/" + name128) == name128);
        CHECK(channel_of("/" + name128 + "?token=" + std::string(500, 't')) == name128);
        const std::string nested = std::string(63, 'a') + "/" + std::string(64, 'b');
        REQUIRE(nested.size() == 128);
        CHECK(channel_of("/" + nested) == nested);
        CHECK(channel_of("/" + std::string(129, 'a')) == "ERROR: channel name longer than 128 bytes");
        CHECK(channel_of("ws://h/" + std::string(129, 'a')) ==
              "ERROR: channel name longer than 128 bytes");
        CHECK(kMaxChannelName == 128);
    }

    TEST_CASE("every character of the name set is accepted alone, between others and nested") {
        for (char c : kNameCharacters) {
            const std::string one(1, c);
            CAPTURE(one);
            if (c == '.') continue;  // "." alone is a dot segment
            CHECK(channel_of("/" + one) == one);
            CHECK(channel_of("/a" + one + "b") == "a" + one + "b");
            CHECK(channel_of("/x/" + one + "/y") == "x/" + one + "/y");
        }
        CHECK(channel_of("/a.b") == "a.b");
        CHECK(channel_of("/" + std::string(kNameCharacters)) == kNameCharacters);
    }

    TEST_CASE("every other byte is refused, % as a percent-escape, the rest by class") {
        for (int b = 0; b < 256; ++b) {
            const char c = static_cast<char>(b);
            if (c == '/' || c == '?' || c == '#') continue;  // separators, specified above
            if (kNameCharacters.find(c) != std::string_view::npos) continue;
            const std::string target = "/a" + std::string(1, c) + "b";
            CAPTURE(b);
            if (c == '%')
                CHECK(channel_of(target) == "ERROR: percent-escape in channel name");
            else
                CHECK(channel_of(target) == "ERROR: character not allowed in channel name");
        }
    }

    TEST_CASE("refused classes, by example: space, controls, DEL, non-ASCII, quotes, brackets") {
        for (const char* target :
             {"/a b", "/a\tb", "/a\x01", "/a\x7f", "/caf\xc3\xa9", "/a\"b", "/<a>", "/a\\b",
              "/a^b", "/a`b", "/{a}", "/a|b", "/[a]", "/a\xff"})
            CHECK_MESSAGE(channel_of(target) == "ERROR: character not allowed in channel name",
                          target);
        CHECK(channel_of(std::string_view("/a\0b", 4)) ==
              "ERROR: character not allowed in channel name");
    }

    TEST_CASE("a percent-escape is refused, even one for an allowed character") {
        CHECK(channel_of("/a%20b") == "ERROR: percent-escape in channel name");
        CHECK(channel_of("/%61") == "ERROR: percent-escape in channel name");  // "a"
        CHECK(channel_of("/rooms%2F42") == "ERROR: percent-escape in channel name");
        CHECK(channel_of("/%") == "ERROR: percent-escape in channel name");
    }

    TEST_CASE("an empty segment is refused: a double slash anywhere") {
        CHECK(channel_of("//") == "ERROR: empty segment in channel name");
        CHECK(channel_of("//a") == "ERROR: empty segment in channel name");
        CHECK(channel_of("/a//b") == "ERROR: empty segment in channel name");
        CHECK(channel_of("/a/b//") == "ERROR: empty segment in channel name");
    }

    TEST_CASE("a trailing slash is refused: rooms/ is not rooms") {
        CHECK(channel_of("/rooms/") == "ERROR: trailing slash in channel name");
        CHECK(channel_of("/rooms/42/") == "ERROR: trailing slash in channel name");
        CHECK(channel_of("/rooms/?x") == "ERROR: trailing slash in channel name");
    }

    TEST_CASE("a dot segment is refused wherever it stands; dots inside a segment are fine") {
        for (const char* target : {"/.", "/..", "/./a", "/../a", "/a/.", "/a/..", "/a/./b",
                                   "/a/../b", "/.?x", "/a/..#y"})
            CHECK_MESSAGE(channel_of(target) == "ERROR: dot segment in channel name", target);
        CHECK(channel_of("/...") == "...");
        CHECK(channel_of("/.a") == ".a");
        CHECK(channel_of("/a.") == "a.");
        CHECK(channel_of("/a/..b/c..") == "a/..b/c..");
    }

    TEST_CASE("a returned name is itself a path's channel: one spelling per channel") {
        for (const char* target : {"/", "/a", "/rooms/42?t=1", "ws://h/x/y.z", "/~user/@me"}) {
            CAPTURE(target);
            const std::string name = channel_of(target);
            REQUIRE(accepted("/" + name));
            CHECK(channel_of("/" + name) == name);
        }
    }
}

TEST_SUITE("channel patterns") {
    TEST_CASE("\"*\" matches every channel, the root one too") {
        for (const char* channel : {"", "a", "rooms", "rooms/42", "rooms/a/b", "*"})
            CHECK_MESSAGE(channel_pattern_matches("*", channel), channel);
    }

    TEST_CASE("\"rooms/*\" matches every channel under rooms/, at any depth, not rooms itself") {
        CHECK(channel_pattern_matches("rooms/*", "rooms/42"));
        CHECK(channel_pattern_matches("rooms/*", "rooms/a/b"));
        CHECK(channel_pattern_matches("rooms/*", "rooms/*"));
        CHECK_FALSE(channel_pattern_matches("rooms/*", "rooms"));
        CHECK_FALSE(channel_pattern_matches("rooms/*", "rooms/"));
        CHECK_FALSE(channel_pattern_matches("rooms/*", "roomsX/42"));
        CHECK_FALSE(channel_pattern_matches("rooms/*", "rooms2/42"));
        CHECK_FALSE(channel_pattern_matches("rooms/*", "other/rooms/42"));
        CHECK_FALSE(channel_pattern_matches("rooms/*", ""));
        CHECK(channel_pattern_matches("a/b/*", "a/b/c"));
        CHECK_FALSE(channel_pattern_matches("a/b/*", "a/c/d"));
    }

    TEST_CASE("any other pattern is one exact name, case-sensitive; * inside it is literal") {
        CHECK(channel_pattern_matches("rooms", "rooms"));
        CHECK_FALSE(channel_pattern_matches("rooms", "rooms/42"));
        CHECK_FALSE(channel_pattern_matches("rooms", "Rooms"));
        CHECK_FALSE(channel_pattern_matches("rooms", "room"));
        CHECK(channel_pattern_matches("rooms/42", "rooms/42"));
        CHECK_FALSE(channel_pattern_matches("rooms/42", "rooms/420"));
        CHECK(channel_pattern_matches("", ""));  // the root channel by name
        CHECK_FALSE(channel_pattern_matches("", "a"));
        CHECK(channel_pattern_matches("rooms*", "rooms*"));
        CHECK_FALSE(channel_pattern_matches("rooms*", "rooms1"));
        CHECK_FALSE(channel_pattern_matches("*/a", "x/a"));
    }
}

TEST_SUITE("channel rights") {
    TEST_CASE("no ringcast claim, or one without channel keys, allows joining and publishing") {
        for (const json& claim : {json(), json::object(), json{{"publish", false}}}) {
            CAPTURE(claim.dump());
            const ChannelRights r = channel_rights(claim, "rooms/42");
            CHECK(r.join);
            CHECK(r.publish);  // the role (ringcast.publish) is applied elsewhere
        }
        CHECK(channel_rights(json(), "").join);
    }

    TEST_CASE("channels alone: join and publish where a pattern matches, nowhere else") {
        const json claim = {{"channels", {"rooms/*", "lobby"}}};
        ChannelRights r = channel_rights(claim, "rooms/42");
        CHECK(r.join);
        CHECK(r.publish);
        r = channel_rights(claim, "lobby");
        CHECK(r.join);
        CHECK(r.publish);
        for (const char* channel : {"rooms", "", "lobby/x", "other"}) {
            CAPTURE(channel);
            r = channel_rights(claim, channel);
            CHECK_FALSE(r.join);
            CHECK_FALSE(r.publish);  // never publish where it may not join
        }
        CHECK_FALSE(channel_rights({{"channels", json::array()}}, "a").join);  // [] = none
        CHECK(channel_rights({{"channels", {""}}}, "").join);               // the root by name
    }

    TEST_CASE("publish_channels alone: join anywhere, publish only where a pattern matches") {
        const json claim = {{"publish_channels", {"news/*"}}};
        ChannelRights r = channel_rights(claim, "news/today");
        CHECK(r.join);
        CHECK(r.publish);
        r = channel_rights(claim, "rooms/42");
        CHECK(r.join);
        CHECK_FALSE(r.publish);
        r = channel_rights(claim, "news");
        CHECK(r.join);
        CHECK_FALSE(r.publish);
    }

    TEST_CASE("both: publishing needs a join pattern and a publish pattern") {
        const json claim = {{"channels", {"rooms/*"}}, {"publish_channels", {"*"}}};
        CHECK(channel_rights(claim, "rooms/1").publish);
        ChannelRights r = channel_rights(claim, "news/1");
        CHECK_FALSE(r.join);
        CHECK_FALSE(r.publish);
        const json narrow = {{"channels", {"*"}}, {"publish_channels", {"rooms/mine"}}};
        CHECK(channel_rights(narrow, "rooms/mine").publish);
        r = channel_rights(narrow, "rooms/yours");
        CHECK(r.join);
        CHECK_FALSE(r.publish);
    }

    TEST_CASE("a claim of the wrong type allows nothing it governs") {
        for (const json& bad : {json("rooms/*"), json(1), json(true), json::object(),
                                json(nullptr), json{{"rooms", 1}}}) {
            CAPTURE(bad.dump());
            ChannelRights r = channel_rights({{"channels", bad}}, "rooms/1");
            CHECK_FALSE(r.join);
            CHECK_FALSE(r.publish);
            r = channel_rights({{"publish_channels", bad}}, "rooms/1");
            CHECK(r.join);
            CHECK_FALSE(r.publish);
        }
    }

    TEST_CASE("entries that are not strings match nothing; the string entries still count") {
        const json claim = {{"channels", {1, nullptr, json::array({"rooms/*"}), "lobby"}}};
        CHECK(channel_rights(claim, "lobby").join);
        CHECK_FALSE(channel_rights(claim, "rooms/1").join);
        CHECK_FALSE(channel_rights({{"channels", {1, 2}}}, "1").join);
    }
}
