/*
 * The live status page of the metrics endpoint: the HTML served at GET / (written in
 * supervisor/status_page.html, embedded at build time by supervisor/status_page.cmake) and
 * the JSON it polls at GET /status.json. The page is read-only: it draws what the control
 * socket's `status`, `workers` and `stats` report, nothing more.
 */
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "supervisor/snapshot.hpp"

namespace ringcast::supervisor {

// {"status": status_json(s), "workers": workers_json(s)["workers"],
//  "shards": stats_json(s)["shards"]}: one document per poll, so every figure on the page
// comes from the same snapshot.
nlohmann::json live_status_json(const ClusterSnapshot& s);

// The page: one self-contained HTML document (inline CSS and JS, no external resources).
std::string_view status_page_html();

}  // namespace ringcast::supervisor
