package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/cluster"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/version"
)

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse(args, getenv, stderr)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "compassd: %v\n", err)
		return 2
	}
	if cfg.ShowVersion {
		fmt.Fprintf(stdout, "compassd %s %s\n", version.Version, version.Go())
		return 0
	}
	log := newLogger(cfg, stderr)
	fitOpenFiles(&cfg, log)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("compassd stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve wires the parts together and runs them until ctx ends.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	var verifier *auth.Verifier
	if cfg.JWTKeyFile != "" {
		v, err := auth.LoadVerifier(cfg.JWTAlg, cfg.JWTKeyFile)
		if err != nil {
			return fmt.Errorf("--jwt-key-file: %w", err)
		}
		verifier = v
	}
	adminToken, err := readSecret(cfg.AdminTokenFile)
	if err != nil {
		return fmt.Errorf("--admin-token-file: %w", err)
	}
	if cfg.Dev {
		log.Warn("DEVELOPMENT MODE: clients and the admin API are NOT authenticated; never run --dev on a network")
	}
	if err := dataplane.Configure(cfg.BufferSize, cfg.Loops, slogWriter{log}); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	deps := dataplane.NewDeps(cfg, metrics.New(reg, dataplane.MetricLabels()), verifier, log)
	node, err := joinCluster(ctx, cfg.Cluster, deps.Hub, reg, log)
	if err != nil {
		return err
	}
	defer leaveCluster(node)
	dp, err := dataplane.New(cfg, deps)
	if err != nil {
		return err
	}
	if err := dp.Listen(); err != nil {
		return err
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("listen on %s (--http-listen): %w", cfg.HTTPListen, err)
	}
	admin, err := newAdmin(cfg, adminToken, dp, deps, node, log)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return dp.Run(gctx) })
	g.Go(func() error { return serveHTTP(gctx, httpLn, metrics.Handler(reg, dp), dp) })
	g.Go(func() error { return admin.Run(gctx, dp) })
	log.Info("compassd started", "version", version.Version, "listen", dp.Addr().String(),
		"admin", admin.Addr(), "http", httpLn.Addr().String(), "dev", cfg.Dev)
	return g.Wait()
}

// joinCluster starts cluster mode when --nats-url is set (docs/cluster.md);
// nil otherwise. NATS being unreachable is not an error: the node keeps
// trying while the data plane serves locally.
func joinCluster(ctx context.Context, cfg config.Cluster, h *hub.Hub, reg prometheus.Registerer, log *slog.Logger) (*cluster.Node, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	node, err := cluster.New(cfg, h, metrics.NewCluster(reg), log)
	if err != nil {
		return nil, err
	}
	if err := node.Start(ctx); err != nil {
		return nil, err
	}
	return node, nil
}

// leaveCluster runs after the data plane has drained, so that the drain's
// leaves reach the other replicas before the bye.
func leaveCluster(node *cluster.Node) {
	if node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	node.Close(ctx)
}

// serveHTTP serves until ctx ends, then keeps /healthz up until the data
// plane has drained.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, dp *dataplane.Server) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	for dp.Conns() > 0 && !dp.Drained() {
		time.Sleep(10 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// readSecret reads a secret file, trimming the trailing newline editors add.
func readSecret(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return []byte(s), nil
}

// slogWriter turns netpoll's log lines into structured warnings.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("netpoll", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
