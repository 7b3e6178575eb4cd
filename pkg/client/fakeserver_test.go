package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a scripted stand-in for compassd, on 127.0.0.1:0. The
// hello decides the handshake: user "nobody" or token "bad" get
// unauthorized and a close, "hangup" a close without a byte, "silent"
// nothing at all; everyone else gets welcome. After welcome it answers
//
//	join  -> joined with member bob (group "never": no reply;
//	         group "forbidden": error forbidden)
//	leave -> left
//	loc   -> ack when it has an id (lat > 90: error invalid_location)
//	ping  -> pong
//
// and records every request line. Tests reach the server side of each
// connection through conns, to push lines or close it.
type fakeServer struct {
	t       testing.TB
	ln      net.Listener
	conns   chan *serverConn
	shuffle bool // reply in batches, each in reverse order after a push
	manual  bool // after welcome, leave the connection to the test
	stop    chan struct{}

	wg     sync.WaitGroup
	mu     sync.Mutex
	open   map[net.Conn]bool
	closed bool
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, conns: make(chan *serverConn, 64), open: map[net.Conn]bool{}, stop: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for all its goroutines.
func (s *fakeServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.open[conn] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(conn)
	}
}

// serverConn is the server side of one connection.
type serverConn struct {
	net.Conn
	br    *bufio.Reader
	first []byte         // what the first Read returned
	hello map[string]any // the decoded hello

	wmu      sync.Mutex
	mu       sync.Mutex
	requests []map[string]any
	pushes   atomic.Int64 // lines pushed by the shuffler
}

// send writes one line and its terminator.
func (sc *serverConn) send(line string) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_, err := io.WriteString(sc.Conn, line+"\n")
	return err
}

// Requests returns a copy of the request lines received so far, decoded.
func (sc *serverConn) Requests() []map[string]any {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return append([]map[string]any(nil), sc.requests...)
}

func (s *fakeServer) serve(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		conn.Close()
		s.mu.Lock()
		delete(s.open, conn)
		s.mu.Unlock()
	}()
	sc, ok := s.handshake(conn)
	if !ok {
		return
	}
	select {
	case s.conns <- sc:
	default:
	}
	switch {
	case s.manual:
		<-s.stop
		return
	case s.shuffle:
		s.serveShuffled(sc)
		return
	}
	for {
		req, err := sc.readRequest()
		if err != nil {
			return
		}
		if r := reply(req); r != "" && sc.send(r) != nil {
			return
		}
	}
}

func (s *fakeServer) handshake(conn net.Conn) (*serverConn, bool) {
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, false
	}
	sc := &serverConn{Conn: conn, first: buf[:n]}
	sc.br = bufio.NewReader(io.MultiReader(bytes.NewReader(sc.first), conn))
	if line, err := sc.br.ReadString('\n'); err != nil || line != preamble {
		return nil, false
	}
	line, err := sc.br.ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &sc.hello) != nil {
		return nil, false
	}
	user, _ := sc.hello["user"].(string)
	switch {
	case user == "nobody" || sc.hello["token"] == "bad":
		sc.send(`{"type":"error","code":"unauthorized","msg":"bad token"}`)
		return nil, false
	case user == "hangup":
		return nil, false
	case user == "silent":
		io.Copy(io.Discard, conn)
		return nil, false
	}
	if tok, ok := sc.hello["token"].(string); ok {
		user = "tok-" + tok
	}
	welcome, _ := json.Marshal(map[string]any{"type": "welcome", "session": "s-" + user, "user": user, "heartbeat_ms": 30000, "max_line": 4096})
	return sc, sc.send(string(welcome)) == nil
}

func (sc *serverConn) readRequest() (map[string]any, error) {
	line, err := sc.br.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var req map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&req); err != nil {
		req = map[string]any{"junk": string(line)}
	}
	sc.mu.Lock()
	sc.requests = append(sc.requests, req)
	sc.mu.Unlock()
	return req, nil
}

// reply is the scripted answer to req, "" for none.
func reply(req map[string]any) string {
	id := ""
	if v, ok := req["id"]; ok {
		id = fmt.Sprintf(`,"id":%v`, v)
	}
	group, _ := req["group"].(string)
	switch req["type"] {
	case "join":
		switch group {
		case "never":
			return ""
		case "forbidden":
			return `{"type":"error","code":"forbidden","msg":"not in token"` + id + `}`
		}
		return fmt.Sprintf(`{"type":"joined","group":%q%s,"members":[{"user":"bob","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"sts":1732400000123},{"user":"carol"}]}`, group, id)
	case "leave":
		return fmt.Sprintf(`{"type":"left","group":%q%s}`, group, id)
	case "loc":
		n, _ := req["lat"].(json.Number)
		if lat, _ := n.Float64(); lat > 90 {
			return `{"type":"error","code":"invalid_location","msg":"lat out of range"` + id + `}`
		}
		if id != "" {
			return `{"type":"ack"` + id + `}`
		}
		return ""
	case "ping":
		return `{"type":"pong"` + id + `}`
	}
	return `{"type":"error","code":"unknown_type","msg":"?"` + id + `}`
}

// serveShuffled answers in batches of up to 16 requests, or what arrived
// within 2ms, each batch a loc push followed by the replies in reverse.
func (s *fakeServer) serveShuffled(sc *serverConn) {
	replies := make(chan string, 64)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(replies)
		for {
			req, err := sc.readRequest()
			if err != nil {
				return
			}
			if r := reply(req); r != "" {
				replies <- r
			}
		}
	}()
	for batch := range batches(replies, 16, 2*time.Millisecond) {
		n := sc.pushes.Add(1)
		lines := []string{fmt.Sprintf(`{"type":"loc","group":"g","user":"bob","lat":1,"lng":2,"ts":%d,"sts":%d}`, n, n)}
		for i := len(batch) - 1; i >= 0; i-- {
			lines = append(lines, batch[i])
		}
		if sc.send(strings.Join(lines, "\n")) != nil {
			sc.Close() // unblocks the reading goroutine
		}
	}
}

// batches groups what arrives on in into slices of up to max, cut early
// when nothing more arrives within wait.
func batches(in <-chan string, max int, wait time.Duration) <-chan []string {
	out := make(chan []string)
	go func() {
		defer close(out)
		for first := range in {
			batch := []string{first}
			timer := time.NewTimer(wait)
		collect:
			for len(batch) < max {
				select {
				case r, ok := <-in:
					if !ok {
						break collect
					}
					batch = append(batch, r)
				case <-timer.C:
					break collect
				}
			}
			timer.Stop()
			out <- batch
		}
	}()
	return out
}
