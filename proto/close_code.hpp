// RFC 6455 7.4 close status codes, which of them may appear on the wire, and Violation:
// the (close code, reason) value every proto/ check returns instead of throwing.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringcast::proto {

namespace close_code {
inline constexpr uint16_t Normal = 1000, GoingAway = 1001, ProtocolError = 1002, Unsupported = 1003,
                          NoStatus = 1005, Abnormal = 1006, InvalidPayload = 1007,
                          PolicyViolation = 1008, TooBig = 1009, MandatoryExtension = 1010,
                          InternalError = 1011, ServiceRestart = 1012, TryAgainLater = 1013;
}  // namespace close_code

// 7.4.1 plus the IANA registry: 1004 is reserved, 1005/1006/1015 are local-only
// pseudo-codes, 1016-2999 are unassigned protocol codes, 3000-4999 belong to
// libraries and applications. 1014 (Bad Gateway) is registered and allowed.
constexpr bool close_code_valid_on_wire(uint16_t code) {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

// A protocol error found in peer input: the close code to send and a short reason.
// `reason` always refers to a static string, so a Violation may be kept and copied freely.
struct Violation {
    uint16_t code = 0;
    std::string_view reason;
    explicit operator bool() const { return code != 0; }
};

}  // namespace ringcast::proto
