package admin_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
)

func TestBanAddress(t *testing.T) {
	e := start(t, setup{})
	in1, in2 := e.dial("alice", "127.0.1.1"), e.dial("bob", "127.0.1.200")
	out := e.dial("carol", "127.0.2.1")
	resp, err := e.api.BanAddress(e.ctx(), &adminv1.BanAddressRequest{Cidr: "127.0.1.77/24", Reason: "botnet", Duration: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if b := resp.GetBan(); b.GetCidr() != "127.0.1.0/24" || b.GetReason() != "botnet" || resp.GetKickedCount() != 2 {
		t.Fatalf("ban %v, kicked %d; want 127.0.1.0/24 botnet, 2", b, resp.GetKickedCount())
	}
	wantBye(t, in1, "banned", "botnet")
	wantBye(t, in2, "banned", "botnet")
	alive(t, out)

	t.Run("refused at accept", func(t *testing.T) {
		for _, from := range []string{"127.0.1.1", "127.0.1.99"} {
			c := e.raw(from)
			if got := readAll(t, c); len(got) != 0 {
				t.Fatalf("banned %s got %q", from, got)
			}
		}
	})
	created := resp.GetBan().GetCreatedAt().AsTime()
	t.Run("listed", func(t *testing.T) {
		b := onlyBan(t, e)
		if b.GetCidr() != "127.0.1.0/24" || b.GetRefusedCount() != 2 || !b.GetCreatedAt().AsTime().Equal(created) {
			t.Fatalf("listed %v, want 127.0.1.0/24 refused twice", b)
		}
		if left := time.Until(b.GetExpiresAt().AsTime()); left < 59*time.Minute || left > time.Hour {
			t.Fatalf("expires in %v", left)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		if _, err := e.api.BanAddress(e.ctx(), &adminv1.BanAddressRequest{Cidr: "127.0.1.0/24", Reason: "still a botnet"}); err != nil {
			t.Fatal(err)
		}
		b := onlyBan(t, e)
		if b.GetReason() != "still a botnet" || b.GetExpiresAt() != nil || b.GetRefusedCount() != 2 || !b.GetCreatedAt().AsTime().Equal(created) {
			t.Fatalf("replaced ban %v: want new reason, no expiry, same created_at and refused_count", b)
		}
	})
	t.Run("unbanned", func(t *testing.T) {
		resp, err := e.api.UnbanAddress(e.ctx(), &adminv1.UnbanAddressRequest{Cidr: "127.0.1.5/24"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetBan().GetCidr() != "127.0.1.0/24" || resp.GetBan().GetReason() != "still a botnet" {
			t.Fatalf("unbanned %v", resp.GetBan())
		}
		alive(t, e.dial("alice", "127.0.1.1"))
		if bans := listBans(t, e); len(bans) != 0 {
			t.Fatalf("bans after unban: %v", bans)
		}
		_, err = e.api.UnbanAddress(e.ctx(), &adminv1.UnbanAddressRequest{Cidr: "127.0.1.0/24"})
		wantCode(t, err, codes.NotFound)
	})
}

func TestListBansExpiry(t *testing.T) {
	e := start(t, setup{})
	for _, b := range []struct {
		cidr string
		d    time.Duration
	}{{"2001:db8::1", 0}, {"10.0.0.0/8", 300 * time.Millisecond}, {"::ffff:192.0.2.1", time.Hour}} {
		req := &adminv1.BanAddressRequest{Cidr: b.cidr, Reason: "r"}
		if b.d > 0 {
			req.Duration = durationpb.New(b.d)
		}
		if _, err := e.api.BanAddress(e.ctx(), req); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"2001:db8::1/128", "10.0.0.0/8", "192.0.2.1/32"} // oldest first
	if got := cidrs(listBans(t, e)); !slices.Equal(got, want) {
		t.Fatalf("bans %v, want %v", got, want)
	}
	bans := listBans(t, e)
	if bans[0].GetExpiresAt() != nil || bans[1].GetExpiresAt() == nil {
		t.Fatalf("expiry: %v", bans)
	}
	time.Sleep(time.Until(bans[1].GetExpiresAt().AsTime()) + 10*time.Millisecond)
	if got := cidrs(listBans(t, e)); !slices.Equal(got, []string{"2001:db8::1/128", "192.0.2.1/32"}) {
		t.Fatalf("after expiry: %v", got)
	}
	info, err := e.api.GetServerInfo(e.ctx(), &adminv1.GetServerInfoRequest{})
	if err != nil || info.GetBans() != 2 {
		t.Fatalf("server info bans %d (%v), want 2", info.GetBans(), err)
	}
}

func listBans(t *testing.T, e *env) []*adminv1.Ban {
	t.Helper()
	resp, err := e.api.ListBans(e.ctx(), &adminv1.ListBansRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetBans()
}

func onlyBan(t *testing.T, e *env) *adminv1.Ban {
	t.Helper()
	bans := listBans(t, e)
	if len(bans) != 1 {
		t.Fatalf("bans %v, want one", bans)
	}
	return bans[0]
}

func cidrs(bans []*adminv1.Ban) []string {
	var out []string
	for _, b := range bans {
		out = append(out, b.GetCidr())
	}
	return out
}
