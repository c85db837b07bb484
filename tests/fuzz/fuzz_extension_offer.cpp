// tests/fuzz/fuzz_extension_offer.cpp: libFuzzer target for proto/extension_offer.hpp. The input
// is a Sec-WebSocket-Extensions value. Checks: negotiation never fails the upgrade (it returns
// an agreement or nothing), an agreement's window bits are 8..15, the answer always carries
// server_no_context_takeover and nothing the offer did not allow, the answer read back as an
// offer gives the same agreement, and the agreement survives its one-byte handoff form.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/extension_offer.hpp"

#include "tests/support/fuzz_check.hpp"

using namespace ringcast::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string header(reinterpret_cast<const char*>(data), size);
    const DeflateAgreement a = negotiate_permessage_deflate(header);
    const DeflateAgreement again = negotiate_permessage_deflate(header);
    FUZZ_CHECK(a.enabled == again.enabled && pack_agreement(a) == pack_agreement(again));
    if (!a.enabled) {
        FUZZ_CHECK(pack_agreement(a) == 0);
        return 0;
    }
    FUZZ_CHECK(a.client_window_bits >= 8 && a.client_window_bits <= 15);
    const std::string answer = permessage_deflate_response(a);
    FUZZ_CHECK(answer.rfind("permessage-deflate; server_no_context_takeover", 0) == 0);
    FUZZ_CHECK(answer.find_first_of("\r\n") == std::string::npos);
    // Nothing in the answer that the offer did not name (RFC 7692 §7.1: a server must not).
    std::string lower = header;
    for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    auto named = [&](std::string_view p) { return lower.find(p) != std::string::npos; };
    if (a.client_no_context_takeover) FUZZ_CHECK(named("client_no_context_takeover"));
    if (a.client_window_echo) FUZZ_CHECK(named("client_max_window_bits"));
    if (a.server_window_echo) FUZZ_CHECK(named("server_max_window_bits"));
    // The answer is itself a valid offer meaning the same.
    const DeflateAgreement back = negotiate_permessage_deflate(answer);
    FUZZ_CHECK(back.enabled);
    FUZZ_CHECK(back.client_no_context_takeover == a.client_no_context_takeover);
    FUZZ_CHECK(back.client_window_bits == a.client_window_bits);
    FUZZ_CHECK(permessage_deflate_response(back) == answer);
    const DeflateAgreement unpacked = unpack_agreement(pack_agreement(a));
    FUZZ_CHECK(unpacked.enabled &&
               unpacked.client_no_context_takeover == a.client_no_context_takeover &&
               unpacked.client_window_bits == a.client_window_bits);
    return 0;
}
