// The worker's command line: the supervisor serialises a WorkerOptions as one JSON argument
// (`ringcast --worker '<json>'`), the new process reads it back. Fds are inherited by number.
#pragma once

#include <string>
#include <variant>

#include "supervisor/config.hpp"
#include "worker/options.hpp"

namespace ringcast::supervisor {

// What a worker is told of the config at its start: the keys it reads then (a change to one
// rolls the workers on reload) and the admission keys as they stand.
worker::Settings worker_settings(const Config& c);

std::string encode_worker_spec(const worker::WorkerOptions& o);
std::variant<worker::WorkerOptions, std::string> decode_worker_spec(const std::string& text);

}  // namespace ringcast::supervisor
