package dataplane

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ucompass/compass/pkg/ban"
	"github.com/ucompass/compass/pkg/config"
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
	if reason := s.admit(c, now); reason != "" {
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

// admit gives c a connection slot, or says why it may not have one. The
// checks go from the cheapest and most specific: a banned address does not
// spend the accept rate that other clients need.
func (s *Server) admit(c *conn, now time.Time) string {
	a := c.peer.Addr()
	switch {
	case s.draining.Load():
		return metrics.ClosedShutdown
	case s.d.Bans.Check(a):
		return metrics.ClosedBannedAtAccept
	case !s.hard.rate.allow(now):
		return metrics.ClosedAcceptRate
	case s.hard.overBuffered():
		return metrics.ClosedMaxBuffered
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
	c.slot = a
	s.conns[c] = struct{}{}
	return ""
}

// moveSlot moves c's per-address slot to a, the client a trusted proxy
// relays, after checking a's bans and slots as admit checked the proxy's.
func (s *Server) moveSlot(c *conn, a netip.Addr) string {
	if s.d.Bans.Check(a) {
		return metrics.ClosedBannedAtAccept
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a == c.slot {
		return ""
	}
	if s.perIP[a] >= s.cfg.MaxConnsPerIP {
		return metrics.ClosedMaxConnsPerIP
	}
	s.freeSlotLocked(c.slot)
	s.perIP[a]++
	c.slot = a
	return ""
}

// release gives c's slot back.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.freeSlotLocked(c.slot)
}

func (s *Server) freeSlotLocked(a netip.Addr) {
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

// hardening is the data plane's defence state (docs/security.md): trusted
// proxies, automatic bans, the accept rate and the buffered-bytes bound.
type hardening struct {
	trusted  []netip.Prefix
	auto     *ban.Auto // nil: --autoban=false
	rate     acceptRate
	buffered bufferGauge
	maxBuf   int64 // 0: no bound

	proxyResult         map[string]prometheus.Counter
	autobans, untracked prometheus.Counter
	tracked             prometheus.Gauge
}

func newHardening(cfg config.Config, d Deps) *hardening {
	h := &hardening{trusted: cfg.TrustedProxies, maxBuf: cfg.MaxBufferedBytes,
		rate:        acceptRate{rate: cfg.MaxAcceptRate, burst: float64(cfg.MaxAcceptBurst), tokens: float64(cfg.MaxAcceptBurst)},
		buffered:    bufferGauge{g: d.Metrics.BufferedBytes},
		proxyResult: map[string]prometheus.Counter{}, autobans: d.Metrics.Autobans,
		untracked: d.Metrics.AutobanUntracked, tracked: d.Metrics.AutobanTracked,
	}
	for _, r := range metrics.ProxyResults() {
		h.proxyResult[r] = d.Metrics.ProxyHeaders.WithLabelValues(r)
	}
	if cfg.Autoban {
		// A trusted proxy is never banned automatically: a malformed
		// header is its bug, and a LOCAL or UNKNOWN one leaves its own
		// address on the junk of the clients behind it.
		allow := append(append([]netip.Prefix(nil), cfg.AutobanAllow...), cfg.TrustedProxies...)
		h.auto = ban.NewAuto(d.Bans, ban.AutoConfig{Threshold: cfg.AutobanThreshold,
			Window: cfg.AutobanWindow, Duration: cfg.AutobanDuration, Allow: allow, MaxTracked: cfg.AutobanMaxTracked})
	}
	return h
}

func (h *hardening) isTrusted(a netip.Addr) bool {
	for _, p := range h.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (h *hardening) overBuffered() bool {
	return h.maxBuf > 0 && h.buffered.n.Load() >= h.maxBuf
}

// strike counts a rejected connection from a towards its automatic ban.
func (s *Server) strike(a netip.Addr) {
	v, b := s.hard.auto.Strike(a)
	switch v {
	case ban.Untracked:
		s.hard.untracked.Inc()
	case ban.Banned:
		s.hard.autobans.Inc()
		s.d.Events.Publish(events.Event{Kind: events.AddressBanned, CIDR: b.Prefix.String(), Reason: ban.AutoReason})
		s.log.Warn("address banned automatically", "cidr", b.Prefix.String(),
			"rejected", s.cfg.AutobanThreshold, "within", s.cfg.AutobanWindow, "for", s.cfg.AutobanDuration)
	}
}

// sweepHardening runs on the sweeper's tick: it forgets the automatic-ban
// counts whose window has ended.
func (s *Server) sweepHardening() {
	if s.hard.auto != nil {
		s.hard.tracked.Set(float64(s.hard.auto.Prune()))
	}
}

// acceptRate is a token bucket of new connections (--max-accept-rate,
// --max-accept-burst); rate 0 admits everything. Pollers call it
// concurrently.
type acceptRate struct {
	rate, burst float64
	mu          sync.Mutex
	tokens      float64
	last        time.Time
}

func (r *acceptRate) allow(now time.Time) bool {
	if r.rate <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := now.Sub(r.last); d > 0 { // pollers may arrive slightly out of order
		r.tokens = min(r.burst, r.tokens+d.Seconds()*r.rate)
		r.last = now
	}
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// bufferGauge is compass_buffered_bytes with a value the data plane can
// read at accept: sessions' queues and conns' partial lines add to it.
type bufferGauge struct {
	n atomic.Int64
	g prometheus.Gauge
}

// Add adds v bytes (negative: released).
func (b *bufferGauge) Add(v float64) {
	b.n.Add(int64(v))
	b.g.Add(v)
}
