// read_secret_file(): bounded read of a key or password file.
#include "base/secret_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.hpp"

namespace ringcast {

namespace {
std::string named(const std::string& path) {
    return "\"" + path + "\"";
}
}  // namespace

std::variant<std::string, SecretFileError> read_secret_file(const std::string& path) {
    if (path.empty()) return SecretFileError{"no file named"};
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!file.valid())
        return SecretFileError{"cannot read " + named(path) + ": " + std::strerror(errno)};
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(file.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return SecretFileError{"cannot read " + named(path) + ": " + std::strerror(errno)};
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
        // A device or a wrong path (/dev/zero, a log file) must not eat memory.
        if (out.size() > kMaxSecretFileBytes)
            return SecretFileError{"cannot read " + named(path) +
                                   ": larger than 64 KiB, not a secret"};
    }
    std::memset(buf, 0, sizeof buf);
    if (!out.empty() && out.back() == '\n') out.pop_back();
    if (out.empty()) return SecretFileError{"cannot use " + named(path) + ": the file is empty"};
    return out;
}

}  // namespace ringcast
