package sniff

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"
)

// MaxHead is how many first bytes of a rejected connection a Rejection keeps.
const MaxHead = 64

// defaultRing is the ring size NewStats uses when given none.
const defaultRing = 128

// Rejection is one connection that was closed because of its class.
type Rejection struct {
	Time   time.Time
	Remote string // "ip:port"
	Class  Class
	Head   []byte // the first bytes, at most MaxHead, a copy
}

// Stats counts connections per class and remembers the most recent
// rejections. It is safe for concurrent use; see the package comment. Create
// it with NewStats.
type Stats struct {
	counts [numClasses]atomic.Uint64

	mu   sync.Mutex
	ring []Rejection // fixed length; ring[next] is the oldest once full
	next int         // where the next rejection goes
	full bool        // every slot of ring holds a rejection
}

// NewStats returns Stats that keep the ring most recent rejections (128 when
// ring <= 0).
func NewStats(ring int) *Stats {
	if ring <= 0 {
		ring = defaultRing
	}
	return &Stats{ring: make([]Rejection, ring)}
}

// Count records one connection classified as c. It is a single atomic add.
// Undecided and values that are no class are ignored rather than panicking:
// a counting slip must never take the data plane down.
func (s *Stats) Count(c Class) {
	if c.valid() {
		s.counts[c].Add(1)
	}
}

// Reject records r in the ring of recent rejections, overwriting the oldest
// when full. Head is copied and truncated to MaxHead bytes, so the caller may
// reuse its buffer (a netpoll Peek slice, say) at once. Reject does not count:
// the caller calls Count as for any connection.
func (s *Stats) Reject(r Rejection) {
	// Copy outside the lock: the critical section is only the slot update.
	r.Head = bytes.Clone(r.Head[:min(len(r.Head), MaxHead)])
	s.mu.Lock()
	s.ring[s.next] = r
	s.next++
	if s.next == len(s.ring) {
		s.next, s.full = 0, true
	}
	s.mu.Unlock()
}

// Counts returns the count of every class of Classes(), zeros included.
func (s *Stats) Counts() map[Class]uint64 {
	m := make(map[Class]uint64, numClasses-1)
	for c := UCompass; c < numClasses; c++ {
		m[c] = s.counts[c].Load()
	}
	return m
}

// Recent returns the recorded rejections, newest first. Each Head is a fresh
// copy, so the result may be kept and modified.
func (s *Stats) Recent() []Rejection {
	s.mu.Lock()
	n := s.next
	if s.full {
		n = len(s.ring)
	}
	out := make([]Rejection, n)
	for i := range out {
		// Walk backwards from the newest slot, wrapping around.
		out[i] = s.ring[(s.next-1-i+len(s.ring))%len(s.ring)]
	}
	s.mu.Unlock()
	// A stored Head is never written again (a slot is only replaced whole),
	// so copying it outside the lock is safe.
	for i := range out {
		out[i].Head = bytes.Clone(out[i].Head)
	}
	return out
}
