// ringcast: the supervisor binary, and (with --worker / --bridge, as the supervisor runs them)
// a worker or the Redis bridge.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/exit_code.hpp"
#include "base/log.hpp"
#include "ringcast/version.hpp"
#include "supervisor/config.hpp"
#include "bridge/options.hpp"
#include "supervisor/doctor.hpp"
#include "supervisor/supervisor.hpp"
#include "supervisor/worker_spec.hpp"
#include "worker/options.hpp"

namespace {

// The path of the binary on disk, read once at start: a restarted worker execs whatever
// is at this path then, which is how a new build rolls out.
std::string self_exe() {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "ringcast";
    buf[n] = '\0';
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ringcast;
    if (argc >= 2 && std::strcmp(argv[1], "doctor") == 0) return supervisor::doctor_main(argc - 1, argv + 1);
    if (argc == 3 && std::strcmp(argv[1], "--worker") == 0) {
        auto decoded = supervisor::decode_worker_spec(argv[2]);
        if (auto* err = std::get_if<std::string>(&decoded)) {
            std::fprintf(stderr, "ringcast worker: %s\n", err->c_str());
            return kExitFatal;
        }
        return worker::run_worker(std::get<worker::WorkerOptions>(decoded));
    }
    if (argc == 3 && std::strcmp(argv[1], "--bridge") == 0) {
        auto decoded = bridge::decode_bridge_spec(argv[2]);
        if (auto* err = std::get_if<std::string>(&decoded)) {
            std::fprintf(stderr, "ringcast bridge: %s\n", err->c_str());
            return kExitFatal;
        }
        return bridge::run_bridge(std::get<bridge::BridgeOptions>(decoded));
    }

    auto parsed = supervisor::parse_command_line(argc, argv);
    if (auto* err = std::get_if<supervisor::ConfigError>(&parsed)) {
        std::fprintf(stderr, "ringcast: %s\n", err->message().c_str());
        std::fprintf(stderr, "ringcast: see ringcast --help\n");
        return 2;
    }
    const auto& cl = std::get<supervisor::CommandLine>(parsed);
    if (cl.show_help) {
        std::fputs(supervisor::usage_text().c_str(), stdout);
        return 0;
    }
    if (cl.show_version) {
        std::printf("ringcast %s (io_uring, shm rings, hwloc)\n", kVersion);
        return 0;
    }
    if (cl.check_config) {
        for (const auto& w : cl.config.notes.warnings) std::fprintf(stderr, "ringcast: warning: %s\n", w.c_str());
        std::printf("%s\n", supervisor::to_json(cl.config).c_str());
        return 0;
    }
    for (const auto& w : cl.config.notes.warnings) RC_LOG_WARN("event=config_warning reason=\"%s\"", w.c_str());
    supervisor::Supervisor sup(cl.config, self_exe(), std::vector<std::string>(argv, argv + argc));
    return sup.run();
}
