package dataplane_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

func join(t *testing.T, c *client.Client, g string) client.Message {
	t.Helper()
	m, err := c.Join(ctx(t), g)
	if err != nil {
		t.Fatalf("join %s: %v", g, err)
	}
	if m.Type != "joined" || m.Group != g {
		t.Fatalf("join reply %s", m.Raw)
	}
	return m
}

func expectPresence(t *testing.T, c *client.Client, g, user, state string) {
	t.Helper()
	m := next(t, c)
	if m.Type != "presence" || m.Group != g || m.User != user || m.State != state {
		t.Fatalf("got %s, want presence %s %s %s", m.Raw, g, user, state)
	}
}

func TestJoinSnapshot(t *testing.T) {
	e := start(t, nil)
	a, b, c := e.dial("alice"), e.dial("bob"), e.dial("carol")
	if m := join(t, a, "g1"); len(m.Members) != 0 {
		t.Fatalf("first member sees %s", m.Raw)
	}
	if err := a.Loc(ctx(t), client.Loc{Lat: 37.55, Lng: 126.99, Acc: f64(5), TS: i64(1732400000000)}); err != nil {
		t.Fatal(err)
	}
	m := join(t, b, "g1")
	expectPresence(t, a, "g1", "bob", "online")
	if len(m.Members) != 1 || m.Members[0].User != "alice" || *m.Members[0].Lat != 37.55 || *m.Members[0].Lng != 126.99 ||
		*m.Members[0].Acc != 5 || *m.Members[0].TS != 1732400000000 || m.Members[0].STS == nil {
		t.Fatalf("snapshot with location: %s", m.Raw)
	}
	m = join(t, c, "g1")
	if len(m.Members) != 2 {
		t.Fatalf("snapshot: %s", m.Raw)
	}
	for _, mem := range m.Members {
		if mem.User == "bob" && (mem.Lat != nil || mem.Lng != nil || mem.TS != nil || mem.STS != nil) {
			t.Fatalf("member without a location has coordinates: %s", m.Raw)
		}
	}
}

func TestLocFanoutNoEcho(t *testing.T) {
	e := start(t, nil)
	a, b, c := e.dial("alice"), e.dial("bob"), e.dial("carol")
	join(t, a, "g1")
	join(t, b, "g1")
	expectPresence(t, a, "g1", "bob", "online")
	join(t, c, "g2")
	before := time.Now().UnixMilli()
	if err := a.Loc(ctx(t), client.Loc{Lat: -33.9, Lng: 151.2}); err != nil {
		t.Fatal(err)
	}
	m := next(t, b)
	if m.Type != "loc" || m.Group != "g1" || m.User != "alice" || *m.Lat != -33.9 || *m.Lng != 151.2 || m.Acc != nil || *m.STS < before {
		t.Fatalf("bob got %s", m.Raw)
	}
	quiet(t, a) // never back to the sender
	quiet(t, c) // nor to another group
	waitFor(t, "fanout observed at the write", func() bool {
		return e.histCount("compass_fanout_duration_seconds") == 1
	})
	// Without an id: no ack.
	if err := a.LocNoAck(client.Loc{Lat: 1, Lng: 2}); err != nil {
		t.Fatal(err)
	}
	next(t, b)
	quiet(t, a)
	// In no group: acked, delivered to nobody, remembered.
	if err := c.Loc(ctx(t), client.Loc{Lat: 3, Lng: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leave(ctx(t), "g2"); err != nil {
		t.Fatal(err)
	}
	if m := join(t, c, "g1"); len(m.Members) != 2 {
		t.Fatalf("%s", m.Raw)
	}
	m = join(t, e.dial("dave"), "g1")
	for _, mem := range m.Members {
		if mem.User == "carol" && (mem.Lat == nil || *mem.Lat != 3) {
			t.Fatalf("carol's location from before her join is missing: %s", m.Raw)
		}
	}
}

// Presence is per user: a second session sends no online, the first of two
// leaving sends no offline; leave, clean close and RST all count.
func TestPresence(t *testing.T) {
	e := start(t, nil)
	a := e.dial("alice")
	join(t, a, "g1")
	b1, b2 := e.dial("bob"), e.dial("bob")
	join(t, b1, "g1")
	expectPresence(t, a, "g1", "bob", "online")
	if m := join(t, b2, "g1"); len(m.Members) != 1 || m.Members[0].User != "alice" {
		t.Fatalf("bob's second session sees %s", m.Raw)
	}
	quiet(t, a)
	// Both of bob's sessions get alice's loc; bob's loc reaches his other session.
	a.LocNoAck(client.Loc{Lat: 1, Lng: 1})
	next(t, b1)
	next(t, b2)
	b1.LocNoAck(client.Loc{Lat: 2, Lng: 2})
	if m := next(t, b2); m.User != "bob" {
		t.Fatalf("%s", m.Raw)
	}
	next(t, a)
	if _, err := b1.Leave(ctx(t), "g1"); err != nil {
		t.Fatal(err)
	}
	quiet(t, a)
	b2.CloseRST()
	expectPresence(t, a, "g1", "bob", "offline")

	c := e.dial("carol")
	join(t, c, "g1")
	expectPresence(t, a, "g1", "carol", "online")
	c.Close()
	expectPresence(t, a, "g1", "carol", "offline")

	d := e.dial("dave")
	join(t, d, "g1")
	expectPresence(t, a, "g1", "dave", "online")
	if _, err := d.Leave(ctx(t), "g1"); err != nil {
		t.Fatal(err)
	}
	expectPresence(t, a, "g1", "dave", "offline")
	waitFor(t, "one group", func() bool { return e.deps.Hub.Len() == 1 })
}

// Order per sender and recipient holds with several concurrent publishers.
func TestOrderPerSender(t *testing.T) {
	e := start(t, func(c *config.Config) { c.LocRate, c.LocBurst = 1e5, 1000 })
	r := e.dial("reader")
	join(t, r, "g")
	const senders, each = 4, 200
	var cs []*client.Client
	for i := range senders {
		c := e.dial(fmt.Sprintf("s%d", i))
		join(t, c, "g")
		cs = append(cs, c)
	}
	for range senders {
		next(t, r) // presence
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				if err := c.LocNoAck(client.Loc{Lat: float64(n) / 1000, Lng: float64(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	last := map[string]float64{}
	for range senders * each {
		m := next(t, r)
		if m.Type != "loc" {
			continue
		}
		if prev, ok := last[m.User]; ok && *m.Lat <= prev {
			t.Fatalf("%s: %v after %v", m.User, *m.Lat, prev)
		}
		last[m.User] = *m.Lat
	}
}

func TestJoinLimitsAndAuthorization(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Dev = false; c.MaxGroups = 2 })
	c, err := client.Dial(ctx(t), e.addr, client.Options{Token: token(t, "bob", []string{"g1", "g2", "g3"}, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Join(ctx(t), "secret")
	if !errors.Is(err, &client.ServerError{Code: "forbidden"}) {
		t.Fatalf("join outside the token: %v", err)
	}
	_, err = c.Join(ctx(t), "bad group!")
	if !errors.Is(err, &client.ServerError{Code: "invalid_group"}) {
		t.Fatalf("validation before authorization: %v", err)
	}
	join(t, c, "g1")
	join(t, c, "g2")
	join(t, c, "g2") // already joined: a fresh snapshot, not a new group
	_, err = c.Join(ctx(t), "g3")
	if !errors.Is(err, &client.ServerError{Code: "too_many_groups"}) {
		t.Fatalf("third group: %v", err)
	}
}

func TestLocRateLimit(t *testing.T) {
	e := start(t, nil)
	c := e.dial("alice")
	for i := range 10 {
		if err := c.Loc(ctx(t), client.Loc{Lat: 1, Lng: 1}); err != nil {
			t.Fatalf("loc %d: %v", i+1, err)
		}
	}
	err := c.Loc(ctx(t), client.Loc{Lat: 1, Lng: 1})
	if !errors.Is(err, &client.ServerError{Code: "rate_limited"}) {
		t.Fatalf("11th loc in a second: %v", err)
	}
	time.Sleep(150 * time.Millisecond) // 1.5 tokens back
	if err := c.Loc(ctx(t), client.Loc{Lat: 1, Lng: 1}); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestIdleClose(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Heartbeat = 100 * time.Millisecond })
	idle, alive := e.dial("idle"), e.dial("alive")
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				alive.Ping(ctx(t))
			}
		}
	}()
	got := ended(t, idle)
	close(done)
	if len(got) != 1 || got[0].Type != "bye" || got[0].Reason != "idle" || got[0].RetryAfterMS != nil {
		t.Fatalf("idle session got %+v", got)
	}
	if err := alive.Ping(ctx(t)); err != nil {
		t.Fatalf("a session that pings was closed: %v", err)
	}
}
