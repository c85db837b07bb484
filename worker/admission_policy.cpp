#include "worker/admission_policy.hpp"

#include <cstring>

#include "admission/key_file.hpp"

namespace ringcast::worker {

std::variant<std::shared_ptr<const AdmissionPolicy>, std::string> make_admission_policy(
    const AdmissionSettings& s) {
    auto p = std::make_shared<AdmissionPolicy>();
    p->settings = s;
    auto origins = admission::OriginAllowlist::parse(s.allowed_origins);
    if (auto* err = std::get_if<std::string>(&origins)) return *err;
    p->origins = std::get<admission::OriginAllowlist>(std::move(origins));

    admission::JwtRules rules;
    rules.audience = s.audience;
    rules.issuer = s.issuer;
    rules.leeway_s = s.leeway_s;
    if (!s.hmac_secret_file.empty()) {
        auto v = admission::load_hmac_verifier(s.hmac_secret_file, rules);
        if (auto* err = std::get_if<std::string>(&v)) return "auth.jwt.hmac_secret_file: " + *err;
        p->verifier = std::get<admission::JwtVerifier>(std::move(v));
    } else if (!s.public_key_file.empty()) {
        auto v = admission::load_public_key_verifier(s.public_key_file, rules);
        if (auto* err = std::get_if<std::string>(&v)) return "auth.jwt.public_key_file: " + *err;
        p->verifier = std::get<admission::JwtVerifier>(std::move(v));
    }
    if (s.auth_required && !p->verifier) return std::string("auth.required: needs auth.jwt.hmac_secret_file or public_key_file");

    // A burst of 0 with a rate means one second's worth (the config's rule, kept here too).
    p->limits.messages = {s.messages_per_s, s.burst_messages ? s.burst_messages : s.messages_per_s};
    p->limits.bytes = {s.bytes_per_s, s.burst_bytes ? s.burst_bytes : s.bytes_per_s};
    if (auto err = admission::check_rate_limit(p->limits.messages, "rate_limit.messages_per_s")) return *err;
    if (auto err = admission::check_rate_limit(p->limits.bytes, "rate_limit.bytes_per_s")) return *err;
    return std::shared_ptr<const AdmissionPolicy>(std::move(p));
}

namespace {

// A 64-bit finalizer (MurmurHash3's fmix64) over the seeded words of the address.
uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

}  // namespace

AddressSlots address_slots(const PeerAddr& peer, uint64_t seed) {
    uint64_t w[2];
    std::memcpy(w, peer.addr, sizeof w);
    uint64_t h = mix(seed ^ peer.family);
    h = mix(h ^ w[0]);
    h = mix(h ^ w[1]);
    return AddressSlots{static_cast<uint32_t>(h % shm::kAddressBuckets),
                        static_cast<uint32_t>((h >> 32) % shm::kAddressBuckets)};
}

uint32_t node_address_count(shm::Segment& segment, AddressSlots slots) {
    uint64_t a = 0, b = 0;
    for (uint32_t m = 0; m < segment.members(); ++m) {
        const shm::AddressCounts& counts = segment.control(m).addresses;
        a += counts.rows[0][slots.row0].load(std::memory_order_relaxed);
        b += counts.rows[1][slots.row1].load(std::memory_order_relaxed);
    }
    const uint64_t n = a < b ? a : b;
    return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

void add_address(shm::ControlBlock& cb, AddressSlots slots, int delta) {
    auto bump = [delta](std::atomic<uint32_t>& v) {
        const uint32_t cur = v.load(std::memory_order_relaxed);
        v.store(delta < 0 ? (cur > 0 ? cur - 1 : 0) : cur + 1, std::memory_order_relaxed);
    };
    bump(cb.addresses.rows[0][slots.row0]);
    bump(cb.addresses.rows[1][slots.row1]);
}

}  // namespace ringcast::worker
