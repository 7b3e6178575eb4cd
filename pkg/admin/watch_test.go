package admin_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/admin"
	"github.com/ucompass/compass/pkg/events"
)

type watchStream = grpc.ServerStreamingClient[adminv1.WatchEventsResponse]

// watch opens a WatchEvents stream and waits until it is subscribed.
func watch(t *testing.T, ctx context.Context, api adminv1.AdminServiceClient, kinds ...adminv1.EventKind) watchStream {
	t.Helper()
	st, err := api.WatchEvents(ctx, &adminv1.WatchEventsRequest{Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := st.Header(); err != nil || md == nil {
		_, err = st.Recv()
		t.Fatalf("no headers: %v", err)
	}
	return st
}

// next returns the next event, which must be of kind want.
func next(t *testing.T, st watchStream, want adminv1.EventKind) *adminv1.Event {
	t.Helper()
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("waiting for %v: %v", want, err)
	}
	if e := resp.GetEvent(); e.GetKind() != want {
		t.Fatalf("got event %v, want %v", e, want)
	}
	if age := time.Since(resp.GetEvent().GetTime().AsTime()); age < 0 || age > 10*time.Second {
		t.Fatalf("event time %v", resp.GetEvent().GetTime().AsTime())
	}
	return resp.GetEvent()
}

// nextTwo returns the next two events, of kinds a and b in any order.
func nextTwo(t *testing.T, st watchStream, a, b adminv1.EventKind) (*adminv1.Event, *adminv1.Event) {
	t.Helper()
	got := map[adminv1.EventKind]*adminv1.Event{}
	for range 2 {
		resp, err := st.Recv()
		if err != nil {
			t.Fatalf("waiting for %v and %v: %v", a, b, err)
		}
		got[resp.GetEvent().GetKind()] = resp.GetEvent()
	}
	if got[a] == nil || got[b] == nil {
		t.Fatalf("got %v, want %v and %v", got, a, b)
	}
	return got[a], got[b]
}

func TestWatchEvents(t *testing.T) {
	e := start(t, setup{})
	st := watch(t, e.ctx(), e.api)
	c := e.dial("alice", "127.0.0.21")
	sess, _ := e.deps.Table.Get(c.Welcome().Session)
	self := func(ev *adminv1.Event, reason string) {
		t.Helper()
		if ev.GetSessionId() != sess.ID || ev.GetUser() != "alice" || ev.GetFd() != int64(sess.FD) ||
			ev.GetRemoteAddr() != c.LocalAddr().String() || ev.GetReason() != reason {
			t.Fatalf("event %v, want session %s of alice, fd %d, from %s, reason %q", ev, sess.ID, sess.FD, c.LocalAddr(), reason)
		}
	}
	self(next(t, st, adminv1.EventKind_EVENT_KIND_SESSION_OPENED), "")

	if _, err := e.api.KickSession(e.ctx(), byID(sess.ID, "bye now")); err != nil {
		t.Fatal(err)
	}
	// The contract is KICKED then CLOSED, but the data plane publishes
	// KICKED after queueing the bye, so the close can overtake it.
	kicked, closed := nextTwo(t, st, adminv1.EventKind_EVENT_KIND_SESSION_KICKED, adminv1.EventKind_EVENT_KIND_SESSION_CLOSED)
	self(kicked, "bye now")
	self(closed, "kicked")

	if _, err := e.api.BanAddress(e.ctx(), &adminv1.BanAddressRequest{Cidr: "192.0.2.1", Reason: "why"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, st, adminv1.EventKind_EVENT_KIND_ADDRESS_BANNED); ev.GetCidr() != "192.0.2.1/32" || ev.GetReason() != "why" {
		t.Fatalf("banned event %v", ev)
	}
	if _, err := e.api.UnbanAddress(e.ctx(), &adminv1.UnbanAddressRequest{Cidr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, st, adminv1.EventKind_EVENT_KIND_ADDRESS_UNBANNED); ev.GetCidr() != "192.0.2.1/32" {
		t.Fatalf("unbanned event %v", ev)
	}

	junk := e.raw("127.0.0.22")
	junk.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if ev := next(t, st, adminv1.EventKind_EVENT_KIND_SNIFFER_REJECTED); ev.GetReason() != "http" || ev.GetRemoteAddr() != junk.LocalAddr().String() {
		t.Fatalf("rejected event %v", ev)
	}

	c2 := e.dial("bob", "")
	if ev := next(t, st, adminv1.EventKind_EVENT_KIND_SESSION_OPENED); ev.GetUser() != "bob" {
		t.Fatalf("opened %v", ev)
	}
	c2.Close()
	if ev := next(t, st, adminv1.EventKind_EVENT_KIND_SESSION_CLOSED); ev.GetUser() != "bob" || ev.GetReason() != "peer" {
		t.Fatalf("closed %v", ev)
	}
}

func TestWatchEventsKinds(t *testing.T) {
	e := start(t, setup{})
	closed := watch(t, e.ctx(), e.api, adminv1.EventKind_EVENT_KIND_SESSION_CLOSED)
	bans := watch(t, e.ctx(), e.api, adminv1.EventKind_EVENT_KIND_ADDRESS_BANNED, adminv1.EventKind_EVENT_KIND_ADDRESS_UNBANNED)
	c := e.dial("alice", "")
	e.raw("").Write([]byte("SSH-2.0-x\r\n"))
	c.Close()
	if ev := next(t, closed, adminv1.EventKind_EVENT_KIND_SESSION_CLOSED); ev.GetSessionId() != c.Welcome().Session {
		t.Fatalf("closed %v", ev)
	}
	banCall(e, "192.0.2.9", nil, "")()
	next(t, bans, adminv1.EventKind_EVENT_KIND_ADDRESS_BANNED)
	unbanCall(e, "192.0.2.9")()
	next(t, bans, adminv1.EventKind_EVENT_KIND_ADDRESS_UNBANNED)
	// A later close shows that nothing else was queued on the closed-only stream.
	c2 := e.dial("bob", "")
	c2.Close()
	if ev := next(t, closed, adminv1.EventKind_EVENT_KIND_SESSION_CLOSED); ev.GetUser() != "bob" {
		t.Fatalf("closed %v", ev)
	}
}

// TestSlowWatcher: a watcher that never reads is ended with
// RESOURCE_EXHAUSTED and counted, while sessions and a watcher that reads
// go on. Events are published in lockstep with the reading watcher, so the
// slow one is dropped for not reading (its sends block on flow control),
// not for a burst.
func TestSlowWatcher(t *testing.T) {
	e := start(t, setup{opts: []admin.Option{admin.WithWatchBuffer(64)}})
	// Fixed small windows: the server's sends block after 64 KiB unread.
	slowConn := e.grpcConn(grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	slow := watch(t, e.ctx(), adminv1.NewAdminServiceClient(slowConn))
	fastCtx, stopFast := context.WithCancel(e.ctx())
	fast := watch(t, fastCtx, e.api)
	var read atomic.Int64
	fastErr := make(chan error, 1)
	go func() {
		for {
			if _, err := fast.Recv(); err != nil {
				fastErr <- err
				return
			}
			read.Add(1)
		}
	}()
	c := e.dial("alice", "")
	published := 1 // alice's SESSION_OPENED
	dropped := func(i int) bool { return i%100 == 0 && e.counter("compass_admin_watchers_dropped_total") > 0 }
	for i := 1; !dropped(i); i++ {
		if i > 100000 {
			t.Fatal("the slow watcher was never dropped")
		}
		// Lockstep with the reading watcher: at most 4 events in flight.
		for deadline := time.Now().Add(10 * time.Second); int64(published)-read.Load() > 4; {
			if time.Now().After(deadline) {
				t.Fatal("the reading watcher is stuck")
			}
			time.Sleep(20 * time.Microsecond)
		}
		time.Sleep(100 * time.Microsecond) // a pace any reader keeps up with
		e.deps.Events.Publish(events.Event{Kind: events.SnifferRejected, Remote: fmt.Sprint("192.0.2.1:", i), Reason: "text"})
		published++
		if i%500 == 0 {
			alive(t, c) // the data plane does not wait for the watcher
		}
	}
	alive(t, c)
	e.dial("bob", "") // one more event, for the reading watcher
	published++

	n := 0
	for {
		_, err := slow.Recv()
		if err != nil {
			wantCode(t, err, codes.ResourceExhausted)
			break
		}
		n++
	}
	t.Logf("published %d events; the slow watcher got %d before its end", published, n)
	if n < published/2 || n >= published { // it kept up until its sends blocked
		t.Fatalf("the slow watcher got %d of %d events", n, published)
	}
	waitFor(t, "the reading watcher to get every event", func() bool { return read.Load() == int64(published) })
	stopFast()
	wantCode(t, <-fastErr, codes.Canceled) // it was never dropped
	if d := e.counter("compass_admin_watchers_dropped_total"); d != 1 {
		t.Fatalf("%v watchers dropped, want 1", d)
	}
}
