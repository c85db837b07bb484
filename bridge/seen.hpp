/*
 * SeenTable: the newest sequence read from each producer {node, epoch, member}, so that a
 * message appended twice (a writer that lost its connection replays what Redis had not
 * acknowledged; some of it had arrived) is delivered once. A producer's messages enter the
 * stream in its order, so "newer than the newest seen" is exactly "not seen".
 *
 * Lookups take string views into a reply (no allocation); a key is stored once per producer.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "bridge/stream_entry.hpp"

namespace ringcast::bridge {

class SeenTable {
  public:
    // True the first time this origin's sequence is offered (and records it); false for a
    // sequence at or below the newest one seen from the same producer.
    bool first_time(const Origin& o) {
        Key probe{o.node, o.epoch, o.member};
        auto it = newest_.find(probe);
        if (it == newest_.end()) {
            newest_.emplace(OwnedKey{std::string(o.node), o.epoch, o.member}, o.seq);
            return true;
        }
        if (o.seq <= it->second) return false;
        it->second = o.seq;
        return true;
    }
    size_t producers() const { return newest_.size(); }

  private:
    struct Key {
        std::string_view node;
        uint64_t epoch;
        uint32_t member;
    };
    struct OwnedKey {
        std::string node;
        uint64_t epoch;
        uint32_t member;
    };
    struct Hash {
        using is_transparent = void;
        size_t operator()(const Key& k) const {
            return std::hash<std::string_view>{}(k.node) ^ (k.epoch * 0x9E3779B97F4A7C15ull) ^ k.member;
        }
        size_t operator()(const OwnedKey& k) const { return (*this)(Key{k.node, k.epoch, k.member}); }
    };
    struct Eq {
        using is_transparent = void;
        static Key view(const Key& k) { return k; }
        static Key view(const OwnedKey& k) { return Key{k.node, k.epoch, k.member}; }
        template <class A, class B>
        bool operator()(const A& a, const B& b) const {
            Key x = view(a), y = view(b);
            return x.node == y.node && x.epoch == y.epoch && x.member == y.member;
        }
    };
    std::unordered_map<OwnedKey, uint64_t, Hash, Eq> newest_;
};

}  // namespace ringcast::bridge
