// A connection's outbound queue: references to ready-to-send frames, not copies.
// Broadcast frames point into a producer's slab and are released through the shard's
// ReleaseTracker once sent; control frames (101, pong, close) are small owned buffers.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstring>

namespace ringcast::worker {

struct OutFrame {
    static constexpr uint16_t kOwned = 0xFFFF;  // `data` is ours (new[]), freed when sent
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    uint16_t producer = kOwned;
    uint64_t seq = 0;
};

// FIFO ring of OutFrame. The first slot lives inline, so an idle connection, or one that
// is sent each frame as it comes, never allocates; past one frame it grows by doubling on
// the heap and never shrinks below its peak, so the steady state allocates nothing per message.
class SendQueue {
public:
    SendQueue() = default;
    SendQueue(const SendQueue&) = delete;
    SendQueue& operator=(const SendQueue&) = delete;
    ~SendQueue() {
        while (!empty()) {
            OutFrame f = pop();
            if (f.producer == OutFrame::kOwned) delete[] f.data;
        }
        if (slots_ != &inline_) delete[] slots_;
    }

    bool empty() const { return head_ == tail_; }
    size_t size() const { return tail_ - head_; }
    uint64_t bytes() const { return bytes_; }          // unsent bytes, including the partial front
    uint32_t front_offset() const { return offset_; }  // bytes of the front frame already sent

    void push(const OutFrame& f) {
        if (size() == capacity()) grow();
        slots_[tail_++ & mask_] = f;
        bytes_ += f.len;
    }

    void push_owned(const uint8_t* src, size_t n) {
        auto* copy = new uint8_t[n];
        std::memcpy(copy, src, n);
        push(OutFrame{copy, static_cast<uint32_t>(n), OutFrame::kOwned, 0});
    }

    // A handed-over queue resumes mid-frame.
    void set_front_offset(uint32_t n) {
        if (empty() || n >= at(0).len) return;
        bytes_ -= n - offset_;
        offset_ = n;
    }

    const OutFrame& at(size_t i) const { return slots_[(head_ + i) & mask_]; }

    OutFrame pop() {
        OutFrame f = slots_[head_++ & mask_];
        bytes_ -= f.len - offset_;
        offset_ = 0;
        return f;
    }

    // Fills iov with up to max entries from the front (the first one past what was sent).
    size_t gather(iovec* iov, size_t max) const {
        size_t n = size() < max ? size() : max;
        for (size_t i = 0; i < n; ++i) {
            const OutFrame& f = at(i);
            uint32_t skip = i == 0 ? offset_ : 0;
            iov[i].iov_base = const_cast<uint8_t*>(f.data + skip);
            iov[i].iov_len = f.len - skip;
        }
        return n;
    }

    // Marks `sent` bytes done; calls done(frame) for every frame fully sent.
    template <class F>
    void consume(size_t sent, F&& done) {
        while (sent > 0 && !empty()) {
            const OutFrame& f = at(0);
            size_t left = f.len - offset_;
            if (sent < left) {
                offset_ += static_cast<uint32_t>(sent);
                bytes_ -= sent;
                return;
            }
            sent -= left;
            done(pop());
        }
    }

    // Removes every frame after the first `keep`, calling done(frame) for each; used when a
    // connection is dropped and only what the kernel may still be reading must stay.
    template <class F>
    void drop_after(size_t keep, F&& done) {
        while (size() > keep) {
            OutFrame f = slots_[--tail_ & mask_];
            bytes_ -= f.len;
            if (size() == 0) {
                bytes_ = 0;
                offset_ = 0;
            }
            done(f);
        }
    }

private:
    size_t capacity() const { return static_cast<size_t>(mask_) + 1; }

    void grow() {
        const size_t cap = capacity() < 8 ? 8 : capacity() * 2;
        auto* next = new OutFrame[cap];
        for (size_t i = 0; i < size(); ++i) next[i] = at(i);
        tail_ = static_cast<uint32_t>(size());
        head_ = 0;
        if (slots_ != &inline_) delete[] slots_;
        slots_ = next;
        mask_ = static_cast<uint32_t>(cap - 1);
    }

    OutFrame inline_;
    OutFrame* slots_ = &inline_;
    uint32_t mask_ = 0;  // capacity - 1 (a power of two)
    // Free-running; a queue never holds 2^32 frames, so the unsigned difference is its size.
    uint32_t head_ = 0;
    uint32_t tail_ = 0;
    uint32_t offset_ = 0;
    uint64_t bytes_ = 0;
};

}  // namespace ringcast::worker
