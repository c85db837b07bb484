// uWebSockets topic-per-path peer for the channels scenario (c1): a socket subscribes, when it
// opens, to the topic named by its upgrade's URL path (the query left out: GET /ch/17 -> topic
// "/ch/17"), and every message it sends is published to that topic, so it reaches every other
// client upgraded on the same path (publish skips the sender). The comparison for ringcast's
// `channels: "path"`. Otherwise as uws_broadcast.cpp in ../shared/peers/: one thread, no
// compression, 16 MiB messages, a 64 MiB per-socket backpressure bound so that it does not
// silently drop during a benchmark. Plain ws:// only.
// usage: uws_topics PORT            (listens on 127.0.0.1:PORT)
#include "App.h"

#include <cstdio>
#include <cstdlib>
#include <string>

struct PerSocketData {
    std::string topic;
};

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 9001;
    uWS::App app;
    app.ws<PerSocketData>("/*", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 16 * 1024 * 1024,
        .idleTimeout = 0,
        .maxBackpressure = 64 * 1024 * 1024,
        // The request is gone by the time the socket opens: keep its path in the socket.
        .upgrade = [](auto *res, auto *req, auto *context) {
            res->template upgrade<PerSocketData>(
                {.topic = std::string(req->getUrl())}, req->getHeader("sec-websocket-key"),
                req->getHeader("sec-websocket-protocol"),
                req->getHeader("sec-websocket-extensions"), context);
        },
        .open = [](auto *ws) { ws->subscribe(ws->getUserData()->topic); },
        .message = [](auto *ws, std::string_view msg, uWS::OpCode op) {
            ws->publish(ws->getUserData()->topic, msg, op);
        },
    }).listen("127.0.0.1", port, [port](auto *ls) {
        if (!ls) {
            fprintf(stderr, "listen %d failed\n", port);
            exit(1);
        }
    }).run();
}
