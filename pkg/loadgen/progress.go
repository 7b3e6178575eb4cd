package loadgen

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Point is one second of a run, as its progress line shows it; the report
// keeps them all (the timeline), so that a latency spike can be matched
// with the machine's load at that moment.
type Point struct {
	T         float64 `json:"t_s"` // since the start
	Phase     string  `json:"phase"`
	Connected int64   `json:"connected"`
	SentPS    float64 `json:"sent_per_s,omitempty"`
	DlvPS     float64 `json:"delivered_per_s,omitempty"`
	Inflight  int64   `json:"inflight,omitempty"`
	P99       int64   `json:"p99_us,omitempty"` // deliveries in this second
	Max       int64   `json:"max_us,omitempty"`
	CyclesPS  float64 `json:"cycles_per_s,omitempty"`
	Errors    int64   `json:"errors,omitempty"`
	ServerCPU float64 `json:"server_cpu_pct,omitempty"` // of one CPU
	ServerRSS int64   `json:"server_rss_bytes,omitempty"`
	ClientCPU float64 `json:"client_cpu_pct,omitempty"`   // this tool, of one CPU
	Busy      float64 `json:"machine_busy_pct,omitempty"` // every process, of all CPUs
	Other     float64 `json:"other_pct,omitempty"`        // other processes, of all CPUs
}

// progress records one point about the last second and prints it.
func (c *coordinator) progress() {
	p := c.point()
	c.timeline = append(c.timeline, p)
	if c.o.Progress != nil {
		fmt.Fprintln(c.o.Progress, c.line(p))
	}
}

func (c *coordinator) point() Point {
	now := time.Now()
	t := c.total()
	d, secs := t.Sub(c.last), now.Sub(c.lastAt).Seconds()
	c.last, c.lastAt = t, now
	p := Point{T: now.Sub(c.start).Seconds(), Phase: c.phase(), Connected: t.Connected,
		SentPS: float64(d.Sent) / secs, DlvPS: float64(d.Delivered) / secs, Inflight: t.Lost(),
		CyclesPS: float64(d.Cycles) / secs,
		Errors:   t.DialErrors + t.JoinErrors + t.SendErrors + t.CycleErrors + t.PingErrors + t.ServerErrors + t.Ended}
	for _, e := range c.win {
		p.P99, p.Max = max(p.P99, e.WinP99), max(p.Max, e.WinMax)
	}
	clear(c.win)
	c.pointServer(&p)
	return p
}

// pointServer adds the server's CPU use since the last point, its RSS and
// the machine's load.
func (c *coordinator) pointServer(p *Point) {
	if c.o.ServerPID > 0 {
		if s, err := ReadProc(c.o.ServerPID); err == nil {
			if last := c.lastProc; !last.At.IsZero() {
				p.ServerCPU = 100 * (s.CPU - last.CPU) / s.At.Sub(last.At).Seconds()
			}
			p.ServerRSS = s.RSS
			c.lastProc = s
		}
	}
	client := c.clientCPU()
	busy, _, err := clockTicks()
	now := time.Now()
	if err == nil && !c.lastBusyAt.IsZero() {
		secs := now.Sub(c.lastBusyAt).Seconds()
		p.ClientCPU = 100 * (client - c.lastClient) / secs
		p.Busy = 100 * (busy - c.lastBusy) / float64(runtime.NumCPU()) / secs
		p.Other = max(0, p.Busy-(p.ServerCPU+p.ClientCPU)/float64(runtime.NumCPU()))
	}
	c.lastBusy, c.lastBusyAt, c.lastClient = busy, now, client
}

// clientCPU is the CPU time of this tool's processes.
func (c *coordinator) clientCPU() float64 {
	seen := map[int]bool{}
	var sum float64
	for _, l := range c.links {
		if l.PID > 0 && !seen[l.PID] {
			seen[l.PID] = true
			if s, err := ReadProc(l.PID); err == nil {
				sum += s.CPU
			}
		}
	}
	if !seen[os.Getpid()] { // the coordinator itself
		if s, err := ReadProc(os.Getpid()); err == nil {
			sum += s.CPU
		}
	}
	return sum
}

func (c *coordinator) line(p Point) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%4.0fs] %-8s conn %d/%d", p.T, p.Phase, p.Connected, c.spec.Sessions())
	if c.spec.Groups > 0 {
		fmt.Fprintf(&b, "  sent %s/s  dlv %s/s  inflight %d", si(p.SentPS), si(p.DlvPS), p.Inflight)
		if p.Max > 0 {
			fmt.Fprintf(&b, "  p99 %s max %s", us(p.P99), us(p.Max))
		}
	}
	if c.spec.Churn > 0 {
		fmt.Fprintf(&b, "  cycles %s/s", si(p.CyclesPS))
	}
	if p.Errors > 0 {
		fmt.Fprintf(&b, "  errors %d", p.Errors)
	}
	if p.ServerRSS > 0 {
		fmt.Fprintf(&b, "  server cpu %3.0f%% rss %s", p.ServerCPU, mib(p.ServerRSS))
	}
	fmt.Fprintf(&b, "  client cpu %3.0f%%  machine busy %3.0f%% (others %2.0f%%)", p.ClientCPU, p.Busy, p.Other)
	return b.String()
}

// Seconds summarises the measured seconds of a timeline: the median and
// worst per-second p99, how many seconds found the machine saturated
// (>= 95 % busy, this tool and the server included), and how many were
// disturbed (other processes used >= 10 % of the machine).
type Seconds struct {
	N         int   `json:"n"`
	MedianP99 int64 `json:"median_p99_us"`
	WorstP99  int64 `json:"worst_p99_us"`
	Saturated int   `json:"saturated"`
	Disturbed int   `json:"disturbed"`
	// The worst p99 of the seconds that were not disturbed.
	WorstUndisturbedP99 int64 `json:"worst_undisturbed_p99_us"`
}

func summarizeSeconds(tl []Point) Seconds {
	var s Seconds
	var p99s []int64
	for _, p := range tl {
		if p.Phase != PhaseRun || p.Max == 0 {
			continue
		}
		s.N++
		p99s = append(p99s, p.P99)
		s.WorstP99 = max(s.WorstP99, p.P99)
		if p.Busy >= 95 {
			s.Saturated++
		}
		if p.Other >= 10 {
			s.Disturbed++
		} else {
			s.WorstUndisturbedP99 = max(s.WorstUndisturbedP99, p.P99)
		}
	}
	if len(p99s) > 0 {
		slices.Sort(p99s)
		s.MedianP99 = p99s[len(p99s)/2]
	}
	return s
}

// phase names the least advanced phase among the workers.
func (c *coordinator) phase() string {
	order := []string{"", PhaseSetup, PhaseReady, PhaseRun, PhaseDrain, "done", PhaseTeardown, EventClosed}
	least := len(order) - 1
	for _, p := range c.phases {
		for i, o := range order {
			if o == p && i < least {
				least = i
			}
		}
	}
	if order[least] == "" {
		return "start"
	}
	return order[least]
}

// si writes n with a k or M suffix.
func si(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
