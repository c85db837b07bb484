// RAII over one io_uring instance and its provided-buffer ring (one per shard).
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace ringcast::worker {

class Uring {
public:
    Uring() = default;
    Uring(const Uring&) = delete;
    Uring& operator=(const Uring&) = delete;
    ~Uring() {
        if (ok_) io_uring_queue_exit(&ring_);
    }

    // Returns 0 or -errno. Tries the cheapest setup first and falls back for older kernels.
    int init(unsigned entries) {
        io_uring_params p{};
        p.cq_entries = entries * 4;
        // CQSIZE: multishot recv/accept post many completions per submission.
        // SINGLE_ISSUER: only the shard thread submits. DEFER_TASKRUN: completions run when
        // we ask for them, not by interrupting the thread mid-work.
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        int rc = io_uring_queue_init_params(entries, &ring_, &p);
        if (rc == -EINVAL) {
            p = {};
            p.cq_entries = entries * 4;
            p.flags = IORING_SETUP_CQSIZE;
            rc = io_uring_queue_init_params(entries, &ring_, &p);
        }
        if (rc == 0) ok_ = true;
        return rc;
    }

    io_uring* get() { return &ring_; }

    // An SQE, submitting first when the queue is full.
    io_uring_sqe* sqe() {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        if (!s) {
            io_uring_submit(&ring_);
            s = io_uring_get_sqe(&ring_);
        }
        return s;
    }

private:
    io_uring ring_{};
    bool ok_ = false;
};

// A ring of `count` receive buffers of `size` bytes that the kernel picks from
// (IOSQE_BUFFER_SELECT) for the SQEs naming its group. Buffers return to the kernel in
// batches via commit().
class BufferRing {
public:

    BufferRing() = default;
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;
    ~BufferRing() {
        if (ring_) munmap(ring_, ring_bytes_);
        if (data_) munmap(data_, data_bytes_);
    }

    int init(io_uring* uring, uint32_t count, uint32_t size, uint16_t group) {
        group_ = group;
        count_ = count;
        size_ = size;
        ring_bytes_ = count * sizeof(io_uring_buf);
        void* r = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (r == MAP_FAILED) return -errno;
        ring_ = static_cast<io_uring_buf_ring*>(r);
        data_bytes_ = static_cast<size_t>(count) * size;
        void* d = mmap(nullptr, data_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (d == MAP_FAILED) return -errno;
        data_ = static_cast<uint8_t*>(d);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<uint64_t>(ring_);
        reg.ring_entries = count;
        reg.bgid = group;
        int rc = io_uring_register_buf_ring(uring, &reg, 0);
        if (rc != 0) return rc;
        io_uring_buf_ring_init(ring_);
        for (uint32_t i = 0; i < count; ++i) recycle(static_cast<uint16_t>(i));
        commit();
        return 0;
    }

    uint8_t* buffer(uint16_t bid) { return data_ + static_cast<size_t>(bid) * size_; }
    uint32_t size() const { return size_; }
    uint16_t group() const { return group_; }

    void recycle(uint16_t bid) {
        io_uring_buf_ring_add(ring_, buffer(bid), size_, bid, io_uring_buf_ring_mask(count_),
                              static_cast<int>(pending_));
        ++pending_;
    }
    // Publishes every recycled buffer to the kernel with one store.
    // Returns how many went back.
    uint32_t commit() {
        uint32_t n = pending_;
        if (n) io_uring_buf_ring_advance(ring_, static_cast<int>(n));
        pending_ = 0;
        return n;
    }

private:
    io_uring_buf_ring* ring_ = nullptr;
    uint8_t* data_ = nullptr;
    size_t ring_bytes_ = 0;
    size_t data_bytes_ = 0;
    uint32_t count_ = 0;
    uint32_t size_ = 0;
    uint32_t pending_ = 0;
    uint16_t group_ = 0;
};

}  // namespace ringcast::worker
