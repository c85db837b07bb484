// read_bounded_file(): see base/bounded_file.hpp.
#include "base/bounded_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.hpp"

namespace ringcast {

BoundedRead read_bounded_file(const std::string& path, size_t max_bytes, std::string& out) {
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!file.valid()) return {BoundedRead::Failure::System, errno};
    BoundedRead result;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(file.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            result = {BoundedRead::Failure::System, errno};
            break;
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > max_bytes) {
            result = {BoundedRead::Failure::TooLarge, 0};
            break;
        }
    }
    std::memset(buf, 0, sizeof buf);
    return result;
}

}  // namespace ringcast
