/*
 * The specification of the worker's command line (supervisor/worker_spec.hpp) and of what the
 * supervisor tells the workers about admission (supervisor/admission_settings.hpp): a spec
 * round-trips every field, and the config's keys (admission, channels) become the worker's
 * settings.
 */
#include <doctest/doctest.h>

#include <string>

#include "supervisor/admission_settings.hpp"
#include "supervisor/worker_spec.hpp"
#include "tests/support/config_spec.hpp"

using namespace ringcast;
using namespace ringcast::config_spec;

namespace {

worker::WorkerOptions options() {
    worker::WorkerOptions o;
    o.index = 3;
    o.segment = "/dev/shm/ringcast-test";
    o.numa_node = 1;
    o.shards = {{4, 10, 2}, {5, 11, -1}};
    o.wake_fds = {20, 21, 22};
    o.log_level = 0;
    o.control_fd = 30;
    o.handoff_fd = 31;
    o.settings.batch = 32;
    o.settings.compression = false;
    o.settings.channels = true;
    o.settings.max_channels = 5000;
    o.settings.max_subscribers_per_channel = 250;
    worker::AdmissionSettings& a = o.settings.admission;
    a.allowed_origins = {"https://app.example.com", "https://*.example.org"};
    a.allow_missing_origin = false;
    a.auth_required = true;
    a.hmac_secret_file = "/etc/ringcast/jwt.secret";
    a.audience = "chat";
    a.issuer = "https://id.example";
    a.leeway_s = 30;
    a.default_publish = false;
    a.listener_send_close = false;
    a.close_on_expiry = false;
    a.max_connections = 1000;
    a.max_connections_per_ip = 10;
    a.handshake_timeout_ms = 2000;
    a.messages_per_s = 50;
    a.bytes_per_s = 65536;
    a.burst_messages = 100;
    a.burst_bytes = 131072;
    a.rate_limit_close = false;
    return o;
}

}  // namespace

TEST_CASE("a worker spec round-trips, admission settings included") {
    const worker::WorkerOptions o = options();
    auto decoded = supervisor::decode_worker_spec(supervisor::encode_worker_spec(o));
    REQUIRE(std::holds_alternative<worker::WorkerOptions>(decoded));
    const auto& back = std::get<worker::WorkerOptions>(decoded);
    CHECK(back.index == 3);
    CHECK(back.shards.size() == 2);
    CHECK(back.settings.batch == 32);
    CHECK_FALSE(back.settings.compression);
    CHECK(back.settings.admission == o.settings.admission);
    CHECK(back.settings.channels);
    CHECK(back.settings.max_channels == 5000);
    CHECK(back.settings.max_subscribers_per_channel == 250);
}

TEST_CASE("a spec without the channel settings, or with one mistyped, is refused") {
    for (const char* key : {"channels", "max_channels", "max_subscribers_per_channel"}) {
        CAPTURE(key);
        auto j = nlohmann::json::parse(supervisor::encode_worker_spec(options()));
        j["settings"][key] = "many";
        CHECK(std::holds_alternative<std::string>(supervisor::decode_worker_spec(j.dump())));
        j["settings"].erase(key);
        auto decoded = supervisor::decode_worker_spec(j.dump());
        REQUIRE(std::holds_alternative<std::string>(decoded));
        CHECK(std::get<std::string>(decoded).find(key) != std::string::npos);
    }
}

TEST_CASE("the config's channel keys become the worker's settings; off by default") {
    const worker::Settings off = supervisor::worker_settings(Config{});
    CHECK_FALSE(off.channels);
    CHECK(off.max_channels == 100000);
    CHECK(off.max_subscribers_per_channel == 0);
    const worker::Settings on = supervisor::worker_settings(config_of(
        R"({"channels": "path", "max_channels": 64, "max_subscribers_per_channel": 1000})"));
    CHECK(on.channels);
    CHECK(on.max_channels == 64);
    CHECK(on.max_subscribers_per_channel == 1000);
}

TEST_CASE("worker_settings carries the start-time keys and the admission keys") {
    Config c = config_of(R"({"batch": 8, "max_message_bytes": 1024, "ping_interval_ms": 0,
        "connection_log": true, "compression": {"enabled": false, "min_bytes": 128, "level": 9},
        "max_connections": 12})");
    const worker::Settings s = supervisor::worker_settings(c);
    CHECK(s.batch == 8);
    CHECK(s.max_message_bytes == 1024);
    CHECK(s.ping_interval_ms == 0);
    CHECK(s.connection_log);
    CHECK_FALSE(s.compression);
    CHECK(s.compression_min_bytes == 128);
    CHECK(s.compression_level == 9);
    CHECK(s.admission == supervisor::admission_settings(c));
}

TEST_CASE("a spec without admission settings, or with a mistyped field, is refused by name") {
    auto j = nlohmann::json::parse(supervisor::encode_worker_spec(options()));
    j["settings"]["admission"]["max_connections"] = "many";
    auto decoded = supervisor::decode_worker_spec(j.dump());
    REQUIRE(std::holds_alternative<std::string>(decoded));
    CHECK(std::get<std::string>(decoded).find("admission.max_connections") != std::string::npos);
    j["settings"].erase("admission");
    CHECK(std::holds_alternative<std::string>(supervisor::decode_worker_spec(j.dump())));
}

TEST_CASE("the config's admission keys become the worker's settings") {
    CHECK(supervisor::admission_settings(Config{}) == worker::AdmissionSettings{});
    TempFile secret(hmac_secret_text());
    Config c =
        config_of(R"({"allowed_origins": ["https://a.example.com"], "allow_missing_origin": false,
        "max_connections": 100, "max_connections_per_ip": 5, "handshake_timeout_ms": 500,
        "auth": {"required": true, "default_role": "listener", "listener_send": "drop",
                 "close_on_expiry": false,
                 "jwt": {"hmac_secret_file": ")" +
                  secret.path + R"(", "audience": "aud",
                         "issuer": "iss", "leeway_s": 7}},
        "rate_limit": {"messages_per_s": 20, "bytes_per_s": 1000, "burst_bytes": 5000,
                       "policy": "drop"}})");
    const worker::AdmissionSettings a = supervisor::admission_settings(c);
    CHECK(a.allowed_origins == std::vector<std::string>{"https://a.example.com"});
    CHECK_FALSE(a.allow_missing_origin);
    CHECK(a.max_connections == 100);
    CHECK(a.max_connections_per_ip == 5);
    CHECK(a.handshake_timeout_ms == 500);
    CHECK(a.auth_required);
    CHECK(a.hmac_secret_file == secret.path);
    CHECK(a.public_key_file.empty());
    CHECK(a.audience == "aud");
    CHECK(a.issuer == "iss");
    CHECK(a.leeway_s == 7);
    CHECK_FALSE(a.default_publish);
    CHECK_FALSE(a.listener_send_close);
    CHECK_FALSE(a.close_on_expiry);
    CHECK(a.messages_per_s == 20);
    CHECK(a.burst_messages == 20);  // a burst of 0 is one second of the rate
    CHECK(a.bytes_per_s == 1000);
    CHECK(a.burst_bytes == 5000);
    CHECK_FALSE(a.rate_limit_close);
}

TEST_CASE("copy_admission carries exactly the admission keys") {
    Config from;
    from.allowed_origins = {"https://a.com"};
    from.max_connections = 7;
    from.rate_limit.messages_per_s = 3;
    from.auth.close_on_expiry = false;
    from.ring = 4096;  // not an admission key
    Config to;
    supervisor::copy_admission(from, to);
    CHECK(supervisor::admission_settings(to) == supervisor::admission_settings(from));
    CHECK(to.ring == Config{}.ring);
}
