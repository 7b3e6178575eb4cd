package metrics_test

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
)

// hotPath is what the data plane does per message: updates of children
// resolved once at start (dataplane's counters), never a label lookup.
type hotPath struct {
	inc     func()
	add     func(float64)
	observe func(float64)
}

func newHotPath(t testing.TB) hotPath {
	_, m := newRegistry(t)
	recv := m.Received.WithLabelValues("loc")
	bytesIn := m.ReceivedBytes
	fanout := m.FanoutDuration
	return hotPath{inc: recv.Inc, add: bytesIn.Add, observe: fanout.Observe}
}

// TestHotPathAllocatesNothing: a pre-resolved counter Inc/Add and a
// histogram Observe allocate nothing.
func TestHotPathAllocatesNothing(t *testing.T) {
	h := newHotPath(t)
	for name, f := range map[string]func(){
		"counter.Inc":       h.inc,
		"counter.Add":       func() { h.add(123) },
		"histogram.Observe": func() { h.observe(0.0007) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

// TestHotPathTakesNoLock hammers the hot-path updates from many goroutines
// with the mutex profiler recording every contention: a sync.Mutex or
// RWMutex on that path would show up under client_golang frames.
func TestHotPathTakesNoLock(t *testing.T) {
	h := newHotPath(t)
	prev := runtime.SetMutexProfileFraction(1)
	defer runtime.SetMutexProfileFraction(prev)
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range 20000 {
				h.inc()
				h.add(float64(i))
				h.observe(float64(i%100) / 1e4)
			}
		})
	}
	wg.Wait()
	var buf bytes.Buffer
	if err := pprof.Lookup("mutex").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(rec, "prometheus/client_golang") {
			t.Errorf("contended lock on the metrics hot path:\n%s", rec)
		}
	}
}

// BenchmarkHotPath measures the per-message metric updates, serially and
// from every CPU at once (run with -benchmem or see ReportAllocs: 0 B/op).
func BenchmarkHotPath(b *testing.B) {
	h := newHotPath(b)
	cases := []struct {
		name string
		f    func(int)
	}{
		{"CounterInc", func(int) { h.inc() }},
		{"CounterAdd", func(i int) { h.add(float64(i & 1023)) }},
		{"HistogramObserve", func(i int) { h.observe(float64(i&1023) / 1e5) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c.f(i)
			}
		})
		b.Run(c.name+"Parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					c.f(i)
				}
			})
		})
	}
}
