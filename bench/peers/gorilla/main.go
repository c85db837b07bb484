// Benchmark peer: a gorilla/websocket broadcast server (Debian's
// golang-github-gorilla-websocket-dev), the shape of gorilla's chat example made lossless.
// Every message a client sends goes to every OTHER client, text as text and binary as
// binary. Each message is framed once (websocket.PreparedMessage) and handed to every
// receiver's writer goroutine through a bounded channel; a full channel blocks the sender's
// reader (TCP pushes back on that client) instead of dropping. Go schedules the goroutines
// over GOMAXPROCS threads, which the runtime takes from the CPU affinity mask (1 under
// `taskset -c 0`).
//
//	bench-peer-gorilla PORT [HOST]     (HOST defaults to 127.0.0.1)
//
// Built offline by bench/run.sh:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o BUILD/bench-peer-gorilla bench/peers/gorilla
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/gorilla/websocket"
)

const queueLen = 1024 // messages queued per receiver before its senders wait

type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
	done chan struct{} // closed when the writer gives up: nobody waits on send any more
}

type hub struct {
	mu      sync.RWMutex
	clients map[*client]struct{}
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// broadcast queues pm for every client but from. Waiting on a full queue holds the read
// lock, which only delays joins and leaves; a receiver whose writer died is skipped via done.
func (h *hub) broadcast(from *client, pm *websocket.PreparedMessage) {
	h.mu.RLock()
	for c := range h.clients {
		if c == from {
			continue
		}
		select {
		case c.send <- pm:
		case <-c.done:
		}
	}
	h.mu.RUnlock()
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:    4096,
	WriteBufferSize:   4096,
	EnableCompression: false,
	CheckOrigin:       func(*http.Request) bool { return true },
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	conn.SetReadLimit(64 << 20)
	c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, queueLen),
		done: make(chan struct{})}
	h.add(c)
	go c.writer()
	defer func() {
		h.remove(c)
		conn.Close()
	}()
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		pm, err := websocket.NewPreparedMessage(typ, data)
		if err != nil {
			return
		}
		h.broadcast(c, pm)
	}
}

func (c *client) writer() {
	defer close(c.done)
	for pm := range c.send {
		if err := c.conn.WritePreparedMessage(pm); err != nil {
			c.conn.Close() // the reader sees the error and removes us
			return
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench-peer-gorilla PORT [HOST]")
		os.Exit(1)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil || port < 1 || port > 65535 {
		fmt.Fprintln(os.Stderr, "bench-peer-gorilla: bad port", os.Args[1])
		os.Exit(1)
	}
	host := "127.0.0.1"
	if len(os.Args) > 2 {
		host = os.Args[2]
	}
	h := &hub{clients: make(map[*client]struct{})}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-peer-gorilla:", err)
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; os.Exit(0) }()
	fmt.Printf("listening %s:%d\n", host, port)
	srv := &http.Server{Handler: http.HandlerFunc(h.serve)}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peer-gorilla:", err)
		os.Exit(2)
	}
}
