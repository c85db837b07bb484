/*
 * The specification of the control socket (supervisor/control_server.hpp): a real
 * ControlServer on a temporary path, driven by poll in the test's own loop, talked to by real
 * client sockets. Covers dispatch and framing, deferred answers, every error answer and
 * limit, clients that vanish, and the socket file's lifecycle (mode, parents, stale, live).
 */
#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/control_server.hpp"

using namespace ringcast;
using namespace ringcast::supervisor;
using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char templ[] = "/tmp/rc-ctl-XXXXXX";
        REQUIRE(::mkdtemp(templ) != nullptr);
        path = templ;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::unique_ptr<ControlServer> open_ok(const std::string& path, const std::string& group = "") {
    auto r = ControlServer::open(path, group);
    const auto* err = std::get_if<std::string>(&r);
    REQUIRE_MESSAGE(err == nullptr, "unexpected error: " << (err ? *err : std::string()));
    return std::move(std::get<std::unique_ptr<ControlServer>>(r));
}

std::string open_error(const std::string& path, const std::string& group = "") {
    auto r = ControlServer::open(path, group);
    const auto* err = std::get_if<std::string>(&r);
    return err ? *err : "(opened)";
}

// Answers like a supervisor would: status at once, restart later (the test replies),
// "big" with a large payload, "throw" by throwing, anything else as unknown.
class Recorder : public ControlHandler {
  public:
    ControlServer* server = nullptr;
    std::vector<json> requests;
    std::vector<ControlClientId> ids;

    void on_request(const json& request, ControlClientId id) override {
        requests.push_back(request);
        ids.push_back(id);
        const std::string cmd = request["cmd"].get<std::string>();
        if (cmd == "restart") return;  // answered when "the new worker is ready"
        if (cmd == "throw") throw std::runtime_error("boom");
        if (cmd == "status") {
            server->reply(id, ok_reply({{"echo", request}}));
        } else if (cmd == "big") {
            server->reply(
                id, ok_reply({{"blob", std::string(request.value("bytes", size_t{0}), 'x')}}));
        } else {
            server->reply(id, error_reply("unknown command: " + cmd));
        }
    }
};

// One turn of the supervisor's loop.
void pump(ControlServer& s, ControlHandler& h, int timeout_ms = 5) {
    std::vector<pollfd> fds;
    fds.push_back({-1, 0, 0});  // someone else's entry, as in the supervisor
    s.add_pollfds(fds);
    ::poll(fds.data(), fds.size(), timeout_ms);
    s.on_poll(fds, h);
}

template <class Pred>
bool pump_until(ControlServer& s, ControlHandler& h, Pred done, int timeout_ms = 3000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
        if (Clock::now() > deadline) return false;
        pump(s, h);
    }
    return true;
}

class Client {
  public:
    explicit Client(const std::string& path) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size());
        fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(fd_.valid());
        REQUIRE_MESSAGE(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                        "connect: " << std::strerror(errno));
        ::fcntl(fd_.get(), F_SETFL, O_NONBLOCK);
    }
    int fd() const { return fd_.get(); }
    void close() { fd_.reset(); }
    void shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

    // Sends everything, letting the server run while our buffer is full.
    void send(ControlServer& s, ControlHandler& h, const std::string& bytes) {
        size_t sent = 0;
        const auto deadline = Clock::now() + std::chrono::seconds(5);
        while (sent < bytes.size()) {
            REQUIRE(Clock::now() < deadline);
            ssize_t n = ::send(fd_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += static_cast<size_t>(n);
            } else {
                REQUIRE_MESSAGE(errno == EAGAIN, "send: " << std::strerror(errno));
                pump(s, h);
            }
        }
    }

    // The next answer line, or nullopt at EOF (or reset). Fails the test on a timeout.
    std::optional<std::string> read_line(ControlServer& s, ControlHandler& h,
                                         int timeout_ms = 3000) {
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (true) {
            if (auto nl = in_.find('\n'); nl != std::string::npos) {
                std::string line = in_.substr(0, nl);
                in_.erase(0, nl + 1);
                return line;
            }
            char buf[65536];
            ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
            if (n > 0) {
                in_.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return std::nullopt;
            REQUIRE_MESSAGE(errno == EAGAIN, "recv: " << std::strerror(errno));
            REQUIRE_MESSAGE(Clock::now() < deadline, "no answer in time");
            pump(s, h);
        }
    }

    json read_answer(ControlServer& s, ControlHandler& h) {
        auto line = read_line(s, h);
        REQUIRE_MESSAGE(line.has_value(), "connection closed instead of an answer");
        return json::parse(*line);
    }

    // True when the server closed the connection (reading and discarding what is left).
    bool closed_by_server(ControlServer& s, ControlHandler& h, int timeout_ms = 3000) {
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (Clock::now() < deadline) {
            char buf[65536];
            ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
            if (n < 0) pump(s, h);
        }
        return false;
    }

    // Nothing arrives for a while (the server keeps running meanwhile).
    bool silent(ControlServer& s, ControlHandler& h, int ms = 100) {
        const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
        while (Clock::now() < deadline) {
            pump(s, h);
            char c;
            if (::recv(fd_.get(), &c, 1, MSG_PEEK) >= 0) return false;
        }
        return true;
    }

  private:
    Fd fd_;
    std::string in_;
};

struct Fixture {
    TempDir dir;
    std::string path = dir.path + "/control.sock";
    std::unique_ptr<ControlServer> server = open_ok(path);
    Recorder handler;
    Fixture() { handler.server = server.get(); }
    Client connect() { return Client(path); }
    json ask(Client& c, const std::string& line) {
        c.send(*server, handler, line);
        return c.read_answer(*server, handler);
    }
};

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mode;
}

}  // namespace

TEST_CASE("ok_reply and error_reply always carry ok") {
    CHECK(ok_reply() == json{{"ok", true}});
    CHECK(ok_reply({{"pid", 7}}) == json{{"ok", true}, {"pid", 7}});
    CHECK(ok_reply({{"ok", false}, {"x", 1}}) == json{{"ok", true}, {"x", 1}});
    CHECK(ok_reply(json::array({1, 2})) == json{{"ok", true}, {"result", {1, 2}}});
    CHECK(error_reply("unknown command: foo") ==
          json{{"ok", false}, {"error", "unknown command: foo"}});
}

TEST_CASE("a well-formed request is dispatched with its fields and answered on the same line") {
    Fixture f;
    Client c = f.connect();
    json answer = f.ask(c, R"({"cmd":"status","verbose":true})"
                           "\n");
    CHECK(answer["ok"] == true);
    CHECK(answer["echo"] == json{{"cmd", "status"}, {"verbose", true}});
    REQUIRE(f.handler.requests.size() == 1);
    CHECK(f.handler.requests[0]["cmd"] == "status");

    // The handler's error for an unknown command reaches the client as is.
    answer = f.ask(c, R"({"cmd":"foo"})"
                      "\n");
    CHECK(answer == json{{"ok", false}, {"error", "unknown command: foo"}});
}

TEST_CASE(
    "requests split across writes, pipelined, with CRLF or blank lines are all answered in order") {
    Fixture f;
    Client c = f.connect();
    c.send(*f.server, f.handler, R"({"cmd":"sta)");
    pump(*f.server, f.handler);
    CHECK(f.handler.requests.empty());
    c.send(*f.server, f.handler,
           "tus\",\"n\":1}\n\n{\"cmd\":\"status\",\"n\":2}\r\n   \n{\"cmd\":\"status\",\"n\":3}\n");
    for (int n = 1; n <= 3; ++n) CHECK(c.read_answer(*f.server, f.handler)["echo"]["n"] == n);
    CHECK(f.handler.requests.size() == 3);
}

TEST_CASE("a deferred answer reaches the client that asked, after others were served") {
    Fixture f;
    Client a = f.connect();
    Client b = f.connect();
    a.send(*f.server, f.handler,
           R"({"cmd":"restart","worker":1})"
           "\n");
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.handler.requests.size() == 1; }));
    const ControlClientId restart_id = f.handler.ids[0];
    CHECK(f.handler.requests[0]["worker"] == 1);
    CHECK(a.silent(*f.server, f.handler));

    CHECK(f.ask(b, R"({"cmd":"status"})"
                   "\n")["ok"] == true);  // others are not held up

    f.server->reply(restart_id, ok_reply({{"worker", 1}, {"pid", 4242}}));
    json answer = a.read_answer(*f.server, f.handler);
    CHECK(answer == json{{"ok", true}, {"worker", 1}, {"pid", 4242}});
    CHECK(b.silent(*f.server, f.handler));
}

TEST_CASE("malformed JSON is answered with the parser's reason and the connection stays usable") {
    Fixture f;
    Client c = f.connect();
    json answer = f.ask(c, "{\"cmd\": \"status\"\n");
    CHECK(answer["ok"] == false);
    const std::string error = answer["error"].get<std::string>();
    CHECK(error.starts_with("malformed JSON: "));
    CHECK(error.find("line 1") != std::string::npos);
    CHECK(error.find("[json.exception") == std::string::npos);

    // Invalid UTF-8 inside the request still gives a valid JSON answer line.
    answer = f.ask(c, "{\"cmd\": \"\xff\xfe\"}\n");
    CHECK(answer["ok"] == false);

    CHECK(f.ask(c, R"({"cmd":"status"})"
                   "\n")["ok"] == true);
    CHECK(f.handler.requests.size() == 1);
}

TEST_CASE("a request that is not an object, lacks cmd, or has a non-string cmd gets an error") {
    Fixture f;
    Client c = f.connect();
    json answer = f.ask(c, "[1,2]\n");
    CHECK(answer["ok"] == false);
    CHECK(answer["error"].get<std::string>().find("JSON object") != std::string::npos);
    answer = f.ask(c, R"({"command":"status"})"
                      "\n");
    CHECK(answer["ok"] == false);
    CHECK(answer["error"].get<std::string>().starts_with("missing \"cmd\""));
    answer = f.ask(c, R"({"cmd":5})"
                      "\n");
    CHECK(answer == json{{"ok", false}, {"error", "\"cmd\" must be a string"}});
    CHECK(f.handler.requests.empty());
    CHECK(f.ask(c, R"({"cmd":"status"})"
                   "\n")["ok"] == true);  // still connected
}

TEST_CASE("a line of exactly 64 KiB is accepted") {
    Fixture f;
    Client c = f.connect();
    const std::string head = R"({"cmd":"status","pad":")";
    const std::string line =
        head + std::string(ControlServer::kMaxLineBytes - head.size() - 2, 'p') + "\"}";
    REQUIRE(line.size() == ControlServer::kMaxLineBytes);
    CHECK(f.ask(c, line + "\n")["ok"] == true);
}

TEST_CASE("a line over 64 KiB is answered with 'request too long' and the connection closed") {
    SUBCASE("with its newline") {
        Fixture f;
        Client c = f.connect();
        // One byte over: the twin of the exactly-64-KiB case above.
        const std::string head = R"({"cmd":"status","pad":")";
        const std::string line =
            head + std::string(ControlServer::kMaxLineBytes - head.size() - 1, 'p') + "\"}";
        REQUIRE(line.size() == ControlServer::kMaxLineBytes + 1);
        c.send(*f.server, f.handler, line + "\n");
        CHECK(c.read_answer(*f.server, f.handler) ==
              json{{"ok", false}, {"error", "request too long"}});
        CHECK(c.closed_by_server(*f.server, f.handler));
        CHECK(f.handler.requests.empty());
    }
    SUBCASE("still without a newline") {
        Fixture f;
        Client c = f.connect();
        c.send(*f.server, f.handler, std::string(70 * 1024, ' '));
        CHECK(c.read_answer(*f.server, f.handler) ==
              json{{"ok", false}, {"error", "request too long"}});
        CHECK(c.closed_by_server(*f.server, f.handler));
        REQUIRE(pump_until(*f.server, f.handler, [&] { return f.server->client_count() == 0; }));
    }
}

TEST_CASE("the 65th client gets an error line and is closed; the first 64 keep working") {
    Fixture f;
    std::vector<Client> clients;
    for (size_t i = 0; i < ControlServer::kMaxClients; ++i) clients.push_back(f.connect());
    REQUIRE(pump_until(*f.server, f.handler,
                       [&] { return f.server->client_count() == ControlServer::kMaxClients; }));
    Client extra = f.connect();
    json refusal = extra.read_answer(*f.server, f.handler);
    CHECK(refusal["ok"] == false);
    CHECK(refusal["error"].get<std::string>().find("too many control clients") !=
          std::string::npos);
    CHECK(extra.closed_by_server(*f.server, f.handler));
    CHECK(f.server->client_count() == ControlServer::kMaxClients);
    CHECK(f.ask(clients.front(), R"({"cmd":"status"})"
                                 "\n")["ok"] == true);
    CHECK(f.ask(clients.back(), R"({"cmd":"status"})"
                                "\n")["ok"] == true);

    // A slot freed is a slot a new client can have.
    clients.front().close();
    REQUIRE(pump_until(*f.server, f.handler,
                       [&] { return f.server->client_count() == ControlServer::kMaxClients - 1; }));
    Client late = f.connect();
    CHECK(f.ask(late, R"({"cmd":"status"})"
                      "\n")["ok"] == true);
}

TEST_CASE("a client that vanishes mid-reply does not break the next one") {
    Fixture f;
    SUBCASE("gone before its large answer is written") {
        Client c = f.connect();
        c.send(*f.server, f.handler,
               R"({"cmd":"big","bytes":4000000})"
               "\n");
        c.close();
    }
    SUBCASE("gone while its large answer is being written") {
        Client c = f.connect();
        c.send(*f.server, f.handler,
               R"({"cmd":"big","bytes":4000000})"
               "\n");
        REQUIRE(pump_until(*f.server, f.handler, [&] { return f.handler.requests.size() == 1; }));
        char buf[4096];
        CHECK(::recv(c.fd(), buf, sizeof buf, 0) > 0);  // part of it arrived
        c.close();
    }
    SUBCASE("gone before its deferred answer") {
        Client c = f.connect();
        c.send(*f.server, f.handler,
               R"({"cmd":"restart","worker":"all"})"
               "\n");
        REQUIRE(pump_until(*f.server, f.handler, [&] { return f.handler.requests.size() == 1; }));
        c.close();
        REQUIRE(pump_until(*f.server, f.handler, [&] { return f.server->client_count() == 0; }));
        f.server->reply(f.handler.ids[0], ok_reply());  // a no-op
    }
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.server->client_count() == 0; }));
    Client next = f.connect();
    CHECK(f.ask(next, R"({"cmd":"status"})"
                      "\n")["ok"] == true);
}

TEST_CASE("an answer for a client that went away never reaches the client now in its slot") {
    Fixture f;
    Client a = f.connect();
    a.send(*f.server, f.handler,
           R"({"cmd":"restart","worker":0})"
           "\n");
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.handler.requests.size() == 1; }));
    const ControlClientId old_id = f.handler.ids[0];
    a.close();
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.server->client_count() == 0; }));

    Client b = f.connect();
    b.send(*f.server, f.handler,
           R"({"cmd":"restart","worker":1})"
           "\n");
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.handler.requests.size() == 2; }));
    const ControlClientId new_id = f.handler.ids[1];
    CHECK(new_id.slot == old_id.slot);
    CHECK(new_id.generation != old_id.generation);

    f.server->reply(old_id, ok_reply({{"for", "a"}}));
    f.server->reply(new_id, ok_reply({{"for", "b"}}));
    CHECK(b.read_answer(*f.server, f.handler) == json{{"ok", true}, {"for", "b"}});
}

TEST_CASE("a client that stops reading its answers is closed past 1 MiB pending") {
    Fixture f;
    Client c = f.connect();
    std::string requests;
    for (int i = 0; i < 8; ++i)
        requests += R"({"cmd":"big","bytes":300000})"
                    "\n";
    c.send(*f.server, f.handler, requests);
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.server->client_count() == 0; }));
    CHECK(f.handler.requests.size() < 8);  // the rest were never dispatched
    CHECK(c.closed_by_server(*f.server, f.handler));
    Client next = f.connect();
    CHECK(f.ask(next, R"({"cmd":"status"})"
                      "\n")["ok"] == true);
}

TEST_CASE("a client that half-closes still gets its answers, deferred ones too, then is closed") {
    Fixture f;
    Client c = f.connect();
    // No trailing newline: at EOF the last line counts as a request.
    c.send(*f.server, f.handler, "{\"cmd\":\"status\"}\n{\"cmd\":\"restart\",\"worker\":2}");
    c.shutdown_write();
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.handler.requests.size() == 2; }));
    CHECK(c.read_answer(*f.server, f.handler)["ok"] == true);
    CHECK(f.server->client_count() == 1);  // still waiting for the restart's answer
    f.server->reply(f.handler.ids[1], ok_reply({{"worker", 2}}));
    CHECK(c.read_answer(*f.server, f.handler) == json{{"ok", true}, {"worker", 2}});
    CHECK(c.closed_by_server(*f.server, f.handler));
    CHECK(f.server->client_count() == 0);
}

TEST_CASE("a handler that throws fails that request only") {
    Fixture f;
    Client c = f.connect();
    CHECK(f.ask(c, R"({"cmd":"throw"})"
                   "\n") == json{{"ok", false}, {"error", "internal error: boom"}});
    CHECK(f.ask(c, R"({"cmd":"status"})"
                   "\n")["ok"] == true);
}

TEST_CASE("the socket is mode 0660 and missing parent directories are made 0755") {
    TempDir dir;
    const std::string path = dir.path + "/run/ringcast/control.sock";
    const mode_t old_umask = ::umask(077);
    auto server = open_ok(path);
    ::umask(old_umask);
    const mode_t mode = mode_of(path);
    CHECK(S_ISSOCK(mode));
    CHECK((mode & 07777) == 0660);
    CHECK((mode_of(dir.path + "/run") & 07777) == 0755);
    CHECK((mode_of(dir.path + "/run/ringcast") & 07777) == 0755);
}

TEST_CASE(
    "the socket is given to the named group; an unknown group is an error and leaves no file") {
    TempDir dir;
    const std::string path = dir.path + "/control.sock";
    const group* own = ::getgrgid(::getegid());
    REQUIRE(own != nullptr);
    {
        auto server = open_ok(path, own->gr_name);
        struct stat st {};
        REQUIRE(::lstat(path.c_str(), &st) == 0);
        CHECK(st.st_gid == ::getegid());
    }
    {
        auto server = open_ok(path, std::to_string(::getegid()));  // a numeric gid works too
    }
    const std::string error = open_error(path, "no-such-group-ringcast");
    CHECK(error == "control socket " + path + ": no such group 'no-such-group-ringcast'");
    CHECK(!fs::exists(path));
}

TEST_CASE("the destructor closes clients and removes the socket file") {
    Fixture f;
    Client c = f.connect();
    REQUIRE(pump_until(*f.server, f.handler, [&] { return f.server->client_count() == 1; }));
    f.server.reset();
    CHECK(!fs::exists(f.path));
    char buf[16];
    CHECK(::recv(c.fd(), buf, sizeof buf, 0) == 0);
}

TEST_CASE("a stale socket file is replaced") {
    TempDir dir;
    const std::string path = dir.path + "/control.sock";
    {
        // A server that died without cleaning up: the file stays, nobody listens.
        Fd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size());
        REQUIRE(::bind(stale.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    REQUIRE(fs::exists(path));
    auto server = open_ok(path);
    Recorder handler;
    handler.server = server.get();
    Client c(path);
    c.send(*server, handler,
           R"({"cmd":"status"})"
           "\n");
    CHECK(c.read_answer(*server, handler)["ok"] == true);
}

TEST_CASE("a socket a live server answers on is refused, and that server keeps its file") {
    Fixture f;
    const std::string error = open_error(f.path);
    CHECK(error == "control socket " + f.path +
                       ": another server is answering on it (is ringcast already running?)");
    Client c = f.connect();
    CHECK(f.ask(c, R"({"cmd":"status"})"
                   "\n")["ok"] == true);
}

TEST_CASE("a path that is not a socket, or is too long, is refused") {
    TempDir dir;
    const std::string file = dir.path + "/control.sock";
    std::ofstream(file) << "not a socket";
    CHECK(open_error(file) ==
          "control socket " + file + ": exists and is not a socket; refusing to replace it");
    CHECK(fs::exists(file));

    const std::string blocker = dir.path + "/file";
    std::ofstream(blocker) << "x";
    CHECK(open_error(blocker + "/sub/control.sock").find("exists and is not a directory") !=
          std::string::npos);

    const std::string long_path = dir.path + "/" + std::string(120, 'x');
    CHECK(open_error(long_path).find("path must be 1..107 bytes") != std::string::npos);
    CHECK(open_error("").find("path must be") != std::string::npos);
}
