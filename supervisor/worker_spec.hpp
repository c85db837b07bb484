// The worker's command line: the supervisor serialises a WorkerOptions as one JSON argument
// (`ringcast --worker '<json>'`), the new process reads it back. Fds are inherited by number.
#pragma once

#include <string>
#include <variant>

#include "worker/options.hpp"

namespace ringcast::supervisor {

std::string encode_worker_spec(const worker::WorkerOptions& o);
std::variant<worker::WorkerOptions, std::string> decode_worker_spec(const std::string& text);

}  // namespace ringcast::supervisor
