// The supervisor's answers: the control socket's commands (on_request), the cluster snapshot
// behind status, stats, workers, probes and /metrics, run-time settings and reload (SIGHUP),
// drain, and the `probes --connections` query over the workers' channels. Starting, reaping and
// restarting the processes is in supervisor.cpp.
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <vector>

#include "admission/jwt.hpp"
#include "base/channel.hpp"
#include "base/log.hpp"
#include "ringcast/version.hpp"
#include "supervisor/admission_settings.hpp"
#include "supervisor/backoff.hpp"
#include "supervisor/channel_top.hpp"
#include "supervisor/notify.hpp"
#include "supervisor/supervisor.hpp"
#include "worker/admission_json.hpp"

namespace ringcast::supervisor {

// ---- control socket, metrics, reload --------------------------------------------------------

namespace {

const char* member_state_name(uint32_t v) {
    switch (static_cast<shm::MemberState>(v)) {
        case shm::MemberState::Empty: return "empty";
        case shm::MemberState::Starting: return "starting";
        case shm::MemberState::Live: return "live";
        case shm::MemberState::Dead: return "dead";
    }
    return "empty";
}

}  // namespace

ClusterSnapshot Supervisor::snapshot() {
    ClusterSnapshot s;
    const uint64_t now = monotonic_ns();
    s.version = kVersion;
    s.uptime_ms = (now - started_ns_) / kMs;
    s.draining = draining_;
    s.listen = config_.listen.text();
    s.ring = config_.ring;
    s.slab_bytes = config_.slab_bytes;
    s.max_message_bytes = config_.max_message_bytes;
    s.max_buffered_bytes = config_.max_buffered_bytes;
    s.hugepages = segment_ && segment_->hugepages();
    s.channels = config_.channels;
    for (const auto& w : workers_) {
        s.worker_restarts_total += w.restarts + w.hot_restarts;
        WorkerSnapshot ws;
        ws.index = w.index;
        ws.pid = w.pid;
        ws.state = w.pid > 0 ? (w.announced_ready ? "running" : "starting") : (w.restart_at_ns ? "restarting" : "dead");
        ws.incarnation = w.incarnation;
        ws.restarts = w.restarts + w.hot_restarts;
        ws.numa_node = w.placement.numa_node;
        ws.version = w.version;
        for (const auto& p : w.placement.shards) {
            const shm::ControlBlock& cb = segment_->control(p.member);
            const shm::Stats& st = cb.stats;
            ShardSnapshot sh;
            sh.member = p.member;
            sh.cpu = p.cpu;
            sh.state = member_state_name(cb.state.load(std::memory_order_acquire));
            sh.connections = st.connections.load(std::memory_order_relaxed);
            sh.accepted = st.accepted.load(std::memory_order_relaxed);
            sh.messages_in = st.messages_in.load(std::memory_order_relaxed);
            sh.deliveries = st.deliveries.load(std::memory_order_relaxed);
            sh.bytes_in = st.bytes_in.load(std::memory_order_relaxed);
            sh.bytes_out = st.bytes_out.load(std::memory_order_relaxed);
            sh.slow_closes = st.slow_closes.load(std::memory_order_relaxed);
            sh.protocol_errors = st.protocol_errors.load(std::memory_order_relaxed);
            sh.ring_full = st.ring_full.load(std::memory_order_relaxed);
            sh.deflate_connections = st.deflate_connections.load(std::memory_order_relaxed);
            sh.deflated_messages = st.deflated_messages.load(std::memory_order_relaxed);
            sh.deflate_bytes_in = st.deflate_bytes_in.load(std::memory_order_relaxed);
            sh.deflate_bytes_out = st.deflate_bytes_out.load(std::memory_order_relaxed);
            sh.inflated_messages = st.inflated_messages.load(std::memory_order_relaxed);
            sh.inflate_errors = st.inflate_errors.load(std::memory_order_relaxed);
            for (size_t i = 0; i < shm::kCountedCloseCodeCount; ++i) {
                sh.protocol_errors_by_code.emplace_back(shm::kCountedCloseCodes[i],
                                                        st.protocol_errors_by_code[i].load(std::memory_order_relaxed));
            }
            for (size_t i = 0; i < shm::kRejectReasonCount; ++i) {
                sh.upgrades_rejected.emplace_back(
                    shm::kRejectReasonNames[i],
                    st.upgrades_rejected[i].load(std::memory_order_relaxed));
            }
            for (size_t i = 0; i < shm::kAuthFailureCount; ++i) {
                sh.auth_failures.emplace_back(
                    admission::to_string(static_cast<admission::JwtError>(i)),
                    st.auth_failures[i].load(std::memory_order_relaxed));
            }
            sh.rate_limited = st.rate_limited.load(std::memory_order_relaxed);
            sh.listener_sends = st.listener_sends.load(std::memory_order_relaxed);
            sh.token_expired = st.token_expired.load(std::memory_order_relaxed);
            sh.listeners = st.listeners.load(std::memory_order_relaxed);
            sh.authenticated = st.authenticated.load(std::memory_order_relaxed);
            sh.channels = st.channels.load(std::memory_order_relaxed);
            sh.channel_messages = st.channel_messages.load(std::memory_order_relaxed);
            // A list that keeps changing while read is left out of this snapshot only.
            if (auto top = read_channel_top(cb.channel_top)) sh.top_channels = std::move(*top);
            // Pairs with the release in Producer::publish().
            sh.ring_head = segment_->ring(p.member).hdr->head.load(std::memory_order_acquire);
            sh.ring_capacity = config_.ring;
            uint64_t low = sh.ring_head;
            for (uint32_t c = 0; c < segment_->members(); ++c) {
                if (segment_->control(c).state.load(std::memory_order_acquire) !=
                    static_cast<uint32_t>(shm::MemberState::Live)) {
                    continue;
                }
                // Pairs with the release in Consumer::release().
                low = std::min(low, segment_->cursor(c, p.member).load(std::memory_order_acquire));
            }
            sh.ring_occupancy = sh.ring_head - low;
            uint64_t beat = cb.heartbeat_ns.load(std::memory_order_relaxed);
            sh.heartbeat_age_ms = beat && now > beat ? (now - beat) / kMs : 0;
            ws.shards.push_back(std::move(sh));
        }
        s.workers.push_back(std::move(ws));
    }
    s.bridge = bridge_snapshot();
    return s;
}

nlohmann::json Supervisor::probes() {
    // Liveness as the supervisor sees it: each shard's heartbeat age (shards beat every
    // reactor pass, at least every 50 ms) and the ring occupancy, flagged when worrying.
    nlohmann::json out = nlohmann::json::array();
    ClusterSnapshot s = snapshot();
    bool healthy = !s.workers.empty();
    for (const auto& w : s.workers) {
        for (const auto& sh : w.shards) {
            bool stale = sh.state == "live" && sh.heartbeat_age_ms > 1000;
            bool full = sh.ring_capacity && sh.ring_occupancy * 4 >= sh.ring_capacity * 3;
            healthy = healthy && sh.state == "live" && !stale;
            const shm::Stats& st = segment_->control(sh.member).stats;
            const uint64_t loops = st.loop_iterations.load(std::memory_order_relaxed);
            const uint64_t cqes = st.completions.load(std::memory_order_relaxed);
            // Slab in use: from the oldest record a live consumer still holds to the producer's
            // head. A probe reads it racily; the figure is a sample, not a contract.
            shm::RingView ring = segment_->ring(sh.member);
            const uint64_t oldest = sh.ring_head - sh.ring_occupancy;
            uint64_t slab_used = 0;
            if (sh.ring_occupancy > 0) {
                const shm::Descriptor& d = ring.slots[oldest & (ring.capacity - 1)];
                const uint64_t head_pos = ring.hdr->slab_head.load(std::memory_order_relaxed);
                slab_used = head_pos > d.slab_pos ? head_pos - d.slab_pos : 0;
            }
            out.push_back({{"worker", w.index},
                           {"member", sh.member},
                           {"state", sh.state},
                           {"loop_iterations", loops},
                           {"completions", cqes},
                           {"completions_per_iteration", loops ? static_cast<double>(cqes) / static_cast<double>(loops) : 0.0},
                           {"heartbeat_age_ms", sh.heartbeat_age_ms},
                           {"ring_head", sh.ring_head},
                           {"ring_occupancy", sh.ring_occupancy},
                           {"oldest_unreleased_seq", oldest},
                           {"slab_used_bytes", slab_used},
                           {"slab_bytes", ring.slab_bytes},
                           {"ok", sh.state == "live" && !stale && !full}});
        }
    }
    return {{"healthy", healthy}, {"ready", ready()}, {"shards", out}};
}

void Supervisor::broadcast_command(const std::string& cmd) {
    for (auto& w : workers_) {
        if (w.pid > 0 && w.channel.valid()) send_command(w.channel.get(), cmd, -1);
    }
}

// Every worker gets the whole admission settings and re-reads the key files they name; a
// worker started later gets them on its command line.
void Supervisor::send_admission() {
    const std::string cmd =
        "admission " + worker::admission_to_json(admission_settings(config_)).dump();
    if (cmd.size() > kMaxCommandBytes) {  // the config's bounds keep it well under
        RC_LOG_ERROR("event=admission_not_sent reason=\"%zu bytes, more than a command holds\"",
                     cmd.size());
        return;
    }
    broadcast_command(cmd);
}

namespace {

// Settings that can change while running; everything else needs a restart of the workers
// (restart all) after editing the config file, or a reload (SIGHUP).
// clang-format off
constexpr const char* kRuntime[] = {
    "log_level", "max_buffered_bytes", "stats_interval_ms",
    "allowed_origins", "allow_missing_origin", "max_connections", "max_connections_per_ip",
    "handshake_timeout_ms", "rate_limit", "auth"};
// clang-format on

std::string runtime_list() {
    std::string list;
    for (const char* k : kRuntime) list += (list.empty() ? "" : ", ") + std::string(k);
    return list;
}

}  // namespace

std::string Supervisor::set_setting(const std::string& key, const nlohmann::json& value) {
    nlohmann::json patch = {{key, value}};
    // Unknown keys and bad values are named first, as in a config file; `auth` with a key file
    // loads the key here, so a bad one is refused before any worker hears of it.
    auto parsed = parse_config_json(patch.dump(), config_);
    if (auto* err = std::get_if<ConfigError>(&parsed)) return err->message();
    bool runtime = false;
    for (const char* k : kRuntime) runtime = runtime || key == k;
    if (!runtime)
        return "cannot change " + key + " at run time (run-time settings: " + runtime_list() + ")";
    Config next = std::get<Config>(parsed);
    if (auto err = validate(next)) return err->message();
    for (const auto& w : next.notes.warnings)
        RC_LOG_WARN("event=config_warning reason=\"%s\"", w.c_str());
    const bool admission =
        !(admission_settings(next) == admission_settings(config_)) || key == "auth";
    config_ = next;
    apply_runtime_settings();
    if (admission) send_admission();
    RC_LOG_INFO("event=set key=%s value=%s", key.c_str(), value.dump().c_str());
    return "";
}

void Supervisor::reload() {
    notify_reloading();
    std::vector<const char*> args;
    for (const auto& a : argv_) args.push_back(a.c_str());
    auto parsed = parse_command_line(static_cast<int>(args.size()), args.data());
    if (auto* err = std::get_if<ConfigError>(&parsed)) {
        // An invalid new config changes nothing.
        RC_LOG_ERROR("event=reload_refused error=\"%s\"", err->message().c_str());
        notify_ready();
        return;
    }
    const Config next = std::get<CommandLine>(parsed).config;
    for (const auto& w : next.notes.warnings) RC_LOG_WARN("event=config_warning reason=\"%s\"", w.c_str());
    Config runtime_only = config_;
    runtime_only.log_level = next.log_level;
    runtime_only.max_buffered_bytes = next.max_buffered_bytes;
    runtime_only.stats_interval_ms = next.stats_interval_ms;
    copy_admission(next, runtime_only);  // sent to the running workers below
    bool needs_restart = !(runtime_only == next);
    // Topology, listeners and the segment stay as they are; settings the workers read at
    // start reach them through a rolling restart.
    const bool topology_changed = next.listen != config_.listen || next.worker_processes != config_.worker_processes ||
                                  next.shards != config_.shards || next.numa_node != config_.numa_node ||
                                  next.ring != config_.ring || next.slab_bytes != config_.slab_bytes ||
                                  next.hugepages != config_.hugepages || next.control_socket != config_.control_socket ||
                                  next.metrics_listen != config_.metrics_listen;
    if (topology_changed) {
        RC_LOG_WARN("event=reload_partial reason=\"listen, worker_processes, shards, numa_node, ring, slab_bytes, hugepages, control_socket and metrics_listen take effect only on a full restart\"");
    }
    Config keep = next;
    keep.listen = config_.listen;
    keep.worker_processes = config_.worker_processes;
    keep.shards = config_.shards;
    keep.numa_node = config_.numa_node;
    keep.ring = config_.ring;
    keep.slab_bytes = config_.slab_bytes;
    keep.hugepages = config_.hugepages;
    keep.control_socket = config_.control_socket;
    keep.metrics_listen = config_.metrics_listen;
    const bool bridge_changed = !(keep.bridge == config_.bridge);
    keep.bridge = config_.bridge;  // the bridge is restarted below, not the workers
    needs_restart = needs_restart && !(runtime_only == keep);
    keep.bridge = next.bridge;
    // A key file named as before may hold a new key (a rotation): the workers read it again.
    const bool has_key_file =
        !keep.auth.jwt.hmac_secret_file.empty() || !keep.auth.jwt.public_key_file.empty();
    const bool admission =
        has_key_file || !(admission_settings(keep) == admission_settings(config_));
    config_ = keep;
    if (bridge_changed) {
        // Its settings reach it by a restart of the bridge alone (its place is kept).
        if (!config_.bridge.enabled) {
            stop_bridge();
        } else if (bridge_.pid > 0) {
            std::string refused = restart_bridge(nullptr);
            if (!refused.empty()) RC_LOG_WARN("event=reload_bridge_refused reason=\"%s\"", refused.c_str());
        } else {
            bridge_.fatal = false;
            if (!spawn_bridge(false)) bridge_.restart_at_ns = monotonic_ns() + kMaxBackoffMs * kMs;
        }
    }
    apply_runtime_settings();
    if (admission) send_admission();
    RC_LOG_INFO("event=reload applied=runtime admission=%d rolling_restart=%d", admission,
                needs_restart);
    if (needs_restart) {
        std::string refused = start_restart("all", nullptr);
        if (!refused.empty()) RC_LOG_WARN("event=reload_restart_refused reason=\"%s\"", refused.c_str());
    }
    notify_ready();
}

// The run-time settings of config_ take effect here and in every running worker.
void Supervisor::apply_runtime_settings() {
    log::threshold().store(static_cast<int>(config_.log_level), std::memory_order_relaxed);
    broadcast_command("set log_level " + std::to_string(static_cast<int>(config_.log_level)));
    broadcast_command("set max_buffered_bytes " + std::to_string(config_.max_buffered_bytes));
    if (bridge_.pid > 0 && bridge_.channel.valid()) {
        send_command(bridge_.channel.get(), "set log_level " + std::to_string(static_cast<int>(config_.log_level)), -1);
    }
}

void Supervisor::drain() {
    if (draining_) return;
    draining_ = true;
    RC_LOG_INFO("event=drain");
    broadcast_command("drain 1001");
}

void Supervisor::on_request(const nlohmann::json& req, ControlClientId id) {
    const std::string cmd = req.value(control::kCmd, std::string());
    if (cmd == control::kStatus) {
        control_->reply(id, ok_reply(status_json(snapshot())));
    } else if (cmd == control::kWorkers) {
        control_->reply(id, ok_reply(workers_json(snapshot())));
    } else if (cmd == control::kStats) {
        control_->reply(id, ok_reply(stats_json(snapshot())));
    } else if (cmd == control::kChannels) {
        // Every shard's lists hold at most kTopChannels each; more could never be filled.
        const uint64_t most = uint64_t{shm::kTopChannels} * std::max<uint64_t>(1, shard_count_);
        uint64_t top = control::kDefaultTopChannels;
        if (req.contains(control::kTop)) {
            const auto& n = req[control::kTop];
            if (!n.is_number_unsigned() || n.get<uint64_t>() < 1 || n.get<uint64_t>() > most) {
                control_->reply(id, error_reply("channels: \"top\" must be an integer between 1 and " +
                                                std::to_string(most) + ", got " + n.dump()));
                return;
            }
            top = n.get<uint64_t>();
        }
        control_->reply(id, ok_reply(channels_json(snapshot(), top)));
    } else if (cmd == control::kProbes && req.value(control::kConnections, false)) {
        if (conn_query_.active) {
            control_->reply(id, error_reply("probes --connections: another listing is in progress"));
            return;
        }
        conn_query_ = ConnectionQuery{};
        conn_query_.active = true;
        conn_query_.id = id;
        conn_query_.deadline_ns = monotonic_ns() + 3000 * kMs;
        for (auto& w : workers_) {
            if (w.pid > 0 && w.channel.valid() && send_command(w.channel.get(), "connections", -1)) {
                conn_query_.waiting.push_back(w.index);
            }
        }
        if (conn_query_.waiting.empty()) finish_connection_query();
    } else if (cmd == control::kProbes) {
        control_->reply(id, ok_reply(probes()));
    } else if (cmd == control::kRestart) {
        std::string target;
        if (!req.contains(control::kWorker)) {
            control_->reply(id, error_reply("restart: missing \"worker\" (a worker index or \"all\")"));
            return;
        }
        const auto& w = req[control::kWorker];
        if (w.is_number_unsigned()) {
            target = std::to_string(w.get<uint64_t>());
        } else if (w.is_string()) {
            target = w.get<std::string>();
        } else {
            control_->reply(id, error_reply("restart: \"worker\" must be a worker index or \"all\""));
            return;
        }
        if (draining_) {
            control_->reply(id, error_reply("restart: the server is draining"));
            return;
        }
        ControlServer* server = control_.get();
        if (target == control::kBridge) {
            std::string refused = restart_bridge([server, id](bool ok, const std::string& message) {
                server->reply(id, ok ? ok_reply({{"restarted", message}}) : error_reply("restart failed: " + message));
            });
            if (!refused.empty()) control_->reply(id, error_reply("restart refused: " + refused));
            return;
        }
        std::string refused = start_restart(target, [server, id](bool ok, const std::string& message) {
            server->reply(id, ok ? ok_reply({{"restarted", message}}) : error_reply("restart failed: " + message));
        });
        if (!refused.empty()) control_->reply(id, error_reply("restart refused: " + refused));
    } else if (cmd == control::kSet) {
        if (!req.contains(control::kKey) || !req[control::kKey].is_string() || !req.contains(control::kValue)) {
            control_->reply(id, error_reply("set: needs \"key\" (string) and \"value\""));
            return;
        }
        std::string refused = set_setting(req[control::kKey].get<std::string>(), req[control::kValue]);
        control_->reply(id, refused.empty() ? ok_reply({{control::kKey, req[control::kKey]}, {control::kValue, req[control::kValue]}})
                                            : error_reply("set: " + refused));
    } else if (cmd == control::kDrain) {
        drain();
        control_->reply(id, ok_reply({{"draining", true}}));
    } else if (cmd == control::kShutdown) {
        control_->reply(id, ok_reply({{"shutting_down", true}}));
        shutdown_requested_ = true;
    } else {
        control_->reply(id, error_reply("unknown command: " + cmd));
    }
}

std::string Supervisor::metrics() { return render_prometheus(snapshot()); }

bool Supervisor::ready() {
    if (draining_ || workers_.empty()) return false;
    for (const auto& w : workers_) {
        if (w.pid <= 0 || !w.announced_ready) return false;
    }
    return true;
}

std::string Supervisor::not_ready_reason() { return draining_ ? "draining" : "starting"; }

}  // namespace ringcast::supervisor

namespace ringcast::supervisor {

void Supervisor::read_worker_channel(WorkerProcess& w) {
    std::string buf(64 * 1024, '\0');
    ssize_t n = recv(w.channel.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) return;  // EOF: the worker is gone; SIGCHLD tells the rest
    buf.resize(static_cast<size_t>(n));
    if (buf.rfind("version ", 0) == 0) {
        w.version = buf.substr(8);
        return;
    }
    if (!conn_query_.active) return;
    static const std::string kChunk = "connections ";
    if (buf.rfind(kChunk, 0) == 0) {
        conn_query_.lines.append(buf, kChunk.size());
    } else if (buf == "connections-end") {
        std::erase(conn_query_.waiting, w.index);
        if (conn_query_.waiting.empty()) finish_connection_query();
    }
}

void Supervisor::finish_connection_query() {
    nlohmann::json list = nlohmann::json::array();
    size_t start = 0;
    while (start < conn_query_.lines.size()) {
        size_t end = conn_query_.lines.find('\n', start);
        if (end == std::string::npos) end = conn_query_.lines.size();
        auto j = nlohmann::json::parse(conn_query_.lines.begin() + static_cast<long>(start),
                                       conn_query_.lines.begin() + static_cast<long>(end), nullptr, false);
        if (!j.is_discarded()) list.push_back(std::move(j));
        start = end + 1;
    }
    nlohmann::json answer = ok_reply({{"connections", std::move(list)}});
    if (!conn_query_.waiting.empty()) {
        answer["incomplete"] = true;
        answer["workers_not_answering"] = conn_query_.waiting;
    }
    if (control_) control_->reply(conn_query_.id, answer);
    conn_query_ = ConnectionQuery{};
}

}  // namespace ringcast::supervisor
