package cluster

import (
	"reflect"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/wire"
)

func TestFrameRoundTrip(t *testing.T) {
	full := wire.Location{Lat: 37.55, Lng: -126.99, Acc: 5, HasAcc: true, TS: 1732400000000, HasTS: true, STS: 1732400000123}
	bare := wire.Location{Lat: 1, Lng: 2, STS: 3}
	line := wire.AppendLoc(nil, "g.1", "bob", full)
	cases := []struct {
		name string
		b    []byte
		want frame
	}{
		{"loc", appendLocFrame(nil, "r1", "bob", full, line),
			frame{kind: kindLoc, replica: "r1", user: "bob", loc: full, hasLoc: true, line: line}},
		{"join", appendMemberFrame(nil, "r1", "bob", true, bare, true),
			frame{kind: kindJoin, replica: "r1", user: "bob", loc: bare, hasLoc: true}},
		{"join without location", appendMemberFrame(nil, "r1", "bob", true, full, false),
			frame{kind: kindJoin, replica: "r1", user: "bob"}},
		{"part", appendMemberFrame(nil, "r1", "bob", false, full, true),
			frame{kind: kindPart, replica: "r1", user: "bob"}},
		{"state", appendStateFrame(nil, "r1", []wire.Member{{User: "a", Loc: full, HasLoc: true}, {User: "b"}}),
			frame{kind: kindState, replica: "r1", members: []wire.Member{{User: "a", Loc: full, HasLoc: true}, {User: "b"}}}},
		{"empty state", appendStateFrame(nil, "r1", nil),
			frame{kind: kindState, replica: "r1", members: []wire.Member{}}},
		{"query", appendQueryFrame(nil, "r1", "a.b"), frame{kind: kindQuery, replica: "r1", group: "a.b"}},
		{"alive", appendHeader(nil, kindAlive, "r1"), frame{kind: kindAlive, replica: "r1"}},
		{"bye", appendHeader(nil, kindBye, "r1"), frame{kind: kindBye, replica: "r1"}},
		{"resync", appendResyncFrame(nil, "r1", "r2"), frame{kind: kindResync, replica: "r1", target: "r2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decode(c.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			for i := range c.b { // every truncation is an error, never a panic
				if _, err := decode(c.b[:i]); err == nil {
					t.Fatalf("truncated at %d decodes", i)
				}
			}
			if _, err := decode(append(c.b[:len(c.b):len(c.b)], 0)); err == nil {
				t.Fatal("trailing byte accepted")
			}
		})
	}
}

func TestLocFrameLineIsOneLine(t *testing.T) {
	loc := wire.Location{Lat: 1, Lng: 2, STS: 3}
	for _, line := range []string{"", "no newline", "two\nlines\n", "\n\n"} {
		if _, err := decode(appendLocFrame(nil, "r1", "bob", loc, []byte(line))); err == nil {
			t.Errorf("line %q accepted", line)
		}
	}
}

func TestSubjects(t *testing.T) {
	s := newSubjects("compass")
	if got := s.group("a.b"); got != "compass.g.612e62" {
		t.Fatal(got)
	}
	if s.group("a.b") == s.group("a") || s.topic(s.ctl("kick")) != "kick" {
		t.Fatal("subjects")
	}
}

func TestBackoff(t *testing.T) {
	f := backoff(time.Second)
	for a := 1; a < 20; a++ {
		d := f(a)
		if d < 50*time.Millisecond || d > time.Second {
			t.Fatalf("attempt %d: %v", a, d)
		}
	}
	if f(1) > 100*time.Millisecond || f(10) < 500*time.Millisecond {
		t.Fatal("no growth")
	}
}

func TestRedact(t *testing.T) {
	if got := redact("nats://u:p@h:4222,nats://h2:4222"); got != "nats://REDACTED@h:4222,nats://h2:4222" {
		t.Fatal(got)
	}
}

func FuzzDecode(f *testing.F) {
	loc := wire.Location{Lat: 1, Lng: 2, Acc: 3, HasAcc: true, STS: 4}
	f.Add(appendLocFrame(nil, "r", "u", loc, wire.AppendLoc(nil, "g", "u", loc)))
	f.Add(appendStateFrame(nil, "r", []wire.Member{{User: "a", Loc: loc, HasLoc: true}}))
	f.Add(appendMemberFrame(nil, "r", "u", true, loc, true))
	f.Add(appendQueryFrame(nil, "r", "g"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decode(b)
		if err != nil {
			return
		}
		if fr.replica == "" {
			t.Fatal("empty replica accepted")
		}
	})
}
