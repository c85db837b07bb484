// proto/extension_offer.cpp: the Sec-WebSocket-Extensions grammar and the permessage-deflate
// offer checks; the rules are listed at the top of extension_offer.hpp.
#include "proto/extension_offer.hpp"
#include "proto/http_token.hpp"

namespace ringcast::proto {
namespace {

using http::iequals;
using http::is_tchar;

// 8..15 in decimal without leading zeros (RFC 7692 §7.1.2.1: 1*DIGIT, no leading zero).
constexpr int window_bits(std::string_view v) {
    if (v.size() == 1 && v[0] == '8') return 8;
    if (v.size() == 1 && v[0] == '9') return 9;
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
    return -1;
}

// One offer as it is read: which parameters it had and whether it is still acceptable.
struct Offer {
    bool deflate = false;
    bool ok = true;
    bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
    DeflateAgreement a;

    void param(std::string_view name, bool has_value, std::string_view value) {
        if (!deflate || !ok) return;
        if (iequals(name, "server_no_context_takeover")) {
            ok = !seen_snct && !has_value;
            seen_snct = true;
        } else if (iequals(name, "client_no_context_takeover")) {
            ok = !seen_cnct && !has_value;
            seen_cnct = true;
            a.client_no_context_takeover = true;
        } else if (iequals(name, "server_max_window_bits")) {
            // We compress once with a 32 KiB window: only 15 can be honoured.
            ok = !seen_smwb && has_value && window_bits(value) == 15;
            seen_smwb = true;
            a.server_window_echo = true;
        } else if (iequals(name, "client_max_window_bits")) {
            ok = !seen_cmwb;
            seen_cmwb = true;
            if (has_value) {
                const int bits = window_bits(value);
                ok = ok && bits > 0;
                a.client_window_bits = static_cast<uint8_t>(bits > 0 ? bits : 15);
                a.client_window_echo = true;
            }
        } else {
            ok = false;  // unknown parameter (§7: decline the offer)
        }
    }
};

class Reader {
  public:
    explicit Reader(std::string_view s) : s_(s) {}
    bool end() const { return i_ >= s_.size(); }
    char peek() const { return s_[i_]; }
    void skip() { ++i_; }
    void skip_ows() {
        while (!end() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
    }
    std::string_view token() {
        const size_t start = i_;
        while (!end() && is_tchar(s_[i_])) ++i_;
        return s_.substr(start, i_ - start);
    }
    // A quoted-string whose content (after unescaping) must be a token; its content without
    // escapes is returned through `out` only when it had none (a value needing escapes is
    // never a valid token anyway). False on a syntax error.
    bool quoted(std::string_view& out, bool& token_ok) {
        skip();  // the opening quote
        const size_t start = i_;
        token_ok = true;
        while (!end() && s_[i_] != '"') {
            if (s_[i_] == '\\') {
                token_ok = false;
                ++i_;
                if (end()) return false;
            } else if (!is_tchar(s_[i_])) {
                token_ok = false;
            }
            ++i_;
        }
        if (end()) return false;  // unterminated
        out = s_.substr(start, i_ - start);
        skip();  // the closing quote
        if (out.empty()) token_ok = false;
        return true;
    }

  private:
    std::string_view s_;
    size_t i_ = 0;
};

}  // namespace

DeflateAgreement negotiate_permessage_deflate(std::string_view header) {
    DeflateAgreement chosen;
    Reader r(header);
    while (true) {
        r.skip_ows();
        if (r.end()) break;
        if (r.peek() == ',') {  // an empty list element (RFC 9110 §5.6.1 lets us skip it)
            r.skip();
            continue;
        }
        const std::string_view name = r.token();
        if (name.empty()) return {};
        Offer offer;
        offer.deflate = iequals(name, "permessage-deflate");
        while (true) {
            r.skip_ows();
            if (r.end() || r.peek() == ',') break;
            if (r.peek() != ';') return {};
            r.skip();
            r.skip_ows();
            const std::string_view param = r.token();
            if (param.empty()) return {};
            r.skip_ows();
            bool has_value = false;
            std::string_view value;
            if (!r.end() && r.peek() == '=') {
                r.skip();
                r.skip_ows();
                has_value = true;
                if (!r.end() && r.peek() == '"') {
                    bool token_ok = false;
                    if (!r.quoted(value, token_ok)) return {};
                    if (!token_ok) value = {};  // not a token: a bad value for any parameter
                } else {
                    value = r.token();
                    if (value.empty()) return {};
                }
            }
            offer.param(param, has_value, value);
        }
        if (!chosen.enabled && offer.deflate && offer.ok) {
            chosen = offer.a;
            chosen.enabled = true;
        }
        if (!r.end()) r.skip();  // the comma
    }
    return chosen;
}

std::string permessage_deflate_response(const DeflateAgreement& a) {
    std::string out = "permessage-deflate; server_no_context_takeover";
    if (a.client_no_context_takeover) out += "; client_no_context_takeover";
    if (a.server_window_echo) out += "; server_max_window_bits=15";
    if (a.client_window_echo) {
        out += "; client_max_window_bits=";
        out += std::to_string(a.client_window_bits);
    }
    return out;
}

}  // namespace ringcast::proto
