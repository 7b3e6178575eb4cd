// Package loadgentest runs a real compassd data plane in the test process,
// wired like cmd/compassd (dev mode, HS256 tokens accepted too) with its
// own Prometheus registry served over HTTP, for the load tool's tests.
//
// netpoll's pollers and goroutine pool live for the whole process once a
// data plane has started; IgnoreNetpoll lists them for goleak.
package loadgentest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/ban"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/hub"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/sniff"
)

// Secret is the HS256 secret the server accepts tokens signed with.
var Secret = []byte("loadgentest-0123456789abcdef-0123456789abcdef")

// Server is a running data plane.
type Server struct {
	Addr       string // data plane, 127.0.0.1:port
	MetricsURL string // its /metrics
	Reg        *prometheus.Registry
	M          *metrics.Metrics
	DP         *dataplane.Server
}

// Start runs a data plane until the test ends. edit may change the config
// (dev mode, generous connection limits by default).
func Start(t testing.TB, edit func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Dev = true
	cfg.Listen = "127.0.0.1:0"
	cfg.DrainTimeout = 2 * time.Second
	cfg.MaxConnsPerIP = 100000
	if edit != nil {
		edit(&cfg)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, dataplane.MetricLabels())
	dp, err := dataplane.New(cfg, deps(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Listen(); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(metrics.Handler(reg, dp))
	serve(t, dp, hs)
	return &Server{Addr: dp.Addr().String(), MetricsURL: hs.URL + "/metrics", Reg: reg, M: m, DP: dp}
}

// deps wires the data plane's parts like cmd/compassd does.
func deps(t testing.TB, m *metrics.Metrics) dataplane.Deps {
	v, err := auth.NewVerifier("HS256", Secret)
	if err != nil {
		t.Fatal(err)
	}
	return dataplane.Deps{
		Verifier: v, Table: session.NewTable(), Bans: ban.New(nil, nil),
		Hub:   hub.New(hub.Metrics{LocSent: m.Sent.WithLabelValues("loc"), PresenceSent: m.Sent.WithLabelValues("presence"), Groups: m.Groups}),
		Sniff: sniff.NewStats(16), Metrics: m, Events: events.NewBus(),
	}
}

// serve runs dp until the test ends and waits until it is ready.
func serve(t testing.TB, dp *dataplane.Server, hs *httptest.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dp.Run(ctx) }()
	t.Cleanup(func() {
		hs.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("data plane: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("data plane did not stop")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !dp.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("data plane not ready")
		}
	}
}

// LocSent is compass_messages_sent_total{type="loc"}.
func (s *Server) LocSent() float64 { return testutil.ToFloat64(s.M.Sent.WithLabelValues("loc")) }

// Accepted is compass_connections_accepted_total.
func (s *Server) Accepted() float64 { return testutil.ToFloat64(s.M.Accepted) }

// Active is compass_sessions{state="active"}.
func (s *Server) Active() float64 { return testutil.ToFloat64(s.M.Sessions.WithLabelValues("active")) }

// IgnoreNetpoll are goleak options for the goroutines netpoll keeps for
// the life of the process.
func IgnoreNetpoll() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
		goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll/internal/runner.(*pool).run"),
		goleak.IgnoreTopFunction("time.Sleep"),
	}
}
