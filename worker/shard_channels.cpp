// Channels (docs/channels.md): the shard's table of the channels its connections joined, by
// name, each with its open connections. A record names its channel by the bytes after its
// frames; delivering it looks the name up here once and walks only that channel's members,
// so a channel nobody on this shard joined costs one lookup per record. Counts per channel
// go to shared memory (the node's subscribers per channel; the busiest channels).
#include <algorithm>
#include <cstring>

#include "shm/control.hpp"
#include "worker/shard.hpp"
#include "worker/shard_internal.hpp"

namespace ringcast::worker {

uint32_t Shard::acquire_channel(std::string_view name) {
    if (auto it = channel_ids_.find(name); it != channel_ids_.end()) {
        ++channels_[it->second].holders;
        return it->second;
    }
    uint32_t id;
    if (!free_channels_.empty()) {
        id = free_channels_.back();
        free_channels_.pop_back();
    } else {
        id = static_cast<uint32_t>(channels_.size());
        channels_.emplace_back();
    }
    Channel& ch = channels_[id];
    ch.name.assign(name);
    ch.holders = 1;
    ch.messages = 0;
    ch.slots = shm::channel_slots(name, segment_.header().address_seed);
    channel_ids_.emplace(ch.name, id);
    ++live_channels_;
    return id;
}

// A connection past the upgrade leaves its channel (destroy): the node's count drops, and a
// channel without connections here is forgotten (its id is reused).
void Shard::release_channel(Connection& c) {
    if (!settings_.channels || !(c.admission & kAdmitted) || c.channel == 0) return;
    Channel& ch = channels_[c.channel];
    shm::add_channel(segment_.control(options_.member), ch.slots, -1);
    if (--ch.holders == 0) {
        channel_ids_.erase(ch.name);
        std::string().swap(ch.name);
        std::vector<Connection*>().swap(ch.members);
        free_channels_.push_back(c.channel);
        --live_channels_;
    }
    c.channel = 0;
}

const std::vector<Connection*>* Shard::audience_of(uint32_t producer, const shm::Descriptor& d) {
    auto it = channel_ids_.find(consumer_->channel_name(producer, d));
    if (it == channel_ids_.end()) return nullptr;
    return &channels_[it->second].members;
}

// As recount_addresses(): this member's channel counts describe exactly its connections.
void Shard::recount_channels() {
    shm::ChannelCounts& counts = segment_.control(options_.member).channel_counts;
    for (auto& row : counts.rows) {
        for (auto& v : row) v.store(0, std::memory_order_relaxed);
    }
    if (!settings_.channels) return;
    for (const auto& cp : table_) {
        if (cp && cp->fd >= 0 && (cp->admission & kAdmitted) && cp->channel != 0)
            shm::add_channel(segment_.control(options_.member), channels_[cp->channel].slots, +1);
    }
}

// The busiest channels here, by open connections and by messages, into shared memory under
// its sequence lock (shm/layout.hpp, ChannelTop) for ringcastctl channels and /metrics.
void Shard::publish_channel_top() {
    std::vector<uint32_t> ids;
    ids.reserve(live_channels_);
    for (const auto& [name, id] : channel_ids_) ids.push_back(id);
    const size_t n = std::min<size_t>(ids.size(), shm::kTopChannels);
    auto fill = [&](shm::ChannelTopEntry* out, auto&& more) {
        std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(n), ids.end(),
                          [&](uint32_t a, uint32_t b) { return more(channels_[a], channels_[b]); });
        for (size_t i = 0; i < n; ++i) {
            const Channel& ch = channels_[ids[i]];
            shm::ChannelTopEntry& e = out[i];
            e.name_len = static_cast<uint32_t>(std::min<size_t>(ch.name.size(), shm::kTopChannelName));
            std::memcpy(e.name, ch.name.data(), e.name_len);
            e.subscribers = static_cast<uint32_t>(ch.members.size());
            e.messages = ch.messages;
        }
    };
    shm::ChannelTop& top = segment_.control(options_.member).channel_top;
    // Odd: being written. An acquire read-modify-write keeps the writes below after it (a
    // fence would do the same, but ThreadSanitizer does not model fences).
    const uint64_t v = top.version.fetch_add(1, std::memory_order_acq_rel);
    fill(top.by_subscribers, [](const Channel& a, const Channel& b) { return a.members.size() > b.members.size(); });
    fill(top.by_messages, [](const Channel& a, const Channel& b) { return a.messages > b.messages; });
    top.count = static_cast<uint32_t>(n);
    top.version.store(v + 2, std::memory_order_release);
}

}  // namespace ringcast::worker
