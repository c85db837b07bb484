#include "admission/channel.hpp"

namespace ringcast::admission {

namespace {

bool name_char(char c) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '-': case '_': case '.': case '~': case ':': case '@': case '!': case '$':
        case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
            return true;
        default:
            return false;
    }
}

// ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1).
bool is_scheme(std::string_view s) {
    if (s.empty() || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) return false;
    for (char c : s) {
        const bool alnum =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '+' && c != '-' && c != '.') return false;
    }
    return true;
}

// Matches one allow-list claim; `absent` when the claim does not name it.
bool allowed_by(const nlohmann::json& claim, const char* key, std::string_view channel) {
    if (!claim.is_object()) return true;
    auto it = claim.find(key);
    if (it == claim.end()) return true;
    if (!it->is_array()) return false;
    for (const auto& p : *it) {
        if (p.is_string() && channel_pattern_matches(p.get_ref<const std::string&>(), channel)) return true;
    }
    return false;
}

}  // namespace

std::variant<std::string, const char*> channel_from_target(std::string_view target) {
    if (target.empty()) return "empty request target";
    if (target.front() != '/') {
        // absolute-form: scheme://authority/path; the authority ends at the first / ? or #
        // (RFC 3986 3.2), so "ws://host?a=/b" names the root channel, not "b".
        const size_t scheme = target.find("://");
        if (scheme == std::string_view::npos || !is_scheme(target.substr(0, scheme)))
            return "request target is not a path";
        const size_t end = target.find_first_of("/?#", scheme + 3);
        if (end == std::string_view::npos || target[end] != '/') return std::string();
        target.remove_prefix(end);
    }
    const size_t query = target.find_first_of("?#");
    std::string_view path = target.substr(0, query);
    path.remove_prefix(1);  // the leading '/'
    if (path.size() > kMaxChannelName) return "channel name longer than 128 bytes";
    size_t segment = 0;  // characters in the current segment
    for (size_t i = 0; i < path.size(); ++i) {
        const char c = path[i];
        if (c == '/') {
            if (segment == 0) return "empty segment in channel name";
            if (path.substr(i - segment, segment) == "." || path.substr(i - segment, segment) == "..")
                return "dot segment in channel name";
            segment = 0;
            continue;
        }
        if (c == '%') return "percent-escape in channel name";
        if (!name_char(c)) return "character not allowed in channel name";
        ++segment;
    }
    if (!path.empty()) {
        if (segment == 0) return "trailing slash in channel name";
        const std::string_view last = path.substr(path.size() - segment);
        if (last == "." || last == "..") return "dot segment in channel name";
    }
    return std::string(path);
}

bool channel_pattern_matches(std::string_view pattern, std::string_view channel) {
    if (pattern == "*") return true;
    if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
        const std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // keeps the '/'
        return channel.size() > prefix.size() && channel.substr(0, prefix.size()) == prefix;
    }
    return pattern == channel;
}

ChannelRights channel_rights(const nlohmann::json& ringcast_claim, std::string_view channel) {
    ChannelRights r;
    r.join = allowed_by(ringcast_claim, "channels", channel);
    r.publish = r.join && allowed_by(ringcast_claim, "publish_channels", channel);
    return r;
}

}  // namespace ringcast::admission
