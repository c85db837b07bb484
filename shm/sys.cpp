// The real system calls behind SysCalls (see sys.hpp).
#include "shm/sys.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace ringcast::shm {
namespace {

SysResult from(long r) {
    return r < 0 ? SysResult{r, errno} : SysResult{r, 0};
}

SysResult real_open(const char* path, int flags, mode_t mode) {
    return from(::open(path, flags, mode));
}
SysResult real_close(int fd) {
    return from(::close(fd));
}
SysResult real_ftruncate(int fd, uint64_t length) {
    return from(::ftruncate(fd, static_cast<off_t>(length)));
}
SysResult real_fallocate(int fd, uint64_t offset, uint64_t length) {
    int err;
    do {
        err = ::posix_fallocate(fd, static_cast<off_t>(offset),
                                static_cast<off_t>(length));  // returns the error itself
    } while (err == EINTR);
    return SysResult{err == 0 ? 0 : -1, err};
}
SysResult real_unlink(const char* path) {
    return from(::unlink(path));
}
std::string real_read_text(const char* path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

SysCalls& sys() {
    static SysCalls table{real_open,      real_close,  real_ftruncate,
                          real_fallocate, real_unlink, real_read_text};
    return table;
}

}  // namespace ringcast::shm
