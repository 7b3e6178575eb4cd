package loadgen

import (
	"context"
	"sync"
	"time"

	"github.com/ucompass/compass/pkg/client"
)

// idleSet holds handshaken sessions that only ping.
type idleSet struct {
	w       *worker
	mu      sync.Mutex
	clients []*client.Client
	ended   []bool // scan's own: already counted as ended
	beat    time.Duration
}

func newIdleSet(w *worker) *idleSet { return &idleSet{w: w} }

// idleInbox is small: an idle session receives at most a bye.
const idleInbox = 4

func (s *idleSet) jobs(jobs chan<- func(context.Context)) {
	p := s.w.part
	for i := range p.IdleN {
		user := p.user("i", p.IdleFirst+i)
		jobs <- func(ctx context.Context) { s.open(ctx, user) }
	}
}

func (s *idleSet) open(ctx context.Context, user string) {
	c, err := s.w.dial.dial(ctx, user, nil, idleInbox)
	if err != nil {
		s.w.c.DialErrors.Add(1)
		s.w.errs.add("dial", err)
		return
	}
	s.mu.Lock()
	s.clients = append(s.clients, c)
	s.ended = append(s.ended, false)
	if s.beat == 0 {
		s.beat = time.Duration(c.Welcome().HeartbeatMS) * time.Millisecond
	}
	s.mu.Unlock()
	s.w.c.Connected.Add(1)
}

// scan counts sessions the server has ended; only the progress goroutine
// and the result call it, never at once.
func (s *idleSet) scan() {
	if s.w.down.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.clients {
		if s.ended[i] {
			continue
		}
		select {
		case <-c.Done():
			s.ended[i] = true
			s.w.c.Ended.Add(1)
			s.w.c.Connected.Add(-1)
		default:
		}
	}
}

// idlePingers share the pings of the idle sessions.
const idlePingers = 4

// start pings every session once per interval, spread evenly, until stop.
func (s *idleSet) start(ctx context.Context, wg *sync.WaitGroup, stop <-chan struct{}) {
	s.mu.Lock()
	clients := append([]*client.Client(nil), s.clients...)
	every := s.w.part.Ping
	if every <= 0 {
		every = s.beat
	}
	s.mu.Unlock()
	if len(clients) == 0 || every <= 0 {
		return
	}
	for j := range idlePingers {
		var mine []*client.Client
		for i := j; i < len(clients); i += idlePingers {
			mine = append(mine, clients[i])
		}
		wg.Go(func() { s.ping(ctx, mine, every, stop) })
	}
}

func (s *idleSet) ping(ctx context.Context, clients []*client.Client, every time.Duration, stop <-chan struct{}) {
	if len(clients) == 0 {
		return
	}
	gap := every / time.Duration(len(clients))
	next := time.Now()
	for i := 0; ; i = (i + 1) % len(clients) {
		next = next.Add(gap)
		select {
		case <-stop:
			return
		case <-time.After(time.Until(next)):
		}
		c := clients[i]
		if done(c) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.Ping(pctx)
		cancel()
		if err != nil {
			s.w.c.PingErrors.Add(1)
			s.w.errs.add("ping", err)
			continue
		}
		s.w.c.Pings.Add(1)
	}
}

func done(c *client.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

func (s *idleSet) close() {
	s.mu.Lock()
	clients, live := s.clients, 0
	for _, e := range s.ended {
		if !e {
			live++
		}
	}
	s.clients, s.ended = nil, nil
	s.mu.Unlock()
	closeAll(clients, s.w.part.Setup)
	s.w.c.Connected.Add(-int64(live))
}

// closeAll closes clients with n goroutines.
func closeAll(clients []*client.Client, n int) {
	var wg sync.WaitGroup
	n = max(1, min(n, len(clients)))
	for j := range n {
		wg.Go(func() {
			for i := j; i < len(clients); i += n {
				clients[i].Close()
			}
		})
	}
	wg.Wait()
}
