// The client side of the RFC 6455 opening handshake: the Upgrade request with a random
// Sec-WebSocket-Key, and a reader of the server's response that accepts only a 101 with
// Upgrade: websocket, Connection: Upgrade and the Sec-WebSocket-Accept the key calls for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast::bench {

struct ClientHandshake {
    std::string request;          // the whole GET request, ready to send
    std::string expected_accept;  // base64(SHA-1(key + GUID))
};

// `key16` is 16 random bytes (RFC 6455 4.1: a fresh nonce per connection). With
// `offer_deflate` the request offers permessage-deflate with no context takeover either way,
// so every compressed message a server sends inflates on its own. `extra_headers` is put in
// as it is before the blank line: whole header lines, each ending in CRLF (--header,
// --token-file's Authorization).
ClientHandshake make_client_handshake(std::string_view host_port, std::string_view path,
                                      const uint8_t key16[16], bool offer_deflate = false,
                                      std::string_view extra_headers = {});

enum class ResponseStatus { NeedMore, Accepted, Rejected };

class HandshakeResponseReader {
  public:
    static constexpr size_t kMaxHead = 8192;

    // Feeds socket bytes. On Accepted, consumed() bytes of this call were the response head;
    // the rest are the first frame bytes. On Rejected, error() says why.
    ResponseStatus feed(const char* data, size_t n, std::string_view expected_accept);
    size_t consumed() const { return consumed_; }
    // The response named permessage-deflate in Sec-WebSocket-Extensions (after Accepted).
    bool deflate() const { return deflate_; }
    const std::string& error() const { return error_; }

  private:
    ResponseStatus judge(std::string_view head, std::string_view expected_accept);

    std::string head_;
    size_t consumed_ = 0;
    std::string error_;
    bool deflate_ = false;
};

}  // namespace ringcast::bench
