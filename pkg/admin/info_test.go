package admin_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	adminv1 "github.com/ucompass/compass/api/compass/admin/v1"
	"github.com/ucompass/compass/pkg/admin"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/version"
)

func TestGetSnifferStats(t *testing.T) {
	e := start(t, setup{})
	e.dial("alice", "")
	head := []byte("GET / HTTP/1.1\r\n\r\n")
	c := e.raw("127.0.0.1")
	if _, err := c.Write(head); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, c); len(got) != 0 {
		t.Fatalf("http junk got %q back", got)
	}
	resp, err := e.api.GetSnifferStats(e.ctx(), &adminv1.GetSnifferStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	order := []string{"ucompass", "proxy", "http", "http2", "tls", "ssh", "rdp", "smb", "redis", "text", "binary", "empty", "timeout"}
	counts := map[string]uint64{}
	for i, cc := range resp.GetCounts() {
		if i >= len(order) || cc.GetClass() != order[i] {
			t.Fatalf("counts %v, want every class in protocol.md's order", resp.GetCounts())
		}
		counts[cc.GetClass()] = cc.GetCount()
	}
	if len(counts) != len(order) || counts["http"] < 1 || counts["ucompass"] < 1 {
		t.Fatalf("counts %v, want http and ucompass >= 1", counts)
	}
	if len(resp.GetRecent()) == 0 {
		t.Fatal("no recent rejection")
	}
	r := resp.GetRecent()[0]
	if r.GetClass() != "http" || !bytes.Equal(r.GetHead(), head) || r.GetRemoteAddr() != c.LocalAddr().String() {
		t.Fatalf("recent %v, want http %q from %s", r, head, c.LocalAddr())
	}
	if age := time.Since(r.GetTime().AsTime()); age < 0 || age > 10*time.Second {
		t.Fatalf("rejection time %v", r.GetTime().AsTime())
	}
}

func TestGetServerInfo(t *testing.T) {
	started := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	e := start(t, setup{
		opts: []admin.Option{admin.WithStartTime(started)},
		edit: func(c *config.Config) {
			c.MaxLine, c.MaxGroups, c.LocRate, c.LocBurst = 2048, 8, 2.5, 4
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
		},
	})
	a, b := e.dial("alice", ""), e.dial("bob", "")
	join(t, a, "g1")
	join(t, b, "g1", "g2")
	if _, err := e.raw("").Write([]byte("U-Compass/1\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 sessions", func() bool { return e.deps.Table.Len() == 3 })
	if _, err := e.api.BanAddress(e.ctx(), &adminv1.BanAddressRequest{Cidr: "192.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	info, err := e.api.GetServerInfo(e.ctx(), &adminv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	l := info.GetLimits()
	checks := []struct {
		what      string
		got, want any
	}{
		{"version", info.GetVersion(), version.Version},
		{"go", info.GetGoVersion(), version.Go()},
		{"start", info.GetStartTime().AsTime(), started},
		{"sessions", info.GetSessions(), int64(3)},
		{"active", info.GetActiveSessions(), int64(2)},
		{"groups", info.GetGroups(), int64(2)},
		{"bans", info.GetBans(), int64(1)},
		{"dev", info.GetDevMode(), false},
		{"ready", info.GetReady(), true},
		{"proxies", len(info.GetTrustedProxies()), 1},
		{"proxy", info.GetTrustedProxies()[0], "10.1.0.0/16"},
		{"max_line", l.GetMaxLine(), int32(2048)},
		{"handshake", l.GetHandshakeTimeout().AsDuration(), e.cfg.HandshakeTimeout},
		{"heartbeat", l.GetHeartbeat().AsDuration(), e.cfg.Heartbeat},
		{"max_groups", l.GetMaxGroups(), int32(8)},
		{"loc_rate", l.GetLocRate(), 2.5},
		{"loc_burst", l.GetLocBurst(), int32(4)},
		{"max_conns", l.GetMaxConns(), int32(e.cfg.MaxConns)},
		{"max_conns_per_ip", l.GetMaxConnsPerIp(), int32(e.cfg.MaxConnsPerIP)},
		{"drain", l.GetDrainTimeout().AsDuration(), e.cfg.DrainTimeout},
		{"abuse_threshold", l.GetAbuseThreshold(), float64(e.cfg.AbuseThreshold)},
		{"abuse_window", l.GetAbuseWindow().AsDuration(), e.cfg.AbuseWindow},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}
