package dataplane

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cloudwego/netpoll"
)

// onceListener makes Close idempotent: netpoll's Listener.Close closes the
// raw fd every time, and EventLoop.Shutdown closes it again after us; a
// second close could hit an fd the kernel has since given to a client.
type onceListener struct {
	netpoll.Listener
	once sync.Once
	err  error
}

func (l *onceListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// sweep closes idle sessions and expires bans until drain stops it.
func (s *Server) sweep() {
	defer close(s.sweepDone)
	every := min(max(s.cfg.Heartbeat/4, 50*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case now := <-t.C:
			s.sweepIdle(now)
			s.d.Bans.Expire()
			s.sweepHardening()
		}
	}
}

func (s *Server) sweepIdle(now time.Time) {
	limit := 3 * s.cfg.Heartbeat
	for _, sess := range s.d.Table.All() {
		if sess.Activated() && now.Sub(sess.LastSeen()) > limit {
			s.bye(sess, ByeIdle, "no message for three heartbeats", -1)
		}
	}
}

// drain stops accepting, tells every session to reconnect elsewhere, spread
// over most of the drain window, and closes what is left at the deadline.
func (s *Server) drain(ctx context.Context) error {
	s.draining.Store(true)
	s.ready.Store(false)
	s.d.Metrics.Ready.Set(0)
	_ = s.ln.Close()
	close(s.sweepStop)
	<-s.sweepDone
	s.log.Info("draining", "sessions", s.d.Table.Len())

	s.spreadByes(ctx)
	s.waitConns(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.loop.Shutdown(sctx)
	s.closeAll()
	s.waitConns(ctx)
	<-s.served
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // leftovers were closed by closeAll
	}
	s.log.Info("data plane drained", "left", s.Conns())
	return err
}

// spreadByes sends bye shutdown (retry at once, elsewhere) to every session
// in batches over 80 % of the time left, so that the clients do not all
// reconnect to the other replicas in one burst.
func (s *Server) spreadByes(ctx context.Context) {
	sessions := s.d.Table.All()
	if len(sessions) == 0 {
		return
	}
	window := time.Second
	if dl, ok := ctx.Deadline(); ok {
		window = time.Until(dl) * 8 / 10
	}
	steps := min(len(sessions), 50)
	per := (len(sessions) + steps - 1) / steps
	tick := window / time.Duration(steps)
	for i := 0; i < len(sessions); i += per {
		for _, sess := range sessions[i:min(i+per, len(sessions))] {
			s.bye(sess, ByeShutdown, "server shutting down", 0)
		}
		if i+per >= len(sessions) {
			break
		}
		select {
		case <-ctx.Done():
			tick = 0
		case <-time.After(tick):
		}
	}
}

// waitConns waits until every connection is closed or ctx ends.
func (s *Server) waitConns(ctx context.Context) {
	for s.Conns() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// closeAll closes every connection still open (sessions that never read
// their bye, connections still being sniffed).
func (s *Server) closeAll() {
	s.mu.Lock()
	left := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		left = append(left, c)
	}
	s.mu.Unlock()
	for _, c := range left {
		if sess := c.sess.Load(); sess != nil {
			sess.Close(ByeShutdown)
		} else {
			c.closeSilently(ByeShutdown)
		}
	}
}
