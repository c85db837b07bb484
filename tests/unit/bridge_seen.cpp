// SeenTable (bridge/seen.hpp): a message is new the first time its producer {node, epoch,
// member} offers a sequence above every one seen from it; copies and older sequences are not.
// Producers are independent, and the table keeps its own copy of each node id.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bridge/seen.hpp"

using namespace ringcast::bridge;

namespace {

Origin from(std::string_view node, uint64_t epoch, uint32_t member, uint64_t seq) {
    return Origin{node, epoch, member, seq};
}

}  // namespace

TEST_CASE("a producer's first message is new, whatever its sequence") {
    SeenTable seen;
    CHECK(seen.producers() == 0);
    CHECK(seen.first_time(from("node-a", 1, 0, 500)));
    CHECK(seen.producers() == 1);
    SeenTable other;
    CHECK(other.first_time(from("node-a", 1, 0, 0)));
}

TEST_CASE("increasing sequences are new, gaps included") {
    SeenTable seen;
    for (uint64_t s : {0, 1, 2, 5, 6, 100, 1000000}) {
        CAPTURE(s);
        CHECK(seen.first_time(from("node-a", 1, 0, s)));
    }
    CHECK(seen.first_time(from("node-a", 1, 0, UINT64_MAX)));
    CHECK(seen.producers() == 1);
}

TEST_CASE("a sequence equal to or below the newest seen is a copy") {
    SeenTable seen;
    CHECK(seen.first_time(from("node-a", 1, 0, 10)));
    CHECK(!seen.first_time(from("node-a", 1, 0, 10)));
    CHECK(!seen.first_time(from("node-a", 1, 0, 9)));
    CHECK(!seen.first_time(from("node-a", 1, 0, 0)));
    CHECK(seen.first_time(from("node-a", 1, 0, 11)));
    CHECK(!seen.first_time(from("node-a", 1, 0, 10)));  // the newest is 11 now
    CHECK(!seen.first_time(from("node-a", 1, 0, 11)));
}

TEST_CASE("a writer's replay after a broken connection is delivered once") {
    // 5 and 6 reached the stream before the connection broke; 5, 6, 7 were written again.
    SeenTable seen;
    std::vector<uint64_t> delivered;
    for (uint64_t s : {3, 4, 5, 6, 5, 6, 7, 8}) {
        if (seen.first_time(from("node-a", 2, 1, s))) delivered.push_back(s);
    }
    CHECK(delivered == std::vector<uint64_t>{3, 4, 5, 6, 7, 8});
}

TEST_CASE("different nodes, epochs and members are different producers") {
    SeenTable seen;
    CHECK(seen.first_time(from("node-a", 1, 0, 50)));
    CHECK(seen.first_time(from("node-b", 1, 0, 10)));  // another node
    CHECK(seen.first_time(from("node-a", 2, 0, 10)));  // node-a restarted its ring fabric
    CHECK(seen.first_time(from("node-a", 1, 1, 10)));  // another shard of node-a
    CHECK(seen.producers() == 4);

    CHECK(!seen.first_time(from("node-a", 1, 0, 50)));
    CHECK(seen.first_time(from("node-a", 1, 0, 51)));
    CHECK(!seen.first_time(from("node-b", 1, 0, 10)));
    CHECK(seen.first_time(from("node-b", 1, 0, 11)));
    CHECK(!seen.first_time(from("node-a", 2, 0, 9)));
    CHECK(!seen.first_time(from("node-a", 1, 1, 10)));
    CHECK(seen.producers() == 4);
}

TEST_CASE("node ids that differ only in length or case are different producers") {
    SeenTable seen;
    CHECK(seen.first_time(from("node", 1, 0, 5)));
    CHECK(seen.first_time(from("node-", 1, 0, 5)));
    CHECK(seen.first_time(from("Node", 1, 0, 5)));
    CHECK(seen.first_time(from(std::string_view("node\0", 5), 1, 0, 5)));
    CHECK(seen.producers() == 4);
}

TEST_CASE("the table keeps its own copy of a node id given as a view into a reply") {
    SeenTable seen;
    // A reply buffer that is freed (here: overwritten) after each lookup.
    std::string buffer = "node-a";
    CHECK(seen.first_time(from(std::string_view(buffer), 1, 0, 10)));
    std::memcpy(buffer.data(), "node-b", 6);
    CHECK(seen.first_time(from(std::string_view(buffer), 1, 0, 5)));  // node-b is new
    CHECK(seen.producers() == 2);

    std::memcpy(buffer.data(), "node-a", 6);
    CHECK(!seen.first_time(from(std::string_view(buffer), 1, 0, 10)));  // node-a kept its 10
    CHECK(seen.first_time(from(std::string_view(buffer), 1, 0, 11)));

    // The original storage gone entirely: lookups by other storage find the same producers.
    buffer.assign(1000, 'z');
    const std::string a = "node-a", b = "node-b";
    CHECK(!seen.first_time(from(a, 1, 0, 11)));
    CHECK(!seen.first_time(from(b, 1, 0, 5)));
    CHECK(seen.first_time(from(b, 1, 0, 6)));
    CHECK(seen.producers() == 2);
}

TEST_CASE("many producers are each remembered") {
    SeenTable seen;
    for (uint32_t member = 0; member < 64; ++member) {
        for (uint64_t epoch = 0; epoch < 8; ++epoch) {
            const std::string node = "node-" + std::to_string(member % 5);
            CHECK(seen.first_time(from(node, epoch, member, epoch * 10 + member)));
        }
    }
    CHECK(seen.producers() == 64 * 8);
    for (uint32_t member = 0; member < 64; ++member) {
        for (uint64_t epoch = 0; epoch < 8; ++epoch) {
            const std::string node = "node-" + std::to_string(member % 5);
            CHECK(!seen.first_time(from(node, epoch, member, epoch * 10 + member)));
            CHECK(seen.first_time(from(node, epoch, member, epoch * 10 + member + 1)));
        }
    }
    CHECK(seen.producers() == 64 * 8);
}
