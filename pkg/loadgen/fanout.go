package loadgen

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ucompass/compass/pkg/client"
)

// The send-time ring: slot seq&ringMask holds the sequence number's low
// tagBits above the send time in nanoseconds since the worker's epoch
// (timeBits: 39 hours).
const (
	ringSize = 64
	ringMask = ringSize - 1
	timeBits = 47
	tagBits  = 16
	timeMask = 1<<timeBits - 1
	tagMask  = 1<<tagBits - 1
)

// fanout runs G groups of M members, each member publishing Rate loc a
// second to its group.
type fanout struct {
	w       *worker
	groups  []*fgroup                 // local group i is global GroupFirst+i
	members []*member                 // local member j is global GroupFirst*Members+j; nil unless joined
	mu      sync.Mutex                // members, during setup
	frozen  atomic.Pointer[[]*member] // members once setup is over: read by consumers
	prefix  string                    // user names are prefix + global index
	readers sync.WaitGroup            // one consumer per client
}

type fgroup struct {
	name string
	mu   sync.Mutex
	live []*member // joined; fixed once setup is over
}

type member struct {
	idx      int // global index: group*Members + position
	c        *client.Client
	lat, lng float64
	joined   atomic.Bool
	seq      int64 // the group's pacer only
	ring     [ringSize]atomic.Int64
	last     []int64 // newest sequence number seen per position; the consumer only
}

func newFanout(w *worker) *fanout {
	p := w.part
	f := &fanout{w: w, prefix: p.Prefix + "m", members: make([]*member, p.GroupN*p.Members)}
	for i := range p.GroupN {
		f.groups = append(f.groups, &fgroup{name: p.group("g", p.GroupFirst+i)})
	}
	return f
}

func (f *fanout) jobs(jobs chan<- func(context.Context)) {
	p := f.w.part
	for i, g := range f.groups {
		for k := range p.Members {
			idx := (p.GroupFirst+i)*p.Members + k
			jobs <- func(ctx context.Context) { f.open(ctx, g, idx) }
		}
	}
}

// open dials member idx, starts its consumer and joins its group.
func (f *fanout) open(ctx context.Context, g *fgroup, idx int) {
	w := f.w
	c, err := w.dial.dial(ctx, f.prefix+strconv.Itoa(idx), []string{g.name}, w.part.Inbox)
	if err != nil {
		w.c.DialErrors.Add(1)
		w.errs.add("dial", err)
		return
	}
	m := &member{idx: idx, c: c, last: make([]int64, w.part.Members),
		lat: 37.5 + float64(idx%1000)/1e4, lng: 127 + float64(idx/1000%1000)/1e4}
	f.readers.Go(func() { f.consume(m) })
	jctx, cancel := context.WithTimeout(ctx, w.part.DialTimeout)
	_, err = c.Join(jctx, g.name)
	cancel()
	if err != nil {
		w.c.JoinErrors.Add(1)
		w.errs.add("join", err)
		c.Close()
		return
	}
	m.joined.Store(true)
	w.c.Connected.Add(1)
	g.mu.Lock()
	g.live = append(g.live, m)
	g.mu.Unlock()
	f.mu.Lock()
	f.members[idx-w.part.GroupFirst*w.part.Members] = m
	f.mu.Unlock()
}

// consume takes every message of m's client until it ends.
func (f *fanout) consume(m *member) {
	w := f.w
	for msg := range m.c.Messages() {
		switch msg.Type {
		case "loc":
			f.loc(m, &msg)
		case "presence":
			w.c.Presence.Add(1)
		case "error":
			w.c.ServerErrors.Add(1)
			w.errs.add("server", &client.ServerError{Code: msg.Code, Msg: msg.Msg})
		case "bye":
			w.c.Byes.Add(1)
			w.errs.add("bye", &client.ServerError{Code: msg.Reason, Msg: msg.Msg})
		}
	}
	if m.joined.Load() {
		w.c.Connected.Add(-1)
		if !w.down.Load() {
			w.c.Ended.Add(1)
		}
	}
}

// loc accounts one delivery to r: latency from the sender's ring, order
// from its sequence number.
func (f *fanout) loc(r *member, msg *client.Message) {
	now := f.w.since()
	w := f.w
	w.c.Delivered.Add(1)
	s := f.sender(msg.User)
	if s == nil || msg.Acc == nil {
		w.c.Foreign.Add(1)
		return
	}
	seq := int64(*msg.Acc)
	if v := s.ring[seq&ringMask].Load(); v>>timeBits == seq&tagMask {
		w.record(r.idx, now-time.Duration(v&timeMask))
	} else if msg.TS != nil {
		w.c.Coarse.Add(1)
		w.record(r.idx, time.Since(time.UnixMilli(*msg.TS)))
	}
	k := s.idx % w.part.Members
	if seq <= r.last[k] {
		w.c.Reordered.Add(1)
		return
	}
	r.last[k] = seq
}

// sender finds a local member by user name.
func (f *fanout) sender(user string) *member {
	n, ok := strings.CutPrefix(user, f.prefix)
	if !ok {
		return nil
	}
	members := f.frozen.Load()
	idx, err := strconv.Atoi(n)
	j := idx - f.w.part.GroupFirst*f.w.part.Members
	if err != nil || members == nil || j < 0 || j >= len(*members) {
		return nil
	}
	return (*members)[j]
}

// start runs one pacer per group until stop.
func (f *fanout) start(wg *sync.WaitGroup, stop <-chan struct{}) {
	f.mu.Lock()
	members := append([]*member(nil), f.members...)
	f.mu.Unlock()
	f.frozen.Store(&members)
	for _, g := range f.groups {
		if len(g.live) > 0 {
			wg.Go(func() { f.pace(g, stop) })
		}
	}
}

// pace makes each member of g publish Rate loc a second, the group's
// sends evenly spaced, starting at a random phase. A pacer more than one
// round late skips ahead rather than burst (the server's rate limit).
func (f *fanout) pace(g *fgroup, stop <-chan struct{}) {
	n := len(g.live)
	every := max(time.Duration(float64(time.Second)/(f.w.part.Rate*float64(n))), time.Microsecond)
	next := time.Now().Add(rand.N(every))
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		f.send(g, g.live[i%n])
		next = next.Add(every)
		if late := time.Since(next); late > every*time.Duration(n) {
			next = time.Now()
		}
		t.Reset(time.Until(next))
	}
}

// send publishes one loc of m, recording its send time first.
func (f *fanout) send(g *fgroup, m *member) {
	w := f.w
	m.seq++
	seq := m.seq
	ts, acc := time.Now().UnixMilli(), float64(seq)
	m.ring[seq&ringMask].Store((seq&tagMask)<<timeBits | int64(w.since())&timeMask)
	want := int64(len(g.live) - 1)
	w.c.Expected.Add(want)
	if err := m.c.LocNoAck(client.Loc{Lat: m.lat, Lng: m.lng, Acc: &acc, TS: &ts}); err != nil {
		w.c.Expected.Add(-want)
		w.c.SendErrors.Add(1)
		w.errs.add("send", err)
		return
	}
	w.c.Sent.Add(1)
}

// close ends every client and waits for the consumers.
func (f *fanout) close() {
	var clients []*client.Client
	for _, g := range f.groups {
		for _, m := range g.live {
			clients = append(clients, m.c)
		}
	}
	closeAll(clients, f.w.part.Setup)
	f.readers.Wait()
}
