// Token extraction from the three places a client may put it.
#include "admission/token_source.hpp"

#include "admission/base64url.hpp"

namespace ringcast::admission {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

FoundToken found(std::string token) {
    if (token.empty()) return {TokenLookup::Malformed, {}};
    return {TokenLookup::Found, std::move(token)};
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) return false;
        int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

FoundToken token_from_authorization(std::string_view value) {
    value = trim(value);
    if (iequals(value, "bearer")) return {TokenLookup::Malformed, {}};  // the scheme, no token
    const size_t space = value.find_first_of(" \t");
    if (space == std::string_view::npos || !iequals(value.substr(0, space), "bearer")) return {};
    std::string_view token = trim(value.substr(space + 1));
    // token68 (RFC 7235 2.1) holds no white space: "Bearer a b" is not one token.
    if (token.find_first_of(" \t,") != std::string_view::npos) return {TokenLookup::Malformed, {}};
    return found(std::string(token));
}

FoundToken token_from_query(std::string_view target) {
    const size_t q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view query = target.substr(q + 1);
    if (size_t hash = query.find('#'); hash != std::string_view::npos)
        query = query.substr(0, hash);
    FoundToken out;
    while (!query.empty()) {
        const size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const size_t eq = pair.find('=');
        std::string name;
        if (!percent_decode(pair.substr(0, eq), name)) continue;  // not ours to judge
        if (name != "token") continue;
        // Two tokens: which one was meant is a guess, and guessing about credentials is wrong.
        if (out.status != TokenLookup::Absent) return {TokenLookup::Malformed, {}};
        std::string value;
        if (eq == std::string_view::npos || !percent_decode(pair.substr(eq + 1), value)) {
            out = {TokenLookup::Malformed, {}};
            continue;
        }
        out = found(std::move(value));
    }
    return out;
}

SubprotocolOffer token_from_subprotocols(std::string_view value) {
    SubprotocolOffer out;
    while (!value.empty()) {
        const size_t comma = value.find(',');
        std::string_view item = trim(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        if (item == kSubprotocol) {
            out.answer = kSubprotocol;
            continue;
        }
        if (item.substr(0, kSubprotocolTokenPrefix.size()) != kSubprotocolTokenPrefix) continue;
        if (out.token.status != TokenLookup::Absent) {
            out.token = {TokenLookup::Malformed, {}};
            continue;
        }
        auto token = base64url_decode(item.substr(kSubprotocolTokenPrefix.size()));
        out.token = token ? found(std::move(*token)) : FoundToken{TokenLookup::Malformed, {}};
    }
    return out;
}

}  // namespace ringcast::admission
