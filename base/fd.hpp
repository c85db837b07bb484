// RAII for file descriptors and the thin system-call result type.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace ringcast {

// A system call's outcome as a value: {result, errno}. Lets callers and tests treat
// EAGAIN/ENOMEM as data instead of reading a global.
struct SysResult {
    long value = 0;
    int error = 0;
    bool ok() const { return error == 0; }
};

inline SysResult sys_check(long rc) { return rc < 0 ? SysResult{rc, errno} : SysResult{rc, 0}; }

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

}  // namespace ringcast
