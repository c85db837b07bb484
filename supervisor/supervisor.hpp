// The supervisor: owns the segment, the listeners and the wake eventfds, fork+execs one
// worker process per plan entry, restarts crashed workers with backoff, prints the stats
// line, and turns SIGTERM/SIGINT into a graceful cluster shutdown.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shm/segment.hpp"
#include "supervisor/config.hpp"
#include "supervisor/control_server.hpp"
#include "supervisor/metrics_server.hpp"
#include "supervisor/snapshot.hpp"
#include "supervisor/topology.hpp"
#include "base/fd.hpp"
#include "worker/options.hpp"

namespace ringcast::supervisor {

struct WorkerProcess {
    uint32_t index = 0;
    WorkerPlacement placement;
    pid_t pid = -1;
    uint32_t incarnation = 0;
    uint32_t restarts = 0;
    uint64_t started_ns = 0;
    uint64_t restart_at_ns = 0;    // 0 = not waiting to restart
    uint64_t backoff_ms = 0;
    bool announced_ready = false;
    uint32_t hot_restarts = 0;
    std::string version;           // reported by the worker process at start
    Fd channel;                    // SOCK_SEQPACKET to the worker: "handoff" (+fd), "drain"
};

// One `restart` request in progress: the workers still to go, one at a time.
struct RestartOp {
    bool active = false;
    bool drain = false;            // restart_mode "drain": close with 1012, start fresh
    std::vector<uint32_t> queue;   // workers still to restart, front = current
    pid_t new_pid = -1;            // handoff: the process taking over
    Fd new_channel;
    pid_t old_pid = -1;
    bool old_gone = false;         // drain: the old exited; waiting for the fresh one to be ready
    uint64_t deadline_ns = 0;
    std::vector<std::string> done;  // one line per finished worker, for the answer
    std::function<void(bool ok, const std::string& message)> finish;
};

// The Redis bridge (docs/bridge.md): one process, member `shards` of the ring fabric.
struct BridgeProcess {
    pid_t pid = -1;
    Fd channel;                  // "stop", "set log_level N"; it sends "version", "bridge-stats"
    uint64_t started_ns = 0;
    uint64_t restart_at_ns = 0;  // 0 = not waiting to restart
    uint64_t backoff_ms = 0;
    uint32_t restarts = 0;
    bool stopping = false;       // asked to stop: a restart or the shutdown
    bool restart_when_gone = false;
    bool fatal = false;          // cannot run here; not restarted
    std::string version;
    nlohmann::json stats = nlohmann::json::object();  // its latest "bridge-stats"
    // `restart bridge`: answered when the new process reports.
    std::function<void(bool ok, const std::string& message)> restart_done;
    pid_t restart_old_pid = -1;
    uint64_t restart_deadline_ns = 0;
};

class Supervisor : public ControlHandler, public MetricsHandler {
public:
    // `argv` is the command line as given, re-read on SIGHUP to reload the config.
    Supervisor(Config config, std::string self_exe, std::vector<std::string> argv);
    ~Supervisor() override;
    // Runs the cluster; returns the process exit code.
    int run();

    // ControlHandler / MetricsHandler.
    void on_request(const nlohmann::json& request, ControlClientId id) override;
    std::string metrics() override;
    bool ready() override;
    std::string not_ready_reason() override;
    std::string live_status() override;  // supervisor/status_page.cpp

private:
    ClusterSnapshot snapshot();
    nlohmann::json probes();
    // Applies a run-time setting; returns "" or why it was refused.
    std::string set_setting(const std::string& key, const nlohmann::json& value);
    void reload();
    void drain();
    void broadcast_command(const std::string& cmd);
    void apply_runtime_settings();
    void send_admission();
    bool setup();
    bool spawn(WorkerProcess& w);
    pid_t fork_exec(const char* role_flag, const std::function<std::string(int channel_fd)>& spec_for,
                    std::vector<int> keep_fds, Fd* channel);
    pid_t fork_worker(const WorkerProcess& w, int handoff_fd, Fd* channel);
    // Hot restart (docs/handoff.md). Returns "" when started, else why it was refused.
    std::string start_restart(const std::string& target, std::function<void(bool, const std::string&)> finish);
    void restart_next();
    void restart_step(uint64_t now);
    void restart_finish(bool ok, const std::string& message);
    bool restart_on_exit(pid_t pid, int status);
    worker::WorkerOptions options_for(const WorkerProcess& w) const;
    void reap();
    void on_worker_exit(WorkerProcess& w, int status);
    void restart_due(uint64_t now);
    void check_ready();
    // The bridge (supervisor/bridge_process.cpp).
    bool bridge_enabled() const { return config_.bridge.enabled; }
    uint32_t bridge_member() const { return shard_count_; }
    bool spawn_bridge(bool resume);
    void on_bridge_exit(int status);
    void read_bridge_channel();
    void bridge_step(uint64_t now);
    std::string restart_bridge(std::function<void(bool, const std::string&)> done);
    void stop_bridge();
    BridgeSnapshot bridge_snapshot() const;
    void print_stats();
    int shutdown(const char* why);

    Config config_;
    std::string self_exe_;
    std::unique_ptr<shm::Segment> segment_;
    std::vector<Fd> listeners_;   // one per shard (member)
    std::vector<Fd> wake_fds_;    // one per member
    std::vector<WorkerProcess> workers_;
    uint32_t shard_count_ = 0;
    bool ready_announced_ = false;
    bool fatal_ = false;
    Fd signal_fd_;
    RestartOp restart_;
    BridgeProcess bridge_;
    uint64_t epoch_ = 0;  // names this run's ring fabric to other nodes (its sequences start over)
    std::vector<std::string> argv_;
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<MetricsServer> metrics_;
    uint64_t started_ns_ = 0;
    bool draining_ = false;
    bool shutdown_requested_ = false;

    // `probes --connections`: asked of every worker over its channel, answered when all
    // replied or after a deadline.
    struct ConnectionQuery {
        bool active = false;
        ControlClientId id{};
        std::vector<uint32_t> waiting;  // worker indexes that have not answered yet
        std::string lines;              // one JSON object per line
        uint64_t deadline_ns = 0;
    } conn_query_;
    void read_worker_channel(WorkerProcess& w);
    void finish_connection_query();
};

}  // namespace ringcast::supervisor
