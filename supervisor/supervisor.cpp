// Process supervision: setup, starting and reaping workers, backoff, the hot restart sequence,
// the stats line, shutdown and the event loop. See docs/cluster.md for the start, crash and
// shutdown sequences; the control socket, metrics and reload are in supervisor_control.cpp.
#include "supervisor/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/channel.hpp"
#include "base/exit_code.hpp"
#include "supervisor/admission_settings.hpp"
#include "supervisor/backoff.hpp"
#include "supervisor/listeners.hpp"
#include "supervisor/notify.hpp"
#include "supervisor/worker_spec.hpp"
#include "base/log.hpp"

namespace ringcast::supervisor {

namespace {

shm::HugepageMode to_shm(HugepageMode m) {
    switch (m) {
        case HugepageMode::Require: return shm::HugepageMode::Require;
        case HugepageMode::Off: return shm::HugepageMode::Off;
        case HugepageMode::Auto: break;
    }
    return shm::HugepageMode::Auto;
}

std::string cpu_list(const WorkerPlacement& p) {
    std::string s;
    for (const auto& sh : p.shards) {
        if (!s.empty()) s += ",";
        s += std::to_string(sh.cpu);
    }
    return s;
}

}  // namespace

Supervisor::Supervisor(Config config, std::string self_exe, std::vector<std::string> argv)
    : config_(std::move(config)), self_exe_(std::move(self_exe)), argv_(std::move(argv)) {}

Supervisor::~Supervisor() {
    if (segment_) shm::Segment::remove(segment_->path());
}

bool Supervisor::setup() {
    Topology topo = discover_topology();
    std::string error;
    auto plan = plan_workers(topo, config_.worker_processes, config_.shards, config_.numa_node, &error);
    if (plan.empty()) {
        RC_LOG_ERROR("event=plan_failed error=\"%s\"", error.c_str());
        return false;
    }
    for (const auto& p : plan) shard_count_ += static_cast<uint32_t>(p.shards.size());

    // One extra member is reserved for a bridge (the Redis relay); it stays Empty until one joins.
    const uint32_t members = shard_count_ + 1;
    std::vector<int> nodes;
    for (const auto& p : plan) {
        for (size_t i = 0; i < p.shards.size(); ++i) nodes.push_back(p.numa_node);
    }
    nodes.push_back(-1);
    // Slab records are 8-byte aligned: round the arena up to match.
    shm::Geometry g{members, config_.ring, (config_.slab_bytes + 7) & ~uint64_t{7}};
    auto created = shm::Segment::create("/ringcast-" + std::to_string(getpid()), g, to_shm(config_.hugepages), nodes);
    if (auto* err = std::get_if<std::string>(&created)) {
        RC_LOG_ERROR("event=segment_failed error=\"%s\"", err->c_str());
        return false;
    }
    segment_ = std::make_unique<shm::Segment>(std::move(std::get<shm::Segment>(created)));
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    epoch_ = static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
    RC_LOG_INFO("event=segment path=%s bytes=%llu hugepages=%s%s%s%s", segment_->path().c_str(),
                static_cast<unsigned long long>(segment_->size()), segment_->hugepages() ? "yes" : "no",
                segment_->note().empty() ? "" : " note=\"", segment_->note().c_str(),
                segment_->note().empty() ? "" : "\"");

    ListenSpec spec{config_.listen.host, config_.listen.port, config_.listen.ipv6};
    listeners_ = open_listeners(spec, shard_count_, &error);
    if (listeners_.empty()) {
        RC_LOG_ERROR("event=listen_failed error=\"%s\"", error.c_str());
        return false;
    }
    auto control = ControlServer::open(config_.control_socket, config_.control_group);
    if (auto* err = std::get_if<std::string>(&control)) {
        RC_LOG_ERROR("event=control_socket_failed path=%s error=\"%s\"", config_.control_socket.c_str(), err->c_str());
        return false;
    }
    control_ = std::move(std::get<std::unique_ptr<ControlServer>>(control));
    if (!config_.metrics_listen.empty()) {
        auto addr = parse_address(config_.metrics_listen, AddressUse::Listen);
        if (auto* a = std::get_if<ListenAddress>(&addr)) {
            auto m = MetricsServer::open(a->host, a->port, a->ipv6);
            if (auto* err = std::get_if<std::string>(&m)) {
                RC_LOG_ERROR("event=metrics_listen_failed listen=%s error=\"%s\"", config_.metrics_listen.c_str(),
                             err->c_str());
                return false;
            }
            metrics_ = std::move(std::get<std::unique_ptr<MetricsServer>>(m));
        }
    }
    for (uint32_t m = 0; m < members; ++m) {
        wake_fds_.emplace_back(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!wake_fds_.back().valid()) {
            RC_LOG_ERROR("event=eventfd_failed error=\"%s\"", std::strerror(errno));
            return false;
        }
    }
    for (uint32_t w = 0; w < plan.size(); ++w) {
        WorkerProcess wp;
        wp.index = w;
        wp.placement = plan[w];
        workers_.push_back(std::move(wp));
        RC_LOG_INFO("event=plan worker=%u numa_node=%d shards=%zu cpus=%s", w, plan[w].numa_node,
                    plan[w].shards.size(), cpu_list(plan[w]).c_str());
    }
    RC_LOG_INFO("event=listening listen=%s workers=%zu shards=%u ring=%u slab_bytes=%llu",
                config_.listen.text().c_str(), workers_.size(), shard_count_, config_.ring,
                static_cast<unsigned long long>(config_.slab_bytes));
    return true;
}

worker::WorkerOptions Supervisor::options_for(const WorkerProcess& w) const {
    worker::WorkerOptions o;
    o.index = w.index;
    o.segment = segment_->path();
    o.numa_node = w.placement.numa_node;
    for (const auto& s : w.placement.shards) {
        o.shards.push_back(worker::ShardOptions{s.member, listeners_[s.member].get(), s.cpu});
    }
    for (const auto& fd : wake_fds_) o.wake_fds.push_back(fd.get());
    o.settings = worker_settings(config_);
    o.log_level = static_cast<int>(config_.log_level);
    return o;
}

// Forks and execs `ringcast <role_flag> <spec>` with only `keep_fds` (and a fresh command
// channel, whose far end is appended to the spec by `spec_for`) crossing exec. *channel gets
// the supervisor's end. Returns the pid or -1.
pid_t Supervisor::fork_exec(const char* role_flag, const std::function<std::string(int channel_fd)>& spec_for,
                            std::vector<int> keep_fds, Fd* channel) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        RC_LOG_ERROR("event=socketpair_failed role=%s error=\"%s\"", role_flag, std::strerror(errno));
        return -1;
    }
    Fd ours(sv[0]), theirs(sv[1]);
    std::string spec = spec_for(theirs.get());
    keep_fds.push_back(theirs.get());
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        RC_LOG_ERROR("event=fork_failed role=%s error=\"%s\"", role_flag, std::strerror(errno));
        return -1;
    }
    if (pid == 0) {
        // Child: die with the supervisor; exit at once if it is already gone.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int fd : keep_fds) fcntl(fd, F_SETFD, 0);
        const char* argv[] = {self_exe_.c_str(), role_flag, spec.c_str(), nullptr};
        execv(self_exe_.c_str(), const_cast<char* const*>(argv));
        std::fprintf(stderr, "ringcast: exec %s: %s\n", self_exe_.c_str(), std::strerror(errno));
        _exit(127);
    }
    *channel = std::move(ours);
    return pid;
}

// One worker process for `w`'s placement. `handoff_fd` (or -1) is the socket on which it
// receives a running worker's connections.
pid_t Supervisor::fork_worker(const WorkerProcess& w, int handoff_fd, Fd* channel) {
    worker::WorkerOptions opts = options_for(w);
    opts.handoff_fd = handoff_fd;
    std::vector<int> keep;
    for (const auto& sh : opts.shards) keep.push_back(sh.listen_fd);
    for (int fd : opts.wake_fds) keep.push_back(fd);
    if (handoff_fd >= 0) keep.push_back(handoff_fd);
    return fork_exec(
        "--worker",
        [&opts](int channel_fd) {
            opts.control_fd = channel_fd;
            return encode_worker_spec(opts);
        },
        std::move(keep), channel);
}

bool Supervisor::spawn(WorkerProcess& w) {
    for (const auto& s : w.placement.shards) shm::mark_starting(*segment_, s.member, 0);
    pid_t pid = fork_worker(w, -1, &w.channel);
    if (pid < 0) return false;
    w.pid = pid;
    w.incarnation++;
    w.started_ns = monotonic_ns();
    w.restart_at_ns = 0;
    w.announced_ready = false;
    for (const auto& s : w.placement.shards) segment_->control(s.member).pid.store(pid, std::memory_order_relaxed);
    RC_LOG_INFO("event=worker_started worker=%u pid=%d incarnation=%u cpus=%s", w.index, pid, w.incarnation,
                cpu_list(w.placement).c_str());
    return true;
}

void Supervisor::on_worker_exit(WorkerProcess& w, int status) {
    // No producer may wait on its cursors from now on.
    for (const auto& s : w.placement.shards) shm::mark_dead(*segment_, s.member);
    std::string how = WIFSIGNALED(status) ? std::string("signal=") + strsignal(WTERMSIG(status))
                                          : "code=" + std::to_string(WEXITSTATUS(status));
    w.pid = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitFatal) {
        RC_LOG_ERROR("event=worker_fatal worker=%u %s reason=\"the worker cannot run on this host (see its error above); not restarting\"",
                     w.index, how.c_str());
        fatal_ = true;
        return;
    }
    if (draining_) {
        RC_LOG_INFO("event=worker_drained worker=%u %s", w.index, how.c_str());
        return;
    }
    uint64_t now = monotonic_ns();
    if (now - w.started_ns >= kStableNs || w.backoff_ms == 0) {
        w.backoff_ms = kInitialBackoffMs;
    } else {
        w.backoff_ms = std::min(w.backoff_ms * 2, kMaxBackoffMs);
    }
    w.restart_at_ns = now + w.backoff_ms * kMs;
    w.restarts++;
    RC_LOG_WARN("event=worker_died worker=%u %s restart_in_ms=%llu", w.index, how.c_str(),
                static_cast<unsigned long long>(w.backoff_ms));
}

void Supervisor::reap() {
    while (true) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        if (restart_on_exit(pid, status)) continue;
        if (pid == bridge_.pid) {
            on_bridge_exit(status);
            continue;
        }
        for (auto& w : workers_) {
            if (w.pid == pid) on_worker_exit(w, status);
        }
    }
}

// ---- hot restart ---------------------------------------------------------------------------

namespace {

constexpr uint64_t kRestartTimeoutNs = 30000 * kMs;

std::string describe_exit(int status) {
    return WIFSIGNALED(status) ? std::string("signal ") + strsignal(WTERMSIG(status))
                               : "exit code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

std::string Supervisor::start_restart(const std::string& target,
                                      std::function<void(bool, const std::string&)> finish) {
    if (restart_.active) {
        return "a restart is already running (worker " + std::to_string(restart_.queue.front()) + ")";
    }
    std::vector<uint32_t> queue;
    if (target == "all") {
        for (const auto& w : workers_) queue.push_back(w.index);
    } else {
        char* end = nullptr;
        unsigned long n = std::strtoul(target.c_str(), &end, 10);
        if (target.empty() || *end != '\0' || n >= workers_.size()) {
            return "no such worker: " + target + " (workers are 0.." + std::to_string(workers_.size() - 1) + ")";
        }
        queue.push_back(static_cast<uint32_t>(n));
    }
    restart_ = RestartOp{};
    restart_.active = true;
    restart_.drain = config_.restart_mode == "drain";
    restart_.queue = std::move(queue);
    restart_.finish = std::move(finish);
    restart_next();
    return "";
}

// Starts the restart of the worker at the front of the queue.
void Supervisor::restart_next() {
    if (restart_.queue.empty()) {
        std::string msg;
        for (const auto& d : restart_.done) msg += (msg.empty() ? "" : "; ") + d;
        restart_finish(true, msg);
        return;
    }
    WorkerProcess& w = workers_[restart_.queue.front()];
    restart_.deadline_ns = monotonic_ns() + kRestartTimeoutNs;
    restart_.old_pid = w.pid;
    restart_.old_gone = false;
    restart_.new_pid = -1;
    if (w.pid <= 0) {
        // Not running (crashed, waiting for its backoff): start it now.
        restart_.old_gone = true;
        if (!spawn(w)) restart_finish(false, "worker " + std::to_string(w.index) + ": fork failed");
        return;
    }
    if (restart_.drain) {
        RC_LOG_INFO("event=restart_begin worker=%u mode=drain old_pid=%d", w.index, w.pid);
        if (!send_command(w.channel.get(), "drain", -1)) kill(w.pid, SIGTERM);
        return;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        restart_finish(false, std::string("socketpair: ") + std::strerror(errno));
        return;
    }
    Fd old_end(sv[0]), new_end(sv[1]);
    pid_t pid = fork_worker(w, new_end.get(), &restart_.new_channel);
    if (pid < 0) {
        restart_finish(false, "worker " + std::to_string(w.index) + ": fork failed");
        return;
    }
    restart_.new_pid = pid;
    RC_LOG_INFO("event=restart_begin worker=%u mode=handoff old_pid=%d new_pid=%d", w.index, w.pid, pid);
    if (!send_command(w.channel.get(), "handoff", old_end.get())) {
        // The old worker cannot hear us: the new one finds no state and starts fresh once
        // the old is gone; stop it rather than run two owners.
        kill(pid, SIGKILL);
    }
}

void Supervisor::restart_finish(bool ok, const std::string& message) {
    RC_LOG_INFO("event=restart_%s detail=\"%s\"", ok ? "done" : "failed", message.c_str());
    auto finish = std::move(restart_.finish);
    restart_ = RestartOp{};
    if (finish) finish(ok, message);
}

// Called for every reaped pid; true when the restart in progress accounted for it.
bool Supervisor::restart_on_exit(pid_t pid, int status) {
    if (!restart_.active || restart_.queue.empty()) return false;
    WorkerProcess& w = workers_[restart_.queue.front()];
    if (pid == restart_.new_pid) {
        // The new process died before the old one let go: the old one resumes serving.
        restart_finish(false, "worker " + std::to_string(w.index) + ": the new process exited during the handoff (" +
                                  describe_exit(status) + "); the old one keeps serving");
        return true;
    }
    if (pid != restart_.old_pid || w.pid != pid) return false;
    if (restart_.drain) {
        // Drained: its clients were told 1012; start the replacement at once.
        for (const auto& s : w.placement.shards) shm::mark_dead(*segment_, s.member);
        w.pid = -1;
        restart_.old_gone = true;
        if (!spawn(w)) restart_finish(false, "worker " + std::to_string(w.index) + ": fork failed");
        return true;
    }
    // Handoff: the old process exits 0 after the new one acknowledged every member. If it
    // died instead, the new one adopts what arrived whole and starts the rest fresh.
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    w.pid = restart_.new_pid;
    w.channel = std::move(restart_.new_channel);
    w.version.clear();
    read_worker_channel(w);  // its "version" line may already wait there
    w.incarnation++;
    w.hot_restarts++;
    w.started_ns = monotonic_ns();
    w.announced_ready = false;
    for (const auto& s : w.placement.shards) segment_->control(s.member).pid.store(w.pid, std::memory_order_relaxed);
    std::string line = "worker " + std::to_string(w.index) + ": pid " + std::to_string(restart_.old_pid) + " -> " +
                       std::to_string(w.pid) + (clean ? "" : " (the old process died mid-handoff: " + describe_exit(status) + ")");
    RC_LOG_INFO("event=worker_handed_over worker=%u old_pid=%d new_pid=%d clean=%d", w.index, restart_.old_pid, w.pid,
                clean);
    restart_.done.push_back(line);
    restart_.queue.erase(restart_.queue.begin());
    restart_next();
    return true;
}

// Deadlines, and the drain path's wait for the fresh worker to be ready.
void Supervisor::restart_step(uint64_t now) {
    if (!restart_.active || restart_.queue.empty()) return;
    WorkerProcess& w = workers_[restart_.queue.front()];
    if (restart_.old_gone) {
        if (w.announced_ready) {
            restart_.done.push_back("worker " + std::to_string(w.index) + ": pid " +
                                    (restart_.old_pid > 0 ? std::to_string(restart_.old_pid) + " -> " : "") +
                                    std::to_string(w.pid) + (restart_.drain ? " (drained)" : " (started)"));
            w.hot_restarts++;
            restart_.queue.erase(restart_.queue.begin());
            restart_next();
        } else if (now >= restart_.deadline_ns) {
            restart_finish(false, "worker " + std::to_string(w.index) + ": not ready in time");
        }
        return;
    }
    if (now >= restart_.deadline_ns && restart_.new_pid > 0) {
        RC_LOG_WARN("event=restart_timeout worker=%u new_pid=%d", w.index, restart_.new_pid);
        kill(restart_.new_pid, SIGKILL);  // reaped above: the old one resumes
        restart_.deadline_ns = UINT64_MAX;
    }
}

void Supervisor::restart_due(uint64_t now) {
    for (auto& w : workers_) {
        if (w.pid < 0 && w.restart_at_ns != 0 && now >= w.restart_at_ns) spawn(w);
    }
}

void Supervisor::check_ready() {
    bool all = true;
    for (auto& w : workers_) {
        bool live = w.pid > 0;
        for (const auto& s : w.placement.shards) {
            live = live && segment_->control(s.member).state.load(std::memory_order_acquire) ==
                               static_cast<uint32_t>(shm::MemberState::Live);
        }
        if (live && !w.announced_ready) {
            w.announced_ready = true;
            RC_LOG_INFO("event=worker_ready worker=%u pid=%d incarnation=%u", w.index, w.pid, w.incarnation);
        }
        all = all && live;
    }
    if (all && !ready_announced_) {
        ready_announced_ = true;
        RC_LOG_INFO("event=ready listen=%s workers=%zu shards=%u control=%s metrics=%s", config_.listen.text().c_str(),
                    workers_.size(), shard_count_, config_.control_socket.c_str(),
                    config_.metrics_listen.empty() ? "off" : config_.metrics_listen.c_str());
        notify_status("serving " + config_.listen.text() + " with " + std::to_string(workers_.size()) + " workers, " +
                      std::to_string(shard_count_) + " shards");
        notify_ready();
    }
}

void Supervisor::print_stats() {
    uint64_t conns = 0, msgs = 0;
    for (uint32_t m = 0; m < segment_->members(); ++m) {
        const auto& st = segment_->control(m).stats;
        conns += st.connections.load(std::memory_order_relaxed);
        msgs += st.messages_in.load(std::memory_order_relaxed);
    }
    time_t t = time(nullptr);
    tm tmv{};
    localtime_r(&t, &tmv);
    std::printf("[%02d:%02d:%02d] Conns: %llu, Msgs: %llu\n", tmv.tm_hour, tmv.tm_min, tmv.tm_sec,
                static_cast<unsigned long long>(conns), static_cast<unsigned long long>(msgs));
    std::fflush(stdout);
}

int Supervisor::shutdown(const char* why) {
    notify_stopping();
    notify_status(std::string("stopping: ") + why);
    RC_LOG_INFO("event=shutdown reason=%s", why);
    if (restart_.active) {
        if (restart_.new_pid > 0) kill(restart_.new_pid, SIGKILL);
        restart_finish(false, "the server is shutting down");
    }
    // The workers close every client with 1001 after flushing; we wait for them, bounded.
    for (auto& w : workers_) {
        if (w.pid > 0) kill(w.pid, SIGTERM);
    }
    stop_bridge();  // it relays what it still holds, bounded in time
    const uint64_t deadline = monotonic_ns() + static_cast<uint64_t>(config_.shutdown_timeout_ms) * kMs;
    while (true) {
        bool any = false;
        for (auto& w : workers_) {
            if (w.pid <= 0) continue;
            int status = 0;
            pid_t r = waitpid(w.pid, &status, WNOHANG);
            if (r == w.pid) {
                w.pid = -1;
            } else {
                any = true;
            }
        }
        if (bridge_.pid > 0) {
            if (waitpid(bridge_.pid, nullptr, WNOHANG) == bridge_.pid) {
                bridge_.pid = -1;
            } else {
                any = true;
            }
        }
        if (!any) break;
        if (monotonic_ns() >= deadline) {
            if (bridge_.pid > 0) {
                RC_LOG_WARN("event=bridge_kill pid=%d reason=shutdown_timeout", bridge_.pid);
                kill(bridge_.pid, SIGKILL);
                waitpid(bridge_.pid, nullptr, 0);
                bridge_.pid = -1;
            }
            for (auto& w : workers_) {
                if (w.pid > 0) {
                    RC_LOG_WARN("event=worker_kill worker=%u pid=%d reason=shutdown_timeout", w.index, w.pid);
                    kill(w.pid, SIGKILL);
                    waitpid(w.pid, nullptr, 0);
                    w.pid = -1;
                }
            }
            break;
        }
        usleep(10000);
    }
    listeners_.clear();
    RC_LOG_INFO("event=stopped");
    return fatal_ ? 1 : 0;
}

int Supervisor::run() {
    log::set_origin("supervisor");
    log::threshold().store(static_cast<int>(config_.log_level), std::memory_order_relaxed);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    sigaddset(&sigs, SIGUSR2);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGQUIT);
    sigprocmask(SIG_BLOCK, &sigs, nullptr);
    signal_fd_ = Fd(signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK));

    if (!setup()) return 1;
    for (auto& w : workers_) {
        if (!spawn(w)) return shutdown("fork_failed");
    }
    // The bridge is not needed to serve: if it cannot start, local broadcast goes on.
    if (bridge_enabled() && !spawn_bridge(false)) bridge_.restart_at_ns = monotonic_ns() + kMaxBackoffMs * kMs;
    started_ns_ = monotonic_ns();
    uint64_t next_stats = started_ns_ + static_cast<uint64_t>(config_.stats_interval_ms) * kMs;
    uint64_t watchdog_us = 0;
    const bool watchdog = watchdog_enabled(&watchdog_us);
    uint64_t next_watchdog = started_ns_;
    std::vector<pollfd> fds;
    while (true) {
        fds.assign(1, pollfd{signal_fd_.get(), POLLIN, 0});
        if (control_) control_->add_pollfds(fds);
        if (metrics_) metrics_->add_pollfds(fds);
        const size_t channels_at = fds.size();
        for (const auto& w : workers_) fds.push_back(pollfd{w.channel.valid() ? w.channel.get() : -1, POLLIN, 0});
        fds.push_back(pollfd{bridge_.channel.valid() ? bridge_.channel.get() : -1, POLLIN, 0});
        poll(fds.data(), fds.size(), 20);
        for (size_t i = 0; i < workers_.size(); ++i) {
            if (fds[channels_at + i].revents & POLLIN) read_worker_channel(workers_[i]);
        }
        if (fds.back().revents & POLLIN) read_bridge_channel();
        signalfd_siginfo si{};
        while (::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
            if (si.ssi_signo == SIGCHLD) {
                reap();
            } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                return shutdown(si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            } else if (si.ssi_signo == SIGUSR2) {
                // Roll every worker onto the binary now on disk, one at a time.
                std::string refused = start_restart("all", nullptr);
                if (!refused.empty()) RC_LOG_WARN("event=restart_refused reason=\"%s\"", refused.c_str());
                // An upgrade rolls the bridge onto the new binary too (it keeps its place).
                if (bridge_enabled() && bridge_.pid > 0) {
                    refused = restart_bridge(nullptr);
                    if (!refused.empty()) RC_LOG_WARN("event=restart_refused target=bridge reason=\"%s\"", refused.c_str());
                }
            } else if (si.ssi_signo == SIGHUP) {
                reload();
            } else if (si.ssi_signo == SIGQUIT) {
                drain();
            }
        }
        if (control_) control_->on_poll(fds, *this);
        if (metrics_) metrics_->on_poll(fds, *this);
        if (conn_query_.active && monotonic_ns() >= conn_query_.deadline_ns) finish_connection_query();
        if (shutdown_requested_) return shutdown("control");
        if (fatal_) return shutdown("worker_fatal");
        uint64_t now = monotonic_ns();
        if (!draining_) restart_due(now);
        check_ready();
        restart_step(now);
        bridge_step(now);
        if (config_.stats_interval_ms > 0 && now >= next_stats) {
            print_stats();
            next_stats = now + static_cast<uint64_t>(config_.stats_interval_ms) * kMs;
        }
        if (watchdog && now >= next_watchdog) {
            notify_watchdog();
            next_watchdog = now + watchdog_us * 1000 / 2;
        }
    }
}

}  // namespace ringcast::supervisor
