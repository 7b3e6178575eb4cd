package dataplane_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/ban"
	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/sniff"
)

// netpoll's pollers and its goroutine pool live for the whole process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
		goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll/internal/runner.(*pool).run"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// env is one running data plane with its shared parts.
type env struct {
	t    *testing.T
	cfg  config.Config
	dp   *dataplane.Server
	deps dataplane.Deps
	reg  *prometheus.Registry
	addr string
	stop context.CancelFunc
	done chan error
	once sync.Once
}

// start runs a data plane on a loopback port; edit changes the test config
// (dev mode, short timeouts by default).
func start(t *testing.T, edit func(*config.Config)) *env {
	t.Helper()
	fds := openFDs(t)
	cfg := config.Default()
	cfg.Dev = true
	cfg.Listen = "127.0.0.1:0"
	cfg.HandshakeTimeout = 2 * time.Second
	cfg.DrainTimeout = 2 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, dataplane.MetricLabels())
	v, err := auth.NewVerifier("HS256", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	deps := dataplane.Deps{
		Verifier: v, Table: session.NewTable(), Bans: ban.New(nil, nil),
		Hub:   hub.New(hub.Metrics{LocSent: m.Sent.WithLabelValues("loc"), PresenceSent: m.Sent.WithLabelValues("presence"), Groups: m.Groups}),
		Sniff: sniff.NewStats(64), Metrics: m, Events: events.NewBus(),
	}
	dp, err := dataplane.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, cfg: cfg, dp: dp, deps: deps, reg: reg, addr: dp.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { e.done <- dp.Run(ctx) }()
	waitFor(t, "ready", dp.Ready)
	t.Cleanup(func() {
		e.shutdown()
		deadline := time.Now().Add(5 * time.Second)
		for openFDs(t) > fds && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := openFDs(t); n > fds {
			t.Errorf("open fds: %d after the test, %d before: %s", n, fds, fdList(t))
		}
	})
	return e
}

// shutdown drains the server and waits for Run to return (idempotent).
func (e *env) shutdown() {
	e.once.Do(func() {
		e.stop()
		select {
		case err := <-e.done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Fatal("Run did not return after cancel")
		}
	})
}

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
