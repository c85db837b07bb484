// The few system calls shm/ makes itself (Boost.Interprocess makes the rest), behind a
// table of plain function pointers returning {value, errno}: tests swap an entry to inject
// ENOSPC or ENOMEM without needing a full disk, or show a machine with hugepages.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace ringcast::shm {

struct SysResult {
    long value;  // the call's result (>= 0) when error == 0
    int error;   // errno, 0 on success
};

struct SysCalls {
    SysResult (*open)(const char* path, int flags, mode_t mode);
    SysResult (*close)(int fd);
    SysResult (*ftruncate)(int fd, uint64_t length);
    SysResult (*fallocate)(int fd, uint64_t offset, uint64_t length);  // posix_fallocate
    SysResult (*unlink)(const char* path);
    std::string (*read_text)(const char* path);  // whole file, empty when unreadable (/proc)
};

// The process-wide table; its entries start as the real calls.
SysCalls& sys();

// Restores the real calls when it goes out of scope (tests).
class SysOverride {
  public:
    SysOverride() : saved_(sys()) {}
    ~SysOverride() { sys() = saved_; }
    SysOverride(const SysOverride&) = delete;
    SysOverride& operator=(const SysOverride&) = delete;

  private:
    SysCalls saved_;
};

}  // namespace ringcast::shm
