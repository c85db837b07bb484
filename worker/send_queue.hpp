// A connection's outbound queue: references to ready-to-send frames, not copies.
// Broadcast frames point into a producer's slab and are released through the shard's
// ReleaseTracker once sent; control frames (101, pong, close) are small owned buffers.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace ringcast::worker {

struct OutFrame {
    static constexpr uint16_t kOwned = 0xFFFF;  // `data` is ours (new[]), freed when sent
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    uint16_t producer = kOwned;
    uint64_t seq = 0;
};

// FIFO ring of OutFrame that grows by doubling and never shrinks below its peak, so the
// steady state allocates nothing per message.
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
    }

    bool empty() const { return head_ == tail_; }
    size_t size() const { return tail_ - head_; }
    uint64_t bytes() const { return bytes_; }          // unsent bytes, including the partial front
    uint32_t front_offset() const { return offset_; }  // bytes of the front frame already sent

    void push(const OutFrame& f) {
        if (size() == slots_.size()) grow();
        slots_[tail_++ & (slots_.size() - 1)] = f;
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

    const OutFrame& at(size_t i) const { return slots_[(head_ + i) & (slots_.size() - 1)]; }

    OutFrame pop() {
        OutFrame f = slots_[head_++ & (slots_.size() - 1)];
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
            OutFrame f = slots_[--tail_ & (slots_.size() - 1)];
            bytes_ -= f.len;
            if (size() == 0) {
                bytes_ = 0;
                offset_ = 0;
            }
            done(f);
        }
    }

private:
    void grow() {
        size_t cap = slots_.empty() ? 8 : slots_.size() * 2;
        std::vector<OutFrame> next(cap);
        for (size_t i = 0; i < size(); ++i) next[i] = at(i);
        tail_ = size();
        head_ = 0;
        slots_.swap(next);
    }

    std::vector<OutFrame> slots_;
    uint64_t head_ = 0;
    uint64_t tail_ = 0;
    uint64_t bytes_ = 0;
    uint32_t offset_ = 0;
};

}  // namespace ringcast::worker
