package loadgen

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

type hdrHist = hdrhistogram.Histogram

// Report is the merged outcome of a run, as written to --json.
type Report struct {
	Scenario  string         `json:"scenario"`
	Spec      Spec           `json:"spec"` // without the secret
	Workers   int            `json:"workers"`
	Machine   Machine        `json:"machine"`
	Started   time.Time      `json:"started"`
	RunSecs   float64        `json:"run_s"`
	DrainSecs float64        `json:"drain_s"`
	Sessions  SessionReport  `json:"sessions"`
	Fanout    *FanoutReport  `json:"fanout,omitempty"`
	Churn     *ChurnReport   `json:"churn,omitempty"`
	Idle      *IdleReport    `json:"idle,omitempty"`
	Server    *ServerReport  `json:"server,omitempty"`
	Client    ClientReport   `json:"client"`
	Load      LoadReport     `json:"load"`
	Metrics   *MetricsReport `json:"metrics,omitempty"`
	Errors    []ErrCount     `json:"errors,omitempty"`
	Total     Snapshot       `json:"counters"` // every counter, since start
	Timeline  []Point        `json:"timeline"` // one point a second
}

// SessionReport counts the long-lived sessions.
type SessionReport struct {
	Target     int   `json:"target"`
	Connected  int64 `json:"connected"` // when every worker was ready
	DialErrors int64 `json:"dial_errors"`
	JoinErrors int64 `json:"join_errors"`
	Ended      int64 `json:"ended"` // by the server, before teardown
}

// FanoutReport is the fanout part of the measured phase (drain included).
type FanoutReport struct {
	Groups          int         `json:"groups"`
	Members         int         `json:"members"`
	Rate            float64     `json:"rate"`
	TargetPerSec    float64     `json:"target_sent_per_s"`
	Sent            int64       `json:"sent"`
	SentPerSec      float64     `json:"sent_per_s"`
	Expected        int64       `json:"expected"`
	Delivered       int64       `json:"delivered"`
	DeliveredPerSec float64     `json:"delivered_per_s"`
	Lost            int64       `json:"lost"`
	LossPct         float64     `json:"loss_pct"`
	Reordered       int64       `json:"reordered"`
	Coarse          int64       `json:"coarse"`
	SendErrors      int64       `json:"send_errors"`
	ServerErrors    int64       `json:"server_errors"`
	Latency         Summary     `json:"latency"`
	PerSecond       Seconds     `json:"per_second"`
	Hist            EncodedHist `json:"latency_hist"`
}

// ChurnReport is the churn part of the measured phase.
type ChurnReport struct {
	Concurrency int         `json:"concurrency"`
	Cycles      int64       `json:"cycles"`
	PerSec      float64     `json:"per_s"`
	Errors      int64       `json:"errors"`
	Handshake   Summary     `json:"handshake"` // dial to welcome
	Join        Summary     `json:"join"`      // join to joined
	HandHist    EncodedHist `json:"handshake_hist"`
}

// IdleReport is the idle part.
type IdleReport struct {
	Sessions   int   `json:"sessions"`
	Pings      int64 `json:"pings"`
	PingErrors int64 `json:"ping_errors"`
}

// ServerReport is what /proc said about the server.
type ServerReport struct {
	PID           int        `json:"pid"`
	Base          ProcSample `json:"base"`  // before the first dial
	Ready         ProcSample `json:"ready"` // every session open, at go
	End           ProcSample `json:"end"`   // after the drain
	CPUSecs       float64    `json:"cpu_s"` // ready to end
	SysSecs       float64    `json:"sys_s"` // of which in the kernel
	Cores         float64    `json:"cores"`
	CPUPerMsgUS   float64    `json:"cpu_per_delivered_us,omitempty"`
	CPUPerCycleUS float64    `json:"cpu_per_cycle_us,omitempty"`
	RSSPerSession float64    `json:"rss_per_session_bytes,omitempty"` // (ready - base) / connected
	Err           string     `json:"err,omitempty"`
}

// ClientReport is the load tool's own CPU use in the measured phase.
type ClientReport struct {
	CPUSecs float64 `json:"cpu_s"`
	Cores   float64 `json:"cores"`
}

// LoadReport is the whole machine's CPU use in the measured phase: what
// the server and this tool used, and what other processes did (a busy
// machine skews every figure).
type LoadReport struct {
	BusyCores  float64 `json:"busy_cores"`
	OtherCores float64 `json:"other_cores"` // busy - server - this tool
}

// MetricsReport holds the server's own counters at the phase edges.
type MetricsReport struct {
	Base  map[string]float64 `json:"base"`
	Ready map[string]float64 `json:"ready"`
	End   map[string]float64 `json:"end"`
	Err   string             `json:"err,omitempty"`
}

// Delta is a series' change over the whole run.
func (m *MetricsReport) Delta(series string) float64 { return m.End[series] - m.Base[series] }

// report merges the workers' results.
func (c *coordinator) report() (*Report, error) {
	spec := c.spec
	spec.Secret = nil
	r := &Report{Scenario: spec.Scenario, Spec: spec, Workers: len(c.links), Machine: ThisMachine(), Started: c.start,
		Timeline: c.timeline}
	run, hists, err := c.merge(r)
	if err != nil {
		return nil, err
	}
	r.Client.Cores = r.Client.CPUSecs / (r.RunSecs + r.DrainSecs)
	r.Sessions = SessionReport{Target: spec.Sessions(), Connected: c.atReady.Connected,
		DialErrors: r.Total.DialErrors, JoinErrors: r.Total.JoinErrors, Ended: r.Total.Ended}
	c.fanoutReport(r, run, hists[0])
	c.churnReport(r, run, hists[1], hists[2])
	if spec.Idle > 0 {
		r.Idle = &IdleReport{Sessions: spec.Idle, Pings: run.Pings, PingErrors: run.PingErrors}
	}
	c.serverReport(r, run)
	c.loadReport(r)
	if c.o.MetricsURL != "" {
		r.Metrics = &MetricsReport{Base: c.server.mBase, Ready: c.server.mReady, End: c.server.mEnd}
		if c.server.metricsErr != nil {
			r.Metrics.Err = c.server.metricsErr.Error()
		}
	}
	return r, nil
}

// merge adds up the workers' counters, times, errors and CPU into r, and
// returns the measured phase's counters and the merged latency, handshake
// and join histograms.
func (c *coordinator) merge(r *Report) (Snapshot, [3]*hdrHist, error) {
	var run Snapshot
	hists := [3]*hdrHist{newHDR(), newHDR(), newHDR()}
	pids := map[int]bool{}
	for _, w := range c.results {
		run.Add(w.Run)
		r.Total.Add(w.Total)
		r.RunSecs = max(r.RunSecs, w.RunSecs)
		r.DrainSecs = max(r.DrainSecs, w.DrainSecs)
		r.Errors = mergeErrs(r.Errors, w.Errors)
		if !pids[w.PID] { // in-process workers share one process's CPU time
			pids[w.PID] = true
			r.Client.CPUSecs += w.CPUSecs
		}
		for i, e := range []EncodedHist{w.Latency, w.Handshake, w.Join} {
			h, err := e.Decode()
			if err != nil {
				return run, hists, fmt.Errorf("worker %d: histogram: %w", w.Worker, err)
			}
			hists[i].Merge(h)
		}
	}
	return run, hists, nil
}

// loadReport is the whole machine's CPU use from go to the end.
func (c *coordinator) loadReport(r *Report) {
	sv := c.server
	d := sv.busyEndAt.Sub(sv.busyReadyAt).Seconds()
	if d <= 0 || sv.busyEnd <= 0 {
		return
	}
	r.Load.BusyCores = (sv.busyEnd - sv.busyReady) / d
	r.Load.OtherCores = r.Load.BusyCores - r.Client.Cores
	if r.Server != nil {
		r.Load.OtherCores -= r.Server.Cores
	}
}

func (c *coordinator) fanoutReport(r *Report, run Snapshot, lat *hdrHist) {
	s := c.spec
	if s.Groups == 0 {
		return
	}
	f := &FanoutReport{Groups: s.Groups, Members: s.Members, Rate: s.Rate,
		TargetPerSec: float64(s.Groups*s.Members) * s.Rate,
		Sent:         run.Sent, SentPerSec: float64(run.Sent) / r.RunSecs,
		Expected: run.Expected, Delivered: run.Delivered, DeliveredPerSec: float64(run.Delivered) / r.RunSecs,
		Lost: run.Lost(), Reordered: run.Reordered, Coarse: run.Coarse,
		SendErrors: run.SendErrors, ServerErrors: run.ServerErrors,
		Latency: Summarize(lat), PerSecond: summarizeSeconds(c.timeline), Hist: Encode(lat)}
	if run.Expected > 0 {
		f.LossPct = 100 * float64(f.Lost) / float64(run.Expected)
	}
	r.Fanout = f
}

func (c *coordinator) churnReport(r *Report, run Snapshot, hs, join *hdrHist) {
	if c.spec.Churn == 0 {
		return
	}
	r.Churn = &ChurnReport{Concurrency: c.spec.Churn, Cycles: run.Cycles, PerSec: float64(run.Cycles) / r.RunSecs,
		Errors: run.CycleErrors, Handshake: Summarize(hs), Join: Summarize(join), HandHist: Encode(hs)}
}

func (c *coordinator) serverReport(r *Report, run Snapshot) {
	if c.o.ServerPID <= 0 {
		return
	}
	sv := c.server
	s := &ServerReport{PID: c.o.ServerPID, Base: sv.base, Ready: sv.ready, End: sv.end,
		CPUSecs: sv.end.CPU - sv.ready.CPU, SysSecs: sv.end.Sys - sv.ready.Sys}
	if d := sv.end.At.Sub(sv.ready.At).Seconds(); d > 0 {
		s.Cores = s.CPUSecs / d
	}
	// Per-unit figures only where one kind of work used the server.
	if run.Delivered > 0 && c.spec.Scenario == ScenarioFanout {
		s.CPUPerMsgUS = s.CPUSecs / float64(run.Delivered) * 1e6
	}
	if run.Cycles > 0 && c.spec.Scenario == ScenarioChurn {
		s.CPUPerCycleUS = s.CPUSecs / float64(run.Cycles) * 1e6
	}
	if n := c.atReady.Connected; n > 0 {
		s.RSSPerSession = float64(sv.ready.RSS-sv.base.RSS) / float64(n)
	}
	if sv.procErr != nil {
		s.Err = sv.procErr.Error()
	}
	r.Server = s
}

// Problems lists what went wrong in the run: loss, sessions the server
// ended, errors of any kind. Empty means a clean run.
func (r *Report) Problems() []string {
	var out []string
	add := func(n int64, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	t := r.Total
	add(t.DialErrors, "dial errors")
	add(t.JoinErrors, "join errors")
	add(t.Ended, "sessions ended by the server")
	add(t.SendErrors, "send errors")
	add(t.ServerErrors, "error messages from the server")
	add(t.CycleErrors, "churn errors")
	add(t.PingErrors, "ping errors")
	if r.Fanout != nil {
		add(r.Fanout.Lost, "deliveries lost")
		add(r.Fanout.Reordered, "deliveries out of order")
	}
	return out
}
