// Package events is the in-process stream of operator-visible happenings
// (sessions opened and closed, kicks, bans, sniffer rejections) that the
// control plane's WatchEvents serves.
//
// Concurrency: Publish never blocks. Each subscriber has a bounded buffer;
// one that falls behind is cut off (its channel closed, Overflowed true)
// rather than slowing the data plane. Publishing with no subscribers costs
// one atomic load.
package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Kind says what happened.
type Kind uint8

// Kinds of events.
const (
	SessionOpened Kind = iota + 1
	SessionClosed
	SessionKicked
	AddressBanned
	AddressUnbanned
	SnifferRejected
)

// Event is one happening. Reason carries the close reason, the kick or ban
// reason, or the sniffer class; CIDR the range of AddressBanned and
// AddressUnbanned.
type Event struct {
	Time    time.Time
	Kind    Kind
	Session string
	User    string
	Remote  string
	Reason  string
	FD      int
	CIDR    string
}

// Bus fans events out to subscribers.
type Bus struct {
	n    atomic.Int32
	mu   sync.Mutex
	subs map[*Sub]struct{}
}

// Sub is one subscription.
type Sub struct {
	bus        *Bus
	kinds      uint64 // bit set of wanted kinds; 0 wants all
	c          chan Event
	overflowed atomic.Bool
	closed     bool // guarded by bus.mu
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Sub]struct{}{}} }

// Subscribe starts a subscription with a buffer of size events, for the
// given kinds (none: all).
func (b *Bus) Subscribe(size int, kinds ...Kind) *Sub {
	s := &Sub{bus: b, c: make(chan Event, size)}
	for _, k := range kinds {
		s.kinds |= 1 << k
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.n.Add(1)
	b.mu.Unlock()
	return s
}

// Publish delivers e to every interested subscriber without waiting.
func (b *Bus) Publish(e Event) {
	if b.n.Load() == 0 {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.kinds != 0 && s.kinds&(1<<e.Kind) == 0 {
			continue
		}
		select {
		case s.c <- e:
		default:
			s.overflowed.Store(true)
			b.remove(s)
		}
	}
}

func (b *Bus) remove(s *Sub) {
	if s.closed {
		return
	}
	s.closed = true
	delete(b.subs, s)
	b.n.Add(-1)
	close(s.c)
}

// C delivers the events; it is closed when the subscription ends.
func (s *Sub) C() <-chan Event { return s.c }

// Overflowed reports whether the subscription was cut off for falling behind.
func (s *Sub) Overflowed() bool { return s.overflowed.Load() }

// Close ends the subscription.
func (s *Sub) Close() {
	s.bus.mu.Lock()
	s.bus.remove(s)
	s.bus.mu.Unlock()
}
