/*
 * The facts half of `ringcast doctor`: read_host_facts() and the probes behind it (uname, the
 * io_uring sysctls, /proc/meminfo and /proc/mounts, hugetlbfs mounts and stale segments,
 * hwloc, rlimits and net sysctls, test binds, the control socket's directory), and the
 * parsers of the /proc text they read. The io_uring probe does what a shard does at start, on
 * a throwaway ring over 127.0.0.1: multishot accept, multishot recv into a provided buffer
 * ring, sendmsg back. Verdicts are made from these facts in doctor.cpp.
 */
#include "supervisor/doctor_facts.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <grp.h>
#include <hwloc.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "base/fd.hpp"
#include "shm/hugepages.hpp"
#include "shm/proc_text.hpp"

namespace ringcast::supervisor {

namespace {

constexpr uint64_t kKiB = 1ull << 10;

// ---------------------------------------------------------------- text helpers

using shm::for_each_line;
using shm::parse_u64;
using shm::split_fields;
using shm::unescape_octal;

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A /proc/sys value; nullopt when the file does not exist on this kernel (or cannot be read).
std::optional<long> read_sysctl(const std::string& dotted) {
    std::string path = "/proc/sys/" + dotted;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    std::ifstream in(path);
    long v = 0;
    if (!(in >> v)) return std::nullopt;
    return v;
}

}  // namespace

std::string errno_name(int err) {
    return std::strerror(err < 0 ? -err : err);
}

// ---------------------------------------------------------------- parsers

MemInfo parse_meminfo(std::string_view text) {
    MemInfo m;
    for_each_line(text, [&](std::string_view line) {
        auto f = split_fields(line);
        if (f.size() < 2) return;
        uint64_t v = parse_u64(f[1]).value_or(0);
        if (f.size() >= 3 && f[2] == "kB") v *= kKiB;
        if (f[0] == "HugePages_Total:")
            m.hugepages_total = v;
        else if (f[0] == "HugePages_Free:")
            m.hugepages_free = v;
        else if (f[0] == "HugePages_Rsvd:")
            m.hugepages_rsvd = v;
        else if (f[0] == "HugePages_Surp:")
            m.hugepages_surp = v;
        else if (f[0] == "Hugepagesize:")
            m.hugepage_bytes = v;
        else if (f[0] == "MemAvailable:")
            m.mem_available_bytes = v;
    });
    return m;
}

std::vector<MountEntry> parse_mounts(std::string_view text) {
    std::vector<MountEntry> out;
    for_each_line(text, [&](std::string_view line) {
        auto f = split_fields(line);
        if (f.size() < 4) return;
        out.push_back(MountEntry{unescape_octal(f[0]), unescape_octal(f[1]), std::string(f[2]),
                                 std::string(f[3])});
    });
    return out;
}

uint64_t hugetlbfs_page_bytes(const MountEntry& m, uint64_t default_page_bytes) {
    return shm::hugetlbfs_page_bytes(m.options, default_page_bytes);
}

KernelVersion parse_kernel_release(std::string_view release) {
    KernelVersion v;
    int* parts[] = {&v.major, &v.minor, &v.patch};
    size_t i = 0;
    for (int* part : parts) {
        size_t j = i;
        while (j < release.size() && release[j] >= '0' && release[j] <= '9') ++j;
        if (j == i) break;
        std::from_chars(release.data() + i, release.data() + j, *part);
        if (j >= release.size() || release[j] != '.') break;
        i = j + 1;
    }
    return v;
}

std::vector<uint64_t> listening_inodes(std::string_view proc_net_tcp, uint16_t port) {
    std::vector<uint64_t> out;
    for_each_line(proc_net_tcp, [&](std::string_view line) {
        auto f = split_fields(line);
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        if (f.size() < 10 || f[3] != "0A") return;  // 0A = TCP_LISTEN
        size_t colon = f[1].rfind(':');
        if (colon == std::string_view::npos) return;
        auto p = parse_u64(f[1].substr(colon + 1), 16);
        auto inode = parse_u64(f[9]);
        if (p && *p == port && inode && *inode != 0) out.push_back(*inode);
    });
    return out;
}

// ---------------------------------------------------------------- probes

namespace {

class Mapping {
  public:
    explicit Mapping(size_t bytes) : bytes_(bytes) {
        void* p =
            ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) addr_ = p;
    }
    ~Mapping() {
        if (addr_) ::munmap(addr_, bytes_);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    void* get() const { return addr_; }

  private:
    void* addr_ = nullptr;
    size_t bytes_;
};

class ProbeRing {
  public:
    ProbeRing() = default;
    ProbeRing(const ProbeRing&) = delete;
    ProbeRing& operator=(const ProbeRing&) = delete;
    ~ProbeRing() {
        if (live_) io_uring_queue_exit(&ring_);
    }
    int init(unsigned entries, io_uring_params* p) {
        int rc = io_uring_queue_init_params(entries, &ring_, p);
        live_ = rc == 0;
        return rc;
    }
    io_uring* get() { return &ring_; }

  private:
    io_uring ring_{};
    bool live_ = false;
};

constexpr uint64_t kAcceptTag = 1, kRecvTag = 2, kSendTag = 3;
constexpr int kCqeWaitMs = 2000;
constexpr uint16_t kProbeGroup = 7;
constexpr unsigned kProbeBuffers = 8, kProbeBufferBytes = 256;

struct Completion {
    int res = -ETIME;
    uint32_t flags = 0;
    bool seen = false;
};

// Waits for the completion tagged `tag`, dropping others, for at most kCqeWaitMs.
Completion wait_for(io_uring* ring, uint64_t tag) {
    Completion c;
    __kernel_timespec ts{kCqeWaitMs / 1000, (kCqeWaitMs % 1000) * 1000000ll};
    for (int i = 0; i < 16; ++i) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe_timeout(ring, &cqe, &ts) != 0 || cqe == nullptr) return c;
        const bool mine = cqe->user_data == tag;
        if (mine) c = Completion{cqe->res, cqe->flags, true};
        io_uring_cqe_seen(ring, cqe);
        if (mine) return c;
    }
    return c;
}

void set_failed(Probe& p, const Completion& c, const std::string& what) {
    p.result = c.seen ? c.res : -ETIME;
    if (!c.seen) p.note = "no completion for the " + what + " within 2 s";
}

// Multishot accept, multishot recv with buffer select, sendmsg: the shard's data path.
void probe_loopback(io_uring* ring, bool have_buf_ring, uint8_t* buffers, UringFacts& f) {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (!listener.valid() || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener.get(), 4) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        f.multishot_accept.note = "cannot open a listener on 127.0.0.1: " + errno_name(errno);
        return;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_multishot_accept(sqe, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    sqe->user_data = kAcceptTag;
    io_uring_submit(ring);

    Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!client.valid() || ::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        f.multishot_accept.note = "cannot connect to 127.0.0.1: " + errno_name(errno);
        return;
    }
    Completion acc = wait_for(ring, kAcceptTag);
    if (!acc.seen || acc.res < 0) {
        set_failed(f.multishot_accept, acc, "accept");
        return;
    }
    Fd server(acc.res);
    if (!(acc.flags & IORING_CQE_F_MORE)) {
        f.multishot_accept.result = -EINVAL;
        f.multishot_accept.note = "the accept completed without IORING_CQE_F_MORE (not multishot)";
        return;
    }
    f.multishot_accept.result = 0;
    if (!have_buf_ring) return;

    sqe = io_uring_get_sqe(ring);
    io_uring_prep_recv_multishot(sqe, server.get(), nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kProbeGroup;
    sqe->user_data = kRecvTag;
    io_uring_submit(ring);
    if (::send(client.get(), "ping", 4, MSG_NOSIGNAL) != 4) {
        f.multishot_recv.note = "cannot write to the loopback socket: " + errno_name(errno);
        return;
    }
    Completion rcv = wait_for(ring, kRecvTag);
    if (!rcv.seen || rcv.res < 0) {
        set_failed(f.multishot_recv, rcv, "recv");
        return;
    }
    const unsigned bid = rcv.flags >> IORING_CQE_BUFFER_SHIFT;
    if (!(rcv.flags & IORING_CQE_F_BUFFER) || bid >= kProbeBuffers || rcv.res != 4 ||
        std::memcmp(buffers + bid * kProbeBufferBytes, "ping", 4) != 0) {
        f.multishot_recv.result = -EIO;
        f.multishot_recv.note = "the bytes did not arrive in a provided buffer";
        return;
    }
    if (!(rcv.flags & IORING_CQE_F_MORE)) {
        f.multishot_recv.result = -EINVAL;
        f.multishot_recv.note = "the recv completed without IORING_CQE_F_MORE (not multishot)";
        return;
    }
    f.multishot_recv.result = 0;

    char pong[] = {'p', 'o', 'n', 'g'};
    iovec iov{pong, sizeof pong};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_sendmsg(sqe, server.get(), &msg, MSG_NOSIGNAL);
    sqe->user_data = kSendTag;
    io_uring_submit(ring);
    Completion snd = wait_for(ring, kSendTag);
    if (!snd.seen || snd.res < 0) {
        set_failed(f.sendmsg, snd, "sendmsg");
        return;
    }
    char got[4] = {};
    pollfd pfd{client.get(), POLLIN, 0};
    if (snd.res != 4 || ::poll(&pfd, 1, kCqeWaitMs) != 1 ||
        ::recv(client.get(), got, 4, MSG_WAITALL) != 4 || std::memcmp(got, pong, 4) != 0) {
        f.sendmsg.result = -EIO;
        f.sendmsg.note = "the peer did not receive the 4 bytes sent";
        return;
    }
    f.sendmsg.result = 0;
}

UringFacts probe_uring() {
    UringFacts f;
    // The buffers outlive the ring that has them registered.
    Mapping ring_mem(kProbeBuffers * sizeof(io_uring_buf));
    Mapping buffers(kProbeBuffers * kProbeBufferBytes);
    ProbeRing ring;
    io_uring_params p{};
    f.setup_error = ring.init(8, &p);
    if (f.setup_error != 0) return f;
    f.features = p.features;

    {
        ProbeRing fast;
        io_uring_params fp{};
        fp.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        f.fast_setup.result = fast.init(8, &fp);
    }

    if (io_uring_probe* probe = io_uring_get_probe_ring(ring.get())) {
        f.opcode_probe.result = 0;
        struct Op {
            int op;
            const char* name;
        };
        static constexpr Op used[] = {{IORING_OP_ACCEPT, "ACCEPT"},
                                      {IORING_OP_RECV, "RECV"},
                                      {IORING_OP_SENDMSG, "SENDMSG"},
                                      {IORING_OP_READ, "READ"},
                                      {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}};
        for (const Op& o : used) {
            if (!io_uring_opcode_supported(probe, o.op)) f.missing_opcodes.push_back(o.name);
        }
        io_uring_free_probe(probe);
    } else {
        f.opcode_probe.result = -EOPNOTSUPP;
    }

    bool have_buf_ring = false;
    if (ring_mem.get() && buffers.get()) {
        auto* br = static_cast<io_uring_buf_ring*>(ring_mem.get());
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<uint64_t>(br);
        reg.ring_entries = kProbeBuffers;
        reg.bgid = kProbeGroup;
        f.buf_ring.result = io_uring_register_buf_ring(ring.get(), &reg, 0);
        if (f.buf_ring.ok()) {
            io_uring_buf_ring_init(br);
            auto* data = static_cast<uint8_t*>(buffers.get());
            for (unsigned i = 0; i < kProbeBuffers; ++i) {
                io_uring_buf_ring_add(br, data + i * kProbeBufferBytes, kProbeBufferBytes,
                                      static_cast<unsigned short>(i),
                                      io_uring_buf_ring_mask(kProbeBuffers), static_cast<int>(i));
            }
            io_uring_buf_ring_advance(br, kProbeBuffers);
            have_buf_ring = true;
        }
    } else {
        f.buf_ring.result = -ENOMEM;
    }
    probe_loopback(ring.get(), have_buf_ring, static_cast<uint8_t*>(buffers.get()), f);
    return f;
}

std::string comm_of(pid_t pid) {
    std::string c = read_text("/proc/" + std::to_string(pid) + "/comm");
    while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.pop_back();
    return c;
}

pid_t parent_of(pid_t pid) {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold blanks and parentheses.
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    auto f = split_fields(std::string_view(stat).substr(close + 1));
    return f.size() >= 2 ? static_cast<pid_t>(parse_u64(f[1]).value_or(0)) : 0;
}

bool is_number(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// The process holding one of `inodes` open: ringcast processes are looked at first, so a
// server with a million sockets is found without reading every other process's fds.
std::pair<pid_t, std::string> socket_owner(const std::vector<uint64_t>& inodes) {
    std::vector<pid_t> pids;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            if (is_number(e->d_name)) pids.push_back(static_cast<pid_t>(std::atol(e->d_name)));
        }
        ::closedir(d);
    }
    std::vector<std::string> wanted;
    for (uint64_t i : inodes) wanted.push_back("socket:[" + std::to_string(i) + "]");
    for (int pass = 0; pass < 2; ++pass) {
        for (pid_t pid : pids) {
            const std::string comm = comm_of(pid);
            if ((comm == "ringcast") != (pass == 0)) continue;
            const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
            DIR* d = ::opendir(dir.c_str());
            if (!d) continue;
            bool found = false;
            while (dirent* e = ::readdir(d)) {
                if (e->d_name[0] == '.') continue;
                char target[64];
                ssize_t n = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target - 1);
                if (n <= 0) continue;
                target[n] = '\0';
                if (std::find(wanted.begin(), wanted.end(), target) != wanted.end()) {
                    found = true;
                    break;
                }
            }
            ::closedir(d);
            if (!found) continue;
            // A worker holds the listener too: name its supervisor, the process to stop.
            const pid_t parent = parent_of(pid);
            if (comm == "ringcast" && parent > 1 && comm_of(parent) == "ringcast")
                return {parent, comm};
            return {pid, comm};
        }
    }
    return {0, {}};
}

// Binds the address the way the supervisor does, but without SO_REUSEPORT: a listener that is
// already there (ours or anyone's) makes it fail with EADDRINUSE.
BindFacts probe_bind(const ListenAddress& a) {
    BindFacts b;
    b.address = a.text();
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    const bool any = a.host.empty();
    if (a.ipv6 || any) {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(a.port);
        a6->sin6_addr = in6addr_any;
        if (!any && inet_pton(AF_INET6, a.host.c_str(), &a6->sin6_addr) != 1) {
            b.error = EINVAL;
            return b;
        }
        len = sizeof(sockaddr_in6);
        family = AF_INET6;
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(a.port);
        if (inet_pton(AF_INET, a.host.c_str(), &a4->sin_addr) != 1) {
            b.error = EINVAL;
            return b;
        }
        len = sizeof(sockaddr_in);
    }
    Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid() && any && errno == EAFNOSUPPORT) {
        ListenAddress v4{"0.0.0.0", a.port, false};
        BindFacts r = probe_bind(v4);
        r.address = b.address;
        return r;
    }
    if (!fd.valid()) {
        b.error = errno;
        return b;
    }
    int one = 1, zero = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6 && any)
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) return b;
    b.error = errno;
    if (b.error == EADDRINUSE) {
        std::vector<uint64_t> inodes = listening_inodes(read_text("/proc/net/tcp"), a.port);
        for (uint64_t i : listening_inodes(read_text("/proc/net/tcp6"), a.port))
            inodes.push_back(i);
        if (!inodes.empty()) std::tie(b.owner_pid, b.owner_comm) = socket_owner(inodes);
    }
    return b;
}

bool writable_dir(const std::string& dir) {
    return ::access(dir.c_str(), W_OK | X_OK) == 0;
}

ControlSocketFacts probe_control_socket(const std::string& path) {
    namespace fs = std::filesystem;
    ControlSocketFacts c;
    c.path = path;
    c.dir = fs::path(path).parent_path().string();
    if (c.dir.empty()) c.dir = ".";
    struct stat st {};
    c.dir_exists = ::stat(c.dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (c.dir_exists) {
        c.dir_writable = writable_dir(c.dir);
    } else {
        fs::path up = fs::path(c.dir);
        while (up.has_parent_path() && up != up.parent_path()) {
            up = up.parent_path();
            if (::stat(up.c_str(), &st) == 0) break;
        }
        c.creatable_from = up.string();
        c.ancestor_writable = S_ISDIR(st.st_mode) && writable_dir(c.creatable_from);
    }
    if (::lstat(path.c_str(), &st) == 0) {
        c.path_exists = true;
        c.path_is_socket = S_ISSOCK(st.st_mode);
        sockaddr_un un{};
        if (c.path_is_socket && path.size() < sizeof un.sun_path) {
            un.sun_family = AF_UNIX;
            std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
            Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            // EAGAIN: a live server whose backlog is full.
            c.socket_answers = fd.valid() && (::connect(fd.get(), reinterpret_cast<sockaddr*>(&un),
                                                        sizeof un) == 0 ||
                                              errno == EAGAIN);
        }
    }
    return c;
}

std::string owner_text(const struct stat& st) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    std::string user = std::to_string(st.st_uid), group_name = std::to_string(st.st_gid);
    if (passwd* pw = ::getpwuid(st.st_uid)) user = pw->pw_name;
    if (struct group* gr = ::getgrgid(st.st_gid)) group_name = gr->gr_name;
    return std::string("mode ") + mode + " " + user + ":" + group_name;
}

std::vector<HugetlbfsMount> probe_hugetlbfs(const std::vector<MountEntry>& mounts,
                                            uint64_t default_page_bytes) {
    std::vector<HugetlbfsMount> out;
    for (const auto& m : mounts) {
        if (m.type != "hugetlbfs") continue;
        HugetlbfsMount h;
        h.dir = m.dir;
        h.page_bytes = hugetlbfs_page_bytes(m, default_page_bytes);
        h.writable = writable_dir(m.dir);
        struct stat st {};
        if (::stat(m.dir.c_str(), &st) == 0) {
            h.mode = st.st_mode & 07777;
            h.owner = owner_text(st);
        }
        out.push_back(std::move(h));
    }
    return out;
}

// Segments are named ringcast-<supervisor pid>; one whose supervisor is gone holds its memory
// until someone removes it (a supervisor killed with SIGKILL cannot).
void find_stale_segments(const std::string& dir, std::vector<StaleSegment>& out) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (!name.starts_with("ringcast-") || !is_number(name.substr(9))) continue;
        const pid_t pid = static_cast<pid_t>(std::atol(e->d_name + 9));
        if (comm_of(pid) == "ringcast") continue;  // a live supervisor (or its worker)
        StaleSegment s;
        s.path = dir + "/" + std::string(name);
        struct stat st {};
        if (::stat(s.path.c_str(), &st) == 0) s.bytes = static_cast<uint64_t>(st.st_blocks) * 512;
        out.push_back(std::move(s));
    }
    ::closedir(d);
}

void probe_hwloc(HostFacts& h) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return;
    if (hwloc_topology_load(topo) == 0) {
        const int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        for (int i = 0; i < n; ++i) {
            hwloc_obj_t o =
                hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
            if (o) h.numa_nodes.push_back(static_cast<int>(o->os_index));
        }
        h.cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        h.pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    }
    hwloc_topology_destroy(topo);
    std::sort(h.numa_nodes.begin(), h.numa_nodes.end());
    if (h.numa_nodes.empty()) h.numa_nodes.push_back(0);  // hwloc always shows one
}

}  // namespace

HostFacts read_host_facts(const Config& config) {
    HostFacts h;
    utsname u{};
    if (::uname(&u) == 0) {
        h.kernel_release = u.release;
        h.machine = u.machine;
    }
    h.uid = ::geteuid();
    h.io_uring_disabled = read_sysctl("kernel.io_uring_disabled");
    h.io_uring_group = read_sysctl("kernel.io_uring_group");
    h.uring = probe_uring();

    h.meminfo = read_text("/proc/meminfo");
    h.mounts = read_text("/proc/mounts");
    const MemInfo mi = parse_meminfo(h.meminfo);
    const auto mounts = parse_mounts(h.mounts);
    h.hugetlbfs = probe_hugetlbfs(mounts, mi.hugepage_bytes);
    struct statvfs vfs {};
    if (::statvfs("/dev/shm", &vfs) == 0) {
        h.dev_shm_free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
        h.dev_shm_size_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    }
    find_stale_segments("/dev/shm", h.stale_segments);
    for (const auto& m : h.hugetlbfs) find_stale_segments(m.dir, h.stale_segments);

    h.topology = discover_topology();
    probe_hwloc(h);

    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        h.nofile_soft = rl.rlim_cur;
        h.nofile_hard = rl.rlim_max;
    }
    h.nr_open = read_sysctl("fs.nr_open");
    h.somaxconn = read_sysctl("net.core.somaxconn");
    h.tcp_migrate_req = read_sysctl("net.ipv4.tcp_migrate_req");

    h.listen = probe_bind(config.listen);
    if (!config.metrics_listen.empty()) {
        auto parsed = parse_address(config.metrics_listen, AddressUse::Listen);
        if (auto* a = std::get_if<ListenAddress>(&parsed)) h.metrics = probe_bind(*a);
    }
    h.control = probe_control_socket(config.control_socket);
    return h;
}

}  // namespace ringcast::supervisor
