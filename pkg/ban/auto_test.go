package ban

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func newAuto(c *clock, edit func(*AutoConfig)) (*Auto, *List) {
	l := New(c.now, nil)
	cfg := AutoConfig{Threshold: 3, Window: time.Minute, Duration: 10 * time.Minute,
		Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if edit != nil {
		edit(&cfg)
	}
	return NewAuto(l, cfg), l
}

func TestAutoBansAtThreshold(t *testing.T) {
	c := newClock()
	x, l := newAuto(c, nil)
	a := addr("192.0.2.1")
	for i := range 2 {
		if v, _ := x.Strike(a); v != Counted {
			t.Fatalf("strike %d: %v", i+1, v)
		}
	}
	if l.Check(a) {
		t.Fatal("banned below the threshold")
	}
	v, b := x.Strike(a)
	if v != Banned || b.Prefix != netip.MustParsePrefix("192.0.2.1/32") || b.Reason != AutoReason ||
		!b.Expires.Equal(c.now().Add(10*time.Minute)) {
		t.Fatalf("third strike: %v %+v", v, b)
	}
	if !l.Check(a) || l.Check(addr("192.0.2.2")) {
		t.Fatal("the ban covers exactly the address")
	}
	if x.Tracked() != 0 {
		t.Fatalf("a banned address is still tracked: %d", x.Tracked())
	}
	// The ban expires on the injected clock.
	c.add(10*time.Minute - time.Second)
	if !l.Check(a) {
		t.Fatal("ban lifted early")
	}
	c.add(time.Second)
	if l.Check(a) || l.Expire() != 1 {
		t.Fatal("ban did not expire after its duration")
	}
}

func TestAutoWindow(t *testing.T) {
	c := newClock()
	x, l := newAuto(c, nil)
	a := addr("192.0.2.1")
	x.Strike(a)
	x.Strike(a)
	c.add(time.Minute) // the window ends: counting starts again
	if v, _ := x.Strike(a); v != Counted {
		t.Fatalf("first strike of a new window: %v", v)
	}
	x.Strike(a)
	if l.Check(a) {
		t.Fatal("strikes of two windows added up")
	}
	if v, _ := x.Strike(a); v != Banned {
		t.Fatalf("third strike within the window: %v", v)
	}
}

func TestAutoAllowAndOff(t *testing.T) {
	c := newClock()
	x, l := newAuto(c, nil)
	for range 10 {
		if v, _ := x.Strike(addr("10.1.2.3")); v != Ignored {
			t.Fatalf("allowlisted address: %v", v)
		}
		if v, _ := x.Strike(addr("::ffff:10.1.2.3")); v != Ignored {
			t.Fatalf("allowlisted address, v4-mapped: %v", v)
		}
	}
	if l.Check(addr("10.1.2.3")) || x.Tracked() != 0 {
		t.Fatal("allowlisted address tracked or banned")
	}
	var off *Auto
	if v, _ := off.Strike(addr("192.0.2.1")); v != Ignored || off.Prune() != 0 || off.Tracked() != 0 || off.Untracked() != 0 {
		t.Fatal("a nil Auto is not off")
	}
	if v, _ := x.Strike(netip.Addr{}); v != Ignored {
		t.Fatal("the zero address was counted")
	}
}

// IPv6 addresses count and are banned by their /64.
func TestAutoIPv6Slash64(t *testing.T) {
	c := newClock()
	x, l := newAuto(c, nil)
	x.Strike(addr("2001:db8:1:2::1"))
	x.Strike(addr("2001:db8:1:2::2"))
	v, b := x.Strike(addr("2001:db8:1:2:ffff::3"))
	if v != Banned || b.Prefix != netip.MustParsePrefix("2001:db8:1:2::/64") {
		t.Fatalf("%v %+v", v, b)
	}
	if !l.Check(addr("2001:db8:1:2::99")) || l.Check(addr("2001:db8:1:3::1")) {
		t.Fatal("the ban is not the /64")
	}
	if k := Key(addr("::ffff:192.0.2.1")); k != netip.MustParsePrefix("192.0.2.1/32") {
		t.Fatalf("Key of a v4-mapped address: %v", k)
	}
}

// At the cap, new addresses are not counted, tracked ones still are, and
// Prune makes room once windows end.
func TestAutoCap(t *testing.T) {
	c := newClock()
	x, l := newAuto(c, func(cfg *AutoConfig) { cfg.MaxTracked = 100 })
	for i := range 100 {
		x.Strike(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	newcomer := addr("198.51.100.1")
	for range 5 {
		if v, _ := x.Strike(newcomer); v != Untracked {
			t.Fatalf("strike from a new address at the cap: %v", v)
		}
	}
	if x.Untracked() != 5 || x.Tracked() != 100 || l.Check(newcomer) {
		t.Fatalf("untracked %d, tracked %d", x.Untracked(), x.Tracked())
	}
	tracked := addr("192.0.2.7")
	x.Strike(tracked)
	if v, _ := x.Strike(tracked); v != Banned {
		t.Fatalf("a tracked address at the cap: %v", v)
	}
	if x.Tracked() != 99 {
		t.Fatalf("tracked %d after a ban", x.Tracked())
	}
	c.add(time.Minute)
	if n := x.Prune(); n != 0 {
		t.Fatalf("Prune left %d after the window", n)
	}
	if v, _ := x.Strike(newcomer); v != Counted {
		t.Fatalf("after Prune: %v", v)
	}
}

func TestAutoConcurrent(t *testing.T) {
	c := newClock()
	x, l := newAuto(c, func(cfg *AutoConfig) { cfg.Threshold = 50; cfg.MaxTracked = 64 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	bans := map[string]int{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				a := netip.AddrFrom4([4]byte{192, 0, 2, byte((g*1000 + i) % 16)})
				if v, b := x.Strike(a); v == Banned {
					mu.Lock()
					bans[b.Prefix.String()]++
					mu.Unlock()
				}
				if i%100 == 0 {
					x.Prune()
				}
			}
		})
	}
	wg.Wait()
	// 8,000 strikes over 16 addresses: 500 each, 10 bans each.
	for i := range 16 {
		p := fmt.Sprintf("192.0.2.%d/32", i)
		if bans[p] != 10 {
			t.Errorf("%s banned %d times, want 10", p, bans[p])
		}
	}
	if len(l.List()) != 16 {
		t.Errorf("bans in force: %d", len(l.List()))
	}
}
