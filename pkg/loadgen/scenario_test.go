package loadgen_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane/dataplanetest"
	"github.com/ucompass/compass/pkg/loadgen"
)

var sources = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}

// runSpec runs spec on n in-process workers (over pipes, like child
// processes) against srv, measuring this process as the server.
func runSpec(t *testing.T, srv *dataplanetest.Plane, spec loadgen.Spec, n int) *loadgen.Report {
	t.Helper()
	spec.Addr, spec.Sources, spec.Prefix = srv.Addr, sources, "t-"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	links := make([]*loadgen.Link, n)
	for i := range links {
		links[i] = loadgen.InProcess(ctx)
	}
	var progress bytes.Buffer
	rep, err := loadgen.Coordinate(ctx, spec, links, loadgen.Options{
		ServerPID: os.Getpid(), MetricsURL: srv.MetricsURL, Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%sreport:\n%s", progress.String(), text.String())
	if rep.Server == nil || rep.Server.Base.RSS <= 0 || rep.Server.End.CPU <= 0 {
		t.Errorf("no server figures from /proc: %+v", rep.Server)
	}
	if rep.Metrics == nil || rep.Metrics.Err != "" {
		t.Errorf("no metrics scraped: %+v", rep.Metrics)
	}
	return rep
}

func TestFanoutCountsMatchServer(t *testing.T) {
	srv := startServer(t, nil)
	rep := runSpec(t, srv, loadgen.Spec{Scenario: loadgen.ScenarioFanout, Groups: 5, Members: 4, Rate: 2,
		Duration: 2 * time.Second}, 2)
	f := rep.Fanout
	if rep.Sessions.Connected != 20 || rep.Sessions.Ended != 0 {
		t.Errorf("sessions %+v, want 20 connected and none ended", rep.Sessions)
	}
	// 20 members at 2/s for 2 s: about 80 loc, each to 3 others.
	if f.Sent < 60 || f.Sent > 100 {
		t.Errorf("sent %d, want about 80", f.Sent)
	}
	if f.Expected != 3*f.Sent || f.Delivered != f.Expected || f.Lost != 0 || f.Reordered != 0 {
		t.Errorf("sent %d expected %d delivered %d lost %d reordered %d", f.Sent, f.Expected, f.Delivered, f.Lost, f.Reordered)
	}
	if got := srv.LocSent(); got != float64(f.Delivered) {
		t.Errorf("server sent %v loc, the tool received %d", got, f.Delivered)
	}
	if d := rep.Metrics.Delta(`compass_messages_sent_total{type="loc"}`); d != float64(f.Delivered) {
		t.Errorf("scraped loc delta %v, delivered %d", d, f.Delivered)
	}
	if f.Latency.Count != f.Delivered || f.Coarse != 0 || f.Latency.P50 <= 0 || f.Latency.Max < f.Latency.P99 {
		t.Errorf("latency %+v (coarse %d) for %d deliveries", f.Latency, f.Coarse, f.Delivered)
	}
	if rep.Server.CPUPerMsgUS <= 0 {
		t.Errorf("no CPU per message: %+v", rep.Server)
	}
}

func TestChurnCountsMatchServer(t *testing.T) {
	srv := startServer(t, nil)
	rep := runSpec(t, srv, loadgen.Spec{Scenario: loadgen.ScenarioChurn, Churn: 4, Duration: time.Second}, 1)
	c := rep.Churn
	if c.Cycles < 10 || c.Errors != 0 {
		t.Fatalf("churn %+v, want at least 10 cycles and no errors", c)
	}
	// Every cycle is one accepted connection; the metrics delta also holds
	// nothing else, as the tool opened no other connection.
	if got := rep.Metrics.Delta("compass_connections_accepted_total"); got != float64(c.Cycles) {
		t.Errorf("server accepted %v connections, the tool completed %d cycles", got, c.Cycles)
	}
	if got := srv.Accepted(); got != float64(c.Cycles) {
		t.Errorf("accepted counter %v, cycles %d", got, c.Cycles)
	}
	if c.Handshake.Count != c.Cycles || c.Join.Count != c.Cycles {
		t.Errorf("handshake %d and join %d samples for %d cycles", c.Handshake.Count, c.Join.Count, c.Cycles)
	}
}

func TestIdleHoldsSessions(t *testing.T) {
	srv := startServer(t, nil)
	rep := runSpec(t, srv, loadgen.Spec{Scenario: loadgen.ScenarioIdle, Idle: 50, Duration: time.Second,
		Ping: 100 * time.Millisecond}, 2)
	if rep.Sessions.Connected != 50 || rep.Sessions.DialErrors != 0 || rep.Sessions.Ended != 0 {
		t.Errorf("sessions %+v, want 50 connected", rep.Sessions)
	}
	if got := rep.Metrics.Ready[`compass_sessions{state="active"}`]; got != 50 {
		t.Errorf("server had %v active sessions at go, want 50", got)
	}
	if got := rep.Metrics.Delta("compass_connections_accepted_total"); got != 50 {
		t.Errorf("server accepted %v, want 50", got)
	}
	if rep.Idle.Pings < 50 || rep.Idle.PingErrors != 0 {
		t.Errorf("idle %+v, want a ping per session at least", rep.Idle)
	}
	if rep.Server.RSSPerSession == 0 {
		t.Errorf("no RSS per session: %+v", rep.Server)
	}
	// Teardown closed them all.
	for deadline := time.Now().Add(5 * time.Second); srv.Active() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v sessions still active after the run", srv.Active())
		}
	}
}

func TestTokensAndMixed(t *testing.T) {
	srv := startServer(t, func(c *config.Config) { c.Dev = false })
	rep := runSpec(t, srv, loadgen.Spec{Scenario: loadgen.ScenarioMixed, Secret: secret,
		Idle: 10, Groups: 2, Members: 3, Rate: 4, Churn: 2, Duration: time.Second}, 2)
	if rep.Sessions.Connected != 16 || rep.Sessions.DialErrors+rep.Sessions.JoinErrors != 0 {
		t.Errorf("sessions %+v", rep.Sessions)
	}
	if rep.Fanout.Lost != 0 || rep.Fanout.Delivered == 0 || rep.Churn.Cycles == 0 || rep.Churn.Errors != 0 {
		t.Errorf("fanout %+v churn %+v", rep.Fanout, rep.Churn)
	}
	for _, e := range rep.Errors {
		if strings.Contains(e.Msg, "unauthorized") || strings.Contains(e.Msg, "forbidden") {
			t.Errorf("error %q", e.Msg)
		}
	}
}
