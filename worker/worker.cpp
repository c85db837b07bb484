// The worker process: attaches the segment, binds memory to its NUMA node, runs one
// reactor thread per shard, and turns SIGTERM/SIGINT into a graceful close of every client.
#include <hwloc.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "shm/segment.hpp"
#include "worker/log.hpp"
#include "worker/options.hpp"
#include "worker/shard.hpp"

namespace ringcast::worker {

namespace {

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
    if (hwloc_topology_load(topo) == 0) {
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

    // Signals go to this thread only (sigwait below); the shards never see them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGQUIT);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    std::vector<std::unique_ptr<Shard>> shards;
    for (const ShardOptions& so : options.shards) {
        shards.push_back(std::make_unique<Shard>(segment, so, options.settings, options.wake_fds, options.index));
    }
    std::vector<int> results(shards.size(), 0);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < shards.size(); ++i) {
        threads.emplace_back([&, i] {
            pin_thread(options.shards[i].cpu);
            results[i] = shards[i]->run();
            if (results[i] != 0) kill(getpid(), SIGUSR1);  // tell the main thread a shard failed
        });
    }

    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig != SIGUSR1) RC_LOG_INFO("event=stopping signal=%s", strsignal(sig));
    for (auto& s : shards) s->stop();
    for (auto& t : threads) t.join();
    for (int r : results) {
        if (r != 0) return r;
    }
    return kExitOk;
}

}  // namespace ringcast::worker
