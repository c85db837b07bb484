// The Origin allowlist (docs/admission.md): which web pages may open a socket to us. A browser
// sends the page's origin (RFC 6454: scheme://host[:port]) with every upgrade; a page not on
// the list gets 403 at the upgrade, so a hostile site cannot use its visitors' browsers to
// connect.
//
//   "https://app.example.com"      that origin exactly (host case-insensitive, :443 implied)
//   "http://localhost:8080"        an explicit port
//   "https://*.example.com"        any ONE label before example.com: a.example.com, not
//                                  a.b.example.com, not example.com itself
//
// An empty list checks nothing. Requests without Origin come from non-browser clients; whether
// they get in is allow_missing_origin's call. Pure code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ringcast::admission {

// A serialized origin, normalized: lower-case scheme and host, the scheme's default port
// filled in (http 80, https 443).
struct Origin {
    std::string scheme;
    std::string host;  // "[::1]" keeps its brackets
    uint16_t port = 0;

    friend bool operator==(const Origin&, const Origin&) = default;
};

// The value of an Origin header, or an allowlist entry without a wildcard; the error says
// what is wrong with it.
std::variant<Origin, std::string> parse_origin(std::string_view text);

class OriginAllowlist {
  public:
    OriginAllowlist() = default;  // empty: no check

    // Every entry checked; an error names the entry by index and value and says why:
    // `allowed_origins[1]: "https://a.com/": has a path; an origin is scheme://host[:port]`.
    static std::variant<OriginAllowlist, std::string> parse(
        const std::vector<std::string>& entries, std::string_view key = "allowed_origins");

    bool empty() const { return rules_.empty(); }
    // The Origin header's value is on the list.
    bool allows(std::string_view origin) const;

  private:
    struct Rule {
        Origin origin;           // for a wildcard, host is the part after "*."
        bool one_label = false;  // "*.": exactly one more label in front of host
    };
    std::vector<Rule> rules_;
};

// The upgrade's decision: an empty list admits everyone; otherwise a request without Origin is
// admitted when allow_missing_origin, and one with Origin when the list allows it.
bool origin_admitted(const OriginAllowlist& list, std::optional<std::string_view> origin,
                     bool allow_missing_origin);

}  // namespace ringcast::admission
