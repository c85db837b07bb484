// BridgeOptions <-> JSON.
#include "bridge/options.hpp"

#include <nlohmann/json.hpp>

namespace ringcast::bridge {

using nlohmann::json;

std::string encode_bridge_spec(const BridgeOptions& o) {
    json j = {{"segment", o.segment},       {"member", o.member},
              {"wake_fds", o.wake_fds},     {"control_fd", o.control_fd},
              {"redis_host", o.redis_host}, {"redis_port", o.redis_port},
              {"redis_username", o.redis_username},
              {"redis_password_file", o.redis_password_file},
              {"stream", o.stream},         {"node_id", o.node_id},
              {"maxlen", o.maxlen},         {"buffer_messages", o.buffer_messages},
              {"drop_newest", o.drop_newest}, {"epoch", o.epoch},
              {"resume", o.resume},         {"log_level", o.log_level}};
    return j.dump();
}

std::variant<BridgeOptions, std::string> decode_bridge_spec(const std::string& text) {
    try {
        json j = json::parse(text);
        BridgeOptions o;
        o.segment = j.at("segment").get<std::string>();
        o.member = j.at("member").get<uint32_t>();
        o.wake_fds = j.at("wake_fds").get<std::vector<int>>();
        o.control_fd = j.at("control_fd").get<int>();
        o.redis_host = j.at("redis_host").get<std::string>();
        o.redis_port = j.at("redis_port").get<uint16_t>();
        o.redis_username = j.at("redis_username").get<std::string>();
        o.redis_password_file = j.at("redis_password_file").get<std::string>();
        o.stream = j.at("stream").get<std::string>();
        o.node_id = j.at("node_id").get<std::string>();
        o.maxlen = j.at("maxlen").get<uint64_t>();
        o.buffer_messages = j.at("buffer_messages").get<uint64_t>();
        o.drop_newest = j.at("drop_newest").get<bool>();
        o.epoch = j.at("epoch").get<uint64_t>();
        o.resume = j.at("resume").get<bool>();
        o.log_level = j.at("log_level").get<int>();
        return o;
    } catch (const std::exception& e) {
        return std::string("bad bridge spec: ") + e.what();
    }
}

}  // namespace ringcast::bridge
