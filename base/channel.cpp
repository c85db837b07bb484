// The supervisor <-> child command channel's framing (see base/channel.hpp).
#include "base/channel.hpp"

#include <sys/socket.h>

#include <cstring>

namespace ringcast {

bool send_command(int sock, const std::string& cmd, int fd) {
    iovec iov{const_cast<char*>(cmd.data()), cmd.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(cmd.size());
}

std::string read_command(int sock, int* fd, int flags) {
    // One buffer per thread: callers poll with MSG_DONTWAIT, which should not allocate.
    thread_local std::string buf(kMaxCommandBytes, '\0');
    iovec iov{buf.data(), kMaxCommandBytes};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    *fd = -1;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
    if (n <= 0) return "";
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(fd, CMSG_DATA(c), sizeof(int));
    }
    return std::string(buf.data(), static_cast<size_t>(n));
}

}  // namespace ringcast
