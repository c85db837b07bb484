// UTF-8 validation (RFC 3629) for text messages and close reasons: an incremental validator
// that can be fed a message in arbitrary pieces, and one-shot helpers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::proto {

// Rejects overlongs, surrogates U+D800..U+DFFF, code points above U+10FFFF, stray
// continuation bytes, and (via complete()) a sequence cut off at the end. A byte is rejected
// as soon as no continuation could make it valid (0xF4 0x90 fails at 0x90).
// Trivially copyable (one byte of state) so it can live inside FrameParser::State.
class Utf8Validator {
  public:
    // False if this piece holds the first invalid byte of the stream or an error was seen
    // before (sticky until reset()).
    bool feed(const uint8_t* p, size_t n) { return feed_prefix(p, n) == n; }
    // Like feed(), but says where: the number of bytes before the first invalid one (n if
    // none; 0 if the validator had already failed).
    size_t feed_prefix(const uint8_t* p, size_t n);
    // True when the bytes so far end on a character boundary (and none was invalid).
    bool complete() const { return state_ == kAccept; }
    bool failed() const { return state_ == kError; }
    void reset() { state_ = kAccept; }

    // DFA states are bit offsets into a per-byte transition word (see utf8.cpp).
    static constexpr uint8_t kError = 0;
    static constexpr uint8_t kAccept = 6;

  private:
    uint8_t state_ = kAccept;
};

// The whole input is valid UTF-8 and ends on a character boundary.
bool utf8_valid(const uint8_t* p, size_t n);

// Straightforward decoder, independent of the DFA/SIMD code: the reference for tests/bench.
bool utf8_valid_naive(const uint8_t* p, size_t n);

namespace detail {
// The DFA tier alone (what non-AVX2 CPUs run), so tests can check it on any CPU.
bool utf8_valid_dfa(const uint8_t* p, size_t n);
}  // namespace detail

}  // namespace ringcast::proto
