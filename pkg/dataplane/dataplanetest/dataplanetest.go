// Package dataplanetest runs a real data plane in the test process, wired
// like cmd/compassd (dataplane.NewDeps) on its own Prometheus registry, for
// the tests of dataplane and of the packages around it. Only tests import
// it.
//
// A Plane belongs to one test: its methods call t.Fatal and must be called
// from the test's goroutine, except Stop. Start registers the drain with
// t.Cleanup. netpoll's pollers and goroutine pool live for the whole
// process once a data plane has started; GoleakOptions lists them.
package dataplanetest

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/metrics"
)

// Plane is a data plane built for one test.
type Plane struct {
	Cfg        config.Config
	Reg        *prometheus.Registry
	M          *metrics.Metrics
	Deps       dataplane.Deps
	DP         *dataplane.Server
	Addr       string // 127.0.0.1:port, valid after New
	MetricsURL string // its /metrics, set by ServeMetrics

	t      testing.TB
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Config returns the tests' config: dev mode on a free loopback port with
// a 2 s drain; edit, if not nil, changes it.
func Config(edit func(*config.Config)) config.Config {
	cfg := config.Default()
	cfg.Dev = true
	cfg.Listen = "127.0.0.1:0"
	cfg.DrainTimeout = 2 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

// Start runs a data plane with Config(edit) until the test ends; secret,
// if not nil, is the HS256 secret tokens are verified with.
func Start(t testing.TB, secret []byte, edit func(*config.Config)) *Plane {
	t.Helper()
	return New(t, Config(edit), secret).Start()
}

// New builds a data plane for cfg on a fresh registry and binds its
// address, without running it; secret is as for Start.
func New(t testing.TB, cfg config.Config, secret []byte) *Plane {
	t.Helper()
	var v *auth.Verifier
	if secret != nil {
		var err error
		if v, err = auth.NewVerifier("HS256", secret); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, dataplane.MetricLabels())
	deps := dataplane.NewDeps(cfg, m, v, nil)
	dp, err := dataplane.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Listen(); err != nil {
		t.Fatal(err)
	}
	return &Plane{Cfg: cfg, Reg: reg, M: m, Deps: deps, DP: dp, Addr: dp.Addr().String(), t: t, done: make(chan error, 1)}
}

// Start runs p until the test ends (then Shutdown) and waits until it is
// ready.
func (p *Plane) Start() *Plane {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- p.DP.Run(ctx) }()
	p.t.Cleanup(p.Shutdown)
	for deadline := time.Now().Add(10 * time.Second); !p.DP.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatal("data plane not ready")
		}
	}
	return p
}

// Stop starts the drain without waiting for it; any goroutine may call it.
func (p *Plane) Stop() {
	if p.cancel != nil {
		p.cancel()
	}
}

// Shutdown drains the data plane and checks that Run returns nil within
// 10 s (idempotent).
func (p *Plane) Shutdown() {
	if p.cancel == nil {
		return
	}
	p.once.Do(func() {
		p.cancel()
		select {
		case err := <-p.done:
			if err != nil {
				p.t.Errorf("data plane Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			p.t.Error("data plane Run did not return after cancel")
		}
	})
}

// ServeMetrics serves p's registry over HTTP, as compassd's --http-listen
// does, until the test ends, and returns the /metrics URL. Call it after
// Start: the server closes before the drain.
func (p *Plane) ServeMetrics() string {
	hs := httptest.NewServer(metrics.Handler(p.Reg, p.DP))
	p.t.Cleanup(hs.Close)
	p.MetricsURL = hs.URL + "/metrics"
	return p.MetricsURL
}

// LocSent is compass_messages_sent_total{type="loc"}.
func (p *Plane) LocSent() float64 { return testutil.ToFloat64(p.M.Sent.WithLabelValues("loc")) }

// Accepted is compass_connections_accepted_total.
func (p *Plane) Accepted() float64 { return testutil.ToFloat64(p.M.Accepted) }

// Active is compass_sessions{state="active"}.
func (p *Plane) Active() float64 { return testutil.ToFloat64(p.M.Sessions.WithLabelValues("active")) }

// GoleakOptions are goleak options for the goroutines netpoll keeps for
// the life of the process: its pollers, its goroutine pool, and the accept
// retry that sleeps after too many open files (netpoll_server.go).
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
		goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll/internal/runner.(*pool).run"),
		goleak.IgnoreTopFunction("time.Sleep"),
	}
}
