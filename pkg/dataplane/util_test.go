package dataplane_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/sniff"
)

const sniffTimeout = sniff.Timeout

func errorAs(err error, target any) bool { return errors.As(err, target) }

func mustSign(t *testing.T, secret []byte, user string) string {
	t.Helper()
	tok, err := auth.SignHS256(secret, user, []string{"g1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// readAllFrom reads from r until EOF; with open, only what arrives before a
// short pause (the connection is expected to stay open).
func readAllFrom(t *testing.T, r *bufio.Reader, c net.Conn, open bool) []byte {
	t.Helper()
	wait := 8 * time.Second
	if open {
		wait = 300 * time.Millisecond
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(r)
	if open {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("connection ended (%v), expected it open", err)
		}
		return b
	}
	if err != nil && !isReset(err) {
		t.Fatalf("read until EOF: %v (got %q)", err, b)
	}
	return b
}

// readLinesUntilEOF returns every line until the server closes.
func readLinesUntilEOF(t *testing.T, r *bufio.Reader) []string {
	t.Helper()
	var out []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			if l != "" {
				t.Fatalf("partial line %q before %v", l, err)
			}
			return out
		}
		out = append(out, strings.TrimSuffix(l, "\n"))
	}
}

// histCount returns the sample count of histogram name in e's registry.
func (e *env) histCount(name string) uint64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	e.t.Fatalf("no histogram %s", name)
	return 0
}
