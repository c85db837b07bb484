// Origin parsing, normalization and allowlist matching.
#include "admission/origin.hpp"

namespace ringcast::admission {

namespace {

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

uint16_t default_port(std::string_view scheme) {
    if (scheme == "http") return 80;
    if (scheme == "https") return 443;
    return 0;
}

// A DNS name (letters, digits, hyphens, non-empty labels) or a bracketed IPv6 address.
std::optional<std::string> check_host(std::string_view host) {
    if (host.empty()) return "has no host";
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return "has an unclosed IPv6 bracket";
        for (char c : host.substr(1, host.size() - 2)) {
            bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.';
            if (!ok) return "has an IPv6 address with a character that does not belong";
        }
        return std::nullopt;
    }
    if (host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos)
        return "has an empty label in its host";
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (c == '*')
            return "has a '*' that is not the whole first label (\"https://*.example.com\")";
        if (!ok) return "has a character in its host that a host name cannot hold";
    }
    return std::nullopt;
}

struct Parsed {
    Origin origin;
    bool one_label = false;
};

std::variant<Parsed, std::string> parse(std::string_view text, bool allow_wildcard) {
    const size_t sep = text.find("://");
    if (sep == std::string_view::npos || sep == 0)
        return std::string("is not scheme://host[:port]");
    Parsed p;
    for (char c : text.substr(0, sep)) p.origin.scheme.push_back(lower(c));
    if (p.origin.scheme != "http" && p.origin.scheme != "https")
        return std::string("has a scheme other than http or https");
    std::string_view rest = text.substr(sep + 3);
    if (rest.find_first_of("/?#") != std::string_view::npos)
        return std::string("has a path; an origin is scheme://host[:port]");
    if (rest.find('@') != std::string_view::npos) return std::string("has user information");
    // The port follows the last ':' outside an IPv6 bracket.
    size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find(']', colon) != std::string_view::npos)
        colon = std::string_view::npos;
    std::string_view host = rest.substr(0, colon);
    p.origin.port = default_port(p.origin.scheme);
    if (colon != std::string_view::npos) {
        std::string_view digits = rest.substr(colon + 1);
        if (digits.empty() || digits.size() > 5) return std::string("has a bad port");
        uint32_t port = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return std::string("has a bad port");
            port = port * 10 + static_cast<uint32_t>(c - '0');
        }
        if (port == 0 || port > 65535) return std::string("has a port outside 1..65535");
        p.origin.port = static_cast<uint16_t>(port);
    }
    if (allow_wildcard && host.substr(0, 2) == "*.") {
        p.one_label = true;
        host.remove_prefix(2);
        // "*.com" would admit every site under a top-level domain.
        if (host.find('.') == std::string_view::npos)
            return std::string(
                "has a wildcard over a single label; name at least two (\"*.example.com\")");
    }
    for (char c : host) p.origin.host.push_back(lower(c));
    if (auto why = check_host(p.origin.host)) return *why;
    if (p.one_label && p.origin.host.front() == '[')
        return std::string("has a wildcard in front of an IP address");
    return p;
}

}  // namespace

std::variant<Origin, std::string> parse_origin(std::string_view text) {
    auto p = parse(text, false);
    if (auto* why = std::get_if<std::string>(&p)) return std::move(*why);
    return std::get<Parsed>(std::move(p)).origin;
}

std::variant<OriginAllowlist, std::string> OriginAllowlist::parse(
    const std::vector<std::string>& entries, std::string_view key) {
    OriginAllowlist list;
    for (size_t i = 0; i < entries.size(); ++i) {
        auto p = admission::parse(entries[i], true);
        if (auto* why = std::get_if<std::string>(&p)) {
            // Entries come from the operator's config: quoting them back is safe and helps.
            return std::string(key) + "[" + std::to_string(i) + "]: \"" + entries[i] + "\" " + *why;
        }
        auto& parsed = std::get<Parsed>(p);
        list.rules_.push_back({std::move(parsed.origin), parsed.one_label});
    }
    return list;
}

bool OriginAllowlist::allows(std::string_view origin) const {
    auto p = parse_origin(origin);
    const Origin* o = std::get_if<Origin>(&p);
    if (!o) return false;  // "null" (a sandboxed page) and garbage match nothing
    for (const Rule& r : rules_) {
        if (r.origin.scheme != o->scheme || r.origin.port != o->port) continue;
        if (!r.one_label) {
            if (r.origin.host == o->host) return true;
            continue;
        }
        // label + "." + suffix, the label non-empty and dot-free.
        const std::string& suffix = r.origin.host;
        if (o->host.size() < suffix.size() + 2) continue;
        const size_t label_len = o->host.size() - suffix.size() - 1;
        if (o->host.compare(label_len + 1, std::string::npos, suffix) != 0) continue;
        if (o->host[label_len] != '.') continue;
        if (o->host.find('.') < label_len) continue;
        return true;
    }
    return false;
}

bool origin_admitted(const OriginAllowlist& list, std::optional<std::string_view> origin,
                     bool allow_missing_origin) {
    if (list.empty()) return true;
    if (!origin) return allow_missing_origin;
    return list.allows(*origin);
}

}  // namespace ringcast::admission
