package admin_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/admin"
	"github.com/ucompass/compass/pkg/events"
)

type healthStream = grpc.ServerStreamingClient[healthgrpc.HealthCheckResponse]

func healthWatch(t *testing.T, e *env) healthStream {
	t.Helper()
	st, err := healthgrpc.NewHealthClient(e.conn).Watch(testCtx(t), &healthgrpc.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// healthIs waits (at most d) for the health stream to report want.
func healthIs(t *testing.T, st healthStream, want healthgrpc.HealthCheckResponse_ServingStatus, d time.Duration) {
	t.Helper()
	got := make(chan healthgrpc.HealthCheckResponse_ServingStatus, 1)
	go func() {
		for {
			r, err := st.Recv()
			if err != nil {
				close(got)
				return
			}
			if r.GetStatus() == want {
				got <- want
				return
			}
		}
	}()
	select {
	case _, ok := <-got:
		if !ok {
			t.Fatalf("health stream ended before %v", want)
		}
	case <-time.After(d):
		t.Fatalf("health not %v within %v", want, d)
	}
}

// TestShutdownAdminFirst: when Run's context ends, health is NOT_SERVING at
// once; the API keeps answering while the data plane drains; watchers see
// the drain's closes and then UNAVAILABLE; Run returns nil.
func TestShutdownAdminFirst(t *testing.T) {
	e := start(t, setup{})
	h := healthWatch(t, e)
	healthIs(t, h, healthgrpc.HealthCheckResponse_SERVING, 5*time.Second)
	c := e.dial("alice", "")
	st := watch(t, e.ctx(), e.api, adminv1.EventKind_EVENT_KIND_SESSION_CLOSED)

	e.stopAdmin()
	healthIs(t, h, healthgrpc.HealthCheckResponse_NOT_SERVING, time.Second)
	if !e.dp.Ready() {
		t.Fatal("the data plane should still serve")
	}
	if _, err := e.api.ListSessions(e.ctx(), &adminv1.ListSessionsRequest{}); err != nil {
		t.Fatalf("API while waiting for the drain: %v", err)
	}

	e.stopDP()
	wantBye(t, c, "shutdown", "server shutting down")
	if ev := next(t, st, adminv1.EventKind_EVENT_KIND_SESSION_CLOSED); ev.GetReason() != "shutdown" {
		t.Fatalf("closed %v", ev)
	}
	_, err := st.Recv()
	wantCode(t, err, codes.Unavailable)
	e.ran(e.dpErr, "data plane", 5*time.Second)
	e.ran(e.adErr, "admin", 5*time.Second)
}

// TestHealthFollowsDataPlane: health turns NOT_SERVING when the data plane
// stops being ready, even before the admin is told to stop.
func TestHealthFollowsDataPlane(t *testing.T) {
	e := start(t, setup{})
	h := healthWatch(t, e)
	healthIs(t, h, healthgrpc.HealthCheckResponse_SERVING, 5*time.Second)
	e.stopDP()
	healthIs(t, h, healthgrpc.HealthCheckResponse_NOT_SERVING, time.Second)
	e.ran(e.dpErr, "data plane", 5*time.Second)
	info, err := e.api.GetServerInfo(e.ctx(), &adminv1.GetServerInfoRequest{})
	if err != nil || info.GetReady() {
		t.Fatalf("server info after the drain: ready %v, %v", info.GetReady(), err)
	}
}

// TestShutdownWithStuckWatcher: a watcher whose unread events fill the
// flow-control window cannot hold the shutdown past the stop timeout.
func TestShutdownWithStuckWatcher(t *testing.T) {
	e := start(t, setup{opts: []admin.Option{admin.WithStopTimeout(300 * time.Millisecond), admin.WithWatchBuffer(100000)}})
	stuck := e.grpcConn(grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	watch(t, e.ctx(), adminv1.NewAdminServiceClient(stuck))
	for i := range 20000 { // far more than 64 KiB of events
		e.deps.Events.Publish(events.Event{Kind: events.SnifferRejected, Reason: "text", FD: i})
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	start := time.Now()
	e.stop()
	e.ran(e.dpErr, "data plane", 5*time.Second)
	e.ran(e.adErr, "admin", 5*time.Second)
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}
