package admin_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
)

// TestBadArguments: every malformed request is INVALID_ARGUMENT, every
// unknown target NOT_FOUND.
func TestBadArguments(t *testing.T) {
	e := start(t, setup{})
	c := e.dial("alice", "")
	sessID := c.Welcome().Session
	long := strings.Repeat("x", 257)
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"list: order_by", listCall(e, &adminv1.ListSessionsRequest{OrderBy: "user"}), codes.InvalidArgument},
		{"list: order_by asc", listCall(e, &adminv1.ListSessionsRequest{OrderBy: "abuse_score asc"}), codes.InvalidArgument},
		{"list: negative page_size", listCall(e, &adminv1.ListSessionsRequest{PageSize: -1}), codes.InvalidArgument},
		{"list: remote_ip", listCall(e, &adminv1.ListSessionsRequest{RemoteIp: "10.0.0.256"}), codes.InvalidArgument},
		{"list: remote_ip cidr", listCall(e, &adminv1.ListSessionsRequest{RemoteIp: "10.0.0.0/33"}), codes.InvalidArgument},
		{"list: remote_ip host", listCall(e, &adminv1.ListSessionsRequest{RemoteIp: "localhost"}), codes.InvalidArgument},
		{"list: state", listCall(e, &adminv1.ListSessionsRequest{State: 42}), codes.InvalidArgument},
		{"list: page_token", listCall(e, &adminv1.ListSessionsRequest{PageToken: "garbage"}), codes.InvalidArgument},
		{"list: page_token of other filters", func() error {
			tok := firstToken(t, e, &adminv1.ListSessionsRequest{})
			return listCall(e, &adminv1.ListSessionsRequest{PageToken: tok, User: "alice"})()
		}, codes.InvalidArgument},
		{"list: page_token of another order", func() error {
			tok := firstToken(t, e, &adminv1.ListSessionsRequest{OrderBy: "messages_in"})
			return listCall(e, &adminv1.ListSessionsRequest{PageToken: tok, OrderBy: "abuse_score"})()
		}, codes.InvalidArgument},
		{"get: empty id", func() error {
			_, err := e.api.GetSession(e.ctx(), &adminv1.GetSessionRequest{})
			return err
		}, codes.InvalidArgument},
		{"get: unknown id", func() error {
			_, err := e.api.GetSession(e.ctx(), &adminv1.GetSessionRequest{SessionId: "s0000"})
			return err
		}, codes.NotFound},
		{"kick: no target", kickCall(e, &adminv1.KickSessionRequest{}), codes.InvalidArgument},
		{"kick: empty id", kickCall(e, byID("", "")), codes.InvalidArgument},
		{"kick: unknown id", kickCall(e, byID("s0000", "")), codes.NotFound},
		{"kick: unknown fd", kickCall(e, &adminv1.KickSessionRequest{Target: &adminv1.KickSessionRequest_Fd{Fd: 1 << 20}}), codes.NotFound},
		{"kick: long reason", kickCall(e, byID(sessID, long)), codes.InvalidArgument},
		{"kick: zero ban", kickCall(e, withBan(byID(sessID, ""), 0)), codes.InvalidArgument},
		{"kick: negative ban", kickCall(e, withBan(byID(sessID, ""), -time.Minute)), codes.InvalidArgument},
		{"kick: invalid ban", kickCall(e, &adminv1.KickSessionRequest{Target: &adminv1.KickSessionRequest_SessionId{SessionId: sessID},
			BanDuration: &durationpb.Duration{Seconds: 1, Nanos: -5}}), codes.InvalidArgument},
		{"kick user: empty", kickUserCall(e, "", ""), codes.InvalidArgument},
		{"kick user: unknown", kickUserCall(e, "nobody", ""), codes.NotFound},
		{"kick user: long reason", kickUserCall(e, "alice", long), codes.InvalidArgument},
		{"ban: empty", banCall(e, "", nil, ""), codes.InvalidArgument},
		{"ban: bad address", banCall(e, "10.0.0.300", nil, ""), codes.InvalidArgument},
		{"ban: bad prefix", banCall(e, "10.0.0.0/40", nil, ""), codes.InvalidArgument},
		{"ban: zone", banCall(e, "fe80::1%eth0", nil, ""), codes.InvalidArgument},
		{"ban: zero duration", banCall(e, "10.0.0.1", durationpb.New(0), ""), codes.InvalidArgument},
		{"ban: negative duration", banCall(e, "10.0.0.1", durationpb.New(-time.Second), ""), codes.InvalidArgument},
		{"ban: long reason", banCall(e, "10.0.0.1", nil, long), codes.InvalidArgument},
		{"unban: bad", unbanCall(e, "10.0.0"), codes.InvalidArgument},
		{"unban: unknown", unbanCall(e, "192.0.2.0/24"), codes.NotFound},
		{"watch: unspecified kind", watchCall(e, adminv1.EventKind_EVENT_KIND_UNSPECIFIED), codes.InvalidArgument},
		{"watch: unknown kind", watchCall(e, 42), codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), tt.want)
		})
	}
	alive(t, c) // nothing above touched the session
	if bans, _ := e.api.ListBans(e.ctx(), &adminv1.ListBansRequest{}); len(bans.GetBans()) != 0 {
		t.Fatalf("bans made by refused calls: %v", bans.GetBans())
	}
}

func listCall(e *env, req *adminv1.ListSessionsRequest) func() error {
	return func() error {
		_, err := e.api.ListSessions(e.ctx(), req)
		return err
	}
}

// firstToken returns the next_page_token of the first page of size 1 (two
// sessions must match).
func firstToken(t *testing.T, e *env, req *adminv1.ListSessionsRequest) string {
	t.Helper()
	e.dial("bob", "")
	req.PageSize = 1
	resp, err := e.api.ListSessions(e.ctx(), req)
	if err != nil || resp.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, token %q", err, resp.GetNextPageToken())
	}
	return resp.GetNextPageToken()
}

func byID(id, reason string) *adminv1.KickSessionRequest {
	return &adminv1.KickSessionRequest{Target: &adminv1.KickSessionRequest_SessionId{SessionId: id}, Reason: reason}
}

func byFD(fd int64, reason string) *adminv1.KickSessionRequest {
	return &adminv1.KickSessionRequest{Target: &adminv1.KickSessionRequest_Fd{Fd: fd}, Reason: reason}
}

func withBan(r *adminv1.KickSessionRequest, d time.Duration) *adminv1.KickSessionRequest {
	r.BanDuration = durationpb.New(d)
	return r
}

func kickCall(e *env, req *adminv1.KickSessionRequest) func() error {
	return func() error {
		_, err := e.api.KickSession(e.ctx(), req)
		return err
	}
}

func kickUserCall(e *env, user, reason string) func() error {
	return func() error {
		_, err := e.api.KickUser(e.ctx(), &adminv1.KickUserRequest{User: user, Reason: reason})
		return err
	}
}

func banCall(e *env, cidr string, d *durationpb.Duration, reason string) func() error {
	return func() error {
		_, err := e.api.BanAddress(e.ctx(), &adminv1.BanAddressRequest{Cidr: cidr, Duration: d, Reason: reason})
		return err
	}
}

func unbanCall(e *env, cidr string) func() error {
	return func() error {
		_, err := e.api.UnbanAddress(e.ctx(), &adminv1.UnbanAddressRequest{Cidr: cidr})
		return err
	}
}

func watchCall(e *env, kinds ...adminv1.EventKind) func() error {
	return func() error {
		st, err := e.api.WatchEvents(e.ctx(), &adminv1.WatchEventsRequest{Kinds: kinds})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
}
