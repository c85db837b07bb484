// Channels (docs/channels.md): which audience a connection joins, named by the upgrade's path,
// and whether its token lets it join and publish there. Pure code.
//
//   GET /rooms/42?token=... -> "rooms/42"        GET / -> "" (the root channel)
//   GET ws://host/ticker/ABC -> "ticker/ABC"      (absolute-form: its path)
//
// A name is 0..128 bytes of segments separated by single '/': each segment 1+ characters
// from A-Z a-z 0-9 - _ . ~ : @ ! $ & ' ( ) * + , ; = but never "." or ".."; no leading or
// trailing '/', no empty segment, no percent-escape (one spelling per channel). Anything else
// is a 400 with the reason.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace ringcast::admission {

inline constexpr size_t kMaxChannelName = 128;

// The channel the request target names, or why it names none (a fixed text).
std::variant<std::string, const char*> channel_from_target(std::string_view target);

// "*" matches every channel; "rooms/*" every channel under rooms/ (not "rooms" itself);
// anything else that exact name.
bool channel_pattern_matches(std::string_view pattern, std::string_view channel);

// What a token's "ringcast" claim allows on a channel: "channels" (patterns it may join) and
// "publish_channels" (patterns it may publish on), each an array of strings; absent = no
// restriction. A claim of the wrong shape allows nothing (the verifier already refuses a
// ringcast claim that is not an object).
struct ChannelRights {
    bool join = true;
    bool publish = true;  // on top of the connection's role: a listener never publishes
};
ChannelRights channel_rights(const nlohmann::json& ringcast_claim, std::string_view channel);

}  // namespace ringcast::admission
