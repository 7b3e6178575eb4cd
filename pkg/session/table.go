package session

import (
	"net/netip"
	"slices"
	"sync"
)

// Table holds every open session, by id and by fd.
type Table struct {
	mu   sync.RWMutex
	seq  uint64
	byID map[string]*Session
	byFD map[int]*Session
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{byID: map[string]*Session{}, byFD: map[int]*Session{}}
}

// Add inserts s and gives it its sequence number.
func (t *Table) Add(s *Session) {
	t.mu.Lock()
	t.seq++
	s.Seq = t.seq
	t.byID[s.ID] = s
	t.byFD[s.FD] = s
	t.mu.Unlock()
}

// Remove deletes s (and its fd entry only if the fd still maps to s: the
// kernel reuses fds).
func (t *Table) Remove(s *Session) {
	t.mu.Lock()
	delete(t.byID, s.ID)
	if t.byFD[s.FD] == s {
		delete(t.byFD, s.FD)
	}
	t.mu.Unlock()
}

// Get returns the session with id.
func (t *Table) Get(id string) (*Session, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.byID[id]
	return s, ok
}

// ByFD returns the session on file descriptor fd.
func (t *Table) ByFD(fd int) (*Session, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.byFD[fd]
	return s, ok
}

// Len returns the number of sessions.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byID)
}

// All returns every session, oldest first.
func (t *Table) All() []*Session {
	t.mu.RLock()
	out := make([]*Session, 0, len(t.byID))
	for _, s := range t.byID {
		out = append(out, s)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Session) int { return cmpUint(a.Seq, b.Seq) })
	return out
}

// Select returns the sessions for which keep is true, oldest first.
func (t *Table) Select(keep func(*Session) bool) []*Session {
	all := t.All()
	return slices.DeleteFunc(all, func(s *Session) bool { return !keep(s) })
}

// ByUser returns the sessions of user.
func (t *Table) ByUser(user string) []*Session {
	return t.Select(func(s *Session) bool { return s.User() == user })
}

// ByPrefix returns the sessions whose client address is in p.
func (t *Table) ByPrefix(p netip.Prefix) []*Session {
	return t.Select(func(s *Session) bool { return p.Contains(s.Remote.Addr().Unmap()) })
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
