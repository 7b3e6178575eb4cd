package dataplane_test

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/metrics"
)

// Past --max-accept-rate (with its burst) a new connection is closed at once
// in OnPrepare, counted as accept_rate, and never sniffed.
func TestAcceptRate(t *testing.T) {
	e := start(t, func(c *config.Config) { c.MaxAcceptRate, c.MaxAcceptBurst = 0.5, 3 })
	for range 3 {
		writeParts(t, e.raw(), []byte(preamble)) // held open, handshaking
	}
	for range 4 {
		c := e.raw()
		start := time.Now()
		if got := readAll(t, c); len(got) != 0 {
			t.Fatalf("server wrote %q", got)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("refusal took %v: not at once", d)
		}
	}
	waitFor(t, "refusals", func() bool { return e.closed(metrics.ClosedAcceptRate) == 4 })
	if n := testutil.ToFloat64(e.deps.Metrics.Accepted); n != 7 {
		t.Fatalf("accepted %v, want every attempt counted (7)", n)
	}
	var sniffed uint64
	for _, n := range e.deps.Sniff.Counts() {
		sniffed += n
	}
	if sniffed != 3 {
		t.Fatalf("sniffed %d connections, want the 3 admitted", sniffed)
	}
}

// Past --max-buffered-bytes new connections are refused at accept; partial
// lines count, and a completed line gives its bytes back.
func TestMaxBufferedBytes(t *testing.T) {
	e := start(t, func(c *config.Config) { c.MaxBufferedBytes = 3000 })
	c := e.raw()
	writeParts(t, c, []byte(preamble+hello))
	r := bufio.NewReader(c)
	readLines(t, r, c, 1)
	writeParts(t, c, []byte(`{"type":"ping","id":1,"pad":"`+strings.Repeat("x", 3000)))
	waitFor(t, "gauge", func() bool { return testutil.ToFloat64(e.deps.Metrics.BufferedBytes) >= 3000 })

	refused := e.raw()
	if got := readAll(t, refused); len(got) != 0 {
		t.Fatalf("server wrote %q", got)
	}
	waitFor(t, "refused", func() bool { return e.closed(metrics.ClosedMaxBuffered) == 1 })

	writeParts(t, c, []byte("\"}\n"))
	if l := readLines(t, r, c, 1)[0]; l != `{"type":"pong","id":1}` {
		t.Fatalf("got %q", l)
	}
	waitFor(t, "gauge back", func() bool { return testutil.ToFloat64(e.deps.Metrics.BufferedBytes) == 0 })
	e.dial("bob")

	// A partial line of a connection that goes away is given back too.
	writeParts(t, c, []byte(`{"type":"ping"`))
	waitFor(t, "partial", func() bool { return testutil.ToFloat64(e.deps.Metrics.BufferedBytes) > 0 })
	c.Close()
	waitFor(t, "released", func() bool { return testutil.ToFloat64(e.deps.Metrics.BufferedBytes) == 0 })
}
