package ban

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestBanExpires(t *testing.T) {
	c := newClock()
	active := -1
	l := New(c.now, func(n int) { active = n })
	l.Add(netip.MustParsePrefix("192.0.2.0/24"), time.Minute, "test")
	l.Add(netip.MustParsePrefix("198.51.100.7/32"), 0, "forever")
	if active != 2 {
		t.Fatalf("active = %d after two bans", active)
	}
	if !l.Check(addr("192.0.2.9")) || !l.Check(addr("::ffff:192.0.2.9")) || l.Check(addr("192.0.3.1")) {
		t.Fatal("Check before expiry")
	}
	c.add(time.Minute - time.Nanosecond)
	if !l.Check(addr("192.0.2.9")) {
		t.Fatal("ban lifted a nanosecond early")
	}
	c.add(time.Nanosecond)
	if l.Check(addr("192.0.2.9")) {
		t.Fatal("ban still in force at its expiry")
	}
	if n := l.Expire(); n != 1 || active != 1 {
		t.Fatalf("Expire = %d, active = %d; want 1, 1", n, active)
	}
	c.add(1000 * time.Hour)
	if !l.Check(addr("198.51.100.7")) || l.Expire() != 0 {
		t.Fatal("a ban without duration expired")
	}
	bans := l.List()
	if len(bans) != 1 || bans[0].Reason != "forever" || bans[0].Hits != 1 {
		t.Fatalf("List = %+v", bans)
	}
}

func TestBanReplaceKeepsCreationAndHits(t *testing.T) {
	c := newClock()
	l := New(c.now, nil)
	p := netip.MustParsePrefix("192.0.2.1/32")
	first := l.Add(p, time.Minute, "a")
	l.Check(addr("192.0.2.1"))
	c.add(time.Second)
	b := l.Add(p, time.Hour, "b")
	if b.Created != first.Created || b.Hits != 1 || b.Reason != "b" || !b.Expires.Equal(c.now().Add(time.Hour)) {
		t.Fatalf("replaced ban %+v", b)
	}
	if !l.Remove(p) || l.Remove(p) || l.Check(addr("192.0.2.1")) {
		t.Fatal("Remove")
	}
}
