// The worker process: attaches the segment, binds memory to its NUMA node, runs one
// reactor thread per shard, turns SIGTERM/SIGINT into a graceful close of every client,
// and carries out the supervisor's hot-restart commands (docs/handoff.md).
#include <hwloc.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "ringcast/version.hpp"
#include "shm/segment.hpp"
#include "base/channel.hpp"
#include "base/exit_code.hpp"
#include "base/fd.hpp"
#include "worker/handoff.hpp"
#include "base/log.hpp"
#include "worker/admission_json.hpp"
#include "worker/admission_policy.hpp"
#include "worker/options.hpp"
#include "worker/shard.hpp"

namespace ringcast::worker {

namespace {

constexpr int kHandoffTimeoutMs = 15000;

// io_uring may be compiled out, disabled by sysctl or blocked by seccomp: say which, once.
bool probe_io_uring() {
    io_uring ring{};
    int rc = io_uring_queue_init(2, &ring, 0);
    if (rc < 0) {
        RC_LOG_ERROR("event=io_uring_unavailable error=\"%s\" hint=\"%s\"", std::strerror(-rc),
                     rc == -EPERM ? "kernel.io_uring_disabled is set or a seccomp profile blocks io_uring_setup"
                                  : "this kernel lacks io_uring (Linux 6.0+ needed)");
        return false;
    }
    io_uring_queue_exit(&ring);
    return true;
}

void bind_memory(int node) {
    if (node < 0) return;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return;
    // On a one-node machine there is nothing to bind to (and the call may be unsupported).
    if (hwloc_topology_load(topo) == 0 && hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) > 1) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(node));
        if (obj && hwloc_set_membind(topo, obj->nodeset, HWLOC_MEMBIND_BIND,
                                     HWLOC_MEMBIND_PROCESS | HWLOC_MEMBIND_BYNODESET) != 0) {
            RC_LOG_WARN("event=membind_failed node=%d error=\"%s\"", node, std::strerror(errno));
        }
    }
    hwloc_topology_destroy(topo);
}

void pin_thread(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0) RC_LOG_WARN("event=pin_failed cpu=%d error=\"%s\"", cpu, std::strerror(rc));
}

bool wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

// New process: collect every member's state from the old one (until all Ends, EOF or
// timeout). Members whose state did not arrive whole start fresh.
void receive_handoff(int sock, std::vector<std::unique_ptr<Shard>>& shards, const WorkerOptions& options,
                     uint32_t members) {
    std::vector<handoff::Incoming> incoming(members);
    auto all_complete = [&] {
        for (const auto& so : options.shards) {
            if (!incoming[so.member].complete) return false;
        }
        return true;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHandoffTimeoutMs);
    while (!all_complete()) {
        int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
        if (left <= 0 || !wait_readable(sock, left)) {
            RC_LOG_WARN("event=handoff_receive_timeout");
            break;
        }
        int r = handoff::receive_one(sock, incoming);
        if (r <= 0) {
            RC_LOG_WARN("event=handoff_receive_ended reason=%s", r == 0 ? "old_worker_gone" : "malformed");
            break;
        }
    }
    for (size_t i = 0; i < shards.size(); ++i) {
        handoff::Incoming& in = incoming[options.shards[i].member];
        handoff::ShardState st;
        if (in.complete && handoff::decode(in.blob, &st)) {
            shards[i]->adopt(std::move(st), std::move(in.fds));
        } else {
            for (int fd : in.fds) ::close(fd);
            if (!in.blob.empty() || in.complete) RC_LOG_WARN("event=handoff_partial member=%u action=start_fresh", options.shards[i].member);
        }
    }
}

}  // namespace

int run_worker(const WorkerOptions& options) {
    log::threshold().store(options.log_level, std::memory_order_relaxed);
    log::set_origin("worker=%u", options.index);
    // Die with the supervisor, whatever way it goes.
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    if (!probe_io_uring()) return kExitFatal;

    auto attached = shm::Segment::attach(options.segment);
    if (auto* err = std::get_if<std::string>(&attached)) {
        RC_LOG_ERROR("event=attach_failed segment=%s error=\"%s\"", options.segment.c_str(), err->c_str());
        return kExitFatal;
    }
    shm::Segment segment = std::move(std::get<shm::Segment>(attached));
    bind_memory(options.numa_node);

    // Signals reach this thread through a signalfd only; the shards never see them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGQUIT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    Fd signals(signalfd(-1, &sigs, SFD_CLOEXEC));

    // Key files are read here, once per process; the supervisor checked them before, so a
    // failure means the file changed in between: nothing would be admitted as configured.
    auto policy = make_admission_policy(options.settings.admission);
    if (auto* err = std::get_if<std::string>(&policy)) {
        RC_LOG_ERROR("event=admission_failed error=\"%s\"", err->c_str());
        return kExitFatal;
    }
    std::vector<std::unique_ptr<Shard>> shards;
    for (const ShardOptions& so : options.shards) {
        shards.push_back(std::make_unique<Shard>(segment, so, options.settings, options.wake_fds, options.index));
        shards.back()->set_admission(std::get<std::shared_ptr<const AdmissionPolicy>>(policy));
    }
    Fd handoff_in(options.handoff_fd);
    if (handoff_in.valid()) receive_handoff(handoff_in.get(), shards, options, segment.members());

    std::vector<int> results(shards.size(), 0);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < shards.size(); ++i) {
        threads.emplace_back([&, i] {
            pin_thread(options.shards[i].cpu);
            results[i] = shards[i]->run();
            if (results[i] != 0) kill(getpid(), SIGUSR1);  // tell the main thread a shard failed
        });
    }
    auto stop_all = [&](uint16_t code) {
        for (auto& s : shards) {
            s->stop(code);
            s->go();  // a shard still waiting for the go must see the stop
        }
        for (auto& t : threads) t.join();
    };
    // Every shard set up (and, in a takeover, rebuilt) before the old process lets go.
    for (bool all = false; !all;) {
        all = true;
        for (auto& s : shards) {
            if (s->failed()) {
                RC_LOG_ERROR("event=shard_setup_failed");
                stop_all(1001);
                return kExitFatal;
            }
            all = all && s->prepared();
        }
        if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (handoff_in.valid()) {
        // Only now may the old process exit: from the ack on, these shards own the members.
        if (!handoff::send_ack(handoff_in.get(), 0)) RC_LOG_WARN("event=handoff_ack_failed reason=old_worker_gone");
        handoff_in.reset();
    }
    for (auto& s : shards) s->go();

    Fd control(options.control_fd);
    if (control.valid()) {
        // The supervisor shows which build each worker runs (a rollout mixes them).
        std::string hello = std::string("version ") + kVersion;
        send(control.get(), hello.data(), hello.size(), MSG_NOSIGNAL);
    }
    uint16_t stop_code = 1001;
    while (true) {
        pollfd fds[2] = {{signals.get(), POLLIN, 0}, {control.get(), POLLIN, 0}};
        int n = poll(fds, control.valid() ? 2 : 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si{};
            if (::read(signals.get(), &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGPIPE) continue;
                if (si.ssi_signo != SIGUSR1) RC_LOG_INFO("event=stopping signal=%s", strsignal(static_cast<int>(si.ssi_signo)));
                break;
            }
        }
        if (control.valid() && (fds[1].revents & (POLLIN | POLLHUP))) {
            int fd = -1;
            std::string cmd = read_command(control.get(), &fd);
            if (cmd.empty()) {
                control.reset();  // the supervisor is gone; PDEATHSIG follows
                continue;
            }
            if (cmd.rfind("drain", 0) == 0) {
                // "drain 1012": a restart in drain mode; "drain 1001": the operator's drain.
                stop_code = cmd == "drain 1001" ? 1001 : 1012;
                RC_LOG_INFO("event=draining code=%u", stop_code);
                break;
            }
            if (cmd == "connections") {
                // Tracking: every shard describes its connections; sent back in chunks, then
                // "connections-end". Bounded: a shard that does not answer in 1 s is skipped.
                for (auto& s : shards) s->request_connections();
                std::string all;
                auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
                for (auto& s : shards) {
                    while (!s->take_connections(&all) && std::chrono::steady_clock::now() < deadline) {
                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    }
                }
                constexpr size_t kChunk = 32 * 1024;
                for (size_t off = 0; off < all.size(); off += kChunk) {
                    std::string msg = "connections " + all.substr(off, kChunk);
                    send(control.get(), msg.data(), msg.size(), MSG_NOSIGNAL);
                }
                send(control.get(), "connections-end", 15, MSG_NOSIGNAL);
                continue;
            }
            if (cmd.rfind("admission ", 0) == 0) {
                // New admission settings (ringcastctl set, SIGHUP): key files are read again,
                // so a rotated key takes effect; a failure keeps the policy in force.
                const nlohmann::json j = nlohmann::json::parse(cmd.substr(10), nullptr, false);
                auto settings = admission_from_json(j);
                std::variant<std::shared_ptr<const AdmissionPolicy>, std::string> next =
                    std::holds_alternative<std::string>(settings)
                        ? decltype(next)(std::get<std::string>(settings))
                        : make_admission_policy(std::get<AdmissionSettings>(settings));
                if (auto* err = std::get_if<std::string>(&next)) {
                    RC_LOG_ERROR("event=admission_refused error=\"%s\"", err->c_str());
                } else {
                    for (auto& s : shards) s->set_admission(std::get<std::shared_ptr<const AdmissionPolicy>>(next));
                    RC_LOG_INFO("event=admission_applied");
                }
                continue;
            }
            if (cmd.rfind("set ", 0) == 0) {
                // Run-time settings pushed by the supervisor (ringcastctl set, SIGHUP).
                char key[64] = {};
                unsigned long long value = 0;
                if (std::sscanf(cmd.c_str(), "set %63s %llu", key, &value) == 2) {
                    if (std::strcmp(key, "log_level") == 0) {
                        log::threshold().store(static_cast<int>(value), std::memory_order_relaxed);
                    } else if (std::strcmp(key, "max_buffered_bytes") == 0) {
                        for (auto& s : shards) s->set_max_buffered_bytes(value);
                    }
                }
                continue;
            }
            if (cmd == "handoff" && fd >= 0) {
                Fd sock(fd);
                RC_LOG_INFO("event=handoff_begin");
                for (auto& s : shards) s->request_handoff(sock.get());
                bool acked = wait_readable(sock.get(), kHandoffTimeoutMs) && handoff::receive_ack(sock.get()) == 0;
                if (acked) {
                    for (auto& s : shards) s->handoff_done();
                    for (auto& t : threads) t.join();
                    RC_LOG_INFO("event=handoff_complete");
                    return kExitOk;
                }
                for (auto& s : shards) s->handoff_failed();
                // Keep the socket until every shard has resumed: none may still be sending on it.
                for (auto& s : shards) {
                    while (s->frozen_or_sent()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                continue;
            }
            if (fd >= 0) ::close(fd);
            RC_LOG_WARN("event=unknown_command cmd=\"%s\"", cmd.c_str());
        }
    }
    stop_all(stop_code);
    for (int r : results) {
        if (r != 0) return r;
    }
    return kExitOk;
}

}  // namespace ringcast::worker
