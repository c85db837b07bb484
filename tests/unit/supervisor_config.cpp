/*
 * The specification of ringcast's configuration file (supervisor/config.hpp): defaults, every
 * key's type and range with its exact error, the listen address syntax, the nested blocks,
 * JSON and file errors. The command line, printing and the shipped files are in
 * supervisor_config_cli.cpp.
 */
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/support/config_spec.hpp"
#include "tests/support/public_key_pem.hpp"

using namespace ringcast::config_spec;

TEST_SUITE("defaults") {
    TEST_CASE("an empty object gives every documented default") {
        Config c = config_of("{}");
        CHECK(c == Config{});
        CHECK(c.listen == ListenAddress{"", 9002, false});
        CHECK(c.listen.text() == ":9002");
        CHECK(c.worker_processes == 0);
        CHECK(c.shards == 0);
        CHECK(c.numa_node == -1);
        CHECK(c.batch == 64);
        CHECK(c.ring == 2048);
        CHECK(c.hugepages == HugepageMode::Auto);
        CHECK(c.slab_bytes == 64ull << 20);
        CHECK(c.max_message_bytes == 16ull << 20);
        CHECK(c.max_buffered_bytes == 8ull << 20);
        CHECK(c.slow_client == "close");
        CHECK(c.ping_interval_ms == 30000);
        CHECK(c.shutdown_timeout_ms == 5000);
        CHECK(c.control_socket == "/run/ringcast/control.sock");
        CHECK(c.metrics_listen == "");
        CHECK(c.stats_interval_ms == 2000);
        CHECK(c.log_level == LogLevel::Info);
        CHECK(c.restart_mode == "handoff");
        CHECK(c.bridge.enabled == false);
        CHECK(c.bridge.redis == "127.0.0.1:6379");
        CHECK(c.bridge.stream == "ringcast");
        CHECK(c.bridge.node_id == "");
        CHECK(c.bridge.maxlen == 100000);
        CHECK(c.bridge.buffer_messages == 100000);
        CHECK(c.bridge.overflow == "drop_oldest");
        CHECK(c.compression.enabled == true);
        CHECK(c.compression.min_bytes == 64);
        CHECK(c.compression.level == 6);
        CHECK(c.allowed_origins.empty());
        CHECK(c.allow_missing_origin);
        CHECK(c.max_connections == 0);
        CHECK(c.max_connections_per_ip == 0);
        CHECK(c.handshake_timeout_ms == 10000);
        CHECK(c.channels == "off");
        CHECK(c.max_channels == 100000);
        CHECK(c.max_subscribers_per_channel == 0);
        CHECK_FALSE(c.auth.required);
        CHECK(c.auth.default_role == "publisher");
        CHECK(c.auth.listener_send == "close");
        CHECK(c.auth.close_on_expiry);
        CHECK(c.auth.jwt == JwtConfig{"", "", "", "", 0});
        CHECK(c.rate_limit == RateLimitConfig{0, 0, 0, 0, "close"});
    }

    TEST_CASE("the compression block is an object of known keys, each named in its error") {
        CHECK(error_of(R"({"compression": true})") == "compression: must be an object, got boolean");
        CHECK(error_of(R"({"compression": {"levle": 3}})") ==
              R"(compression.levle: unknown key (did you mean "compression.level"?))");
        CHECK(error_of(R"({"compression": {"min_bytes": -1}})").starts_with("compression.min_bytes: "));
        Config c = config_of(R"({"compression": {"enabled": false, "min_bytes": 1024, "level": 6}})");
        CHECK_FALSE(c.compression.enabled);
        CHECK(c.compression.min_bytes == 1024);
        CHECK(c.compression.level == 6);
    }

    TEST_CASE("the defaults are valid") {
        CHECK_FALSE(validate(Config{}).has_value());
    }

    TEST_CASE("keys left out keep the value of the base config, inside bridge too") {
        Config base;
        base.ring = 4096;
        base.bridge.stream = "chat";
        Config c =
            accepted(parse_config_json(R"({"batch": 8, "bridge": {"enabled": true}})", base));
        CHECK(c.ring == 4096);
        CHECK(c.batch == 8);
        CHECK(c.bridge.enabled);
        CHECK(c.bridge.stream == "chat");
    }

    TEST_CASE("enum names print as their config words") {
        CHECK(to_string(HugepageMode::Auto) == "auto");
        CHECK(to_string(HugepageMode::Require) == "require");
        CHECK(to_string(HugepageMode::Off) == "off");
        CHECK(to_string(LogLevel::Debug) == "debug");
        CHECK(to_string(LogLevel::Info) == "info");
        CHECK(to_string(LogLevel::Warn) == "warn");
        CHECK(to_string(LogLevel::Error) == "error");
    }
}

TEST_SUITE("keys and types") {
    TEST_CASE("an unknown key is rejected by name") {
        CHECK(error_of(R"({"frobnicate": 1})") == "frobnicate: unknown key");
        CHECK(error_of(R"({"bridge": {"frobnicate": 1}})") == "bridge.frobnicate: unknown key");
    }

    TEST_CASE("an unknown key close to a real one suggests it") {
        CHECK(error_of(R"({"rnig": 64})") == R"(rnig: unknown key (did you mean "ring"?))");
        CHECK(error_of(R"({"worker_process": 1})") ==
              R"(worker_process: unknown key (did you mean "worker_processes"?))");
        CHECK(error_of(R"({"bridge": {"strem": "x"}})") ==
              R"(bridge.strem: unknown key (did you mean "bridge.stream"?))");
    }

    TEST_CASE("a key given twice is rejected, at the top and inside bridge") {
        CHECK(error_of(R"({"ring": 64, "batch": 1, "ring": 128})") == "ring: duplicate key");
        CHECK(error_of(R"({"bridge": {"stream": "a", "stream": "b"}})") ==
              "bridge.stream: duplicate key");
    }

    TEST_CASE("the first bad key in the file is the one reported") {
        CHECK(error_of(R"({"ring": 1000, "batch": 0})") ==
              "ring: must be a power of two between 64 and 1048576, got 1000");
        CHECK(error_of(R"({"batch": 0, "ring": 1000})") ==
              "batch: must be between 1 and 4096, got 0");
    }

    TEST_CASE("a value of the wrong type names the key, the type expected and the type given") {
        for (const auto& entry : all_keys()) {
            const std::string& key = entry.first;
            const auto& def = entry.second;
            CAPTURE(key);
            std::string expected = def.is_number_integer() ? "an integer"
                                   : def.is_string()       ? "a string"
                                   : def.is_array()        ? "an array of strings"
                                                           : "a boolean";
            std::string prefix = key + ": must be " + expected + ", got ";
            if (!def.is_string()) CHECK(error_of(doc(key, R"("64")")) == prefix + "string");
            if (!def.is_number_integer()) CHECK(error_of(doc(key, "64")) == prefix + "integer");
            if (!def.is_boolean()) CHECK(error_of(doc(key, "true")) == prefix + "boolean");
            CHECK(error_of(doc(key, "null")) == prefix + "null");
            if (!def.is_array()) CHECK(error_of(doc(key, "[]")) == prefix + "array");
            CHECK(error_of(doc(key, "{}")) == prefix + "object");
            CHECK(error_of(doc(key, "1.5")) == prefix + "float");
        }
    }

    TEST_CASE("numbers written as strings are type errors") {
        CHECK(error_of(R"({"ring": "2048"})") == "ring: must be an integer, got string");
        CHECK(error_of(R"({"bridge": {"maxlen": "10"}})") ==
              "bridge.maxlen: must be an integer, got string");
    }

    TEST_CASE("an integer written with a fraction or exponent is a type error") {
        CHECK(error_of(R"({"batch": 64.0})") == "batch: must be an integer, got float");
        CHECK(error_of(R"({"batch": 1e2})") == "batch: must be an integer, got float");
    }

    TEST_CASE("negative values for unsigned keys are rejected naming the key") {
        for (const auto& entry : all_keys()) {
            const std::string& key = entry.first;
            const auto& def = entry.second;
            if (!def.is_number_integer() || key == "numa_node") continue;
            CAPTURE(key);
            std::string error = error_of(doc(key, "-1"));
            CHECK(error.starts_with(key + ": must be "));
            CHECK(error.ends_with(", got -1"));
        }
    }

    TEST_CASE("integers too wide for 64 bits are out of range, not a type error") {
        CHECK(error_of(R"({"shards": 99999999999999999999})")
                  .starts_with("shards: must be between 0 and 4096, got "));
        CHECK(error_of(R"({"numa_node": -99999999999999999999})")
                  .starts_with("numa_node: must be -1 (every node) or between 0 and 1023, got "));
    }
}

TEST_SUITE("ranges") {
    struct Range {
        std::string key;
        std::vector<std::string> ok;
        std::vector<std::string> bad;
        std::string reason;  // without ", got X"
    };

    TEST_CASE("every integer key accepts its bounds and rejects one past them") {
        const std::string between = "must be between ";
        const std::vector<Range> ranges = {
            {"worker_processes", {"0", "1", "1024"}, {"1025", "-1"}, between + "0 and 1024"},
            {"shards", {"0", "1", "4096"}, {"4097", "-1"}, between + "0 and 4096"},
            {"numa_node",
             {"-1", "0", "1023"},
             {"-2", "1024"},
             "must be -1 (every node) or between 0 and 1023"},
            {"batch", {"1", "4096"}, {"0", "4097"}, between + "1 and 4096"},
            {"ring",
             {"64", "128", "1048576"},
             {"32", "63", "65", "1000", "2097152", "0"},
             "must be a power of two between 64 and 1048576"},
            {"slab_bytes",
             {"15", "68719476736"},
             {"0", "68719476737"},
             between + "1 and 68719476736 (64 GiB)"},
            {"max_message_bytes",
             {"1", "1073741824"},
             {"0", "1073741825"},
             between + "1 and 1073741824 (1 GiB)"},
            {"max_buffered_bytes",
             {"65536", "68719476736"},
             {"65535", "68719476737"},
             between + "65536 (64 KiB) and 68719476736 (64 GiB)"},
            {"ping_interval_ms",
             {"0", "100", "3600000"},
             {"1", "99", "3600001"},
             "must be 0 (off) or between 100 and 3600000"},
            {"stats_interval_ms",
             {"0", "100", "3600000"},
             {"1", "99", "3600001"},
             "must be 0 (off) or between 100 and 3600000"},
            {"shutdown_timeout_ms",
             {"100", "600000"},
             {"0", "99", "600001"},
             between + "100 and 600000"},
            {"bridge.maxlen",
             {"1", "9223372036854775807"},
             {"0", "9223372036854775808"},
             between + "1 and 9223372036854775807"},
            {"bridge.buffer_messages",
             {"1", "16777216"},
             {"0", "16777217"},
             between + "1 and 16777216"},
            {"compression.level", {"1", "9"}, {"0", "10"}, between + "1 and 9"},
            {"max_connections", {"0", "10000000"}, {"10000001"}, between + "0 and 10000000"},
            {"max_connections_per_ip", {"0", "10000000"}, {"10000001"}, between + "0 and 10000000"},
            {"handshake_timeout_ms",
             {"100", "600000"},
             {"0", "99", "600001"},
             between + "100 and 600000"},
            {"max_channels", {"1", "10000000"}, {"0", "10000001"}, between + "1 and 10000000"},
            {"max_subscribers_per_channel",
             {"0", "10000000"},
             {"10000001"},
             between + "0 and 10000000"},
            {"auth.jwt.leeway_s", {"0", "86400"}, {"86401"}, between + "0 and 86400"},
            {"rate_limit.messages_per_s",
             {"0", "4294967296"},
             {"4294967297"},
             between + "0 and 4294967296"},
            {"rate_limit.bytes_per_s",
             {"0", "4294967296"},
             {"4294967297"},
             between + "0 and 4294967296 (4 GiB)"},
            {"rate_limit.burst_messages",
             {"0", "4294967296"},
             {"4294967297"},
             between + "0 and 4294967296"},
            {"rate_limit.burst_bytes",
             {"0", "4294967296"},
             {"4294967297"},
             between + "0 and 4294967296 (4 GiB)"},
        };
        // A base where the slab rule cannot interfere with the byte keys' own bounds.
        Config base;
        base.slab_bytes = 64 * kGiB;
        base.max_message_bytes = 1;
        for (const auto& r : ranges) {
            for (const auto& v : r.ok) {
                CAPTURE(r.key);
                CAPTURE(v);
                Config c = accepted(parse_config_json(doc(r.key, v), base));
                nlohmann::json printed = nlohmann::json::parse(to_json(c));
                CHECK(value_at(printed, r.key).dump() == v);
            }
            for (const auto& v : r.bad) {
                CAPTURE(v);
                CHECK(rejected(parse_config_json(doc(r.key, v), base)) ==
                      r.key + ": " + r.reason + ", got " + v);
            }
        }
    }

    TEST_CASE("the brief's example errors read exactly") {
        CHECK(error_of(R"({"ring": 1000})") ==
              "ring: must be a power of two between 64 and 1048576, got 1000");
        CHECK(error_of(R"({"listen": "127.0.0.1:70000"})") ==
              "listen: port must be 1..65535, got 70000");
        CHECK(error_of(R"({"frobnicate": true})") == "frobnicate: unknown key");
        CHECK(error_of(R"({"ring": "x"})") == "ring: must be an integer, got string");
    }
}

TEST_SUITE("words") {
    TEST_CASE("hugepages accepts auto, require and off, case-sensitively") {
        CHECK(config_of(R"({"hugepages": "auto"})").hugepages == HugepageMode::Auto);
        CHECK(config_of(R"({"hugepages": "require"})").hugepages == HugepageMode::Require);
        CHECK(config_of(R"({"hugepages": "off"})").hugepages == HugepageMode::Off);
        CHECK(error_of(R"({"hugepages": "on"})") ==
              R"(hugepages: must be one of "auto", "require", "off", got "on")");
        CHECK(error_of(R"({"hugepages": "Auto"})") ==
              R"(hugepages: must be one of "auto", "require", "off", got "Auto")");
    }

    TEST_CASE("log_level accepts debug, info, warn and error") {
        CHECK(config_of(R"({"log_level": "debug"})").log_level == LogLevel::Debug);
        CHECK(config_of(R"({"log_level": "info"})").log_level == LogLevel::Info);
        CHECK(config_of(R"({"log_level": "warn"})").log_level == LogLevel::Warn);
        CHECK(config_of(R"({"log_level": "error"})").log_level == LogLevel::Error);
        CHECK(error_of(R"({"log_level": "warning"})") ==
              R"(log_level: must be one of "debug", "info", "warn", "error", got "warning")");
    }

    TEST_CASE("slow_client accepts only close for now") {
        CHECK(config_of(R"({"slow_client": "close"})").slow_client == "close");
        CHECK(error_of(R"({"slow_client": "drop"})") ==
              R"(slow_client: must be "close", got "drop")");
    }

    TEST_CASE("restart_mode accepts handoff and drain") {
        CHECK(config_of(R"({"restart_mode": "drain"})").restart_mode == "drain");
        CHECK(config_of(R"({"restart_mode": "handoff"})").restart_mode == "handoff");
        CHECK(error_of(R"({"restart_mode": "kill"})") ==
              R"(restart_mode: must be one of "handoff", "drain", got "kill")");
    }

    TEST_CASE("channels accepts off and path, case-sensitively") {
        CHECK(config_of(R"({"channels": "off"})").channels == "off");
        CHECK(config_of(R"({"channels": "path"})").channels == "path");
        CHECK(error_of(R"({"channels": "on"})") ==
              R"(channels: must be one of "off", "path", got "on")");
        CHECK(error_of(R"({"channels": "Path"})") ==
              R"(channels: must be one of "off", "path", got "Path")");
        CHECK(error_of(R"({"channels": true})") == "channels: must be a string, got boolean");
        CHECK(error_of(R"({"chanels": "path"})") ==
              R"(chanels: unknown key (did you mean "channels"?))");
    }

    TEST_CASE("control_socket must be a non-empty path that fits a Unix socket address") {
        CHECK(config_of(R"({"control_socket": "/tmp/rc.sock"})").control_socket == "/tmp/rc.sock");
        CHECK(config_of(doc("control_socket", '"' + std::string(107, 'a') + '"'))
                  .control_socket.size() == 107);
        CHECK(error_of(R"({"control_socket": ""})") == "control_socket: must not be empty");
        CHECK(
            error_of(doc("control_socket", '"' + std::string(108, 'a') + '"')) ==
            "control_socket: must be at most 107 bytes (the limit of a Unix socket path), got 108");
        CHECK(error_of(R"({"control_socket": "/tmp/a\u0000b"})") ==
              "control_socket: must not contain a NUL byte");
    }
}

TEST_SUITE("listen addresses") {
    TEST_CASE("listen accepts every documented form and prints it back the same") {
        struct Form {
            std::string text;
            ListenAddress address;
        };
        const std::vector<Form> forms = {
            {":9002", {"", 9002, false}},        {"127.0.0.1:9002", {"127.0.0.1", 9002, false}},
            {"[::1]:9002", {"::1", 9002, true}}, {"0.0.0.0:9002", {"0.0.0.0", 9002, false}},
            {"[::]:9002", {"::", 9002, true}},   {":1", {"", 1, false}},
            {":65535", {"", 65535, false}},
        };
        for (const auto& f : forms) {
            CAPTURE(f.text);
            CHECK(accepted(parse_listen(f.text, "listen")) == f.address);
            CHECK(config_of(doc("listen", '"' + f.text + '"')).listen == f.address);
            CHECK(f.address.text() == f.text);
        }
    }

    TEST_CASE("a bad listen address says what is wrong with it") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"127.0.0.1:70000", "port must be 1..65535, got 70000"},
            {":0", "port must be 1..65535, got 0"},
            {":99999999999999999999", "port must be 1..65535, got 99999999999999999999"},
            {":http", R"(port must be a number, got "http")"},
            {":-1", R"(port must be a number, got "-1")"},
            {"127.0.0.1:", R"(missing port after ':' in "127.0.0.1:")"},
            {"9002", R"(missing ':' before the port; did you mean ":9002"?)"},
            {"", R"(expected HOST:PORT, [IPV6]:PORT or :PORT, got "")"},
            {"localhost", R"(expected HOST:PORT, [IPV6]:PORT or :PORT, got "localhost")"},
            {"::1:9002",
             R"(an IPv6 address must be in brackets, e.g. "[::1]:9002", got "::1:9002")"},
            {"[::1:9002", R"(missing ']' after the IPv6 address in "[::1:9002")"},
            {"[::1]9002", R"(expected ':PORT' after ']' in "[::1]9002")"},
            {"[::1]", R"(expected ':PORT' after ']' in "[::1]")"},
            {"[fe80::zz]:1", R"("fe80::zz" is not an IPv6 address)"},
            {"[127.0.0.1]:80", R"("127.0.0.1" is not an IPv6 address)"},
            {"[]:80", R"("" is not an IPv6 address)"},
            {"256.0.0.1:80",
             R"(host must be an IPv4 address or an IPv6 address in brackets, got "256.0.0.1")"},
            {"localhost:9002",
             R"(host must be an IPv4 address or an IPv6 address in brackets, got "localhost")"},
        };
        for (const auto& c : cases) {
            const std::string& text =
                c.first;  // not a structured binding: clang cannot CAPTURE one
            const std::string& reason = c.second;
            CAPTURE(text);
            CHECK(rejected(parse_listen(text, "listen")) == "listen: " + reason);
            CHECK(error_of(doc("listen", nlohmann::json(text).dump())) == "listen: " + reason);
        }
    }

    TEST_CASE("parse_listen names the key it is given") {
        CHECK(rejected(parse_listen(":0", "-addr")) == "-addr: port must be 1..65535, got 0");
    }

    TEST_CASE(
        "metrics_listen is off when empty and otherwise an address like listen, kept canonical") {
        CHECK(config_of(R"({"metrics_listen": ""})").metrics_listen == "");
        CHECK(config_of(R"({"metrics_listen": "127.0.0.1:9102"})").metrics_listen ==
              "127.0.0.1:9102");
        CHECK(config_of(R"({"metrics_listen": "0.0.0.0:09102"})").metrics_listen == "0.0.0.0:9102");
        CHECK(config_of(R"({"metrics_listen": "[::1]:9102"})").metrics_listen == "[::1]:9102");
        CHECK(error_of(R"({"metrics_listen": "127.0.0.1:0"})") ==
              "metrics_listen: port must be 1..65535, got 0");
        CHECK(error_of(R"({"metrics_listen": "9102"})") ==
              R"(metrics_listen: missing ':' before the port; did you mean ":9102"?)");
    }

    TEST_CASE("metrics_listen may not take listen's port on an overlapping address") {
        CHECK(error_of(R"({"metrics_listen": "127.0.0.1:9002"})") ==
              R"(metrics_listen: must not share a port with listen (:9002), got "127.0.0.1:9002")");
        CHECK(error_of(R"({"listen": "127.0.0.1:80", "metrics_listen": "[::]:80"})") ==
              R"(metrics_listen: must not share a port with listen (127.0.0.1:80), got "[::]:80")");
        CHECK(error_of(R"({"listen": "127.0.0.1:80", "metrics_listen": "127.0.0.1:80"})")
                  .starts_with("metrics_listen:"));
        CHECK(config_of(R"({"listen": "127.0.0.1:80", "metrics_listen": "127.0.0.2:80"})")
                  .metrics_listen == "127.0.0.2:80");
    }
}

TEST_SUITE("cross-key rules") {
    TEST_CASE("the slab must hold one whole frame of the largest message") {
        CHECK(error_of(R"({"max_message_bytes": 67108864})") ==
              "slab_bytes: must be at least max_message_bytes + 14 = 67108878 so that one whole "
              "frame fits, got 67108864");
        CHECK(error_of(R"({"slab_bytes": 1048576, "max_message_bytes": 1048576})") ==
              "slab_bytes: must be at least max_message_bytes + 14 = 1048590 so that one whole "
              "frame fits, got 1048576");
        CHECK(config_of(R"({"slab_bytes": 1048590, "max_message_bytes": 1048576})").slab_bytes ==
              1048590);
        CHECK(error_of(R"({"slab_bytes": 1048589, "max_message_bytes": 1048576})")
                  .starts_with("slab_bytes: must be at least max_message_bytes + 14 = 1048590"));
        CHECK(config_of(R"({"slab_bytes": 1073741838, "max_message_bytes": 1073741824})")
                  .slab_bytes == 1073741838);
    }

    TEST_CASE("every worker process needs at least one shard when both counts are set") {
        CHECK(error_of(R"({"worker_processes": 4, "shards": 2})") ==
              "shards: must be at least worker_processes (4) so that every worker has a shard, got "
              "2");
        CHECK(config_of(R"({"worker_processes": 4, "shards": 4})").shards == 4);
        CHECK(config_of(R"({"worker_processes": 4, "shards": 0})").worker_processes == 4);
        CHECK(config_of(R"({"worker_processes": 0, "shards": 1})").shards == 1);
    }

    TEST_CASE("validate applies the file's rules to a config built in code") {
        Config c;
        c.ring = 1000;
        REQUIRE(validate(c).has_value());
        CHECK(validate(c)->message() ==
              "ring: must be a power of two between 64 and 1048576, got 1000");
        c = Config{};
        c.bridge.maxlen = 0;
        CHECK(validate(c)->message() ==
              "bridge.maxlen: must be between 1 and 9223372036854775807, got 0");
        c = Config{};
        c.listen = {"::1", 9002, false};  // an IPv6 host must be flagged as such
        CHECK(validate(c)->message() ==
              R"(listen: an IPv6 address must be in brackets, e.g. "[::1]:9002", got "::1:9002")");
        c = Config{};
        c.max_message_bytes = c.slab_bytes;
        CHECK(validate(c)->key == "slab_bytes");
    }
}

TEST_SUITE("bridge") {
    TEST_CASE("bridge must be an object") {
        CHECK(error_of(R"({"bridge": []})") == "bridge: must be an object, got array");
        CHECK(error_of(R"({"bridge": true})") == "bridge: must be an object, got boolean");
        CHECK(error_of(R"({"bridge": null})") == "bridge: must be an object, got null");
    }

    TEST_CASE("every bridge key is read and named with its bridge. prefix") {
        Config c = config_of(
            R"({"bridge": {"enabled": true, "redis": "redis.internal:6380", "stream": "chat",
            "node_id": "node-1.eu_west", "maxlen": 5000, "buffer_messages": 64, "overflow": "drop_newest"}})");
        CHECK(c.bridge == BridgeConfig{true, "redis.internal:6380", "chat", "node-1.eu_west", 5000,
                                       64, "drop_newest", "", ""});
        CHECK(error_of(R"({"bridge": {"enabled": "yes"}})") ==
              "bridge.enabled: must be a boolean, got string");
        CHECK(error_of(R"({"bridge": {"overflow": "block"}})") ==
              R"(bridge.overflow: must be one of "drop_oldest", "drop_newest", got "block")");
        CHECK(error_of(R"({"bridge": {"stream": ""}})") == "bridge.stream: must not be empty");
    }

    TEST_CASE("bridge.password_file must be readable; only its path is ever printed") {
        TempFile password("s3cret-Pa55word\n");
        Config c = config_of(R"({"bridge": {"username": "relay", "password_file": ")" + password.path +
                             R"("}})");
        CHECK(c.bridge.username == "relay");
        CHECK(c.bridge.password_file == password.path);
        const std::string printed = to_json(c);
        CHECK(printed.find(password.path) != std::string::npos);
        CHECK(printed.find("s3cret") == std::string::npos);
        CHECK(usage_text().find("bridge.password_file") != std::string::npos);
        CHECK(usage_text().find("bridge.username") != std::string::npos);
        CHECK(error_of(R"({"bridge": {"password_file": "/nonexistent/ringcast-pw"}})") ==
              R"(bridge.password_file: cannot read "/nonexistent/ringcast-pw": No such file or directory)");
        TempFile empty("");
        CHECK(error_of(R"({"bridge": {"password_file": ")" + empty.path + R"("}})").find("empty") !=
              std::string::npos);
        CHECK(error_of(R"({"bridge": {"username": "relay"}})") ==
              "bridge.username: needs bridge.password_file: Redis logs a user in with its password");
        CHECK(error_of(R"({"bridge": {"username": "a b"}})").find("bridge.username: must be") == 0);
        CHECK(config_of(R"({"bridge": {"password_file": ""}})").bridge.password_file.empty());
    }

    TEST_CASE("a running config whose password file has gone still validates (set keeps working)") {
        Config c;
        {
            TempFile password("pw\n");
            c = config_of(R"({"bridge": {"password_file": ")" + password.path + R"("}})");
        }
        CHECK_FALSE(validate(c).has_value());
        CHECK(error_of(R"({"bridge": {"password_file": ")" + c.bridge.password_file + R"("}})")
                  .starts_with("bridge.password_file: cannot read"));
    }

    TEST_CASE("bridge.redis takes a host name or an IP with a port") {
        CHECK(config_of(R"({"bridge": {"redis": "[::1]:6379"}})").bridge.redis == "[::1]:6379");
        CHECK(config_of(R"({"bridge": {"redis": "10.0.0.7:6379"}})").bridge.redis ==
              "10.0.0.7:6379");
        CHECK(error_of(R"({"bridge": {"redis": ":6379"}})") ==
              R"(bridge.redis: missing host in ":6379")");
        CHECK(error_of(R"({"bridge": {"redis": "redis:0"}})") ==
              "bridge.redis: port must be 1..65535, got 0");
        CHECK(error_of(R"({"bridge": {"redis": "redis"}})") ==
              R"(bridge.redis: expected HOST:PORT, [IPV6]:PORT or :PORT, got "redis")");
        CHECK(
            error_of(R"({"bridge": {"redis": "bad_host:6379"}})") ==
            R"(bridge.redis: host must be a host name, an IPv4 address or an IPv6 address in brackets, got "bad_host")");
        CHECK(error_of(R"({"bridge": {"redis": "-bad.example:6379"}})")
                  .starts_with("bridge.redis: host must be"));
    }

    TEST_CASE("bridge.node_id is empty or a short plain name") {
        CHECK(config_of(R"({"bridge": {"node_id": ""}})").bridge.node_id == "");
        CHECK(config_of(doc("bridge.node_id", '"' + std::string(64, 'n') + '"'))
                  .bridge.node_id.size() == 64);
        const std::string reason =
            "bridge.node_id: must be \"\" (the host name) or up to 64 characters of A-Z a-z 0-9 . "
            "_ -, got ";
        CHECK(error_of(R"({"bridge": {"node_id": "a b"}})") == reason + R"("a b")");
        CHECK(error_of(doc("bridge.node_id", '"' + std::string(65, 'n') + '"')) ==
              reason + '"' + std::string(65, 'n') + '"');
    }

    TEST_CASE("the bridge is validated even while disabled") {
        CHECK(error_of(R"({"bridge": {"enabled": false, "redis": "nope"}})")
                  .starts_with("bridge.redis:"));
    }

    TEST_CASE("a bridge block that names Redis but is not enabled is warned about, not enabled") {
        // As a new user writes it, forgetting "enabled": the default address counts too.
        Config c = config_of(R"({"bridge": {"redis": "127.0.0.1:6379", "node_id": "a"}})");
        CHECK_FALSE(c.bridge.enabled);
        REQUIRE(c.notes.warnings.size() == 1);
        CHECK(c.notes.warnings[0].starts_with("bridge: the block has no \"enabled\": true"));
        CHECK(c.notes.warnings[0].find("127.0.0.1:6379") != std::string::npos);

        c = config_of(R"({"bridge": {"enabled": false, "redis": "10.0.0.5:6379"}})");
        CHECK_FALSE(c.bridge.enabled);
        REQUIRE(c.notes.warnings.size() == 1);
        CHECK(c.notes.warnings[0].starts_with("bridge.enabled: false"));
    }

    TEST_CASE("no warning for an enabled bridge, an empty block, or the block --check-config prints") {
        CHECK(config_of(R"({"bridge": {"enabled": true, "redis": "127.0.0.1:6379"}})").notes.warnings.empty());
        CHECK(config_of(R"({"bridge": {}})").notes.warnings.empty());
        CHECK(config_of(R"({"bridge": {"enabled": false}})").notes.warnings.empty());
        CHECK(config_of(to_json(Config{})).notes.warnings.empty());
        CHECK(config_of("{}").notes.warnings.empty());
    }
}

TEST_SUITE("JSON and files") {
    TEST_CASE("a JSON syntax error is named config and says where it is") {
        std::string e = error_of("{\n  \"ring\": 64,\n}");
        CHECK(e.starts_with("config: invalid JSON: parse error at line 3, column 1: "));
        CHECK(error_of("").starts_with("config: invalid JSON: "));
        CHECK(error_of(R"({"ring": 64} trailing)")
                  .starts_with("config: invalid JSON: parse error at line 1, column "));
        CHECK(error_of("{\"ring\": 64 // comment\n}").starts_with("config: invalid JSON: "));
        CHECK(error_of(R"({"ring": 1e400})") ==
              "config: invalid JSON: number overflow parsing '1e400'");
    }

    TEST_CASE("the document must be a JSON object") {
        CHECK(error_of("[]") == "config: must be a JSON object, got array");
        CHECK(error_of("64") == "config: must be a JSON object, got integer");
        CHECK(error_of("null") == "config: must be a JSON object, got null");
    }

    TEST_CASE("an unreadable config file is named --config with the system's reason") {
        CHECK(rejected(load_config_file("/nonexistent/ringcast.json")) ==
              R"(--config: cannot read "/nonexistent/ringcast.json": No such file or directory)");
        CHECK(rejected(load_config_file("/")) == R"(--config: cannot read "/": Is a directory)");
    }

    TEST_CASE("a config file larger than 1 MiB is refused rather than read to the end") {
        CHECK(rejected(load_config_file("/dev/zero")) ==
              R"(--config: cannot read "/dev/zero": larger than 1 MiB)");
    }

    TEST_CASE("a syntax error in a file is named by its path") {
        TempFile f("{\"ring\": }");
        CHECK(rejected(load_config_file(f.path))
                  .starts_with(f.path + ": invalid JSON: parse error at line 1, column 10"));
    }

    TEST_CASE("a file is read over the defaults and its key errors name the key") {
        TempFile good(R"({"ring": 4096, "log_level": "debug"})");
        Config c = accepted(load_config_file(good.path));
        CHECK(c.ring == 4096);
        CHECK(c.log_level == LogLevel::Debug);
        CHECK(c.batch == 64);
        TempFile bad(R"({"ring": 1000})");
        CHECK(rejected(load_config_file(bad.path)) ==
              "ring: must be a power of two between 64 and 1048576, got 1000");
    }
}

TEST_SUITE("control and logging keys") {
    TEST_CASE("control_group takes a group name and refuses one with a colon or space") {
        CHECK(config_of(R"({"control_group": "ringcast"})").control_group == "ringcast");
        CHECK(error_of(R"({"control_group": "a:b"})").starts_with("control_group: must be a group name"));
        CHECK(error_of(R"({"control_group": "a b"})").starts_with("control_group: must be a group name"));
    }
    TEST_CASE("connection_log is a boolean, off by default") {
        CHECK_FALSE(Config{}.connection_log);
        CHECK(config_of(R"({"connection_log": true})").connection_log);
        CHECK(error_of(R"({"connection_log": "yes"})") == "connection_log: must be a boolean, got string");
    }
}

TEST_SUITE("admission") {
    TEST_CASE("allowed_origins is a list of origins; a bad entry is named by its index") {
        Config c = config_of(
            R"({"allowed_origins": ["https://app.example.com", "http://*.example.org:8080"]})");
        CHECK(c.allowed_origins ==
              std::vector<std::string>{"https://app.example.com", "http://*.example.org:8080"});
        CHECK(config_of(R"({"allowed_origins": []})").allowed_origins.empty());
        CHECK(
            error_of(R"({"allowed_origins": ["https://a.com", "https://a.com/"]})") ==
            R"(allowed_origins[1]: "https://a.com/" has a path; an origin is scheme://host[:port])");
        CHECK(error_of(R"({"allowed_origins": ["https://*.com"]})")
                  .starts_with("allowed_origins[0]: "));
        CHECK(error_of(R"({"allowed_origins": ["https://a.com", 7]})") ==
              "allowed_origins[1]: must be a string, got integer");
        CHECK(error_of(R"({"allowed_origins": "https://a.com"})") ==
              "allowed_origins: must be an array of strings, got string");
    }

    TEST_CASE("an allowlist too long for one worker command is refused") {
        std::string list;
        for (int i = 0; i < 2000; ++i)
            list += std::string(list.empty() ? "" : ", ") + "\"https://host" + std::to_string(i) +
                    ".example.com\"";
        CHECK(error_of(R"({"allowed_origins": [)" + list + "]}")
                  .starts_with("allowed_origins: must be at most 32768 (32 KiB) in all, got "));
    }

    TEST_CASE("the auth block is an object of known keys, jwt nested inside it") {
        CHECK(error_of(R"({"auth": true})") == "auth: must be an object, got boolean");
        CHECK(error_of(R"({"auth": {"jwt": []}})") == "auth.jwt: must be an object, got array");
        CHECK(error_of(R"({"auth": {"requried": true}})") ==
              R"(auth.requried: unknown key (did you mean "auth.required"?))");
        CHECK(error_of(R"({"auth": {"jwt": {"issuers": "x"}}})") ==
              R"(auth.jwt.issuers: unknown key (did you mean "auth.jwt.issuer"?))");
        CHECK(error_of(R"({"auth": {"default_role": "admin"}})") ==
              R"(auth.default_role: must be one of "publisher", "listener", got "admin")");
        CHECK(error_of(R"({"auth": {"listener_send": "ignore"}})") ==
              R"(auth.listener_send: must be one of "close", "drop", got "ignore")");
        CHECK(error_of(R"({"auth": {"jwt": {"jwt": {}}}})") == "auth.jwt.jwt: unknown key");
        CHECK(error_of(R"({"auth": {"jwt": {"audience": "a", "audience": "b"}}})") ==
              "auth.jwt.audience: duplicate key");
    }

    TEST_CASE("auth.required needs a key, and at most one key file is named") {
        CHECK(error_of(R"({"auth": {"required": true}})") ==
              "auth.required: needs auth.jwt.hmac_secret_file or auth.jwt.public_key_file: "
              "without a key no token can be verified");
        TempFile secret(hmac_secret_text());
        CHECK(error_of(R"({"auth": {"jwt": {"hmac_secret_file": ")" + secret.path +
                       R"(", "public_key_file": ")" + secret.path + R"("}}})") ==
              "auth.jwt: at most one of hmac_secret_file and public_key_file, got both");
        Config required = config_of(R"({"auth": {"required": true, "jwt": {"hmac_secret_file": ")" +
                                    secret.path + R"("}}})");
        CHECK(required.auth.required);
        CHECK(required.auth.jwt.hmac_secret_file == secret.path);
        Config c;
        c.auth.required = true;
        CHECK(validate(c)->key == "auth.required");
    }

    TEST_CASE("a key file is loaded when the config is read; errors name the key and the file") {
        CHECK(
            error_of(R"({"auth": {"jwt": {"hmac_secret_file": "/nonexistent/rc-secret"}}})") ==
            R"(auth.jwt.hmac_secret_file: cannot read "/nonexistent/rc-secret": No such file or directory)");
        TempFile short_secret("too-short-a-secret\n");
        std::string e =
            error_of(R"({"auth": {"jwt": {"hmac_secret_file": ")" + short_secret.path + R"("}}})");
        CHECK(e.starts_with("auth.jwt.hmac_secret_file: "));
        CHECK(e.find("at least 32 bytes") != std::string::npos);
        CHECK(e.find("too-short") == std::string::npos);  // never a byte of the key
        TempFile not_pem(hmac_secret_text());
        e = error_of(R"({"auth": {"jwt": {"public_key_file": ")" + not_pem.path + R"("}}})");
        CHECK(e.starts_with("auth.jwt.public_key_file: "));
        CHECK(e.find("0123456789") == std::string::npos);

        EVP_PKEY* ec = EVP_EC_gen("P-256");
        REQUIRE(ec != nullptr);
        TempFile pem(ringcast::testing::public_key_pem(ec));
        EVP_PKEY_free(ec);
        Config c =
            config_of(R"({"auth": {"jwt": {"public_key_file": ")" + pem.path +
                      R"(", "audience": "chat", "issuer": "https://id.example", "leeway_s": 5}}})");
        CHECK(c.auth.jwt == JwtConfig{"", pem.path, "chat", "https://id.example", 5});
        const std::string printed = to_json(c);
        CHECK(printed.find(pem.path) != std::string::npos);
        CHECK(printed.find("BEGIN PUBLIC KEY") == std::string::npos);
    }

    TEST_CASE(
        "a key file that has gone still validates a running config; reading auth again does not") {
        Config c;
        {
            TempFile secret(hmac_secret_text());
            c = config_of(R"({"auth": {"jwt": {"hmac_secret_file": ")" + secret.path + R"("}}})");
        }
        CHECK_FALSE(validate(c).has_value());
        // `set` of another key does not read it; `set auth` (a patch naming auth) does.
        CHECK(accepted(parse_config_json(R"({"max_connections": 5})", c)).max_connections == 5);
        CHECK(rejected(parse_config_json(R"({"auth": {"close_on_expiry": false}})", c))
                  .starts_with("auth.jwt.hmac_secret_file: cannot read"));
    }

    TEST_CASE("a patch of auth keeps the keys it does not name") {
        TempFile secret(hmac_secret_text());
        Config base = config_of(R"({"auth": {"required": true, "jwt": {"hmac_secret_file": ")" +
                                secret.path + R"(", "issuer": "i"}}})");
        Config c = accepted(parse_config_json(R"({"auth": {"jwt": {"audience": "a"}}})", base));
        CHECK(c.auth.required);
        CHECK(c.auth.jwt == JwtConfig{secret.path, "", "a", "i", 0});
    }

    TEST_CASE("rate_limit: a burst of 0 is one second of the rate") {
        Config c = config_of(R"({"rate_limit": {"messages_per_s": 50, "bytes_per_s": 1048576,
                                 "burst_bytes": 4194304, "policy": "drop"}})");
        CHECK(c.rate_limit == RateLimitConfig{50, 1048576, 0, 4194304, "drop"});
        const auto limits = effective_rate_limits(c.rate_limit);
        CHECK(limits.messages.per_s == 50);
        CHECK(limits.messages.burst == 50);
        CHECK(limits.bytes.per_s == 1048576);
        CHECK(limits.bytes.burst == 4194304);
        const auto none = effective_rate_limits(RateLimitConfig{});
        CHECK(none.messages.per_s == 0);
        CHECK(none.messages.burst == 0);
        CHECK(error_of(R"({"rate_limit": {"policy": "block"}})") ==
              R"(rate_limit.policy: must be one of "close", "drop", got "block")");
        CHECK(error_of(R"({"rate_limit": 5})") == "rate_limit: must be an object, got integer");
    }

    TEST_CASE("admission settings that do nothing are warned about") {
        auto warnings = [](std::string_view json) { return config_of(json).notes.warnings; };
        auto one = [&](std::string_view json, std::string_view start) {
            auto w = warnings(json);
            CAPTURE(json);
            REQUIRE(w.size() == 1);
            CHECK(w[0].starts_with(start));
        };
        one(R"({"auth": {"default_role": "listener"}})",
            "auth.default_role: \"listener\" has no effect");
        one(R"({"auth": {"jwt": {"issuer": "x"}}})", "auth.jwt: audience, issuer and leeway_s");
        one(R"({"allow_missing_origin": false})", "allow_missing_origin: false has no effect");
        one(R"({"rate_limit": {"burst_messages": 5}})", "rate_limit.burst_messages has no effect");
        one(R"({"rate_limit": {"burst_bytes": 5}})", "rate_limit.burst_bytes has no effect");
        one(R"({"max_connections": 10, "max_connections_per_ip": 11})",
            "max_connections_per_ip (11) is above max_connections (10)");
        // Normal settings draw none.
        TempFile secret(hmac_secret_text());
        CHECK(warnings(R"({"allowed_origins": ["https://a.com"], "allow_missing_origin": true})")
                  .empty());
        CHECK(warnings(R"({"allowed_origins": ["https://a.com"], "allow_missing_origin": false})")
                  .empty());
        CHECK(warnings(R"({"auth": {"default_role": "listener", "jwt": {"hmac_secret_file": ")" +
                       secret.path + R"(", "issuer": "x"}}})")
                  .empty());
        CHECK(warnings(R"({"rate_limit": {"messages_per_s": 5, "burst_messages": 10}})").empty());
        CHECK(warnings(R"({"max_connections": 10, "max_connections_per_ip": 10})").empty());
    }

    TEST_CASE("channel limits while channels are off are warned about, not refused") {
        auto warnings = [](std::string_view json) { return config_of(json).notes.warnings; };
        auto w = warnings(R"({"max_channels": 10})");
        REQUIRE(w.size() == 1);
        CHECK(w[0].starts_with("max_channels has no effect while channels is \"off\""));
        w = warnings(R"({"max_subscribers_per_channel": 10})");
        REQUIRE(w.size() == 1);
        CHECK(w[0].starts_with("max_subscribers_per_channel has no effect"));
        CHECK(warnings(R"({"max_channels": 10, "max_subscribers_per_channel": 10})").size() == 2);
        // With channels, or at their defaults (as --check-config prints them), none.
        CHECK(warnings(R"({"channels": "path", "max_channels": 10,
                           "max_subscribers_per_channel": 10})")
                  .empty());
        CHECK(warnings(R"({"max_channels": 100000, "max_subscribers_per_channel": 0})").empty());
        CHECK(accepted(flags({"--max-channels", "10"})).config.notes.warnings.size() == 1);
        CHECK(accepted(flags({"--max-channels", "10", "--channels", "path"}))
                  .config.notes.warnings.empty());
    }

    TEST_CASE("warnings about admission follow the flags, which are applied after the file") {
        TempFile f(R"({"allow_missing_origin": false})");
        CHECK(accepted(flags({"--config", f.path.c_str()})).config.notes.warnings.size() == 1);
        CHECK(accepted(flags({"--config", f.path.c_str(), "--allowed-origins", "https://a.com"}))
                  .config.notes.warnings.empty());
        CHECK(accepted(flags({"--allow-missing-origin", "false"})).config.notes.warnings.size() ==
              1);
    }
}
