// Handoff wire format and socket helpers.
#include "worker/handoff.hpp"

#include "admission/channel.hpp"
#include "admission/jwt.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ringcast::worker::handoff {

namespace {

class Writer {
public:
    template <class T>
    void put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        buf.insert(buf.end(), p, p + sizeof v);
    }
    void bytes(const std::vector<uint8_t>& v) {
        put<uint64_t>(v.size());
        buf.insert(buf.end(), v.begin(), v.end());
    }
    std::vector<uint8_t> buf;
};

class Reader {
public:
    explicit Reader(const std::vector<uint8_t>& b) : buf_(b) {}
    template <class T>
    bool get(T* v) {
        if (buf_.size() - pos_ < sizeof(T)) return false;
        std::memcpy(v, buf_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }
    bool bytes(std::vector<uint8_t>* v) {
        uint64_t n;
        if (!get(&n) || buf_.size() - pos_ < n) return false;
        v->assign(buf_.begin() + static_cast<long>(pos_), buf_.begin() + static_cast<long>(pos_ + n));
        pos_ += n;
        return true;
    }
    bool done() const { return pos_ == buf_.size(); }

private:
    const std::vector<uint8_t>& buf_;
    size_t pos_ = 0;
};

struct Header {
    Kind kind;
    uint8_t pad[3];
    uint32_t member;
    uint64_t value;  // Fds: count; End: blob size
};

bool send_all(int sock, const void* data, size_t n, const int* fds, size_t nfds) {
    iovec iov{const_cast<void*>(data), n};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    if (nfds) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    while (true) {
        ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (r == static_cast<ssize_t>(n)) return true;
        if (r < 0 && errno == EINTR) continue;
        return false;
    }
}

}  // namespace

std::vector<uint8_t> encode(const ShardState& s) {
    Writer w;
    w.put(kWireVersion);
    w.put(proto::kFrameParserStateVersion);
    w.put<uint32_t>(sizeof(proto::FrameParserState));
    w.put(s.member);
    w.put(s.next_serial);
    w.put<uint32_t>(static_cast<uint32_t>(s.next_seq.size()));
    for (uint64_t v : s.next_seq) w.put(v);
    w.put<uint32_t>(static_cast<uint32_t>(s.conns.size()));
    for (const ConnRecord& c : s.conns) {
        w.put(c.fd_index);
        w.put(c.serial);
        w.put(c.state);
        w.put(c.msg_op);
        w.put<uint8_t>(static_cast<uint8_t>(c.msg_active | (c.msg_ready << 1) | (c.ping_outstanding << 2) |
                                            (c.want_close << 3) | (c.msg_compressed << 4) |
                                            (c.inflate_context << 5)));
        w.put(c.deflate);
        w.bytes(c.inflate_window);
        w.put(c.rx_age_ns);
        w.put(c.age_ns);
        w.put(c.bytes_in);
        w.put(c.bytes_out);
        w.put(c.msgs_in);
        w.put(c.msgs_out);
        w.put(c.parser);
        w.bytes(c.assembly);
        w.bytes(c.pending_input);
        w.bytes(c.handshake);
        w.put(c.out_offset);
        w.put<uint32_t>(static_cast<uint32_t>(c.out.size()));
        for (const OutRecord& o : c.out) {
            w.put(o.producer);
            w.put(o.seq);
            w.put(o.len);
            if (o.producer == 0xFFFF) w.bytes(o.owned);
        }
        w.bytes(std::vector<uint8_t>(c.channel.begin(), c.channel.end()));
        w.put(c.admission);
        w.put<uint8_t>(c.has_grant);
        if (c.has_grant) {
            w.bytes(std::vector<uint8_t>(c.grant.subject.begin(), c.grant.subject.end()));
            w.put(c.grant.expires_at_ms);
            w.put<uint8_t>(c.grant.buckets_set);
            w.put(c.grant.buckets);
        }
    }
    return std::move(w.buf);
}

bool decode(const std::vector<uint8_t>& blob, ShardState* s) {
    Reader r(blob);
    uint32_t version, parser_version, parser_size, n;
    if (!r.get(&version) || version != kWireVersion) return false;
    if (!r.get(&parser_version) || parser_version != proto::kFrameParserStateVersion) return false;
    if (!r.get(&parser_size) || parser_size != sizeof(proto::FrameParserState)) return false;
    if (!r.get(&s->member) || !r.get(&s->next_serial) || !r.get(&n)) return false;
    if (n > 65536) return false;
    s->next_seq.resize(n);
    for (auto& v : s->next_seq) {
        if (!r.get(&v)) return false;
    }
    if (!r.get(&n)) return false;
    s->conns.clear();
    for (uint32_t i = 0; i < n; ++i) {
        ConnRecord c;
        uint8_t flags;
        uint32_t outs;
        if (!r.get(&c.fd_index) || !r.get(&c.serial) || !r.get(&c.state) || !r.get(&c.msg_op) || !r.get(&flags) ||
            !r.get(&c.deflate) || !r.bytes(&c.inflate_window) || !r.get(&c.rx_age_ns) || !r.get(&c.age_ns) || !r.get(&c.bytes_in) || !r.get(&c.bytes_out) ||
            !r.get(&c.msgs_in) || !r.get(&c.msgs_out) || !r.get(&c.parser) || !r.bytes(&c.assembly) || !r.bytes(&c.pending_input) ||
            !r.bytes(&c.handshake) || !r.get(&c.out_offset) || !r.get(&outs)) {
            return false;
        }
        c.msg_active = flags & 1;
        c.msg_ready = flags & 2;
        c.ping_outstanding = flags & 4;
        c.want_close = flags & 8;
        c.msg_compressed = flags & 16;
        c.inflate_context = flags & 32;
        if (c.inflate_window.size() > 32768) return false;  // an LZ77 window is at most 32 KiB
        for (uint32_t k = 0; k < outs; ++k) {
            OutRecord o;
            if (!r.get(&o.producer) || !r.get(&o.seq) || !r.get(&o.len)) return false;
            if (o.producer == 0xFFFF && !r.bytes(&o.owned)) return false;
            c.out.push_back(std::move(o));
        }
        std::vector<uint8_t> channel;
        if (!r.bytes(&channel) || channel.size() > admission::kMaxChannelName) return false;
        c.channel.assign(channel.begin(), channel.end());
        uint8_t has_grant = 0;
        if (!r.get(&c.admission) || !r.get(&has_grant)) return false;
        c.has_grant = has_grant != 0;
        if (c.has_grant) {
            std::vector<uint8_t> subject;
            uint8_t buckets_set = 0;
            if (!r.bytes(&subject) || subject.size() > admission::kMaxTokenBytes || !r.get(&c.grant.expires_at_ms) ||
                !r.get(&buckets_set) || !r.get(&c.grant.buckets))
                return false;
            c.grant.subject.assign(subject.begin(), subject.end());
            c.grant.buckets_set = buckets_set != 0;
        }
        s->conns.push_back(std::move(c));
    }
    return r.done();
}

bool send_shard(int sock, uint32_t member, const std::vector<uint8_t>& blob, const std::vector<int>& fds) {
    std::vector<uint8_t> msg;
    for (size_t off = 0; off < blob.size(); off += kChunkBytes) {
        size_t n = std::min(kChunkBytes, blob.size() - off);
        Header h{Kind::Data, {}, member, n};
        msg.assign(reinterpret_cast<uint8_t*>(&h), reinterpret_cast<uint8_t*>(&h) + sizeof h);
        msg.insert(msg.end(), blob.begin() + static_cast<long>(off), blob.begin() + static_cast<long>(off + n));
        if (!send_all(sock, msg.data(), msg.size(), nullptr, 0)) return false;
    }
    for (size_t off = 0; off < fds.size(); off += kMaxFdsPerMessage) {
        size_t n = std::min(kMaxFdsPerMessage, fds.size() - off);
        Header h{Kind::Fds, {}, member, n};
        if (!send_all(sock, &h, sizeof h, fds.data() + off, n)) return false;
    }
    Header end{Kind::End, {}, member, blob.size()};
    return send_all(sock, &end, sizeof end, nullptr, 0);
}

bool send_ack(int sock, uint32_t member) {
    Header h{Kind::Ack, {}, member, 0};
    return send_all(sock, &h, sizeof h, nullptr, 0);
}

int receive_one(int sock, std::vector<Incoming>& members) {
    std::vector<uint8_t> buf(sizeof(Header) + kChunkBytes);
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r;
    do {
        r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < static_cast<ssize_t>(sizeof(Header))) return -1;
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const auto* p = reinterpret_cast<const int*>(CMSG_DATA(c));
            fds.insert(fds.end(), p, p + n);
        }
    }
    Header h;
    std::memcpy(&h, buf.data(), sizeof h);
    auto bad = [&] {
        for (int fd : fds) ::close(fd);
        return -1;
    };
    if (h.member >= members.size() || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) return bad();
    Incoming& in = members[h.member];
    switch (h.kind) {
        case Kind::Data:
            if (h.value != static_cast<uint64_t>(r) - sizeof h) return bad();
            in.blob.insert(in.blob.end(), buf.begin() + sizeof h, buf.begin() + r);
            return 1;
        case Kind::Fds:
            if (fds.size() != h.value) return bad();
            in.fds.insert(in.fds.end(), fds.begin(), fds.end());
            return 1;
        case Kind::End:
            if (h.value != in.blob.size()) return bad();
            in.complete = true;
            return 1;
        case Kind::Ack:
            break;
    }
    return bad();
}

int receive_ack(int sock) {
    Header h;
    ssize_t r;
    do {
        r = recv(sock, &h, sizeof h, 0);
    } while (r < 0 && errno == EINTR);
    if (r != static_cast<ssize_t>(sizeof h) || h.kind != Kind::Ack) return -1;
    return static_cast<int>(h.member);
}

}  // namespace ringcast::worker::handoff
