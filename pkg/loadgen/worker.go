package loadgen

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Event kinds a worker emits, in this order: progress (any number, once a
// second), ready, progress, result, closed. error replaces whatever was
// left when the worker fails.
const (
	EventProgress = "progress"
	EventReady    = "ready"
	EventResult   = "result"
	EventClosed   = "closed"
	EventError    = "error"
)

// Phases named in progress events.
const (
	PhaseSetup    = "setup"
	PhaseReady    = "ready"
	PhaseRun      = "run"
	PhaseDrain    = "drain"
	PhaseTeardown = "teardown"
)

// Event is what a worker tells the coordinator.
type Event struct {
	Kind   string        `json:"kind"`
	Worker int           `json:"worker"`
	Phase  string        `json:"phase,omitempty"`
	Snap   *Snapshot     `json:"snap,omitempty"`
	Result *WorkerResult `json:"result,omitempty"`
	Err    string        `json:"err,omitempty"`
	// Latency of the deliveries since the previous progress event.
	WinP99 int64 `json:"win_p99_us,omitempty"`
	WinMax int64 `json:"win_max_us,omitempty"`
}

// WorkerResult is one worker's account of the measured phase.
type WorkerResult struct {
	Worker    int         `json:"worker"`
	PID       int         `json:"pid"`
	Sessions  int         `json:"sessions"` // long-lived sessions asked for
	Total     Snapshot    `json:"total"`    // since the worker started
	Run       Snapshot    `json:"run"`      // from go to the end of the drain
	RunSecs   float64     `json:"run_s"`    // the measured phase, drain excluded
	DrainSecs float64     `json:"drain_s"`
	CPUSecs   float64     `json:"cpu_s"` // this process, user + system, go to end of drain
	Latency   EncodedHist `json:"latency,omitempty"`
	Handshake EncodedHist `json:"handshake,omitempty"`
	Join      EncodedHist `json:"join,omitempty"`
	Errors    []ErrCount  `json:"errors,omitempty"`
}

// Control connects a worker to its coordinator. Emit must be safe for
// concurrent use.
type Control struct {
	Start <-chan struct{} // closed: begin the measured phase
	Close <-chan struct{} // closed: tear down after the result
	Emit  func(Event)
}

// worker is one Part being run.
type worker struct {
	part  *Part
	dial  *dialer
	c     Counters
	errs  errSample
	lat   *Hist // fanout: send to receipt
	win   *Hist // the same, since the last progress event
	hs    *Hist // churn: dial + handshake
	join  *Hist // churn: join to joined
	epoch time.Time
	phase atomic.Value // string
	down  atomic.Bool  // teardown: clients end because we close them

	idle  *idleSet
	fan   *fanout
	churn *churner
}

// RunWorker runs p through every phase, telling ctl what happens. It
// returns when the teardown is done, or early (after closing every
// session) when ctx ends or the coordinator goes away.
func RunWorker(ctx context.Context, p Part, ctl Control) error {
	p.Defaults()
	w := &worker{part: &p, dial: newDialer(&p), lat: NewHist(), win: NewHist(), hs: NewHist(), join: NewHist(), epoch: time.Now()}
	w.phase.Store(PhaseSetup)
	w.idle = newIdleSet(w)
	w.fan = newFanout(w)
	w.churn = newChurner(w)
	stopProgress := w.progress(ctl.Emit)
	defer w.teardown()
	defer stopProgress()
	if err := w.setup(ctx); err != nil {
		return err
	}
	w.phase.Store(PhaseReady)
	snap := w.c.Snapshot()
	ctl.Emit(Event{Kind: EventReady, Worker: p.Worker, Snap: &snap})
	if err := wait(ctx, ctl.Start); err != nil {
		return err
	}
	res := w.run(ctx)
	ctl.Emit(Event{Kind: EventResult, Worker: p.Worker, Result: res})
	if err := wait(ctx, ctl.Close); err != nil {
		return err
	}
	stopProgress()
	w.teardown()
	ctl.Emit(Event{Kind: EventClosed, Worker: p.Worker})
	return nil
}

func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setup opens every long-lived session (idle, fanout) and joins groups.
func (w *worker) setup(ctx context.Context) error {
	jobs := make(chan func(context.Context), w.part.Setup)
	var wg sync.WaitGroup
	for range w.part.Setup {
		wg.Go(func() {
			for job := range jobs {
				job(ctx)
			}
		})
	}
	w.idle.jobs(jobs)
	w.fan.jobs(jobs)
	close(jobs)
	wg.Wait()
	return ctx.Err()
}

// run is the measured phase and the drain.
func (w *worker) run(ctx context.Context) *WorkerResult {
	p := w.part
	before, cpu0 := w.c.Snapshot(), cpuTime()
	start := time.Now()
	w.phase.Store(PhaseRun)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	w.fan.start(&wg, stop)
	w.churn.start(ctx, &wg, stop)
	w.idle.start(ctx, &wg, stop)
	select {
	case <-time.After(p.Duration):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	runSecs := time.Since(start).Seconds()
	w.phase.Store(PhaseDrain)
	drainStart := time.Now()
	w.drain(ctx)
	res := &WorkerResult{
		Worker: p.Worker, PID: os.Getpid(), Sessions: p.Sessions(),
		Total: w.c.Snapshot(), RunSecs: runSecs, DrainSecs: time.Since(drainStart).Seconds(),
		CPUSecs: cpuTime() - cpu0, Errors: w.errs.list(),
		Latency: Encode(w.lat.Merged()), Handshake: Encode(w.hs.Merged()), Join: Encode(w.join.Merged()),
	}
	res.Run = res.Total.Sub(before)
	return res
}

// drain waits for the deliveries still in flight, up to Drain.
func (w *worker) drain(ctx context.Context) {
	deadline := time.Now().Add(w.part.Drain)
	for w.c.Delivered.Load() < w.c.Expected.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// teardown closes every session; safe to call twice.
func (w *worker) teardown() {
	if w.down.Swap(true) {
		return
	}
	w.phase.Store(PhaseTeardown)
	w.idle.close()
	w.fan.close()
}

// progress emits a snapshot once a second until the returned stop is
// called (safe to call twice).
func (w *worker) progress(emit func(Event)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			w.idle.scan()
			s := w.c.Snapshot()
			win := w.win.Take()
			emit(Event{Kind: EventProgress, Worker: w.part.Worker, Phase: w.phase.Load().(string), Snap: &s,
				WinP99: win.ValueAtQuantile(99), WinMax: win.Max()})
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// record adds one delivery's latency.
func (w *worker) record(key int, d time.Duration) {
	w.lat.Record(key, d)
	w.win.Record(key, d)
}

// since returns the monotonic time since the worker's epoch.
func (w *worker) since() time.Duration { return time.Since(w.epoch) }

// cpuTime returns this process's user + system CPU seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
