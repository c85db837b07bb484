// The self-test cases; each states the behaviour it checks.
#include "bench/loadgen/self_test.hpp"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/loadgen/client_frame.hpp"
#include "bench/loadgen/client_handshake.hpp"
#include "bench/loadgen/client_reactor.hpp"
#include "bench/loadgen/latency_histogram.hpp"
#include "bench/loadgen/options.hpp"
#include "bench/loadgen/payload.hpp"
#include "bench/loadgen/process_sample.hpp"
#include "bench/loadgen/run_state.hpp"
#include "bench/loadgen/sequence_track.hpp"
#include "bench/loadgen/server_frame_reader.hpp"
#include "proto/encoder.hpp"
#include "proto/handshake.hpp"
#include "proto/unmask.hpp"

namespace ringcast::bench {
namespace {

int passed = 0, failed = 0;

void check(bool ok, const char* name) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::printf("FAIL: %s\n", name);
    }
}

// Records what the reader reports, as text, so two runs can be compared.
struct Recorder {
    std::string log;
    void on_message(proto::Opcode op, const uint8_t* head, size_t head_len, uint64_t len) {
        PayloadHead h;
        const bool ok = head_len >= kPayloadHead && read_payload_head(head, h);
        log += "msg op=" + std::to_string(int(op)) + " len=" + std::to_string(len) +
               (ok ? " seq=" + std::to_string(h.seq) + " sender=" + std::to_string(h.sender)
                   : " head=" + std::to_string(head_len)) +
               "\n";
    }
    void on_ping(const uint8_t* p, size_t n) {
        log += "ping " + std::string(reinterpret_cast<const char*>(p), n) + "\n";
    }
    void on_close(uint16_t code, std::string_view reason) {
        log += "close " + std::to_string(code) + " " + std::string(reason) + "\n";
    }
};

void append_server_frame(std::vector<uint8_t>& out, proto::Opcode op, const uint8_t* p, size_t n,
                         bool fin = true) {
    uint8_t h[proto::kMaxFrameHeader];
    const size_t hn = proto::encode_frame_header(h, op, n, fin);
    out.insert(out.end(), h, h + hn);
    out.insert(out.end(), p, p + n);
}

std::vector<uint8_t> bench_payload(uint32_t sender, uint64_t seq, size_t size) {
    std::vector<uint8_t> p(size, 0);
    write_payload_head(p.data(), {sender, seq, 12345});
    return p;
}

std::string read_all(const std::vector<uint8_t>& s, const std::vector<size_t>& cuts,
                     const char** err) {
    ServerFrameReader reader;
    Recorder rec;
    size_t at = 0;
    *err = nullptr;
    for (size_t i = 0; i <= cuts.size(); ++i) {
        const size_t end = i < cuts.size() ? cuts[i] : s.size();
        if (const char* e = reader.feed(s.data() + at, end - at, rec)) *err = e;
        at = end;
    }
    return rec.log;
}

void frame_reader_gives_the_same_events_however_the_stream_is_split() {
    std::vector<uint8_t> s;
    for (size_t size : {24u, 125u, 126u, 200u, 65535u, 65536u, 70000u}) {
        const auto p = bench_payload(3, size, size);
        append_server_frame(s, proto::Opcode::Binary, p.data(), p.size());
    }
    const auto frag = bench_payload(7, 99, 300);
    append_server_frame(s, proto::Opcode::Binary, frag.data(), 10, false);
    const uint8_t ping[] = {'h', 'i'};
    append_server_frame(s, proto::Opcode::Ping, ping, 2);
    append_server_frame(s, proto::Opcode::Continuation, frag.data() + 10, 290);
    uint8_t close[proto::kMaxControlFrame];
    const size_t cn = proto::encode_close_frame(close, 1001, "bye");
    s.insert(s.end(), close, close + cn);

    const char* err;
    const std::string whole = read_all(s, {}, &err);
    check(err == nullptr, "whole stream parses");
    check(whole.find("msg op=2 len=70000 seq=70000 sender=3") != std::string::npos,
          "64-bit length message read");
    check(whole.find("ping hi\nmsg op=2 len=300 seq=99 sender=7\nclose 1001 bye\n") !=
              std::string::npos,
          "ping inside a fragmented message, then the message, then close");
    bool same = true;
    for (size_t cut = 0; cut <= s.size(); cut += (cut < 400 || s.size() - cut < 400) ? 1 : 97)
        same = same && read_all(s, {cut}, &err) == whole && !err;
    check(same, "split in two at every offset gives the same events");
    std::vector<size_t> bytes;
    for (size_t i = 1; i < 2000; ++i) bytes.push_back(i);
    std::vector<uint8_t> head(s.begin(), s.begin() + 2000);
    const std::string whole_head = read_all(head, {}, &err);
    check(read_all(head, bytes, &err) == whole_head, "byte at a time gives the same events");
}

// --deflate: a compressed message (RSV1, split anywhere, a ping inside) is reported with its
// inflated head and length; RSV1 before the extension was agreed is an error.
void frame_reader_inflates_compressed_messages() {
    std::vector<uint8_t> text(512);
    write_text_head(text.data(), {4, 77, 999});
    for (size_t i = kTextHead; i < text.size(); ++i) text[i] = "{\"a\":1},"[i % 8];
    PayloadHead h;
    check(read_text_head(text.data(), h) && h.sender == 4 && h.seq == 77 && h.send_ns == 999,
          "text head round trip");
    proto::MessageDeflater d;
    std::vector<uint8_t> z(text.size() + 3);
    z.resize(d.compress(text.data(), text.size(), z.data(), z.size()));
    check(!z.empty() && z.size() < text.size(), "payload compresses");
    std::vector<uint8_t> s;
    append_server_frame(s, proto::Opcode::Text, z.data(), 5, false);
    s[0] |= 0x40;  // RSV1 on the first frame
    const uint8_t ping[] = {'p'};
    append_server_frame(s, proto::Opcode::Ping, ping, 1);
    append_server_frame(s, proto::Opcode::Continuation, z.data() + 5, z.size() - 5);
    proto::MessageInflater inflater;
    std::vector<uint8_t> scratch;
    bool all = true;
    for (size_t cut = 0; cut <= s.size(); ++cut) {
        ServerFrameReader r;
        r.enable_deflate(&inflater, &scratch);
        struct Got {
            uint64_t len = 0;
            PayloadHead h{};
            bool text_head = false;
            void on_message(proto::Opcode op, const uint8_t* head, size_t n, uint64_t l) {
                len = l;
                text_head = op == proto::Opcode::Text && n >= kTextHead && read_text_head(head, h);
            }
            void on_ping(const uint8_t*, size_t) {}
            void on_close(uint16_t, std::string_view) {}
        } g;
        const char* e1 = r.feed(s.data(), cut, g);
        const char* e2 = r.feed(s.data() + cut, s.size() - cut, g);
        all = all && !e1 && !e2 && g.len == 512 && g.text_head && g.h.seq == 77;
    }
    check(all, "compressed message inflated, split at every offset");
    ServerFrameReader plain;
    Recorder rec;
    check(plain.feed(s.data(), s.size(), rec) != nullptr, "RSV1 without the extension is an error");
}

void frame_reader_rejects_masked_and_reserved_frames() {
    Recorder rec;
    ServerFrameReader a;
    const uint8_t masked[] = {0x82, 0x81, 1, 2, 3, 4, 5};
    check(a.feed(masked, sizeof masked, rec) != nullptr, "masked server frame is an error");
    ServerFrameReader b;
    const uint8_t rsv[] = {0xC2, 0x00};
    check(b.feed(rsv, sizeof rsv, rec) != nullptr, "reserved bit is an error");
}

void bench_message_unmasks_to_head_and_zero_padding() {
    for (size_t size : {24u, 25u, 31u, 125u, 126u, 4096u, 65536u, 100001u}) {
        std::vector<uint8_t> f(client_frame_size(size));
        const uint32_t key = 0xA1B2C3D4u ^ static_cast<uint32_t>(size);
        const size_t n = encode_bench_message(f.data(), {5, 42, 777}, size, key);
        bool ok = n == f.size() && (f[0] == 0x82) && (f[1] & 0x80);
        const size_t h = n - size;
        uint32_t wire_key;
        std::memcpy(&wire_key, f.data() + h - 4, 4);
        proto::unmask(f.data() + h, size, wire_key, 0);
        PayloadHead got;
        ok = ok && read_payload_head(f.data() + h, got) && got.sender == 5 && got.seq == 42 &&
             got.send_ns == 777;
        for (size_t i = kPayloadHead; i < size && ok; ++i) ok = f[h + i] == 0;
        check(ok, ("bench message of " + std::to_string(size) + " bytes round-trips").c_str());
    }
}

void handshake_accepts_the_right_key_only() {
    const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    const ClientHandshake hs = make_client_handshake("127.0.0.1:9002", "/", key);
    proto::HandshakeParser server;
    check(server.feed(hs.request.data(), hs.request.size()) == proto::HandshakeStatus::Complete,
          "ringcast's parser accepts our request");
    const std::string resp =
        proto::build_accept_response(server.request()) + std::string("\x82\x00", 2);
    bool split_ok = true;
    for (size_t cut = 0; cut <= resp.size(); ++cut) {
        HandshakeResponseReader r;
        ResponseStatus st = r.feed(resp.data(), cut, hs.expected_accept);
        size_t used = r.consumed();
        if (st == ResponseStatus::NeedMore) {
            st = r.feed(resp.data() + cut, resp.size() - cut, hs.expected_accept);
            used = cut + r.consumed();
        }
        split_ok = split_ok && st == ResponseStatus::Accepted && used == resp.size() - 2;
    }
    check(split_ok, "101 response accepted at every split, frame bytes left over");
    std::string bad = proto::build_accept_response(server.request());
    bad[bad.find("Accept: ") + 9] ^= 1;
    HandshakeResponseReader r;
    check(r.feed(bad.data(), bad.size(), hs.expected_accept) == ResponseStatus::Rejected,
          "wrong Sec-WebSocket-Accept rejected");
    const std::string e = proto::build_error_response(400, "no");
    HandshakeResponseReader r2;
    check(r2.feed(e.data(), e.size(), hs.expected_accept) == ResponseStatus::Rejected,
          "400 rejected");
}

void histogram_percentiles_are_within_its_precision() {
    LatencyHistogram h;
    for (uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);
    const double p50 = static_cast<double>(h.percentile(0.5));
    const double p99 = static_cast<double>(h.percentile(0.99));
    check(p50 >= 50e6 && p50 <= 50e6 * 1.016, "p50 within 1.6%");
    check(p99 >= 99e6 && p99 <= 99e6 * 1.016, "p99 within 1.6%");
    check(h.percentile(1.0) == 100000 * 1000, "p100 is the maximum");
    bool mono = true;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const uint64_t v = x >> (x & 63);
        const size_t idx = LatencyHistogram::index_of(v);
        mono = mono && LatencyHistogram::highest_of(idx) >= v &&
               (idx == 0 || LatencyHistogram::highest_of(idx - 1) < v);
    }
    check(mono, "every value lands in the bucket whose range holds it");
}

void sequence_track_tells_gaps_late_and_duplicates_apart() {
    SequenceTrack t;
    bool ok = t.observe(0) == Arrival::InOrder && t.observe(1) == Arrival::InOrder &&
              t.observe(3) == Arrival::Gap && t.observe(2) == Arrival::Late &&
              t.observe(2) == Arrival::Duplicate && t.observe(3) == Arrival::Duplicate &&
              t.observe(200) == Arrival::Gap && t.observe(4) == Arrival::Late &&
              t.observe(199) == Arrival::Late && t.observe(199) == Arrival::Duplicate;
    check(ok, "gap, late, duplicate classified");
    check(t.unique == 7 && t.next == 201, "unique and next counted");
}

void senders_are_spread_over_every_server() {
    bool same = true;  // one server: the placement it always had
    for (uint32_t conns : {2u, 7u, 100u, 1000u})
        for (uint32_t senders = 1; senders <= conns && senders <= 40; ++senders)
            for (uint32_t s = 0; s < senders; ++s)
                same = same && RunPlan::sender_conn_of(s, conns, senders, 1) ==
                                   static_cast<uint32_t>(uint64_t{s} * conns / senders);
    check(same, "one URL: sender s on connection floor(s * conns / senders)");
    bool spread = true;
    for (uint32_t n : {2u, 3u, 5u})
        for (uint32_t conns : {2 * n, 2 * n + 1, 200u, 1001u})
            for (uint32_t senders = n; senders <= conns && senders <= 31; ++senders) {
                std::vector<uint32_t> per_server(n, 0);
                std::vector<bool> used(conns, false);
                for (uint32_t s = 0; s < senders; ++s) {
                    const uint32_t c = RunPlan::sender_conn_of(s, conns, senders, n);
                    spread = spread && c < conns && !used[c] && c % n == s % n;
                    if (c < conns) used[c] = true;
                    ++per_server[c % n];
                }
                for (uint32_t t = 0; t < n; ++t)
                    spread = spread && per_server[t] >= senders / n &&
                             per_server[t] <= (senders + n - 1) / n;
            }
    check(spread, "several URLs: distinct connections, sender s on server s mod N, even counts");
    // 200 connections, 10 senders, 2 servers: 5 senders on each, 40 connections apart.
    bool bridge = true;
    for (uint32_t s = 0; s < 10; ++s)
        bridge = bridge && RunPlan::sender_conn_of(s, 200, 10, 2) == (s % 2) + 2 * (20 * (s / 2));
    check(bridge, "200 conns, 10 senders, 2 URLs: connections 0, 1, 40, 41, ...");
}

std::string parse(std::vector<std::string> args, Options& o) {
    std::vector<char*> argv{const_cast<char*>("ringcast-bench")};
    for (auto& a : args) argv.push_back(a.data());
    return parse_options(static_cast<int>(argv.size()), argv.data(), o);
}

// --header and --token-file: the lines go into every upgrade request, before the blank line,
// ringcast's parser still takes the request, and connection i gets token i mod N.
void upgrade_headers_and_tokens() {
    Options h;
    check(parse({"--header", "X-Test: 1", "--header", "Authorization: Bearer abc"}, h).empty() &&
              h.headers.size() == 2,
          "--header repeatable");
    Options bad;
    check(!parse({"--header", "no colon"}, bad).empty() &&
              !parse({"--header", "Bad Name: x"}, bad).empty() &&
              !parse({"--header", "X: a\r\nY: b"}, bad).empty(),
          "--header refuses a line without a name, a name with a space, and CR/LF");
    RunPlan plan;
    plan.header_block = "X-Test: 1\r\n";
    plan.tokens = {"t0", "t1", "t2"};
    check(plan.extra_headers(4) == "X-Test: 1\r\nAuthorization: Bearer t1\r\n" &&
              plan.extra_headers(2).find("Bearer t2\r\n") != std::string::npos,
          "connection i sends token i mod N after the --header lines");
    const uint8_t key[16] = {};
    const ClientHandshake hs =
        make_client_handshake("127.0.0.1:9002", "/", key, false, plan.extra_headers(0));
    const std::string tail = "\r\nX-Test: 1\r\nAuthorization: Bearer t0\r\n\r\n";
    const size_t at = hs.request.find(tail);
    check(at != std::string::npos && at + tail.size() == hs.request.size(),
          "the extra lines end the request head");
    proto::HandshakeParser server;
    check(server.feed(hs.request.data(), hs.request.size()) == proto::HandshakeStatus::Complete,
          "ringcast's parser accepts a request with extra headers");
}

void urls_parse_into_targets() {
    Options one;
    check(parse({"--url", "ws://127.0.0.1:9100/x", "--port", "9101"}, one).empty() &&
              one.targets.size() == 1 && one.targets[0].port == 9101 && one.targets[0].path == "/x",
          "one --url, then --port: the last piece wins, as before");
    Options two;
    check(parse({"--url", "ws://127.0.0.1:9100/", "--url", "ws://localhost:9200/b"}, two).empty() &&
              two.targets.size() == 2 && two.targets[0].port == 9100 &&
              two.targets[1].host == "127.0.0.1" && two.targets[1].port == 9200 &&
              two.targets[1].path == "/b",
          "two --url: two targets in order");
    Options bad;
    check(!parse({"--url", "ws://127.0.0.1:1/", "--url", "ws://127.0.0.1:2/", "--port", "3"}, bad)
               .empty(),
          "--port with several --url is refused");
    Options pids;
    check(parse({"--server-pid", "10", "--server-pid", "20"}, pids).empty() &&
              pids.server_pids == std::vector<pid_t>{10, 20},
          "--server-pid repeatable");
}

// --channels N: connection i upgrades on /ch/<i mod N> (under the URL's path), sender s sits on
// channel s mod N, every channel gets senders/N of them on distinct connections, and a
// message is due at its channel's other connections only.
void channels_place_paths_and_senders() {
    Options o;
    check(parse({"--url", "ws://127.0.0.1:9100/", "--conns", "10000", "--senders", "100",
                 "--channels", "100"}, o).empty() && o.channels == 100,
          "--channels parses");
    Options bad;
    check(!parse({"--conns", "100", "--senders", "15", "--channels", "10"}, bad).empty(),
          "--senders not a multiple of --channels is refused");
    check(!parse({"--conns", "15", "--senders", "8", "--channels", "8"}, bad).empty(),
          "fewer than 2 connections per channel is refused");
    check(!parse({"--url", "ws://127.0.0.1:1/", "--url", "ws://127.0.0.1:2/", "--conns", "100",
                  "--senders", "2", "--channels", "2"}, bad).empty(),
          "--channels with several --url is refused");
    check(!parse({"--url", "ws://127.0.0.1:1/?token=x", "--conns", "100", "--channels", "1"}, bad)
               .empty(),
          "--channels with a query in the URL is refused");
    Options plain;
    check(parse({"--conns", "10"}, plain).empty() && plain.channels == 0, "no --channels: 0");

    RunPlan plan;
    plan.opts = o;
    plan.servers.push_back(Endpoint{});
    plan.servers[0].path = "/";
    check(plan.path_of_conn(0) == "/ch/0" && plan.path_of_conn(17) == "/ch/17" &&
              plan.path_of_conn(117) == "/ch/17" && plan.path_of_conn(9999) == "/ch/99",
          "connection i upgrades on /ch/<i mod N>");
    plan.servers[0].path = "/feed/";
    check(plan.path_of_conn(3) == "/feed/ch/3", "under the URL's path, one '/' between");
    const uint8_t key[16] = {};
    const ClientHandshake hs = make_client_handshake("127.0.0.1:9100", plan.path_of_conn(42), key);
    proto::HandshakeParser server;
    check(server.feed(hs.request.data(), hs.request.size()) == proto::HandshakeStatus::Complete &&
              server.request().target == "/feed/ch/42",
          "ringcast's parser sees the channel path as the request target");

    bool placed = true;
    for (uint32_t n : {1u, 2u, 7u, 100u})
        for (uint32_t conns : {2 * n, 2 * n + 3, 1000u, 10000u})
            for (uint32_t per : {1u, 2u, 3u}) {
                Options q;
                q.conns = conns;
                q.senders = n * per;
                q.channels = n;
                if (q.senders > conns) continue;
                RunPlan p;
                p.opts = q;
                std::vector<uint32_t> per_channel(n, 0);
                std::vector<bool> used(conns, false);
                for (uint32_t sl = 0; sl < q.senders; ++sl) {
                    const uint32_t c = p.sender_conn(sl);
                    placed = placed && c < conns && !used[c] &&
                             p.channel_of_conn(c) == p.channel_of_slot(sl);
                    if (c < conns) {
                        used[c] = true;
                        ++per_channel[p.channel_of_conn(c)];
                    }
                }
                for (uint32_t ch = 0; ch < n; ++ch) placed = placed && per_channel[ch] == per;
                uint64_t members = 0;
                for (uint32_t ch = 0; ch < n; ++ch) members += p.channel_members(ch);
                placed = placed && members == conns;
            }
    check(placed, "senders on distinct connections of their own channel, the same count each");
    RunPlan c1;
    c1.opts = o;
    check(c1.fanout_of_slot(0) == 99 && c1.fanout_of_slot(99) == 99 && c1.sender_conn(5) == 5,
          "10,000 connections over 100 channels: 99 deliveries due per message");
    RunPlan one;
    one.opts.conns = 1000;
    one.opts.senders = 10;
    one.servers.push_back(Endpoint{});
    one.servers[0].path = "/x/";
    bool unchanged = one.fanout_of_slot(3) == 999 && one.path_of_conn(7) == "/x/" &&
                     one.channel_of_conn(7) == 0 && one.channel_of_slot(9) == 0;
    for (uint32_t sl = 0; sl < 10; ++sl) unchanged = unchanged && one.sender_conn(sl) == sl * 100;
    check(unchanged, "no --channels: one audience, placement and fan-out as before");
}

// One server frame carrying sender `sender`'s message `seq` of `size` bytes.
void append_bench_frame(std::vector<uint8_t>& out, uint32_t sender, uint64_t seq, size_t size) {
    const auto p = bench_payload(sender, seq, size);
    append_server_frame(out, proto::Opcode::Binary, p.data(), p.size());
}

// Per-channel accounting through a real reactor's receive path (no sockets): 12 connections
// over 3 channels, 2 senders each. Deliveries within a channel count, a message on the wrong
// channel is a cross_channel error and no delivery, a duplicate stays a duplicate, and loss is
// computed over the sender's channel only.
void channels_account_per_channel() {
    RunPlan plan;
    Options& o = plan.opts;
    o.conns = 12;
    o.senders = 6;
    o.channels = 3;
    o.size = 64;
    o.rate = 10;
    plan.servers.push_back(Endpoint{});
    RunControl control;
    ThreadProgress progress;
    ClientReactor r(plan, control, progress, 0);
    r.open_all_for_test();
    // Senders: slot s on channel s % 3 -> connections 0, 1, 2 (slots 0-2), 6, 7, 8 (slots 3-5).
    bool where = plan.sender_conn(0) == 0 && plan.sender_conn(4) == 7;
    check(where, "12 conns, 6 senders, 3 channels: slots 0-2 on 0-2, 3-5 on 6-8");
    r.sent_for_test(2);  // every sender sent seq 0 and 1
    check(progress.expected.load() == 6 * 2 * 3, "expected: 2 messages x 3 others per sender");
    // Channel 0 is connections 0, 3, 6, 9; its senders are slots 0 (conn 0) and 3 (conn 6).
    for (uint32_t conn : {3u, 9u, 6u}) {
        std::vector<uint8_t> f;
        append_bench_frame(f, 0, 0, 64);
        append_bench_frame(f, 0, 1, 64);
        r.feed_for_test(conn, f.data(), f.size(), 1000);
    }
    std::vector<uint8_t> g;
    append_bench_frame(g, 3, 0, 64);
    append_bench_frame(g, 3, 0, 64);  // duplicate
    append_bench_frame(g, 1, 0, 64);  // slot 1 is on channel 1: wrong channel for conn 3
    r.feed_for_test(3, g.data(), g.size(), 2000);
    std::vector<uint8_t> self;
    append_bench_frame(self, 3, 1, 64);  // conn 6 is slot 3 itself
    r.feed_for_test(6, self.data(), self.size(), 2000);
    r.finish_for_test();
    const ThreadResult& x = r.result();
    check(x.deliveries == 6 + 2 && x.duplicates == 1 && x.cross_channel == 1 && x.self_echo == 1,
          "deliveries on the channel counted, duplicate, cross-channel and self-echo apart");
    check(x.errors == 1 && !x.error_samples.empty() &&
              x.error_samples[0].find("cross-channel") != std::string::npos,
          "a cross-channel delivery is an error with a sample");
    LossTotals lt;
    add_receiver_loss(plan, x, std::vector<uint64_t>(6, 2), lt);
    // Due: 6 senders x 2 messages x 3 others = 36; had: 6 from slot 0, 1 from slot 3.
    check(lt.unique == 7 && lt.loss == 36 - 7, "loss counted over each sender's channel only");
    check(lt.by_channel[0] == 12 - 7 && lt.by_channel[1] == 12 && lt.by_channel[2] == 12 &&
              lt.by_sender[0] == 0 && lt.by_sender[3] == 5,
          "loss per channel and per sender");
}

void proc_stat_cpu_lines_parse() {
    int cpu = -1;
    uint64_t irq = 0, sirq = 0, busy = 0;
    check(parse_cpu_line("cpu1 100 20 30 400 50 6 7 8 0 0", cpu, irq, sirq, busy) && cpu == 1 &&
              irq == 6 && sirq == 7 && busy == 100 + 20 + 30 + 6 + 7 + 8,
          "/proc/stat cpuN line: irq, softirq, busy without idle and iowait");
    check(!parse_cpu_line("cpu  100 20 30 400 50 6 7 8 0 0", cpu, irq, sirq, busy),
          "/proc/stat all-CPU line is not a per-CPU line");
    check(!parse_cpu_line("intr 1 2 3", cpu, irq, sirq, busy), "other /proc/stat lines refused");
}

}  // namespace

int run_self_test() {
    frame_reader_gives_the_same_events_however_the_stream_is_split();
    frame_reader_rejects_masked_and_reserved_frames();
    frame_reader_inflates_compressed_messages();
    bench_message_unmasks_to_head_and_zero_padding();
    handshake_accepts_the_right_key_only();
    histogram_percentiles_are_within_its_precision();
    sequence_track_tells_gaps_late_and_duplicates_apart();
    senders_are_spread_over_every_server();
    urls_parse_into_targets();
    upgrade_headers_and_tokens();
    proc_stat_cpu_lines_parse();
    channels_place_paths_and_senders();
    channels_account_per_channel();
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

}  // namespace ringcast::bench
