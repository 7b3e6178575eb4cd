// Package grafana holds the U-Compass Grafana dashboard
// (compass-dashboard.json, imported as is into Grafana) and lists its
// PromQL queries, so that tests can validate it and run every query against
// a real Prometheus (cmd/compassd's e2e tests do).
//
// Concurrency: Dashboard is read-only; Queries is a pure function.
package grafana

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// Dashboard is compass-dashboard.json.
//
//go:embed compass-dashboard.json
var Dashboard []byte

// Query is one PromQL target of a dashboard panel.
type Query struct {
	Panel  string // panel title
	RefID  string
	Expr   string // with the dashboard's variables unsubstituted
	Format string // "heatmap", "table" or "" (time series)
}

type jsonPanel struct {
	Type    string      `json:"type"`
	Title   string      `json:"title"`
	Panels  []jsonPanel `json:"panels"` // a collapsed row's panels
	Targets []struct {
		RefID  string `json:"refId"`
		Expr   string `json:"expr"`
		Format string `json:"format"`
	} `json:"targets"`
}

// Queries returns every panel target of dashboard, in panel order, the
// panels of collapsed rows included. A target without an expression is an
// error: every panel of this dashboard is a Prometheus one.
func Queries(dashboard []byte) ([]Query, error) {
	var d struct {
		Panels []jsonPanel `json:"panels"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil {
		return nil, fmt.Errorf("grafana: dashboard: %w", err)
	}
	var out []Query
	var walk func([]jsonPanel) error
	walk = func(ps []jsonPanel) error {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr == "" {
					return fmt.Errorf("grafana: panel %q target %q has no expr", p.Title, t.RefID)
				}
				out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Format: t.Format})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	return out, nil
}
