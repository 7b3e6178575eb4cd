package session_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/session"
)

type nopConn struct{}

func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
func (nopConn) Close() error                { return nil }

type nopMetric struct{}

func (nopMetric) Add(float64) {}

var limits = &session.Limits{QueueBytes: 1 << 16, QueueMessages: 64, SentBytes: nopMetric{}, Buffered: nopMetric{}}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// spec describes one test session.
type spec struct {
	user   string // "" stays handshaking
	remote string
	groups []string
	seen   time.Duration // after t0
	msgs   uint64
	abuse  int
	closed bool
}

func newSession(fd int, sp spec) *session.Session {
	if sp.remote == "" {
		sp.remote = "127.0.0.1"
	}
	s := session.New(nopConn{}, fd, netip.AddrPortFrom(netip.MustParseAddr(sp.remote), uint16(1000+fd)), t0, limits)
	if sp.user != "" {
		s.Activate(sp.user)
	}
	for _, g := range sp.groups {
		s.AddGroup(g)
	}
	s.Seen(t0.Add(sp.seen))
	s.MsgsIn.Add(sp.msgs)
	for range sp.abuse {
		s.AddAbuse(time.Now(), time.Hour)
	}
	if sp.closed {
		s.Close("kicked")
	}
	return s
}

// fill adds one session per spec, in order, and returns them.
func fill(t *session.Table, specs ...spec) []*session.Session {
	out := make([]*session.Session, len(specs))
	for i, sp := range specs {
		out[i] = newSession(i+3, sp)
		t.Add(out[i])
	}
	return out
}

func ids(ss []*session.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func pick(ss []*session.Session, idx ...int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = ss[j].ID
	}
	return out
}

// walk pages through q to the end and returns every session returned.
func walk(t *testing.T, p *session.Pager, q session.Query, between func()) []*session.Session {
	t.Helper()
	var all []*session.Session
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		page, err := p.List(q)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		all = append(all, page.Sessions...)
		if page.NextPageToken == "" {
			return all
		}
		q.PageToken = page.NextPageToken
		if between != nil {
			between()
		}
	}
}

func TestParseOrder(t *testing.T) {
	tests := []struct {
		in   string
		want session.Order
		err  bool
	}{
		{"", session.Order{Key: session.ByConnected}, false},
		{"connected_at", session.Order{Key: session.ByConnected}, false},
		{"connected_at desc", session.Order{Key: session.ByConnected, Desc: true}, false},
		{"last_seen_at", session.Order{Key: session.ByLastSeen}, false},
		{"  abuse_score   desc ", session.Order{Key: session.ByAbuse, Desc: true}, false},
		{"messages_in desc", session.Order{Key: session.ByMessagesIn, Desc: true}, false},
		{"messages_in asc", session.Order{}, true},
		{"user", session.Order{}, true},
		{"desc", session.Order{}, true},
		{"connected_at desc desc", session.Order{}, true},
		{"Connected_At", session.Order{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := session.ParseOrder(tt.in)
			if tt.err {
				if !errors.Is(err, session.ErrBadOrder) {
					t.Fatalf("err = %v, want ErrBadOrder", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestListFilter(t *testing.T) {
	tab := session.NewTable()
	ss := fill(tab,
		spec{user: "alice", remote: "10.0.0.1", groups: []string{"g1", "g2"}},
		spec{user: "bob", remote: "10.0.1.2", groups: []string{"g1"}},
		spec{user: "alice", remote: "2001:db8::1", groups: []string{"g2"}},
		spec{remote: "10.0.0.9"}, // handshaking
		spec{user: "carol", remote: "192.0.2.1", closed: true},
	)
	p := session.NewPager(tab, session.PagerOptions{})
	tests := []struct {
		name string
		f    session.Filter
		want []int
	}{
		{"everything", session.Filter{}, []int{0, 1, 2, 3, 4}},
		{"user", session.Filter{User: "alice"}, []int{0, 2}},
		{"unknown user", session.Filter{User: "zed"}, nil},
		{"group", session.Filter{Group: "g1"}, []int{0, 1}},
		{"address", session.Filter{Remote: netip.MustParsePrefix("10.0.1.2/32")}, []int{1}},
		{"cidr", session.Filter{Remote: netip.MustParsePrefix("10.0.0.0/24")}, []int{0, 3}},
		{"wide cidr", session.Filter{Remote: netip.MustParsePrefix("10.0.0.0/8")}, []int{0, 1, 3}},
		{"v6", session.Filter{Remote: netip.MustParsePrefix("2001:db8::/32")}, []int{2}},
		{"handshaking", session.Filter{State: session.Handshaking}, []int{3}},
		{"active", session.Filter{State: session.Active}, []int{0, 1, 2}},
		{"closing", session.Filter{State: session.Closing}, []int{4}},
		{"combined", session.Filter{User: "alice", Group: "g2", Remote: netip.MustParsePrefix("10.0.0.0/8")}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := p.List(session.Query{Filter: tt.f})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ids(page.Sessions), pick(ss, tt.want...); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if page.Total != len(tt.want) || page.NextPageToken != "" {
				t.Fatalf("total %d, next %q; want %d, none", page.Total, page.NextPageToken, len(tt.want))
			}
		})
	}
}

func TestListOrder(t *testing.T) {
	tab := session.NewTable()
	ss := fill(tab,
		spec{user: "a", seen: 3 * time.Second, msgs: 5, abuse: 0},
		spec{user: "b", seen: 1 * time.Second, msgs: 9, abuse: 2},
		spec{user: "c", seen: 2 * time.Second, msgs: 1, abuse: 7},
		spec{user: "d", seen: 5 * time.Second, msgs: 3, abuse: 1},
	)
	p := session.NewPager(tab, session.PagerOptions{})
	tests := []struct {
		order string
		want  []int
	}{
		{"", []int{0, 1, 2, 3}},
		{"connected_at desc", []int{3, 2, 1, 0}},
		{"last_seen_at", []int{1, 2, 0, 3}},
		{"last_seen_at desc", []int{3, 0, 2, 1}},
		{"abuse_score", []int{0, 3, 1, 2}},
		{"abuse_score desc", []int{2, 1, 3, 0}},
		{"messages_in", []int{2, 3, 0, 1}},
		{"messages_in desc", []int{1, 0, 3, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			o, err := session.ParseOrder(tt.order)
			if err != nil {
				t.Fatal(err)
			}
			for _, size := range []int{1, 3, 4, 0} { // every page size gives the same order
				got := walk(t, p, session.Query{Order: o, PageSize: size}, nil)
				if want := pick(ss, tt.want...); !slices.Equal(ids(got), want) {
					t.Fatalf("page size %d: got %v, want %v", size, ids(got), want)
				}
			}
		})
	}
}

func TestListTies(t *testing.T) {
	tab := session.NewTable()
	ss := fill(tab, spec{user: "a", msgs: 1}, spec{user: "b", msgs: 1}, spec{user: "c", msgs: 1})
	byID := ids(ss)
	slices.Sort(byID)
	p := session.NewPager(tab, session.PagerOptions{})
	page, err := p.List(session.Query{Order: session.Order{Key: session.ByMessagesIn}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page.Sessions); !slices.Equal(got, byID) {
		t.Fatalf("ties: got %v, want by session id %v", got, byID)
	}
}

func TestListPageSize(t *testing.T) {
	tab := session.NewTable()
	specs := make([]spec, session.MaxPageSize+5)
	for i := range specs {
		specs[i] = spec{user: "u"}
	}
	fill(tab, specs...)
	p := session.NewPager(tab, session.PagerOptions{})
	tests := []struct {
		size, want int
	}{
		{0, session.DefaultPageSize},
		{1, 1},
		{250, 250},
		{session.MaxPageSize, session.MaxPageSize},
		{5000, session.MaxPageSize},
	}
	for _, tt := range tests {
		for _, order := range []string{"connected_at", "messages_in"} {
			t.Run(fmt.Sprintf("%d/%s", tt.size, order), func(t *testing.T) {
				o, _ := session.ParseOrder(order)
				page, err := p.List(session.Query{Order: o, PageSize: tt.size})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Sessions) != tt.want || page.Total != len(specs) || page.NextPageToken == "" {
					t.Fatalf("got %d sessions (total %d, next %q), want %d", len(page.Sessions), page.Total, page.NextPageToken, tt.want)
				}
			})
		}
	}
	if _, err := p.List(session.Query{PageSize: -1}); !errors.Is(err, session.ErrBadPageSize) {
		t.Fatalf("negative page size: %v, want ErrBadPageSize", err)
	}
}

func TestListTokenErrors(t *testing.T) {
	tab := session.NewTable()
	fill(tab, spec{user: "a", groups: []string{"g"}}, spec{user: "b", groups: []string{"g"}}, spec{user: "c", groups: []string{"g"}})
	now := t0
	p := session.NewPager(tab, session.PagerOptions{Snapshots: 2, TTL: time.Minute, Now: func() time.Time { return now }})
	first := func(q session.Query) string {
		t.Helper()
		q.PageSize = 1
		page, err := p.List(q)
		if err != nil || page.NextPageToken == "" {
			t.Fatalf("first page: %v, next %q", err, page.NextPageToken)
		}
		return page.NextPageToken
	}
	byMsgs := session.Query{Order: session.Order{Key: session.ByMessagesIn}}
	byConn := session.Query{}
	tests := []struct {
		name  string
		query session.Query
		token func() string
		want  error
	}{
		{"garbage", byConn, func() string { return "!!not base64!!" }, session.ErrBadPageToken},
		{"empty payload", byConn, func() string { return "AAAA" }, session.ErrBadPageToken},
		{"truncated", byConn, func() string { return first(byConn)[:8] }, session.ErrBadPageToken},
		{"extended", byConn, func() string { return first(byConn) + "AA" }, session.ErrBadPageToken},
		{"other user", session.Query{Filter: session.Filter{User: "a"}}, func() string { return first(byConn) }, session.ErrBadPageToken},
		{"other group", session.Query{Filter: session.Filter{Group: "g"}}, func() string { return first(byConn) }, session.ErrBadPageToken},
		{"other state", session.Query{Filter: session.Filter{State: session.Active}}, func() string { return first(byConn) }, session.ErrBadPageToken},
		{"other remote", session.Query{Filter: session.Filter{Remote: netip.MustParsePrefix("127.0.0.0/8")}}, func() string { return first(byConn) }, session.ErrBadPageToken},
		{"other direction", session.Query{Order: session.Order{Desc: true}}, func() string { return first(byConn) }, session.ErrBadPageToken},
		{"keyset token on a snapshot order", byMsgs, func() string { return first(byConn) }, session.ErrBadPageToken},
		{"snapshot token on another key", session.Query{Order: session.Order{Key: session.ByAbuse}}, func() string { return first(byMsgs) }, session.ErrBadPageToken},
		{"expired", byMsgs, func() string {
			tok := first(byMsgs)
			now = now.Add(time.Minute + time.Second)
			return tok
		}, session.ErrPageTokenExpired},
		{"evicted", byMsgs, func() string {
			tok := first(byMsgs)
			first(byMsgs)
			first(byMsgs) // a third walk evicts the first (2 snapshots kept)
			return tok
		}, session.ErrPageTokenExpired},
		{"keyset tokens do not expire", byConn, func() string {
			tok := first(byConn)
			now = now.Add(time.Hour)
			return tok
		}, nil},
		{"used snapshots stay", byMsgs, func() string {
			tok := first(byMsgs)
			now = now.Add(50 * time.Second)
			q := byMsgs
			q.PageToken, q.PageSize = tok, 1
			page, err := p.List(q)
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(50 * time.Second) // 100 s after the first page, 50 after the last use
			return page.NextPageToken
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.query
			q.PageToken = tt.token()
			_, err := p.List(q)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestListDuringWalk shows what happens to sessions that open or close
// during a walk, per kind of order.
func TestListDuringWalk(t *testing.T) {
	for _, order := range []string{"connected_at", "connected_at desc", "messages_in", "last_seen_at desc"} {
		t.Run(order, func(t *testing.T) {
			tab := session.NewTable()
			ss := fill(tab, spec{user: "a"}, spec{user: "b"}, spec{user: "c"}, spec{user: "d"})
			p := session.NewPager(tab, session.PagerOptions{})
			o, _ := session.ParseOrder(order)
			late := newSession(99, spec{user: "late"})
			var changed bool
			got := walk(t, p, session.Query{Order: o, PageSize: 1}, func() {
				if !changed {
					changed = true
					tab.Add(late)
					for _, s := range ss {
						s.MsgsIn.Add(uint64(rand.IntN(100))) // reshuffle the mutable keys
						s.Seen(time.Now())
					}
				}
			})
			inWalk := slices.Contains(got, late)
			if want := order == "connected_at"; inWalk != want {
				t.Fatalf("session opened during the walk returned: %v, want %v", inWalk, want)
			}
			for _, s := range ss {
				if n := count(got, s); n != 1 {
					t.Fatalf("session %s returned %d times", s.ID, n)
				}
			}
		})
	}
}

func count(ss []*session.Session, s *session.Session) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

var allOrders = []string{
	"connected_at", "connected_at desc", "last_seen_at", "last_seen_at desc",
	"abuse_score", "abuse_score desc", "messages_in", "messages_in desc",
}

// TestListChurn pages through a table while other goroutines add, remove
// and update sessions: every session alive from the first page to the last
// is returned exactly once, and no session is returned twice.
func TestListChurn(t *testing.T) {
	for _, order := range allOrders {
		for _, size := range []int{1, 7, 50} {
			t.Run(fmt.Sprintf("%s/%d", order, size), func(t *testing.T) {
				t.Parallel()
				churnWalk(t, order, size)
			})
		}
	}
}

func churnWalk(t *testing.T, order string, size int) {
	o, err := session.ParseOrder(order)
	if err != nil {
		t.Fatal(err)
	}
	tab := session.NewTable()
	var stable, transient []*session.Session
	for i := range 300 {
		s := newSession(i, spec{user: fmt.Sprint("u", i%10), groups: []string{"g"}, msgs: uint64(i % 17)})
		tab.Add(s)
		if i%3 == 0 {
			transient = append(transient, s)
		} else {
			stable = append(stable, s)
		}
	}
	c := &churner{tab: tab, victims: transient, all: append(slices.Clone(stable), transient...), next: 1000}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.run(stop) })
	p := session.NewPager(tab, session.PagerOptions{})
	got := walk(t, p, session.Query{Filter: session.Filter{Group: "g"}, Order: o, PageSize: size}, c.step)
	close(stop)
	wg.Wait()

	seen := map[*session.Session]int{}
	for _, s := range got {
		if seen[s]++; seen[s] > 1 {
			t.Fatalf("session %d returned twice", s.Seq)
		}
	}
	for _, s := range stable {
		if seen[s] != 1 {
			t.Fatalf("stable session %d returned %d times (of %d returned)", s.Seq, seen[s], len(got))
		}
	}
	if c.steps() == 0 {
		t.Fatal("no churn happened")
	}
}

const maxChurnFD = 1000 + 600

// churner changes the table: it opens sessions, closes the transient ones
// and updates the sort keys of all.
type churner struct {
	tab *session.Table
	mu  sync.Mutex
	rng *rand.Rand

	victims []*session.Session // may be removed
	all     []*session.Session // keys may change
	next    int
	n       int
}

func (c *churner) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
			c.step()
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func (c *churner) step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rng == nil {
		c.rng = rand.New(rand.NewPCG(1, 2))
	}
	c.n++
	if c.next < maxChurnFD { // bounded, so that an ascending keyset walk ends
		s := newSession(c.next, spec{user: "new", groups: []string{"g"}, msgs: uint64(c.rng.IntN(20))})
		c.next++
		c.tab.Add(s)
		c.victims = append(c.victims, s)
		c.all = append(c.all, s)
	}
	if len(c.victims) > 0 {
		i := c.rng.IntN(len(c.victims))
		c.tab.Remove(c.victims[i])
		c.victims = slices.Delete(c.victims, i, i+1)
	}
	for range 10 {
		x := c.all[c.rng.IntN(len(c.all))]
		x.MsgsIn.Add(uint64(c.rng.IntN(30)))
		x.Seen(time.Now().Add(time.Duration(c.rng.IntN(1000)) * time.Millisecond))
		x.AddAbuse(time.Now(), time.Hour)
	}
}

func (c *churner) steps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
