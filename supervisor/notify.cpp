// sd_notify(3) messages to the service manager; see notify.hpp for when each is sent.
#include "supervisor/notify.hpp"

#include <time.h>

#include <cstdlib>

#if RINGCAST_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace ringcast::supervisor {

namespace {

// Checked first so that outside systemd nothing is built or sent.
bool under_service_manager() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    return socket != nullptr && socket[0] != '\0';
}

void send_state(const std::string& state) {
#if RINGCAST_HAVE_LIBSYSTEMD
    // unset_environment = 0: the variable stays for later calls (the workers ignore it).
    sd_notify(0, state.c_str());
#else
    (void)state;
#endif
}

uint64_t monotonic_us() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

void notify_ready() {
    if (under_service_manager()) send_state("READY=1");
}

void notify_stopping() {
    if (under_service_manager()) send_state("STOPPING=1");
}

void notify_reloading() {
    if (under_service_manager()) {
        send_state("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_us()));
    }
}

void notify_watchdog() {
    if (under_service_manager()) send_state("WATCHDOG=1");
}

bool watchdog_enabled(uint64_t* interval_us) {
#if RINGCAST_HAVE_LIBSYSTEMD
    uint64_t usec = 0;
    // Also checks WATCHDOG_PID, so a forked worker never thinks the watchdog is its own.
    if (sd_watchdog_enabled(0, &usec) > 0) {
        if (interval_us) *interval_us = usec;
        return true;
    }
#endif
    if (interval_us) *interval_us = 0;
    return false;
}

void notify_status(const std::string& text) {
    if (!under_service_manager()) return;
    std::string state = "STATUS=" + text;
    for (char& c : state) {
        if (c == '\n') c = ' ';
    }
    send_state(state);
}

bool notify_supported() {
#if RINGCAST_HAVE_LIBSYSTEMD
    return true;
#else
    return false;
#endif
}

}  // namespace ringcast::supervisor
