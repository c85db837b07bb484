// The live status page's two answers, and the Supervisor's /status.json hook.
#include "supervisor/status_page.hpp"

#include "ringcast/status_page_html.hpp"
#include "supervisor/supervisor.hpp"

namespace ringcast::supervisor {

nlohmann::json live_status_json(const ClusterSnapshot& s) {
    return {
        {"status", status_json(s)},
        {"workers", workers_json(s)["workers"]},
        {"shards", stats_json(s)["shards"]},
    };
}

std::string_view status_page_html() {
    return generated::kStatusPageHtml;
}

// A byte that is not UTF-8 (a bridge report, a version string) is replaced, not a 500.
std::string Supervisor::live_status() {
    return live_status_json(snapshot())
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ringcast::supervisor
