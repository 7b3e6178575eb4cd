// Package cluster joins compassd replicas through NATS, so that members of
// one group connected to different replicas see each other: their loc
// messages, their presence, and each other in joined snapshots. It also
// carries the control plane's requests to every replica. docs/cluster.md
// is the operator's side of this page and says why it is built this way.
//
// # Data
//
// A Node is the hub's Bridge. A group with local members is subscribed on
// its own subject (the group id hex-encoded, subjects.go); the first local
// join subscribes, the last local leave unsubscribes. On it each replica
// publishes binary frames (frame.go): a loc (the already-encoded client
// line plus the structured location, for snapshots), a join or part when
// a user's first session here joins or their last one leaves, and a state
// (every local user with their last location) when asked. Each replica
// keeps, in the hub, a view of the group's members on every other replica,
// so presence and snapshots are computed at user level over the whole
// cluster, and presence is decided by each replica for its own sessions
// from one consistent view.
//
// At the first local join of a group, Open subscribes, waits for the
// server to confirm the subscription, then asks every replica for its
// state of the group (request/reply on the sync subject) and waits for the
// replicas it knows to answer, at most --cluster-sync-timeout; the joined
// reply is built after that.
//
// # Order, duplicates, loops
//
// Everything this replica publishes goes through one queue and one
// publisher goroutine (the outbox), and membership frames and states are
// queued under the hub's lock (hub.Port, hub.Hub.Local), so a replica's
// frames leave in the order of the changes they describe. NATS keeps the
// order of one connection's messages to each subscriber. Everything
// received goes through one channel and one dispatcher goroutine, whatever
// the subscription. So a state answer is applied exactly between the
// frames its sender published before and after building it, and a full
// replacement of that replica's members is always right: no sequence
// numbers, no tombstones. A sender's loc frames are published in the order
// its session read them, so order per sender and recipient holds across
// replicas.
//
// NATS core delivers each message at most once per subscription, a
// replica subscribes once per group, and frames for a subscription closed
// since are dropped, so nothing is delivered twice. The connection uses
// NoEcho and frames carry the sender's replica id (its own are ignored),
// so nothing loops back.
//
// # Replicas
//
// Every replica publishes a heartbeat each --cluster-heartbeat. A replica
// not heard for --cluster-replica-ttl is forgotten: its members leave every
// group here (offline where they were a user's last session), so a dead
// replica leaves no ghost. A replica closing cleanly says bye and is
// forgotten at once. A replica first heard (new, or forgotten earlier) is
// greeted with a heartbeat and asked to publish its state of every group.
//
// # NATS outage
//
// Local delivery never waits for NATS: the outbox is bounded and dropping
// (compass_cluster_publish_errors_total), and the connection has no
// reconnect buffer, so frames fail fast while disconnected instead of
// being replayed late. nats.go reconnects forever with a jittered backoff
// (100 ms doubling up to --nats-reconnect-wait). While disconnected a
// replica forgets nobody (it cannot tell a dead replica from its own
// outage); after reconnecting it publishes its state of every group and
// asks for everybody's. A frame dropped on the way out (outbox full) makes
// it publish every state again; frames dropped on the way in (slow
// consumer) make it ask for every state again.
//
// # Concurrency
//
// Node.mu guards the peer, subscription, pull and handler tables and is
// never held while calling the hub (lock order: Node.mu is a leaf, except
// that Open holds it around Subscribe). The hub calls Port.Member under
// its own lock; that only queues. The dispatcher calls Link methods, which
// take the hub's lock. Goroutines: the publisher, the dispatcher, and
// nats.go's (its reader, flusher, callback dispatcher and the control
// subscription's handler); Close ends them all.
package cluster
