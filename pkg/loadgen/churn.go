package loadgen

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// churner runs loops that connect, handshake, join a group of their own
// and disconnect, as fast as the server lets them (or at ChurnRate).
type churner struct {
	w *worker
}

func newChurner(w *worker) *churner { return &churner{w: w} }

func (c *churner) start(ctx context.Context, wg *sync.WaitGroup, stop <-chan struct{}) {
	p := c.w.part
	var every time.Duration
	if p.ChurnRateN > 0 {
		every = time.Duration(float64(p.ChurnN) / p.ChurnRateN * float64(time.Second))
	}
	for i := range p.ChurnN {
		wg.Go(func() { c.loop(ctx, i, every, stop) })
	}
}

// loop runs cycles until stop; with every > 0, one cycle per every.
func (c *churner) loop(ctx context.Context, i int, every time.Duration, stop <-chan struct{}) {
	p := c.w.part
	name := fmt.Sprintf("%d_%d", p.Worker, i)
	user, group := p.Prefix+"c"+name, p.Prefix+"k"+name
	next := time.Now()
	for {
		if every > 0 {
			next = next.Add(every)
			if time.Since(next) > time.Second {
				next = time.Now() // a stall: skip ahead rather than burst
			}
			if !sleep(time.Until(next), stop) {
				return
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		if err := c.cycle(ctx, i, user, group); err != nil {
			c.w.c.CycleErrors.Add(1)
			c.w.errs.add("churn", err)
			if !sleep(10*time.Millisecond, stop) { // do not spin on a refusing server
				return
			}
			continue
		}
		c.w.c.Cycles.Add(1)
	}
}

// cycle is one connect, handshake, join and close.
func (c *churner) cycle(ctx context.Context, i int, user, group string) error {
	w := c.w
	t0 := time.Now()
	cl, err := w.dial.dial(ctx, user, []string{group}, idleInbox)
	if err != nil {
		return err
	}
	defer cl.Close()
	t1 := time.Now()
	w.hs.Record(i, t1.Sub(t0))
	jctx, cancel := context.WithTimeout(ctx, w.part.DialTimeout)
	defer cancel()
	if _, err := cl.Join(jctx, group); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	w.join.Record(i, time.Since(t1))
	return nil
}

// sleep waits d, or reports false when stop comes first.
func sleep(d time.Duration, stop <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}
