package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/ban"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/sniff"
)

// Deps are the shared parts the data plane works with; cmd wires them.
type Deps struct {
	Verifier *auth.Verifier // nil: only dev-mode hellos are accepted
	Table    *session.Table
	Hub      *hub.Hub
	Bans     *ban.List
	Sniff    *sniff.Stats
	Metrics  *metrics.Metrics
	Events   *events.Bus
	Logger   *slog.Logger
}

// NewDeps returns the shared parts as cmd/compassd wires them: a fresh
// table, hub and event bus, a ban list that keeps m's bans gauge, and a
// sniffer ring of cfg.SnifferRing. v may be nil (dev-mode hellos only);
// log may be nil (discarded).
func NewDeps(cfg config.Config, m *metrics.Metrics, v *auth.Verifier, log *slog.Logger) Deps {
	return Deps{
		Verifier: v,
		Table:    session.NewTable(),
		Hub:      hub.New(hub.Metrics{LocSent: m.Sent.WithLabelValues("loc"), PresenceSent: m.Sent.WithLabelValues("presence"), Groups: m.Groups}),
		Bans:     ban.New(nil, func(n int) { m.BansActive.Set(float64(n)) }),
		Sniff:    sniff.NewStats(cfg.SnifferRing),
		Metrics:  m,
		Events:   events.NewBus(),
		Logger:   log,
	}
}

// Server is the data plane.
type Server struct {
	cfg    config.Config
	d      Deps
	log    *slog.Logger
	limits session.Limits
	m      *counters
	// fanoutDone observes a loc's fanout time; one func for every loc.
	fanoutDone func(time.Duration)
	hard       *hardening // accept.go

	ln        *onceListener
	loop      netpoll.EventLoop
	ready     atomic.Bool
	draining  atomic.Bool
	drained   atomic.Bool
	served    chan error
	sweepStop chan struct{}
	sweepDone chan struct{}

	mu    sync.Mutex
	conns map[*conn]struct{}
	perIP map[netip.Addr]int
}

// Configure sets netpoll's process-wide tuning: the initial per-connection
// buffer (memory per idle session) and the number of poller loops. netpoll
// keeps these in globals, so only main calls this, once, before New.
func Configure(bufferSize, loops int, logOutput io.Writer) error {
	netpoll.LinkBufferCap = bufferSize
	c := netpoll.Config{BufferSize: bufferSize, LoggerOutput: logOutput}
	if loops > 0 {
		c.PollerNum = loops
	}
	if err := netpoll.Configure(c); err != nil {
		return fmt.Errorf("configure netpoll: %w", err)
	}
	return nil
}

// New returns a data plane that is not yet listening.
func New(cfg config.Config, d Deps) (*Server, error) {
	if d.Table == nil || d.Hub == nil || d.Bans == nil || d.Sniff == nil || d.Metrics == nil || d.Events == nil {
		return nil, errors.New("dataplane: missing dependency")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.Dev && d.Verifier == nil {
		return nil, errors.New("dataplane: a token verifier is required without dev mode")
	}
	s := &Server{cfg: cfg, d: d, log: d.Logger, conns: map[*conn]struct{}{}, perIP: map[netip.Addr]int{},
		served: make(chan error, 1), sweepStop: make(chan struct{}), sweepDone: make(chan struct{})}
	s.m = newCounters(d.Metrics)
	s.fanoutDone = func(d time.Duration) { s.m.FanoutDuration.Observe(d.Seconds()) }
	s.hard = newHardening(cfg, d)
	s.limits = session.Limits{
		QueueBytes: cfg.QueueBytes, QueueMessages: cfg.QueueMessages,
		SentBytes: d.Metrics.SentBytes, Buffered: &s.hard.buffered,
		OnOverflow: s.onOverflow,
	}
	return s, nil
}

// Listen binds the data plane address; Addr is valid after it.
func (s *Server) Listen() error {
	ln, err := netpoll.CreateListener("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (--listen): %w", s.cfg.Listen, err)
	}
	s.ln = &onceListener{Listener: ln}
	return nil
}

// Addr returns the bound data plane address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Ready reports whether the data plane accepts connections.
func (s *Server) Ready() bool { return s.ready.Load() }

// Run serves until ctx is cancelled, then drains (within --drain-timeout)
// and returns. Listen must have been called.
func (s *Server) Run(ctx context.Context) error {
	loop, err := netpoll.NewEventLoop(s.onRequest,
		netpoll.WithOnPrepare(s.onPrepare),
		netpoll.WithOnDisconnect(s.onDisconnect),
		netpoll.WithWriteTimeout(s.cfg.WriteTimeout),
	)
	if err != nil {
		return fmt.Errorf("dataplane: event loop: %w", err)
	}
	s.loop = loop
	go func() { s.served <- loop.Serve(s.ln) }()
	go s.sweep()
	s.ready.Store(true)
	s.d.Metrics.Ready.Set(1)
	s.log.Info("data plane serving", "addr", s.ln.Addr().String())
	select {
	case <-ctx.Done():
	case err := <-s.served:
		s.drained.Store(true)
		s.ready.Store(false)
		s.d.Metrics.Ready.Set(0)
		close(s.sweepStop)
		<-s.sweepDone
		return fmt.Errorf("dataplane: serve: %w", err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	err = s.drain(dctx)
	s.drained.Store(true)
	return err
}

// Drained reports whether the drain has finished.
func (s *Server) Drained() bool { return s.drained.Load() }

// Draining reports whether shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }
