// Package dataplane owns the netpoll EventLoop that serves mobile clients:
// accept-time limits, the sniffer, the handshake, the line reader, message
// handling, idle sweeping and the drain on shutdown.
//
// # Connection life
//
//	sniffing → handshaking → active → closing → closed
//
// A connection is sniffing until its first bytes decide its class. Only
// the U-Compass preamble moves it on (a Session is created, state
// handshaking); every other class is counted, recorded and closed without
// a byte written. hello moves it to active (welcome). Closing is entered by
// a kick, a bye, an error that closes, or the peer; the netpoll close
// callback then removes it from the hub and the table.
//
// # Concurrency
//
// netpoll runs at most one OnRequest per connection at a time, so a conn's
// reader state (sniff head, partial line, rate limiter, scratch buffers) is
// owned by that callback and needs no lock. The phase is an atomic because
// the handshake timer races the reader: whichever moves it first wins.
// OnRequest never blocks: an incomplete line is copied (at most --max-line
// bytes) and consumed, so a slowloris client holds no goroutine. All
// writes go through the session's single write path (package session).
//
// Shutdown order: readiness off → listener closed → bye shutdown to every
// session spread over the drain window → EventLoop.Shutdown → close what is
// left.
package dataplane
