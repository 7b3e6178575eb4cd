// Package hub keeps the groups: who is in which, the joined snapshot,
// user-level presence, and the fanout of locations to every other session
// of a group.
//
// # Concurrency
//
// One RWMutex guards the group map and every group's membership: joins and
// leaves take it for writing (they are rare next to locations), a fanout
// takes it for reading only long enough to copy the recipients into the
// caller's scratch slice. Nothing is sent while the lock is held: Send may
// close a slow session, and closing runs the data plane's cleanup, which
// leaves groups. Each fanned-out line is encoded once per group and copied
// into each recipient's queue.
//
// # Other replicas
//
// With a Bridge attached (package cluster), a group also holds a view of
// its members on the other replicas, kept by the bridge through the
// group's Link, and presence and snapshots are computed over both: a user
// is present in a group while any of their sessions, here or elsewhere,
// is. The rules that keep this consistent (remote.go):
//
//   - Bridge.Open runs without the lock, by the first local joiner of a
//     group; later joiners wait for it, so every joined reply is built
//     after the group's remote members are known.
//   - Port.Member runs with the lock held for writing and Hub.Local's
//     callback with it held for reading: both must only queue. So the
//     order in which a replica announces membership changes and states is
//     the order of the changes themselves.
//   - Port.Loc and Port.Close run without the lock.
//   - Link methods take the lock themselves; a Link whose group has since
//     been emptied (and perhaps re-created) is dead and ignores everything.
//
// Lock order: Hub.mu, then a remote member's mu; Session.mu is taken (by
// User, Location, Send) only after both or with neither.
package hub

import (
	"sync"

	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/wire"
)

// Counter is what the hub needs of a metric (prometheus.Counter fits).
type Counter interface{ Add(float64) }

// Gauge is what the hub needs of a gauge (prometheus.Gauge fits).
type Gauge interface{ Set(float64) }

// Metrics are the hub's counters; nil fields are not counted.
type Metrics struct {
	LocSent      Counter
	PresenceSent Counter
	Groups       Gauge
}

// Hub is the set of groups.
type Hub struct {
	m      Metrics
	mu     sync.RWMutex
	groups map[string]*group
	bridge Bridge // nil: a single node
}

type group struct {
	members []*session.Session
	users   map[string]int // sessions per user in the group

	// With a bridge (remote.go).
	ready   chan struct{}                       // closed once Open has returned; nil without a bridge
	joining int                                 // joiners between creating the group and joining it
	port    Port                                // set once ready
	remote  map[string]map[string]*remoteMember // replica → user → member
	rusers  map[string]int                      // replicas per remote user
}

// New returns an empty hub.
func New(m Metrics) *Hub {
	return &Hub{m: m, groups: map[string]*group{}}
}

// newGroup returns an empty group; the remote maps are made on first use.
func newGroup() *group {
	return &group{users: map[string]int{}}
}

// Scratch is a caller-owned buffer that lets fanout run without allocating;
// one per reader goroutine, never shared.
type Scratch struct {
	line  []byte
	peers []*session.Session
}

// Join adds s (of user) to g and queues to s the joined reply (with id)
// listing the other users of g, each once, with their last known
// location; the reply is queued before any other message of g can reach
// s. It tells the others that user is online when s is user's first
// session in g (on any replica). The caller has checked that s may join
// (limits, authorization) and that it is not yet in g. It reports whether
// the reply was queued.
func (h *Hub) Join(s *session.Session, user, g string, id []byte, sc *Scratch) bool {
	gr := h.enter(g)
	h.mu.Lock()
	gr.joining--
	sc.line = wire.AppendJoined(sc.line[:0], g, id, gr.snapshot(user))
	queued := s.Send(sc.line)
	gr.members = append(gr.members, s)
	gr.users[user]++
	first := gr.users[user] == 1
	if first && gr.port != nil {
		loc, ok := s.Location()
		gr.port.Member(user, true, loc, ok)
	}
	announce := first && gr.rusers[user] == 0
	if announce {
		sc.peers = gr.others(sc.peers[:0], user)
	}
	h.mu.Unlock()
	if announce {
		h.presence(sc, g, user, true)
	}
	return queued
}

// enter returns g, creating it, and opening it to the other replicas when
// there is a bridge, as one more joiner: the caller decrements joining
// under the lock.
func (h *Hub) enter(g string) *group {
	h.mu.Lock()
	gr := h.groups[g]
	opener := gr == nil
	if opener {
		gr = newGroup()
		h.groups[g] = gr
		h.setGroups()
		if h.bridge != nil {
			gr.ready = make(chan struct{})
		}
	}
	gr.joining++
	b, ready := h.bridge, gr.ready
	h.mu.Unlock()
	switch {
	case ready == nil:
	case opener:
		p := b.Open(g, &Link{h: h, g: g, gr: gr})
		h.mu.Lock()
		gr.port = p
		h.mu.Unlock()
		close(ready)
	default:
		<-ready
	}
	return gr
}

// Snapshot appends to b the joined reply for s (of user), already in g.
func (h *Hub) Snapshot(s *session.Session, user, g string, id []byte, b []byte) []byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var members []wire.Member
	if gr := h.groups[g]; gr != nil {
		members = gr.snapshot(user)
	}
	return wire.AppendJoined(b, g, id, members)
}

// Leave removes s (of user) from g, telling the others user is offline when
// s was user's last session in g (on any replica). It reports false when s
// was not in g.
func (h *Hub) Leave(s *session.Session, user, g string, sc *Scratch) bool {
	h.mu.Lock()
	gr := h.groups[g]
	i := gr.index(s)
	if i < 0 {
		h.mu.Unlock()
		return false
	}
	gr.members[i] = gr.members[len(gr.members)-1]
	gr.members[len(gr.members)-1] = nil
	gr.members = gr.members[:len(gr.members)-1]
	gr.users[user]--
	last := gr.users[user] == 0
	if last {
		delete(gr.users, user)
		if gr.port != nil {
			gr.port.Member(user, false, wire.Location{}, false)
		}
	}
	announce := last && gr.rusers[user] == 0
	if announce {
		sc.peers = gr.others(sc.peers[:0], user)
	}
	var closing Port
	if len(gr.members) == 0 && gr.joining == 0 {
		delete(h.groups, g)
		h.setGroups()
		closing = gr.port
	}
	h.mu.Unlock()
	if closing != nil {
		closing.Close()
	}
	if announce {
		h.presence(sc, g, user, false)
	}
	return true
}

// Publish sends loc from s (of user) to every other session of each group
// in groups, and to the other replicas, and returns the number of local
// deliveries queued. f, if not nil, is told of each local recipient's
// write.
func (h *Hub) Publish(s *session.Session, user string, groups []string, loc wire.Location, sc *Scratch, f *session.Fanout) int {
	n := 0
	for _, g := range groups {
		var port Port
		h.mu.RLock()
		sc.peers = sc.peers[:0]
		if gr := h.groups[g]; gr != nil {
			for _, m := range gr.members {
				if m != s {
					sc.peers = append(sc.peers, m)
				}
			}
			port = gr.port
		}
		h.mu.RUnlock()
		sc.line = wire.AppendLoc(sc.line[:0], g, user, loc)
		for _, p := range sc.peers {
			if p.SendTracked(sc.line, f) {
				n++
			}
		}
		if port != nil {
			port.Loc(user, loc, sc.line)
		}
	}
	clear(sc.peers)
	if h.m.LocSent != nil && n > 0 {
		h.m.LocSent.Add(float64(n))
	}
	return n
}

// Len returns the number of groups.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.groups)
}

func (h *Hub) presence(sc *Scratch, g, user string, online bool) {
	sc.line = wire.AppendPresence(sc.line[:0], g, user, online)
	n := sendAll(sc.peers, sc.line)
	clear(sc.peers)
	if h.m.PresenceSent != nil && n > 0 {
		h.m.PresenceSent.Add(float64(n))
	}
}

// setGroups runs with mu held for writing.
func (h *Hub) setGroups() {
	if h.m.Groups != nil {
		h.m.Groups.Set(float64(len(h.groups)))
	}
}

func sendAll(peers []*session.Session, line []byte) int {
	n := 0
	for _, p := range peers {
		if p.Send(line) {
			n++
		}
	}
	return n
}

func (gr *group) index(s *session.Session) int {
	if gr == nil {
		return -1
	}
	for i, m := range gr.members {
		if m == s {
			return i
		}
	}
	return -1
}

// others appends the sessions of users other than user.
func (gr *group) others(dst []*session.Session, user string) []*session.Session {
	for _, m := range gr.members {
		if m.User() != user {
			dst = append(dst, m)
		}
	}
	return dst
}

// snapshot lists the users of the group other than user, here and on the
// other replicas, each once, with the newest location of any of their
// sessions.
func (gr *group) snapshot(user string) []wire.Member {
	return gr.list(user, true, true)
}

// list lists the users of the group (but skip when skipping), here and,
// with remote, on the other replicas, each once, with the newest location
// of any of their sessions.
func (gr *group) list(skip string, skipping, remote bool) []wire.Member {
	n := len(gr.users)
	if remote {
		n += len(gr.rusers)
	}
	out := make([]wire.Member, 0, n)
	at := make(map[string]int, n)
	add := func(u string, loc wire.Location, ok bool) {
		i, seen := at[u]
		if !seen {
			i = len(out)
			at[u] = i
			out = append(out, wire.Member{User: u})
		}
		if ok && (!out[i].HasLoc || loc.STS > out[i].Loc.STS) {
			out[i].Loc, out[i].HasLoc = loc, true
		}
	}
	for _, m := range gr.members {
		if u := m.User(); !skipping || u != skip {
			loc, ok := m.Location()
			add(u, loc, ok)
		}
	}
	if !remote {
		return out
	}
	for _, users := range gr.remote {
		for u, rm := range users {
			if !skipping || u != skip {
				loc, ok := rm.location()
				add(u, loc, ok)
			}
		}
	}
	return out
}
