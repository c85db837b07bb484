#include "supervisor/channel_top.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <variant>

#include "admission/channel.hpp"

namespace ringcast::supervisor {

namespace {

// The lists as one consistent copy.
struct TopCopy {
    uint32_t count = 0;
    shm::ChannelTopEntry by_subscribers[shm::kTopChannels];
    shm::ChannelTopEntry by_messages[shm::kTopChannels];
};

bool copy_consistent(const shm::ChannelTop& top, TopCopy& out) {
    // Pairs with the release store that ends the writer's update (version even again).
    const uint64_t before = top.version.load(std::memory_order_acquire);
    if (before & 1) return false;  // being written
    out.count = top.count;
    std::memcpy(out.by_subscribers, top.by_subscribers, sizeof out.by_subscribers);
    std::memcpy(out.by_messages, top.by_messages, sizeof out.by_messages);
    // The second read is a read-modify-write that changes nothing: its release half keeps
    // the copies above from moving below it (a fence would too, but ThreadSanitizer builds
    // refuse fences). The segment is mapped writable here, so the RMW is allowed.
    auto& version = const_cast<std::atomic<uint64_t>&>(top.version);
    return version.fetch_add(0, std::memory_order_acq_rel) == before;
}

bool is_channel_name(const std::string& name) {
    const auto parsed = admission::channel_from_target("/" + name);
    const auto* channel = std::get_if<std::string>(&parsed);
    return channel && *channel == name;
}

}  // namespace

std::optional<std::vector<ChannelFigures>> read_channel_top(const shm::ChannelTop& top,
                                                            int attempts) {
    TopCopy copy;
    bool consistent = false;
    for (int i = 0; i < attempts && !consistent; ++i) {
        if (i > 0) std::this_thread::yield();
        consistent = copy_consistent(top, copy);
    }
    if (!consistent) return std::nullopt;

    std::vector<ChannelFigures> out;
    const uint32_t count = std::min(copy.count, shm::kTopChannels);
    for (const auto* list : {copy.by_subscribers, copy.by_messages}) {
        for (uint32_t i = 0; i < count; ++i) {
            const shm::ChannelTopEntry& e = list[i];
            if (e.name_len > shm::kTopChannelName) continue;
            std::string name(e.name, e.name_len);
            if (!is_channel_name(name)) continue;
            auto seen = std::find_if(out.begin(), out.end(),
                                     [&](const ChannelFigures& c) { return c.name == name; });
            if (seen != out.end()) continue;
            out.push_back({std::move(name), e.subscribers, e.messages});
        }
    }
    return out;
}

}  // namespace ringcast::supervisor
