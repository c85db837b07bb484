/*
 * The rules of every setting, as tables (kSettings for the top level, one per nested block:
 * kBridgeSettings, kCompressionSettings, kAuthSettings, kJwtSettings for "auth.jwt",
 * kRateLimitSettings), and the readers that apply them: the JSON file, command-line flags and
 * validate(). Each rule is written once and shared by all of them, so a file and a flag can
 * never disagree about what a value means; to_json() and usage_text() are generated from the
 * same tables, so a new key is documented and printed by adding one row.
 */
#include "supervisor/config.hpp"

#include "admission/key_file.hpp"
#include "admission/origin.hpp"
#include "base/bounded_file.hpp"
#include "base/secret_file.hpp"

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <vector>

namespace ringcast::supervisor {
namespace {

// ordered_json keeps the file's key order, so the first error reported is the first in the file.
using Json = nlohmann::ordered_json;
using Reason = std::optional<std::string>;  // nullopt = accepted

// An integer as written, before any range applies; JSON numbers and flag text both land here.
struct Int {
    bool negative = false;
    bool too_large = false;  // does not fit 64 bits
    uint64_t magnitude = 0;
    std::string text;  // as given, for "got ..."
};
using Strings = std::vector<std::string>;
using Scalar = std::variant<Int, std::string, bool, Strings>;
enum class Type { Integer, String, Boolean, Strings };

template <class Target>
struct Setting {
    std::string_view key;
    Type type;
    Reason (*set)(Target&, const Scalar&);  // checks the value, stores it if accepted
    Json (*get)(const Target&);
    std::string_view value_name;  // for --help: ADDR, N, BYTES, ...
    std::string_view help;
};

constexpr std::array<std::string_view, 3> kHugepageModes = {"auto", "require", "off"};
constexpr std::array<std::string_view, 4> kLogLevels = {"debug", "info", "warn", "error"};
constexpr std::array<std::string_view, 1> kSlowClientPolicies = {"close"};
constexpr std::array<std::string_view, 2> kRestartModes = {"handoff", "drain"};
constexpr std::array<std::string_view, 2> kOverflowPolicies = {"drop_oldest", "drop_newest"};
constexpr std::array<std::string_view, 2> kRoles = {"publisher", "listener"};
constexpr std::array<std::string_view, 2> kListenerSendPolicies = {"close", "drop"};
constexpr std::array<std::string_view, 2> kRateLimitPolicies = {"close", "drop"};
constexpr std::array<std::string_view, 2> kChannelModes = {"off", "path"};

constexpr uint64_t kKiB = 1ull << 10, kMiB = 1ull << 20, kGiB = 1ull << 30;
constexpr uint64_t kFrameHeaderMax = 14;  // 2 + 8 length + 4 mask: the largest frame header
constexpr size_t kMaxConfigFileBytes = 1 << 20;
constexpr size_t kMaxOriginListBytes = 32 << 10;
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;  // room for the NUL

std::string quote(std::string_view s) {
    return Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string type_name(const Json& j) {
    if (j.is_number_float()) return "float";
    if (j.is_number_integer()) return "integer";
    return j.type_name();  // null, boolean, string, array, object
}

// "67108864 (64 MiB)": byte limits are easier to check against the docs with their unit.
enum class Unit { Count, Bytes };
std::string amount(uint64_t n, Unit unit) {
    std::string s = std::to_string(n);
    if (unit == Unit::Bytes) {
        constexpr std::pair<uint64_t, const char*> kUnits[] = {
            {kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
        for (auto [size, name] : kUnits)
            if (n >= size && n % size == 0)
                return s + " (" + std::to_string(n / size) + " " + name + ")";
    }
    return s;
}

bool in_range(const Int& n, int64_t lo, uint64_t hi) {
    if (n.too_large) return false;
    if (n.negative) return lo < 0 && n.magnitude <= static_cast<uint64_t>(-(lo + 1)) + 1;
    return (lo <= 0 || n.magnitude >= static_cast<uint64_t>(lo)) && n.magnitude <= hi;
}

int64_t signed_value(const Int& n) {  // only after in_range() with an int64 bound
    return n.negative ? -static_cast<int64_t>(n.magnitude - 1) - 1
                      : static_cast<int64_t>(n.magnitude);
}

// ---- Rules, generic over the field they store into -------------------------------------

template <class M>
struct Member;
template <class C, class F>
struct Member<F C::*> {
    using Owner = C;
    using Field = F;
};
template <auto field>
using OwnerOf = typename Member<decltype(field)>::Owner;
template <auto field>
using FieldOf = typename Member<decltype(field)>::Field;

template <auto field, uint64_t lo, uint64_t hi, Unit unit = Unit::Count>
Reason set_unsigned(OwnerOf<field>& target, const Scalar& value) {
    const Int& n = std::get<Int>(value);
    if (!in_range(n, static_cast<int64_t>(lo), hi))
        return "must be between " + amount(lo, unit) + " and " + amount(hi, unit) + ", got " +
               n.text;
    target.*field = static_cast<FieldOf<field>>(n.magnitude);
    return {};
}

// A period where 0 turns the feature off; an hour is far past any useful setting.
template <auto field>
Reason set_period_ms(OwnerOf<field>& target, const Scalar& value) {
    const Int& n = std::get<Int>(value);
    if (!in_range(n, 0, 0) && !in_range(n, 100, 3600000))
        return "must be 0 (off) or between 100 and 3600000, got " + n.text;
    target.*field = static_cast<uint32_t>(n.magnitude);
    return {};
}

std::string one_of(std::span<const std::string_view> words, std::string_view got) {
    std::string list;
    for (auto w : words) list += (list.empty() ? "" : ", ") + quote(w);
    return (words.size() == 1 ? "must be " : "must be one of ") + list + ", got " + quote(got);
}

// A word from a fixed list, stored as the word or, for an enum field, as its index.
template <auto field, const auto& words>
Reason set_word(OwnerOf<field>& target, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    for (size_t i = 0; i < words.size(); ++i) {
        if (words[i] != s) continue;
        if constexpr (std::is_enum_v<FieldOf<field>>)
            target.*field = static_cast<FieldOf<field>>(i);
        else
            target.*field = s;
        return {};
    }
    return one_of(words, s);
}

template <auto field, const auto& words>
Json get_word(const OwnerOf<field>& target) {
    if constexpr (std::is_enum_v<FieldOf<field>>)
        return std::string(words[static_cast<size_t>(target.*field)]);
    else
        return target.*field;
}

template <auto field>
Reason set_bool(OwnerOf<field>& target, const Scalar& value) {
    target.*field = std::get<bool>(value);
    return {};
}

template <auto field>
Json get_field(const OwnerOf<field>& target) {
    return target.*field;
}

// ---- Rules of one key ---------------------------------------------------------------------

Reason set_listen(Config& c, const Scalar& value) {
    auto parsed = parse_address(std::get<std::string>(value), AddressUse::Listen);
    if (auto* reason = std::get_if<std::string>(&parsed)) return *reason;
    c.listen = std::get<ListenAddress>(parsed);
    return {};
}
Json get_listen(const Config& c) {
    return c.listen.text();
}

Reason set_metrics_listen(Config& c, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    if (s.empty()) {
        c.metrics_listen.clear();
        return {};
    }
    auto parsed = parse_address(s, AddressUse::Listen);
    if (auto* reason = std::get_if<std::string>(&parsed)) return *reason;
    c.metrics_listen = std::get<ListenAddress>(parsed).text();
    return {};
}

Reason set_numa_node(Config& c, const Scalar& value) {
    const Int& n = std::get<Int>(value);
    // Linux supports at most 1024 nodes (CONFIG_NODES_SHIFT <= 10).
    if (!in_range(n, -1, 1023))
        return "must be -1 (every node) or between 0 and 1023, got " + n.text;
    c.numa_node = static_cast<int32_t>(signed_value(n));
    return {};
}

Reason set_ring(Config& c, const Scalar& value) {
    const Int& n = std::get<Int>(value);
    if (!in_range(n, 64, 1 << 20) || !std::has_single_bit(n.magnitude))
        return "must be a power of two between 64 and 1048576, got " + n.text;
    c.ring = static_cast<uint32_t>(n.magnitude);
    return {};
}

Reason set_control_socket(Config& c, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    if (s.empty()) return "must not be empty";
    if (s.find('\0') != std::string::npos) return "must not contain a NUL byte";
    if (s.size() > kMaxSocketPath)
        return "must be at most " + std::to_string(kMaxSocketPath) +
               " bytes (the limit of a Unix socket path), got " + std::to_string(s.size());
    c.control_socket = s;
    return {};
}

// A group name as getent knows it: no spaces, colons or control characters.
Reason set_control_group(Config& c, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    if (s.size() > 64) return "must be at most 64 characters, got " + std::to_string(s.size());
    for (char ch : s) {
        if (static_cast<unsigned char>(ch) <= ' ' || ch == ':' || ch == 0x7f)
            return "must be a group name (no spaces, colons or control characters)";
    }
    c.control_group = s;
    return {};
}

Reason set_redis(BridgeConfig& b, const Scalar& value) {
    auto parsed = parse_address(std::get<std::string>(value), AddressUse::Connect);
    if (auto* reason = std::get_if<std::string>(&parsed)) return *reason;
    b.redis = std::get<ListenAddress>(parsed).text();
    return {};
}

Reason set_stream(BridgeConfig& b, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    if (s.empty()) return "must not be empty";
    b.stream = s;
    return {};
}

// Tagged on every relayed message, so kept to characters that need no escaping anywhere.
Reason set_node_id(BridgeConfig& b, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    bool plain = std::all_of(s.begin(), s.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '.' || ch == '_' || ch == '-';
    });
    if (s.size() > 64 || !plain)
        return "must be \"\" (the host name) or up to 64 characters of A-Z a-z 0-9 . _ -, got " +
               quote(s);
    b.node_id = s;
    return {};
}

// An ACL user name as Redis accepts it in AUTH: no spaces or control characters.
Reason set_username(BridgeConfig& b, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    if (s.size() > 128) return "must be at most 128 characters, got " + std::to_string(s.size());
    for (char ch : s) {
        if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f)
            return "must be a Redis user name (no spaces or control characters)";
    }
    b.username = s;
    return {};
}

// Only the path is kept and printed; whether the file can be read is checked where a config
// file names it (readable_password_file), not on every validate() of a running config.
Reason set_password_file(BridgeConfig& b, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    if (s.find('\0') != std::string::npos) return "must not contain a NUL byte";
    b.password_file = s;
    return {};
}

// The file must be readable when the config is read, so a typo stops the start (or the
// reload) instead of a bridge that cannot log in. Its content is read and dropped.
Reason readable_password_file(const std::string& path) {
    if (path.empty()) return {};
    auto read = read_secret_file(path);
    if (auto* e = std::get_if<SecretFileError>(&read)) return e->message;
    std::string& secret = std::get<std::string>(read);
    std::fill(secret.begin(), secret.end(), '\0');
    return {};
}

// Each entry checked as an allowlist entry; "[1]: ..." names the entry (apply_json and the
// flag reader join it to the key: allowed_origins[1]).
Reason set_allowed_origins(Config& c, const Scalar& value) {
    const Strings& entries = std::get<Strings>(value);
    // The workers get the list in one command of at most 64 KiB, with the rest of admission.
    size_t bytes = 0;
    for (const auto& e : entries) bytes += e.size() + 4;  // quotes, comma, space
    if (bytes > kMaxOriginListBytes)
        return "must be at most " + amount(kMaxOriginListBytes, Unit::Bytes) + " in all, got " +
               std::to_string(bytes);
    auto parsed = admission::OriginAllowlist::parse(entries, "");
    if (auto* reason = std::get_if<std::string>(&parsed)) return *reason;
    c.allowed_origins = entries;
    return {};
}

// A path or a name: any text but a NUL byte. A key file itself is read where a config file
// names it (usable_jwt_key).
template <auto field>
Reason set_text(OwnerOf<field>& target, const Scalar& value) {
    const std::string& s = std::get<std::string>(value);
    if (s.find('\0') != std::string::npos) return "must not contain a NUL byte";
    if (s.size() > 4096) return "must be at most 4096 bytes, got " + std::to_string(s.size());
    target.*field = s;
    return {};
}

// The key must load when the config is read (start, --check-config, reload, set), so a typo
// or a short secret stops it there instead of every client getting 401. The reason names the
// file and why, never a byte of the key.
std::optional<ConfigError> usable_jwt_key(const JwtConfig& jwt) {
    const admission::JwtRules rules{jwt.audience, jwt.issuer, jwt.leeway_s, false};
    if (!jwt.hmac_secret_file.empty()) {
        auto v = admission::load_hmac_verifier(jwt.hmac_secret_file, rules);
        if (auto* reason = std::get_if<std::string>(&v))
            return ConfigError{"auth.jwt.hmac_secret_file", *reason};
    }
    if (!jwt.public_key_file.empty()) {
        auto v = admission::load_public_key_verifier(jwt.public_key_file, rules);
        if (auto* reason = std::get_if<std::string>(&v))
            return ConfigError{"auth.jwt.public_key_file", *reason};
    }
    return {};
}

// ---- The tables ---------------------------------------------------------------------------

using C = Config;
using B = BridgeConfig;

const Setting<Config> kSettings[] = {
    {"listen", Type::String, set_listen, get_listen, "ADDR",
     "Address that accepts WebSocket clients: \":PORT\" for every IPv4 and IPv6 address, "
     "\"IPV4:PORT\" for one IPv4 address (\"0.0.0.0:PORT\" for every one), or \"[IPV6]:PORT\". "
     "Port 1..65535; host names are not resolved."},
    {"worker_processes", Type::Integer, set_unsigned<&C::worker_processes, 0, 1024>,
     get_field<&C::worker_processes>, "N",
     "Worker processes to run, 0..1024; 0 = one per NUMA node. More than one per node is allowed, "
     "e.g. to use hot restart on a one-node machine."},
    {"shards", Type::Integer, set_unsigned<&C::shards, 0, 4096>, get_field<&C::shards>, "N",
     "Reactor threads (shards) in all, spread over the worker processes, 0..4096; 0 = one per "
     "CPU. When both are set, at least worker_processes."},
    {"numa_node", Type::Integer, set_numa_node, get_field<&C::numa_node>, "N",
     "Run only on this NUMA node, 0..1023; -1 = every node."},
    {"batch", Type::Integer, set_unsigned<&C::batch, 1, 4096>, get_field<&C::batch>, "N",
     "Completions a shard handles per reactor iteration, 1..4096."},
    {"ring", Type::Integer, set_ring, get_field<&C::ring>, "N",
     "Message descriptors in each shard's outbound ring; a power of two between 64 and 1048576."},
    {"hugepages", Type::String, set_word<&C::hugepages, kHugepageModes>,
     get_word<&C::hugepages, kHugepageModes>, "MODE",
     "\"auto\" uses hugepages when the system has them and says so when it falls back; "
     "\"require\" refuses to start without them; \"off\" never uses them."},
    {"slab_bytes", Type::Integer, set_unsigned<&C::slab_bytes, 1, 64 * kGiB, Unit::Bytes>,
     get_field<&C::slab_bytes>, "BYTES",
     "Size of each shard's slab pool, which holds the outbound frames; at most 64 GiB and at "
     "least max_message_bytes + 14, so that one whole frame fits."},
    {"max_message_bytes", Type::Integer, set_unsigned<&C::max_message_bytes, 1, kGiB, Unit::Bytes>,
     get_field<&C::max_message_bytes>, "BYTES",
     "Largest message a client may send, 1 byte .. 1 GiB; a larger one closes the "
     "connection with code 1009 (Message Too Big)."},
    {"max_buffered_bytes", Type::Integer,
     set_unsigned<&C::max_buffered_bytes, 64 * kKiB, 64 * kGiB, Unit::Bytes>,
     get_field<&C::max_buffered_bytes>, "BYTES",
     "Bytes that may be queued for one connection before slow_client applies, 64 KiB .. 64 GiB."},
    {"slow_client", Type::String, set_word<&C::slow_client, kSlowClientPolicies>,
     get_word<&C::slow_client, kSlowClientPolicies>, "POLICY",
     "What happens to a connection past max_buffered_bytes: \"close\" closes it with a reason "
     "and counts it, so that it never holds back the others."},
    {"ping_interval_ms", Type::Integer, set_period_ms<&C::ping_interval_ms>,
     get_field<&C::ping_interval_ms>, "MS",
     "Milliseconds between the server's pings to each connection; 0 = off, else 100..3600000."},
    {"shutdown_timeout_ms", Type::Integer, set_unsigned<&C::shutdown_timeout_ms, 100, 600000>,
     get_field<&C::shutdown_timeout_ms>, "MS",
     "Milliseconds a graceful shutdown waits for connections to close before it ends them, "
     "100..600000."},
    {"control_socket", Type::String, set_control_socket, get_field<&C::control_socket>, "PATH",
     "Path of the Unix control socket that ringcastctl talks to (mode 0660); at most 107 bytes."},
    {"metrics_listen", Type::String, set_metrics_listen, get_field<&C::metrics_listen>, "ADDR",
     "Address of the HTTP endpoint serving /metrics (Prometheus), /healthz, /readyz and a live "
     "status page at /, written like listen; \"\" = off. Must not share listen's port on an "
     "overlapping address."},
    {"stats_interval_ms", Type::Integer, set_period_ms<&C::stats_interval_ms>,
     get_field<&C::stats_interval_ms>, "MS",
     "Milliseconds between the supervisor's stats lines (connections, messages); 0 = off, else "
     "100..3600000."},
    {"log_level", Type::String, set_word<&C::log_level, kLogLevels>,
     get_word<&C::log_level, kLogLevels>, "LEVEL",
     "Least severe log line printed: \"debug\", \"info\", \"warn\" or \"error\"."},
    {"restart_mode", Type::String, set_word<&C::restart_mode, kRestartModes>,
     get_word<&C::restart_mode, kRestartModes>, "MODE",
     "How a worker is replaced: \"handoff\" passes its live connections to the new process "
     "without a close; \"drain\" closes them with code 1012 (Service Restart) after flushing."},
    {"control_group", Type::String, set_control_group, get_field<&C::control_group>, "GROUP",
     "Group that owns the control socket (mode 0660), so its members may use ringcastctl; \"\" = "
     "the server's own group."},
    {"connection_log", Type::Boolean, set_bool<&C::connection_log>, get_field<&C::connection_log>,
     "BOOL",
     "Log one key=value line per connection event (open, close with code, bytes and messages); "
     "off costs nothing on the data path."},
    {"allowed_origins", Type::Strings, set_allowed_origins, get_field<&C::allowed_origins>,
     "ORIGINS",
     "Web pages that may connect, as scheme://host[:port] (http or https; "
     "\"https://*.example.com\" admits one label in front of example.com); a browser's upgrade "
     "from any other Origin gets 403. [] = no Origin check. At most 32 KiB in all. The flag "
     "takes a comma-separated list. Changes at run time."},
    {"allow_missing_origin", Type::Boolean, set_bool<&C::allow_missing_origin>,
     get_field<&C::allow_missing_origin>, "BOOL",
     "Admit an upgrade without an Origin header (a client that is not a browser) while "
     "allowed_origins is set; false = 403. Changes at run time."},
    {"max_connections", Type::Integer, set_unsigned<&C::max_connections, 0, 10000000>,
     get_field<&C::max_connections>, "N",
     "Open connections this node holds, 0..10000000; past it an upgrade gets 503. 0 = no limit. "
     "Changes at run time (open connections stay)."},
    {"max_connections_per_ip", Type::Integer, set_unsigned<&C::max_connections_per_ip, 0, 10000000>,
     get_field<&C::max_connections_per_ip>, "N",
     "Open connections one source address may hold on this node, 0..10000000; past it an "
     "upgrade gets 503. 0 = no limit. Changes at run time."},
    {"handshake_timeout_ms", Type::Integer, set_unsigned<&C::handshake_timeout_ms, 100, 600000>,
     get_field<&C::handshake_timeout_ms>, "MS",
     "Milliseconds a new socket has to send its complete upgrade request before it is closed, "
     "100..600000. Changes at run time."},
    {"channels", Type::String, set_word<&C::channels, kChannelModes>,
     get_word<&C::channels, kChannelModes>, "MODE",
     "\"off\": every client is in one audience, whatever its path. \"path\": the upgrade's path "
     "names the channel a client joins (ws://host/rooms/42 joins rooms/42, / the root channel "
     "\"\"), and a message reaches the other clients of its channel on every worker and, "
     "through the bridge, on every node (docs/channels.md). Read when a worker starts: a "
     "reload with a new value restarts the workers."},
    {"max_channels", Type::Integer, set_unsigned<&C::max_channels, 1, 10000000>,
     get_field<&C::max_channels>, "N",
     "Channels one shard holds subscribers of, 1..10000000; an upgrade that would open one more "
     "on a full shard gets 503. Only with channels \"path\"; read when a worker starts."},
    {"max_subscribers_per_channel", Type::Integer,
     set_unsigned<&C::max_subscribers_per_channel, 0, 10000000>,
     get_field<&C::max_subscribers_per_channel>, "N",
     "Clients one channel may hold on this node, 0..10000000; past it an upgrade gets 503. "
     "0 = no limit. Only with channels \"path\"; read when a worker starts."},
};

const Setting<BridgeConfig> kBridgeSettings[] = {
    {"enabled", Type::Boolean, set_bool<&B::enabled>, get_field<&B::enabled>, "BOOL",
     "Relay messages to and from other ringcast nodes through Redis. Off unless set to true; a "
     "block that names Redis while off is warned about at start and by --check-config."},
    {"redis", Type::String, set_redis, get_field<&B::redis>, "ADDR",
     "Redis server as HOST:PORT; host names are allowed here."},
    {"stream", Type::String, set_stream, get_field<&B::stream>, "KEY",
     "Key of the Redis stream the nodes share; not empty."},
    {"node_id", Type::String, set_node_id, get_field<&B::node_id>, "ID",
     "This node's name, tagged on every relayed message so that none echoes back; \"\" = the "
     "host name, else up to 64 characters of A-Z a-z 0-9 . _ -."},
    {"maxlen", Type::Integer,
     set_unsigned<&B::maxlen, 1, static_cast<uint64_t>(std::numeric_limits<int64_t>::max())>,
     get_field<&B::maxlen>, "N", "Length the stream is trimmed to (XADD MAXLEN ~), at least 1."},
    {"buffer_messages", Type::Integer, set_unsigned<&B::buffer_messages, 1, 1 << 24>,
     get_field<&B::buffer_messages>, "N",
     "Messages held for Redis while it is slow or away, 1..16777216."},
    {"overflow", Type::String, set_word<&B::overflow, kOverflowPolicies>,
     get_word<&B::overflow, kOverflowPolicies>, "POLICY",
     "What happens when that buffer is full: \"drop_oldest\" or \"drop_newest\"."},
    {"username", Type::String, set_username, get_field<&B::username>, "USER",
     "Redis 6 ACL user the bridge logs in as (AUTH USER PASSWORD); \"\" = the default user "
     "(AUTH PASSWORD). Needs password_file."},
    {"password_file", Type::String, set_password_file, get_field<&B::password_file>, "PATH",
     "File holding the Redis password (its bytes as they are, one final newline stripped), read "
     "by the bridge itself and sent as AUTH before any other command on both of its connections; "
     "\"\" = no AUTH. Only the path is ever printed. A refused login is logged and retried with "
     "backoff; after changing the password, run `ringcastctl restart bridge`."},
};

using Z = CompressionConfig;
const Setting<CompressionConfig> kCompressionSettings[] = {
    {"enabled", Type::Boolean, set_bool<&Z::enabled>, get_field<&Z::enabled>, "BOOL",
     "Accept permessage-deflate (RFC 7692) offers: each message is compressed once, for every "
     "client that negotiated it, and compressed client messages are inflated. On by default, "
     "as browsers offer it."},
    {"min_bytes", Type::Integer, set_unsigned<&Z::min_bytes, 0, kGiB, Unit::Bytes>,
     get_field<&Z::min_bytes>, "BYTES",
     "Messages shorter than this are sent uncompressed to everyone (0..1 GiB)."},
    {"level", Type::Integer, set_unsigned<&Z::level, 1, 9>, get_field<&Z::level>, "N",
     "zlib compression level, 1 (fastest) .. 9 (smallest)."},
};

using A = AuthConfig;
const Setting<AuthConfig> kAuthSettings[] = {
    {"required", Type::Boolean, set_bool<&A::required>, get_field<&A::required>, "BOOL",
     "Every upgrade must carry a valid token (Authorization: Bearer, ?token= or the "
     "Sec-WebSocket-Protocol entry); else 401. Needs a key in auth.jwt. With a key and false, "
     "tokens are optional: a token present is verified (a bad one is 401), a client without "
     "one gets default_role."},
    {"default_role", Type::String, set_word<&A::default_role, kRoles>,
     get_word<&A::default_role, kRoles>, "ROLE",
     "Role of a client whose token has no ringcast.publish claim, or that has no token: "
     "\"publisher\" (may send) or \"listener\" (receives only)."},
    {"listener_send", Type::String, set_word<&A::listener_send, kListenerSendPolicies>,
     get_word<&A::listener_send, kListenerSendPolicies>, "POLICY",
     "What a listener's data message gets: \"close\" (code 1008) or \"drop\" (counted)."},
    {"close_on_expiry", Type::Boolean, set_bool<&A::close_on_expiry>,
     get_field<&A::close_on_expiry>, "BOOL",
     "Close a connection with 1008 \"token expired\" when its token's exp is reached."},
};

using J = JwtConfig;
const Setting<JwtConfig> kJwtSettings[] = {
    {"hmac_secret_file", Type::String, set_text<&J::hmac_secret_file>,
     get_field<&J::hmac_secret_file>, "PATH",
     "File holding the HMAC secret (HS256/HS384/HS512; its bytes as they are, one final "
     "newline stripped, at least 32). Read when the config is read and again on every reload, "
     "so a rotated file takes effect with SIGHUP. \"\" = none. Only the path is ever printed."},
    {"public_key_file", Type::String, set_text<&J::public_key_file>, get_field<&J::public_key_file>,
     "PATH",
     "File holding a PEM public key or certificate: RSA of 2048 bits or more (RS256) or EC "
     "P-256 (ES256). At most one of hmac_secret_file and public_key_file. \"\" = none."},
    {"audience", Type::String, set_text<&J::audience>, get_field<&J::audience>, "AUD",
     "The token's aud must hold this; \"\" = aud not checked (a token that names one is refused)."},
    {"issuer", Type::String, set_text<&J::issuer>, get_field<&J::issuer>, "ISS",
     "The token's iss must equal this; \"\" = iss not checked."},
    {"leeway_s", Type::Integer, set_unsigned<&J::leeway_s, 0, 86400>, get_field<&J::leeway_s>, "S",
     "Seconds of clock skew allowed on exp and nbf, 0..86400."},
};

using R = RateLimitConfig;
const Setting<RateLimitConfig> kRateLimitSettings[] = {
    {"messages_per_s", Type::Integer,
     set_unsigned<&R::messages_per_s, 0, admission::kMaxRateOrBurst>, get_field<&R::messages_per_s>,
     "N", "Messages a connection may send per second, 0..4294967296; 0 = unlimited."},
    {"bytes_per_s", Type::Integer,
     set_unsigned<&R::bytes_per_s, 0, admission::kMaxRateOrBurst, Unit::Bytes>,
     get_field<&R::bytes_per_s>, "BYTES",
     "Message bytes a connection may send per second, 0..4294967296; 0 = unlimited."},
    {"burst_messages", Type::Integer,
     set_unsigned<&R::burst_messages, 0, admission::kMaxRateOrBurst>, get_field<&R::burst_messages>,
     "N", "Messages a connection may send at once above the rate; 0 = one second's worth."},
    {"burst_bytes", Type::Integer,
     set_unsigned<&R::burst_bytes, 0, admission::kMaxRateOrBurst, Unit::Bytes>,
     get_field<&R::burst_bytes>, "BYTES",
     "Bytes a connection may send at once above the rate; 0 = one second's worth. A larger "
     "message passes only from a full bucket."},
    {"policy", Type::String, set_word<&R::policy, kRateLimitPolicies>,
     get_word<&R::policy, kRateLimitPolicies>, "POLICY",
     "What a message over the limit gets: \"close\" (code 1008 \"rate limit\") or \"drop\" "
     "(counted)."},
};

constexpr std::string_view kAuthHelp =
    "Who may connect and who may publish, by JSON Web Token (docs/admission.md). Optional; "
    "every key inside is optional too. Changes at run time (open connections keep their role).";

constexpr std::string_view kJwtHelp =
    "How a token is verified. With neither key file, tokens are not read.";

constexpr std::string_view kRateLimitHelp =
    "Inbound limit per connection, as two token buckets (messages and bytes). Optional; "
    "changes at run time.";

constexpr std::string_view kCompressionHelp =
    "permessage-deflate (docs/compression.md). Optional; every key inside is optional too.";

constexpr std::string_view kBridgeHelp =
    "Joins several ringcast nodes through a Redis stream. Optional; every key inside is "
    "optional too.";

// The seed's Go-style flags, kept with their original meaning.
struct Alias {
    std::string_view flag, key;
};
constexpr Alias kAliases[] = {{"addr", "listen"}, {"workers", "shards"}, {"numa", "numa_node"}};

std::string flag_name(std::string_view key) {
    std::string s(key);
    std::replace(s.begin(), s.end(), '_', '-');
    return s;
}

template <class Target>
const Setting<Target>* find_setting(std::span<const Setting<Target>> settings,
                                    std::string_view key) {
    for (const auto& s : settings)
        if (s.key == key) return &s;
    return nullptr;
}

const Setting<Config>* find_flag(std::string_view name) {
    for (const auto& a : kAliases)
        if (a.flag == name) return find_setting<Config>(kSettings, a.key);
    for (const auto& s : kSettings)
        if (flag_name(s.key) == name) return &s;
    return nullptr;
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// " (did you mean "ring"?)" for a near miss, "" otherwise.
std::string suggestion(std::string_view given, const std::vector<std::string>& known,
                       std::string_view prefix) {
    const std::string* best = nullptr;
    size_t best_distance = 3;  // more than two edits is a different word, not a typo
    for (const auto& k : known) {
        size_t d = edit_distance(given, k);
        if (d < best_distance) {
            best = &k;
            best_distance = d;
        }
    }
    if (!best || given.size() < 3) return "";
    return " (did you mean " + quote(std::string(prefix) + *best) + "?)";
}

template <class Target>
std::vector<std::string> keys_of(std::span<const Setting<Target>> settings) {
    std::vector<std::string> keys;
    for (const auto& s : settings) keys.emplace_back(s.key);
    return keys;
}

// ---- Readers ------------------------------------------------------------------------------

// nlohmann reads an integer too wide for 64 bits as a float; that is out of range, not a
// type error.
bool is_wide_integer(double d) {
    return std::isfinite(d) && std::trunc(d) == d && std::fabs(d) >= 0x1p63;
}

Reason scalar_from_json(const Json& j, Type type, Scalar& out) {
    switch (type) {
        case Type::Integer: {
            Int n;
            n.text = j.dump();
            if (j.is_number_unsigned()) {
                n.magnitude = j.get<uint64_t>();
            } else if (j.is_number_integer()) {
                int64_t v = j.get<int64_t>();
                n.negative = v < 0;
                n.magnitude =
                    v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
            } else if (j.is_number_float() && is_wide_integer(j.get<double>())) {
                n.negative = j.get<double>() < 0;
                n.too_large = true;
            } else {
                return "must be an integer, got " + type_name(j);
            }
            out = std::move(n);
            return {};
        }
        case Type::String:
            if (!j.is_string()) return "must be a string, got " + type_name(j);
            out = j.get<std::string>();
            return {};
        case Type::Boolean:
            if (!j.is_boolean()) return "must be a boolean, got " + type_name(j);
            out = j.get<bool>();
            return {};
        case Type::Strings: {
            if (!j.is_array()) return "must be an array of strings, got " + type_name(j);
            Strings list;
            for (size_t i = 0; i < j.size(); ++i) {
                if (!j[i].is_string())
                    return "[" + std::to_string(i) + "]: must be a string, got " + type_name(j[i]);
                list.push_back(j[i].get<std::string>());
            }
            out = std::move(list);
            return {};
        }
    }
    return "unreachable";
}

// A flag's value is text; it is read as the key's type, with no JSON quoting needed.
Reason scalar_from_text(std::string_view text, Type type, Scalar& out) {
    switch (type) {
        case Type::Integer: {
            Int n;
            n.text = std::string(text);
            std::string_view digits = text;
            if (!digits.empty() && digits.front() == '-') {
                n.negative = true;
                digits.remove_prefix(1);
            }
            if (digits.empty()) return "must be an integer, got " + quote(text);
            for (char c : digits) {
                if (c < '0' || c > '9') return "must be an integer, got " + quote(text);
                uint64_t d = static_cast<uint64_t>(c - '0');
                if (n.magnitude > (UINT64_MAX - d) / 10)
                    n.too_large = true;
                else
                    n.magnitude = n.magnitude * 10 + d;
            }
            if (n.magnitude == 0 && !n.too_large) n.negative = false;  // "-0"
            out = std::move(n);
            return {};
        }
        case Type::String:
            try {
                (void)Json(std::string(text)).dump();  // the effective config must print as JSON
            } catch (const Json::type_error&) {
                return "must be valid UTF-8";
            }
            out = std::string(text);
            return {};
        case Type::Boolean:
            if (text != "true" && text != "false")
                return "must be true or false, got " + quote(text);
            out = text == "true";
            return {};
        case Type::Strings: {  // comma-separated; "" = an empty list
            Strings list;
            for (size_t start = 0; start < text.size();) {
                size_t comma = std::min(text.find(',', start), text.size());
                list.emplace_back(text.substr(start, comma - start));
                start = comma + 1;
                if (comma + 1 == text.size()) list.emplace_back();  // "a," has an empty entry
            }
            try {
                (void)Json(list).dump();
            } catch (const Json::type_error&) {
                return "must be valid UTF-8";
            }
            out = std::move(list);
            return {};
        }
    }
    return "unreachable";
}

// A reason about one entry of a list ("[1]: ...") is named by the entry: allowed_origins[1].
ConfigError key_error(const std::string& key, const std::string& reason) {
    if (reason.starts_with('[')) {
        if (size_t end = reason.find("]: "); end != std::string::npos)
            return ConfigError{key + reason.substr(0, end + 1), reason.substr(end + 3)};
    }
    return ConfigError{key, reason};
}

template <class Target>
std::optional<ConfigError> apply_json(const Setting<Target>& s, const Json& value,
                                      const std::string& key, Target& target) {
    Scalar scalar;
    if (auto reason = scalar_from_json(value, s.type, scalar)) return key_error(key, *reason);
    if (auto reason = s.set(target, scalar)) return key_error(key, *reason);
    return {};
}

// A disabled bridge whose block says where Redis is was most likely meant to run: say so
// instead of starting a node that silently serves alone. The block as --check-config prints
// it (every key, "enabled": false, defaults) stays quiet.
std::optional<std::string> disabled_bridge_warning(const Json& object, const BridgeConfig& bridge) {
    if (bridge.enabled || object.empty()) return {};
    if (!object.contains("enabled"))
        return "bridge: the block has no \"enabled\": true, so this node runs without a bridge "
               "(redis " + bridge.redis + " is not used); add \"enabled\": true to relay through it";
    const BridgeConfig defaults;
    BridgeConfig named = bridge;
    named.enabled = defaults.enabled;
    if (named == defaults) return {};
    return "bridge.enabled: false, so this node runs without a bridge and ignores the other "
           "bridge settings (redis " + bridge.redis + "); set it to true to relay through Redis";
}

// A nested block ("bridge", "compression"): every key read by its own table, named with the
// block's prefix.
template <class Target>
std::optional<ConfigError> apply_section(std::string_view name, const Json& object,
                                         std::span<const Setting<Target>> settings, Target& target) {
    if (!object.is_object())
        return ConfigError{std::string(name), "must be an object, got " + type_name(object)};
    const std::string prefix = std::string(name) + ".";
    for (const auto& item : object.items()) {
        std::string key = prefix + item.key();
        const auto* s = find_setting<Target>(settings, item.key());
        if (!s) return ConfigError{key, "unknown key" + suggestion(item.key(), keys_of<Target>(settings), prefix)};
        if (auto e = apply_json(*s, item.value(), key, target)) return e;
    }
    return {};
}

std::optional<ConfigError> apply_bridge(const Json& object, BridgeConfig& bridge, ConfigNotes& notes) {
    if (auto e = apply_section<BridgeConfig>("bridge", object, kBridgeSettings, bridge)) return e;
    if (object.contains("password_file")) {
        if (auto reason = readable_password_file(bridge.password_file))
            return ConfigError{"bridge.password_file", *reason};
    }
    if (auto w = disabled_bridge_warning(object, bridge)) notes.warnings.push_back(std::move(*w));
    return {};
}

// Rules inside auth, checked before any key file is read.
std::optional<ConfigError> check_auth(const AuthConfig& auth) {
    const bool hmac = !auth.jwt.hmac_secret_file.empty(), pem = !auth.jwt.public_key_file.empty();
    if (hmac && pem)
        return ConfigError{"auth.jwt",
                           "at most one of hmac_secret_file and public_key_file, got both"};
    if (auth.required && !hmac && !pem)
        return ConfigError{"auth.required",
                           "needs auth.jwt.hmac_secret_file or auth.jwt.public_key_file: "
                           "without a key no token can be verified"};
    return {};
}

// "auth": its own keys and the nested "jwt" block. A key file named by the result is loaded
// here, so a document that sets or changes auth (a file, a reload, `set auth`) proves its key.
std::optional<ConfigError> apply_auth(const Json& object, AuthConfig& auth) {
    if (!object.is_object())
        return ConfigError{"auth", "must be an object, got " + type_name(object)};
    for (const auto& item : object.items()) {
        if (item.key() == "jwt") {
            if (auto e = apply_section<JwtConfig>("auth.jwt", item.value(), kJwtSettings, auth.jwt))
                return e;
            continue;
        }
        const auto* s = find_setting<AuthConfig>(kAuthSettings, item.key());
        if (!s) {
            auto known = keys_of<AuthConfig>(kAuthSettings);
            known.emplace_back("jwt");
            return ConfigError{"auth." + item.key(),
                               "unknown key" + suggestion(item.key(), known, "auth.")};
        }
        if (auto e = apply_json(*s, item.value(), "auth." + item.key(), auth)) return e;
    }
    if (auto e = check_auth(auth)) return e;
    return usable_jwt_key(auth.jwt);
}

std::optional<ConfigError> apply_object(const Json& object, Config& c) {
    for (const auto& item : object.items()) {
        const std::string& key = item.key();
        if (key == "bridge") {
            if (auto e = apply_bridge(item.value(), c.bridge, c.notes)) return e;
            continue;
        }
        if (key == "compression") {
            if (auto e = apply_section<CompressionConfig>("compression", item.value(), kCompressionSettings,
                                                          c.compression))
                return e;
            continue;
        }
        if (key == "auth") {
            if (auto e = apply_auth(item.value(), c.auth)) return e;
            continue;
        }
        if (key == "rate_limit") {
            if (auto e = apply_section<RateLimitConfig>("rate_limit", item.value(),
                                                        kRateLimitSettings, c.rate_limit))
                return e;
            continue;
        }
        const auto* s = find_setting<Config>(kSettings, key);
        if (!s) {
            auto known = keys_of<Config>(kSettings);
            for (const char* block : {"bridge", "compression", "auth", "rate_limit"})
                known.emplace_back(block);
            return ConfigError{key, "unknown key" + suggestion(key, known, "")};
        }
        if (auto e = apply_json(*s, item.value(), key, c)) return e;
    }
    return {};
}

bool is_wildcard(const ListenAddress& a) {
    return a.host.empty() || a.host == "0.0.0.0" || a.host == "::";
}

// Rules between keys, checked once every source (file, flags) has been applied.
std::optional<ConfigError> check_cross_keys(const Config& c) {
    if (c.slab_bytes < c.max_message_bytes + kFrameHeaderMax)
        return ConfigError{"slab_bytes", "must be at least max_message_bytes + 14 = " +
                                             std::to_string(c.max_message_bytes + kFrameHeaderMax) +
                                             " so that one whole frame fits, got " +
                                             std::to_string(c.slab_bytes)};
    if (auto e = check_auth(c.auth)) return e;
    // The table bounds every field, so this holds for any config read; it guards one built in
    // code, checked the way the worker will use it (after the burst of 0 became the rate).
    const admission::InboundLimits limits = effective_rate_limits(c.rate_limit);
    for (auto [limit, key] : {std::pair{limits.messages, "rate_limit.messages_per_s"},
                              std::pair{limits.bytes, "rate_limit.bytes_per_s"}}) {
        if (auto reason = admission::check_rate_limit(limit, key))
            return ConfigError{key, reason->substr(std::strlen(key) + 2)};  // "key: why"
    }
    if (!c.bridge.username.empty() && c.bridge.password_file.empty())
        return ConfigError{"bridge.username",
                           "needs bridge.password_file: Redis logs a user in with its password"};
    if (c.shards != 0 && c.worker_processes != 0 && c.shards < c.worker_processes)
        return ConfigError{
            "shards", "must be at least worker_processes (" + std::to_string(c.worker_processes) +
                          ") so that every worker has a shard, got " + std::to_string(c.shards)};
    if (!c.metrics_listen.empty()) {
        auto parsed = parse_address(c.metrics_listen, AddressUse::Listen);
        if (const auto* m = std::get_if<ListenAddress>(&parsed);
            m && m->port == c.listen.port &&
            (is_wildcard(*m) || is_wildcard(c.listen) || m->host == c.listen.host))
            return ConfigError{"metrics_listen", "must not share a port with listen (" +
                                                     c.listen.text() + "), got " +
                                                     quote(c.metrics_listen)};
    }
    return {};
}

// Admission settings that are valid but do nothing, or less than their writer likely meant.
// Checked once every source (file, flags) has been applied.
void note_admission(const Config& c, ConfigNotes& notes) {
    const bool key = !c.auth.jwt.hmac_secret_file.empty() || !c.auth.jwt.public_key_file.empty();
    if (!key && c.auth.default_role != AuthConfig{}.default_role)
        notes.warnings.push_back(
            "auth.default_role: \"" + c.auth.default_role +
            "\" has no effect without a key in auth.jwt (hmac_secret_file or public_key_file): "
            "tokens are not read and every client publishes");
    const JwtConfig& jwt = c.auth.jwt;
    if (!key && (!jwt.audience.empty() || !jwt.issuer.empty() || jwt.leeway_s != 0))
        notes.warnings.push_back(
            "auth.jwt: audience, issuer and leeway_s have no effect without hmac_secret_file or "
            "public_key_file: tokens are not read");
    if (!c.allow_missing_origin && c.allowed_origins.empty())
        notes.warnings.push_back(
            "allow_missing_origin: false has no effect while allowed_origins is empty (no Origin "
            "check: every request is admitted, with or without Origin)");
    const RateLimitConfig& r = c.rate_limit;
    if (r.burst_messages != 0 && r.messages_per_s == 0)
        notes.warnings.push_back(
            "rate_limit.burst_messages has no effect while rate_limit.messages_per_s is 0 "
            "(unlimited)");
    if (r.burst_bytes != 0 && r.bytes_per_s == 0)
        notes.warnings.push_back(
            "rate_limit.burst_bytes has no effect while rate_limit.bytes_per_s is 0 (unlimited)");
    if (c.max_connections != 0 && c.max_connections_per_ip > c.max_connections)
        notes.warnings.push_back("max_connections_per_ip (" +
                                 std::to_string(c.max_connections_per_ip) +
                                 ") is above max_connections (" +
                                 std::to_string(c.max_connections) + "), so it never applies");
}

// Channel limits set while channels are off: valid, but nothing reads them.
void note_channels(const Config& c, ConfigNotes& notes) {
    if (c.channels != "off") return;
    const Config defaults;
    for (auto [changed, key] :
         {std::pair{c.max_channels != defaults.max_channels, "max_channels"},
          std::pair{c.max_subscribers_per_channel != defaults.max_subscribers_per_channel,
                    "max_subscribers_per_channel"}}) {
        if (changed)
            notes.warnings.push_back(std::string(key) +
                                     " has no effect while channels is \"off\" (every path is "
                                     "one audience); set channels to \"path\" to use it");
    }
}

std::variant<Config, ConfigError> parse_text(std::string_view text, Config base,
                                             const std::string& source, bool note = true) {
    // nlohmann keeps one value of a repeated key silently; a repeated key is a mistake worth
    // naming.
    struct Open {
        std::set<std::string> seen;
        std::string current;
    };
    std::vector<Open> open;
    std::optional<std::string> duplicate;
    auto note_keys = [&](int, Json::parse_event_t event, Json& parsed) {
        if (event == Json::parse_event_t::object_start) {
            open.emplace_back();
        } else if (event == Json::parse_event_t::object_end) {
            open.pop_back();
        } else if (event == Json::parse_event_t::key) {
            std::string key = parsed.get<std::string>();
            if (!open.back().seen.insert(key).second && !duplicate) {
                duplicate = key;
                for (auto it = open.rbegin() + 1; it != open.rend(); ++it)
                    *duplicate = it->current + "." + *duplicate;
            }
            open.back().current = std::move(key);
        }
        return true;
    };

    Json doc;
    try {
        doc = Json::parse(text.begin(), text.end(), note_keys);
    } catch (const Json::exception& e) {
        // "[json.exception.parse_error.101] parse error at line 2, column 5: ...", or
        // out_of_range.406 for a number like 1e400 that no double holds.
        std::string what = e.what();
        if (auto end = what.find("] ");
            what.starts_with("[json.exception") && end != std::string::npos)
            what.erase(0, end + 2);
        return ConfigError{source, "invalid JSON: " + what};
    }
    if (duplicate) return ConfigError{*duplicate, "duplicate key"};
    if (!doc.is_object())
        return ConfigError{source, "must be a JSON object, got " + type_name(doc)};
    base.notes = {};  // what reading this text noticed, not what an earlier reading did
    if (auto e = apply_object(doc, base)) return *e;
    if (auto e = check_cross_keys(base)) return *e;
    if (note) {
        note_admission(base, base.notes);
        note_channels(base, base.notes);
    }
    return base;
}

// A config is a few hundred bytes; the bound stops `--config /dev/zero` from eating memory.
Reason read_file(const std::string& path, std::string& out) {
    const BoundedRead r = read_bounded_file(path, kMaxConfigFileBytes, out);
    if (r.failure == BoundedRead::Failure::System)
        return "cannot read " + quote(path) + ": " + std::strerror(r.error);
    if (r.failure == BoundedRead::Failure::TooLarge) return "cannot read " + quote(path) + ": larger than 1 MiB";
    return {};
}

// ---- --help -------------------------------------------------------------------------------

void wrap(std::string& out, std::string_view text, size_t indent, size_t width = 80) {
    size_t column = 0;
    while (!text.empty()) {
        size_t space = text.find(' ');
        std::string_view word = text.substr(0, space);
        text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
        if (word.empty()) continue;
        if (column > 0 && column + 1 + word.size() > width) {
            out += '\n';
            column = 0;
        }
        if (column == 0) {
            out.append(indent, ' ');
            column = indent;
        } else {
            out += ' ';
            ++column;
        }
        out += word;
        column += word.size();
    }
    out += '\n';
}

std::string_view type_word(Type t) {
    switch (t) {
        case Type::Integer:
            return "integer";
        case Type::String:
            return "string";
        case Type::Boolean:
            return "boolean";
        case Type::Strings:
            return "array of strings";
    }
    return "";
}

}  // namespace

// ---- Public API ---------------------------------------------------------------------------

std::string_view to_string(HugepageMode mode) {
    return kHugepageModes.at(static_cast<size_t>(mode));
}
std::string_view to_string(LogLevel level) {
    return kLogLevels.at(static_cast<size_t>(level));
}

std::variant<Config, ConfigError> parse_config_json(std::string_view text, Config base) {
    return parse_text(text, std::move(base), "config");
}

admission::InboundLimits effective_rate_limits(const RateLimitConfig& r) {
    auto limit = [](uint64_t per_s, uint64_t burst) {
        return admission::RateLimit{per_s, burst == 0 ? per_s : burst};
    };
    return {limit(r.messages_per_s, r.burst_messages), limit(r.bytes_per_s, r.burst_bytes)};
}

std::variant<Config, ConfigError> load_config_file(const std::string& path) {
    std::string text;
    if (auto reason = read_file(path, text)) return ConfigError{"--config", *reason};
    return parse_text(text, Config{}, path);
}

std::variant<ListenAddress, ConfigError> parse_listen(std::string_view text, std::string_view key) {
    auto parsed = parse_address(text, AddressUse::Listen);
    if (auto* reason = std::get_if<std::string>(&parsed))
        return ConfigError{std::string(key), std::move(*reason)};
    return std::get<ListenAddress>(std::move(parsed));
}

std::optional<ConfigError> validate(const Config& c) {
    Config scratch;
    for (const auto& s : kSettings)
        if (auto e = apply_json(s, s.get(c), std::string(s.key), scratch)) return e;
    for (const auto& s : kBridgeSettings)
        if (auto e = apply_json(s, s.get(c.bridge), "bridge." + std::string(s.key), scratch.bridge))
            return e;
    for (const auto& s : kCompressionSettings)
        if (auto e = apply_json(s, s.get(c.compression), "compression." + std::string(s.key),
                                scratch.compression))
            return e;
    for (const auto& s : kAuthSettings)
        if (auto e = apply_json(s, s.get(c.auth), "auth." + std::string(s.key), scratch.auth))
            return e;
    for (const auto& s : kJwtSettings)
        if (auto e = apply_json(s, s.get(c.auth.jwt), "auth.jwt." + std::string(s.key),
                                scratch.auth.jwt))
            return e;
    for (const auto& s : kRateLimitSettings)
        if (auto e = apply_json(s, s.get(c.rate_limit), "rate_limit." + std::string(s.key),
                                scratch.rate_limit))
            return e;
    return check_cross_keys(c);
}

std::variant<CommandLine, ConfigError> parse_command_line(int argc, const char* const* argv) {
    struct FlagUse {
        std::string written;  // "-ring", "--shards": errors name the flag the way it was typed
        const Setting<Config>* setting;
        std::string value;
    };
    CommandLine line;
    std::vector<FlagUse> uses;
    bool have_config = false;

    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-' || arg == "--")
            return ConfigError{std::string(arg),
                               "unexpected argument; settings are given as flags (see --help)"};
        std::string_view dashes = arg.substr(0, arg[1] == '-' ? 2 : 1);
        std::string_view name = arg.substr(dashes.size());
        std::optional<std::string_view> inline_value;
        if (size_t eq = name.find('='); eq != std::string_view::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        std::string written = std::string(dashes) + std::string(name);

        if (name == "check-config" || name == "version" || name == "help" || name == "h") {
            if (inline_value) return ConfigError{written, "takes no value"};
            line.check_config |= name == "check-config";
            line.show_version |= name == "version";
            line.show_help |= name == "help" || name == "h";
            continue;
        }
        const Setting<Config>* setting = nullptr;
        if (name != "config" && !(setting = find_flag(name))) {
            std::vector<std::string> known = {"config", "check-config", "version", "help"};
            for (const auto& a : kAliases) known.emplace_back(a.flag);
            for (const auto& s : kSettings) known.push_back(flag_name(s.key));
            return ConfigError{written, "unknown flag" + suggestion(name, known, dashes)};
        }
        std::string value;
        if (inline_value)
            value = *inline_value;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return ConfigError{written, "missing value"};

        if (setting) {
            uses.push_back({std::move(written), setting, std::move(value)});
        } else {
            if (have_config) return ConfigError{written, "given twice"};
            have_config = true;
            line.config_path = std::move(value);
        }
    }
    if (line.show_help || line.show_version) return line;

    // The file first, then every flag over it, whatever the order on the line.
    if (have_config) {
        std::string text;
        if (auto reason = read_file(line.config_path, text))
            return ConfigError{"--config", *reason};
        auto loaded = parse_text(text, Config{}, line.config_path, false);
        if (auto* e = std::get_if<ConfigError>(&loaded)) return std::move(*e);
        line.config = std::get<Config>(std::move(loaded));
    }
    for (const auto& use : uses) {
        Scalar scalar;
        if (auto reason = scalar_from_text(use.value, use.setting->type, scalar))
            return key_error(use.written, *reason);
        if (auto reason = use.setting->set(line.config, scalar))
            return key_error(use.written, *reason);
    }
    if (auto e = check_cross_keys(line.config)) return *e;
    note_admission(line.config, line.config.notes);
    note_channels(line.config, line.config.notes);
    return line;
}

std::string to_json(const Config& c) {
    Json out = Json::object();
    for (const auto& s : kSettings) out[std::string(s.key)] = s.get(c);
    Json bridge = Json::object();
    for (const auto& s : kBridgeSettings) bridge[std::string(s.key)] = s.get(c.bridge);
    out["bridge"] = std::move(bridge);
    Json compression = Json::object();
    for (const auto& s : kCompressionSettings) compression[std::string(s.key)] = s.get(c.compression);
    out["compression"] = std::move(compression);
    Json auth = Json::object();
    for (const auto& s : kAuthSettings) auth[std::string(s.key)] = s.get(c.auth);
    Json jwt = Json::object();
    for (const auto& s : kJwtSettings) jwt[std::string(s.key)] = s.get(c.auth.jwt);
    auth["jwt"] = std::move(jwt);
    out["auth"] = std::move(auth);
    Json rate_limit = Json::object();
    for (const auto& s : kRateLimitSettings) rate_limit[std::string(s.key)] = s.get(c.rate_limit);
    out["rate_limit"] = std::move(rate_limit);
    return out.dump(2, ' ', false, Json::error_handler_t::replace);
}

std::string usage_text() {
    const Config defaults;
    std::string out;
    out += "NAME\n    ringcast - broadcast WebSocket server for Linux\n\n";
    out += "SYNOPSIS\n";
    out += "    ringcast [--config FILE] [FLAG VALUE]...\n";
    out += "    ringcast --check-config [--config FILE] [FLAG VALUE]...\n";
    out += "    ringcast --version | --help\n\n";
    out += "DESCRIPTION\n";
    wrap(out,
         "Every message a client sends to ws://HOST:PORT/ is delivered, unchanged, to every other "
         "connected client (with channels \"path\": every other client on the same path), in "
         "the order its sender sent it. Settings come from their defaults, "
         "then the JSON file given with --config, then the flags: a flag overrides the file "
         "wherever it stands on the line. A setting that is unknown, of the wrong type or out of "
         "range stops the start with one line naming the key (or flag) and the reason.",
         4);
    out += "\nFLAGS\n";
    wrap(out,
         "Each flag may be written -flag VALUE, -flag=VALUE, --flag VALUE or --flag=VALUE. Every "
         "configuration key has a flag of the same name with - for _ (the keys of the bridge, "
         "compression, auth and rate_limit blocks are file-only).",
         4);
    auto flag_entry = [&](std::string_view names, std::string_view help) {
        out += "\n    ";
        out += names;
        out += '\n';
        wrap(out, help, 8);
    };
    flag_entry("--config FILE",
               "Read settings from FILE, a JSON object whose keys are listed under CONFIGURATION.");
    flag_entry(
        "--check-config",
        "Validate the configuration, print the effective configuration as JSON with every key, "
        "and exit without starting.");
    flag_entry("--version", "Print the version and exit.");
    flag_entry("-h, --help", "Print this text and exit.");
    for (const auto& s : kSettings) {
        std::string names;
        for (const auto& a : kAliases)
            if (a.key == s.key)
                names += "-" + std::string(a.flag) + " " + std::string(s.value_name) + ", ";
        names += "--" + flag_name(s.key) + " " + std::string(s.value_name);
        flag_entry(names,
                   "Sets " + std::string(s.key) + " (default " + s.get(defaults).dump() + ").");
    }

    out += "\nCONFIGURATION\n";
    wrap(out,
         "The --config file holds one JSON object. Every key is optional; a key left out keeps its "
         "default. Numbers are JSON integers (a number in quotes is a type error), sizes are in "
         "bytes and periods in milliseconds.",
         4);
    auto key_entry = [&](const std::string& key, const std::string& about, std::string_view help) {
        out += "\n    " + key + "  (" + about + ")\n";
        wrap(out, help, 8);
    };
    auto about = [](Type t, const Json& value) {
        return std::string(type_word(t)) + ", default " + value.dump();
    };
    for (const auto& s : kSettings)
        key_entry(std::string(s.key), about(s.type, s.get(defaults)), s.help);
    key_entry("bridge", "object, optional", kBridgeHelp);
    for (const auto& s : kBridgeSettings)
        key_entry("bridge." + std::string(s.key), about(s.type, s.get(defaults.bridge)), s.help);
    key_entry("compression", "object, optional", kCompressionHelp);
    for (const auto& s : kCompressionSettings)
        key_entry("compression." + std::string(s.key), about(s.type, s.get(defaults.compression)),
                  s.help);
    key_entry("auth", "object, optional", kAuthHelp);
    for (const auto& s : kAuthSettings)
        key_entry("auth." + std::string(s.key), about(s.type, s.get(defaults.auth)), s.help);
    key_entry("auth.jwt", "object, optional", kJwtHelp);
    for (const auto& s : kJwtSettings)
        key_entry("auth.jwt." + std::string(s.key), about(s.type, s.get(defaults.auth.jwt)),
                  s.help);
    key_entry("rate_limit", "object, optional", kRateLimitHelp);
    for (const auto& s : kRateLimitSettings)
        key_entry("rate_limit." + std::string(s.key), about(s.type, s.get(defaults.rate_limit)),
                  s.help);

    out += "\nFILES\n";
    out += "    deploy/ringcast.json\n";
    wrap(out, "The default configuration, every key at its default value.", 8);
    out += "    deploy/examples/*.json\n";
    wrap(out, "Starting points for a laptop, a one- or two-NUMA-node server and a large host.", 8);
    out += "\nEXAMPLES\n";
    out += "    ringcast --config deploy/ringcast.json --check-config\n";
    out += "    ringcast --config /etc/ringcast/ringcast.json -workers 8 -ring 4096\n";
    out += "    ringcast -addr 127.0.0.1:9002 --worker-processes 2 --log-level debug\n";
    return out;
}

}  // namespace ringcast::supervisor
