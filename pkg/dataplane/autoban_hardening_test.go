package dataplane_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/events"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/sniff"
)

// rawFrom opens a TCP connection from source address local (127.0.0.2...).
func (e *env) rawFrom(local string) net.Conn {
	e.t.Helper()
	c, err := client.RawDial(ctx(e.t), e.addr, local)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// junk sends a TLS hello record header from local and waits for the close.
func (e *env) junk(local string) {
	e.t.Helper()
	c := e.rawFrom(local)
	writeParts(e.t, c, []byte("\x16\x03\x01\x02\x00\x01"))
	if got := readAll(e.t, c); len(got) != 0 {
		e.t.Fatalf("server wrote %q", got)
	}
}

func autoban(threshold int) func(*config.Config) {
	return func(c *config.Config) {
		c.Autoban, c.AutobanThreshold, c.AutobanWindow, c.AutobanDuration = true, threshold, time.Minute, time.Minute
		c.AutobanAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}
}

// Threshold junk connections from one address ban it: its next connection is
// closed at accept, an AddressBanned event says "autoban", others still get in.
func TestAutobanBansJunkSender(t *testing.T) {
	e := start(t, autoban(3))
	sub := e.deps.Events.Subscribe(64, events.AddressBanned)
	defer sub.Close()
	for range 3 {
		e.junk("127.0.0.2")
	}
	select {
	case ev := <-sub.C():
		if ev.Reason != "autoban" || ev.CIDR != "127.0.0.2/32" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no AddressBanned event")
	}
	if !e.deps.Bans.Check(netip.MustParseAddr("127.0.0.2")) {
		t.Fatal("not banned")
	}
	bans := e.deps.Bans.List()
	if len(bans) != 1 || bans[0].Reason != "autoban" || time.Until(bans[0].Expires) > time.Minute {
		t.Fatalf("bans %+v", bans)
	}
	if n := testutil.ToFloat64(e.deps.Metrics.Autobans); n != 1 {
		t.Fatalf("compass_autobans_total = %v", n)
	}
	refused := e.rawFrom("127.0.0.2")
	writeParts(t, refused, []byte(preamble+hello))
	if got := readAll(t, refused); len(got) != 0 {
		t.Fatalf("server wrote %q to a banned address", got)
	}
	waitFor(t, "refused at accept", func() bool { return e.closed(metrics.ClosedBannedAtAccept) == 1 })
	if n := e.deps.Sniff.Counts()[sniff.TLS]; n != 3 {
		t.Fatalf("tls counted %d, want 3 (the refused one is not sniffed)", n)
	}
	// The allowlisted address and a third one are unaffected.
	for _, from := range []string{"127.0.0.1", "127.0.0.3"} {
		c, err := client.Dial(context.Background(), e.addr, client.Options{User: "ok", LocalAddr: from})
		if err != nil {
			t.Fatalf("from %s: %v", from, err)
		}
		c.Close()
	}
}

// Allowlisted addresses, an autoban switched off, empty connections (health
// checks) and connection-count refusals never ban.
func TestAutobanNeverBans(t *testing.T) {
	t.Run("allowlisted", func(t *testing.T) {
		e := start(t, autoban(2))
		for range 5 {
			e.junk("127.0.0.1")
		}
		e.noBans()
	})
	t.Run("default-allows-loopback", func(t *testing.T) {
		e := start(t, func(c *config.Config) { c.AutobanThreshold = 2 })
		for _, from := range []string{"127.0.0.1", "127.0.0.9", "127.0.0.1"} {
			e.junk(from)
			e.junk(from)
		}
		e.noBans()
	})
	t.Run("off", func(t *testing.T) {
		e := start(t, func(c *config.Config) { autoban(2)(c); c.Autoban = false })
		for range 5 {
			e.junk("127.0.0.2")
		}
		e.noBans()
	})
	t.Run("empty", func(t *testing.T) {
		e := start(t, autoban(2))
		for range 5 {
			e.rawFrom("127.0.0.2").Close()
		}
		waitFor(t, "empty counted", func() bool { return e.deps.Sniff.Counts()[sniff.Empty] == 5 })
		e.noBans()
	})
	t.Run("limits", func(t *testing.T) {
		e := start(t, func(c *config.Config) { autoban(2)(c); c.MaxConnsPerIP = 1 })
		held := e.rawFrom("127.0.0.2")
		writeParts(t, held, []byte(preamble))
		for range 5 {
			c := e.rawFrom("127.0.0.2")
			readAll(t, c)
		}
		waitFor(t, "refusals", func() bool { return e.closed(metrics.ClosedMaxConnsPerIP) == 5 })
		e.noBans()
	})
}

func (e *env) noBans() {
	e.t.Helper()
	time.Sleep(20 * time.Millisecond)
	if b := e.deps.Bans.List(); len(b) != 0 {
		e.t.Fatalf("bans %+v", b)
	}
	if n := testutil.ToFloat64(e.deps.Metrics.Autobans); n != 0 {
		e.t.Fatalf("compass_autobans_total = %v", n)
	}
}

// Silence until the handshake deadline (slowloris, port scanners) counts.
func TestAutobanCountsTimeouts(t *testing.T) {
	e := start(t, func(c *config.Config) { autoban(2)(c); c.HandshakeTimeout = 100 * time.Millisecond })
	for range 2 {
		c := e.rawFrom("127.0.0.2")
		writeParts(t, c, []byte("U-Com"))
		readAll(t, c)
	}
	waitFor(t, "banned", func() bool { return e.deps.Bans.Check(netip.MustParseAddr("127.0.0.2")) })
}

// The sweeper forgets counts whose window ended: the tracked gauge drops.
func TestAutobanTrackedPruned(t *testing.T) {
	e := start(t, func(c *config.Config) {
		autoban(10)(c)
		c.AutobanWindow = 100 * time.Millisecond
		c.Heartbeat = 200 * time.Millisecond // the sweeper ticks every 50ms
	})
	e.junk("127.0.0.2")
	e.junk("127.0.0.3")
	waitFor(t, "tracked", func() bool { return testutil.ToFloat64(e.deps.Metrics.AutobanTracked) == 2 })
	waitFor(t, "pruned", func() bool { return testutil.ToFloat64(e.deps.Metrics.AutobanTracked) == 0 })
}
