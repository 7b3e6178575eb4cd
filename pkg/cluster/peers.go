package cluster

import (
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
)

// dispatch is the only goroutine that handles frames from other replicas,
// in the order NATS delivered them: one replica's frames reach it in the
// order that replica published them, whatever their subject (one inbound
// channel for every subscription), which is what keeps a group's view
// exact (docs/cluster.md). It also runs the heartbeat timer.
func (n *Node) dispatch() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	var sc hub.Scratch
	for {
		select {
		case <-n.stop:
			return
		case m := <-n.in:
			n.route(m, &sc)
		case <-t.C:
			n.tick(&sc)
		case <-n.reconnected:
			n.afterReconnect()
		case <-n.resync:
			n.pullAll()
		}
	}
}

// route sorts a frame by its subscription (set before dispatch started).
func (n *Node) route(m *nats.Msg, sc *hub.Scratch) {
	switch m.Sub {
	case n.hbSub:
		n.onHeartbeat(m, sc)
	case n.syncSub:
		n.onQuery(m)
	case n.inboxSub:
		n.onAnswer(m, sc)
	default:
		n.onGroup(m, sc)
	}
}

func (n *Node) onHeartbeat(m *nats.Msg, sc *hub.Scratch) {
	f, ok := n.decode(m.Data)
	if !ok {
		return
	}
	switch f.kind {
	case kindAlive:
	case kindBye:
		n.expire(f.replica, "left", sc)
	case kindResync:
		if f.target == n.id {
			n.pushAll()
		}
	default:
		n.malformed()
	}
}

// heard notes a frame from replica. A replica not known yet (new, or
// forgotten after a silence) is greeted at once, so that it learns of this
// one without waiting for a heartbeat, and asked for the state of its
// groups, which this replica may have forgotten.
func (n *Node) heard(replica string) {
	n.mu.Lock()
	_, known := n.peers[replica]
	n.peers[replica] = time.Now()
	count := len(n.peers) + 1
	n.mu.Unlock()
	if known {
		return
	}
	n.m.Replicas.Set(float64(count))
	n.log.Info("replica joined", "peer", replica, "replicas", count)
	n.sendAlive()
	b := n.buf()
	*b = appendResyncFrame(*b, n.id, replica)
	n.enqueue(n.subj.hb, "", b)
}

func (n *Node) sendAlive() {
	b := n.buf()
	*b = appendHeader(*b, kindAlive, n.id)
	n.enqueue(n.subj.hb, "", b)
}

// tick sends the heartbeat, forgets replicas silent for the TTL (only
// while connected: a disconnected replica hears nobody, and keeps its view
// until it can check it again), drops stale pulls, and pushes every state
// again after a frame was lost on the way out.
func (n *Node) tick(sc *hub.Scratch) {
	n.sendAlive()
	if !n.connected.Load() {
		return
	}
	now := time.Now()
	var silent []string
	n.mu.Lock()
	for r, at := range n.peers {
		if now.Sub(at) > n.cfg.ReplicaTTL {
			silent = append(silent, r)
		}
	}
	for id, p := range n.pulls {
		if now.Sub(p.at) > pullKeep {
			delete(n.pulls, id)
		}
	}
	n.mu.Unlock()
	for _, r := range silent {
		n.expire(r, "silent", sc)
	}
	if n.dirty.Swap(false) {
		n.pushAll()
	}
}

// expire forgets replica: its members leave every group here (presence
// offline where they were the user's last), and pulls stop waiting for it.
func (n *Node) expire(replica, why string, sc *hub.Scratch) {
	n.mu.Lock()
	_, known := n.peers[replica]
	delete(n.peers, replica)
	count := len(n.peers) + 1
	for id, p := range n.pulls {
		if p.want[replica] {
			delete(p.want, replica)
			n.checkPull(id, p)
		}
	}
	n.mu.Unlock()
	for _, cg := range n.openGroups() {
		n.m.Deliveries.Add(float64(cg.link.State(replica, nil, sc)))
	}
	if !known {
		return
	}
	n.m.Replicas.Set(float64(count))
	if why == "silent" {
		n.m.ReplicasExpired.Inc()
		n.log.Warn("replica silent; its members are forgotten", "peer", replica, "ttl", n.cfg.ReplicaTTL, "replicas", count)
		return
	}
	n.log.Info("replica left", "peer", replica, "replicas", count)
}

// afterReconnect: every replica known gets a full TTL to be heard again;
// this replica announces itself, publishes its state of every group (the
// others missed its frames while it was away) and asks for theirs (it
// missed their frames).
func (n *Node) afterReconnect() {
	n.mu.Lock()
	now := time.Now()
	for r := range n.peers {
		n.peers[r] = now
	}
	n.mu.Unlock()
	n.sendAlive()
	n.pushAll()
	n.pullAll()
}

func (n *Node) malformed() {
	n.m.Dropped.WithLabelValues(metrics.DroppedMalformed).Inc()
}

// peerList runs with mu held.
func (n *Node) peerList() []string {
	out := make([]string, 0, len(n.peers))
	for r := range n.peers {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
