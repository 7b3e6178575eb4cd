//go:build e2e

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/client"
)

const adminService = "compass.admin.v1.AdminService"

// TestAdminGrpcurlDiscovery: grpcurl lists and describes the service
// through reflection, with no proto files.
func TestAdminGrpcurlDiscovery(t *testing.T) {
	requireGrpcurl(t)
	c := startCompassd(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"list", []string{"list"}, []string{adminService, "grpc.health.v1.Health"}},
		{"list methods", []string{"list", adminService}, []string{adminService + ".ListSessions", adminService + ".WatchEvents", adminService + ".GetServerInfo"}},
		{"describe", []string{"describe", adminService}, []string{"is a service:", "rpc KickSession ( .compass.admin.v1.KickSessionRequest ) returns ( .compass.admin.v1.KickSessionResponse );",
			"rpc WatchEvents ( .compass.admin.v1.WatchEventsRequest ) returns ( stream .compass.admin.v1.WatchEventsResponse );"}},
		{"describe message", []string{"describe", "compass.admin.v1.ListSessionsRequest"}, []string{"string order_by = 7;", "string page_token = 2;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := grpcurl(t, append(c.adminArgs(), tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Fatalf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

// TestAdminGrpcurlUnauthenticated: without the right token a call is
// UNAUTHENTICATED (grpcurl exits 80); health stays open.
func TestAdminGrpcurlUnauthenticated(t *testing.T) {
	requireGrpcurl(t)
	c := startCompassd(t)
	tests := []struct {
		name  string
		flags []string
		msg   string
	}{
		{"no token", nil, `missing "authorization: Bearer <admin token>" metadata`},
		{"wrong token", []string{"-H", "authorization: Bearer wrong"}, "invalid admin token"},
		{"not bearer", []string{"-H", "authorization: Basic " + c.token}, `authorization metadata is not "Bearer <admin token>"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"-plaintext"}, tt.flags...), c.admin, adminService+"/GetServerInfo")
			r := grpcurl(t, args...)
			if r.code != 80 || !strings.Contains(r.stderr, "Code: Unauthenticated") || !strings.Contains(r.stderr, "Message: "+tt.msg) {
				t.Fatalf("exit %d, stderr %q; want 80, Unauthenticated, %q", r.code, r.stderr, tt.msg)
			}
		})
	}
	t.Run("health is open", func(t *testing.T) {
		r := grpcurl(t, "-plaintext", c.admin, "grpc.health.v1.Health/Check")
		if r.code != 0 || !strings.Contains(r.stdout, `"status": "SERVING"`) {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("with the token", func(t *testing.T) {
		var info adminv1.GetServerInfoResponse
		c.adminCall(t, "GetServerInfo", "{}", &info)
		if info.GetDevMode() || !info.GetReady() {
			t.Fatalf("server info %v", &info)
		}
	})
}

// TestAdminGrpcurlSessions: ListSessions shows two real sessions (JWT
// clients), filters and orders them, and KickSession ends one with bye
// kicked.
func TestAdminGrpcurlSessions(t *testing.T) {
	requireGrpcurl(t)
	c := startCompassd(t)
	alice, bob := c.dial(t, "alice", "g1"), c.dial(t, "bob", "g1", "g2")
	for range 3 {
		if err := bob.Ping(adminCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	var all adminv1.ListSessionsResponse
	c.adminCall(t, "ListSessions", "{}", &all)
	if got := adminUsers(&all); got != "alice,bob" || all.GetTotalSize() != 2 {
		t.Fatalf("sessions %s (total %d), want alice,bob", got, all.GetTotalSize())
	}
	s := all.GetSessions()[1]
	if s.GetSessionId() != bob.Welcome().Session || strings.Join(s.GetGroups(), ",") != "g1,g2" ||
		s.GetRemoteAddr() != bob.LocalAddr().String() || s.GetState() != adminv1.SessionState_SESSION_STATE_ACTIVE {
		t.Fatalf("bob's session %v", s)
	}
	var page adminv1.ListSessionsResponse
	c.adminCall(t, "ListSessions", `{"group": "g2", "remote_ip": "127.0.0.0/8", "state": "SESSION_STATE_ACTIVE"}`, &page)
	if got := adminUsers(&page); got != "bob" {
		t.Fatalf("filtered: %s, want bob", got)
	}
	c.adminCall(t, "ListSessions", `{"order_by": "messages_in desc", "page_size": 1}`, &page)
	if got := adminUsers(&page); got != "bob" || page.GetNextPageToken() == "" {
		t.Fatalf("first page by messages_in desc: %s (next %q), want bob and a next page", got, page.GetNextPageToken())
	}
	c.adminCall(t, "ListSessions", `{"order_by": "messages_in desc", "page_size": 1, "page_token": "`+page.GetNextPageToken()+`"}`, &page)
	if got := adminUsers(&page); got != "alice" || page.GetNextPageToken() != "" {
		t.Fatalf("second page: %s (next %q), want alice, last", got, page.GetNextPageToken())
	}

	var kicked adminv1.KickSessionResponse
	c.adminCall(t, "KickSession", `{"session_id": "`+alice.Welcome().Session+`", "reason": "e2e kick"}`, &kicked)
	if kicked.GetSession().GetState() != adminv1.SessionState_SESSION_STATE_CLOSING {
		t.Fatalf("kicked %v", &kicked)
	}
	adminWantBye(t, alice, "kicked", "e2e kick")
	if err := bob.Ping(adminCtx(t)); err != nil {
		t.Fatalf("bob: %v", err)
	}
	fd := all.GetSessions()[1].GetFd()
	c.adminCall(t, "KickSession", `{"fd": `+strconv.FormatInt(fd, 10)+`, "reason": "by fd"}`, &kicked)
	adminWantBye(t, bob, "kicked", "by fd")
}

// TestAdminGrpcurlSnifferStats: HTTP sent to the data port is counted and
// recorded with its first bytes.
func TestAdminGrpcurlSnifferStats(t *testing.T) {
	requireGrpcurl(t)
	c := startCompassd(t)
	head := []byte("GET / HTTP/1.1\r\n\r\n")
	conn, err := net.Dial("tcp", c.data)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(head); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(conn); len(b) != 0 {
		t.Fatalf("the server answered HTTP with %q", b)
	}
	var stats adminv1.GetSnifferStatsResponse
	c.adminCall(t, "GetSnifferStats", "{}", &stats)
	counts := map[string]uint64{}
	for _, cc := range stats.GetCounts() {
		counts[cc.GetClass()] = cc.GetCount()
	}
	if len(counts) != 13 || counts["http"] < 1 {
		t.Fatalf("counts %v, want 13 classes and http >= 1", counts)
	}
	if len(stats.GetRecent()) == 0 || stats.GetRecent()[0].GetClass() != "http" || !bytes.Equal(stats.GetRecent()[0].GetHead(), head) {
		t.Fatalf("recent %v, want http %q first", stats.GetRecent(), head)
	}
}

// TestAdminGrpcurlWatchEvents: a grpcurl server stream sees a session open
// and close.
func TestAdminGrpcurlWatchEvents(t *testing.T) {
	path := requireGrpcurl(t)
	c := startCompassd(t)
	args := append(c.adminArgs("-v", "-max-time", "5", "-d", `{"kinds": ["EVENT_KIND_SESSION_OPENED", "EVENT_KIND_SESSION_CLOSED"]}`), adminService+"/WatchEvents")
	cmd := exec.Command(path, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "Response headers received") { // sent once subscribed
		line, err := out.ReadString('\n')
		seen.WriteString(line)
		if err != nil {
			t.Fatalf("grpcurl ended before the headers: %v\n%s%s", err, seen.String(), stderr.String())
		}
	}
	cl := c.dial(t, "carol", "g1")
	id := cl.Welcome().Session
	cl.Close()
	rest, _ := io.ReadAll(out) // until -max-time ends the stream
	_ = cmd.Wait()
	evs := adminParseEvents(t, seen.String()+string(rest))
	var kinds []string
	for _, e := range evs {
		if e.GetSessionId() == id {
			kinds = append(kinds, e.GetKind().String()+"/"+e.GetUser()+"/"+e.GetReason())
		}
	}
	if want := "EVENT_KIND_SESSION_OPENED/carol/,EVENT_KIND_SESSION_CLOSED/carol/peer"; strings.Join(kinds, ",") != want {
		t.Fatalf("events of carol's session: %v, want %s\n%s", kinds, want, seen.String()+string(rest))
	}
}

// adminCall runs one AdminService method through grpcurl with data as the JSON
// request and reads the JSON response into resp.
func (c *compassd) adminCall(t *testing.T, method, data string, resp proto.Message) {
	t.Helper()
	r := grpcurl(t, append(c.adminArgs("-d", data), adminService+"/"+method)...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d: %s", method, data, r.code, r.stderr)
	}
	if err := protojson.Unmarshal([]byte(r.stdout), resp); err != nil {
		t.Fatalf("%s: %v\n%s", method, err, r.stdout)
	}
}

// adminParseEvents reads the messages of grpcurl -v output ("Response contents:"
// then one JSON object).
func adminParseEvents(t *testing.T, out string) []*adminv1.Event {
	t.Helper()
	var evs []*adminv1.Event
	parts := strings.Split(out, "Response contents:\n")
	for _, p := range parts[1:] {
		var raw json.RawMessage
		if err := json.NewDecoder(strings.NewReader(p)).Decode(&raw); err != nil {
			t.Fatalf("bad message in %q: %v", p, err)
		}
		var resp adminv1.WatchEventsResponse
		if err := protojson.Unmarshal(raw, &resp); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, resp.GetEvent())
	}
	return evs
}

// dial opens a session of user with an HS256 token for groups, and joins
// them.
func (c *compassd) dial(t *testing.T, user string, groups ...string) *client.Client {
	t.Helper()
	tok, err := auth.SignHS256(c.secret, user, groups, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(adminCtx(t), c.data, client.Options{Token: tok})
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { cl.Close() })
	for _, g := range groups {
		if _, err := cl.Join(adminCtx(t), g); err != nil {
			t.Fatalf("join %s: %v", g, err)
		}
	}
	return cl
}

// adminWantBye checks that cl got bye reason with msg last, then EOF.
func adminWantBye(t *testing.T, cl *client.Client, reason, msg string) {
	t.Helper()
	var last client.Message
	timeout := time.After(8 * time.Second)
	for done := false; !done; {
		select {
		case m, ok := <-cl.Messages():
			if !ok {
				done = true
				break
			}
			last = m
		case <-timeout:
			t.Fatal("the connection did not end")
		}
	}
	if last.Type != "bye" || last.Reason != reason || last.Msg != msg {
		t.Fatalf("last message %s, want bye %s %q", last.Raw, reason, msg)
	}
	<-cl.Done() // Messages closes just before Done
	if !errors.Is(cl.Err(), io.EOF) {
		t.Fatalf("after the bye: %v, want EOF", cl.Err())
	}
}

func adminUsers(r *adminv1.ListSessionsResponse) string {
	var users []string
	for _, s := range r.GetSessions() {
		users = append(users, s.GetUser())
	}
	return strings.Join(users, ",")
}

func adminCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
