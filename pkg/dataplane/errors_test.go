package dataplane_test

import (
	"bufio"
	"strings"
	"testing"

	"github.com/ucompass/compass/pkg/config"
)

// welcomed opens a raw connection past welcome and returns its reader.
func (e *env) welcomed(user string) (*bufio.Reader, func(string)) {
	e.t.Helper()
	c := e.raw()
	c.Write([]byte("U-Compass/1\n" + `{"type":"hello","user":"` + user + `"}` + "\n"))
	r := bufio.NewReader(c)
	if l := readLines(e.t, r, c, 1)[0]; !strings.HasPrefix(l, `{"type":"welcome"`) {
		e.t.Fatalf("got %q", l)
	}
	send := func(s string) {
		if _, err := c.Write([]byte(s)); err != nil {
			e.t.Fatal(err)
		}
	}
	e.t.Cleanup(func() { c.Close() })
	return r, send
}

// Every error that keeps the connection open, with its id echo.
func TestErrorsStayOpen(t *testing.T) {
	e := start(t, nil)
	cases := []struct{ name, send, want string }{
		{"invalid json", `{"type":`, `{"type":"error","code":"invalid_json","msg":"not a JSON object"}`},
		{"json array", `[1,2]`, `"code":"invalid_json"`},
		{"missing field", `{"type":"join","id":1}`, `"code":"invalid_message"`},
		{"ill-typed field", `{"type":"join","group":5,"id":"a"}`, `"id":"a"`},
		{"unknown type", `{"type":"teleport","id":2}`, `{"type":"error","code":"unknown_type","msg":`},
		{"invalid group", `{"type":"join","group":"no spaces","id":3}`, `"code":"invalid_group"`},
		{"group too long", `{"type":"join","group":"` + strings.Repeat("g", 65) + `"}`, `"code":"invalid_group"`},
		{"lat out of range", `{"type":"loc","lat":91,"lng":0,"id":4}`, `"code":"invalid_location"`},
		{"lng out of range", `{"type":"loc","lat":0,"lng":-180.5}`, `"code":"invalid_location"`},
		{"not finite", `{"type":"loc","lat":1e400,"lng":0,"id":5}`, `"id":5`},
		{"negative acc", `{"type":"loc","lat":1,"lng":1,"acc":-1}`, `"code":"invalid_location"`},
		{"not joined", `{"type":"leave","group":"g9","id":6}`, `"code":"not_joined"`},
		{"second hello", `{"type":"hello","user":"x","id":7}`, `"code":"invalid_message"`},
	}
	r, send := e.welcomed("alice")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			send(tc.send + "\n")
			send(`{"type":"ping","id":"after"}` + "\n")
			l, err := r.ReadString('\n')
			if err != nil || !strings.Contains(l, tc.want) || !strings.HasPrefix(l, `{"type":"error"`) {
				t.Fatalf("got %q (%v), want an error containing %q", l, err, tc.want)
			}
			if l, err := r.ReadString('\n'); err != nil || l != `{"type":"pong","id":"after"}`+"\n" {
				t.Fatalf("connection did not stay open: %q %v", l, err)
			}
		})
	}
}

// A line over max_line is answered line_too_long, then closed, no bye.
func TestLineTooLong(t *testing.T) {
	e := start(t, func(c *config.Config) { c.MaxLine = 256 })
	for _, n := range []int{255, 256} { // terminator included: 255+1 fits, 256+1 does not
		c := e.raw()
		c.Write([]byte("U-Compass/1\n" + hello))
		r := bufio.NewReader(c)
		readLines(t, r, c, 1)
		line := `{"type":"ping","id":1,"pad":"` + strings.Repeat("x", n-len(`{"type":"ping","id":1,"pad":""}`)) + `"}` + "\n"
		c.Write([]byte(line))
		got := string(readAllFrom(t, r, c, n == 255))
		if n == 255 && got != `{"type":"pong","id":1}`+"\n" {
			t.Fatalf("a line of exactly max_line: got %q", got)
		}
		if n == 256 && got != `{"type":"error","code":"line_too_long","msg":"line longer than max_line"}`+"\n" {
			t.Fatalf("a line over max_line: got %q", got)
		}
	}
}

// An endless line without a newline is cut at max_line.
func TestEndlessLine(t *testing.T) {
	e := start(t, func(c *config.Config) { c.MaxLine = 1024 })
	c := e.raw()
	c.Write([]byte("U-Compass/1\n" + hello))
	r := bufio.NewReader(c)
	readLines(t, r, c, 1)
	go func() {
		chunk := []byte(strings.Repeat("a", 100))
		for range 1000 {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	if got := string(readAllFrom(t, r, c, false)); !strings.Contains(got, "line_too_long") {
		t.Fatalf("got %q", got)
	}
}

// Errors past the abuse threshold end the session with bye abuse.
func TestAbuseScore(t *testing.T) {
	e := start(t, func(c *config.Config) { c.AbuseThreshold = 3 })
	r, send := e.welcomed("mallory")
	for range 4 {
		send("garbage\n")
	}
	got := readLinesUntilEOF(t, r)
	if len(got) != 5 || !strings.Contains(got[4], `{"type":"bye","reason":"abuse"`) {
		t.Fatalf("got %q", got)
	}
}
