package hub

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/wire"
)

// fakeBridge records what the hub tells the other replicas and keeps the
// Link of each opened group.
type fakeBridge struct {
	mu     sync.Mutex
	log    []string
	links  map[string]*Link
	opened int
	onOpen func(l *Link) // runs inside Open, as a pull's answers would
}

func (b *fakeBridge) Open(g string, l *Link) Port {
	b.mu.Lock()
	b.links[g] = l
	b.opened++
	f := b.onOpen
	b.mu.Unlock()
	if f != nil {
		f(l)
	}
	return &fakePort{b: b, g: g}
}

type fakePort struct {
	b *fakeBridge
	g string
}

func (p *fakePort) Member(user string, in bool, loc wire.Location, ok bool) {
	p.b.record(fmt.Sprintf("%s member %s %v loc=%v", p.g, user, in, ok))
}
func (p *fakePort) Loc(user string, loc wire.Location, line []byte) {
	p.b.record(fmt.Sprintf("%s loc %s %s", p.g, user, strings.TrimSpace(string(line))))
}
func (p *fakePort) Close() { p.b.record(p.g + " close") }

func (b *fakeBridge) record(s string) {
	b.mu.Lock()
	b.log = append(b.log, s)
	b.mu.Unlock()
}

func (b *fakeBridge) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.log
	b.log = nil
	return out
}

func newBridged() (*Hub, *fakeBridge) {
	h := New(Metrics{})
	b := &fakeBridge{links: map[string]*Link{}}
	h.Attach(b)
	return h, b
}

// lines returns what c received, once the flushers have run.
func lines(c *sink) []string {
	time.Sleep(20 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, w := range c.lines { // one write may hold several lines
		out = append(out, strings.Split(strings.TrimSuffix(w, "\n"), "\n")...)
	}
	c.lines = nil
	return out
}

func TestBridgeSeesUserLevelChanges(t *testing.T) {
	h, b := newBridged()
	var sc Scratch
	a1, _ := newSession(t, "alice", true)
	a2, _ := newSession(t, "alice", true)
	a1.SetLocation(wire.Location{Lat: 1, Lng: 2, STS: 5})
	h.Join(a1, "alice", "g", nil, &sc)
	h.Join(a2, "alice", "g", nil, &sc)
	h.Publish(a2, "alice", []string{"g"}, wire.Location{Lat: 3, Lng: 4, STS: 6}, &sc, nil)
	h.Leave(a1, "alice", "g", &sc)
	h.Leave(a2, "alice", "g", &sc)
	want := []string{
		"g member alice true loc=true",
		`g loc alice {"type":"loc","group":"g","user":"alice","lat":3,"lng":4,"sts":6}`,
		"g member alice false loc=false",
		"g close",
	}
	if got := b.take(); !slices.Equal(got, want) {
		t.Fatalf("bridge saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b.opened != 1 {
		t.Fatalf("opened %d times", b.opened)
	}
}

func TestRemotePresenceAndSnapshot(t *testing.T) {
	h, b := newBridged()
	var sc Scratch
	c, cs := newSession(t, "carol", true)
	h.Join(c, "carol", "g", nil, &sc)
	l := b.links["g"]
	lines(cs) // joined

	// bob on two replicas: one online; his loc reaches carol.
	l.Member("r1", "bob", true, wire.Location{}, false, &sc)
	l.Member("r2", "bob", true, wire.Location{Lat: 9, Lng: 9, STS: 50}, true, &sc)
	l.Member("r2", "bob", true, wire.Location{}, false, &sc) // repeated: nothing
	line := []byte(`{"type":"loc","group":"g","user":"bob","lat":1,"lng":1,"sts":60}` + "\n")
	if n := l.Loc("r1", "bob", wire.Location{Lat: 1, Lng: 1, STS: 60}, line, &sc); n != 1 {
		t.Fatalf("loc delivered %d times", n)
	}
	got := lines(cs)
	want := []string{`{"type":"presence","group":"g","user":"bob","state":"online"}`, strings.TrimSpace(string(line))}
	if !slices.Equal(got, want) {
		t.Fatalf("carol got %q", got)
	}
	// The snapshot has bob once, with the newest location of both replicas.
	d, _ := newSession(t, "dave", true)
	h.Join(d, "dave", "g", nil, &sc)
	snap := string(h.Snapshot(d, "dave", "g", nil, nil))
	if !strings.Contains(snap, `{"user":"bob","lat":1,"lng":1,"sts":60}`) || strings.Count(snap, "bob") != 1 {
		t.Fatalf("snapshot %s", snap)
	}
	lines(cs) // dave online
	// A local session of bob: no presence; leaving r1 and r2: none either.
	b1, _ := newSession(t, "bob", true)
	h.Join(b1, "bob", "g", nil, &sc)
	l.Member("r1", "bob", false, wire.Location{}, false, &sc)
	l.State("r2", nil, &sc)
	if got := lines(cs); len(got) != 0 {
		t.Fatalf("carol got %q", got)
	}
	// The last local session leaves: now offline.
	h.Leave(b1, "bob", "g", &sc)
	if got := lines(cs); !slices.Equal(got, []string{`{"type":"presence","group":"g","user":"bob","state":"offline"}`}) {
		t.Fatalf("carol got %q", got)
	}
}

// A state replaces what was known of its replica: users in it and not
// before come online, users before and not in it go offline.
func TestStateTransitions(t *testing.T) {
	h, b := newBridged()
	var sc Scratch
	c, cs := newSession(t, "carol", true)
	h.Join(c, "carol", "g", nil, &sc)
	lines(cs) // joined
	l := b.links["g"]
	l.State("r1", []wire.Member{{User: "a"}, {User: "b"}}, &sc)
	l.State("r1", []wire.Member{{User: "b"}, {User: "c"}}, &sc)
	l.State("r1", nil, &sc)
	got := lines(cs)
	want := []string{
		`{"type":"presence","group":"g","user":"a","state":"online"}`,
		`{"type":"presence","group":"g","user":"b","state":"online"}`,
		`{"type":"presence","group":"g","user":"c","state":"online"}`,
		`{"type":"presence","group":"g","user":"a","state":"offline"}`,
		`{"type":"presence","group":"g","user":"b","state":"offline"}`,
		`{"type":"presence","group":"g","user":"c","state":"offline"}`,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("carol got\n%s", strings.Join(got, "\n"))
	}
}

// A Link of a group emptied since (and perhaps re-created) does nothing.
func TestDeadLink(t *testing.T) {
	h, b := newBridged()
	var sc Scratch
	c, _ := newSession(t, "carol", true)
	h.Join(c, "carol", "g", nil, &sc)
	old := b.links["g"]
	h.Leave(c, "carol", "g", &sc)
	d, ds := newSession(t, "dave", true)
	h.Join(d, "dave", "g", nil, &sc)
	lines(ds)
	if old.Member("r1", "bob", true, wire.Location{}, false, &sc) != 0 ||
		old.Loc("r1", "bob", wire.Location{}, []byte("x\n"), &sc) != 0 || old.State("r1", []wire.Member{{User: "x"}}, &sc) != 0 {
		t.Fatal("a dead link delivered")
	}
	if got := lines(ds); len(got) != 0 {
		t.Fatalf("dave got %q", got)
	}
	if b.opened != 2 {
		t.Fatalf("opened %d", b.opened)
	}
}

// Joiners of a group being opened wait for Open, so that their snapshot
// holds what the other replicas answered.
func TestJoinWaitsForOpen(t *testing.T) {
	h, b := newBridged()
	release := make(chan struct{})
	b.onOpen = func(l *Link) {
		<-release
		var sc Scratch
		l.State("r1", []wire.Member{{User: "bob", Loc: wire.Location{Lat: 1, STS: 1}, HasLoc: true}}, &sc)
	}
	var wg sync.WaitGroup
	sinks := make([]*sink, 3)
	for i := range sinks {
		s, c := newSession(t, fmt.Sprintf("u%d", i), true)
		sinks[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc Scratch
			h.Join(s, fmt.Sprintf("u%d", i), "g", nil, &sc)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, c := range sinks {
		got := lines(c)
		if len(got) == 0 || !strings.Contains(got[0], `"joined"`) || !strings.Contains(got[0], `"user":"bob"`) {
			t.Fatalf("u%d got %q", i, got)
		}
	}
	if b.opened != 1 {
		t.Fatalf("opened %d", b.opened)
	}
}

func TestLocal(t *testing.T) {
	h, _ := newBridged()
	var sc Scratch
	a, _ := newSession(t, "alice", false)
	a.SetLocation(wire.Location{Lat: 1, STS: 1})
	h.Join(a, "alice", "g", nil, &sc)
	var got []wire.Member
	h.Local("g", func(m []wire.Member) { got = m })
	if len(got) != 1 || got[0].User != "alice" || !got[0].HasLoc {
		t.Fatalf("%+v", got)
	}
	h.Local("nope", func(m []wire.Member) { got = m })
	if got != nil {
		t.Fatalf("%+v", got)
	}
}
