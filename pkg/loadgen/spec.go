package loadgen

import (
	"errors"
	"fmt"
	"time"
)

// Scenario names.
const (
	ScenarioIdle   = "idle"
	ScenarioFanout = "fanout"
	ScenarioChurn  = "churn"
	ScenarioMixed  = "mixed"
)

// Spec describes one run. A zero count switches that part off; the
// scenario name only selects which parts must be non-zero.
type Spec struct {
	Scenario string   `json:"scenario"`
	Addr     string   `json:"addr"`
	Secret   []byte   `json:"secret,omitempty"`  // HS256 secret; nil: dev-mode hello
	Sources  []string `json:"sources,omitempty"` // client source IPs, used in turn
	Prefix   string   `json:"prefix"`            // prepended to user and group names

	Idle      int     `json:"idle"`       // sessions held handshaken
	Groups    int     `json:"groups"`     // fanout groups
	Members   int     `json:"members"`    // sessions per fanout group
	Rate      float64 `json:"rate"`       // loc a second per fanout member
	Churn     int     `json:"churn"`      // concurrent connect-join-close loops
	ChurnRate float64 `json:"churn_rate"` // cap on churn cycles a second (0: none)

	Duration    time.Duration `json:"duration"`     // the measured phase
	Drain       time.Duration `json:"drain"`        // longest wait for in-flight deliveries
	DialTimeout time.Duration `json:"dial_timeout"` // dial + handshake
	Setup       int           `json:"setup"`        // concurrent dials during setup
	Ping        time.Duration `json:"ping"`         // idle ping interval (0: the welcome's heartbeat)
	Inbox       int           `json:"inbox"`        // client Messages capacity
}

// Defaults fills unset tuning fields.
func (s *Spec) Defaults() {
	if s.Drain <= 0 {
		s.Drain = 3 * time.Second
	}
	if s.DialTimeout <= 0 {
		s.DialTimeout = 10 * time.Second
	}
	if s.Setup <= 0 {
		s.Setup = 128
	}
	if s.Inbox <= 0 {
		s.Inbox = 16
	}
}

// Validate reports what cannot run.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch s.Scenario {
	case ScenarioIdle:
		if s.Idle <= 0 {
			bad("idle: --sessions must be positive")
		}
	case ScenarioFanout:
		if s.Groups <= 0 {
			bad("fanout: --groups must be positive")
		}
	case ScenarioChurn:
		if s.Churn <= 0 {
			bad("churn: --concurrency must be positive")
		}
	case ScenarioMixed:
		if s.Idle <= 0 && s.Groups <= 0 && s.Churn <= 0 {
			bad("mixed: nothing to do")
		}
	default:
		bad("unknown scenario %q (idle, fanout, churn, mixed)", s.Scenario)
	}
	if s.Groups > 0 && (s.Members < 2 || !(s.Rate > 0)) {
		bad("fanout needs --members >= 2 and --rate > 0")
	}
	if s.Idle < 0 || s.Groups < 0 || s.Churn < 0 || s.ChurnRate < 0 {
		bad("counts and rates must not be negative")
	}
	if s.Duration <= 0 {
		bad("--duration must be positive")
	}
	if s.Addr == "" {
		bad("--addr is empty")
	}
	return errors.Join(errs...)
}

// Sessions is the number of long-lived sessions (idle and fanout).
func (s *Spec) Sessions() int { return s.Idle + s.Groups*s.Members }

// Part is one worker's share of a Spec.
type Part struct {
	Spec
	Worker     int     `json:"worker"`
	Workers    int     `json:"workers"`
	IdleFirst  int     `json:"idle_first"` // global index of the first idle session
	IdleN      int     `json:"idle_n"`
	GroupFirst int     `json:"group_first"`
	GroupN     int     `json:"group_n"`
	ChurnN     int     `json:"churn_n"`
	ChurnRateN float64 `json:"churn_rate_n"`
}

// Split cuts s into n parts as even as whole groups allow.
func Split(s Spec, n int) []Part {
	if n < 1 {
		n = 1
	}
	parts := make([]Part, n)
	for i := range parts {
		p := Part{Spec: s, Worker: i, Workers: n}
		p.IdleFirst, p.IdleN = share(s.Idle, n, i)
		p.GroupFirst, p.GroupN = share(s.Groups, n, i)
		_, p.ChurnN = share(s.Churn, n, i)
		if s.Churn > 0 {
			p.ChurnRateN = s.ChurnRate * float64(p.ChurnN) / float64(s.Churn)
		}
		parts[i] = p
	}
	return parts
}

// share returns the first index and the count of part i of total cut in n.
func share(total, n, i int) (first, count int) {
	first = total * i / n
	return first, total*(i+1)/n - first
}

// Sessions is the number of long-lived sessions of the part.
func (p *Part) Sessions() int { return p.IdleN + p.GroupN*p.Members }

// user names a session: kind is "i" (idle), "m" (fanout member) or "c"
// (churn); fanout members are numbered g*Members+k so that a receiver can
// find the sender from the name alone.
func (s *Spec) user(kind string, n int) string { return fmt.Sprintf("%s%s%d", s.Prefix, kind, n) }

func (s *Spec) group(kind string, n int) string { return fmt.Sprintf("%s%s%d", s.Prefix, kind, n) }
