// Package prometheus holds compassd's Prometheus rules: rules.yaml
// (recording rules and alerts, loaded by Prometheus as a rule file) and
// rules_test.yaml (their unit tests, for promtool test rules). It has no Go
// code; its Go tests check the rules against docs/runbook.md and run
// promtool when it is installed.
package prometheus
