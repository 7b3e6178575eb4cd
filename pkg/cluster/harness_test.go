package cluster_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/cluster"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/dataplane/dataplanetest"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
)

// netpoll's pollers and its goroutine pool live for the whole process;
// everything of NATS (server and client) must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, dataplanetest.GoleakOptions()...)
}

// broker is an embedded NATS server that can be stopped and started again
// on the same port.
type broker struct {
	t    testing.TB
	mu   sync.Mutex
	srv  *server.Server
	port int
}

func startBroker(t testing.TB) *broker {
	t.Helper()
	b := &broker{t: t, port: -1}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: b.port, NoLog: true, NoSigs: true})
	if err != nil {
		b.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		b.t.Fatal("NATS server not ready")
	}
	b.srv = srv
	b.port = srv.Addr().(*net.TCPAddr).Port
}

// stop shuts the server down and waits for it (idempotent).
func (b *broker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	b.srv = nil
}

func (b *broker) url() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return "nats://127.0.0.1:" + strconv.Itoa(b.port)
}

// replica is one compassd in miniature: a data plane with its hub, joined
// to the cluster by a Node.
type replica struct {
	t     testing.TB
	id    string
	dp    *dataplane.Server
	hub   *hub.Hub
	table *session.Table
	node  *cluster.Node
	reg   *prometheus.Registry
	cm    *metrics.Cluster
	addr  string
}

// testCluster are the cluster settings of the tests: fast heartbeats,
// reconnections and timeouts.
func testCluster(url, id string) config.Cluster {
	c := config.DefaultCluster()
	c.NATSURL = url
	c.ReplicaID = id
	c.Heartbeat = 100 * time.Millisecond
	// Twenty heartbeats: a race-enabled run on a loaded 2-core machine
	// can stall a heartbeat for hundreds of milliseconds.
	c.ReplicaTTL = 2 * time.Second
	c.SyncTimeout = time.Second
	c.ControlTimeout = 500 * time.Millisecond
	c.NATSReconnectWait = 200 * time.Millisecond
	return c
}

// startReplica runs a data plane on a loopback port, in dev mode, with no
// loc rate limit to speak of, joined to the cluster through b.
func startReplica(t testing.TB, b *broker, id string, edit func(*config.Cluster)) *replica {
	t.Helper()
	p := dataplanetest.New(t, dataplanetest.Config(func(c *config.Config) {
		c.DrainTimeout = time.Second
		c.LocRate, c.LocBurst = 1e6, 1e6
		c.QueueMessages, c.QueueBytes = 1<<16, 16<<20
		c.Cluster = testCluster(b.url(), id)
		if edit != nil {
			edit(&c.Cluster)
		}
	}), nil)
	cm := metrics.NewCluster(p.Reg)
	node, err := cluster.New(p.Cfg.Cluster, p.Deps.Hub, cm, nil)
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
	p.Start() // its drain runs before the node's Close: cleanups run last first
	return &replica{t: t, id: id, dp: p.DP, hub: p.Deps.Hub, table: p.Deps.Table, node: node,
		reg: p.Reg, cm: cm, addr: p.Addr}
}

// formed waits until every replica knows every other.
func formed(t testing.TB, rs ...*replica) {
	t.Helper()
	waitFor(t, "the cluster to form", func() bool {
		for _, r := range rs {
			if len(r.node.Peers()) != len(rs)-1 {
				return false
			}
		}
		return true
	})
}

// startCluster starts n replicas named a, b, c... on one broker and waits for
// them to know each other.
func startCluster(t testing.TB, n int) (*broker, []*replica) {
	t.Helper()
	b := startBroker(t)
	var rs []*replica
	for i := range n {
		rs = append(rs, startReplica(t, b, string(rune('a'+i)), nil))
	}
	formed(t, rs...)
	return b, rs
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// dial opens a handshaken dev-mode session for user.
func (r *replica) dial(user string) *client.Client {
	r.t.Helper()
	c, err := client.Dial(ctx(r.t), r.addr, client.Options{User: user, Inbox: 1 << 14})
	if err != nil {
		r.t.Fatalf("dial %s on %s: %v", user, r.id, err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

type clusterCfg = config.Cluster

var groupSubject = cluster.GroupSubject

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// rawConn is a plain NATS connection to b, closed after the test.
func rawConn(t testing.TB, b *broker) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(b.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// cutter forwards TCP to a NATS server and can cut the line, as a network
// partition would (no bye, no FIN from the replica's side of NATS), and
// mend it again.
type cutter struct {
	to    string
	ln    net.Listener
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutter(t testing.TB, to string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{to: to, ln: ln}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.close)
	return c
}

func (c *cutter) url() string { return "nats://" + c.ln.Addr().String() }

func (c *cutter) accept() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		cut := c.cut
		c.mu.Unlock()
		out, err := net.Dial("tcp", c.to)
		if cut || err != nil {
			in.Close()
			if out != nil {
				out.Close()
			}
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		c.wg.Add(2)
		go func() { defer c.wg.Done(); _, _ = io.Copy(out, in); out.Close() }()
		go func() { defer c.wg.Done(); _, _ = io.Copy(in, out); in.Close() }()
	}
}

// setCut cuts every connection and refuses new ones (true), or lets them
// through again (false).
func (c *cutter) setCut(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for _, x := range c.conns {
			x.Close()
		}
		c.conns = nil
	}
}

func (c *cutter) close() {
	c.ln.Close()
	c.setCut(true)
	c.wg.Wait()
}
