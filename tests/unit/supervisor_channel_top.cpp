// tests/unit/supervisor_channel_top.cpp: the specification of how the supervisor reads a
// shard's top lists of channels (supervisor/channel_top.hpp): under the sequence lock, each
// channel once, bounds and names checked, a list being written skipped.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/channel_top.hpp"

using namespace ringcast;
using namespace ringcast::supervisor;

namespace {

shm::ChannelTopEntry entry(const std::string& name, uint32_t subscribers, uint64_t messages) {
    shm::ChannelTopEntry e{};
    std::memcpy(e.name, name.data(), name.size());
    e.name_len = static_cast<uint32_t>(name.size());
    e.subscribers = subscribers;
    e.messages = messages;
    return e;
}

// As a shard leaves it after an update: the version even, `count` entries in each list.
std::unique_ptr<shm::ChannelTop> top_of(const std::vector<shm::ChannelTopEntry>& by_subscribers,
                                        const std::vector<shm::ChannelTopEntry>& by_messages) {
    auto top = std::make_unique<shm::ChannelTop>();
    REQUIRE(by_subscribers.size() == by_messages.size());
    for (size_t i = 0; i < by_subscribers.size(); ++i) {
        top->by_subscribers[i] = by_subscribers[i];
        top->by_messages[i] = by_messages[i];
    }
    top->count = static_cast<uint32_t>(by_subscribers.size());
    top->version.store(2, std::memory_order_release);
    return top;
}

}  // namespace

TEST_CASE("a shard that never wrote its lists has no top channels") {
    auto top = std::make_unique<shm::ChannelTop>();
    auto read = read_channel_top(*top);
    REQUIRE(read.has_value());
    CHECK(read->empty());
}

TEST_CASE("each channel of the two lists is reported once, with its figures") {
    auto top = top_of({entry("rooms/1", 9, 10), entry("lobby", 4, 500)},
                      {entry("lobby", 4, 500), entry("", 1, 20)});
    auto read = read_channel_top(*top);
    REQUIRE(read.has_value());
    CHECK(*read == std::vector<ChannelFigures>{
                       {"rooms/1", 9, 10}, {"lobby", 4, 500}, {"", 1, 20}});
}

TEST_CASE("a list being written (odd version) is skipped after the attempts") {
    auto top = top_of({entry("a", 1, 1)}, {entry("a", 1, 1)});
    top->version.store(3, std::memory_order_release);
    CHECK_FALSE(read_channel_top(*top).has_value());
    CHECK_FALSE(read_channel_top(*top, 1).has_value());
    top->version.store(4, std::memory_order_release);
    CHECK(read_channel_top(*top).has_value());
}

TEST_CASE("a count past the lists' size reads only the lists") {
    std::vector<shm::ChannelTopEntry> full;
    for (uint32_t i = 0; i < shm::kTopChannels; ++i) full.push_back(entry("c" + std::to_string(i), i, i));
    auto top = top_of(full, full);
    top->count = 1000;
    auto read = read_channel_top(*top);
    REQUIRE(read.has_value());
    CHECK(read->size() == shm::kTopChannels);
}

TEST_CASE("an entry that is not a channel name, or longer than a name, is left out") {
    shm::ChannelTopEntry too_long = entry("x", 1, 1);
    too_long.name_len = shm::kTopChannelName + 1;
    auto top = top_of({entry("ok", 1, 1), entry("a b", 2, 2), entry("a//b", 3, 3)},
                      {too_long, entry("/lead", 4, 4), entry("caf\xc3\xa9", 5, 5)});
    auto read = read_channel_top(*top);
    REQUIRE(read.has_value());
    CHECK(*read == std::vector<ChannelFigures>{{"ok", 1, 1}});
    auto longest = top_of({entry(std::string(shm::kTopChannelName, 'n'), 7, 8)},
                          {entry(std::string(shm::kTopChannelName, 'n'), 7, 8)});
    read = read_channel_top(*longest);
    REQUIRE(read.has_value());
    REQUIRE(read->size() == 1);
    CHECK((*read)[0].name.size() == 128);
}
