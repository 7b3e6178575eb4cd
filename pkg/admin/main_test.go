package admin_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/admin"
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

var (
	jwtSecret  = []byte("0123456789abcdef0123456789abcdef-admin-test")
	adminToken = "s3cret-admin-token"
)

// env is a running data plane and control plane, with a gRPC client.
type env struct {
	t    *testing.T
	cfg  config.Config
	dp   *dataplane.Server
	deps dataplane.Deps
	reg  *prometheus.Registry
	srv  *admin.Server
	addr string // data plane
	conn *grpc.ClientConn
	api  adminv1.AdminServiceClient
	stop context.CancelFunc // both planes
	// stopDP and stopAdmin stop one plane each.
	stopDP, stopAdmin context.CancelFunc
	dpErr             chan error
	adErr             chan error
}

type setup struct {
	devAdmin bool // admin without a token
	opts     []admin.Option
	edit     func(*config.Config)
}

// start runs a data plane (JWT clients) and the control plane (bearer
// token, unless devAdmin) on loopback ports, until the test ends.
func start(t *testing.T, su setup) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.HandshakeTimeout, cfg.DrainTimeout = 2*time.Second, time.Second
	cfg.JWTKeyFile, cfg.AdminTokenFile = "unused", "unused"
	cfg.TrustedProxies = nil
	if su.edit != nil {
		su.edit(&cfg)
	}
	e := &env{t: t, cfg: cfg, dpErr: make(chan error, 1), adErr: make(chan error, 1)}
	e.startDataPlane()
	acfg, token := cfg, []byte(adminToken)
	if su.devAdmin {
		acfg.Dev, token = true, nil
	}
	srv, err := admin.New(acfg, token, e.adminDeps(), su.opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	dctx, stopDP := context.WithCancel(ctx)
	actx, stopAdmin := context.WithCancel(ctx)
	e.stop, e.stopDP, e.stopAdmin = cancel, stopDP, stopAdmin
	go func() { e.dpErr <- e.dp.Run(dctx) }()
	go func() { e.adErr <- srv.Run(actx) }()
	waitFor(t, "data plane ready", e.dp.Ready)
	e.dialAdmin()
	t.Cleanup(e.shutdown)
	return e
}

// startDataPlane builds the data plane of e.cfg (JWT clients), listening
// but not yet running.
func (e *env) startDataPlane() {
	p := dataplanetest.New(e.t, e.cfg, jwtSecret)
	e.dp, e.deps, e.reg, e.addr = p.DP, p.Deps, p.Reg, p.Addr
}

func (e *env) adminDeps() admin.Deps {
	d := e.deps
	return admin.Deps{Table: d.Table, Hub: d.Hub, Bans: d.Bans, Sniff: d.Sniff, Events: d.Events,
		Metrics: d.Metrics, Kicker: e.dp, Readiness: e.dp}
}

func (e *env) dialAdmin(opts ...grpc.DialOption) {
	e.conn = e.grpcConn(opts...)
	e.api = adminv1.NewAdminServiceClient(e.conn)
}

func (e *env) grpcConn(opts ...grpc.DialOption) *grpc.ClientConn {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(e.srv.Addr(), opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

// shutdown stops both planes and checks that both Run return cleanly.
func (e *env) shutdown() {
	e.stop()
	e.ran(e.dpErr, "data plane", 15*time.Second)
	e.ran(e.adErr, "admin", 15*time.Second)
}

// ran waits at most d for a Run to return and checks it returned nil.
func (e *env) ran(c chan error, name string, d time.Duration) {
	e.t.Helper()
	select {
	case err := <-c:
		if err != nil {
			e.t.Errorf("%s Run: %v", name, err)
		}
		c <- nil // later calls see a clean stop
	case <-time.After(d):
		e.t.Fatalf("%s Run did not return within %v of cancel", name, d)
	}
}

// ctx returns a context with the admin token and a timeout.
func (e *env) ctx() context.Context {
	return withToken(testCtx(e.t), "Bearer "+adminToken)
}

func withToken(ctx context.Context, authz string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", authz)
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.SignHS256(jwtSecret, user, []string{"g1", "g2", "g3"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dial opens a welcomed session of user, from local IP from ("" for the
// default).
func (e *env) dial(user, from string) *client.Client {
	e.t.Helper()
	c, err := client.Dial(testCtx(e.t), e.addr, client.Options{Token: token(e.t, user), LocalAddr: from})
	if err != nil {
		e.t.Fatalf("dial %s: %v", user, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// raw opens a plain TCP connection from local IP from.
func (e *env) raw(from string) net.Conn {
	e.t.Helper()
	c, err := client.RawDial(testCtx(e.t), e.addr, from)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads c until EOF (a reset counts as EOF) and returns the bytes.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(8 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("read until EOF: %v (got %q)", err, b)
	}
	return b
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

// wantBye checks that c got bye reason with msg as its last message and
// then EOF.
func wantBye(t *testing.T, c *client.Client, reason, msg string) {
	t.Helper()
	got := ended(t, c)
	if len(got) == 0 {
		t.Fatalf("no bye before the close (err %v)", c.Err())
	}
	last := got[len(got)-1]
	if last.Type != "bye" || last.Reason != reason || last.Msg != msg {
		t.Fatalf("last message %s, want bye %s %q", last.Raw, reason, msg)
	}
	<-c.Done() // Messages closes just before Done
	if !errors.Is(c.Err(), io.EOF) {
		t.Fatalf("after the bye: %v, want EOF", c.Err())
	}
}

// alive checks that c's session still answers.
func alive(t *testing.T, c *client.Client) {
	t.Helper()
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatalf("session should be alive: %v", err)
	}
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

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code %v (%v), want %v", got, err, want)
	}
}

// counter reads a counter from the registry.
func (e *env) counter(name string) float64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	e.t.Fatalf("no metric %s", name)
	return 0
}
