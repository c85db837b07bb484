// What a shard applies at the upgrade and to each message (docs/admission.md): the admission
// settings parsed once into an Origin allowlist, a JWT verifier (from its key file) and the
// rate limits. Immutable and shared: a run-time change builds a new policy and each shard
// picks it up at its next housekeeping pass; connections keep what they were admitted with.
//
// Also the node-wide count of open connections per source address (shm::AddressCounts).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "admission/jwt.hpp"
#include "admission/origin.hpp"
#include "admission/rate_limit.hpp"
#include "shm/segment.hpp"
#include "worker/connection.hpp"
#include "worker/options.hpp"

namespace ringcast::worker {

struct AdmissionPolicy {
    AdmissionSettings settings;
    admission::OriginAllowlist origins;
    std::optional<admission::JwtVerifier> verifier;  // none: tokens are not read
    admission::InboundLimits limits;

    bool rate_limited() const { return limits.messages.per_s != 0 || limits.bytes.per_s != 0; }
};

// Reads the key file the settings name; the error names the setting and says why (never a
// byte of the key).
std::variant<std::shared_ptr<const AdmissionPolicy>, std::string> make_admission_policy(
    const AdmissionSettings& s);

// The two counters of an address in every member's AddressCounts.
struct AddressSlots {
    uint32_t row0 = 0;
    uint32_t row1 = 0;
};
AddressSlots address_slots(const PeerAddr& peer, uint64_t seed);

// Open connections from the address on the node: the smaller of its two row sums over every
// member (never below the true count).
uint32_t node_address_count(shm::Segment& segment, AddressSlots slots);

// This member's counters for the address, moved by +1 or -1 (the member's thread only).
void add_address(shm::ControlBlock& cb, AddressSlots slots, int delta);

}  // namespace ringcast::worker
