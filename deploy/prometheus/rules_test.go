package prometheus

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// wantAlerts are the alerts operators rely on (docs/runbook.md).
var wantAlerts = []string{
	"CompassDown", "CompassReplicasNotReady", "CompassScannerFlood", "CompassAbuseKicksSpike",
	"CompassFanoutLatencyHigh", "CompassSlowConsumers", "CompassFdsNearLimit",
}

const runbookBase = "https://github.com/ucompass/compass/blob/main/docs/runbook.md"

// alert is what rules.yaml says of one alert.
type alert struct {
	name   string
	fields map[string]string // for, severity, summary, description, runbook_url
}

var keyRE = regexp.MustCompile(`^\s*(-\s+)?(alert|record|expr|for|severity|summary|description|runbook_url):\s*(.*)$`)

// readRules lists the alerts and recording rules of rules.yaml. It reads
// the file's own layout (one key a line), not YAML in general: promtool
// check rules (below, and in the e2e test) checks the YAML itself.
func readRules(t *testing.T) ([]alert, []string) {
	t.Helper()
	b, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []alert
	var records []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		m := keyRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		key, value := m[2], strings.Trim(m[3], `"`)
		switch {
		case key == "record":
			records = append(records, value)
		case key == "alert":
			alerts = append(alerts, alert{name: value, fields: map[string]string{}})
		case len(alerts) > 0:
			alerts[len(alerts)-1].fields[key] = value
		}
	}
	return alerts, records
}

// TestAlertsAreComplete: every alert operators rely on exists, with a
// severity, a summary, a description and a runbook_url whose anchor is a
// section of docs/runbook.md.
func TestAlertsAreComplete(t *testing.T) {
	alerts, records := readRules(t)
	runbook, err := os.ReadFile("../../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, l := range strings.Split(string(runbook), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			anchors[githubAnchor(h)] = true
		}
	}
	var names []string
	for _, a := range alerts {
		names = append(names, a.name)
		if s := a.fields["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", a.name, s)
		}
		for _, k := range []string{"expr", "for", "summary", "description"} {
			if a.fields[k] == "" {
				t.Errorf("%s: no %s", a.name, k)
			}
		}
		url := a.fields["runbook_url"]
		if want := runbookBase + "#" + strings.ToLower(a.name); url != want {
			t.Errorf("%s: runbook_url %q, want %q", a.name, url, want)
		}
		if !anchors[strings.ToLower(a.name)] {
			t.Errorf("%s: docs/runbook.md has no section \"## %s\"", a.name, a.name)
		}
	}
	for _, w := range wantAlerts {
		if !slices.Contains(names, w) {
			t.Errorf("alert %s missing", w)
		}
	}
	for _, r := range records {
		if !strings.HasPrefix(r, "compass:") || strings.Count(r, ":") != 2 {
			t.Errorf("recording rule %s: want compass:<what>:<operation>", r)
		}
	}
}

// githubAnchor is the fragment GitHub gives a heading.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestEveryAlertIsUnitTested: rules_test.yaml shows each alert firing and
// not firing.
func TestEveryAlertIsUnitTested(t *testing.T) {
	b, err := os.ReadFile("rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "alertname: ")
		if !ok || i+1 >= len(lines) {
			continue
		}
		if strings.TrimSpace(lines[i+1]) == "exp_alerts: []" {
			quiet[name] = true
		} else {
			firing[name] = true
		}
	}
	alerts, _ := readRules(t)
	for _, a := range alerts {
		if !firing[a.name] {
			t.Errorf("%s: no test shows it firing", a.name)
		}
		if !quiet[a.name] {
			t.Errorf("%s: no test shows it not firing", a.name)
		}
	}
}

// TestPromtool runs promtool check rules and promtool test rules. The
// e2e test (cmd/compassd) requires promtool; here it is optional.
func TestPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not on PATH: .ci/run installs it (apt-get install -y prometheus)")
		}
		t.Skip("promtool not on PATH (apt-get install -y prometheus); CI and the e2e test require it")
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
