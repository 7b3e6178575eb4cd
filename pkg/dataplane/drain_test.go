package dataplane_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
)

// Shutdown: not ready, no new connections, every session gets bye
// shutdown with retry_after_ms 0, spread over the window, all closed in it.
func TestDrain(t *testing.T) {
	e := start(t, func(c *config.Config) { c.DrainTimeout = time.Second })
	var cs []*client.Client
	for i := range 20 {
		c := e.dial("u" + string(rune('a'+i)))
		join(t, c, "g")
		cs = append(cs, c)
	}
	for _, c := range cs {
		go func() {
			for range c.Messages() { // presence, drained below
			}
		}()
	}
	idle := e.raw() // a connection still being sniffed
	begin := time.Now()
	go e.stop()
	waitFor(t, "not ready", func() bool { return !e.dp.Ready() })
	if c, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		// The listener is closed: a connect must fail or be closed at once.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, _ := c.Read(make([]byte, 1)); n != 0 {
			t.Error("a new connection was served while draining")
		}
		c.Close()
	}
	var byes []time.Duration
	for _, c := range cs {
		<-c.Done()
		byes = append(byes, time.Since(begin))
	}
	if readAll(t, idle); time.Since(begin) > 3*time.Second {
		t.Fatalf("drain took %v", time.Since(begin))
	}
	if spread := byes[len(byes)-1] - byes[0]; spread < 200*time.Millisecond {
		// Not a timing claim: 20 sessions in 20 batches over 0.8 s cannot
		// all close within 0.2 s unless the batches were not spread.
		t.Errorf("all sessions closed within %v: not spread", spread)
	}
}

// The byes themselves: reason shutdown, retry at once.
func TestDrainBye(t *testing.T) {
	e := start(t, func(c *config.Config) { c.DrainTimeout = 300 * time.Millisecond })
	c := e.dial("alice")
	e.shutdown()
	got := ended(t, c)
	if len(got) != 1 || got[0].Type != "bye" || got[0].Reason != "shutdown" || got[0].RetryAfterMS == nil || *got[0].RetryAfterMS != 0 {
		t.Fatalf("got %+v", got)
	}
}

func TestKick(t *testing.T) {
	e := start(t, nil)
	a, b := e.dial("alice"), e.dial("bob")
	join(t, a, "g")
	join(t, b, "g")
	expectPresence(t, a, "g", "bob", "online")
	s := e.deps.Table.ByUser("bob")[0]
	if !e.dp.Kick(s, "kicked", "by operator") {
		t.Fatal("kick refused")
	}
	if e.dp.Kick(s, "kicked", "twice") {
		t.Fatal("a closing session was kicked again")
	}
	got := ended(t, b)
	if len(got) != 1 || got[0].Reason != "kicked" || got[0].Msg != "by operator" || got[0].RetryAfterMS != nil {
		t.Fatalf("got %+v", got)
	}
	expectPresence(t, a, "g", "bob", "offline")
	waitFor(t, "table", func() bool { return e.deps.Table.Len() == 1 })
}

// A connection accepted before a ban and still being sniffed is refused
// when its preamble arrives: the ban could not kick it, it was no session.
func TestBanWhileSniffing(t *testing.T) {
	e := start(t, nil)
	c := e.raw()
	waitFor(t, "accepted", func() bool { return e.dp.Conns() == 1 })
	e.deps.Bans.Add(netip.MustParsePrefix("127.0.0.1/32"), time.Minute, "test")
	c.Write([]byte("U-Compass/1\n" + hello))
	if got := readAll(t, c); len(got) != 0 {
		t.Fatalf("a banned address got %q", got)
	}
	if e.deps.Table.Len() != 0 {
		t.Fatal("a banned address became a session")
	}
}
