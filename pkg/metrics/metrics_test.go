package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/ucompass/compass/pkg/dataplane"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/version"
)

var (
	counter   = dto.MetricType_COUNTER
	gauge     = dto.MetricType_GAUGE
	histogram = dto.MetricType_HISTOGRAM
)

// specMetrics is operations.md's "Metrics" table, to the letter.
var specMetrics = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"compass_build_info", gauge, []string{"version", "goversion"}},
	{"compass_sessions", gauge, []string{"state"}},
	{"compass_groups", gauge, nil},
	{"compass_connections_accepted_total", counter, nil},
	{"compass_connections_closed_total", counter, []string{"reason"}},
	{"compass_sniffer_classified_total", counter, []string{"class"}},
	{"compass_messages_received_total", counter, []string{"type"}},
	{"compass_messages_sent_total", counter, []string{"type"}},
	{"compass_protocol_errors_total", counter, []string{"code"}},
	{"compass_kicks_total", counter, []string{"reason"}},
	{"compass_bans_active", gauge, nil},
	{"compass_received_bytes_total", counter, nil},
	{"compass_sent_bytes_total", counter, nil},
	{"compass_handshake_duration_seconds", histogram, nil},
	{"compass_fanout_duration_seconds", histogram, nil},
}

// extraMetrics are the additions to the table (operations.md welcomes
// them); docs/observability.md describes each. A new compass_ metric must
// be added here and there.
var extraMetrics = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"compass_queue_overflows_total", counter, nil},
	{"compass_buffered_bytes", gauge, nil},
	{"compass_ready", gauge, nil},
	{"compass_admin_watchers_dropped_total", counter, nil},
	{"compass_autobans_total", counter, nil},
	{"compass_autoban_tracked_addresses", gauge, nil},
	{"compass_autoban_untracked_total", counter, nil},
	{"compass_proxy_headers_total", counter, []string{"result"}},
}

// runtimeMetrics are the Go runtime and process series the dashboard and
// the alerts use.
var runtimeMetrics = map[string]dto.MetricType{
	"go_goroutines":                 gauge,
	"go_memstats_heap_inuse_bytes":  gauge,
	"go_memstats_heap_alloc_bytes":  gauge,
	"go_gc_duration_seconds":        dto.MetricType_SUMMARY,
	"go_info":                       gauge,
	"process_cpu_seconds_total":     counter,
	"process_open_fds":              gauge,
	"process_max_fds":               gauge,
	"process_resident_memory_bytes": gauge,
	"process_start_time_seconds":    gauge,
}

// The label values operators see, from protocol.md.
var specValues = map[string]map[string][]string{
	"compass_sessions": {"state": {"handshaking", "active"}},
	"compass_sniffer_classified_total": {"class": {"ucompass", "proxy", "http", "http2", "tls", "ssh",
		"rdp", "smb", "redis", "text", "binary", "empty", "timeout"}},
	"compass_messages_received_total": {"type": {"hello", "join", "leave", "loc", "ping"}},
	"compass_messages_sent_total": {"type": {"welcome", "joined", "left", "ack", "pong", "loc",
		"presence", "error", "bye"}},
	"compass_protocol_errors_total": {"code": {"invalid_json", "invalid_message", "unknown_type",
		"invalid_group", "invalid_location", "not_joined", "too_many_groups", "forbidden",
		"rate_limited", "handshake_required", "unauthorized", "line_too_long"}},
	"compass_kicks_total":              {"reason": {"kicked", "banned", "abuse", "slow_consumer", "idle", "shutdown"}},
	"compass_connections_closed_total": {"reason": metrics.CloseReasons()},
	"compass_proxy_headers_total":      {"result": {"accepted", "malformed", "untrusted"}},
}

func newRegistry(t testing.TB) (*prometheus.Registry, *metrics.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return reg, metrics.New(reg, dataplane.MetricLabels())
}

func gather(t testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// labelNames is the union of the label names of every series of mf.
func labelNames(mf *dto.MetricFamily) []string {
	set := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func labelValues(mf *dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				out = append(out, l.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// TestMetricsMatchOperationsSpec checks every metric of operations.md's
// table: it exists with exactly the type and label names listed there.
func TestMetricsMatchOperationsSpec(t *testing.T) {
	reg, _ := newRegistry(t)
	got := gather(t, reg)
	check := func(name string, typ dto.MetricType, labels []string) {
		t.Helper()
		mf, ok := got[name]
		if !ok {
			t.Errorf("%s: missing", name)
			return
		}
		if mf.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, mf.GetType(), typ)
		}
		if l, want := labelNames(mf), sorted(labels); !slices.Equal(l, want) {
			t.Errorf("%s: labels %q, want %q", name, l, want)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no help text", name)
		}
	}
	known := map[string]bool{}
	for _, s := range specMetrics {
		check(s.name, s.typ, s.labels)
		known[s.name] = true
	}
	for _, s := range extraMetrics {
		check(s.name, s.typ, s.labels)
		known[s.name] = true
	}
	for name, typ := range runtimeMetrics {
		if mf, ok := got[name]; !ok {
			t.Errorf("%s: missing (Go runtime or process collector not registered?)", name)
		} else if mf.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, mf.GetType(), typ)
		}
	}
	for name := range got {
		switch {
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
		case !known[name]:
			t.Errorf("%s: not in operations.md nor in extraMetrics: document it (docs/observability.md) and list it here", name)
		}
	}
}

// TestLabelValuesArePreCreated checks that the labelled series exist
// before anything happens (dashboards show zeros, not gaps) with exactly
// protocol.md's vocabulary.
func TestLabelValuesArePreCreated(t *testing.T) {
	reg, _ := newRegistry(t)
	got := gather(t, reg)
	for name, byLabel := range specValues {
		for label, want := range byLabel {
			if have := labelValues(got[name], label); !slices.Equal(have, sorted(want)) {
				t.Errorf("%s{%s}: values %q, want %q", name, label, have, sorted(want))
			}
		}
	}
	bi := got["compass_build_info"].GetMetric()
	if len(bi) != 1 || bi[0].GetGauge().GetValue() != 1 {
		t.Fatalf("compass_build_info: want one series of value 1, got %v", bi)
	}
	for _, l := range bi[0].GetLabel() {
		want := map[string]string{"version": version.Version, "goversion": version.Go()}[l.GetName()]
		if l.GetValue() != want || want == "" {
			t.Errorf("compass_build_info{%s=%q}, want %q", l.GetName(), l.GetValue(), want)
		}
	}
}

// TestLint runs client_golang's promlint (the checks of promtool check
// metrics) on every collector of the service and on the whole registry.
func TestLint(t *testing.T) {
	reg, m := newRegistry(t)
	for name, c := range map[string]prometheus.Collector{
		"BuildInfo": m.BuildInfo, "Sessions": m.Sessions, "Groups": m.Groups, "Accepted": m.Accepted,
		"Closed": m.Closed, "Sniffed": m.Sniffed, "Received": m.Received, "Sent": m.Sent,
		"ProtocolErrors": m.ProtocolErrors, "Kicks": m.Kicks, "BansActive": m.BansActive,
		"ReceivedBytes": m.ReceivedBytes, "SentBytes": m.SentBytes,
		"HandshakeDuration": m.HandshakeDuration, "FanoutDuration": m.FanoutDuration,
		"QueueOverflows": m.QueueOverflows, "BufferedBytes": m.BufferedBytes, "Ready": m.Ready,
		"WatchersDropped": m.WatchersDropped, "Autobans": m.Autobans, "AutobanTracked": m.AutobanTracked,
		"AutobanUntracked": m.AutobanUntracked, "ProxyHeaders": m.ProxyHeaders,
	} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("registry: %s: %s", p.Metric, p.Text)
	}
}

type readiness struct{ ok atomic.Bool }

func (r *readiness) Ready() bool { return r.ok.Load() }

// TestHandler checks operations.md's endpoints: /healthz is 200 while the
// process serves, /readyz 200 only while ready, /metrics the text format.
func TestHandler(t *testing.T) {
	reg, m := newRegistry(t)
	r := &readiness{}
	srv := httptest.NewServer(metrics.Handler(reg, r))
	defer srv.Close()
	get := func(path string, accept string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), string(b)
	}
	if code, _, _ := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d, want 200", code)
	}
	if code, _, _ := get("/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while not ready: %d, want 503", code)
	}
	r.ok.Store(true)
	if code, _, _ := get("/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz while ready: %d, want 200", code)
	}
	m.Accepted.Inc()
	code, ctype, body := get("/metrics", "")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("/metrics: %d %q, want 200 text/plain", code, ctype)
	}
	for _, want := range []string{"compass_connections_accepted_total 1\n", "# TYPE compass_fanout_duration_seconds histogram\n", "go_goroutines ", "process_open_fds "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if _, ctype, _ := get("/metrics", "application/openmetrics-text; version=1.0.0"); !strings.HasPrefix(ctype, "application/openmetrics-text") {
		t.Errorf("/metrics with an OpenMetrics Accept: %q", ctype)
	}
	if code, _, _ := get("/nope", ""); code != http.StatusNotFound {
		t.Errorf("/nope: %d, want 404", code)
	}
}
