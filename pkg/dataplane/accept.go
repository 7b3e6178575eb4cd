package dataplane

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/metrics"
)

type connKey struct{}

// onPrepare runs on the poller during accept: cheap checks only. A refused
// connection is closed before it is registered, with nothing written.
func (s *Server) onPrepare(nc netpoll.Connection) context.Context {
	now := time.Now()
	s.m.Accepted.Inc()
	remote := addrPort(nc.RemoteAddr())
	c := &conn{srv: s, nc: nc, remote: remote, peer: remote, acceptedAt: now}
	if reason := s.admit(c); reason != "" {
		s.m.close(reason)
		if reason == metrics.ClosedBannedAtAccept {
			s.d.Events.Publish(events.Event{Kind: events.SessionClosed, Remote: remote.String(), Reason: reason})
		}
		_ = nc.Close()
		return context.Background()
	}
	if fc, ok := nc.(netpoll.Conn); ok {
		c.fd = fc.Fd()
	}
	_ = nc.AddCloseCallback(c.onClose)
	c.timer = time.AfterFunc(s.cfg.HandshakeTimeout, c.handshakeExpired)
	return context.WithValue(context.Background(), connKey{}, c)
}

// admit gives c a connection slot, or says why it may not have one.
func (s *Server) admit(c *conn) string {
	a := c.peer.Addr()
	if s.draining.Load() {
		return metrics.ClosedShutdown
	}
	if s.d.Bans.Check(a) {
		return metrics.ClosedBannedAtAccept
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) >= s.cfg.MaxConns {
		return metrics.ClosedMaxConns
	}
	if s.perIP[a] >= s.cfg.MaxConnsPerIP {
		return metrics.ClosedMaxConnsPerIP
	}
	s.perIP[a]++
	s.conns[c] = struct{}{}
	return ""
}

// release gives c's slot back.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	a := c.peer.Addr()
	if s.perIP[a] <= 1 {
		delete(s.perIP, a)
	} else {
		s.perIP[a]--
	}
}

// Conns returns the number of open data plane connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func (s *Server) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c, ok := ctx.Value(connKey{}).(*conn)
	if !ok {
		r := nc.Reader()
		_ = r.Skip(r.Len())
		_ = r.Release()
		return nil
	}
	c.read(nc.Reader())
	return nil
}

// onDisconnect runs when the peer closed: from here on nothing may be
// written to it.
func (s *Server) onDisconnect(ctx context.Context, nc netpoll.Connection) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.peerClosed()
	}
}
