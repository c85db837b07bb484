// What the workers are told of the config's admission keys (docs/admission.md): on their
// command line at start and, after a reload or a `set`, in the "admission <json>" command.
#pragma once

#include "supervisor/config.hpp"
#include "worker/options.hpp"

namespace ringcast::supervisor {

// Roles and policies become flags, a burst of 0 becomes one second's worth of the rate.
worker::AdmissionSettings admission_settings(const Config& c);

// The admission keys of `from` (allowed_origins, allow_missing_origin, max_connections,
// max_connections_per_ip, handshake_timeout_ms, auth, rate_limit) written over `to`.
void copy_admission(const Config& from, Config& to);

}  // namespace ringcast::supervisor
