// The supervisor's command channel to its children.
#include "supervisor/channel.hpp"

#include <sys/socket.h>

#include <cstring>

namespace ringcast::supervisor {

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


}  // namespace ringcast::supervisor
