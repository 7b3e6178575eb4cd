package cluster_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/metrics"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

// next returns the next pushed message of c, failing after a timeout.
func next(t testing.TB, c *client.Client) client.Message {
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

// quiet asserts that c receives nothing for a while (long enough for a
// frame to cross the broker many times over).
func quiet(t testing.TB, cs ...*client.Client) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	for _, c := range cs {
		select {
		case m := <-c.Messages():
			t.Fatalf("unexpected message %s", m.Raw)
		default:
		}
	}
}

func join(t testing.TB, c *client.Client, g string) client.Message {
	t.Helper()
	m, err := c.Join(ctx(t), g)
	if err != nil {
		t.Fatalf("join %s: %v", g, err)
	}
	if m.Type != "joined" || m.Group != g {
		t.Fatalf("join reply %s", m.Raw)
	}
	return m
}

func leave(t testing.TB, c *client.Client, g string) {
	t.Helper()
	if _, err := c.Leave(ctx(t), g); err != nil {
		t.Fatalf("leave %s: %v", g, err)
	}
}

func loc(t testing.TB, c *client.Client, lat float64) {
	t.Helper()
	if err := c.Loc(ctx(t), client.Loc{Lat: lat, Lng: 126.99}); err != nil {
		t.Fatal(err)
	}
}

func expectPresence(t testing.TB, c *client.Client, g, user, state string) {
	t.Helper()
	m := next(t, c)
	if m.Type != "presence" || m.Group != g || m.User != user || m.State != state {
		t.Fatalf("got %s, want presence %s %s %s", m.Raw, g, user, state)
	}
}

func expectLoc(t testing.TB, c *client.Client, g, user string, lat float64) {
	t.Helper()
	m := next(t, c)
	if m.Type != "loc" || m.Group != g || m.User != user || m.Lat == nil || *m.Lat != lat || m.STS == nil {
		t.Fatalf("got %s, want loc %s %s %v", m.Raw, g, user, lat)
	}
}

func users(m client.Message) []string {
	var out []string
	for _, mem := range m.Members {
		out = append(out, mem.User)
	}
	slices.Sort(out)
	return out
}

// Members of one group on three replicas exchange loc both ways, each loc
// exactly once, never back to its sender.
func TestLocAcrossReplicas(t *testing.T) {
	_, rs := startCluster(t, 3)
	a, b, c := rs[0].dial("alice"), rs[1].dial("bob"), rs[2].dial("carol")
	if m := join(t, a, "g1"); len(m.Members) != 0 {
		t.Fatalf("first member sees %s", m.Raw)
	}
	if m := join(t, b, "g1"); !slices.Equal(users(m), []string{"alice"}) {
		t.Fatalf("bob's snapshot %s", m.Raw)
	}
	expectPresence(t, a, "g1", "bob", "online")
	if m := join(t, c, "g1"); !slices.Equal(users(m), []string{"alice", "bob"}) {
		t.Fatalf("carol's snapshot %s", m.Raw)
	}
	expectPresence(t, a, "g1", "carol", "online")
	expectPresence(t, b, "g1", "carol", "online")

	for i, from := range []*client.Client{a, b, c} {
		lat := float64(10 + i)
		loc(t, from, lat)
		name := []string{"alice", "bob", "carol"}[i]
		for _, to := range []*client.Client{a, b, c} {
			if to != from {
				expectLoc(t, to, "g1", name, lat)
			}
		}
	}
	quiet(t, a, b, c) // no echo, no duplicate
	for _, r := range rs {
		if d := testutil.ToFloat64(r.cm.Deliveries); d < 2 {
			t.Errorf("%s: %v cross-replica deliveries, want at least 2", r.id, d)
		}
	}
}

// A joined snapshot lists the members of the other replicas with their last
// locations, each user once, never the joining user (even from another
// replica).
func TestSnapshotAcrossReplicas(t *testing.T) {
	_, rs := startCluster(t, 2)
	a, d := rs[0].dial("alice"), rs[0].dial("dave")
	// A loc before joining is remembered and travels with the join.
	if err := a.Loc(ctx(t), client.Loc{Lat: 37.55, Lng: 126.99, Acc: f64(5), TS: i64(1732400000000)}); err != nil {
		t.Fatal(err)
	}
	join(t, a, "g")
	join(t, d, "g")
	expectPresence(t, a, "g", "dave", "online")
	bob := rs[1].dial("bob")
	m := join(t, bob, "g")
	if !slices.Equal(users(m), []string{"alice", "dave"}) {
		t.Fatalf("bob's snapshot %s", m.Raw)
	}
	expectPresence(t, a, "g", "bob", "online")
	expectPresence(t, d, "g", "bob", "online")
	for _, mem := range m.Members {
		switch mem.User {
		case "alice":
			if mem.Lat == nil || *mem.Lat != 37.55 || *mem.Acc != 5 || *mem.TS != 1732400000000 || mem.STS == nil {
				t.Fatalf("alice without her location: %s", m.Raw)
			}
		case "dave":
			if mem.Lat != nil || mem.STS != nil {
				t.Fatalf("dave has a location: %s", m.Raw)
			}
		}
	}
	// dave moves: a later joiner on B sees the new location, through B's view.
	loc(t, d, -33.9)
	expectLoc(t, a, "g", "dave", -33.9)
	expectLoc(t, bob, "g", "dave", -33.9)
	// Alice's second session, on B: bob and dave, not alice.
	a2 := rs[1].dial("alice")
	m = join(t, a2, "g")
	if !slices.Equal(users(m), []string{"bob", "dave"}) {
		t.Fatalf("alice's second session sees %s", m.Raw)
	}
	for _, mem := range m.Members {
		if mem.User == "dave" && (mem.Lat == nil || *mem.Lat != -33.9) {
			t.Fatalf("dave's newest location missing: %s", m.Raw)
		}
	}
	quiet(t, a, d, bob) // alice was online already
}

// Presence is per user across replicas: a user with sessions on two
// replicas is online once and offline once, and their sessions get each
// other's loc.
func TestPresenceAcrossReplicas(t *testing.T) {
	_, rs := startCluster(t, 3)
	carol := rs[2].dial("carol")
	join(t, carol, "g")
	bob1 := rs[0].dial("bob")
	join(t, bob1, "g")
	expectPresence(t, carol, "g", "bob", "online")
	bob2 := rs[1].dial("bob")
	if m := join(t, bob2, "g"); !slices.Equal(users(m), []string{"carol"}) {
		t.Fatalf("bob's second session sees %s", m.Raw)
	}
	quiet(t, carol, bob1) // no second online

	alice := rs[0].dial("alice")
	join(t, alice, "g")
	for _, c := range []*client.Client{carol, bob1, bob2} {
		expectPresence(t, c, "g", "alice", "online")
	}
	// bob's loc from B reaches his session on A, and everybody else.
	loc(t, bob2, 1.5)
	for _, c := range []*client.Client{carol, bob1, alice} {
		expectLoc(t, c, "g", "bob", 1.5)
	}
	leave(t, bob1, "g")
	quiet(t, carol, alice, bob2) // bob is still in g on B
	bob2.Close()
	expectPresence(t, carol, "g", "bob", "offline")
	expectPresence(t, alice, "g", "bob", "offline")
	quiet(t, carol, alice, bob1)
	// Back on A: online again, once.
	join(t, bob1, "g")
	expectPresence(t, carol, "g", "bob", "online")
	expectPresence(t, alice, "g", "bob", "online")
	quiet(t, carol, alice)
}

// Order per sender and recipient holds across replicas under load, with
// two senders on two replicas at once, and nothing is lost or doubled.
func TestOrderAcrossReplicas(t *testing.T) {
	_, rs := startCluster(t, 3)
	alice, erin := rs[0].dial("alice"), rs[2].dial("erin")
	bob, dave := rs[1].dial("bob"), rs[1].dial("dave")
	for _, c := range []*client.Client{alice, erin, bob, dave} {
		join(t, c, "g")
	}
	drain := func(c *client.Client) {
		for {
			select {
			case <-c.Messages():
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	for _, c := range []*client.Client{alice, erin, bob, dave} {
		drain(c) // presence
	}
	const n = 2000
	send := func(c *client.Client) {
		for i := range n {
			if err := c.LocNoAck(client.Loc{Lat: 1, Lng: 2, TS: i64(int64(i))}); err != nil {
				t.Error(err)
				return
			}
		}
	}
	go send(alice)
	go send(erin)
	for _, c := range []*client.Client{bob, dave} {
		last := map[string]int64{"alice": -1, "erin": -1}
		for range 2 * n {
			m := next(t, c)
			if m.Type != "loc" || m.TS == nil {
				t.Fatalf("got %s", m.Raw)
			}
			if *m.TS != last[m.User]+1 {
				t.Fatalf("from %s: ts %d after %d", m.User, *m.TS, last[m.User])
			}
			last[m.User] = *m.TS
		}
	}
	quiet(t, bob, dave)
}

// Group ids may hold '.', NATS's token separator: "a", "a.b" and "a.b.c"
// are three groups, and no subject wildcard reaches across them.
func TestGroupIDsWithDots(t *testing.T) {
	_, rs := startCluster(t, 2)
	groups := []string{"a", "a.b", "a.b.c", "a:b-c_d"}
	senders := map[string]*client.Client{}
	receivers := map[string]*client.Client{}
	for _, g := range groups {
		senders[g], receivers[g] = rs[0].dial("s-"+g), rs[1].dial("r-"+g)
		join(t, senders[g], g)
		join(t, receivers[g], g)
		expectPresence(t, senders[g], g, "r-"+g, "online")
	}
	for i, g := range groups {
		loc(t, senders[g], float64(i))
		expectLoc(t, receivers[g], g, "s-"+g, float64(i))
	}
	for _, g := range groups {
		quiet(t, receivers[g])
	}
}

// A replica that dies without a word leaves no ghost: after the TTL its
// members go offline on the others and leave their snapshots.
func TestDeadReplicaLeavesNoGhost(t *testing.T) {
	_, rs := startCluster(t, 2)
	carol := rs[0].dial("carol")
	join(t, carol, "g")
	bob := rs[1].dial("bob")
	join(t, bob, "g")
	expectPresence(t, carol, "g", "bob", "online")
	start := time.Now()
	rs[1].node.Crash()
	expectPresence(t, carol, "g", "bob", "offline")
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("forgotten after %v, before the TTL", d)
	}
	if m := join(t, rs[0].dial("dave"), "g"); !slices.Equal(users(m), []string{"carol"}) {
		t.Fatalf("ghost in snapshot: %s", m.Raw)
	}
	if v := testutil.ToFloat64(rs[0].cm.ReplicasExpired); v != 1 {
		t.Fatalf("replicas expired %v", v)
	}
	if v := testutil.ToFloat64(rs[0].cm.Replicas); v != 1 {
		t.Fatalf("replicas %v", v)
	}
}

// A replica that closes cleanly says bye: its members go offline at once,
// not after the TTL.
func TestCleanCloseSaysBye(t *testing.T) {
	b := startBroker(t)
	long := func(c *clusterCfg) { c.ReplicaTTL = time.Minute }
	ra, rb := startReplica(t, b, "a", long), startReplica(t, b, "b", long)
	formed(t, ra, rb)
	carol := ra.dial("carol")
	join(t, carol, "g")
	bob := rb.dial("bob")
	join(t, bob, "g")
	expectPresence(t, carol, "g", "bob", "online")
	ctxc, cancel := ctxTimeout(5 * time.Second)
	defer cancel()
	rb.node.Close(ctxc) // the node only: bob's session stays, as in a partition
	expectPresence(t, carol, "g", "bob", "offline")
	waitFor(t, "a forgets b", func() bool { return len(ra.node.Peers()) == 0 })
}

// NATS stops and comes back on the same port: nobody crashes, local
// delivery goes on meanwhile, nothing is delivered twice or late, and
// delivery across replicas resumes.
func TestBrokerRestart(t *testing.T) {
	b, rs := startCluster(t, 2)
	alice, carol := rs[0].dial("alice"), rs[0].dial("carol")
	bob := rs[1].dial("bob")
	join(t, alice, "g")
	join(t, carol, "g")
	expectPresence(t, alice, "g", "carol", "online")
	join(t, bob, "g")
	expectPresence(t, alice, "g", "bob", "online")
	expectPresence(t, carol, "g", "bob", "online")
	loc(t, alice, 1)
	expectLoc(t, carol, "g", "alice", 1)
	expectLoc(t, bob, "g", "alice", 1)

	b.stop()
	waitFor(t, "both disconnected", func() bool { return !rs[0].node.Connected() && !rs[1].node.Connected() })
	for _, r := range rs {
		if v := testutil.ToFloat64(r.cm.Connected); v != 0 {
			t.Fatalf("%s: connected gauge %v while NATS is down", r.id, v)
		}
	}
	loc(t, alice, 2) // acked: local delivery goes on
	expectLoc(t, carol, "g", "alice", 2)
	loc(t, bob, 3)
	if !rs[0].dp.Ready() || !rs[1].dp.Ready() {
		t.Fatal("not ready while NATS is down")
	}
	quiet(t, alice, bob, carol) // nothing across, no presence change

	b.start()
	waitFor(t, "both reconnected", func() bool { return rs[0].node.Connected() && rs[1].node.Connected() })
	formed(t, rs...)
	// Delivery resumes: wait for the first loc through, then count.
	waitFor(t, "delivery across replicas", func() bool {
		loc(t, alice, 4)
		expectLoc(t, carol, "g", "alice", 4)
		select {
		case m := <-bob.Messages():
			if m.Type != "loc" || *m.Lat != 4 {
				t.Fatalf("bob got %s", m.Raw)
			}
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	for i := range 50 {
		loc(t, alice, float64(10+i))
		expectLoc(t, carol, "g", "alice", float64(10+i))
	}
	for i := range 50 {
		expectLoc(t, bob, "g", "alice", float64(10+i))
	}
	loc(t, bob, 5)
	expectLoc(t, alice, "g", "bob", 5)
	expectLoc(t, carol, "g", "bob", 5)
	quiet(t, alice, bob, carol) // no duplicate, no stale loc, no presence flap
	for _, r := range rs {
		if v := testutil.ToFloat64(r.cm.Reconnects); v < 1 {
			t.Errorf("%s: reconnects %v", r.id, v)
		}
		if v := testutil.ToFloat64(r.cm.Connected); v != 1 {
			t.Errorf("%s: connected %v", r.id, v)
		}
	}
	if v := testutil.ToFloat64(rs[0].cm.PublishErrors); v < 1 {
		t.Errorf("publish errors %v while NATS was down", v)
	}
}

// Frames that do not decode are dropped and counted; delivery goes on.
func TestMalformedFrames(t *testing.T) {
	b, rs := startCluster(t, 2)
	alice, bob := rs[0].dial("alice"), rs[1].dial("bob")
	join(t, alice, "g")
	join(t, bob, "g")
	expectPresence(t, alice, "g", "bob", "online")
	raw := rawConn(t, b)
	subj := groupSubject("compass", "g")
	for _, junk := range [][]byte{nil, {1}, []byte("hello"), {1, 'L', 1, 'x', 3, 'e', 'v', 'e', 0},
		append([]byte{1, 'L', 1, 'x', 3, 'e', 'v', 'e', 1}, make([]byte, 24)...)} {
		if err := raw.Publish(subj, junk); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "malformed counted", func() bool {
		return testutil.ToFloat64(rs[1].cm.Dropped.WithLabelValues(metrics.DroppedMalformed)) >= 5
	})
	loc(t, alice, 7)
	expectLoc(t, bob, "g", "alice", 7)
	quiet(t, alice, bob)
}

// Several groups on many replicas: a member of each group on each replica;
// each loc reaches exactly the members of its group.
func TestManyGroups(t *testing.T) {
	_, rs := startCluster(t, 3)
	const groups = 20
	type member struct {
		c *client.Client
		g string
		u string
	}
	var ms []member
	for i := range groups {
		g := fmt.Sprintf("grp.%d", i)
		for j, r := range rs {
			u := fmt.Sprintf("u%d-%d", i, j)
			c := r.dial(u)
			join(t, c, g)
			ms = append(ms, member{c, g, u})
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, m := range ms {
		for len(m.c.Messages()) > 0 {
			if x := <-m.c.Messages(); x.Type != "presence" || x.Group != m.g {
				t.Fatalf("%s got %s", m.u, x.Raw)
			}
		}
	}
	for i, m := range ms {
		loc(t, m.c, float64(i%90))
	}
	for i, m := range ms {
		got := map[string]bool{}
		for range len(rs) - 1 {
			x := next(t, m.c)
			if x.Type != "loc" || x.Group != m.g || got[x.User] {
				t.Fatalf("member %d (%s in %s) got %s", i, m.u, m.g, x.Raw)
			}
			got[x.User] = true
		}
	}
	all := make([]*client.Client, len(ms))
	for i, m := range ms {
		all[i] = m.c
	}
	quiet(t, all...)
}

// NATS unreachable at start is not an error: the replica serves locally,
// connects when NATS comes up, and joins the cluster then.
func TestStartWithoutBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b := &broker{t: t, port: port}
	t.Cleanup(b.stop)
	ra := startReplica(t, b, "a", nil)
	if ra.node.Connected() {
		t.Fatal("connected to nothing")
	}
	alice, carol := ra.dial("alice"), ra.dial("carol")
	join(t, alice, "g")
	join(t, carol, "g")
	expectPresence(t, alice, "g", "carol", "online")
	loc(t, carol, 3)
	expectLoc(t, alice, "g", "carol", 3)

	b.start()
	rb := startReplica(t, b, "b", nil)
	formed(t, ra, rb)
	bob := rb.dial("bob")
	if m := join(t, bob, "g"); !slices.Equal(users(m), []string{"alice", "carol"}) {
		t.Fatalf("bob's snapshot %s", m.Raw)
	}
	expectPresence(t, alice, "g", "bob", "online")
	expectPresence(t, carol, "g", "bob", "online")
	loc(t, bob, 4)
	expectLoc(t, alice, "g", "bob", 4)
	expectLoc(t, carol, "g", "bob", 4)
}

// A partition longer than the TTL: the majority side forgets the cut-off
// replica's members (offline), the cut-off replica keeps its view; when the
// line mends, the members come back (online) and delivery resumes.
func TestPartitionHeals(t *testing.T) {
	b := startBroker(t)
	cut := newCutter(t, strings.TrimPrefix(b.url(), "nats://"))
	ra := startReplica(t, b, "a", nil)
	rb := startReplica(t, b, "b", func(c *clusterCfg) { c.NATSURL = cut.url() })
	formed(t, ra, rb)
	alice, bob := ra.dial("alice"), rb.dial("bob")
	join(t, alice, "g")
	join(t, bob, "g")
	expectPresence(t, alice, "g", "bob", "online")

	cut.setCut(true)
	expectPresence(t, alice, "g", "bob", "offline") // after the TTL
	waitFor(t, "b disconnected", func() bool { return !rb.node.Connected() })
	quiet(t, bob) // b forgets nobody while it cannot tell

	cut.setCut(false)
	expectPresence(t, alice, "g", "bob", "online")
	loc(t, bob, 8)
	expectLoc(t, alice, "g", "bob", 8)
	loc(t, alice, 9)
	expectLoc(t, bob, "g", "alice", 9)
	quiet(t, alice, bob)
}
