package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the human table.
func (r *Report) WriteText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	s := r.Spec
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	row("scenario", "%s, %s measured + %.1fs drain, %d worker(s), %s", r.Scenario, time.Duration(r.RunSecs*float64(time.Second)).Round(time.Millisecond),
		r.DrainSecs, r.Workers, r.Machine.line())
	ss := r.Sessions
	row("sessions", "%d/%d connected at go (dial errors %d, join errors %d, ended by server %d)",
		ss.Connected, ss.Target, ss.DialErrors, ss.JoinErrors, ss.Ended)
	if f := r.Fanout; f != nil {
		row("fanout", "%d groups × %d members at %g loc/s each", s.Groups, s.Members, s.Rate)
		row("published", "%d (%.0f/s; target %.0f/s), send errors %d", f.Sent, f.SentPerSec, f.TargetPerSec, f.SendErrors)
		row("delivered", "%d of %d expected (%.0f/s), lost %d (%.4f%%), reordered %d, coarse %d, server errors %d",
			f.Delivered, f.Expected, f.DeliveredPerSec, f.Lost, f.LossPct, f.Reordered, f.Coarse, f.ServerErrors)
		row("latency", "%s", f.Latency)
		if ps := f.PerSecond; ps.N > 0 {
			row("per second", "p99 median %s, worst %s (%s in the %d seconds other processes left alone); machine saturated in %d of %d seconds",
				us(ps.MedianP99), us(ps.WorstP99), us(ps.WorstUndisturbedP99), ps.N-ps.Disturbed, ps.Saturated, ps.N)
		}
	}
	if c := r.Churn; c != nil {
		row("churn", "%d cycles (%.0f/s) at concurrency %d, errors %d", c.Cycles, c.PerSec, c.Concurrency, c.Errors)
		row("handshake", "%s", c.Handshake)
		row("join", "%s", c.Join)
	}
	if i := r.Idle; i != nil {
		row("idle", "%d sessions, %d pings, %d ping errors", i.Sessions, i.Pings, i.PingErrors)
	}
	r.writeServer(row)
	row("client", "cpu %.1f s (%.2f cores)", r.Client.CPUSecs, r.Client.Cores)
	if r.Load.BusyCores > 0 {
		row("machine", "%.2f of %d cores busy, %.2f of them other processes", r.Load.BusyCores, r.Machine.CPUs, r.Load.OtherCores)
	}
	r.writeMetrics(row)
	for _, e := range r.Errors {
		row("error", "%d× %s", e.Count, e.Msg)
	}
	return w.Flush()
}

func (r *Report) writeServer(row func(k, format string, a ...any)) {
	sv := r.Server
	if sv == nil {
		return
	}
	var extra []string
	if sv.CPUPerMsgUS > 0 {
		extra = append(extra, fmt.Sprintf("%.2f µs per delivered loc", sv.CPUPerMsgUS))
	}
	if sv.CPUPerCycleUS > 0 {
		extra = append(extra, fmt.Sprintf("%.1f µs per churn cycle", sv.CPUPerCycleUS))
	}
	row("server cpu", "%.2f s (%.2f cores; %.0f%% in the kernel) %s", sv.CPUSecs, sv.Cores, 100*sv.SysSecs/max(sv.CPUSecs, 0.01), strings.Join(extra, ", "))
	row("server rss", "base %s, at go %s, end %s; %.0f B (%.2f KiB) per session above base",
		mib(sv.Base.RSS), mib(sv.Ready.RSS), mib(sv.End.RSS), sv.RSSPerSession, sv.RSSPerSession/1024)
	if sv.Err != "" {
		row("server err", "%s", sv.Err)
	}
}

func (r *Report) writeMetrics(row func(k, format string, a ...any)) {
	m := r.Metrics
	if m == nil {
		return
	}
	if m.Err != "" {
		row("metrics", "error: %s", m.Err)
		return
	}
	row("metrics", "loc sent %+.0f, accepted %+.0f, active sessions at go %.0f, heap in use at go %s",
		m.Delta(`compass_messages_sent_total{type="loc"}`), m.Delta("compass_connections_accepted_total"),
		m.Ready[`compass_sessions{state="active"}`], mib(int64(m.Ready["go_memstats_heap_inuse_bytes"])))
}

func (s Summary) String() string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)",
		us(s.P50), us(s.P90), us(s.P99), us(s.P999), us(s.Max), s.Count)
}

func us(v int64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fms", float64(v)/1000)
	}
	return fmt.Sprintf("%dµs", v)
}

func (m Machine) line() string {
	return fmt.Sprintf("%d CPU %s, %s, linux %s", m.CPUs, m.CPUModel, m.GoVersion, m.Kernel)
}
