package client

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"testing"
)

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 37.55, 126.99, -180, 90, 1e-6, 9.999e-7, 1e-7, 1e20, 1e21, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		floats = append(floats, (r.Float64()-0.5)*360, math.Float64frombits(r.Uint64()))
	}
	for _, f := range floats {
		if !finite(f) {
			continue
		}
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Fatalf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "g1", `a"b\c`, "tab\tnew\nline\x00\x1f", "뉴욕", "<&>"} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Errorf("appendString(%q) = %s, reads back as %q, %v", s, b, got, err)
		}
	}
	if got := string(appendString(nil, "\xff")); got != "\"\xff\"" {
		t.Errorf("invalid UTF-8 not passed through: %q", got)
	}
}

func TestAppendRequests(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(appendLoc(nil, Loc{Lat: 37.55, Lng: -0.5}, 0)), `{"type":"loc","lat":37.55,"lng":-0.5}` + "\n"},
		{string(appendLoc(nil, Loc{Lat: 1, Lng: 2, Acc: new(0.0), TS: new(int64(-5))}, 9)), `{"type":"loc","lat":1,"lng":2,"acc":0,"ts":-5,"id":9}` + "\n"},
		{string(appendGroupRequest(nil, "leave", "g.1:x-y_z", 12)), `{"type":"leave","group":"g.1:x-y_z","id":12}` + "\n"},
		{string(appendPing(nil, 3)), `{"type":"ping","id":3}` + "\n"},
		{string(appendHello(nil, Options{})), `{"type":"hello","user":""}` + "\n"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// discardConn accepts every write.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }

func TestWritesDoNotAllocate(t *testing.T) {
	c := newClient(discardConn{}, Options{}.withDefaults())
	l := Loc{Lat: 37.55, Lng: 126.99, Acc: new(5.0), TS: new(int64(1732400000000))}
	c.LocNoAck(l) // grows the write buffer
	if n := testing.AllocsPerRun(100, func() { c.LocNoAck(l) }); n != 0 {
		t.Errorf("LocNoAck: %v allocations, want 0", n)
	}
	line := []byte("junk\n")
	if n := testing.AllocsPerRun(100, func() { c.Send(line) }); n != 0 {
		t.Errorf("Send: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { c.writeLocked(context.Background(), line) }); n != 0 {
		t.Errorf("writeLocked: %v allocations, want 0", n)
	}
}
