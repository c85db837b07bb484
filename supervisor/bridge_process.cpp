// The supervisor's side of the Redis bridge (docs/bridge.md): start it as member `shards` of
// the ring fabric, restart it, stop it, and keep its latest report for status and /metrics.
//
// Restarts keep its place: a bridge that stopped cleanly (`restart bridge`) or that crashed
// after running a while is started again at once on the same cursors (`resume`), the member
// staying Live, so the records it had not yet relayed wait in the shard rings for the new
// process. A bridge that crashes again soon is marked dead (it holds no producer back) and
// started later with backoff, joining afresh.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "bridge/options.hpp"
#include "base/channel.hpp"
#include "base/exit_code.hpp"
#include "supervisor/backoff.hpp"
#include "supervisor/supervisor.hpp"
#include "base/log.hpp"

namespace ringcast::supervisor {

namespace {

constexpr uint64_t kBridgeRestartTimeoutNs = 15000 * kMs;

std::string node_id_or_host(const std::string& configured) {
    if (!configured.empty()) return configured;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "ringcast";
    return host;
}

}  // namespace

bool Supervisor::spawn_bridge(bool resume) {
    auto addr = parse_address(config_.bridge.redis, AddressUse::Connect);
    if (auto* err = std::get_if<std::string>(&addr)) {
        RC_LOG_ERROR("event=bridge_bad_address redis=%s error=\"%s\"", config_.bridge.redis.c_str(), err->c_str());
        return false;
    }
    const ListenAddress& a = std::get<ListenAddress>(addr);
    bridge::BridgeOptions o;
    o.segment = segment_->path();
    o.member = bridge_member();
    for (const auto& fd : wake_fds_) o.wake_fds.push_back(fd.get());
    o.redis_host = a.host;
    o.redis_port = a.port;
    // The path, not the password: the bridge reads the file itself (argv is public).
    o.redis_username = config_.bridge.username;
    o.redis_password_file = config_.bridge.password_file;
    o.stream = config_.bridge.stream;
    o.node_id = node_id_or_host(config_.bridge.node_id);
    o.maxlen = config_.bridge.maxlen;
    o.buffer_messages = config_.bridge.buffer_messages;
    o.drop_newest = config_.bridge.overflow == "drop_newest";
    o.epoch = epoch_;
    o.resume = resume;
    o.log_level = static_cast<int>(config_.log_level);
    if (!resume) shm::mark_starting(*segment_, o.member, 0);
    pid_t pid = fork_exec(
        "--bridge",
        [&o](int channel_fd) {
            o.control_fd = channel_fd;
            return bridge::encode_bridge_spec(o);
        },
        o.wake_fds, &bridge_.channel);
    if (pid < 0) return false;
    bridge_.pid = pid;
    bridge_.started_ns = monotonic_ns();
    bridge_.restart_at_ns = 0;
    bridge_.stopping = false;
    bridge_.version.clear();
    bridge_.stats = nlohmann::json::object();
    RC_LOG_INFO("event=bridge_process_started pid=%d member=%u redis=%s node_id=%s resume=%d", pid, o.member,
                config_.bridge.redis.c_str(), o.node_id.c_str(), resume);
    return true;
}

void Supervisor::on_bridge_exit(int status) {
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const std::string how = WIFSIGNALED(status) ? std::string("signal=") + strsignal(WTERMSIG(status))
                                                : "code=" + std::to_string(WEXITSTATUS(status));
    bridge_.pid = -1;
    bridge_.channel = Fd();
    const uint64_t now = monotonic_ns();
    const bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == kExitFatal;
    if (bridge_.restart_when_gone && !fatal) {
        // `restart bridge`: it left its cursors (flushed or not, even if it died while
        // flushing); the next one continues from them.
        bridge_.restart_when_gone = false;
        ++bridge_.restarts;
        RC_LOG_INFO("event=bridge_process_exited %s reason=restart clean=%d", how.c_str(), clean);
        if (!spawn_bridge(true)) {
            // Nobody may wait on its cursors while there is no process: try again later.
            shm::mark_dead(*segment_, bridge_member());
            bridge_.backoff_ms = kInitialBackoffMs;
            bridge_.restart_at_ns = now + bridge_.backoff_ms * kMs;
            if (bridge_.restart_done) {
                auto done = std::move(bridge_.restart_done);
                bridge_.restart_done = nullptr;
                done(false, "bridge: fork failed; retrying with backoff");
            }
        }
        return;
    }
    bridge_.restart_when_gone = false;
    if (bridge_.stopping) {
        RC_LOG_INFO("event=bridge_process_exited %s reason=stop", how.c_str());
        shm::mark_dead(*segment_, bridge_member());
        return;
    }
    if (fatal) {
        RC_LOG_ERROR("event=bridge_fatal %s detail=\"the bridge cannot run (see its error above); local broadcast "
                     "goes on without it\"",
                     how.c_str());
        shm::mark_dead(*segment_, bridge_member());
        bridge_.fatal = true;
        return;
    }
    ++bridge_.restarts;
    if (now - bridge_.started_ns >= kStableNs || bridge_.backoff_ms == 0) {
        // Ran a while: start again now on the same cursors; nothing it had not relayed is lost.
        bridge_.backoff_ms = kInitialBackoffMs;
        RC_LOG_WARN("event=bridge_process_died %s restart=now resume=1", how.c_str());
        if (!spawn_bridge(true)) {
            shm::mark_dead(*segment_, bridge_member());
            bridge_.restart_at_ns = now + bridge_.backoff_ms * kMs;
        }
        return;
    }
    // Dying again soon: let nobody wait on it, and try again later from the current heads.
    shm::mark_dead(*segment_, bridge_member());
    bridge_.backoff_ms = std::min(bridge_.backoff_ms * 2, kMaxBackoffMs);
    bridge_.restart_at_ns = now + bridge_.backoff_ms * kMs;
    RC_LOG_WARN("event=bridge_process_died %s restart_in_ms=%llu resume=0", how.c_str(),
                static_cast<unsigned long long>(bridge_.backoff_ms));
}

void Supervisor::read_bridge_channel() {
    std::string buf(16 * 1024, '\0');
    while (bridge_.channel.valid()) {
        ssize_t n = recv(bridge_.channel.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n <= 0) return;  // EOF: gone; SIGCHLD tells the rest
        std::string msg(buf.data(), static_cast<size_t>(n));
        if (msg.rfind("version ", 0) == 0) {
            bridge_.version = msg.substr(8);
        } else if (msg.rfind("bridge-stats ", 0) == 0) {
            auto j = nlohmann::json::parse(msg.substr(13), nullptr, false);
            if (!j.is_discarded()) bridge_.stats = std::move(j);
            if (bridge_.restart_done && bridge_.pid != bridge_.restart_old_pid) {
                auto done = std::move(bridge_.restart_done);
                bridge_.restart_done = nullptr;
                done(true, "bridge: pid " + std::to_string(bridge_.restart_old_pid) + " -> " +
                               std::to_string(bridge_.pid));
            }
        }
    }
}

void Supervisor::bridge_step(uint64_t now) {
    if (bridge_.restart_done && now >= bridge_.restart_deadline_ns) {
        auto done = std::move(bridge_.restart_done);
        bridge_.restart_done = nullptr;
        done(false, "bridge: the new process did not report in time");
    }
    if (!bridge_enabled() || bridge_.fatal) return;
    if (bridge_.pid < 0 && bridge_.restart_at_ns != 0 && now >= bridge_.restart_at_ns && !draining_) {
        if (!spawn_bridge(false)) bridge_.restart_at_ns = now + kMaxBackoffMs * kMs;
    }
}

std::string Supervisor::restart_bridge(std::function<void(bool, const std::string&)> done) {
    if (!bridge_enabled()) return "the bridge is not enabled (config key bridge.enabled)";
    if (bridge_.restart_done || bridge_.restart_when_gone) return "a bridge restart is already running";
    bridge_.restart_done = std::move(done);
    bridge_.restart_old_pid = bridge_.pid;
    bridge_.restart_deadline_ns = monotonic_ns() + kBridgeRestartTimeoutNs;
    bridge_.fatal = false;
    if (bridge_.pid < 0) {
        if (!spawn_bridge(false)) {
            bridge_.restart_done = nullptr;
            return "fork failed";
        }
        return "";
    }
    bridge_.restart_when_gone = true;
    if (!send_command(bridge_.channel.get(), "stop", -1)) kill(bridge_.pid, SIGTERM);
    return "";
}

void Supervisor::stop_bridge() {
    if (bridge_.pid < 0) return;
    bridge_.stopping = true;
    bridge_.restart_when_gone = false;
    kill(bridge_.pid, SIGTERM);
}

BridgeSnapshot Supervisor::bridge_snapshot() const {
    BridgeSnapshot b;
    b.enabled = bridge_enabled();
    if (!b.enabled) return b;
    b.pid = bridge_.pid;
    b.restarts = bridge_.restarts;
    b.stats = bridge_.stats;
    if (bridge_.fatal) {
        b.state = "failed";
    } else if (bridge_.pid > 0) {
        b.state = bridge_.stats.empty() ? "starting" : "running";
    } else {
        b.state = bridge_.restart_at_ns ? "restarting" : "stopped";
    }
    return b;
}

}  // namespace ringcast::supervisor
