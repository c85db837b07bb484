// Reading a whole small file the operator names (a config, a key, a password) with a bound,
// so that a wrong path (/dev/zero, a log) cannot eat memory. The caller words the error: a
// config and a secret name their files differently.
#pragma once

#include <cstddef>
#include <string>

namespace ringcast {

struct BoundedRead {
    enum class Failure { None, System, TooLarge };
    Failure failure = Failure::None;
    int error = 0;  // errno, with Failure::System
    bool ok() const { return failure == Failure::None; }
};

// Appends the file's bytes to `out`; stops with TooLarge once more than max_bytes arrived.
// The read buffer is wiped afterwards, since a secret may have passed through it.
BoundedRead read_bounded_file(const std::string& path, size_t max_bytes, std::string& out);

}  // namespace ringcast
