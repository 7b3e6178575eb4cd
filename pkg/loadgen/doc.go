// Package loadgen is the scenario engine of compass-bench: it opens many
// U-Compass sessions with pkg/client, drives them (idle, fanout, churn, or
// all three at once), counts what was sent, expected and delivered, and
// records latencies in HDR histograms.
//
// # Shape of a run
//
// A Spec describes the whole run. Split cuts it into Parts, one per worker;
// a fanout group is never split, so a sender and all its receivers live in
// one worker (that is what makes the latency measurement exact, see
// below). A worker (RunWorker) goes through fixed phases, each announced to
// the coordinator:
//
//	setup (dial, handshake, join) → ready → wait for go → run (Duration)
//	→ drain (until delivered == expected, at most Drain) → result
//	→ wait for close → teardown → closed
//
// The coordinator (Coordinate) starts every worker's setup, sends go once
// all are ready, prints one progress line a second, samples the server's
// /proc figures at the phase edges, and merges the results into a Report.
// Workers talk to the coordinator over a pair of byte streams carrying JSON
// lines (Serve on the worker side, Link on the coordinator side): the same
// code runs a worker in-process over io.Pipe or in a child process over
// stdin/stdout.
//
// # Latency
//
// A fanout member publishes loc with ts = wall-clock send time in ms (what
// a phone would send) and acc = its own sequence number 1, 2, 3, ... (acc is
// free-form >= 0 and the server echoes it unchanged). Just before the write,
// the sender stores its monotonic send time in a 64-slot ring indexed by
// the sequence number. A receiver, in the same process, parses the sender's
// index from the user name, reads the slot and records now - send time,
// in microseconds, into the delivery histogram: end-to-end, from the
// sender's write to the receiving application taking the message off the
// client's Messages channel. If the slot was overwritten (the delivery took
// longer than 64 sends), the ms-resolution ts is used instead and the
// delivery is counted as coarse. The sequence number also detects
// reordering and duplicates per (sender, receiver) pair.
//
// # Concurrency
//
// Counters are atomics; histograms are sharded, each shard under its own
// mutex. Every goroutine a worker starts ends before RunWorker returns:
// one reader goroutine per client (pkg/client's), one consumer per fanout
// client, one pacer per fanout group, Churn loop goroutines, and a few
// pingers for idle sessions.
package loadgen
