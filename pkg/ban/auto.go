package ban

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// AutoReason is the reason of the bans Auto makes.
const AutoReason = "autoban"

// DefaultMaxTracked is the number of addresses Auto tracks at most when
// AutoConfig.MaxTracked is 0: about 100 bytes each, some 6.5 MB in all.
const DefaultMaxTracked = 65536

// AutoConfig configures automatic bans.
type AutoConfig struct {
	Threshold  int            // rejected connections within Window that ban an address
	Window     time.Duration  // counting window, from an address's first strike
	Duration   time.Duration  // how long an automatic ban lasts
	Allow      []netip.Prefix // never banned automatically
	MaxTracked int            // addresses tracked at once (DefaultMaxTracked when 0)
}

// Verdict is what Strike did with a strike.
type Verdict uint8

// Verdicts of Strike.
const (
	Ignored   Verdict = iota // Auto is off, or the address is allowed
	Counted                  // counted; the threshold is not reached
	Untracked                // not counted: MaxTracked addresses are tracked already
	Banned                   // the threshold was reached: the address is banned
)

// Auto bans addresses that keep sending what is not a U-Compass client:
// Threshold strikes within Window ban the address's Key prefix for
// Duration, with reason "autoban". Counting refuses, it never evicts: at
// MaxTracked addresses a strike from a new address is not counted (Untracked)
// until Prune frees the entries whose window has ended, so churning many
// addresses cannot flush a tracked one out of the table.
//
// A nil *Auto is off: every method is a no-op. Safe for concurrent use.
type Auto struct {
	list      *List
	cfg       AutoConfig
	mu        sync.Mutex
	strikes   map[netip.Prefix]strikes
	untracked atomic.Uint64
}

type strikes struct {
	n     int
	start int64 // unix nanoseconds of the window's first strike
}

// NewAuto returns automatic bans into l, on l's clock.
func NewAuto(l *List, cfg AutoConfig) *Auto {
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	return &Auto{list: l, cfg: cfg, strikes: map[netip.Prefix]strikes{}}
}

// Key is the prefix an address is counted and banned as: the address
// itself for IPv4, its /64 for IPv6 (one host usually holds a whole /64, so
// counting single IPv6 addresses would let it rotate out of any ban).
func Key(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.WithZone("").Prefix(64)
	return p
}

// Strike counts one rejected connection from a, banning it when this strike
// reaches the threshold; the Ban is valid only when the verdict is Banned.
func (x *Auto) Strike(a netip.Addr) (Verdict, Ban) {
	if x == nil || !a.IsValid() || x.allowed(a.Unmap()) {
		return Ignored, Ban{}
	}
	k := Key(a)
	now := x.list.now().UnixNano()
	x.mu.Lock()
	st, ok := x.strikes[k]
	if !ok && len(x.strikes) >= x.cfg.MaxTracked {
		x.mu.Unlock()
		x.untracked.Add(1)
		return Untracked, Ban{}
	}
	if !ok || now-st.start >= int64(x.cfg.Window) {
		st = strikes{start: now}
	}
	st.n++
	if st.n < x.cfg.Threshold {
		x.strikes[k] = st
		x.mu.Unlock()
		return Counted, Ban{}
	}
	delete(x.strikes, k)
	x.mu.Unlock()
	return Banned, x.list.Add(k, x.cfg.Duration, AutoReason)
}

func (x *Auto) allowed(a netip.Addr) bool {
	for _, p := range x.cfg.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Prune forgets the addresses whose window has ended and returns how many
// are still tracked. The data plane's sweeper calls it every tick.
func (x *Auto) Prune() int {
	if x == nil {
		return 0
	}
	now := x.list.now().UnixNano()
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, st := range x.strikes {
		if now-st.start >= int64(x.cfg.Window) {
			delete(x.strikes, k)
		}
	}
	return len(x.strikes)
}

// Tracked returns the number of addresses being counted.
func (x *Auto) Tracked() int {
	if x == nil {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.strikes)
}

// Untracked returns how many strikes were not counted because the table
// was full.
func (x *Auto) Untracked() uint64 {
	if x == nil {
		return 0
	}
	return x.untracked.Load()
}
