/*
 * The configuration of ringcast: every setting with its default and its rules, read from a
 * JSON file and from command-line flags, printed back as JSON (--check-config) and described
 * for --help. What a setting may be is decided here and nowhere else; nothing here opens a
 * socket or starts a process.
 *
 * Precedence: defaults < the --config file < flags (whatever their order on the line).
 * Errors are values naming the key (or the flag) and the reason: "ring: must be a power of
 * two between 64 and 1048576, got 1000".
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "admission/rate_limit.hpp"
#include "supervisor/control_protocol.hpp"
#include "supervisor/listen_address.hpp"

namespace ringcast::supervisor {

enum class HugepageMode { Auto, Require, Off };  // mirror of shm's; main.cpp converts
enum class LogLevel { Debug, Info, Warn, Error };

std::string_view to_string(HugepageMode mode);  // "auto" | "require" | "off"
std::string_view to_string(LogLevel level);     // "debug" | "info" | "warn" | "error"

// Joins nodes through a Redis stream (docs/bridge.md).
struct BridgeConfig {
    bool enabled = false;
    std::string redis = "127.0.0.1:6379";  // HOST:PORT; host names allowed
    std::string stream = "ringcast";
    std::string node_id;  // "" = the host name
    uint64_t maxlen = 100000;
    uint64_t buffer_messages = 100000;
    std::string overflow = "drop_oldest";  // "drop_oldest" | "drop_newest"
    std::string username;       // Redis 6 ACL user; "" = the default user
    std::string password_file;  // "" = no AUTH; only the path is kept, never the password

    friend bool operator==(const BridgeConfig&, const BridgeConfig&) = default;
};

// permessage-deflate (docs/compression.md).
struct CompressionConfig {
    bool enabled = true;        // accept permessage-deflate offers (browsers make them)
    uint64_t min_bytes = 64;    // shorter messages are never compressed; 0..max_message_bytes
    uint32_t level = 6;         // zlib level 1..9 (6: what browsers, ws and uWebSockets use)

    friend bool operator==(const CompressionConfig&, const CompressionConfig&) = default;
};

// How a JWT is checked (docs/admission.md). At most one key file; only their paths are kept and
// printed. A key file is read (and the key built) wherever a config that names it is read.
struct JwtConfig {
    std::string hmac_secret_file;  // HS256/384/512: the secret's bytes, at least 32
    std::string public_key_file;   // RS256 / ES256: a PEM public key or certificate
    std::string audience;          // "" = aud not checked
    std::string issuer;            // "" = iss not checked
    uint32_t leeway_s = 0;         // clock skew tolerated on exp and nbf, 0..86400

    friend bool operator==(const JwtConfig&, const JwtConfig&) = default;
};

// Who may publish: a token's ringcast.publish, else default_role.
struct AuthConfig {
    bool required = false;                   // no token, or a bad one: 401; needs a jwt key file
    std::string default_role = "publisher";  // "publisher" | "listener"
    std::string listener_send = "close";     // "close" (1008) | "drop": a listener's data message
    bool close_on_expiry = true;             // a token's exp reached: close with 1008
    JwtConfig jwt;

    friend bool operator==(const AuthConfig&, const AuthConfig&) = default;
};

// Inbound limits per connection; 0 per second = unlimited. A burst of 0 with a rate means one
// second's worth (effective_rate_limits).
struct RateLimitConfig {
    uint64_t messages_per_s = 0;
    uint64_t bytes_per_s = 0;
    uint64_t burst_messages = 0;
    uint64_t burst_bytes = 0;
    std::string policy = "close";  // "close" (1008 "rate limit") | "drop"

    friend bool operator==(const RateLimitConfig&, const RateLimitConfig&) = default;
};

// What reading a config noticed that is valid but will likely not do what its writer meant
// (printed by --check-config, logged at start and on reload). Not a setting: two configs that
// differ only in their notes are equal.
struct ConfigNotes {
    std::vector<std::string> warnings;
    friend bool operator==(const ConfigNotes&, const ConfigNotes&) { return true; }
};

struct Config {
    ListenAddress listen{"", 9002, false};  // "" host = IPv4 and IPv6, one dual-stack socket
    uint32_t worker_processes = 0;          // 0 = one per NUMA node; <= 1024
    uint32_t shards = 0;                    // reactor threads in all; 0 = one per CPU; <= 4096
    int32_t numa_node = -1;                 // -1 = all
    uint32_t batch = 64;                    // completions per reactor iteration, 1..4096
    uint32_t ring = 2048;                   // power of two, 64..1048576
    HugepageMode hugepages = HugepageMode::Auto;
    uint64_t slab_bytes = 64ull << 20;         // per shard; >= max_message_bytes + 14, <= 64 GiB
    uint64_t max_message_bytes = 16ull << 20;  // 1 .. 1 GiB
    uint64_t max_buffered_bytes = 8ull << 20;  // per connection, 64 KiB .. 64 GiB
    std::string slow_client = "close";         // only "close" for now
    uint32_t ping_interval_ms = 30000;         // 0 = off, else 100..3600000
    uint32_t shutdown_timeout_ms = 5000;       // 100..600000
    std::string control_socket = control::kDefaultSocket;
    std::string metrics_listen;         // "" = off, else canonical ListenAddress::text()
    uint32_t stats_interval_ms = 2000;  // 0 = off, else 100..3600000
    LogLevel log_level = LogLevel::Info;
    std::string restart_mode = "handoff";  // "handoff" | "drain"
    std::string control_group;             // group owning the control socket; "" = the process's
    bool connection_log = false;           // one key=value line per connection event
    // Admission (docs/admission.md): all of it changes at run time, without a restart.
    std::vector<std::string> allowed_origins;  // empty = no Origin check
    bool allow_missing_origin = true;          // a request without Origin (not a browser)
    uint32_t max_connections = 0;              // per node; 0 = no limit, <= 10000000
    uint32_t max_connections_per_ip = 0;       // per source address; 0 = no limit
    uint32_t handshake_timeout_ms = 10000;     // 100..600000
    // Channels (docs/channels.md): read when a worker starts; a reload with a change rolls them.
    std::string channels = "off";              // "off" (one audience) | "path" (the path names it)
    uint32_t max_channels = 100000;            // channels one shard holds subscribers of, 1..10000000
    uint32_t max_subscribers_per_channel = 0;  // per channel on the node; 0 = no limit, <= 10000000
    BridgeConfig bridge;
    CompressionConfig compression;
    AuthConfig auth;
    RateLimitConfig rate_limit;
    ConfigNotes notes;

    friend bool operator==(const Config&, const Config&) = default;
};

// The limits the workers apply: a burst of 0 with a rate is one second's worth (burst = rate).
admission::InboundLimits effective_rate_limits(const RateLimitConfig& r);

struct ConfigError {
    std::string key;  // "ring", "bridge.redis", "auth.jwt.issuer", "allowed_origins[1]", "-ring",
                      // "--config", a file path, or "config"
    std::string reason;
    std::string message() const { return key + ": " + reason; }
};

// Every key optional; keys not given keep their value in `base`. Unknown and duplicate keys,
// wrong types, out-of-range values and broken cross-key rules are errors. JSON syntax errors
// have key "config" and say the line and column.
std::variant<Config, ConfigError> parse_config_json(std::string_view text, Config base = {});

// As parse_config_json over the defaults; syntax errors have the path as key. A file that
// cannot be read gives key "--config" and the strerror text.
std::variant<Config, ConfigError> load_config_file(const std::string& path);

// `key` is only used to name the error: parse_listen("::1:80", "-addr").
std::variant<ListenAddress, ConfigError> parse_listen(std::string_view text, std::string_view key);

// Checks a Config built in code by the same rules as a file; nullopt when valid.
std::optional<ConfigError> validate(const Config& c);

struct CommandLine {
    Config config;
    bool check_config = false;
    bool show_version = false;
    bool show_help = false;  // with show_version, the rest of the line is not loaded or applied
    std::string config_path;
};

// Flags: --config FILE, --check-config, --version, -h/--help, the seed's -addr -batch -ring
// -workers (= shards) -numa, and one flag per top-level key (--worker-processes, --shards,
// --log-level, ...). Each may be written -flag VALUE, -flag=VALUE, --flag VALUE or
// --flag=VALUE. Errors about a flag's value name the flag as written: "-ring: ...".
std::variant<CommandLine, ConfigError> parse_command_line(int argc, const char* const* argv);

// The effective config as pretty JSON with every key, in declaration order, no trailing
// newline. parse_config_json(to_json(c)) gives back c.
std::string to_json(const Config& c);

// The --help text: synopsis, every flag and every config key with its default and rules.
std::string usage_text();

}  // namespace ringcast::supervisor
