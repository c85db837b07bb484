// libringcast_alloccount.so: an LD_PRELOAD library that counts heap allocations per
// process, so bench/alloc/allocs_per_message.py can show how many a ringcast worker makes
// per message in steady state. It wraps malloc, calloc, realloc, reallocarray, free and
// the aligned family (posix_memalign, aligned_alloc, memalign, valloc, pvalloc), forwards
// every call to the next definition (glibc's), and counts it.
//
// With RINGCAST_ALLOC_DIR set, the counters live in a file `$RINGCAST_ALLOC_DIR/<pid>`
// mapped MAP_SHARED: a reader sees them live with a plain read(), without a thread, a
// signal or any cooperation from the process. The layout (`Shared` below, little-endian
// 64-bit words) is mirrored in allocs_per_message.py; kLayoutVersion changes with it.
//
// Tracing: when a reader writes N into `trace_want`, the next N allocations (any thread)
// record their thread, kind, size, time and return addresses into `trace[]`, so the
// reader can name their call sites with addr2line.
//
// Nothing here allocates: file names are formatted by hand, and our own work is marked
// with a thread-local flag so that any allocation made inside it goes uncounted.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

namespace {

constexpr uint64_t kMagic = 0x31434f4c4c414352ull;  // "RCALLOC1" as little-endian bytes
constexpr uint64_t kLayoutVersion = 1;
enum Kind : unsigned { kMalloc, kCalloc, kRealloc, kAligned, kFree, kBytes, kKinds = 8 };
constexpr unsigned kMaxThreads = 64;  // per-thread counters; later threads count in totals only
constexpr unsigned kTraceSlots = 4096;
constexpr unsigned kFrames = 24;

struct ThreadSlot {
    std::atomic<uint64_t> tid, allocs, frees, bytes;
};

struct TraceRecord {
    std::atomic<uint64_t> done;  // 1 once the rest is written (release)
    uint64_t tid, kind, size, mono_ns, frames;
    uint64_t ip[kFrames];
};

// Word offsets are part of the file format (see allocs_per_message.py).
struct Shared {
    uint64_t magic, layout_version, layout_bytes, pid;                // words 0-3
    uint64_t max_threads, trace_slots, frames_per_record, reserved0;  // words 4-7
    std::atomic<uint64_t> count[kKinds];                              // words 8-15
    std::atomic<uint64_t> threads_used;                               // word 16
    std::atomic<uint64_t> trace_want;                                 // word 17, set by the reader
    std::atomic<uint64_t> trace_taken;                                // word 18
    uint64_t reserved1[5];                                            // words 19-23
    ThreadSlot threads[kMaxThreads];                                  // from word 24
    TraceRecord trace[kTraceSlots];
};
static_assert(sizeof(std::atomic<uint64_t>) == 8 && std::atomic<uint64_t>::is_always_lock_free);
static_assert(offsetof(Shared, count) == 8 * 8);
static_assert(offsetof(Shared, threads_used) == 16 * 8);
static_assert(offsetof(Shared, threads) == 24 * 8);
static_assert(sizeof(ThreadSlot) == 4 * 8);
static_assert(sizeof(TraceRecord) == (6 + kFrames) * 8);

Shared g_local;            // until the file is mapped, and when there is no file
Shared* g = &g_local;      // switched only while the process has one thread (start, fork child)

// initial-exec: a preloaded library's TLS is static, and a TLS lookup must not allocate.
__attribute__((tls_model("initial-exec"))) thread_local int t_slot = -1;
__attribute__((tls_model("initial-exec"))) thread_local bool t_busy = false;

using MallocFn = void* (*)(size_t);
using CallocFn = void* (*)(size_t, size_t);
using ReallocFn = void* (*)(void*, size_t);
using ReallocArrayFn = void* (*)(void*, size_t, size_t);
using FreeFn = void (*)(void*);
using PosixMemalignFn = int (*)(void**, size_t, size_t);
using AlignedFn = void* (*)(size_t, size_t);

MallocFn real_malloc;
CallocFn real_calloc;
ReallocFn real_realloc;
ReallocArrayFn real_reallocarray;
FreeFn real_free;
PosixMemalignFn real_posix_memalign;
AlignedFn real_aligned_alloc, real_memalign;
MallocFn real_valloc, real_pvalloc;

// dlsym itself may calloc before the real one is known: serve that from here, never free it.
bool resolving;
alignas(64) char boot[64 * 1024];
size_t boot_used;

void* boot_alloc(size_t n) {
    n = (n + 15) & ~size_t{15};
    if (n > sizeof boot - boot_used) return nullptr;
    void* p = boot + boot_used;
    boot_used += n;
    return p;  // zeroed: it is .bss and never reused
}

bool from_boot(const void* p) {
    return static_cast<const char*>(p) >= boot && static_cast<const char*>(p) < boot + sizeof boot;
}

template <class F>
void next(F* fn, const char* name) {
    *fn = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void resolve() {
    if (real_free) return;
    resolving = true;
    next(&real_malloc, "malloc");
    next(&real_calloc, "calloc");
    next(&real_realloc, "realloc");
    next(&real_reallocarray, "reallocarray");
    next(&real_posix_memalign, "posix_memalign");
    next(&real_aligned_alloc, "aligned_alloc");
    next(&real_memalign, "memalign");
    next(&real_valloc, "valloc");
    next(&real_pvalloc, "pvalloc");
    next(&real_free, "free");  // last: it marks the set complete
    resolving = false;
}

uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

ThreadSlot* my_slot(Shared* s) {
    if (t_slot < 0) {
        const uint64_t i = s->threads_used.fetch_add(1, std::memory_order_relaxed);
        t_slot = i < kMaxThreads ? static_cast<int>(i) : static_cast<int>(kMaxThreads);
        if (t_slot < static_cast<int>(kMaxThreads)) {
            s->threads[t_slot].tid.store(static_cast<uint64_t>(syscall(SYS_gettid)), std::memory_order_relaxed);
        }
    }
    return t_slot < static_cast<int>(kMaxThreads) ? &s->threads[t_slot] : nullptr;
}

struct Unwind {
    uint64_t* ip;
    unsigned n, cap;
};

_Unwind_Reason_Code unwind_step(_Unwind_Context* ctx, void* arg) {
    auto* u = static_cast<Unwind*>(arg);
    if (u->n >= u->cap) return _URC_END_OF_STACK;
    u->ip[u->n++] = _Unwind_GetIP(ctx);
    return _URC_NO_REASON;
}

void trace(Shared* s, Kind kind, size_t size) {
    // Relaxed: the reader's store is a request, not a publication of data.
    if (s->trace_taken.load(std::memory_order_relaxed) >= s->trace_want.load(std::memory_order_relaxed)) return;
    const uint64_t i = s->trace_taken.fetch_add(1, std::memory_order_relaxed);
    if (i >= s->trace_want.load(std::memory_order_relaxed) || i >= kTraceSlots) return;
    TraceRecord& r = s->trace[i];
    r.tid = static_cast<uint64_t>(syscall(SYS_gettid));
    r.kind = kind;
    r.size = size;
    r.mono_ns = mono_ns();
    Unwind u{r.ip, 0, kFrames};
    _Unwind_Backtrace(unwind_step, &u);
    r.frames = u.n;
    r.done.store(1, std::memory_order_release);  // pairs with the reader's read of the file
}

void note(Kind kind, size_t size) {
    if (t_busy) return;  // our own work
    t_busy = true;
    Shared* s = g;
    s->count[kind].fetch_add(1, std::memory_order_relaxed);
    if (ThreadSlot* t = my_slot(s)) {
        (kind == kFree ? t->frees : t->allocs).fetch_add(1, std::memory_order_relaxed);
        if (kind != kFree) t->bytes.fetch_add(size, std::memory_order_relaxed);
    }
    if (kind != kFree) {
        s->count[kBytes].fetch_add(size, std::memory_order_relaxed);
        trace(s, kind, size);
    }
    t_busy = false;
}

// Writes "DIR/PID" into out (no snprintf: it may allocate).
bool file_name(char* out, size_t cap, const char* dir, pid_t pid) {
    const size_t d = std::strlen(dir);
    char digits[24];
    size_t n = 0;
    for (auto v = static_cast<unsigned long>(pid); n == 0 || v; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    if (d + 1 + n + 1 > cap) return false;
    std::memcpy(out, dir, d);
    out[d] = '/';
    for (size_t i = 0; i < n; ++i) out[d + 1 + i] = digits[n - 1 - i];
    out[d + 1 + n] = '\0';
    return true;
}

// Moves the counters into DIR/<pid> (called while the process has a single thread).
void map_file() {
    const char* dir = getenv("RINGCAST_ALLOC_DIR");
    char path[4096];
    if (!dir || !*dir || !file_name(path, sizeof path, dir, getpid())) return;
    const int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    void* m = MAP_FAILED;
    if (ftruncate(fd, sizeof(Shared)) == 0) m = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return;
    auto* s = static_cast<Shared*>(m);
    std::memcpy(static_cast<void*>(s), static_cast<const void*>(g), sizeof(Shared));
    s->layout_version = kLayoutVersion;
    s->layout_bytes = sizeof(Shared);
    s->pid = static_cast<uint64_t>(getpid());
    s->max_threads = kMaxThreads;
    s->trace_slots = kTraceSlots;
    s->frames_per_record = kFrames;
    s->trace_want.store(0, std::memory_order_relaxed);
    s->trace_taken.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s->magic = kMagic;  // last: a reader that sees it sees a complete header
    g = s;
}

// A forked child counts for itself, in its own file (ringcast's supervisor execs at once;
// the exec'd image starts over in its constructor anyway).
void after_fork_child() {
    t_busy = true;
    std::memset(static_cast<void*>(&g_local), 0, sizeof g_local);
    g = &g_local;
    t_slot = -1;
    map_file();
    t_busy = false;
}

__attribute__((constructor)) void start() {
    t_busy = true;
    resolve();
    // The first unwind finds the unwinder's tables; do it now, not inside a counted call.
    uint64_t ip[2];
    Unwind u{ip, 0, 2};
    _Unwind_Backtrace(unwind_step, &u);
    pthread_atfork(nullptr, nullptr, after_fork_child);
    map_file();
    t_busy = false;
}

}  // namespace

extern "C" {

void* malloc(size_t n) noexcept {
    if (!real_malloc) {
        if (resolving) return boot_alloc(n);
        resolve();
    }
    note(kMalloc, n);
    return real_malloc(n);
}

void* calloc(size_t k, size_t n) noexcept {
    if (!real_calloc) {
        if (resolving) return k && n > SIZE_MAX / k ? nullptr : boot_alloc(k * n);
        resolve();
    }
    note(kCalloc, k * n);
    return real_calloc(k, n);
}

void free(void* p) noexcept {
    if (!p || from_boot(p)) return;
    if (!real_free) resolve();
    note(kFree, 0);
    real_free(p);
}

void* realloc(void* p, size_t n) noexcept {
    if (!real_realloc) {
        if (resolving) return boot_alloc(n);
        resolve();
    }
    if (p && from_boot(p)) {  // leave the boot buffer: copy what can have been there
        void* q = malloc(n);
        if (q) std::memcpy(q, p, std::min(n, static_cast<size_t>(boot + sizeof boot - static_cast<char*>(p))));
        return q;
    }
    if (!p) {
        note(kMalloc, n);
    } else if (n == 0) {
        note(kFree, 0);
    } else {
        note(kRealloc, n);
    }
    return real_realloc(p, n);
}

void* reallocarray(void* p, size_t k, size_t n) noexcept {
    if (!real_reallocarray) resolve();
    note(p ? kRealloc : kMalloc, k * n);
    return real_reallocarray(p, k, n);
}

int posix_memalign(void** out, size_t align, size_t n) noexcept {
    if (!real_posix_memalign) resolve();
    note(kAligned, n);
    return real_posix_memalign(out, align, n);
}

void* aligned_alloc(size_t align, size_t n) noexcept {
    if (!real_aligned_alloc) resolve();
    note(kAligned, n);
    return real_aligned_alloc(align, n);
}

void* memalign(size_t align, size_t n) noexcept {
    if (!real_memalign) resolve();
    note(kAligned, n);
    return real_memalign(align, n);
}

void* valloc(size_t n) noexcept {
    if (!real_valloc) resolve();
    note(kAligned, n);
    return real_valloc(n);
}

void* pvalloc(size_t n) noexcept {
    if (!real_pvalloc) resolve();
    note(kAligned, n);
    return real_pvalloc(n);
}

}  // extern "C"
