package dataplane

import (
	"net/netip"
	"sync/atomic"

	"github.com/cloudwego/netpoll"

	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/proxyproto"
	"github.com/ucompass/compass/pkg/sniff"
)

// PROXY protocol from trusted proxies (protocol.md, Transport).
//
// When the sniffer classifies a connection's first bytes as proxy and the
// TCP peer is in --trusted-proxies, the connection reads the header instead
// of being rejected: like the sniff head, a partial header is copied aside
// (at most proxyproto.MaxLen bytes) and consumed, so OnRequest never blocks
// and never leaves input behind. Once parsed, the client's address replaces
// the peer's: bans and the per-address slot are checked again for it (the
// slot moves from the proxy to the client), the session will carry it as
// Remote, and the rest of the bytes are sniffed afresh, because the client
// behind the proxy still owes the preamble. A header from anyone else, a
// second header, or a malformed one is class proxy and closed silently.

// proxyState is a connection's progress through a PROXY header. All but
// client are owned by the reader (OnRequest).
type proxyState struct {
	buf     []byte // the header so far
	reading bool   // a trusted proxy's header is being read
	done    bool   // a header was consumed: another one is junk
	// client is the relayed client's address, for goroutines other than
	// the reader (the handshake timer); nil until a header gave one.
	client atomic.Pointer[netip.AddrPort]
}

// clientAddr is the address the connection speaks for: the relayed client
// after a trusted PROXY header, else the TCP peer. Safe from any goroutine.
func (c *conn) clientAddr() netip.AddrPort {
	if p := c.px.client.Load(); p != nil {
		return *p
	}
	return c.peer
}

// proxyTrusted reports whether a PROXY header now would be believed: the
// first one, from a trusted peer.
func (c *conn) proxyTrusted() bool {
	return !c.px.done && c.srv.hard.isTrusted(c.peer.Addr())
}

// startProxy turns sniffing into reading a header. The first had bytes of
// head were consumed already; the rest of the header is still in the reader.
func (c *conn) startProxy(had int) {
	c.px.reading = true
	c.px.buf = append(make([]byte, 0, 128), c.head[:had]...)
	c.head = c.head[:had] // the header's first bytes, for the rejection ring
}

// readProxy adds the next bytes to the header until it parses. Only the
// header's own bytes are consumed: what follows stays for the sniffer.
func (c *conn) readProxy(r netpoll.Reader) {
	had := len(c.px.buf)
	b, _ := r.Peek(min(r.Len(), proxyproto.MaxLen-had))
	c.px.buf = append(c.px.buf, b...)
	h, n, err := proxyproto.Parse(c.px.buf)
	switch {
	case err == proxyproto.ErrNeedMore:
		c.keepHead(b)
		c.skip(r, len(b))
	case err != nil:
		c.keepHead(b)
		c.skip(r, r.Len())
		c.reject(sniff.Proxy, metrics.ClosedProxyError)
	default:
		c.skip(r, n-had)
		c.relayed(h)
	}
}

// keepHead appends b to the head kept for the rejection ring.
func (c *conn) keepHead(b []byte) {
	c.head = append(c.head, b[:min(len(b), max(0, headMax-len(c.head)))]...)
}

// relayed applies a parsed header: from now on the connection is the
// client's, and its bytes are sniffed from the start.
func (c *conn) relayed(h proxyproto.Header) {
	s := c.srv
	c.px.reading, c.px.done, c.px.buf = false, true, nil
	c.head = c.head[:0]
	s.hard.proxyResult[metrics.ProxyAccepted].Inc()
	if !h.Client.IsValid() {
		return // LOCAL, UNKNOWN, not TCP: the proxy's own address stands
	}
	client := netip.AddrPortFrom(h.Client.Addr().Unmap(), h.Client.Port())
	c.remote = client
	c.px.client.Store(&client)
	if reason := s.moveSlot(c, client.Addr()); reason != "" {
		if !c.phase.CompareAndSwap(phaseSniffing, phaseClosed) {
			return // the handshake timer won
		}
		if reason == metrics.ClosedBannedAtAccept {
			s.d.Events.Publish(events.Event{Kind: events.SessionClosed, Remote: client.String(), Reason: reason, FD: c.fd})
		}
		c.closeSilently(reason)
	}
}
