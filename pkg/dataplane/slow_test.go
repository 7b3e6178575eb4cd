package dataplane_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
)

// smallRcvBuf dials with a 4 KiB receive buffer, so that a reader that
// stops reading backs up into the server quickly.
func smallRcvBuf(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// One member never reads while the others publish as fast as allowed: it
// is closed as a slow consumer, and nobody else loses a message.
func TestSlowConsumerIsolated(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.LocRate, c.LocBurst = 2000, 100
		c.QueueBytes, c.QueueMessages = 64<<10, 512
		c.WriteTimeout = 500 * time.Millisecond
	})
	slow := smallRcvBuf(t, e.addr)
	slow.Write([]byte("U-Compass/1\n" + `{"type":"hello","user":"slow"}` + "\n" + `{"type":"join","group":"g","id":1}` + "\n"))
	sr := bufio.NewReader(slow)
	readLines(t, sr, slow, 2) // welcome, joined; then it stops reading
	// Shrink the server's send buffer too (same process), so the kernel
	// does not absorb megabytes before the outbound queue is tested.
	for _, s := range e.deps.Table.ByUser("slow") {
		if err := syscall.SetsockoptInt(s.FD, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096); err != nil {
			t.Fatal(err)
		}
	}

	const senders, each = 3, 3000
	var cs []*client.Client
	for i := range senders {
		c := e.dial("sender" + string(rune('a'+i)))
		join(t, c, "g")
		cs = append(cs, c)
		go func() { // senders read what the others publish
			for range c.Messages() {
			}
		}()
	}
	fast := e.dial("fast")
	join(t, fast, "g")
	got := make(chan int)
	go func() {
		n := 0
		for m := range fast.Messages() {
			if m.Type == "loc" {
				n++
				if n == senders*each {
					break
				}
			}
		}
		got <- n
	}()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Millisecond) // within the loc rate
			defer tick.Stop()
			for i := range each {
				<-tick.C
				if err := c.LocNoAck(client.Loc{Lat: float64(i % 90), Lng: 1}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case n := <-got:
		if n != senders*each {
			t.Fatalf("fast reader got %d of %d", n, senders*each)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fast reader starved")
	}
	waitFor(t, "slow consumer kicked", func() bool {
		return testutil.ToFloat64(e.deps.Metrics.Kicks.WithLabelValues("slow_consumer")) == 1
	})
	// What reached the slow reader: lines, a bye slow_consumer last if it
	// still fitted, then EOF. (When the write timeout cut a blocked write,
	// the last line may be incomplete: TCP cannot take bytes back.)
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := sr.ReadString('\n')
		if err != nil {
			if !isReset(err) {
				t.Fatalf("slow reader: %v", err)
			}
			break
		}
		lines = append(lines, l)
	}
	for i, l := range lines {
		if strings.HasPrefix(l, `{"type":"bye"`) && (i != len(lines)-1 || !strings.Contains(l, `"reason":"slow_consumer"`)) {
			t.Fatalf("bad bye %q at %d of %d", l, i, len(lines))
		}
	}
	for _, c := range cs {
		if err := c.Ping(ctx(t)); err != nil {
			t.Fatalf("a sender was hurt: %v", err)
		}
	}
}
