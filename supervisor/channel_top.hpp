// A shard's top lists of channels (shm ControlBlock::channel_top, docs/channels.md) read by the
// supervisor: copied under the writer's sequence lock, checked, and turned into plain figures
// for the snapshot. The shard rewrites them about once a second; nothing here writes shm.
#pragma once

#include <optional>
#include <vector>

#include "shm/layout.hpp"
#include "supervisor/snapshot.hpp"

namespace ringcast::supervisor {

// Copies made before giving up on a list that keeps changing (or a writer that died mid-write,
// leaving the version odd).
inline constexpr int kChannelTopAttempts = 4;

// Each channel of the two lists once (a channel in both has the same figures in each), in
// the order first seen; an entry whose name is not a channel name (channel_from_target's
// rules) or whose length is out of bounds is left out. nullopt when no copy was consistent.
std::optional<std::vector<ChannelFigures>> read_channel_top(
    const shm::ChannelTop& top, int attempts = kChannelTopAttempts);

}  // namespace ringcast::supervisor
