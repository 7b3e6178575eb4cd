package hub

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/wire"
)

// sink is a connection that records what is written to it.
type sink struct {
	mu     sync.Mutex
	lines  []string
	bytes  atomic.Int64
	record bool
}

func (s *sink) Write(p []byte) (int, error) {
	s.bytes.Add(int64(len(p)))
	if s.record {
		s.mu.Lock()
		s.lines = append(s.lines, string(p))
		s.mu.Unlock()
	}
	return len(p), nil
}
func (s *sink) Close() error { return nil }

type nopMetric struct{}

func (nopMetric) Add(float64) {}

var limits = &session.Limits{QueueBytes: 1 << 20, QueueMessages: 1 << 16, SentBytes: nopMetric{}, Buffered: nopMetric{}}

func newSession(t testing.TB, user string, record bool) (*session.Session, *sink) {
	c := &sink{record: record}
	s := session.New(c, 0, netip.MustParseAddrPort("127.0.0.1:1"), time.Now(), limits)
	s.Activate(user)
	return s, c
}

func TestSnapshotAndPresence(t *testing.T) {
	h := New(Metrics{})
	var sc Scratch
	a, ac := newSession(t, "alice", true)
	b1, _ := newSession(t, "bob", true)
	b2, _ := newSession(t, "bob", true)
	h.Join(a, "alice", "g", []byte("1"), &sc)
	b1.SetLocation(wire.Location{Lat: 1, Lng: 2, STS: 10})
	b2.SetLocation(wire.Location{Lat: 3, Lng: 4, STS: 20})
	h.Join(b1, "bob", "g", nil, &sc)
	h.Join(b2, "bob", "g", nil, &sc)
	line := string(h.Snapshot(a, "alice", "g", nil, nil))
	want := `{"type":"joined","group":"g","members":[{"user":"bob","lat":3,"lng":4,"sts":20}]}` + "\n"
	if line != want {
		t.Fatalf("snapshot %s, want %s", line, want)
	}
	h.Leave(b1, "bob", "g", &sc)
	h.Leave(b2, "bob", "g", &sc)
	if h.Leave(b2, "bob", "g", &sc) {
		t.Fatal("left twice")
	}
	time.Sleep(50 * time.Millisecond) // flushers
	ac.mu.Lock()
	defer ac.mu.Unlock()
	got := fmt.Sprint(ac.lines)
	for _, w := range []string{`"state":"online"`, `"state":"offline"`} {
		if n := countSub(got, w); n != 1 {
			t.Fatalf("%s %d times in %s", w, n, got)
		}
	}
	if h.Len() != 1 {
		t.Fatal(h.Len())
	}
}

func countSub(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

// BenchmarkFanout publishes to a group of 10: one op is one loc, nine
// deliveries. Reports allocations and time per delivery.
func BenchmarkFanout(b *testing.B) {
	for _, size := range []int{10, 100} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			h := New(Metrics{})
			var sc Scratch
			var sender *session.Session
			for i := range size {
				s, _ := newSession(b, fmt.Sprintf("u%d", i), false)
				h.Join(s, fmt.Sprintf("u%d", i), "g", nil, &sc)
				if i == 0 {
					sender = s
				}
			}
			groups := []string{"g"}
			loc := wire.Location{Lat: 37.55, Lng: 126.99, Acc: 5, HasAcc: true, STS: 1732400000123}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				f := session.NewFanout(time.Now(), func(time.Duration) {})
				h.Publish(sender, "u0", groups, loc, &sc, f)
				f.Release()
			}
			b.StopTimer()
			deliveries := float64(b.N * (size - 1))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
		})
	}
}
