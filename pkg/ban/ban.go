// Package ban keeps the address bans: CIDRs with a reason and an expiry,
// checked at accept for every new connection. Bans come from operators
// (the control plane) and from Auto, which bans an address that keeps
// sending junk: Threshold rejected connections within Window.
//
// Concurrency: safe for concurrent use. Check is the hot path: it takes a
// read lock and scans the bans, which are few (operators ban prefixes, not
// millions of hosts; Auto bans only addresses that crossed its threshold);
// an empty list costs one atomic load. Auto's Strike takes one short mutex
// around a map of bounded size.
package ban

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Ban is one banned prefix.
type Ban struct {
	Prefix  netip.Prefix
	Reason  string
	Created time.Time
	Expires time.Time // zero: until lifted
	Hits    uint64    // connections refused because of it
}

// List is the set of bans in force.
type List struct {
	now   func() time.Time
	n     atomic.Int32
	mu    sync.RWMutex
	bans  map[netip.Prefix]*entry
	onSet func(active int)
}

type entry struct {
	Ban
	hits atomic.Uint64
}

// New returns an empty list. now is the clock (time.Now when nil); onSet,
// if not nil, is told the number of bans in force after every change.
func New(now func() time.Time, onSet func(active int)) *List {
	if now == nil {
		now = time.Now
	}
	if onSet == nil {
		onSet = func(int) {}
	}
	return &List{now: now, bans: map[netip.Prefix]*entry{}, onSet: onSet}
}

// Add bans p for d (d <= 0: until lifted), replacing an earlier ban of p:
// a ban still in force keeps its creation time and hit count.
func (l *List) Add(p netip.Prefix, d time.Duration, reason string) Ban {
	now := l.now()
	b := Ban{Prefix: p.Masked(), Reason: reason, Created: now}
	if d > 0 {
		b.Expires = now.Add(d)
	}
	e := &entry{Ban: b}
	l.mu.Lock()
	if old := l.bans[b.Prefix]; old != nil && (old.Expires.IsZero() || now.Before(old.Expires)) {
		e.Created = old.Created
		e.hits.Store(old.hits.Load())
	}
	l.bans[b.Prefix] = e
	l.changed()
	l.mu.Unlock()
	b.Created, b.Hits = e.Created, e.hits.Load()
	return b
}

// Remove lifts the ban of exactly p and reports whether there was one.
func (l *List) Remove(p netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.bans[p.Masked()]
	delete(l.bans, p.Masked())
	l.changed()
	return ok
}

// changed runs with mu held.
func (l *List) changed() {
	l.n.Store(int32(len(l.bans)))
	l.onSet(len(l.bans))
}

// Check reports whether a is banned now, counting a hit on the ban.
func (l *List) Check(a netip.Addr) bool {
	if l.n.Load() == 0 {
		return false
	}
	a = a.Unmap()
	now := l.now()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, e := range l.bans {
		if e.Prefix.Contains(a) && (e.Expires.IsZero() || now.Before(e.Expires)) {
			e.hits.Add(1)
			return true
		}
	}
	return false
}

// List returns the bans in force, oldest first, dropping expired ones.
func (l *List) List() []Ban {
	l.Expire()
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Ban, 0, len(l.bans))
	for _, e := range l.bans {
		b := e.Ban
		b.Hits = e.hits.Load()
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Expire drops the bans whose time is up and returns how many it dropped.
func (l *List) Expire() int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for p, e := range l.bans {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			delete(l.bans, p)
			n++
		}
	}
	if n > 0 {
		l.changed()
	}
	return n
}
