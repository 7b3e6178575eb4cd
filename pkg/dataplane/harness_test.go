package dataplane_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/dataplane/dataplanetest"
)

// netpoll's pollers and its goroutine pool live for the whole process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, dataplanetest.GoleakOptions()...)
}

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// env is one running data plane with its shared parts.
type env struct {
	t    *testing.T
	p    *dataplanetest.Plane
	cfg  config.Config
	dp   *dataplane.Server
	deps dataplane.Deps
	reg  *prometheus.Registry
	addr string
}

// start runs a data plane on a loopback port; edit changes the test config
// (dev mode, short timeouts by default). At the end no socket may be left
// open.
func start(t *testing.T, edit func(*config.Config)) *env {
	t.Helper()
	fds := openFDs(t)
	p := dataplanetest.Start(t, testSecret, func(c *config.Config) {
		c.HandshakeTimeout = 2 * time.Second
		if edit != nil {
			edit(c)
		}
	})
	t.Cleanup(func() {
		p.Shutdown()
		deadline := time.Now().Add(5 * time.Second)
		for openFDs(t) > fds && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := openFDs(t); n > fds {
			t.Errorf("open fds: %d after the test, %d before: %s", n, fds, fdList(t))
		}
	})
	return &env{t: t, p: p, cfg: p.Cfg, dp: p.DP, deps: p.Deps, reg: p.Reg, addr: p.Addr}
}

// stop starts the drain; shutdown drains and waits for Run (idempotent).
func (e *env) stop()     { e.p.Stop() }
func (e *env) shutdown() { e.p.Shutdown() }

// openFDs counts open sockets (netpoll's pollers add epoll and eventfd
// descriptors lazily and keep them for the process: not a leak).
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func fdList(t *testing.T) string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+l)
	}
	return strings.Join(out, " ")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// dial opens a handshaken dev-mode session for user.
func (e *env) dial(user string) *client.Client {
	e.t.Helper()
	c, err := client.Dial(ctx(e.t), e.addr, client.Options{User: user})
	if err != nil {
		e.t.Fatalf("dial %s: %v", user, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// raw opens a plain TCP connection.
func (e *env) raw() net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads until EOF (or fails after a timeout) and returns the bytes.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(8 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("read until EOF: %v (got %q)", err, b)
	}
	return b
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || errors.Is(err, io.EOF))
}

// readLines reads n lines from c.
func readLines(t *testing.T, r *bufio.Reader, c net.Conn, n int) []string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out []string
	for range n {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		out = append(out, strings.TrimSuffix(l, "\n"))
	}
	return out
}

// next returns the next pushed message of c, failing after a timeout.
func next(t *testing.T, c *client.Client) client.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("connection ended: %v", c.Err())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return client.Message{}
}

// quiet asserts c receives nothing for a short while.
func quiet(t *testing.T, c *client.Client) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("unexpected message %s", m.Raw)
	case <-time.After(150 * time.Millisecond):
	}
}

// ended waits for c's connection to end and returns the messages before.
func ended(t *testing.T, c *client.Client) []client.Message {
	t.Helper()
	var got []client.Message
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return got
			}
			got = append(got, m)
		case <-time.After(8 * time.Second):
			t.Fatalf("connection did not end; got %d messages", len(got))
		}
	}
}

func token(t *testing.T, user string, groups []string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.SignHS256(testSecret, user, groups, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
