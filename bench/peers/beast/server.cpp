// Benchmark peer: a Boost.Beast broadcast server, the shape of Beast's websocket chat
// example. Every message a client sends goes to every OTHER client, text as text and binary
// as binary. ONE thread runs one io_context (like a ringcast shard, it uses one core).
// A received message is copied once into a shared buffer; every receiver queues a reference
// to it and writes its queue one message at a time (Beast allows one write in flight per
// stream), as a single unfragmented frame.
//
//   bench-peer-beast PORT [HOST]     (HOST defaults to 127.0.0.1)
//
// Prints "listening HOST:PORT" on stdout once bound; SIGTERM/SIGINT stop it.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

struct Message {
    std::string bytes;
    bool text = false;
};

class Session;

// Every open session; touched only from the one io_context thread, so no lock.
struct Room {
    std::unordered_set<Session*> sessions;
    void broadcast(Session* from, const std::shared_ptr<const Message>& m);
};

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, Room& room) : ws_(std::move(socket)), room_(room) {}

    void start() {
        beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.read_message_max(64u << 20);
        ws_.auto_fragment(false);  // one frame per message, as the other servers send
        ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
            if (ec) return;
            self->room_.sessions.insert(self.get());
            self->joined_ = true;
            self->read();
        });
    }

    ~Session() {
        if (joined_) room_.sessions.erase(this);
    }

    void queue(const std::shared_ptr<const Message>& m) {
        queue_.push_back(m);
        if (queue_.size() == 1) write();
    }

  private:
    void read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->leave();
            auto m = std::make_shared<Message>();
            m->bytes = beast::buffers_to_string(self->buffer_.data());
            m->text = self->ws_.got_text();
            self->buffer_.consume(self->buffer_.size());
            self->room_.broadcast(self.get(), m);
            self->read();
        });
    }

    void write() {
        const Message& m = *queue_.front();
        ws_.text(m.text);
        ws_.async_write(asio::buffer(m.bytes),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return self->leave();
                            self->queue_.pop_front();
                            if (!self->queue_.empty()) self->write();
                        });
    }

    // Out of the room at once, so nobody queues to a dead stream. The queue stays: a write
    // in flight still reads its front. The last pending handler's reference frees us.
    void leave() {
        if (joined_) room_.sessions.erase(this);
        joined_ = false;
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

    websocket::stream<beast::tcp_stream> ws_;
    Room& room_;
    beast::flat_buffer buffer_;
    std::deque<std::shared_ptr<const Message>> queue_;
    bool joined_ = false;
};

void Room::broadcast(Session* from, const std::shared_ptr<const Message>& m) {
    for (Session* s : sessions)
        if (s != from) s->queue(m);
}

class Listener : public std::enable_shared_from_this<Listener> {
  public:
    Listener(asio::io_context& io, const tcp::endpoint& at, Room& room)
        : io_(io), acceptor_(io), room_(room) {
        acceptor_.open(at.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(at);
        acceptor_.listen(asio::socket_base::max_listen_connections);
    }
    void accept() {
        acceptor_.async_accept(
            io_, [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
                if (!ec) std::make_shared<Session>(std::move(s), self->room_)->start();
                self->accept();
            });
    }

  private:
    asio::io_context& io_;
    tcp::acceptor acceptor_;
    Room& room_;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench-peer-beast PORT [HOST]\n");
        return 1;
    }
    const long port = std::strtol(argv[1], nullptr, 10);
    if (port < 1 || port > 65535) {
        std::fprintf(stderr, "bench-peer-beast: bad port %s\n", argv[1]);
        return 1;
    }
    const std::string host = argc > 2 ? argv[2] : "127.0.0.1";
    try {
        asio::io_context io(1);  // concurrency hint 1: one thread, no internal locking
        Room room;
        const tcp::endpoint at(asio::ip::make_address(host), static_cast<unsigned short>(port));
        std::make_shared<Listener>(io, at, room)->accept();
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&io](beast::error_code, int) { io.stop(); });
        std::printf("listening %s:%ld\n", host.c_str(), port);
        std::fflush(stdout);
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench-peer-beast: %s\n", e.what());
        return 2;
    }
    return 0;
}
