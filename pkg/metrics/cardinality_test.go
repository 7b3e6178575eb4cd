package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/dataplane/dataplanetest"
	"github.com/ucompass/compass/pkg/metrics"
)

// plane is a real data plane on a loopback port with its own registry.
type plane struct {
	dp   *dataplane.Server
	reg  *prometheus.Registry
	addr string
}

// startPlane runs a dev-mode data plane wired like cmd/compassd's, and
// drains it when the test ends.
func startPlane(t *testing.T) *plane {
	t.Helper()
	p := dataplanetest.Start(t, nil, func(c *config.Config) { c.HandshakeTimeout = 2 * time.Second })
	return &plane{dp: p.DP, reg: p.Reg, addr: p.Addr}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sources are the client addresses the guard connects from.
var sources = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"}

// session i: a distinct user in a distinct group and a pair group shared
// with its neighbour, publishing, and making errors that echo its input.
func (p *plane) session(ctx context.Context, i int) error {
	c, err := client.Dial(ctx, p.addr, client.Options{User: fmt.Sprintf("user-%05d", i),
		LocalAddr: sources[i%len(sources)], Inbox: 64})
	if err != nil {
		return fmt.Errorf("session %d: %w", i, err)
	}
	defer c.Close()
	for _, g := range []string{fmt.Sprintf("grp-%05d", i), fmt.Sprintf("pair-%05d", i/2)} {
		if _, err := c.Join(ctx, g); err != nil {
			return fmt.Errorf("session %d: join %s: %w", i, g, err)
		}
	}
	if err := c.Loc(ctx, client.Loc{Lat: float64(i%90) / 2, Lng: float64(i%180) / 3}); err != nil {
		return fmt.Errorf("session %d: loc: %w", i, err)
	}
	for _, line := range []string{
		fmt.Sprintf(`{"type":"join","group":"bad group %d"}`, i),
		fmt.Sprintf(`{"type":"leave","group":"never-%d"}`, i),
		fmt.Sprintf(`{"type":"x-%d"}`, i),
		fmt.Sprintf(`{"type":"loc","lat":%d,"lng":0}`, 100+i),
	} {
		if err := c.Send([]byte(line + "\n")); err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
	}
	return c.Ping(ctx)
}

// junk i: a connection of another protocol or a failed handshake, with
// bytes that differ per connection.
func (p *plane) junk(ctx context.Context, i int) error {
	c, err := client.RawDial(ctx, p.addr, sources[i%len(sources)])
	if err != nil {
		return err
	}
	defer c.Close()
	payloads := []string{
		fmt.Sprintf("GET /probe-%d HTTP/1.1\r\nHost: h%d\r\n\r\n", i, i),
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + strings.Repeat(string(rune('a'+i%26)), 32),
		fmt.Sprintf("\x00\x01\x02%c\xfe\xff", byte(i)),
		fmt.Sprintf("U-Compass/1\n{\"type\":\"hello\",\"user\":\"%s\"}\n", strings.Repeat("u", 65+i%5)),
		fmt.Sprintf("U-Compass/1\n{\"type\":\"join\",\"group\":\"g%d\"}\n", i),
		"U-Compass/1\n" + strings.Repeat("z", 5000+i) + "\n",
	}
	if _, err := c.Write([]byte(payloads[i%len(payloads)])); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, c) // the server closes every one of them
	return nil
}

// drive runs n sessions and n junk connections numbered from first, with
// some concurrency, and waits until the server has closed them all.
func (p *plane) drive(t *testing.T, first, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2*n)
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				errc <- errors.Join(p.session(ctx, i), p.junk(ctx, i))
			}
		})
	}
	for i := first; i < first+n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every connection closed", func() bool { return p.dp.Conns() == 0 })
}

// series lists every series of the registry as name{label="value",...}.
func series(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	var out []string
	for _, mf := range gather(t, g) {
		for _, m := range mf.GetMetric() {
			out = append(out, mf.GetName()+labelString(m))
		}
	}
	sort.Strings(out)
	return out
}

func labelString(m *dto.Metric) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range m.GetLabel() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.GetName(), l.GetValue())
	}
	b.WriteByte('}')
	return b.String()
}

func counterValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	for _, m := range gather(t, g)[name].GetMetric() {
		if label == "" || labelValue(m, label) == value {
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("%s{%s=%q}: no such series", name, label, value)
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestCardinalityGuard drives 1,000 distinct users, groups, payloads and
// eight source addresses through a real data plane and checks that the
// registry holds exactly the series it held after a handful of sessions:
// no label value comes from a user, session, group or address.
func TestCardinalityGuard(t *testing.T) {
	if testing.Short() {
		t.Skip("drives 2,000 connections")
	}
	p := startPlane(t)
	p.drive(t, 0, 6)
	before := series(t, p.reg)

	p.drive(t, 6, 1000)
	after := series(t, p.reg)

	if len(after) != len(before) {
		t.Errorf("series grew from %d to %d", len(before), len(after))
	}
	old := map[string]bool{}
	for _, s := range before {
		old[s] = true
	}
	for _, s := range after {
		if !old[s] {
			t.Errorf("new series %s", s)
		}
		for _, leak := range []string{"user-", "grp-", "pair-", "never-", "bad group", "probe-", "127.0.0."} {
			if strings.Contains(s, leak) {
				t.Errorf("series %s holds client data %q", s, leak)
			}
		}
	}
	checkBalance(t, p.reg)
	// The drive did reach every path it meant to.
	for _, c := range []struct{ name, label, value string }{
		{"compass_connections_accepted_total", "", ""},
		{"compass_messages_received_total", "type", "loc"},
		{"compass_messages_sent_total", "type", "loc"},
		{"compass_protocol_errors_total", "code", "invalid_group"},
		{"compass_protocol_errors_total", "code", "unauthorized"},
		{"compass_sniffer_classified_total", "class", "http"},
		{"compass_sniffer_classified_total", "class", "tls"},
		{"compass_connections_closed_total", "reason", metrics.ClosedLineTooLong},
	} {
		if v := counterValue(t, p.reg, c.name, c.label, c.value); v < 100 {
			t.Errorf("%s{%s=%q} = %v, want >= 100 after the drive", c.name, c.label, c.value, v)
		}
	}
}

// checkBalance checks the bookkeeping once every connection is closed:
// each accepted connection was classified once and closed once, and the
// gauges are back to zero.
func checkBalance(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	mfs := gather(t, g)
	sum := func(name string) float64 {
		total := 0.0
		for _, m := range mfs[name].GetMetric() {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return total
	}
	accepted := sum("compass_connections_accepted_total")
	if closed := sum("compass_connections_closed_total"); closed != accepted {
		t.Errorf("closed %v connections, accepted %v", closed, accepted)
	}
	// No connection was refused at accept (those are never classified).
	if sniffed := sum("compass_sniffer_classified_total"); sniffed != accepted {
		t.Errorf("classified %v connections, accepted %v", sniffed, accepted)
	}
	for _, name := range []string{"compass_sessions", "compass_groups", "compass_buffered_bytes"} {
		if v := sum(name); v != 0 {
			t.Errorf("%s = %v with every connection closed, want 0", name, v)
		}
	}
}
