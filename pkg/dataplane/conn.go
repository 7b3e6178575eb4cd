package dataplane

import (
	"bytes"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/sniff"
	"github.com/ucompass/compass/pkg/wire"
)

// phase is where a connection is; moves only forward, by CAS.
type phase = int32

const (
	phaseSniffing phase = iota
	phaseHandshaking
	phaseActive
	phaseClosed
)

// headMax is how many first bytes are kept for the rejection ring.
const headMax = 64

// conn is one accepted connection. Fields below the line are owned by the
// connection's OnRequest (one at a time, by netpoll's guarantee).
type conn struct {
	srv        *Server
	nc         netpoll.Connection
	fd         int
	peer       netip.AddrPort // the TCP peer
	slot       netip.Addr     // guarded by srv.mu: holds the per-address slot (peer, or the client after PROXY)
	acceptedAt time.Time
	timer      *time.Timer
	phase      atomic.Int32
	sess       atomic.Pointer[session.Session]
	reason     atomic.Pointer[string] // why a session-less conn was closed

	remote   netip.AddrPort // the client (after a PROXY header)
	head     []byte         // first bytes while sniffing
	px       proxyState     // a trusted proxy's header (proxy.go)
	counted  int            // bytes of partial counted in the buffered gauge
	class    sniff.Class
	partial  []byte // an incomplete line, at most max-line bytes
	consumed int    // bytes consumed in this OnRequest, not yet counted
	identity auth.Identity
	dev      bool // dev-mode hello: any group may be joined
	tokens   float64
	refill   time.Time
	sc       hub.Scratch
	reply    []byte
}

// read consumes everything buffered: it never returns with input left
// unconsumed (netpoll would call it again at once) and never blocks.
func (c *conn) read(r netpoll.Reader) {
	for r.Len() > 0 {
		switch c.phase.Load() {
		case phaseSniffing:
			if c.px.reading {
				c.readProxy(r)
			} else {
				c.sniff(r)
			}
		case phaseHandshaking, phaseActive:
			c.line(r)
		default:
			c.skip(r, r.Len())
		}
		_ = r.Release()
	}
	c.countPartial()
	if c.consumed > 0 {
		c.srv.m.ReceivedBytes.Add(float64(c.consumed))
		c.consumed = 0
	}
}

// skip consumes n bytes and counts them as received: every byte read from
// a client, whatever became of it, is in compass_received_bytes_total.
func (c *conn) skip(r netpoll.Reader, n int) {
	_ = r.Skip(n)
	c.consumed += n
}

// countPartial brings the buffered gauge (--max-buffered-bytes) up to date
// with the partial line held.
func (c *conn) countPartial() {
	if d := len(c.partial) - c.counted; d != 0 {
		c.srv.hard.buffered.Add(float64(d))
		c.counted = len(c.partial)
	}
}

// sniff adds the next bytes to the head until the sniffer decides.
func (c *conn) sniff(r netpoll.Reader) {
	had := len(c.head)
	b, _ := r.Peek(min(r.Len(), sniff.MaxDecide-had))
	c.head = append(c.head, b...)
	class := sniff.Classify(c.head)
	switch class {
	case sniff.Undecided:
		c.skip(r, len(b))
	case sniff.UCompass:
		c.skip(r, len(sniff.Preamble)-had)
		c.head = c.head[:len(sniff.Preamble)]
		c.accept()
	case sniff.Proxy:
		if c.proxyTrusted() {
			c.startProxy(had)
			return
		}
		fallthrough
	default:
		more, _ := r.Peek(min(r.Len(), headMax-had))
		c.head = append(c.head[:had], more...)
		c.skip(r, r.Len())
		c.reject(class, metrics.ClosedRejected)
	}
}

// accept moves a sniffed connection to handshaking with a new session.
func (c *conn) accept() {
	s := c.srv
	if s.d.Bans.Check(c.remote.Addr()) {
		// Banned while this connection was being sniffed: BanAddress
		// could not see it (it was no session yet).
		if c.phase.CompareAndSwap(phaseSniffing, phaseClosed) {
			c.closeSilently(metrics.ClosedBannedAtAccept)
		}
		return
	}
	sess := session.New(c.nc, c.fd, c.remote, c.acceptedAt, &s.limits)
	if !c.phase.CompareAndSwap(phaseSniffing, phaseHandshaking) {
		return
	}
	c.class = sniff.UCompass
	s.d.Sniff.Count(sniff.UCompass)
	s.m.sniffed[sniff.UCompass].Inc()
	s.d.Table.Add(sess)
	c.sess.Store(sess)
	s.m.handshaking.Inc()
}

// reject closes a connection of another protocol without writing to it.
func (c *conn) reject(class sniff.Class, reason string) {
	if !c.phase.CompareAndSwap(phaseSniffing, phaseClosed) {
		return
	}
	c.class = class
	c.record(class, c.head)
	c.closeSilently(reason)
}

// record counts class and, for a rejection, remembers it for operators and
// counts it towards the address's automatic ban. head is nil when the
// caller is not the reader (the handshake timer).
func (c *conn) record(class sniff.Class, head []byte) {
	s := c.srv
	s.d.Sniff.Count(class)
	s.m.sniffed[class].Inc()
	if class == sniff.Empty {
		return // load balancer health checks: counted, not worth the ring
	}
	if class == sniff.Proxy {
		r := metrics.ProxyUntrusted
		if c.px.reading {
			r = metrics.ProxyMalformed
		}
		s.hard.proxyResult[r].Inc()
	}
	remote := c.clientAddr()
	s.d.Sniff.Reject(sniff.Rejection{Time: time.Now(), Remote: remote.String(), Class: class, Head: head})
	s.d.Events.Publish(events.Event{Kind: events.SnifferRejected, Remote: remote.String(), Reason: class.String(), FD: c.fd})
	s.strike(remote.Addr())
}

func (c *conn) closeSilently(reason string) {
	c.reason.Store(&reason)
	_ = c.nc.Close()
}

// handshakeExpired runs on a timer goroutine: preamble and hello were not
// both in by the deadline (absolute from accept).
func (c *conn) handshakeExpired() {
	if c.phase.CompareAndSwap(phaseSniffing, phaseClosed) {
		// The reader may be appending to head right now; the ring gets no
		// bytes rather than racy ones.
		c.record(sniff.Timeout, nil)
		c.closeSilently(metrics.ClosedHandshakeTimeout)
		return
	}
	if c.phase.CompareAndSwap(phaseHandshaking, phaseClosed) {
		c.sess.Load().Close(metrics.ClosedHandshakeTimeout)
	}
}

// line reads complete lines; an incomplete one is copied aside so that
// nothing is left unconsumed.
func (c *conn) line(r netpoll.Reader) {
	max := c.srv.cfg.MaxLine
	room := max - len(c.partial)
	b, _ := r.Peek(min(r.Len(), room))
	line, n, err := wire.Split(b, room)
	if err != nil {
		c.skip(r, r.Len())
		c.partial = nil
		c.fail(wire.CodeLineTooLong, "line longer than max_line", nil)
		return
	}
	if n == 0 {
		c.partial = append(c.partial, b...)
		c.skip(r, len(b))
		return
	}
	size := n
	if len(c.partial) > 0 {
		c.partial = append(c.partial, b[:n]...)
		line, size = trimEOL(c.partial), len(c.partial)
	}
	c.handle(line, size)
	c.partial = c.partial[:0]
	if cap(c.partial) > 1024 {
		c.partial = nil
	}
	c.skip(r, n)
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// peerClosed marks the session so nothing more is written to the peer.
func (c *conn) peerClosed() {
	if sess := c.sess.Load(); sess != nil {
		sess.Close(metrics.ClosedPeer)
	}
}

// onClose is netpoll's close callback: it runs once, after OnRequest has
// exited, before the fd is released.
func (c *conn) onClose(netpoll.Connection) error {
	c.timer.Stop()
	prev := c.phase.Swap(phaseClosed)
	s := c.srv
	if prev == phaseSniffing {
		class := sniff.AtEOF(c.head)
		c.class = class
		c.record(class, c.head)
		r := metrics.ClosedRejected
		if class == sniff.Empty {
			r = metrics.ClosedPeer
		}
		c.reason.Store(&r)
	}
	if sess := c.sess.Load(); sess != nil {
		c.closeSession(sess)
	} else if r := c.reason.Load(); r != nil {
		s.m.close(*r)
	} else {
		s.m.close(metrics.ClosedPeer)
	}
	c.partial = nil
	c.countPartial()
	s.release(c)
	return nil
}

func (c *conn) closeSession(sess *session.Session) {
	s := c.srv
	sess.Close(metrics.ClosedPeer)
	reason := sess.CloseReason()
	user := sess.User()
	for _, g := range sess.Groups() {
		s.d.Hub.Leave(sess, user, g, &c.sc)
	}
	s.d.Table.Remove(sess)
	if sess.Activated() {
		s.m.active.Dec()
	} else {
		s.m.handshaking.Dec()
	}
	s.m.close(reason)
	s.d.Events.Publish(events.Event{Kind: events.SessionClosed, Session: sess.ID, User: user,
		Remote: sess.Remote.String(), Reason: reason, FD: sess.FD})
}
