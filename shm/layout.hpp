// The byte layout of the shared segment: every block that lives in shared memory, its size
// and alignment, and where each one starts. Only named offsets, sizes and static_asserts
// live here; the ring/slab/cursor algorithms are in ring.hpp, slab.hpp and cursor.hpp.
//
//   0                 SegmentHeader            (magic, version, sizeof of every block, offsets)
//   control_offset    ControlBlock[members]    (state, pid, incarnation, heartbeat, sleeping,
//   stats) cursors_offset    Cursor[members][members] ([consumer][producer], one cache line each)
//   regions_offset    region 0 | region 1 | ... each region_stride bytes (2 MiB multiple,
//   NUMA-bound) region:           RingHeader | Descriptor[ring_capacity] | slab (slab_bytes)
//
// Everything in shared memory is addressed by offsets; each process maps at its own address.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ringcast::shm {

inline constexpr uint64_t kMagic = 0x54534143474E4952ull;  // "RINGCAST" in memory (little-endian)
inline constexpr uint32_t kLayoutVersion = 6;              // bump on any change to this file
inline constexpr size_t kCacheLine = 64;
inline constexpr uint64_t kRegionAlign = 2ull << 20;  // a 2 MiB hugepage: NUMA binding granularity
inline constexpr uint64_t kFrameAlign = 8;            // records and frames start 8-byte aligned
inline constexpr uint32_t kMaxMembers = 1024;         // the cursor matrix grows with members^2
inline constexpr uint32_t kMaxRingCapacity = 1u << 24;
inline constexpr uint64_t kMaxSlabBytes = 1ull << 40;

constexpr uint64_t magic_of(const char (&s)[9]) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(s[i]);
    return v;
}
static_assert(magic_of("RINGCAST") == kMagic);
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shm atomics must be address-free");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shm atomics must be address-free");

constexpr uint64_t align_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

struct Geometry {
    uint32_t members;
    uint32_t ring_capacity;  // descriptors per ring, power of two
    uint64_t slab_bytes;     // payload bytes per member, multiple of kFrameAlign
};

enum class MemberState : uint32_t { Empty = 0, Starting = 1, Live = 2, Dead = 3 };

// One record of a ring. Plain data: written by the producer before the release store of
// head, read by consumers after the acquire load of head.
//
// A record holds one message as up to two ready-to-send frames, side by side in the slab,
// and with channels (docs/channels.md) the channel's name right after them:
//   slab_pos: [ plain frame: `length` | pad to 8 | deflated frame: `deflated_length` | name ]
// The deflated one (permessage-deflate, RSV1 set, docs/compression.md) exists only when some
// connection negotiated the extension and the message shrank; 0 means "send the plain frame
// to everyone". Readers that are not WebSocket clients (the bridge) use the plain frame.
struct Descriptor {
    uint64_t slab_pos;  // monotonic slab position; physical offset = slab_pos % slab_bytes
    uint32_t length;    // bytes of the ready-to-send server frame
    uint32_t origin_conn;
    uint16_t origin_member;
    uint16_t channel_len;      // bytes of the channel name after the frames; 0 = no channel
    uint32_t deflated_length;  // bytes of the compressed variant after the plain frame, or 0
    uint64_t seq;  // the record's sequence number, for checking
};

// Where the compressed variant starts, from the plain frame's start.
constexpr uint64_t deflated_frame_offset(uint32_t length) {
    return align_up(length, kFrameAlign);
}
// Where the channel name starts, from the plain frame's start; also where the frames end.
constexpr uint64_t channel_name_offset(const Descriptor& d) {
    return d.deflated_length ? deflated_frame_offset(d.length) + d.deflated_length : d.length;
}
// Bytes of the whole record in the slab (before the 8-byte alignment of the next one).
constexpr uint64_t record_bytes(const Descriptor& d) {
    return channel_name_offset(d) + d.channel_len;
}
static_assert(sizeof(Descriptor) == 32);
static_assert(alignof(Descriptor) == 8);
static_assert(offsetof(Descriptor, length) == 8);
static_assert(offsetof(Descriptor, origin_member) == 16);
static_assert(offsetof(Descriptor, seq) == 24);

struct RingHeader {
    alignas(kCacheLine) std::atomic<uint64_t> head;       // sequences < head are published
    alignas(kCacheLine) std::atomic<uint64_t> slab_head;  // producer-owned; survives a restart
};
static_assert(sizeof(RingHeader) == 2 * kCacheLine);
static_assert(offsetof(RingHeader, slab_head) == kCacheLine);

struct Cursor {
    alignas(kCacheLine) std::atomic<uint64_t> value;  // records < value are released
};
static_assert(sizeof(Cursor) == kCacheLine);

// Protocol error close codes counted one by one, in this order.
inline constexpr uint16_t kCountedCloseCodes[] = {1002, 1007, 1008, 1009, 1011};
inline constexpr size_t kCountedCloseCodeCount = std::size(kCountedCloseCodes);

// Why an upgrade was refused (ringcast_upgrades_rejected_total{reason}); the names are the
// metrics labels, in this order.
enum class RejectReason : uint32_t {
    BadRequest,          // not a valid WebSocket upgrade (400, 405, 426, 431, 505)
    Origin,              // 403: Origin not on the allowlist, or missing when that is refused
    Auth,                // 401: no token where one is required, or a bad one
    MaxConnections,      // 503: the node holds max_connections
    MaxConnectionsPerIp, // 503: the source address holds max_connections_per_ip
    HandshakeTimeout,    // no complete request within handshake_timeout_ms
    ChannelForbidden,    // 403: the token does not let it join the path's channel
    MaxChannels,         // 503: the shard holds max_channels channels and this one is new
    MaxSubscribers,      // 503: the channel has max_subscribers_per_channel on the node
};
inline constexpr size_t kRejectReasonCount = 9;
inline constexpr const char* kRejectReasonNames[kRejectReasonCount] = {
    "bad_request", "origin", "auth", "max_connections", "max_connections_per_ip",
    "handshake_timeout", "channel_forbidden", "max_channels", "max_subscribers"};
// One slot per admission::JwtError value (to_string gives the label); kept here as a count so
// shm/ needs nothing of admission/ (a static_assert in the worker checks they agree).
inline constexpr size_t kAuthFailureCount = 12;

// Counters of one member. Written only by that member (relaxed load + store, no RMW); read
// by the supervisor at any time.
struct Stats {
    std::atomic<uint64_t> connections;  // gauge
    std::atomic<uint64_t> accepted;
    std::atomic<uint64_t> messages_in;
    std::atomic<uint64_t> deliveries;
    std::atomic<uint64_t> bytes_in;
    std::atomic<uint64_t> bytes_out;
    std::atomic<uint64_t> slow_closes;
    std::atomic<uint64_t> protocol_errors;
    std::atomic<uint64_t> ring_full;
    std::atomic<uint64_t> protocol_errors_by_code[kCountedCloseCodeCount];
    std::atomic<uint64_t> loop_iterations;  // reactor passes (probes)
    std::atomic<uint64_t> completions;      // io_uring completions handled (probes)
    // permessage-deflate (docs/compression.md). The gauge tells every producer whether any
    // connection in the cluster would read a compressed variant.
    std::atomic<uint64_t> deflate_connections;  // gauge: open connections that negotiated it
    std::atomic<uint64_t> deflated_messages;    // messages written with a compressed variant
    std::atomic<uint64_t> deflate_bytes_in;     // their payload bytes before compression
    std::atomic<uint64_t> deflate_bytes_out;    // and after
    std::atomic<uint64_t> inflated_messages;    // compressed client messages inflated
    std::atomic<uint64_t> inflate_errors;       // corrupt or too big when inflated (closed)
    // Admission (docs/admission.md).
    std::atomic<uint64_t> upgrades_rejected[kRejectReasonCount];  // by RejectReason
    std::atomic<uint64_t> auth_failures[kAuthFailureCount];  // by admission::JwtError (label)
    std::atomic<uint64_t> rate_limited;     // messages over a connection's rate limit
    std::atomic<uint64_t> listener_sends;   // data messages from listeners (closed or dropped)
    std::atomic<uint64_t> token_expired;    // connections closed when their token expired
    std::atomic<uint64_t> listeners;        // gauge: open connections that may not publish
    std::atomic<uint64_t> authenticated;    // gauge: open connections admitted with a token
    std::atomic<uint64_t> admitted;         // gauge: connections past the upgrade (max_connections)
    // Channels (docs/channels.md).
    std::atomic<uint64_t> channels;          // gauge: channels with a subscriber on this member
    std::atomic<uint64_t> channel_messages;  // messages published with a channel
};

// Where a member's *input* stands, for the next process of the same member: the bridge notes
// the last Redis stream id it put into its ring. Two slots and a generation make the note
// safe against a kill at any instruction: the writer fills the slot the generation does not
// point at, then publishes the generation (release); `ring_head` is the ring head at which the
// noted input is wholly published, so a reader can tell a note whose records never made it.
struct ResumeNote {
    uint64_t input[2];   // opaque to shm: the bridge stores a stream id {ms, seq}
    uint64_t ring_head;  // valid once the member's published head >= this
};
struct ResumePoint {
    std::atomic<uint64_t> generation;  // 0 = nothing noted; slot = generation & 1
    ResumeNote slots[2];
};

// Open connections per source address held by one member (docs/admission.md), so that
// max_connections_per_ip holds across the node. Two rows of counters, each indexed by its own
// seeded hash of the address; the node's count for an address is the smaller of its two row
// sums over every member: a count-min sketch, never below the true count, above it only when
// the address collides with a busy one in both rows. One writer: the member's thread.
inline constexpr uint32_t kAddressBuckets = 4096;
struct AddressCounts {
    std::atomic<uint32_t> rows[2][kAddressBuckets];
};

// Subscribers per channel held by one member (docs/channels.md), as AddressCounts: two rows
// indexed by two halves of a seeded hash of the channel name; min over rows of the sums over
// members is the node's count, never below the true one. The bridge relays a stream entry
// only for a channel counted here; max_subscribers_per_channel compares it.
struct ChannelCounts {
    std::atomic<uint32_t> rows[2][kAddressBuckets];
};

// A member's busiest channels, for ringcastctl channels and /metrics' bounded top-N: rewritten
// by the member's thread about once a second under a sequence lock (odd = being written; a
// reader copies, then retries if the version moved).
inline constexpr uint32_t kTopChannels = 16;
inline constexpr uint32_t kTopChannelName = 128;  // the longest channel name
struct ChannelTopEntry {
    char name[kTopChannelName];
    uint32_t name_len;
    uint32_t subscribers;
    uint64_t messages;  // published on this member since the channel appeared here
};
struct ChannelTop {
    std::atomic<uint64_t> version;
    uint32_t count;  // entries filled in each list
    uint32_t reserved;
    ChannelTopEntry by_subscribers[kTopChannels];
    ChannelTopEntry by_messages[kTopChannels];
};

struct alignas(kCacheLine) ControlBlock {
    alignas(kCacheLine) std::atomic<uint32_t> state;  // MemberState
    alignas(kCacheLine) std::atomic<int32_t> pid;
    alignas(kCacheLine) std::atomic<uint32_t> incarnation;
    alignas(kCacheLine) std::atomic<uint64_t> heartbeat_ns;
    alignas(kCacheLine)
        std::atomic<uint32_t> sleeping;  // consumer is (about to be) blocked on its eventfd
    alignas(kCacheLine) Stats stats;
    alignas(kCacheLine) ResumePoint resume;  // written only by the member's own process
    alignas(kCacheLine) AddressCounts addresses;  // shards only; zeroed when a member joins fresh
    alignas(kCacheLine) ChannelCounts channel_counts;  // shards only; as addresses
    alignas(kCacheLine) ChannelTop channel_top;         // shards only
};
static_assert(offsetof(ControlBlock, pid) == 1 * kCacheLine);
static_assert(offsetof(ControlBlock, incarnation) == 2 * kCacheLine);
static_assert(offsetof(ControlBlock, heartbeat_ns) == 3 * kCacheLine);
static_assert(offsetof(ControlBlock, sleeping) == 4 * kCacheLine);
static_assert(offsetof(ControlBlock, stats) == 5 * kCacheLine);
static_assert(offsetof(ControlBlock, resume) % kCacheLine == 0);
static_assert(sizeof(ResumePoint) <= kCacheLine);
static_assert(sizeof(ControlBlock) % kCacheLine == 0);

struct alignas(kCacheLine) SegmentHeader {
    uint64_t magic;  // written last by the creator (release), read first by attach (acquire)
    uint32_t layout_version;
    uint32_t header_bytes;  // sizeof of each block, as compiled into the creator
    uint32_t control_bytes;
    uint32_t cursor_bytes;
    uint32_t descriptor_bytes;
    uint32_t ring_header_bytes;
    uint32_t members;
    uint32_t ring_capacity;
    uint64_t slab_bytes;
    uint64_t control_offset;
    uint64_t cursors_offset;
    uint64_t regions_offset;
    uint64_t region_stride;
    uint64_t slots_offset;  // within a region
    uint64_t slab_offset;   // within a region
    uint64_t total_bytes;
    uint32_t hugepages;  // 1 when backed by hugetlbfs
    int32_t creator_pid;
    uint64_t address_seed;  // random, per segment: keys the AddressCounts hashes
};
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(sizeof(SegmentHeader) % kCacheLine == 0);

// Where everything lies for a given geometry: the creator writes it into the header, and
// attach() recomputes it to check the header.
struct Layout {
    uint64_t control_offset;
    uint64_t cursors_offset;
    uint64_t regions_offset;
    uint64_t region_stride;
    uint64_t slots_offset;
    uint64_t slab_offset;
    uint64_t total_bytes;
};

constexpr Layout compute_layout(const Geometry& g) {
    Layout l{};
    l.control_offset = align_up(sizeof(SegmentHeader), kCacheLine);
    l.cursors_offset = l.control_offset + uint64_t{g.members} * sizeof(ControlBlock);
    l.regions_offset =
        align_up(l.cursors_offset + uint64_t{g.members} * g.members * sizeof(Cursor), kRegionAlign);
    l.slots_offset = sizeof(RingHeader);
    l.slab_offset =
        align_up(l.slots_offset + uint64_t{g.ring_capacity} * sizeof(Descriptor), kCacheLine);
    l.region_stride = align_up(l.slab_offset + g.slab_bytes, kRegionAlign);
    l.total_bytes = l.regions_offset + uint64_t{g.members} * l.region_stride;
    return l;
}

static_assert(compute_layout(Geometry{1, 2, 8}).regions_offset == kRegionAlign);
static_assert(compute_layout(Geometry{2, 2048, 1 << 20}).total_bytes == 3 * kRegionAlign);

// Empty when the geometry is usable, else why not.
std::string validate_geometry(const Geometry& g);

}  // namespace ringcast::shm
