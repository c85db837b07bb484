// RedisLink: non-blocking connect, then hiredis's buffers on the connected fd.
#include "bridge/redis_link.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/clock.hpp"

namespace ringcast::bridge {

namespace {
constexpr uint64_t kMsNs = 1000000;

// hiredis allocates an array's element list when it reads the count line, before any element
// arrives: "*2147483647" alone would cost 16 GiB. Our largest reply holds 10,000 entries.
constexpr int kMaxArrayElements = 1 << 20;
redisReplyObjectFunctions g_bounded;
void* (*g_create_array)(const redisReadTask*, int) = nullptr;

void* create_array_bounded(const redisReadTask* task, int elements) {
    if (elements > kMaxArrayElements) return nullptr;  // the reader fails: the link is dropped
    return g_create_array(task, elements);
}

void bound_arrays(redisReader* reader) {
    if (!g_create_array) {
        g_bounded = *reader->fn;
        g_create_array = g_bounded.createArray;
        g_bounded.createArray = create_array_bounded;
    }
    reader->fn = &g_bounded;
}
bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}
}  // namespace

bool is_auth_error(std::string_view e) {
    return starts_with(e, "NOAUTH") || starts_with(e, "WRONGPASS") || starts_with(e, "NOPERM");
}

int RedisLink::fd() const {
    if (state_ == State::Connecting) return connecting_fd_;
    if (state_ == State::Up || state_ == State::Authenticating) return ctx_->fd;
    return -1;
}

short RedisLink::poll_events() const {
    if (state_ == State::Connecting) return POLLOUT;
    if (state_ == State::Up || state_ == State::Authenticating)
        return static_cast<short>(POLLIN | (has_output() ? POLLOUT : 0));
    return 0;
}

bool RedisLink::has_output() const { return output_bytes() > 0; }

size_t RedisLink::output_bytes() const { return ctx_ && ctx_->obuf ? sdslen(ctx_->obuf) : 0; }

void RedisLink::tick(uint64_t now_ns) {
    if (state_ == State::Connecting && now_ns >= connect_deadline_ns_) {
        fail("connect timed out", now_ns);
        return;
    }
    if (state_ == State::Authenticating && now_ns >= connect_deadline_ns_) {
        fail("no reply to AUTH in time", now_ns);
        return;
    }
    if (state_ != State::Down || now_ns < retry_at_ns_) return;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    // A host name costs a blocking lookup once per attempt; an address (the usual) none.
    int rc = getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res);
    if (rc != 0 || !res) {
        fail(std::string("resolve: ") + gai_strerror(rc), now_ns);
        return;
    }
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        fail(std::string("socket: ") + std::strerror(errno), now_ns);
        return;
    }
    rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
    int err = errno;
    freeaddrinfo(res);
    if (rc != 0 && err != EINPROGRESS) {
        ::close(fd);
        fail(std::string("connect: ") + std::strerror(err), now_ns);
        return;
    }
    connecting_fd_ = fd;
    state_ = State::Connecting;
    connect_deadline_ns_ = now_ns + kConnectTimeoutMs * kMsNs;
    if (rc == 0) on_poll(POLLOUT, now_ns);
}

bool RedisLink::on_poll(short revents, uint64_t now_ns) {
    if (state_ == State::Connecting) {
        if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return true;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(connecting_fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail(std::string("connect: ") + std::strerror(err), now_ns);
            return false;
        }
        int one = 1;
        setsockopt(connecting_fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ctx_ = redisConnectFd(connecting_fd_);
        if (!ctx_) {
            fail("hiredis context: out of memory", now_ns);  // closes connecting_fd_
            return false;
        }
        connecting_fd_ = -1;  // the context owns it now
        if (ctx_->err) {
            fail("hiredis context", now_ns);
            return false;
        }
        // The fd is non-blocking: hiredis then treats EAGAIN as "nothing more for now".
        ctx_->flags &= ~REDIS_BLOCK;
        bound_arrays(ctx_->reader);
        if (auth_ != Auth::None) {
            // Nothing else may be appended before AUTH: the link is not Up until it is accepted.
            state_ = State::Authenticating;
            connect_deadline_ns_ = now_ns + kConnectTimeoutMs * kMsNs;
            send_auth();
            return flush(now_ns);
        }
        state_ = State::Up;
        why_.clear();
        return flush(now_ns);
    }
    if (state_ != State::Up && state_ != State::Authenticating) return true;
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        if (redisBufferRead(ctx_) != REDIS_OK) {
            fail(ctx_->errstr[0] ? ctx_->errstr : "connection closed", now_ns);
            return false;
        }
    }
    if ((revents & POLLOUT) && !flush(now_ns)) return false;
    if (state_ == State::Authenticating) return read_auth_reply(now_ns);
    return true;
}

void RedisLink::send_auth() {
    const std::string& user = credentials_.username;
    const std::string& pass = credentials_.password;
    if (user.empty()) {
        const char* argv[] = {"AUTH", pass.c_str()};
        size_t lens[] = {4, pass.size()};
        redisAppendCommandArgv(ctx_, 2, argv, lens);
    } else {
        const char* argv[] = {"AUTH", user.c_str(), pass.c_str()};
        size_t lens[] = {4, user.size(), pass.size()};
        redisAppendCommandArgv(ctx_, 3, argv, lens);
    }
}

bool RedisLink::read_auth_reply(uint64_t now_ns) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) {
        fail(std::string("protocol error: ") + ctx_->errstr, now_ns);
        return false;
    }
    auto* reply = static_cast<redisReply*>(raw);
    if (!reply) return true;  // not all of it yet
    const bool ok = reply->type == REDIS_REPLY_STATUS;
    // Redis's refusal ("WRONGPASS invalid username-password pair ...") never repeats what we
    // sent; it is kept short all the same.
    std::string why = reply->type == REDIS_REPLY_ERROR
                          ? std::string(reply->str, std::min<size_t>(reply->len, 120))
                          : std::string("unexpected reply to AUTH");
    freeReplyObject(reply);
    if (!ok) {
        refuse_auth("AUTH refused: " + why, now_ns);
        return false;
    }
    auth_ = Auth::Ok;
    auth_retry_ms_ = kRetryMs;
    state_ = State::Up;
    why_.clear();
    return true;
}

bool RedisLink::flush(uint64_t now_ns) {
    if (state_ != State::Up && state_ != State::Authenticating) return true;
    int done = 0;
    while (has_output()) {
        if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
            fail(ctx_->errstr[0] ? ctx_->errstr : "write failed", now_ns);
            return false;
        }
        if (!done) break;  // the socket is full; POLLOUT brings us back
    }
    return true;
}

void RedisLink::refuse_auth(const std::string& why, uint64_t now_ns) {
    fail(why, now_ns);
    auth_ = Auth::Refused;
    ++refusals_;
    // Only the operator can fix a password: do not knock every 200 ms meanwhile.
    retry_at_ns_ = now_ns + auth_retry_ms_ * kMsNs;
    auth_retry_ms_ = std::min(auth_retry_ms_ * 2, kMaxAuthRetryMs);
}

void RedisLink::append(int argc, const char** argv, const size_t* lens) {
    if (state_ == State::Up) redisAppendCommandArgv(ctx_, argc, argv, lens);
}

redisReply* RedisLink::next_reply() {
    if (state_ != State::Up) return nullptr;
    void* reply = nullptr;
    if (redisGetReplyFromReader(ctx_, &reply) != REDIS_OK) {
        // Bytes that are not RESP: nothing more on this connection can be trusted.
        fail(std::string("protocol error: ") + ctx_->errstr, monotonic_ns());
        return nullptr;
    }
    return static_cast<redisReply*>(reply);
}

void RedisLink::fail(const std::string& why, uint64_t now_ns) {
    close();
    why_ = why;
    state_ = State::Down;
    retry_at_ns_ = now_ns + kRetryMs * kMsNs;
}

void RedisLink::close() {
    if (ctx_) {
        redisFree(ctx_);  // closes the fd
        ctx_ = nullptr;
    }
    if (connecting_fd_ >= 0) {
        ::close(connecting_fd_);
        connecting_fd_ = -1;
    }
}

}  // namespace ringcast::bridge
