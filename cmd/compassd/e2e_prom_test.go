//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ucompass/compass/deploy/grafana"
	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/client"
)

// Files of the repository the test checks, relative to cmd/compassd.
const (
	promRulesFile     = "../../deploy/prometheus/rules.yaml"
	promRulesTestFile = "../../deploy/prometheus/rules_test.yaml"
)

// TestPromE2E runs the built compassd under a real Prometheus (scraping
// every second, with deploy/prometheus/rules.yaml loaded), drives real
// clients and junk connections through it, and then evaluates every
// PromQL query of the dashboard and every rule through Prometheus's HTTP
// API: each must parse and return at least one series. It also runs
// promtool on a live scrape and on the rules.
//
// Alert expressions are "<query> <comparison> <number>" (rules.yaml says
// so): the test strips each comparison against a number literal
// (promStripComparisons) and requires the remaining query to return series,
// which proves the query reads metrics that exist with the labels it
// expects, whatever the thresholds.
func TestPromE2E(t *testing.T) {
	promRequireTools(t)
	srv := startCompassd(t)
	prom := promStart(t, srv.http)

	var sessions []*client.Client
	for i := range 6 {
		c := srv.dial(t, fmt.Sprintf("prom-user-%d", i), "g1", fmt.Sprintf("g%d", 2+i%2))
		go promDrain(c)
		sessions = append(sessions, c)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { promDriveClients(ctx, t, srv, sessions) })
	wg.Go(func() { promDriveJunk(ctx, t, srv.data) })
	defer wg.Wait()
	defer stop()

	instance := prom.waitForTarget(t)
	t.Run("Scrape", func(t *testing.T) { promCheckScrape(t, srv.http) })
	t.Run("Promtool", promCheckRuleFiles)
	t.Run("InstanceVariable", func(t *testing.T) { prom.checkInstanceVariable(t, instance) })
	t.Run("Traffic", func(t *testing.T) { prom.checkTraffic(t) })
	t.Run("Dashboard", func(t *testing.T) { prom.checkDashboard(t, instance) })
	t.Run("Rules", func(t *testing.T) { prom.checkRules(t) })
}

// promRequireTools fails, rather than skips, without Prometheus: the
// Makefile and CI install it.
func promRequireTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: this test runs a real Prometheus and promtool (2.42 or later). "+
				"Install them with `apt-get install -y prometheus` (the Debian package; stop the prometheus "+
				"service it may start, the test uses its own on a free port)", tool)
		}
	}
}

// promFreeAddr returns a loopback address with a port free right now.
func promFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// promServer is a running Prometheus.
type promServer struct {
	base string // http://127.0.0.1:port
	log  *bytes.Buffer
}

// promStart runs Prometheus on a free loopback port, scraping target (as
// job "compass", the job name rules.yaml's CompassDown expects) every
// second and evaluating the rules every second, and kills it when the test
// ends.
func promStart(t *testing.T, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(promRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: compass
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := promFreeAddr(t)
	p := &promServer{base: "http://" + addr, log: &bytes.Buffer{}}
	cmd := exec.Command("prometheus", "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.log)
		}
	})
	promPoll(t, "prometheus ready", 30*time.Second, func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %s", p.log)
		default:
		}
		res, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
	return p
}

// promPoll calls cond until it reports true, failing after timeout with
// its last explanation.
func promPoll(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// promSample is one series of an instant query's result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query evaluates expr now; an error is a bad query or a failed request.
func (p *promServer) query(expr string) ([]promSample, error) {
	var res struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &res); err != nil {
		return nil, err
	}
	if res.ResultType != "vector" {
		return nil, fmt.Errorf("result type %q, want vector", res.ResultType)
	}
	return res.Result, nil
}

// get calls a Prometheus API endpoint and decodes its data into out.
func (p *promServer) get(path string, args url.Values, out any) error {
	res, err := http.Get(p.base + path + "?" + args.Encode())
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var body struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %s: %w", path, res.Status, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, body.ErrorType, body.Error)
	}
	return json.Unmarshal(body.Data, out)
}

// waitForTarget waits until compassd's series are in and counters have
// the two samples a rate needs, and returns its instance label.
func (p *promServer) waitForTarget(t *testing.T) string {
	t.Helper()
	var instance string
	promPoll(t, "compass_build_info to be scraped", 30*time.Second, func() (bool, string) {
		s, err := p.query("compass_build_info")
		if err != nil || len(s) == 0 {
			return false, fmt.Sprintf("%d series, %v", len(s), err)
		}
		instance = s[0].Metric["instance"]
		return true, ""
	})
	promPoll(t, "a rate over two samples", 30*time.Second, func() (bool, string) {
		s, err := p.query(`rate(compass_connections_accepted_total[1m]) > 0`)
		return err == nil && len(s) > 0, fmt.Sprintf("%d series, %v", len(s), err)
	})
	return instance
}

// promCheckScrape runs promtool check metrics on a live /metrics.
func promCheckScrape(t *testing.T, httpAddr string) {
	res, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s, %v", res.Status, err)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{"compass_build_info{", "compass_fanout_duration_seconds_bucket{", "process_open_fds "} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// promCheckRuleFiles runs promtool check rules and test rules.
func promCheckRuleFiles(t *testing.T) {
	for _, args := range [][]string{{"check", "rules", promRulesFile}, {"test", "rules", promRulesTestFile}} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// checkInstanceVariable runs what the dashboard's instance variable asks
// (label_values(compass_build_info, instance)) through the series API.
func (p *promServer) checkInstanceVariable(t *testing.T, instance string) {
	var values []string
	args := url.Values{"match[]": {"compass_build_info"}}
	if err := p.get("/api/v1/label/instance/values", args, &values); err != nil {
		t.Fatal(err)
	}
	if len(values) != 1 || values[0] != instance {
		t.Errorf("label_values(compass_build_info, instance) = %q, want [%q]", values, instance)
	}
}

// checkTraffic checks that what the drivers did reached Prometheus, so
// that the queries below run on live data, not only on pre-created zeros.
func (p *promServer) checkTraffic(t *testing.T) {
	for _, expr := range []string{
		`compass_sessions{state="active"} > 0`,
		`compass_groups > 0`,
		`rate(compass_messages_received_total{type="loc"}[1m]) > 0`,
		`rate(compass_messages_sent_total{type="loc"}[1m]) > 0`,
		`rate(compass_received_bytes_total[1m]) > 0`,
		`rate(compass_sent_bytes_total[1m]) > 0`,
		`histogram_quantile(0.99, rate(compass_fanout_duration_seconds_bucket[1m])) > 0`,
		`histogram_quantile(0.99, rate(compass_handshake_duration_seconds_bucket[1m])) > 0`,
		`compass_sniffer_classified_total{class="http"} > 0`,
		`compass_sniffer_classified_total{class="tls"} > 0`,
		`compass_sniffer_classified_total{class="ssh"} > 0`,
		`compass_sniffer_classified_total{class="binary"} > 0`,
		`compass_sniffer_classified_total{class="empty"} > 0`,
		`compass_connections_closed_total{reason="line_too_long"} > 0`,
		`compass_connections_closed_total{reason="rejected"} > 0`,
		`compass_protocol_errors_total{code="invalid_group"} > 0`,
		`compass_kicks_total{reason="abuse"} > 0`,
		`compass_ready == 1`,
		`up{job="compass"} == 1`,
	} {
		p.expectSeries(t, "traffic", expr)
	}
}

// promSubstitute replaces the dashboard's variables the way Grafana does
// for one selected instance: a regex-escaped value (the backslashes doubled
// inside PromQL's string literal), and a fixed rate interval.
func promSubstitute(expr, instance string) string {
	return strings.NewReplacer(
		"$instance", strings.ReplaceAll(regexp.QuoteMeta(instance), `\`, `\\`),
		"$__rate_interval", "1m",
	).Replace(expr)
}

// checkDashboard evaluates every panel query of the dashboard.
func (p *promServer) checkDashboard(t *testing.T, instance string) {
	qs, err := grafana.Queries(grafana.Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for _, q := range qs {
		expr := promSubstitute(q.Expr, instance)
		if strings.Contains(expr, "$") {
			t.Errorf("%s/%s: variable left after substitution: %s", q.Panel, q.RefID, expr)
			continue
		}
		p.expectSeries(t, q.Panel+"/"+q.RefID, expr)
	}
}

// expectSeries evaluates expr until it returns a series (recording rules
// and rates may need a few more evaluations), failing after 15 s.
func (p *promServer) expectSeries(t *testing.T, name, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := p.query(expr)
		if err != nil {
			t.Errorf("%s: %s: %v", name, expr, err)
			return
		}
		if len(s) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %s returned no series", name, expr)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// promComparisonRE matches a comparison against a number literal, the
// thresholds of the alerts. Label matchers (=, !=, =~, !~) are always
// followed by a quoted string, so they never match.
var promComparisonRE = regexp.MustCompile(`\s*(?:==|!=|>=|<=|>|<)\s*-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?`)

// promStripComparisons removes every comparison against a number from
// expr: `sum(x) > 10` becomes `sum(x)`, `up == 0 or absent(up == 1)`
// becomes `up or absent(up)`.
func promStripComparisons(expr string) string {
	return promComparisonRE.ReplaceAllString(expr, "")
}

// promRule is a rule as /api/v1/rules reports it.
type promRule struct {
	Type        string            `json:"type"` // "recording" or "alerting"
	Name        string            `json:"name"`
	Query       string            `json:"query"`
	Health      string            `json:"health"`
	LastError   string            `json:"lastError"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// checkRules evaluates every rule's query, the alerts' without their
// thresholds, and checks that Prometheus loaded and ran every rule.
func (p *promServer) checkRules(t *testing.T) {
	var rules []promRule
	promPoll(t, "every rule evaluated", 15*time.Second, func() (bool, string) {
		var data struct {
			Groups []struct {
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		}
		if err := p.get("/api/v1/rules", nil, &data); err != nil {
			return false, err.Error()
		}
		rules = rules[:0]
		for _, g := range data.Groups {
			rules = append(rules, g.Rules...)
		}
		for _, r := range rules {
			if r.Health != "ok" {
				return false, fmt.Sprintf("%s: health %q %s", r.Name, r.Health, r.LastError)
			}
		}
		return len(rules) > 0, "no rules loaded"
	})
	alerts := 0
	for _, r := range rules {
		expr := r.Query
		if r.Type == "alerting" {
			alerts++
			expr = promStripComparisons(r.Query)
			if expr == r.Query {
				t.Errorf("alert %s: no threshold to strip in %s", r.Name, r.Query)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s: no %s annotation", r.Name, k)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s: no severity", r.Name)
			}
		}
		p.expectSeries(t, r.Type+" "+r.Name, expr)
	}
	if alerts < 7 {
		t.Errorf("%d alerts loaded, want at least 7", alerts)
	}
}

// promDriveClients publishes locations from sessions (in shared groups)
// until ctx ends, opens a short session every second, and first runs a
// client that errs until it is kicked for abuse.
func promDriveClients(ctx context.Context, t *testing.T, srv *compassd, cs []*client.Client) {
	promAbuse(ctx, t, srv)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for i, c := range cs {
			loc := client.Loc{Lat: 37.5 + float64(n%100)/1000, Lng: 127 + float64(i)/100}
			if err := c.LocNoAck(loc); err != nil {
				t.Errorf("loc: %v", err)
				return
			}
		}
		if n%10 == 0 { // a short session a second: handshakes, presence, peer closes
			if c, err := promDial(ctx, srv, "prom-visitor", "g1"); err == nil {
				c.Close()
			}
		}
		if n%50 == 0 { // a protocol error every 5 s: below the abuse threshold
			_ = cs[0].Send([]byte(`{"type":"join","group":"not a group"}` + "\n"))
			_ = cs[1].Ping(ctx)
		}
	}
}

// promDial opens a session of user with a token for groups and joins
// them; unlike compassd.dial it may run off the test's goroutine.
func promDial(ctx context.Context, srv *compassd, user string, groups ...string) (*client.Client, error) {
	tok, err := auth.SignHS256(srv.secret, user, groups, time.Hour)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(ctx, srv.data, client.Options{Token: tok})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if _, err := c.Join(ctx, g); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// promDrain reads c's pushed messages until the connection ends.
func promDrain(c *client.Client) {
	for range c.Messages() {
	}
}

// promAbuse sends protocol errors until the server kicks the session.
func promAbuse(ctx context.Context, t *testing.T, srv *compassd) {
	c, err := promDial(ctx, srv, "prom-abuser")
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer c.Close()
	for i := 0; i < 100; i++ {
		if c.Send([]byte(`{"type":"nope"}`+"\n")) != nil {
			break
		}
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Error("the abusive session was not kicked")
	}
}

// promDriveJunk opens connections of other protocols until ctx ends:
// HTTP, TLS-looking bytes, random bytes, an oversized line, and a
// connection that closes without a byte.
func promDriveJunk(ctx context.Context, t *testing.T, addr string) {
	random := make([]byte, 64)
	junk := []func() []byte{
		func() []byte { return []byte("GET /metrics HTTP/1.1\r\nHost: compass\r\n\r\n") },
		func() []byte {
			return []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 32))
		},
		func() []byte { _, _ = rand.Read(random); random[0] = 0xee; return random },
		func() []byte { return []byte("U-Compass/1\n" + strings.Repeat("x", 8192) + "\n") },
		func() []byte { return []byte("SSH-2.0-OpenSSH_9.6\r\n") },
		func() []byte { return nil },
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Errorf("junk dial: %v", err)
			return
		}
		if b := junk[n%len(junk)](); len(b) > 0 {
			_, _ = c.Write(b)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = io.Copy(io.Discard, c)
		}
		c.Close()
	}
}
