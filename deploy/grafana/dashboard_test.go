package grafana

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// panel is one decoded panel with its typed parts.
type panel struct {
	*dashboard.Panel
	queries []*prometheus.Dataquery
	heatmap *heatmap.Options // nil unless a heatmap
}

// load decodes the dashboard strictly with the Grafana Foundation SDK:
// unknown fields, wrong types and missing required fields are errors, for
// the dashboard and for every panel's options, field config and target.
//
// The SDK (v0.0.22) reports success as a typed-nil error list, and its
// nested decoders (PanelOrRowPanel, targets, options) pass that list on
// unchecked: errors are reported, but on success panels, targets and
// options come back empty. So the parts are decoded again one by one here,
// strictly, with the same decoders, and validated.
func load(t *testing.T) (*dashboard.Dashboard, []panel, []*dashboard.RowPanel) {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := failed(d.UnmarshalJSONStrict(Dashboard)); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	var top struct{ Panels []json.RawMessage }
	if err := json.Unmarshal(Dashboard, &top); err != nil {
		t.Fatal(err)
	}
	var ps []panel
	var rows []*dashboard.RowPanel
	for _, raw := range top.Panels {
		var r struct {
			Type   string
			Panels []json.RawMessage
		}
		_ = json.Unmarshal(raw, &r)
		if r.Type != "row" {
			ps = append(ps, decodePanel(t, raw))
			continue
		}
		row := &dashboard.RowPanel{}
		if err := failed(row.UnmarshalJSONStrict(raw)); err != nil {
			t.Fatalf("row: %v", err)
		}
		if err := failed(row.Validate()); err != nil {
			t.Errorf("row %q: %v", deref(row.Title), err)
		}
		rows = append(rows, row)
		for _, nested := range r.Panels { // a collapsed row's panels
			ps = append(ps, decodePanel(t, nested))
		}
	}
	return &d, ps, rows
}

func decodePanel(t *testing.T, raw json.RawMessage) panel {
	t.Helper()
	p := panel{Panel: &dashboard.Panel{}}
	if err := failed(p.UnmarshalJSONStrict(raw)); err != nil {
		t.Fatalf("panel: %v", err)
	}
	title := deref(p.Title)
	if err := failed(p.Validate()); err != nil {
		t.Errorf("panel %q: %v", title, err)
	}
	var r struct {
		Targets []json.RawMessage
		Options json.RawMessage
	}
	_ = json.Unmarshal(raw, &r)
	for _, rt := range r.Targets {
		q := &prometheus.Dataquery{}
		if err := failed(q.UnmarshalJSONStrict(rt)); err != nil {
			t.Errorf("panel %q: target: %v", title, err)
		}
		p.queries = append(p.queries, q)
	}
	if p.Type == "heatmap" {
		p.heatmap = &heatmap.Options{}
		if err := failed(p.heatmap.UnmarshalJSONStrict(r.Options)); err != nil {
			t.Errorf("panel %q: options: %v", title, err)
		}
	}
	return p
}

// failed turns the SDK's typed-nil error list (its "no errors") into nil.
func failed(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestDashboardValidates(t *testing.T) {
	d, _, _ := load(t)
	if err := failed(d.Validate()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d: current Grafana writes 39 or later", d.SchemaVersion)
	}
	if deref(d.Uid) == "" || deref(d.Title) == "" {
		t.Error("the dashboard needs a uid and a title")
	}
}

func TestDashboardVariables(t *testing.T) {
	d, _, _ := load(t)
	vars := map[string]dashboard.VariableModel{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	ds, ok := vars["datasource"]
	if !ok || ds.Type != dashboard.VariableTypeDatasource || ds.Query == nil ||
		ds.Query.String == nil || *ds.Query.String != "prometheus" {
		t.Errorf("want a datasource variable of type prometheus, got %+v", ds)
	}
	inst, ok := vars["instance"]
	if !ok || inst.Type != dashboard.VariableTypeQuery {
		t.Fatalf("want a query variable instance, got %+v", inst)
	}
	if deref(deref(inst.Datasource).Uid) != "${datasource}" {
		t.Errorf("instance variable: datasource %+v, want ${datasource}", inst.Datasource)
	}
	if q := variableQuery(inst); q != "label_values(compass_build_info, instance)" {
		t.Errorf("instance variable: query %q", q)
	}
	if !deref(inst.Multi) || !deref(inst.IncludeAll) || inst.AllValue != nil {
		t.Error("instance variable: want multi-value with All, and no custom all value (All must select compass replicas only, not every target)")
	}
}

func variableQuery(v dashboard.VariableModel) string {
	if v.Query == nil {
		return ""
	}
	if v.Query.String != nil {
		return *v.Query.String
	}
	q, _ := v.Query.Map["query"].(string)
	return q
}

func TestDashboardRows(t *testing.T) {
	_, _, rows := load(t)
	var titles []string
	for _, r := range rows {
		titles = append(titles, deref(r.Title))
	}
	want := []string{"Overview", "Traffic", "Latency", "Abuse", "Runtime"}
	if !slices.Equal(titles, want) {
		t.Errorf("rows %q, want %q", titles, want)
	}
}

// selectorRE finds every series selector of the metrics the dashboard
// reads, with its label matchers if any.
var selectorRE = regexp.MustCompile(`\b(compass_[a-z_]+|go_[a-z_]+|process_[a-z_]+|up)\b(\{[^}]*\})?`)

// TestEveryPanelHasDescriptionUnitAndInstanceFilter: every panel says what
// it shows and in which unit, reads the ${datasource} variable, and every
// series selector of every target is filtered by $instance.
func TestEveryPanelHasDescriptionUnitAndInstanceFilter(t *testing.T) {
	_, ps, _ := load(t)
	if len(ps) < 20 {
		t.Fatalf("only %d panels", len(ps))
	}
	ids := map[uint32]string{}
	for _, p := range ps {
		title := deref(p.Title)
		if title == "" {
			t.Errorf("panel %d has no title", deref(p.Id))
		}
		if other, dup := ids[deref(p.Id)]; dup {
			t.Errorf("panels %q and %q share id %d", title, other, deref(p.Id))
		}
		ids[deref(p.Id)] = title
		if strings.TrimSpace(deref(p.Description)) == "" {
			t.Errorf("%s: no description", title)
		}
		if p.FieldConfig == nil || deref(p.FieldConfig.Defaults.Unit) == "" {
			t.Errorf("%s: no unit (fieldConfig.defaults.unit)", title)
		}
		if p.heatmap != nil && deref(p.heatmap.YAxis.Unit) == "" {
			t.Errorf("%s: heatmap without a y axis unit", title)
		}
		if ds := deref(p.Datasource); deref(ds.Uid) != "${datasource}" || deref(ds.Type) != "prometheus" {
			t.Errorf("%s: datasource %+v, want the ${datasource} variable", title, ds)
		}
		if len(p.queries) == 0 {
			t.Errorf("%s: no targets", title)
		}
		for _, q := range p.queries {
			if ds := deref(q.Datasource); deref(ds.Uid) != "${datasource}" {
				t.Errorf("%s: target %s: datasource %+v, want ${datasource}", title, deref(q.RefId), ds)
			}
			checkInstanceFilter(t, title, q.Expr)
		}
	}
}

func checkInstanceFilter(t *testing.T, panel, expr string) {
	t.Helper()
	sels := selectorRE.FindAllStringSubmatch(expr, -1)
	if len(sels) == 0 {
		t.Errorf("%s: %q reads no known metric", panel, expr)
	}
	for _, s := range sels {
		if !strings.Contains(s[2], `instance=~"$instance"`) {
			t.Errorf("%s: selector %s in %q is not filtered by instance=~\"$instance\"", panel, s[0], expr)
		}
	}
}

// TestDashboardCoversEveryMetric: each metric of operations.md is on some
// panel, and latency panels show p50, p90 and p99.
func TestDashboardCoversEveryMetric(t *testing.T) {
	qs, err := Queries(Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	heatmaps := 0
	for _, q := range qs {
		all.WriteString(q.Expr + "\n")
		if q.Format == "heatmap" {
			heatmaps++
			if !strings.Contains(q.Expr, "compass_fanout_duration_seconds_bucket") || !strings.Contains(q.Expr, "by (le)") {
				t.Errorf("heatmap %s: %q, want fanout buckets by le", q.Panel, q.Expr)
			}
		}
	}
	if heatmaps == 0 {
		t.Error("no heatmap of the fanout buckets")
	}
	text := all.String()
	for _, m := range []string{"compass_build_info", "compass_sessions", "compass_groups",
		"compass_connections_accepted_total", "compass_connections_closed_total",
		"compass_sniffer_classified_total", "compass_messages_received_total", "compass_messages_sent_total",
		"compass_protocol_errors_total", "compass_kicks_total", "compass_bans_active",
		"compass_received_bytes_total", "compass_sent_bytes_total", "compass_ready", "compass_buffered_bytes",
		"go_goroutines", "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds", "process_cpu_seconds_total",
		"process_open_fds", "process_max_fds", `reason="slow_consumer"`,
		"compass_autobans_total", "compass_proxy_headers_total"} {
		if !strings.Contains(text, m) {
			t.Errorf("no panel reads %s", m)
		}
	}
	for _, h := range []string{"compass_fanout_duration_seconds", "compass_handshake_duration_seconds"} {
		for _, q := range []string{"0.5", "0.9", "0.99"} {
			if !strings.Contains(text, "histogram_quantile("+q+", sum by (le) (rate("+h+"_bucket{") {
				t.Errorf("no p%s of %s", q, h)
			}
		}
	}
}

// TestPanelsDoNotOverlap checks the grid: inside 24 columns, no two panels
// on the same cells.
func TestPanelsDoNotOverlap(t *testing.T) {
	_, ps, rows := load(t)
	type box struct {
		title      string
		x, y, w, h uint32
	}
	var boxes []box
	for i := range len(ps) + len(rows) {
		var g *dashboard.GridPos
		var title string
		if i < len(ps) {
			g, title = ps[i].GridPos, deref(ps[i].Title)
		} else {
			g, title = rows[i-len(ps)].GridPos, deref(rows[i-len(ps)].Title)
		}
		if g == nil {
			t.Errorf("%s: no gridPos", title)
			continue
		}
		if g.X+g.W > 24 {
			t.Errorf("%s: x %d + w %d past 24 columns", title, g.X, g.W)
		}
		for _, b := range boxes {
			if g.X < b.x+b.w && b.x < g.X+g.W && g.Y < b.y+b.h && b.y < g.Y+g.H {
				t.Errorf("%s overlaps %s", title, b.title)
			}
		}
		boxes = append(boxes, box{title, g.X, g.Y, g.W, g.H})
	}
}

func TestQueries(t *testing.T) {
	qs, err := Queries(Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 30 {
		t.Errorf("%d queries", len(qs))
	}
	collapsed := []byte(`{"panels":[{"type":"row","title":"R","collapsed":true,"panels":[
		{"type":"timeseries","title":"P","targets":[{"refId":"A","expr":"up"}]}]}]}`)
	qs, err = Queries(collapsed)
	if err != nil || len(qs) != 1 || qs[0] != (Query{Panel: "P", RefID: "A", Expr: "up"}) {
		t.Errorf("collapsed row: %+v, %v", qs, err)
	}
	if _, err := Queries([]byte(`{"panels":[{"title":"P","targets":[{"refId":"A"}]}]}`)); err == nil {
		t.Error("a target without expr: no error")
	}
}
