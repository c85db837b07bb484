// Helpers shared by the configuration's specification (tests/unit/supervisor_config*.cpp):
// parse a document or a command line and take the config or the error's message, make a
// one-key document, list every key, find the source tree.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/config.hpp"

namespace ringcast::config_spec {

using namespace ringcast::supervisor;
namespace fs = std::filesystem;

inline constexpr uint64_t kGiB = 1ull << 30;

template <class T>
T accepted(const std::variant<T, ConfigError>& r) {
    const auto* e = std::get_if<ConfigError>(&r);
    REQUIRE_MESSAGE(e == nullptr, "unexpected error: " << (e ? e->message() : std::string()));
    return std::get<T>(r);
}

template <class T>
std::string rejected(const std::variant<T, ConfigError>& r) {
    const auto* e = std::get_if<ConfigError>(&r);
    return e ? e->message() : "(accepted)";
}

inline std::string error_of(std::string_view json) {
    return rejected(parse_config_json(json));
}
inline Config config_of(std::string_view json) {
    return accepted(parse_config_json(json));
}

// {"key": value}, or {"bridge": {"inner": value}} for "bridge.inner", and so on for any depth
// ("auth.jwt.issuer").
inline std::string doc(const std::string& key, const std::string& value) {
    const size_t dot = key.find('.');
    if (dot == std::string::npos) return R"({")" + key + R"(": )" + value + "}";
    return R"({")" + key.substr(0, dot) + R"(": )" + doc(key.substr(dot + 1), value) + "}";
}

// The value at a key path ("auth.jwt.issuer") of a printed config.
inline nlohmann::json value_at(const nlohmann::json& printed, const std::string& key) {
    const size_t dot = key.find('.');
    if (dot == std::string::npos) return printed.at(key);
    return value_at(printed.at(key.substr(0, dot)), key.substr(dot + 1));
}

// A key inside a block ("bridge.redis", "auth.jwt.issuer"): file-only, no flag.
inline bool in_block(const std::string& key) {
    return key.find('.') != std::string::npos;
}

inline std::variant<CommandLine, ConfigError> flags(std::initializer_list<const char*> args) {
    std::vector<const char*> argv = {"ringcast"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(argv.size() - 1), argv.data());
}

// A file in $TMPDIR removed when the test ends.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        const char* dir = std::getenv("TMPDIR");
        path = std::string(dir && *dir ? dir : "/tmp") + "/ringcast-config-XXXXXX.json";
        int fd = mkstemps(path.data(), 5);
        REQUIRE(fd >= 0);
        REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        close(fd);
    }
    ~TempFile() { unlink(path.c_str()); }
};

// Every key path of to_json(Config{}) with its default, "bridge.x" and "auth.jwt.x" for
// nested keys.
inline void collect_keys(const nlohmann::ordered_json& object, const std::string& prefix,
                         std::vector<std::pair<std::string, nlohmann::json>>& keys) {
    for (const auto& item : object.items()) {
        if (item.value().is_object())
            collect_keys(item.value(), prefix + item.key() + ".", keys);
        else
            keys.emplace_back(prefix + item.key(), item.value());
    }
}
inline std::vector<std::pair<std::string, nlohmann::json>> all_keys() {
    std::vector<std::pair<std::string, nlohmann::json>> keys;
    collect_keys(nlohmann::ordered_json::parse(to_json(Config{})), "", keys);
    return keys;
}

// A file holding a usable HMAC secret (48 bytes and a newline).
inline std::string hmac_secret_text() {
    return "0123456789abcdef0123456789abcdef0123456789abcdef\n";
}

inline fs::path source_dir() {
    if (const char* env = std::getenv("RINGCAST_SOURCE"); env && *env) return env;
#ifdef RINGCAST_SOURCE_DIR
    return RINGCAST_SOURCE_DIR;
#else
    return fs::path(__FILE__).parent_path().parent_path().parent_path();  // tests/unit/ -> root
#endif
}


}  // namespace ringcast::config_spec
