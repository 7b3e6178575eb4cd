package admin_test

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/admin"
	"github.com/ucompass/compass/pkg/cluster"
	"github.com/ucompass/compass/pkg/config"
)

// startNATS runs an embedded NATS server until the test ends.
func startNATS(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv.Addr().String()
}

// cutter is a TCP forwarder to NATS that the test can cut, as a network
// partition would: the replica behind it goes silent without a bye.
type cutter struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
	wg    sync.WaitGroup
}

func newCutter(t *testing.T, to string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			c.wg.Add(2)
			go func() { defer c.wg.Done(); _, _ = io.Copy(out, in); out.Close() }()
			go func() { defer c.wg.Done(); _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

// close cuts every connection and stops accepting.
func (c *cutter) close() {
	c.ln.Close()
	c.mu.Lock()
	for _, x := range c.conns {
		x.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// startReplica runs a data plane and a control plane joined to a cluster
// through NATS at natsAddr, as replica id.
func startReplica(t *testing.T, natsAddr, id string) (*env, *cluster.Node) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.HandshakeTimeout, cfg.DrainTimeout = 2*time.Second, time.Second
	cfg.JWTKeyFile, cfg.AdminTokenFile = "unused", "unused"
	cfg.Cluster = config.DefaultCluster()
	cfg.Cluster.NATSURL, cfg.Cluster.ReplicaID = "nats://"+natsAddr, id
	cfg.Cluster.Heartbeat, cfg.Cluster.ReplicaTTL = 100*time.Millisecond, 5*time.Second
	cfg.Cluster.ControlTimeout, cfg.Cluster.NATSReconnectWait = 500*time.Millisecond, 200*time.Millisecond
	e := &env{t: t, cfg: cfg, dpErr: make(chan error, 1), adErr: make(chan error, 1)}
	e.startDataPlane()
	node, err := cluster.New(cfg.Cluster, e.deps.Hub, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		node.Close(ctx)
	})
	if err := node.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := e.adminDeps()
	d.Cluster = node
	srv, err := admin.New(cfg, []byte(adminToken), d)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	go func() { e.dpErr <- e.dp.Run(ctx) }()
	go func() { e.adErr <- srv.Run(ctx) }()
	waitFor(t, "data plane ready", e.dp.Ready)
	e.dialAdmin()
	t.Cleanup(e.shutdown) // before the node's Close
	return e, node
}

// startReplicas starts a, b, c... and waits until each knows the others.
// The last one reaches NATS through a cutter.
func startReplicas(t *testing.T, n int) ([]*env, []*cluster.Node, *cutter) {
	t.Helper()
	addr := startNATS(t)
	cut := newCutter(t, addr)
	var es []*env
	var ns []*cluster.Node
	for i := range n {
		to := addr
		if i == n-1 {
			to = cut.addr()
		}
		e, node := startReplica(t, to, string(rune('a'+i)))
		es, ns = append(es, e), append(ns, node)
	}
	waitFor(t, "the cluster", func() bool {
		for _, node := range ns {
			if len(node.Peers()) != n-1 {
				return false
			}
		}
		return true
	})
	return es, ns, cut
}

// header is a call option that keeps the response header.
func header(md *metadata.MD) grpc.CallOption { return grpc.Header(md) }

func sessionIDs(ss []*adminv1.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.GetSessionId())
	}
	return out
}

// A kick through replica a's API closes a session on replica b with bye
// kicked and the reason.
func TestClusterKickSession(t *testing.T) {
	es, _, _ := startReplicas(t, 3)
	bob := es[1].dial("bob", "")
	var md metadata.MD
	resp, err := es[0].api.KickSession(es[0].ctx(), &adminv1.KickSessionRequest{
		Target: &adminv1.KickSessionRequest_SessionId{SessionId: bob.Welcome().Session}, Reason: "by operator"}, header(&md))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSession().GetUser() != "bob" || resp.GetSession().GetSessionId() != bob.Welcome().Session {
		t.Fatalf("kicked %v", resp.GetSession())
	}
	wantBye(t, bob, "kicked", "by operator")
	if got := md.Get(admin.MDReplica); !slices.Equal(got, []string{"a"}) || len(md.Get(admin.MDMissing)) != 0 {
		t.Fatalf("header %v", md)
	}
	// Unknown everywhere: NOT_FOUND.
	_, err = es[0].api.KickSession(es[0].ctx(), &adminv1.KickSessionRequest{
		Target: &adminv1.KickSessionRequest_SessionId{SessionId: "s-nobody"}})
	wantCode(t, err, codes.NotFound)
	// A bad request fails here, before any replica acts.
	_, err = es[0].api.KickSession(es[0].ctx(), &adminv1.KickSessionRequest{
		Target: &adminv1.KickSessionRequest_SessionId{SessionId: "x"}, BanDuration: durationpb.New(-time.Second)})
	wantCode(t, err, codes.InvalidArgument)
}

// A kick with a ban bans the address on every replica.
func TestClusterKickSessionBans(t *testing.T) {
	es, _, _ := startReplicas(t, 2)
	bob := es[1].dial("bob", "127.0.0.2")
	bob2 := es[0].dial("bob2", "127.0.0.2")
	resp, err := es[0].api.KickSession(es[0].ctx(), &adminv1.KickSessionRequest{
		Target: &adminv1.KickSessionRequest_SessionId{SessionId: bob.Welcome().Session}, Reason: "spam",
		BanDuration: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	wantBye(t, bob, "kicked", "spam")
	wantBye(t, bob2, "banned", "spam")
	if resp.GetBan().GetCidr() != "127.0.0.2/32" || resp.GetBanKickedCount() != 1 {
		t.Fatalf("ban %v, kicked %d", resp.GetBan(), resp.GetBanKickedCount())
	}
	for _, e := range es {
		if got := len(e.deps.Bans.List()); got != 1 {
			t.Fatalf("%d bans on a replica", got)
		}
	}
}

// ListSessions on a lists the sessions of every replica, in order, page
// by page.
func TestClusterListSessions(t *testing.T) {
	es, _, _ := startReplicas(t, 3)
	var want []string
	for i, u := range []string{"alice", "bob", "bob", "carol", "dave"} {
		c := es[i%3].dial(u, "")
		if u == "bob" {
			if _, err := c.Join(testCtx(t), "g1"); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, c.Welcome().Session)
		time.Sleep(2 * time.Millisecond) // distinct connected_at
	}
	resp, err := es[0].api.ListSessions(es[0].ctx(), &adminv1.ListSessionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionIDs(resp.GetSessions()); !slices.Equal(got, want) || resp.GetTotalSize() != 5 {
		t.Fatalf("listed %v (total %d), want %v", got, resp.GetTotalSize(), want)
	}
	// Filters reach every replica.
	resp, err = es[2].api.ListSessions(es[2].ctx(), &adminv1.ListSessionsRequest{Group: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionIDs(resp.GetSessions()); !slices.Equal(got, []string{want[1], want[2]}) {
		t.Fatalf("group g1: %v", got)
	}
	// Pages of two, newest first.
	var walked []string
	tok := ""
	for range 10 {
		r, err := es[1].api.ListSessions(es[1].ctx(), &adminv1.ListSessionsRequest{PageSize: 2, PageToken: tok, OrderBy: "connected_at desc"})
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, sessionIDs(r.GetSessions())...)
		if tok = r.GetNextPageToken(); tok == "" {
			break
		}
	}
	slices.Reverse(walked)
	if !slices.Equal(walked, want) {
		t.Fatalf("walked %v, want the reverse of %v", walked, want)
	}
	// A token of another listing is refused.
	r, _ := es[1].api.ListSessions(es[1].ctx(), &adminv1.ListSessionsRequest{PageSize: 1})
	_, err = es[1].api.ListSessions(es[1].ctx(), &adminv1.ListSessionsRequest{PageSize: 1, PageToken: r.GetNextPageToken(), User: "bob"})
	wantCode(t, err, codes.InvalidArgument)
	// GetSession finds a session on another replica.
	g, err := es[0].api.GetSession(es[0].ctx(), &adminv1.GetSessionRequest{SessionId: want[4]})
	if err != nil || g.GetSession().GetUser() != "dave" {
		t.Fatalf("get: %v %v", g, err)
	}
}

// KickUser closes the user's sessions on every replica.
func TestClusterKickUser(t *testing.T) {
	es, _, _ := startReplicas(t, 3)
	b1, b2 := es[0].dial("bob", ""), es[1].dial("bob", "")
	carol := es[1].dial("carol", "")
	resp, err := es[2].api.KickUser(es[2].ctx(), &adminv1.KickUserRequest{User: "bob", Reason: "bye bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetSessions()) != 2 {
		t.Fatalf("kicked %v", resp.GetSessions())
	}
	wantBye(t, b1, "kicked", "bye bob")
	wantBye(t, b2, "kicked", "bye bob")
	alive(t, carol)
	_, err = es[2].api.KickUser(es[2].ctx(), &adminv1.KickUserRequest{User: "nobody"})
	wantCode(t, err, codes.NotFound)
}

// BanAddress and UnbanAddress reach every replica; ListBans shows the
// union.
func TestClusterBans(t *testing.T) {
	es, _, _ := startReplicas(t, 2)
	x := es[1].dial("x", "127.0.0.3")
	resp, err := es[0].api.BanAddress(es[0].ctx(), &adminv1.BanAddressRequest{Cidr: "127.0.0.3", Reason: "abuse", Duration: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetKickedCount() != 1 {
		t.Fatalf("kicked %d", resp.GetKickedCount())
	}
	wantBye(t, x, "banned", "abuse")
	lb, err := es[1].api.ListBans(es[1].ctx(), &adminv1.ListBansRequest{})
	if err != nil || len(lb.GetBans()) != 1 || lb.GetBans()[0].GetCidr() != "127.0.0.3/32" {
		t.Fatalf("bans %v %v", lb, err)
	}
	if _, err := es[1].api.UnbanAddress(es[1].ctx(), &adminv1.UnbanAddressRequest{Cidr: "127.0.0.3"}); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if n := len(e.deps.Bans.List()); n != 0 {
			t.Fatalf("%d bans left", n)
		}
	}
	_, err = es[0].api.UnbanAddress(es[0].ctx(), &adminv1.UnbanAddressRequest{Cidr: "127.0.0.3"})
	wantCode(t, err, codes.NotFound)
}

// A replica cut off from NATS (no bye) is named in the answers until it is
// forgotten.
func TestClusterPartialAnswer(t *testing.T) {
	es, ns, cut := startReplicas(t, 3)
	es[0].dial("alice", "")
	es[1].dial("bob", "")
	es[2].dial("carol", "")
	cut.close()
	waitFor(t, "c disconnected", func() bool { return !ns[2].Connected() })
	var md metadata.MD
	start := time.Now()
	resp, err := es[0].api.ListSessions(es[0].ctx(), &adminv1.ListSessionsRequest{}, header(&md))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("answered after %v", d)
	}
	if got := md.Get(admin.MDMissing); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("missing %v (header %v)", got, md)
	}
	if len(resp.GetSessions()) != 2 {
		t.Fatalf("listed %v", resp.GetSessions())
	}
	md = nil
	_, err = es[1].api.KickUser(es[1].ctx(), &adminv1.KickUserRequest{User: "carol"}, header(&md))
	wantCode(t, err, codes.NotFound)
	if got := md.Get(admin.MDMissing); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("missing %v", got)
	}
}
