package hub

import (
	"sync"

	"github.com/ucompass/compass/pkg/wire"
)

// Bridge carries groups to and from the other replicas of a cluster
// (package cluster implements it).
type Bridge interface {
	// Open starts carrying g, whose remote members arrive through l, and
	// returns once l holds the members the other replicas have now (or a
	// timeout has passed). It runs without the hub's lock, in the first
	// local joiner of g; the group's later joiners wait for it.
	Open(g string, l *Link) Port
}

// Port is one open group's way out to the other replicas.
type Port interface {
	// Member announces that user's first session here joined the group
	// (in, with its last location if hasLoc) or that their last session
	// here left it. It runs with the hub's lock held: it must only queue.
	Member(user string, in bool, loc wire.Location, hasLoc bool)
	// Loc forwards a loc of user, encoded as line for this group. It runs
	// without the lock; line is reused after it returns.
	Loc(user string, loc wire.Location, line []byte)
	// Close stops carrying the group, which has no local member left. It
	// runs without the lock.
	Close()
}

// Attach makes the hub carry its groups to the other replicas through b.
// Call it before the first Join.
func (h *Hub) Attach(b Bridge) {
	h.mu.Lock()
	h.bridge = b
	h.mu.Unlock()
}

// Local calls fn, with the hub's lock held for reading, with the users of
// g on this replica, each once, with their newest location (nil when g has
// no local member). fn must only queue: the lock keeps membership changes
// out, so what fn queues is ordered with what Port.Member queues.
func (h *Hub) Local(g string, fn func(members []wire.Member)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var members []wire.Member
	if gr := h.groups[g]; gr != nil && len(gr.members) > 0 {
		members = gr.list("", false, false)
	}
	fn(members)
}

// remoteMember is a user of a group on another replica.
type remoteMember struct {
	mu     sync.Mutex // guards loc, hasLoc: updated by Link.Loc under the read lock
	loc    wire.Location
	hasLoc bool
}

func (rm *remoteMember) location() (wire.Location, bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.loc, rm.hasLoc
}

// update keeps the newer of the known location and loc.
func (rm *remoteMember) update(loc wire.Location, ok bool) {
	if !ok {
		return
	}
	rm.mu.Lock()
	if !rm.hasLoc || loc.STS >= rm.loc.STS {
		rm.loc, rm.hasLoc = loc, true
	}
	rm.mu.Unlock()
}

// Link is one opened group's way in from the other replicas: the bridge
// reports through it what they send for the group. Each method returns the
// number of messages queued to local sessions. A Link outlives its group:
// once the group has been emptied, its methods do nothing.
type Link struct {
	h  *Hub
	g  string
	gr *group
}

// Group returns the group id.
func (l *Link) Group() string { return l.g }

// alive runs with the lock held.
func (l *Link) alive() bool { return l.h.groups[l.g] == l.gr }

// Loc delivers line, a loc of user on replica, to every session of the
// group here, and remembers loc as user's last location.
func (l *Link) Loc(replica, user string, loc wire.Location, line []byte, sc *Scratch) int {
	h := l.h
	h.mu.RLock()
	if !l.alive() {
		h.mu.RUnlock()
		return 0
	}
	if rm := l.gr.remote[replica][user]; rm != nil {
		rm.update(loc, true)
	}
	sc.peers = append(sc.peers[:0], l.gr.members...)
	h.mu.RUnlock()
	n := sendAll(sc.peers, line)
	clear(sc.peers)
	if h.m.LocSent != nil && n > 0 {
		h.m.LocSent.Add(float64(n))
	}
	return n
}

// Member records that user joined the group on replica (in, with their
// last location if hasLoc) or left it there, and tells the sessions here
// when that changes whether user is present at all.
func (l *Link) Member(replica, user string, in bool, loc wire.Location, hasLoc bool, sc *Scratch) int {
	h := l.h
	h.mu.Lock()
	if !l.alive() {
		h.mu.Unlock()
		return 0
	}
	var ch []change
	if in {
		ch = l.gr.addRemote(ch, replica, user, loc, hasLoc)
	} else {
		ch = l.gr.removeRemote(ch, replica, user)
	}
	return l.announce(ch, sc)
}

// State replaces what is known of the group on replica with members (nil:
// replica has none, or is gone), announcing every user whose presence
// changes.
func (l *Link) State(replica string, members []wire.Member, sc *Scratch) int {
	h := l.h
	h.mu.Lock()
	if !l.alive() {
		h.mu.Unlock()
		return 0
	}
	gr := l.gr
	var ch []change
	in := make(map[string]bool, len(members))
	for _, m := range members {
		in[m.User] = true
		ch = gr.addRemote(ch, replica, m.User, m.Loc, m.HasLoc)
	}
	for u := range gr.remote[replica] {
		if !in[u] {
			ch = gr.removeRemote(ch, replica, u)
		}
	}
	return l.announce(ch, sc)
}

// change is a user's presence in a group turning on or off.
type change struct {
	user   string
	online bool
}

// announce runs with the lock held for writing and releases it: it copies
// the recipients, then sends each change to the sessions of other users.
func (l *Link) announce(ch []change, sc *Scratch) int {
	h := l.h
	if len(ch) == 0 {
		h.mu.Unlock()
		return 0
	}
	sc.peers = append(sc.peers[:0], l.gr.members...)
	h.mu.Unlock()
	n := 0
	for _, c := range ch {
		sc.line = wire.AppendPresence(sc.line[:0], l.g, c.user, c.online)
		for _, p := range sc.peers {
			if p.User() != c.user && p.Send(sc.line) {
				n++
			}
		}
	}
	clear(sc.peers)
	if h.m.PresenceSent != nil && n > 0 {
		h.m.PresenceSent.Add(float64(n))
	}
	return n
}

// addRemote runs with the lock held for writing.
func (gr *group) addRemote(ch []change, replica, user string, loc wire.Location, hasLoc bool) []change {
	if gr.remote == nil {
		gr.remote, gr.rusers = map[string]map[string]*remoteMember{}, map[string]int{}
	}
	users := gr.remote[replica]
	if users == nil {
		users = map[string]*remoteMember{}
		gr.remote[replica] = users
	}
	if rm := users[user]; rm != nil {
		rm.update(loc, hasLoc)
		return ch
	}
	users[user] = &remoteMember{loc: loc, hasLoc: hasLoc}
	gr.rusers[user]++
	if gr.rusers[user] == 1 && gr.users[user] == 0 {
		ch = append(ch, change{user, true})
	}
	return ch
}

// removeRemote runs with the lock held for writing.
func (gr *group) removeRemote(ch []change, replica, user string) []change {
	users := gr.remote[replica]
	if users[user] == nil {
		return ch
	}
	delete(users, user)
	if len(users) == 0 {
		delete(gr.remote, replica)
	}
	gr.rusers[user]--
	if gr.rusers[user] == 0 {
		delete(gr.rusers, user)
		if gr.users[user] == 0 {
			ch = append(ch, change{user, false})
		}
	}
	return ch
}
