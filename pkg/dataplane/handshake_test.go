package dataplane_test

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
)

const hello = `{"type":"hello","user":"alice"}` + "\n"

// The preamble and hello may arrive in one packet or split at any byte.
func TestHandshakeSplitAtEveryByte(t *testing.T) {
	e := start(t, nil)
	msg := "U-Compass/1\n" + hello
	for cut := 0; cut <= len(msg); cut++ {
		c := e.raw()
		if _, err := c.Write([]byte(msg[:cut])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // let the first part arrive alone
		if _, err := c.Write([]byte(msg[cut:])); err != nil {
			t.Fatal(err)
		}
		lines := readLines(t, bufio.NewReader(c), c, 1)
		var w struct {
			Type, Session, User string
			HeartbeatMS         int `json:"heartbeat_ms"`
			MaxLine             int `json:"max_line"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &w); err != nil || w.Type != "welcome" || w.User != "alice" || w.Session == "" || w.HeartbeatMS != 30000 || w.MaxLine != 4096 {
			t.Fatalf("cut %d: got %q (%v)", cut, lines[0], err)
		}
		c.Close()
	}
}

// Byte by byte, with CRLF line ends, an empty line before hello.
func TestHandshakeByteByByteCRLF(t *testing.T) {
	e := start(t, nil)
	c := e.raw()
	msg := "U-Compass/1\n\r\n\n" + strings.TrimSuffix(hello, "\n") + "\r\n"
	for i := range len(msg) {
		if _, err := c.Write([]byte{msg[i]}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond)
	}
	if l := readLines(t, bufio.NewReader(c), c, 1)[0]; !strings.HasPrefix(l, `{"type":"welcome"`) {
		t.Fatalf("got %q", l)
	}
}

// Before welcome, anything but hello is answered and the connection closed.
func TestHandshakeErrorsClose(t *testing.T) {
	e := start(t, nil)
	for _, tc := range []struct{ name, send, want string }{
		{"join first", `{"type":"join","group":"g1","id":7}`, `{"type":"error","code":"handshake_required","msg":"hello expected","id":7}`},
		{"not json", `hello there`, `{"type":"error","code":"invalid_json"`},
		{"unknown type", `{"type":"bogus"}`, `{"type":"error","code":"handshake_required"`},
		{"hello without user", `{"type":"hello"}`, `{"type":"error","code":"unauthorized"`},
		{"bad token", `{"type":"hello","token":"x.y.z"}`, `{"type":"error","code":"unauthorized"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.raw()
			c.Write([]byte("U-Compass/1\n" + tc.send + "\n"))
			got := string(readAll(t, c))
			if !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 {
				t.Fatalf("got %q, want one line starting %q then EOF", got, tc.want)
			}
		})
	}
}

// With authentication on, tokens decide.
func TestHandshakeTokens(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Dev = false })
	good := token(t, "bob", []string{"g1"}, time.Hour)
	c, err := client.Dial(ctx(t), e.addr, client.Options{Token: good})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Welcome().User != "bob" {
		t.Fatalf("welcome %+v", c.Welcome())
	}
	for name, tok := range map[string]string{
		"expired":      token(t, "bob", []string{"g1"}, -time.Hour),
		"dev user":     "",
		"other secret": mustSign(t, []byte("another-secret-another-secret-0123456789"), "bob"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := client.Dial(ctx(t), e.addr, client.Options{Token: tok, User: "bob"})
			var se *client.ServerError
			if !errorAs(err, &se) || se.Code != "unauthorized" {
				t.Fatalf("got %v, want unauthorized", err)
			}
		})
	}
}

// Preamble and hello must both arrive within the deadline from accept; a
// client trickling bytes cannot stretch it.
func TestHandshakeDeadlineIsAbsolute(t *testing.T) {
	e := start(t, func(c *config.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	c := e.raw()
	c.Write([]byte("U-Compass/1\n"))
	stop := make(chan struct{})
	go func() {
		for _, b := range []byte(`{"type":"hello","user":"slow`) {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			c.Write([]byte{b})
		}
	}()
	start := time.Now()
	got := readAll(t, c)
	close(stop)
	if len(got) != 0 {
		t.Fatalf("wrote %q to a client that never finished its hello", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// A connection that sends nothing is closed silently at the deadline and
// counted as class timeout.
func TestHandshakeSilentClient(t *testing.T) {
	e := start(t, func(c *config.Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	c := e.raw()
	if got := readAll(t, c); len(got) != 0 {
		t.Fatalf("got %q", got)
	}
	waitFor(t, "timeout counted", func() bool { return e.deps.Sniff.Counts()[sniffTimeout] == 1 })
}
