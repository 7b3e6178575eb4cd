package admin_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
)

func TestListSessionsFilters(t *testing.T) {
	e := start(t, setup{})
	alice := e.dial("alice", "127.0.0.1")
	bob := e.dial("bob", "127.0.0.2")
	alice2 := e.dial("alice", "127.0.0.3")
	join(t, alice, "g1")
	join(t, bob, "g1", "g2")
	join(t, alice2, "g2")
	hs := e.raw("127.0.0.2")
	if _, err := hs.Write([]byte("U-Compass/1\n")); err != nil { // handshaking until it says hello
		t.Fatal(err)
	}
	waitFor(t, "4 sessions", func() bool { return e.deps.Table.Len() == 4 })
	for range 3 {
		alice2.Ping(testCtx(t))
	}
	bob.Ping(testCtx(t))
	ids := map[*client.Client]string{alice: alice.Welcome().Session, bob: bob.Welcome().Session, alice2: alice2.Welcome().Session}
	tests := []struct {
		name string
		req  *adminv1.ListSessionsRequest
		want []*client.Client // nil entry: the handshaking session
	}{
		{"all", &adminv1.ListSessionsRequest{}, []*client.Client{alice, bob, alice2, nil}},
		{"user", &adminv1.ListSessionsRequest{User: "alice"}, []*client.Client{alice, alice2}},
		{"group", &adminv1.ListSessionsRequest{Group: "g2"}, []*client.Client{bob, alice2}},
		{"address", &adminv1.ListSessionsRequest{RemoteIp: "127.0.0.2"}, []*client.Client{bob, nil}},
		{"cidr", &adminv1.ListSessionsRequest{RemoteIp: "127.0.0.2/31"}, []*client.Client{bob, alice2, nil}},
		{"state active", &adminv1.ListSessionsRequest{State: adminv1.SessionState_SESSION_STATE_ACTIVE}, []*client.Client{alice, bob, alice2}},
		{"state handshaking", &adminv1.ListSessionsRequest{State: adminv1.SessionState_SESSION_STATE_HANDSHAKING}, []*client.Client{nil}},
		{"combined", &adminv1.ListSessionsRequest{User: "alice", Group: "g2", RemoteIp: "127.0.0.0/8"}, []*client.Client{alice2}},
		{"nothing", &adminv1.ListSessionsRequest{User: "carol"}, nil},
		{"newest first", &adminv1.ListSessionsRequest{OrderBy: "connected_at desc", State: adminv1.SessionState_SESSION_STATE_ACTIVE}, []*client.Client{alice2, bob, alice}},
		{"messages_in desc", &adminv1.ListSessionsRequest{OrderBy: "messages_in desc", User: "alice"}, []*client.Client{alice2, alice}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.api.ListSessions(e.ctx(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, s := range resp.GetSessions() {
				got = append(got, s.GetSessionId())
			}
			for _, c := range tt.want {
				if c == nil {
					want = append(want, handshakingID(t, e))
				} else {
					want = append(want, ids[c])
				}
			}
			if !slices.Equal(got, want) || int(resp.GetTotalSize()) != len(want) || resp.GetNextPageToken() != "" {
				t.Fatalf("got %v (total %d, next %q), want %v", got, resp.GetTotalSize(), resp.GetNextPageToken(), want)
			}
		})
	}
}

func handshakingID(t *testing.T, e *env) string {
	t.Helper()
	for _, s := range e.deps.Table.All() {
		if s.User() == "" {
			return s.ID
		}
	}
	t.Fatal("no handshaking session")
	return ""
}

func join(t *testing.T, c *client.Client, groups ...string) {
	t.Helper()
	for _, g := range groups {
		if _, err := c.Join(testCtx(t), g); err != nil {
			t.Fatalf("join %s: %v", g, err)
		}
	}
}

func TestGetSession(t *testing.T) {
	e := start(t, setup{})
	c := e.dial("alice", "127.0.0.5")
	join(t, c, "g2", "g1")
	acc, ts := 4.5, time.Now().Add(-time.Second).UnixMilli()
	if err := c.Loc(testCtx(t), client.Loc{Lat: 37.5, Lng: 127.25, Acc: &acc, TS: &ts}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.api.GetSession(e.ctx(), &adminv1.GetSessionRequest{SessionId: c.Welcome().Session})
	if err != nil {
		t.Fatal(err)
	}
	s := resp.GetSession()
	sess, _ := e.deps.Table.Get(c.Welcome().Session)
	checks := []struct {
		what      string
		got, want any
	}{
		{"id", s.GetSessionId(), c.Welcome().Session},
		{"fd", s.GetFd(), int64(sess.FD)},
		{"user", s.GetUser(), "alice"},
		{"groups", fmt.Sprint(s.GetGroups()), "[g1 g2]"},
		{"remote", s.GetRemoteAddr(), c.LocalAddr().String()},
		{"state", s.GetState(), adminv1.SessionState_SESSION_STATE_ACTIVE},
		{"messages in", s.GetMessagesIn(), uint64(4)}, // hello, 2 joins, loc
		{"messages out", s.GetMessagesOut(), uint64(4)},
		{"lat", s.GetLastLocation().GetLat(), 37.5},
		{"lng", s.GetLastLocation().GetLng(), 127.25},
		{"acc", s.GetLastLocation().GetAcc(), acc},
		{"ts", s.GetLastLocation().GetTs().AsTime().UnixMilli(), ts},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if since := time.Since(s.GetConnectedAt().AsTime()); since < 0 || since > 10*time.Second {
		t.Errorf("connected_at %v", s.GetConnectedAt().AsTime())
	}
	if s.GetLastSeenAt().AsTime().Before(s.GetConnectedAt().AsTime()) || s.GetBytesIn() == 0 || s.GetBytesOut() == 0 {
		t.Errorf("last_seen_at %v, bytes in %d out %d", s.GetLastSeenAt().AsTime(), s.GetBytesIn(), s.GetBytesOut())
	}
	if s.GetLastLocation().GetSts() == nil {
		t.Error("no sts")
	}
}

// TestListSessionsChurn pages through live sessions while others connect
// and disconnect and the sort keys of all move (real pings and protocol
// errors): no session alive throughout is skipped or repeated, for every
// order_by.
func TestListSessionsChurn(t *testing.T) {
	e := start(t, setup{edit: func(c *config.Config) { c.AbuseThreshold = 1000000 }})
	var stable []*client.Client
	for i := range 24 {
		stable = append(stable, e.dial(fmt.Sprint("stable", i), ""))
	}
	orders := []string{"", "connected_at desc", "last_seen_at", "last_seen_at desc",
		"abuse_score", "abuse_score desc", "messages_in", "messages_in desc"}
	for _, order := range orders {
		t.Run(order, func(t *testing.T) {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { churn(t, e, stable, stop) })
			defer wg.Wait()
			defer close(stop)
			got := walkSessions(t, e, order, 3)
			seen := map[string]int{}
			for _, id := range got {
				if seen[id]++; seen[id] > 1 {
					t.Fatalf("session %s returned twice", id)
				}
			}
			for _, c := range stable {
				if n := seen[c.Welcome().Session]; n != 1 {
					t.Fatalf("stable session %s returned %d times", c.Welcome().Session, n)
				}
			}
		})
	}
}

// churn opens and closes sessions and makes the stable ones' keys move,
// until stop.
func churn(t *testing.T, e *env, stable []*client.Client, stop <-chan struct{}) {
	var open []*client.Client
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if i < 300 { // bounded, so that an ascending walk ends
			c, err := client.Dial(testCtx(t), e.addr, client.Options{Token: token(t, "churn")})
			if err != nil {
				t.Errorf("churn dial: %v", err)
				return
			}
			open = append(open, c)
		}
		if len(open) > 0 && i%2 == 1 {
			open[0].Close()
			open = open[1:]
		}
		for range 3 {
			c := stable[rng.IntN(len(stable))]
			for range rng.IntN(4) {
				_ = c.Ping(testCtx(t))
			}
			if rng.IntN(2) == 0 {
				_ = c.Send([]byte("not json\n")) // abuse score + 1
			}
		}
	}
}

func walkSessions(t *testing.T, e *env, order string, size int32) []string {
	t.Helper()
	var ids []string
	req := &adminv1.ListSessionsRequest{OrderBy: order, PageSize: size}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		resp, err := e.api.ListSessions(e.ctx(), req)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, s := range resp.GetSessions() {
			ids = append(ids, s.GetSessionId())
		}
		if resp.GetNextPageToken() == "" {
			return ids
		}
		req.PageToken = resp.GetNextPageToken()
		time.Sleep(5 * time.Millisecond) // let the churn move things between pages
	}
}

func TestKickSession(t *testing.T) {
	e := start(t, setup{})
	tests := []struct {
		name string
		req  func(c *client.Client, fd int64) *adminv1.KickSessionRequest
	}{
		{"by id", func(c *client.Client, _ int64) *adminv1.KickSessionRequest { return byID(c.Welcome().Session, "by id") }},
		{"by fd", func(_ *client.Client, fd int64) *adminv1.KickSessionRequest { return byFD(fd, "by fd") }},
		{"empty reason", func(c *client.Client, _ int64) *adminv1.KickSessionRequest { return byID(c.Welcome().Session, "") }},
	}
	bystander := e.dial("bob", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial("alice", "")
			sess, _ := e.deps.Table.Get(c.Welcome().Session)
			req := tt.req(c, int64(sess.FD))
			resp, err := e.api.KickSession(e.ctx(), req)
			if err != nil {
				t.Fatal(err)
			}
			if s := resp.GetSession(); s.GetSessionId() != sess.ID || s.GetState() != adminv1.SessionState_SESSION_STATE_CLOSING {
				t.Fatalf("kicked session %v, want %s closing", s, sess.ID)
			}
			if resp.GetBan() != nil || resp.GetBanKickedCount() != 0 {
				t.Fatalf("ban without ban_duration: %v", resp)
			}
			wantBye(t, c, "kicked", req.GetReason())
			waitFor(t, "session gone", func() bool { _, ok := e.deps.Table.Get(sess.ID); return !ok })
			_, err = e.api.KickSession(e.ctx(), req)
			wantCode(t, err, codes.NotFound) // gone
		})
	}
	alive(t, bystander)
}

func TestKickSessionWithBan(t *testing.T) {
	e := start(t, setup{})
	target := e.dial("alice", "127.0.0.7")
	sibling := e.dial("bob", "127.0.0.7")
	other := e.dial("carol", "127.0.0.8")
	resp, err := e.api.KickSession(e.ctx(), withBan(byID(target.Welcome().Session, "spamming"), time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetBan()
	if b.GetCidr() != "127.0.0.7/32" || b.GetReason() != "spamming" || resp.GetBanKickedCount() != 1 {
		t.Fatalf("ban %v, kicked %d; want 127.0.0.7/32 spamming, 1", b, resp.GetBanKickedCount())
	}
	if left := time.Until(b.GetExpiresAt().AsTime()); left < 50*time.Second || left > time.Minute {
		t.Fatalf("expires in %v, want about a minute", left)
	}
	wantBye(t, target, "kicked", "spamming")
	wantBye(t, sibling, "banned", "spamming")
	alive(t, other)
	if got := readAll(t, e.raw("127.0.0.7")); len(got) != 0 {
		t.Fatalf("banned address got %q", got)
	}
}

func TestKickUser(t *testing.T) {
	e := start(t, setup{})
	a1, a2 := e.dial("alice", ""), e.dial("alice", "127.0.0.9")
	bob := e.dial("bob", "")
	resp, err := e.api.KickUser(e.ctx(), &adminv1.KickUserRequest{User: "alice", Reason: "account closed"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range resp.GetSessions() {
		got = append(got, s.GetSessionId())
		if s.GetState() != adminv1.SessionState_SESSION_STATE_CLOSING || s.GetUser() != "alice" {
			t.Fatalf("kicked %v", s)
		}
	}
	if want := []string{a1.Welcome().Session, a2.Welcome().Session}; !slices.Equal(got, want) {
		t.Fatalf("kicked %v, want %v", got, want)
	}
	wantBye(t, a1, "kicked", "account closed")
	wantBye(t, a2, "kicked", "account closed")
	alive(t, bob)
}
