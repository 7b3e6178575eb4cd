package session

import (
	"sync/atomic"
	"time"
)

// Fanout follows one message to many sessions and reports once, when the
// last recipient's write of it has returned (or it was dropped), the time
// since it started. The publisher holds it open until every recipient has
// been queued (Release), so it cannot finish early.
type Fanout struct {
	start   time.Time
	pending atomic.Int32
	done    func(time.Duration)
}

// NewFanout starts tracking at start; done is called once at the end.
func NewFanout(start time.Time, done func(time.Duration)) *Fanout {
	f := &Fanout{start: start, done: done}
	f.pending.Store(1) // the publisher's hold
	return f
}

// Release drops the publisher's hold, once every recipient is queued.
func (f *Fanout) Release() { f.Done() }

// Done reports one recipient finished.
func (f *Fanout) Done() {
	if f.pending.Add(-1) == 0 {
		f.done(time.Since(f.start))
	}
}
