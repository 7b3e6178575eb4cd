package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Options tune Coordinate.
type Options struct {
	ServerPID  int       // read the server's CPU and RSS from /proc (0: do not)
	MetricsURL string    // scrape the server's /metrics at the phase edges ("": do not)
	Progress   io.Writer // one line a second (nil: none)
}

// metricPrefixes are the series kept from the server's /metrics.
var metricPrefixes = []string{
	"compass_messages_sent_total", "compass_messages_received_total",
	"compass_connections_accepted_total", "compass_connections_closed_total",
	"compass_sessions", "compass_kicks_total", "compass_protocol_errors_total",
	"go_memstats_heap_inuse_bytes", "go_goroutines",
}

// coordinator is one Coordinate call.
type coordinator struct {
	spec  Spec
	links []*Link
	o     Options
	start time.Time

	snaps   []Snapshot
	win     []Event // the latest progress event of each worker (latency window)
	phases  []string
	results []*WorkerResult
	ready   int
	closed  int
	goAt    time.Time

	server     serverSamples
	last       Snapshot // progress: the previous aggregate
	lastAt     time.Time
	lastProc   ProcSample
	lastBusy   float64 // the machine's busy CPU seconds at the previous point
	lastBusyAt time.Time
	lastClient float64 // this tool's CPU seconds at the previous point
	timeline   []Point
	atReady    Snapshot // the aggregate when every worker was ready

	quit  chan struct{} // closed: nobody reads fanIn's output any more
	fanWG sync.WaitGroup
}

// serverSamples are the server's figures at the phase edges.
type serverSamples struct {
	base, ready, end       ProcSample
	busyReady, busyEnd     float64 // the machine's busy CPU seconds (/proc/stat)
	busyReadyAt, busyEndAt time.Time
	mBase, mReady, mEnd    map[string]float64
	procErr, metricsErr    error
}

type linkEvent struct {
	Event
	link int
	end  bool // the link's output ended
}

// Coordinate runs spec on the given workers (one Part each) and returns
// the merged report. It closes every link before returning.
func Coordinate(ctx context.Context, spec Spec, links []*Link, o Options) (*Report, error) {
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	n := len(links)
	c := &coordinator{spec: spec, links: links, o: o, start: time.Now(),
		snaps: make([]Snapshot, n), win: make([]Event, n), phases: make([]string, n), results: make([]*WorkerResult, n),
		quit: make(chan struct{})}
	defer c.closeLinks()
	c.sample(&c.server.base, &c.server.mBase)
	for i, p := range Split(spec, n) {
		if err := links[i].Send(Command{Cmd: CmdPart, Part: &p}); err != nil {
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
	}
	if err := c.loop(ctx); err != nil {
		return nil, err
	}
	return c.report()
}

// loop handles events until every worker has closed.
func (c *coordinator) loop(ctx context.Context) error {
	events := c.fanIn()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	c.lastAt = time.Now()
	for c.closed < len(c.links) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			c.progress()
		case e := <-events:
			if err := c.handle(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// fanIn merges the links' events; its goroutines end with the links.
func (c *coordinator) fanIn() <-chan linkEvent {
	out := make(chan linkEvent)
	for i, l := range c.links {
		c.fanWG.Go(func() {
			for e := range l.Events() {
				select {
				case out <- linkEvent{Event: e, link: i}:
				case <-c.quit: // keep draining until the worker's output ends
				}
			}
			select {
			case out <- linkEvent{link: i, end: true}:
			case <-c.quit:
			}
		})
	}
	return out
}

func (c *coordinator) handle(e linkEvent) error {
	i := e.link
	if e.end {
		if c.phases[i] != EventClosed {
			return fmt.Errorf("worker %d ended unexpectedly in phase %s", i, c.phases[i])
		}
		return nil
	}
	if e.Snap != nil {
		c.snaps[i] = *e.Snap
	}
	switch e.Kind {
	case EventProgress:
		c.phases[i] = e.Phase
		c.win[i] = e.Event
	case EventReady:
		c.phases[i] = PhaseReady
		if c.ready++; c.ready == len(c.links) {
			return c.goAll()
		}
	case EventResult:
		c.phases[i] = "done"
		c.results[i] = e.Result
		c.snaps[i] = e.Result.Total
		if c.count() == len(c.links) {
			c.sample(&c.server.end, &c.server.mEnd)
			c.server.busyEnd, _, _ = clockTicks()
			c.server.busyEndAt = time.Now()
			return c.sendAll(CmdClose)
		}
	case EventClosed:
		c.phases[i] = EventClosed
		c.closed++
	case EventError:
		return fmt.Errorf("worker %d: %s", i, e.Err)
	}
	return nil
}

func (c *coordinator) count() int {
	n := 0
	for _, r := range c.results {
		if r != nil {
			n++
		}
	}
	return n
}

// goAll starts the measured phase everywhere.
func (c *coordinator) goAll() error {
	c.sample(&c.server.ready, &c.server.mReady)
	c.server.busyReady, _, _ = clockTicks()
	c.server.busyReadyAt = time.Now()
	c.atReady = c.total()
	c.progress() // every session is open: one line now, whatever the tick
	c.goAt = time.Now()
	for i := range c.phases {
		c.phases[i] = PhaseRun
	}
	return c.sendAll(CmdGo)
}

func (c *coordinator) sendAll(cmd string) error {
	for i, l := range c.links {
		if err := l.Send(Command{Cmd: cmd}); err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
	}
	return nil
}

// sample reads the server's /proc figures and metrics, if asked to.
func (c *coordinator) sample(p *ProcSample, m *map[string]float64) {
	if c.o.ServerPID > 0 {
		s, err := ReadProc(c.o.ServerPID)
		*p = s
		c.server.procErr = errors.Join(c.server.procErr, err)
	}
	if c.o.MetricsURL != "" {
		v, err := Scrape(c.o.MetricsURL, metricPrefixes...)
		*m = v
		c.server.metricsErr = errors.Join(c.server.metricsErr, err)
	}
}

// closeLinks ends every worker (aborting those not done) in parallel.
func (c *coordinator) closeLinks() {
	close(c.quit)
	defer c.fanWG.Wait()
	var wg sync.WaitGroup
	for _, l := range c.links {
		wg.Go(func() { _ = l.Close() })
	}
	wg.Wait()
}

// total sums the workers' latest snapshots.
func (c *coordinator) total() Snapshot {
	var t Snapshot
	for _, s := range c.snaps {
		t.Add(s)
	}
	return t
}
