// `ringcast doctor`: the host probe (read_host_facts), the verdicts (judge) and their lines.
// The io_uring probe does what a shard does at start, on a throwaway ring over 127.0.0.1:
// multishot accept, multishot recv into a provided buffer ring, sendmsg back.
#include "supervisor/doctor.hpp"

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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "shm/hugepages.hpp"
#include "shm/layout.hpp"
#include "shm/proc_text.hpp"
#include "base/fd.hpp"

namespace ringcast::supervisor {

namespace {

constexpr uint64_t kKiB = 1ull << 10;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kWantNofile = 65536;                 // below this, a busy server runs out of fds
constexpr long kWantSomaxconn = 4096;                   // the backlog the listeners ask for
constexpr const char* kFixSep = " \xE2\x80\x94 fix: ";  // " — fix: "

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

std::string errno_name(int err) {
    return std::strerror(err < 0 ? -err : err);
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) out += sep;
        out += p;
    }
    return out;
}

std::string plural(uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

// ---------------------------------------------------------------- verdicts and lines

std::string_view to_string(Verdict v) {
    switch (v) {
        case Verdict::Ok:
            return "ok";
        case Verdict::Warn:
            return "warn";
        case Verdict::Fail:
            return "fail";
    }
    return "ok";
}

std::string format_check(const Check& c) {
    std::string line(to_string(c.verdict));
    line.resize(4, ' ');
    line += "  " + c.name + ": " + c.detail;
    if (!c.fix.empty()) line += kFixSep + c.fix;
    return line;
}

// ---------------------------------------------------------------- parsers and arithmetic

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

uint64_t segment_bytes(const Config& config, uint32_t shards) {
    // One member per shard plus the bridge slot, as Supervisor::setup() creates it.
    const shm::Geometry g{shards + 1, config.ring, config.slab_bytes};
    if (!shm::validate_geometry(g).empty()) return 0;
    return shm::compute_layout(g).total_bytes;
}

HugepageNeed hugepage_need(uint64_t bytes, const MemInfo& m) {
    HugepageNeed n;
    n.needed = (bytes + shm::kHugepageBytes - 1) / shm::kHugepageBytes;
    n.available = m.hugepages_free > m.hugepages_rsvd ? m.hugepages_free - m.hugepages_rsvd : 0;
    // Pages in use stay in use, so the pool must grow by the shortfall.
    n.nr_hugepages = n.enough() ? m.hugepages_total : m.hugepages_total - n.available + n.needed;
    return n;
}

std::string format_bytes(uint64_t bytes) {
    struct Unit {
        uint64_t size;
        const char* name;
    };
    static constexpr Unit units[] = {{kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
    for (const Unit& u : units) {
        if (bytes < u.size) continue;
        if (bytes % u.size == 0) return std::to_string(bytes / u.size) + " " + u.name;
        const uint64_t tenths = (bytes * 10 + u.size / 2) / u.size;
        if (tenths % 10 == 0) return std::to_string(tenths / 10) + " " + u.name;
        return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " " + u.name;
    }
    return std::to_string(bytes) + " B";
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

// ---------------------------------------------------------------- verdicts

namespace {

using Checks = std::vector<Check>;

Check ok(std::string name, std::string detail) {
    return Check{Verdict::Ok, std::move(name), std::move(detail), {}};
}
Check warn(std::string name, std::string detail, std::string fix = {}) {
    return Check{Verdict::Warn, std::move(name), std::move(detail), std::move(fix)};
}
Check fail(std::string name, std::string detail, std::string fix = {}) {
    return Check{Verdict::Fail, std::move(name), std::move(detail), std::move(fix)};
}

void judge_kernel(const HostFacts& h, Checks& out) {
    const KernelVersion v = parse_kernel_release(h.kernel_release);
    std::string detail =
        "Linux " + h.kernel_release + (h.machine.empty() ? "" : " (" + h.machine + ")");
    if (v.at_least(6, 1)) {
        out.push_back(ok("kernel", detail));
    } else if (v.at_least(6, 0)) {
        out.push_back(ok("kernel", detail + "; 6.1+ adds IORING_SETUP_DEFER_TASKRUN"));
    } else {
        out.push_back(warn(
            "kernel",
            detail +
                " is older than 6.0, which multishot recv needs; the io_uring checks below decide",
            "run ringcast on Linux 6.1 or later"));
    }
}

void judge_io_uring_sysctl(const HostFacts& h, Checks& out) {
    const char* name = "io_uring_disabled";
    if (!h.io_uring_disabled) {
        out.push_back(ok(name,
                         "no kernel.io_uring_disabled on this kernel (before 6.6): io_uring is not "
                         "restricted by sysctl"));
        return;
    }
    const long v = *h.io_uring_disabled;
    const std::string fix =
        "sysctl -w kernel.io_uring_disabled=0 (persist it in /etc/sysctl.d/90-ringcast.conf)";
    if (v == 0) {
        out.push_back(ok(name, "kernel.io_uring_disabled = 0: every process may create rings"));
    } else if (v == 1) {
        std::string group = h.io_uring_group ? std::to_string(*h.io_uring_group) : "?";
        out.push_back(
            warn(name,
                 "kernel.io_uring_disabled = 1: only CAP_SYS_ADMIN and members of group " + group +
                     " (kernel.io_uring_group) may create rings",
                 fix + ", or add the service user to group " + group));
    } else {
        out.push_back(fail(name,
                           "kernel.io_uring_disabled = " + std::to_string(v) +
                               ": io_uring is off for every process",
                           fix));
    }
}

std::string feature_names(uint32_t features) {
    struct Feature {
        uint32_t bit;
        const char* name;
    };
    static constexpr Feature all[] = {{IORING_FEAT_SINGLE_MMAP, "SINGLE_MMAP"},
                                      {IORING_FEAT_NODROP, "NODROP"},
                                      {IORING_FEAT_SUBMIT_STABLE, "SUBMIT_STABLE"},
                                      {IORING_FEAT_FAST_POLL, "FAST_POLL"},
                                      {IORING_FEAT_EXT_ARG, "EXT_ARG"},
                                      {IORING_FEAT_NATIVE_WORKERS, "NATIVE_WORKERS"},
                                      {IORING_FEAT_CQE_SKIP, "CQE_SKIP"},
                                      {IORING_FEAT_LINKED_FILE, "LINKED_FILE"}};
    std::vector<std::string> names;
    for (const Feature& f : all) {
        if (features & f.bit) names.push_back(f.name);
    }
    return names.empty() ? "none" : join(names, " ");
}

// Returns false when io_uring cannot be used at all (the checks that need a ring are skipped).
bool judge_io_uring_setup(const HostFacts& h, Checks& out) {
    const UringFacts& u = h.uring;
    const char* name = "io_uring";
    if (u.setup_error == -EPERM) {
        std::string fix;
        if (h.io_uring_disabled && *h.io_uring_disabled != 0) {
            fix = "sysctl -w kernel.io_uring_disabled=0";
        } else {
            fix =
                "a seccomp filter blocks io_uring_setup: in a container run with --security-opt "
                "seccomp=<a profile allowing io_uring_setup, io_uring_enter, io_uring_register> "
                "(see deploy/README.md); under systemd keep io_uring_* in SystemCallFilter=";
        }
        out.push_back(fail(name, "io_uring_setup: Operation not permitted", fix));
        return false;
    }
    if (u.setup_error == -ENOSYS) {
        out.push_back(fail(
            name, "io_uring_setup: this kernel has no io_uring (built without CONFIG_IO_URING)",
            "run on a Linux 6.1+ kernel built with CONFIG_IO_URING=y"));
        return false;
    }
    if (u.setup_error == -ENOMEM) {
        out.push_back(fail(name,
                           "io_uring_setup: Cannot allocate memory (before 5.12 rings count "
                           "against RLIMIT_MEMLOCK)",
                           "LimitMEMLOCK=infinity in the unit, or ulimit -l unlimited"));
        return false;
    }
    if (u.setup_error != 0) {
        out.push_back(fail(name, "io_uring_setup: " + errno_name(u.setup_error)));
        return false;
    }
    std::string detail = "io_uring_setup works (features: " + feature_names(u.features) + ")";
    std::vector<std::string> missing;
    if (!(u.features & IORING_FEAT_FAST_POLL)) {
        missing.push_back("FAST_POLL (a recv that would block costs an io-wq thread)");
    }
    if (!(u.features & IORING_FEAT_NODROP)) {
        missing.push_back("NODROP (completions are lost when the CQ overflows)");
    }
    if (missing.empty()) {
        out.push_back(ok(name, detail));
    } else {
        out.push_back(
            warn(name, detail + "; missing " + join(missing, ", "), "run on Linux 6.1 or later"));
    }
    return true;
}

std::string probe_text(const Probe& p) {
    std::string s = p.result ? errno_name(*p.result) : "not tested";
    if (!p.note.empty()) s += " (" + p.note + ")";
    return s;
}

// One line for a probe step that has a result or a reason it was not run.
void judge_probe(const Probe& p, const char* name, const std::string& works,
                 const std::string& needs, Checks& out) {
    if (p.ok()) {
        out.push_back(ok(name, works));
    } else if (p.result) {
        out.push_back(
            fail(name, probe_text(p) + "; " + needs, "run ringcast on Linux 6.1 or later"));
    } else if (!p.note.empty()) {
        out.push_back(warn(name, "not tested: " + p.note));
    }
}

void judge_io_uring_features(const HostFacts& h, Checks& out) {
    const UringFacts& u = h.uring;
    if (u.fast_setup.ok()) {
        out.push_back(ok("io_uring setup flags", "SINGLE_ISSUER and DEFER_TASKRUN accepted"));
    } else if (u.fast_setup.result) {
        out.push_back(warn(
            "io_uring setup flags",
            "SINGLE_ISSUER|DEFER_TASKRUN refused (" + errno_name(*u.fast_setup.result) +
                "; needs 6.1): shards fall back to a plain ring, with more task-work interrupts",
            "run ringcast on Linux 6.1 or later"));
    }
    if (!u.opcode_probe.ok()) {
        out.push_back(warn("io_uring opcodes",
                           "IORING_REGISTER_PROBE is not available (before 5.6); the functional "
                           "checks below decide"));
    } else if (u.missing_opcodes.empty()) {
        out.push_back(ok("io_uring opcodes", "ACCEPT RECV SENDMSG READ ASYNC_CANCEL supported"));
    } else {
        out.push_back(fail("io_uring opcodes", "missing " + join(u.missing_opcodes, " "),
                           "run ringcast on Linux 6.1 or later"));
    }
    judge_probe(u.buf_ring, "provided buffer rings", "io_uring_register_buf_ring works",
                "io_uring_register_buf_ring needs Linux 5.19", out);
    judge_probe(u.multishot_accept, "multishot accept",
                "one accept SQE kept accepting over 127.0.0.1", "multishot accept needs Linux 5.19",
                out);
    judge_probe(u.multishot_recv, "multishot recv",
                "a multishot recv filled a provided buffer and stayed armed",
                "multishot recv with provided buffers needs Linux 6.0", out);
    judge_probe(u.sendmsg, "io_uring sendmsg", "SENDMSG delivered the bytes",
                "the shard sends with IORING_OP_SENDMSG", out);
}

struct PlanFacts {
    uint32_t shards = 0;
    uint64_t segment = 0;
    bool planned = false;
};

std::string node_list(const std::vector<int>& nodes) {
    std::vector<std::string> s;
    for (int n : nodes) s.push_back(std::to_string(n));
    return join(s, ", ");
}

// NUMA nodes and the worker plan; gives the shard count the segment is sized for.
PlanFacts judge_topology(const Config& c, const HostFacts& h, Checks& out) {
    PlanFacts p;
    std::vector<std::string> per_node;
    for (const auto& n : h.topology.nodes) {
        per_node.push_back("node " + std::to_string(n.os_index) + ": " +
                           plural(n.cpus.size(), "CPU", "CPUs"));
    }
    std::string detail =
        plural(h.numa_nodes.size(), "NUMA node", "NUMA nodes") + ", " +
        plural(static_cast<uint64_t>(h.cores), "core", "cores") + ", " +
        plural(static_cast<uint64_t>(h.pus), "hardware thread", "hardware threads") + "; " +
        std::to_string(h.topology.allowed_cpus) + " CPUs allowed to this process (" +
        join(per_node, ", ") + ")";
    const bool node_exists = c.numa_node < 0 || std::find(h.numa_nodes.begin(), h.numa_nodes.end(),
                                                          c.numa_node) != h.numa_nodes.end();
    const std::string choices =
        "set numa_node to one of " + node_list(h.numa_nodes) + ", or -1 for all nodes";
    if (!node_exists) {
        out.push_back(
            fail("numa", detail + "; numa_node " + std::to_string(c.numa_node) + " does not exist",
                 choices));
    } else {
        std::string error;
        auto plan = plan_workers(h.topology, c.worker_processes, c.shards, c.numa_node, &error);
        if (plan.empty()) {
            out.push_back(
                fail("numa", detail + "; " + error,
                     "widen the CPU affinity (taskset, CPUAffinity=, the container's cpuset) or " +
                         choices));
        } else {
            p.planned = true;
            for (const auto& w : plan) p.shards += static_cast<uint32_t>(w.shards.size());
            out.push_back(ok(
                "numa", detail + (c.numa_node < 0
                                      ? "; numa_node -1 = all"
                                      : "; numa_node " + std::to_string(c.numa_node) + " exists")));
            p.segment = segment_bytes(c, p.shards);
            std::string plan_detail =
                plural(plan.size(), "worker process", "worker processes") + ", " +
                plural(p.shards, "shard", "shards") + "; segment " + format_bytes(p.segment) +
                " for " + std::to_string(p.shards + 1) + " members (ring " +
                std::to_string(c.ring) + ", slab_bytes " + format_bytes(c.slab_bytes) + " each)";
            if (static_cast<int>(p.shards) > h.topology.allowed_cpus) {
                out.push_back(warn("plan",
                                   plan_detail + "; more shards than the " +
                                       std::to_string(h.topology.allowed_cpus) +
                                       " allowed CPUs, so reactors share CPUs",
                                   "set shards to 0 (one per CPU) or at most " +
                                       std::to_string(h.topology.allowed_cpus)));
            } else {
                out.push_back(ok("plan", plan_detail));
            }
        }
    }
    if (!p.planned) {
        p.shards =
            c.shards ? c.shards : static_cast<uint32_t>(std::max(1, h.topology.allowed_cpus));
        p.segment = segment_bytes(c, p.shards);
    }
    return p;
}

// Returns whether the segment will live in hugepages (so /dev/shm is not needed).
bool judge_hugepages(const Config& c, const HostFacts& h, uint64_t segment, Checks& out) {
    if (c.hugepages == HugepageMode::Off) {
        out.push_back(ok("hugepages", "off in the config: the segment (" + format_bytes(segment) +
                                          ") uses 4 KiB pages in /dev/shm"));
        return false;
    }
    const bool require = c.hugepages == HugepageMode::Require;
    const Verdict short_verdict = require ? Verdict::Fail : Verdict::Warn;
    const std::string consequence =
        require ? "; hugepages is \"require\", so ringcast will not start"
                : "; with \"auto\" ringcast falls back to 4 KiB pages in /dev/shm";
    // The decision Segment::create() will take, by the same code.
    const shm::HugepageSystem sys = shm::parse_hugepage_system(h.meminfo, h.mounts);
    const shm::HugepagePlan plan = shm::plan_hugepages(sys, "/ringcast-doctor", segment);
    const MemInfo mi = parse_meminfo(h.meminfo);
    const HugepageNeed need = hugepage_need(segment, mi);

    bool pool_ok = true;
    if (mi.hugepage_bytes != shm::kHugepageBytes) {
        pool_ok = false;
        out.push_back(
            Check{short_verdict, "hugepages",
                  "the default hugepage size is " + format_bytes(mi.hugepage_bytes) +
                      " and ringcast uses 2 MiB pages" + consequence,
                  "boot with default_hugepagesz=2M hugepages=" + std::to_string(need.needed)});
    } else if (!need.enough()) {
        pool_ok = false;
        out.push_back(Check{short_verdict, "hugepages",
                            "the segment (" + format_bytes(segment) + ") needs " +
                                std::to_string(need.needed) + " pages of 2 MiB and " +
                                std::to_string(need.available) + " of " +
                                std::to_string(mi.hugepages_total) + " are free" + consequence,
                            "sysctl -w vm.nr_hugepages=" + std::to_string(need.nr_hugepages) +
                                " (deploy/setup-host.sh also persists it)"});
    } else {
        out.push_back(ok("hugepages", "the segment (" + format_bytes(segment) + ") needs " +
                                          std::to_string(need.needed) + " pages of 2 MiB; " +
                                          std::to_string(need.available) + " of " +
                                          std::to_string(mi.hugepages_total) + " are free"));
    }

    // The mount the segment file would go in: the first hugetlbfs with 2 MiB pages.
    const char* mount_fix =
        "deploy/setup-host.sh (mounts it writable for group ringcast), or: mkdir -p /dev/hugepages "
        "&& "
        "mount -t hugetlbfs -o pagesize=2M none /dev/hugepages";
    bool mount_ok = false;
    if (sys.mount.empty()) {
        std::vector<std::string> others;
        for (const auto& m : h.hugetlbfs)
            others.push_back(m.dir + " (" + format_bytes(m.page_bytes) + " pages)");
        out.push_back(
            Check{short_verdict, "hugetlbfs",
                  "no hugetlbfs with 2 MiB pages is mounted" +
                      (others.empty() ? std::string() : " (only " + join(others, ", ") + ")") +
                      consequence,
                  mount_fix});
    } else {
        const auto it = std::find_if(h.hugetlbfs.begin(), h.hugetlbfs.end(),
                                     [&](const HugetlbfsMount& m) { return m.dir == sys.mount; });
        const std::string owner =
            it != h.hugetlbfs.end() && !it->owner.empty() ? " (" + it->owner + ")" : "";
        const bool writable = it != h.hugetlbfs.end() && it->writable;
        // Root can write anywhere; the service's own user needs group or other write access.
        const bool root_only = h.uid == 0 && it != h.hugetlbfs.end() && (it->mode & 0022) == 0;
        const std::string perm_fix = "chgrp ringcast " + sys.mount + " && chmod 1770 " + sys.mount +
                                     " (deploy/setup-host.sh does it and keeps it across boots)";
        if (!writable) {
            out.push_back(Check{short_verdict, "hugetlbfs",
                                sys.mount + owner + " is not writable by uid " +
                                    std::to_string(h.uid) + consequence,
                                perm_fix});
        } else if (root_only) {
            out.push_back(warn("hugetlbfs",
                               sys.mount + owner +
                                   " is writable by root only: ringcast.service (User=ringcast) "
                                   "cannot create its segment there" +
                                   consequence,
                               perm_fix));
        } else {
            mount_ok = true;
            out.push_back(ok("hugetlbfs", "2 MiB pages mounted at " + sys.mount + owner));
        }
    }
    return plan.usable && pool_ok && mount_ok;
}

void judge_dev_shm(const Config& c, const HostFacts& h, uint64_t segment, bool in_hugepages,
                   Checks& out) {
    const MemInfo mi = parse_meminfo(h.meminfo);
    if (in_hugepages) {
        out.push_back(ok("/dev/shm", "not used: the segment goes to hugetlbfs"));
        return;
    }
    if (c.hugepages == HugepageMode::Require) {
        out.push_back(ok("/dev/shm", "not used: hugepages is \"require\""));
        return;
    }
    if (!h.dev_shm_free_bytes) {
        out.push_back(fail("/dev/shm",
                           "there is no /dev/shm for the " + format_bytes(segment) + " segment",
                           "mount -t tmpfs -o mode=1777 tmpfs /dev/shm"));
        return;
    }
    const uint64_t free = *h.dev_shm_free_bytes;
    std::string detail = "the segment needs " + format_bytes(segment) + ", " + format_bytes(free) +
                         " free in /dev/shm";
    if (free < segment) {
        out.push_back(fail("/dev/shm", detail,
                           "mount -o remount,size=" +
                               std::to_string((h.dev_shm_size_bytes + segment - free) / kMiB + 64) +
                               "M /dev/shm (in Docker: --shm-size), or lower slab_bytes/shards"));
    } else if (mi.mem_available_bytes != 0 && mi.mem_available_bytes < segment) {
        out.push_back(warn("/dev/shm",
                           detail + ", but only " + format_bytes(mi.mem_available_bytes) +
                               " of memory is available",
                           "lower slab_bytes or shards, or free memory"));
    } else {
        out.push_back(ok("/dev/shm", detail));
    }
}

void judge_stale(const HostFacts& h, Checks& out) {
    if (h.stale_segments.empty()) {
        out.push_back(ok("stale segments", "none left by dead supervisors"));
        return;
    }
    uint64_t bytes = 0;
    std::vector<std::string> paths;
    for (const auto& s : h.stale_segments) {
        bytes += s.bytes;
        paths.push_back(s.path);
    }
    out.push_back(warn("stale segments",
                       plural(paths.size(), "segment", "segments") +
                           " of supervisors that are gone hold " + format_bytes(bytes) + ": " +
                           join(paths, " "),
                       "rm " + join(paths, " ")));
}

void judge_limits(const HostFacts& h, Checks& out) {
    std::string detail = "RLIMIT_NOFILE soft " + std::to_string(h.nofile_soft) + ", hard " +
                         std::to_string(h.nofile_hard) +
                         "; each connection takes a file descriptor";
    if (h.nofile_soft < kWantNofile) {
        std::string fix =
            "LimitNOFILE=1048576 in the unit (deploy/ringcast.service), or ulimit -n " +
            std::to_string(std::max<uint64_t>(h.nofile_hard, 1048576)) + " before starting";
        if (h.nr_open && static_cast<uint64_t>(*h.nr_open) < 1048576)
            fix += " (raise fs.nr_open first)";
        out.push_back(warn("nofile",
                           detail + ": under " + std::to_string(kWantNofile) +
                               " a busy server stops accepting early",
                           fix));
    } else {
        out.push_back(ok("nofile", detail));
    }

    if (!h.somaxconn) {
        out.push_back(warn("somaxconn", "net.core.somaxconn cannot be read"));
    } else if (*h.somaxconn < kWantSomaxconn) {
        out.push_back(warn(
            "somaxconn",
            "net.core.somaxconn = " + std::to_string(*h.somaxconn) +
                " caps each listener's accept queue below the 4096 ringcast asks for: bursts of "
                "connects get dropped",
            "sysctl -w net.core.somaxconn=65535"));
    } else {
        out.push_back(ok("somaxconn", "net.core.somaxconn = " + std::to_string(*h.somaxconn)));
    }

    const std::string migrate_why =
        ": with SO_REUSEPORT, connections waiting in a closing listener's accept queue (a "
        "restarting "
        "worker's) are reset instead of moving to a sibling listener";
    if (!h.tcp_migrate_req) {
        out.push_back(warn("tcp_migrate_req",
                           "net.ipv4.tcp_migrate_req is not available (before 5.14)" + migrate_why,
                           "run ringcast on Linux 6.1 or later"));
    } else if (*h.tcp_migrate_req == 0) {
        out.push_back(warn("tcp_migrate_req", "net.ipv4.tcp_migrate_req = 0" + migrate_why,
                           "sysctl -w net.ipv4.tcp_migrate_req=1"));
    } else {
        out.push_back(ok("tcp_migrate_req",
                         "net.ipv4.tcp_migrate_req = " + std::to_string(*h.tcp_migrate_req)));
    }
}

void judge_bind(const BindFacts& b, const char* key, Checks& out) {
    const std::string port = b.address.substr(b.address.rfind(':') + 1);
    if (b.error == 0) {
        out.push_back(ok(key, b.address + " is free"));
        return;
    }
    const std::string other = std::string("set ") + key + " to a free address";
    if (b.error == EADDRINUSE) {
        if (b.owner_comm == "ringcast") {
            out.push_back(warn(key,
                               b.address + " is served by a running ringcast (pid " +
                                   std::to_string(b.owner_pid) +
                                   "): a second server there would fail to bind",
                               "stop it first (systemctl stop ringcast), or " + other));
        } else if (b.owner_pid != 0) {
            out.push_back(fail(key,
                               b.address + " is in use by " + b.owner_comm + " (pid " +
                                   std::to_string(b.owner_pid) + ")",
                               "stop it, or " + other));
        } else {
            out.push_back(
                fail(key, b.address + " is in use (by a process this user cannot see)",
                     "find it with: ss -ltnp 'sport = :" + port + "'; stop it, or " + other));
        }
    } else if (b.error == EACCES) {
        out.push_back(
            fail(key, "binding " + b.address + " needs CAP_NET_BIND_SERVICE (port below 1024)",
                 "use a port >= 1024, or AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit"));
    } else if (b.error == EADDRNOTAVAIL) {
        out.push_back(fail(key, b.address + ": the address is not one of this host's",
                           "use an address of this host, or :" + port + " for all of them"));
    } else {
        out.push_back(fail(key, b.address + ": " + errno_name(b.error)));
    }
}

void judge_control(const HostFacts& h, Checks& out) {
    const ControlSocketFacts& c = h.control;
    const char* name = "control socket";
    const std::string fix =
        "under systemd RuntimeDirectory=ringcast (deploy/ringcast.service) makes /run/ringcast "
        "for the service user; by hand: install -d -o ringcast -g ringcast -m 0750 " +
        c.dir;
    if (c.path_exists && !c.path_is_socket) {
        out.push_back(fail(name, c.path + " exists and is not a socket",
                           "remove it, or set control_socket elsewhere"));
    } else if (c.socket_answers) {
        out.push_back(
            warn(name, "a server already answers on " + c.path + ": a second one would be refused",
                 "stop it first, or give this one another control_socket"));
    } else if (c.dir_exists && c.dir_writable) {
        out.push_back(ok(
            name, c.dir + " is writable" +
                      (c.path_exists ? std::string("; the stale socket file is replaced at start")
                                     : "")));
    } else if (c.dir_exists) {
        out.push_back(fail(name, c.dir + " is not writable by uid " + std::to_string(h.uid), fix));
    } else if (c.ancestor_writable) {
        out.push_back(ok(name, c.dir + " does not exist yet; ringcast creates it (" +
                                   c.creatable_from + " is writable)"));
    } else {
        out.push_back(fail(name,
                           c.dir + " does not exist and " + c.creatable_from +
                               " is not writable by uid " + std::to_string(h.uid),
                           fix));
    }
}

}  // namespace

std::vector<Check> judge(const Config& config, const HostFacts& facts) {
    Checks out;
    judge_kernel(facts, out);
    judge_io_uring_sysctl(facts, out);
    if (judge_io_uring_setup(facts, out)) judge_io_uring_features(facts, out);
    const PlanFacts plan = judge_topology(config, facts, out);
    if (plan.segment == 0) {
        out.push_back(fail("segment",
                           "the geometry of " + std::to_string(plan.shards + 1) +
                               " members, ring " + std::to_string(config.ring) + ", slab_bytes " +
                               std::to_string(config.slab_bytes) + " is not valid",
                           "lower shards"));
    } else {
        const bool in_hugepages = judge_hugepages(config, facts, plan.segment, out);
        judge_dev_shm(config, facts, plan.segment, in_hugepages, out);
    }
    judge_stale(facts, out);
    judge_limits(facts, out);
    judge_bind(facts.listen, "listen", out);
    if (facts.metrics) judge_bind(*facts.metrics, "metrics_listen", out);
    judge_control(facts, out);
    return out;
}

int run_doctor(const Config& config, std::FILE* out) {
    const std::vector<Check> checks = judge(config, read_host_facts(config));
    int counts[3] = {0, 0, 0};
    for (const Check& c : checks) {
        std::fprintf(out, "%s\n", format_check(c).c_str());
        ++counts[static_cast<int>(c.verdict)];
    }
    const bool can_run = counts[static_cast<int>(Verdict::Fail)] == 0;
    std::fprintf(out, "summary: %d ok, %d warn, %d fail: %s\n", counts[0], counts[1], counts[2],
                 can_run ? (counts[1] ? "ringcast can run here; the warnings are worth fixing"
                                      : "ringcast can run here")
                         : "ringcast cannot run here until the failures are fixed");
    std::fflush(out);
    return can_run ? 0 : 1;
}

int doctor_main(int argc, const char* const* argv) {
    auto parsed = parse_command_line(argc, argv);
    if (auto* err = std::get_if<ConfigError>(&parsed)) {
        std::fprintf(stderr, "ringcast doctor: %s\n", err->message().c_str());
        std::fprintf(stderr, "ringcast doctor: see ringcast doctor --help\n");
        return 2;
    }
    const auto& cl = std::get<CommandLine>(parsed);
    if (cl.show_help) {
        std::fputs(
            "usage: ringcast doctor [--config FILE] [flags]\n"
            "\n"
            "Checks this host against the config (the same --config and flags as the server) and\n"
            "prints one line per check: ok|warn|fail  <check>: <detail> [— fix: <how>].\n"
            "Exit status: 0 the server can run here (warnings allowed), 1 a check failed,\n"
            "2 a bad command line or config.\n",
            stdout);
        return 0;
    }
    return run_doctor(cl.config, stdout);
}

}  // namespace ringcast::supervisor
