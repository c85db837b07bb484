// AdmissionSettings as JSON: how the supervisor hands them to a worker, on its command line
// (inside the worker spec) and at run time (the "admission <json>" command). Field names are
// the settings' own; a missing or mistyped field is an error naming it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "worker/options.hpp"

namespace ringcast::worker {

nlohmann::json admission_to_json(const AdmissionSettings& a);
std::variant<AdmissionSettings, std::string> admission_from_json(const nlohmann::json& j);

}  // namespace ringcast::worker
