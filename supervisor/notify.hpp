/*
 * Tells systemd (a Type=notify unit, deploy/ringcast.service) where the supervisor is in its
 * life, through libsystemd's sd_notify(3):
 *
 *   start ──► every worker Live ──► notify_ready()            (systemctl start returns)
 *   SIGHUP ─► notify_reloading() ─► reload ─► notify_ready()
 *   SIGTERM ► notify_stopping() ──► workers drain and exit
 *   every interval/2 while healthy ─► notify_watchdog()       (only when WatchdogSec= is set)
 *
 * Every call is a no-op when NOTIFY_SOCKET is unset (not under systemd, or Type=simple), so
 * callers need no `if`. Supervisor only: the unit says NotifyAccess=main, so a worker's
 * messages would be dropped. Built without libsystemd (RINGCAST_HAVE_LIBSYSTEMD unset), every
 * call is a no-op and notify_supported() says so.
 */
#pragma once

#include <cstdint>
#include <string>

namespace ringcast::supervisor {

void notify_ready();      // READY=1: the server accepts and delivers
void notify_stopping();   // STOPPING=1: a graceful shutdown has begun
void notify_reloading();  // RELOADING=1 (with MONOTONIC_USEC=, as systemd 253+ wants)
void notify_watchdog();   // WATCHDOG=1: the supervisor loop is alive
// True when the service manager expects WATCHDOG=1 from this process; *interval_us is then
// WatchdogSec= in microseconds (ping at half of it).
bool watchdog_enabled(uint64_t* interval_us);
// STATUS=<text>: shown by `systemctl status`. Newlines become blanks (one line per status).
void notify_status(const std::string& text);

// False when built without libsystemd: then every call above does nothing.
bool notify_supported();

}  // namespace ringcast::supervisor
