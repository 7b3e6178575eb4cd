package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/ban"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/sniff"
)

// Kicker ends a session with a bye of the given reason and msg, reporting
// false when it was already closing (dataplane.Server fits).
type Kicker interface {
	Kick(s *session.Session, reason, msg string) bool
}

// Readiness is the data plane's life as the control plane follows it
// (dataplane.Server fits).
type Readiness interface {
	Ready() bool   // accepting connections: what /readyz and health report
	Drained() bool // shutdown has finished
}

// Deps are the shared parts the control plane works with; every field is
// required except Logger and Cluster.
type Deps struct {
	Table     *session.Table
	Hub       *hub.Hub
	Bans      *ban.List
	Sniff     *sniff.Stats
	Events    *events.Bus
	Metrics   *metrics.Metrics
	Kicker    Kicker
	Readiness Readiness
	Logger    *slog.Logger
	Cluster   Cluster // nil: a single node (cluster.go)
}

// Server is the control plane: the gRPC server with AdminService, health
// and reflection.
type Server struct {
	cfg    config.Config
	o      options
	log    *slog.Logger
	svc    *service
	grpc   *grpc.Server
	health *health.Server
	ready  Readiness
	ln     net.Listener
}

// New returns a control plane that is not yet listening. token is the
// bearer token calls must carry; it may be empty only with cfg.Dev.
func New(cfg config.Config, token []byte, d Deps, opts ...Option) (*Server, error) {
	if d.Table == nil || d.Hub == nil || d.Bans == nil || d.Sniff == nil || d.Events == nil ||
		d.Metrics == nil || d.Kicker == nil || d.Readiness == nil {
		return nil, errors.New("admin: missing dependency")
	}
	if !cfg.Dev && len(token) == 0 {
		return nil, errors.New("admin: an admin token is required without dev mode")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	o := defaultOptions(cfg)
	for _, opt := range opts {
		opt(&o)
	}
	log := d.Logger.With("part", "admin")
	s := &Server{cfg: cfg, o: o, log: log, health: health.NewServer(), ready: d.Readiness}
	s.svc = newService(cfg, d, o, log)
	a := authenticator{token: token, open: cfg.Dev, log: log}
	s.grpc = grpc.NewServer(serverOptions(a)...)
	adminv1.RegisterAdminServiceServer(s.grpc, s.svc.api())
	healthgrpc.RegisterHealthServer(s.grpc, healthService{Server: s.health, stopping: s.svc.stopping,
		refresh: func() { s.setHealth(s.ready.Ready()) }})
	reflection.Register(s.grpc)
	s.setHealth(false)
	return s, nil
}

func serverOptions(a authenticator) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(a.unary),
		grpc.ChainStreamInterceptor(a.stream),
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
	}
}

// Listen binds cfg.AdminListen; Addr is valid after it.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.AdminListen)
	if err != nil {
		return fmt.Errorf("listen on %s (--admin-listen): %w", s.cfg.AdminListen, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address ("" before Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx ends, then shuts down as the package comment says.
// Listen must have been called. It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("admin: Run before Listen")
	}
	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(s.ln) }()
	pctx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() { defer close(polled); s.pollReadiness(pctx) }()
	s.log.Info("admin serving", "addr", s.Addr(), "auth", !s.cfg.Dev)

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("admin: serve: %w", err)
	}
	s.health.Shutdown() // NOT_SERVING from now on
	stopPoll()
	<-polled
	if err == nil {
		s.waitDrained()
	}
	s.svc.stop()
	s.stopGRPC()
	if err == nil {
		err = <-served // nil after a stop
	}
	s.svc.wait()
	s.log.Info("admin stopped")
	return err
}

// pollReadiness mirrors the data plane's readiness into health until ctx ends.
func (s *Server) pollReadiness(ctx context.Context) {
	t := time.NewTicker(s.o.pollInterval)
	defer t.Stop()
	for {
		s.setHealth(s.ready.Ready())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) setHealth(ready bool) {
	st := healthgrpc.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthgrpc.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(adminv1.AdminService_ServiceDesc.ServiceName, st)
}

// waitDrained waits for the data plane's drain, at most drainWait.
func (s *Server) waitDrained() {
	deadline := time.Now().Add(s.o.drainWait)
	for !s.ready.Drained() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// stopGRPC stops gracefully, and hard after stopTimeout.
func (s *Server) stopGRPC() {
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	t := time.NewTimer(s.o.stopTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("admin graceful stop timed out; closing connections", "timeout", s.o.stopTimeout)
		s.grpc.Stop()
		<-done
	}
}

// Limits of the gRPC server.
const (
	maxRecvMsgSize       = 1 << 20
	maxConcurrentStreams = 100
)

// Option tunes a Server (tests use them).
type Option func(*options)

type options struct {
	watchBuffer  int           // events buffered per WatchEvents stream
	pollInterval time.Duration // readiness → health
	drainWait    time.Duration // longest wait for the data plane's drain
	stopTimeout  time.Duration // GracefulStop before Stop
	startTime    time.Time
	pager        session.PagerOptions
}

func defaultOptions(cfg config.Config) options {
	return options{watchBuffer: 256, pollInterval: 100 * time.Millisecond,
		drainWait: cfg.DrainTimeout + 2*time.Second, stopTimeout: 5 * time.Second, startTime: time.Now()}
}

// WithWatchBuffer sets the events buffered per WatchEvents stream before it
// is ended with RESOURCE_EXHAUSTED (default 256).
func WithWatchBuffer(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.watchBuffer = n
		}
	}
}

// WithStartTime sets the start time GetServerInfo reports (default: New's).
func WithStartTime(t time.Time) Option { return func(o *options) { o.startTime = t } }

// WithPager sets the bounds of ListSessions' snapshot cache.
func WithPager(p session.PagerOptions) Option { return func(o *options) { o.pager = p } }

// WithStopTimeout bounds the graceful stop (default 5 s).
func WithStopTimeout(d time.Duration) Option { return func(o *options) { o.stopTimeout = d } }
