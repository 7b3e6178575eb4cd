// Package sniff classifies a TCP connection from its first bytes, before any
// U-Compass line is parsed, and keeps per-class counters and a ring of recent
// rejections for operators.
//
// # Classification
//
// [Classify] is a pure function of the bytes seen so far: no I/O, no
// goroutines, no allocation. It answers [Undecided] while the bytes are still
// a proper prefix of some signature (the preamble, PROXY, an HTTP method,
// ...) and decides at the first byte where that stops being true, so a caller
// never buffers more than [MaxDecide] bytes before a decision. A decision
// never changes when more bytes arrive. When the peer closes while the class
// is still undecided, [AtEOF] gives the final class; when the handshake
// timeout fires first, the class is [Timeout] (the caller decides that, not
// this package).
//
// Classify does not know which peers are trusted: a PROXY header from a
// trusted load balancer must be consumed by the caller before the rest of the
// bytes are classified. Every PROXY header that reaches Classify is junk.
//
// # Concurrency
//
// Classify, AtEOF, ParseClass, Classes and the Class methods are safe to call
// from any goroutine. Classify and AtEOF only read b during the call and
// never retain it, so a slice from netpoll's Reader.Peek may be passed
// directly and released afterwards.
//
// A [Stats] is safe for concurrent use by any number of goroutines. Count is
// lock-free (one atomic add) and may be called on the hot path; Reject and
// Recent take a short mutex around the ring of recent rejections only. Reject
// copies the head it is given and Recent returns copies, so neither side ever
// shares memory with the ring.
package sniff
