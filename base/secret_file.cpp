// read_secret_file(): bounded read of a key or password file.
#include "base/secret_file.hpp"

#include <cstring>

#include "base/bounded_file.hpp"

namespace ringcast {

namespace {
std::string named(const std::string& path) {
    return "\"" + path + "\"";
}
}  // namespace

std::variant<std::string, SecretFileError> read_secret_file(const std::string& path) {
    if (path.empty()) return SecretFileError{"no file named"};
    std::string out;
    const BoundedRead r = read_bounded_file(path, kMaxSecretFileBytes, out);
    if (r.failure == BoundedRead::Failure::System)
        return SecretFileError{"cannot read " + named(path) + ": " + std::strerror(r.error)};
    if (r.failure == BoundedRead::Failure::TooLarge)
        return SecretFileError{"cannot read " + named(path) + ": larger than 64 KiB, not a secret"};
    if (!out.empty() && out.back() == '\n') out.pop_back();
    if (out.empty()) return SecretFileError{"cannot use " + named(path) + ": the file is empty"};
    return out;
}

}  // namespace ringcast
