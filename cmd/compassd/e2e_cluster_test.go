//go:build e2e

package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/client"
)

// clusterNATS is an embedded NATS server that can be restarted on its port.
type clusterNATS struct {
	t    *testing.T
	srv  *server.Server
	port int
}

func (n *clusterNATS) start() {
	n.t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.port, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		n.t.Fatal("NATS not ready")
	}
	n.srv, n.port = srv, srv.Addr().(*net.TCPAddr).Port
}

func (n *clusterNATS) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// clusterMetric reads one unlabelled sample of c's /metrics.
func clusterMetric(t *testing.T, c *compassd, name string) float64 {
	t.Helper()
	res, err := http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func clusterAdmin(t *testing.T, c *compassd) (adminv1.AdminServiceClient, context.Context) {
	t.Helper()
	conn, err := grpc.NewClient(c.admin, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return adminv1.NewAdminServiceClient(conn), metadata.AppendToOutgoingContext(adminCtx(t), "authorization", "Bearer "+c.token)
}

func clusterNext(t *testing.T, cl *client.Client, typ string) client.Message {
	t.Helper()
	for {
		select {
		case m, ok := <-cl.Messages():
			if !ok {
				t.Fatalf("connection ended: %v", cl.Err())
			}
			if m.Type == typ {
				return m
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s within 5s", typ)
		}
	}
}

// clusterJoin opens a session of user on c and joins g, returning the
// joined reply.
func clusterJoin(t *testing.T, c *compassd, user, g string) (*client.Client, client.Message) {
	t.Helper()
	tok, err := auth.SignHS256(c.secret, user, []string{g}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(adminCtx(t), c.data, client.Options{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	m, err := cl.Join(adminCtx(t), g)
	if err != nil {
		t.Fatal(err)
	}
	return cl, m
}

func clusterWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two compassd processes joined by NATS: members on different replicas
// exchange loc and presence, a snapshot lists the other replica's member,
// replica a's admin API kicks a session on replica b and lists b's
// sessions, and delivery survives NATS restarting.
func TestClusterTwoReplicas(t *testing.T) {
	n := &clusterNATS{t: t, port: -1}
	n.start()
	t.Cleanup(n.stop)
	flags := []string{"--nats-url", "nats://127.0.0.1:" + strconv.Itoa(n.port),
		"--cluster-heartbeat", "200ms", "--cluster-replica-ttl", "3s", "--nats-reconnect-wait", "300ms"}
	a := startCompassd(t, append(flags, "--cluster-replica-id", "a")...)
	b := startCompassd(t, append(flags, "--cluster-replica-id", "b")...)
	clusterWait(t, "the cluster", func() bool {
		return clusterMetric(t, a, "compass_cluster_replicas") == 2 && clusterMetric(t, b, "compass_cluster_replicas") == 2
	})

	alice := a.dial(t, "alice", "g")
	if err := alice.Loc(adminCtx(t), client.Loc{Lat: 37.5, Lng: 127}); err != nil {
		t.Fatal(err)
	}
	bob, joined := clusterJoin(t, b, "bob", "g")
	if len(joined.Members) != 1 || joined.Members[0].User != "alice" || joined.Members[0].Lat == nil || *joined.Members[0].Lat != 37.5 {
		t.Fatalf("bob's snapshot lacks alice on a: %s", joined.Raw)
	}
	if m := clusterNext(t, alice, "presence"); m.User != "bob" || m.State != "online" {
		t.Fatalf("alice got %s", m.Raw)
	}

	if err := bob.Loc(adminCtx(t), client.Loc{Lat: 1, Lng: 2}); err != nil {
		t.Fatal(err)
	}
	if m := clusterNext(t, alice, "loc"); m.User != "bob" || *m.Lat != 1 {
		t.Fatalf("alice got %s", m.Raw)
	}
	if err := alice.Loc(adminCtx(t), client.Loc{Lat: 3, Lng: 4}); err != nil {
		t.Fatal(err)
	}
	if m := clusterNext(t, bob, "loc"); m.User != "alice" || *m.Lat != 3 {
		t.Fatalf("bob got %s", m.Raw)
	}

	// NATS restarts: both replicas reconnect and delivery resumes.
	n.stop()
	clusterWait(t, "disconnected", func() bool { return clusterMetric(t, a, "compass_cluster_connected") == 0 })
	n.start()
	clusterWait(t, "reconnected", func() bool {
		return clusterMetric(t, a, "compass_cluster_connected") == 1 && clusterMetric(t, b, "compass_cluster_connected") == 1
	})
	clusterWait(t, "delivery after the restart", func() bool {
		if err := alice.Loc(adminCtx(t), client.Loc{Lat: 5, Lng: 6}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-bob.Messages():
			return m.Type == "loc" && m.User == "alice"
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})

	// The control plane of a sees and kicks b's sessions.
	api, ctx := clusterAdmin(t, a)
	list, err := api.ListSessions(ctx, &adminv1.ListSessionsRequest{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetSessions()) != 1 || list.GetSessions()[0].GetSessionId() != bob.Welcome().Session {
		t.Fatalf("a lists %v", list.GetSessions())
	}
	if _, err := api.KickSession(ctx, &adminv1.KickSessionRequest{
		Target: &adminv1.KickSessionRequest_SessionId{SessionId: bob.Welcome().Session}, Reason: "from a"}); err != nil {
		t.Fatal(err)
	}
	adminWantBye(t, bob, "kicked", "from a")
	if m := clusterNext(t, alice, "presence"); m.User != "bob" || m.State != "offline" {
		t.Fatalf("alice got %s", m.Raw)
	}
}
