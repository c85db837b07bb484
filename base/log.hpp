// One-line key=value logging shared by the supervisor and the workers.
// Each line names where it came from (role, worker, shard) so interleaved stderr stays readable.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace ringcast::log {

enum class Level : int { Debug = 0, Info = 1, Warn = 2, Error = 3 };

inline std::atomic<int>& threshold() {
    static std::atomic<int> level{static_cast<int>(Level::Info)};
    return level;
}

// Set once per thread: "supervisor", "worker=1 shard=2", ...
inline thread_local char origin[48] = "ringcast";

inline void set_origin(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline void set_origin(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(origin, sizeof origin, fmt, ap);
    va_end(ap);
}

inline const char* level_name(Level l) {
    switch (l) {
        case Level::Debug: return "debug";
        case Level::Info: return "info";
        case Level::Warn: return "warn";
        case Level::Error: return "error";
    }
    return "info";
}

// Writes `ts=... level=... <origin> <message>` as one write(2) so lines from several
// processes never interleave mid-line.
inline void write(Level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void write(Level l, const char* fmt, ...) {
    if (static_cast<int>(l) < threshold().load(std::memory_order_relaxed)) return;
    char line[1024];
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm tmv{};
    gmtime_r(&ts.tv_sec, &tmv);
    int n = std::snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s %s ",
                          tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour, tmv.tm_min,
                          tmv.tm_sec, ts.tv_nsec / 1000000, level_name(l), origin);
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    size_t len = static_cast<size_t>(n) + static_cast<size_t>(m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    (void)!::fwrite(line, 1, len, stderr);
    std::fflush(stderr);
}

}  // namespace ringcast::log

#define RC_LOG_DEBUG(...) ::ringcast::log::write(::ringcast::log::Level::Debug, __VA_ARGS__)
#define RC_LOG_INFO(...) ::ringcast::log::write(::ringcast::log::Level::Info, __VA_ARGS__)
#define RC_LOG_WARN(...) ::ringcast::log::write(::ringcast::log::Level::Warn, __VA_ARGS__)
#define RC_LOG_ERROR(...) ::ringcast::log::write(::ringcast::log::Level::Error, __VA_ARGS__)
