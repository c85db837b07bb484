// A worker's settings from the config, and WorkerOptions <-> JSON.
#include "supervisor/worker_spec.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "supervisor/admission_settings.hpp"
#include "worker/admission_json.hpp"

namespace ringcast::supervisor {

using nlohmann::json;

worker::Settings worker_settings(const Config& c) {
    worker::Settings s;
    s.batch = c.batch;
    s.max_message_bytes = c.max_message_bytes;
    s.max_buffered_bytes = c.max_buffered_bytes;
    s.ping_interval_ms = c.ping_interval_ms;
    s.shutdown_timeout_ms = c.shutdown_timeout_ms;
    s.connection_log = c.connection_log;
    s.compression = c.compression.enabled;
    // Above max_message_bytes no message qualifies; the worker's field is 32-bit.
    s.compression_min_bytes =
        static_cast<uint32_t>(std::min<uint64_t>(c.compression.min_bytes, UINT32_MAX));
    s.compression_level = c.compression.level;
    s.admission = admission_settings(c);
    s.channels = c.channels == "path";
    s.max_channels = c.max_channels;
    s.max_subscribers_per_channel = c.max_subscribers_per_channel;
    return s;
}

std::string encode_worker_spec(const worker::WorkerOptions& o) {
    json shards = json::array();
    for (const auto& s : o.shards) shards.push_back({{"member", s.member}, {"listen_fd", s.listen_fd}, {"cpu", s.cpu}});
    json j = {
        {"index", o.index},
        {"segment", o.segment},
        {"numa_node", o.numa_node},
        {"shards", shards},
        {"wake_fds", o.wake_fds},
        {"log_level", o.log_level},
        {"control_fd", o.control_fd},
        {"handoff_fd", o.handoff_fd},
        {"settings",
         {{"batch", o.settings.batch},
          {"max_message_bytes", o.settings.max_message_bytes},
          {"max_buffered_bytes", o.settings.max_buffered_bytes},
          {"ping_interval_ms", o.settings.ping_interval_ms},
          {"shutdown_timeout_ms", o.settings.shutdown_timeout_ms},
          {"connection_log", o.settings.connection_log},
          {"compression", o.settings.compression},
          {"compression_min_bytes", o.settings.compression_min_bytes},
          {"compression_level", o.settings.compression_level},
          {"channels", o.settings.channels},
          {"max_channels", o.settings.max_channels},
          {"max_subscribers_per_channel", o.settings.max_subscribers_per_channel},
          {"admission", worker::admission_to_json(o.settings.admission)}}},
    };
    return j.dump();
}

std::variant<worker::WorkerOptions, std::string> decode_worker_spec(const std::string& text) {
    try {
        json j = json::parse(text);
        worker::WorkerOptions o;
        o.index = j.at("index").get<uint32_t>();
        o.segment = j.at("segment").get<std::string>();
        o.numa_node = j.at("numa_node").get<int>();
        o.log_level = j.at("log_level").get<int>();
        o.control_fd = j.at("control_fd").get<int>();
        o.handoff_fd = j.at("handoff_fd").get<int>();
        o.wake_fds = j.at("wake_fds").get<std::vector<int>>();
        for (const auto& s : j.at("shards")) {
            o.shards.push_back(worker::ShardOptions{s.at("member").get<uint32_t>(), s.at("listen_fd").get<int>(),
                                                    s.at("cpu").get<int>()});
        }
        const json& st = j.at("settings");
        o.settings.batch = st.at("batch").get<uint32_t>();
        o.settings.max_message_bytes = st.at("max_message_bytes").get<uint64_t>();
        o.settings.max_buffered_bytes = st.at("max_buffered_bytes").get<uint64_t>();
        o.settings.ping_interval_ms = st.at("ping_interval_ms").get<uint32_t>();
        o.settings.shutdown_timeout_ms = st.at("shutdown_timeout_ms").get<uint32_t>();
        o.settings.connection_log = st.at("connection_log").get<bool>();
        o.settings.compression = st.at("compression").get<bool>();
        o.settings.compression_min_bytes = st.at("compression_min_bytes").get<uint32_t>();
        o.settings.compression_level = st.at("compression_level").get<uint32_t>();
        o.settings.channels = st.at("channels").get<bool>();
        o.settings.max_channels = st.at("max_channels").get<uint32_t>();
        o.settings.max_subscribers_per_channel =
            st.at("max_subscribers_per_channel").get<uint32_t>();
        auto admission = worker::admission_from_json(st.at("admission"));
        if (auto* err = std::get_if<std::string>(&admission)) return "bad worker spec: " + *err;
        o.settings.admission = std::get<worker::AdmissionSettings>(std::move(admission));
        return o;
    } catch (const std::exception& e) {
        return std::string("bad worker spec: ") + e.what();
    }
}

}  // namespace ringcast::supervisor
