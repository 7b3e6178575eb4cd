// Package session owns every live data plane session: the Session type
// with its bounded outbound queue and single write path, and the Table
// that the data plane and the control plane share.
//
// # Concurrency
//
// A Session is written to by many goroutines (fanout from other sessions'
// readers, the control plane's kicks, timers) but has exactly one write
// path to its connection: Send appends to the outbound queue under the
// session's mutex, and whichever caller finds the queue idle starts one
// flusher goroutine that drains it with conn.Write until it is empty. So
// no two goroutines ever write to the same connection (netpoll's Writer is
// not goroutine-safe), a slow peer blocks only its own flusher (bounded by
// the connection's write timeout), and messages queued together leave in
// one write. Once a session is closing, Send drops everything: nothing is
// ever written after Close.
//
// Counters and timestamps are atomics, readable without the mutex. Groups,
// user, state and the last location are guarded by the mutex.
//
// The Table is a map guarded by a RWMutex. Lock order: Table.mu before
// Session.mu; never the reverse. Callbacks passed in (onClose hooks) are
// never invoked with a lock held.
package session
