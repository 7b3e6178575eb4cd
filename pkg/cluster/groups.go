package cluster

import (
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/wire"
)

// cgroup is one open group: its subscription and its hub Link. It is the
// hub's Port for the group.
type cgroup struct {
	n    *Node
	g    string
	subj string
	link *hub.Link
	sub  *nats.Subscription // nil when the subscription failed (node closed)
}

// pull is one "send me your state of a group" request, waiting for the
// replicas known when it was sent. Guarded by Node.mu.
type pull struct {
	cg   *cgroup
	want map[string]bool
	got  map[string]bool
	done chan struct{} // closed once every wanted replica answered
	at   time.Time
}

// pullKeep is how long a pull keeps taking late answers.
const pullKeep = time.Minute

// Open subscribes to g's subject and, when connected, asks the other
// replicas for their members of g, waiting for their answers at most
// --cluster-sync-timeout (hub.Bridge). Answers that arrive later are still
// applied. The subscription is confirmed by the server (a flush) before
// the request goes out, so that nothing another replica sends after
// answering is missed.
func (n *Node) Open(g string, l *hub.Link) hub.Port {
	cg := &cgroup{n: n, g: g, subj: n.subj.group(g), link: l}
	n.mu.Lock()
	if !n.closed {
		// Registered under the lock: the dispatcher looks frames up by
		// subscription, and the first may arrive before Subscribe returns.
		sub, err := n.nc.ChanSubscribe(cg.subj, n.in)
		if err == nil {
			cg.sub = sub
			n.bySub[sub] = cg
		} else {
			n.log.Warn("subscribe to a group failed; it stays local", "err", err)
		}
	}
	n.mu.Unlock()
	if cg.sub == nil || !n.connected.Load() {
		return cg // pulled after the (re)connection
	}
	if err := n.nc.FlushTimeout(n.cfg.SyncTimeout); err != nil {
		n.m.SyncIncomplete.Inc()
		return cg
	}
	n.pull(cg, true)
	return cg
}

// Member queues a join or part frame (hub.Port; under the hub's lock).
func (cg *cgroup) Member(user string, in bool, loc wire.Location, ok bool) {
	n := cg.n
	b := n.buf()
	*b = appendMemberFrame(*b, n.id, user, in, loc, ok)
	n.enqueue(cg.subj, "", b)
}

// Loc queues a loc frame around the already-encoded line (hub.Port).
func (cg *cgroup) Loc(user string, loc wire.Location, line []byte) {
	n := cg.n
	b := n.buf()
	*b = appendLocFrame(*b, n.id, user, loc, line)
	n.enqueue(cg.subj, "", b)
}

// Close forgets the group and queues its unsubscription behind its last
// frames (hub.Port).
func (cg *cgroup) Close() {
	n := cg.n
	n.mu.Lock()
	if cg.sub != nil {
		delete(n.bySub, cg.sub)
	}
	for id, p := range n.pulls {
		if p.cg == cg {
			delete(n.pulls, id)
		}
	}
	n.mu.Unlock()
	if cg.sub == nil {
		return
	}
	select {
	case n.out <- outItem{unsub: cg.sub}:
	default:
		_ = cg.sub.Unsubscribe()
	}
}

// pull asks every other replica for its members of cg's group. With wait,
// it returns once every replica known now has answered, or at the sync
// timeout.
func (n *Node) pull(cg *cgroup, wait bool) {
	id := n.pullSeq.Add(1)
	p := &pull{cg: cg, got: map[string]bool{}, done: make(chan struct{}), at: time.Now()}
	n.mu.Lock()
	p.want = make(map[string]bool, len(n.peers))
	for r := range n.peers {
		p.want[r] = true
	}
	n.pulls[id] = p
	n.mu.Unlock()
	reply := n.inbox + "." + strconv.FormatUint(id, 10)
	b := n.buf()
	*b = appendQueryFrame(*b, n.id, cg.g)
	n.enqueue(n.subj.sync, reply, b)
	if !wait || len(p.want) == 0 {
		return
	}
	t := time.NewTimer(n.cfg.SyncTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		n.m.SyncIncomplete.Inc()
	case <-n.stop:
	}
}

// pullAll asks again for the state of every open group (after a
// reconnection, or after frames were dropped on the way in).
func (n *Node) pullAll() {
	for _, cg := range n.openGroups() {
		n.pull(cg, false)
	}
}

// pushAll publishes this replica's state of every open group on the
// group's subject, for the replicas that missed frames of it.
func (n *Node) pushAll() {
	for _, cg := range n.openGroups() {
		n.hub.Local(cg.g, func(members []wire.Member) {
			b := n.buf()
			*b = appendStateFrame(*b, n.id, members)
			n.enqueue(cg.subj, "", b)
		})
	}
}

func (n *Node) openGroups() []*cgroup {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*cgroup, 0, len(n.bySub))
	for _, cg := range n.bySub {
		out = append(out, cg)
	}
	return out
}

// onGroup handles a frame on a group's subject (dispatcher goroutine).
func (n *Node) onGroup(m *nats.Msg, sc *hub.Scratch) {
	n.mu.Lock()
	cg := n.bySub[m.Sub]
	n.mu.Unlock()
	if cg == nil {
		return // closed since
	}
	f, ok := n.decode(m.Data)
	if !ok {
		return
	}
	var d int
	switch f.kind {
	case kindLoc:
		d = cg.link.Loc(f.replica, f.user, f.loc, f.line, sc)
	case kindJoin:
		d = cg.link.Member(f.replica, f.user, true, f.loc, f.hasLoc, sc)
	case kindPart:
		d = cg.link.Member(f.replica, f.user, false, wire.Location{}, false, sc)
	case kindState:
		d = cg.link.State(f.replica, f.members, sc)
	default:
		n.malformed()
		return
	}
	n.m.Deliveries.Add(float64(d))
}

// onQuery answers another replica's pull with this replica's members of
// the group, through the outbox, under the hub's read lock: the answer is
// ordered with this replica's join and part frames.
func (n *Node) onQuery(m *nats.Msg) {
	f, ok := n.decode(m.Data)
	if !ok || f.kind != kindQuery || m.Reply == "" {
		return
	}
	n.hub.Local(f.group, func(members []wire.Member) {
		b := n.buf()
		*b = appendStateFrame(*b, n.id, members)
		n.enqueue(m.Reply, "", b)
	})
}

// onAnswer applies an answer to one of this replica's pulls.
func (n *Node) onAnswer(m *nats.Msg, sc *hub.Scratch) {
	f, ok := n.decode(m.Data)
	if !ok || f.kind != kindState {
		return
	}
	id, err := strconv.ParseUint(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:], 10, 64)
	n.mu.Lock()
	p := n.pulls[id]
	n.mu.Unlock()
	if err != nil || p == nil {
		return
	}
	n.m.Deliveries.Add(float64(p.cg.link.State(f.replica, f.members, sc)))
	n.mu.Lock()
	p.got[f.replica] = true
	n.checkPull(id, p)
	n.mu.Unlock()
}

// checkPull runs with mu held: a pull every wanted replica has answered is
// done.
func (n *Node) checkPull(id uint64, p *pull) {
	for r := range p.want {
		if !p.got[r] {
			return
		}
	}
	close(p.done)
	delete(n.pulls, id)
}

// decode decodes a frame from another replica, counting the malformed and
// noting the sender alive.
func (n *Node) decode(data []byte) (frame, bool) {
	n.m.Received.Inc()
	f, err := decode(data)
	if err != nil {
		n.malformed()
		return f, false
	}
	if f.replica == n.id { // NoEcho: not ours, so another process has our id
		if n.idClash.CompareAndSwap(false, true) {
			n.log.Error("another replica uses this replica id: the two ignore each other; set a unique --cluster-replica-id")
		}
		return f, false
	}
	if f.kind != kindBye {
		n.heard(f.replica)
	}
	return f, true
}
