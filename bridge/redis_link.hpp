/*
 * RedisLink: one non-blocking connection to Redis for a poll loop, through hiredis's reply
 * parser and output buffer. We connect the socket ourselves (non-blocking, with a deadline)
 * and hand hiredis the connected fd, so an unreachable broker never stalls the bridge's loop;
 * a broken or refused connection is retried every kRetryMs. Commands are appended and flushed
 * when the socket takes them; replies come back in order.
 *
 * With credentials, AUTH is the first command on every new connection and the link is Up only
 * once Redis has accepted it: no other command can go before it. A refused login is retried
 * with a backoff (kRetryMs doubling to kMaxAuthRetryMs), since only the operator can fix it.
 * The password is held here and written to the socket, never into why() or anything else.
 */
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace ringcast::bridge {

// Redis 6 ACL credentials; an empty password = no AUTH.
struct RedisAuth {
    std::string username;  // "" = `AUTH password` (the default user)
    std::string password;
};

// An error reply that says who we are is not allowed (not the command or the data): the
// link is dropped and retried with backoff instead of the command being given up.
bool is_auth_error(std::string_view error_reply);

class RedisLink {
  public:
    enum class State { Down, Connecting, Authenticating, Up };
    enum class Auth { None, Pending, Ok, Refused };  // None = no credentials configured
    static constexpr uint64_t kRetryMs = 200;
    static constexpr uint64_t kMaxAuthRetryMs = 5000;
    static constexpr uint64_t kConnectTimeoutMs = 2000;

    RedisLink(std::string host, uint16_t port, RedisAuth auth = {})
        : host_(std::move(host)), port_(port), credentials_(std::move(auth)) {
        auth_ = credentials_.password.empty() ? Auth::None : Auth::Pending;
    }
    ~RedisLink() { close(); }
    RedisLink(const RedisLink&) = delete;
    RedisLink& operator=(const RedisLink&) = delete;

    // Starts an attempt when down and the retry time has come; times out a slow connect.
    void tick(uint64_t now_ns);
    State state() const { return state_; }
    int fd() const;
    // What to poll for: writability while connecting or while output waits, else input.
    short poll_events() const;
    // After poll: completes a connect, writes pending output, reads input. False = the link
    // broke (it is Down now; why() says why).
    bool on_poll(short revents, uint64_t now_ns);

    void append(int argc, const char** argv, const size_t* lens);
    bool has_output() const;
    size_t output_bytes() const;  // appended, not yet taken by the socket
    // The next whole reply, or nullptr. The caller frees it (freeReplyObject).
    redisReply* next_reply();
    // Drops the connection (a reply timed out, or the caller saw garbage).
    void fail(const std::string& why, uint64_t now_ns);
    // Drops it because Redis refused who we are (NOAUTH, NOPERM on a command): retried with
    // the login backoff. `why` must hold no credential.
    void refuse_auth(const std::string& why, uint64_t now_ns);
    // The last answer to our login (Pending until the first); refusals() counts them.
    Auth auth() const { return auth_; }
    uint64_t refusals() const { return refusals_; }

    const std::string& why() const { return why_; }
    const std::string& address() const { return address_text_; }

  private:
    bool flush(uint64_t now_ns);
    void close();
    void send_auth();
    bool read_auth_reply(uint64_t now_ns);

    std::string host_;
    uint16_t port_;
    std::string address_text_ = host_ + ":" + std::to_string(port_);
    State state_ = State::Down;
    int connecting_fd_ = -1;
    redisContext* ctx_ = nullptr;
    uint64_t retry_at_ns_ = 0;
    uint64_t connect_deadline_ns_ = 0;
    std::string why_;
    RedisAuth credentials_;
    Auth auth_ = Auth::None;
    uint64_t auth_retry_ms_ = kRetryMs;
    uint64_t refusals_ = 0;
};

}  // namespace ringcast::bridge
