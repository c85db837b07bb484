// Listener sockets.
#include "supervisor/listeners.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ringcast::supervisor {

namespace {

Fd open_one(const ListenSpec& spec, bool reuseport, bool do_listen, std::string* error) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family;
    bool any = spec.host.empty();
    if (spec.ipv6 || any) {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(static_cast<uint16_t>(spec.port));
        a6->sin6_addr = in6addr_any;
        if (!any && inet_pton(AF_INET6, spec.host.c_str(), &a6->sin6_addr) != 1) {
            *error = "listen: bad IPv6 address " + spec.host;
            return Fd{};
        }
        len = sizeof(sockaddr_in6);
        family = AF_INET6;
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(static_cast<uint16_t>(spec.port));
        if (inet_pton(AF_INET, spec.host.c_str(), &a4->sin_addr) != 1) {
            *error = "listen: bad IPv4 address " + spec.host;
            return Fd{};
        }
        len = sizeof(sockaddr_in);
        family = AF_INET;
    }
    Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid() && any && errno == EAFNOSUPPORT) {
        // No IPv6 on this host: serve IPv4 only.
        ListenSpec v4 = spec;
        v4.host = "0.0.0.0";
        v4.ipv6 = false;
        return open_one(v4, reuseport, do_listen, error);
    }
    if (!fd.valid()) {
        *error = std::string("listen: socket: ") + std::strerror(errno);
        return Fd{};
    }
    int one = 1, zero = 0;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (family == AF_INET6 && any) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        std::string host = any ? "*" : spec.host;
        *error = "listen " + host + ":" + std::to_string(spec.port) + ": " + std::strerror(errno);
        return Fd{};
    }
    if (do_listen && ::listen(fd.get(), 4096) != 0) {
        *error = std::string("listen: ") + std::strerror(errno);
        return Fd{};
    }
    return fd;
}

}  // namespace

std::vector<Fd> open_listeners(const ListenSpec& spec, size_t count, std::string* error) {
    // SO_REUSEPORT would let a second server join a running one's port and quietly take a
    // share of its clients. A bind without it fails while anyone listens there.
    {
        std::string probe_error;
        Fd probe = open_one(spec, false, false, &probe_error);
        if (!probe.valid()) {
            *error = probe_error + (probe_error.find("in use") != std::string::npos
                                        ? " (is another ringcast or server already listening there?)"
                                        : "");
            return {};
        }
    }
    std::vector<Fd> out;
    for (size_t i = 0; i < count; ++i) {
        Fd fd = open_one(spec, true, true, error);
        if (!fd.valid()) return {};
        out.push_back(std::move(fd));
    }
    return out;
}

Fd open_listener(const ListenSpec& spec, std::string* error) { return open_one(spec, false, true, error); }

}  // namespace ringcast::supervisor
