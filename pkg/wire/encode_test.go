package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var bob = Location{Lat: 37.55, Lng: 126.99, Acc: 5, HasAcc: true, TS: 1732400000000, HasTS: true, STS: 1732400000123}

// TestAppendExamples checks every encoder against protocol.md's examples,
// byte for byte.
func TestAppendExamples(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"welcome", AppendWelcome(nil, "s-1", "alice", 30000, 4096),
			`{"type":"welcome","session":"s-1","user":"alice","heartbeat_ms":30000,"max_line":4096}`},
		{"joined", AppendJoined(nil, "g1", []byte("1"), []Member{{User: "bob", Loc: bob, HasLoc: true}}),
			`{"type":"joined","group":"g1","id":1,"members":[{"user":"bob","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"sts":1732400000123}]}`},
		{"joined no location", AppendJoined(nil, "g1", nil, []Member{{User: "bob", Loc: bob}, {User: "eve", Loc: Location{Lat: -1, Lng: 2.5, STS: 7}, HasLoc: true}}),
			`{"type":"joined","group":"g1","members":[{"user":"bob"},{"user":"eve","lat":-1,"lng":2.5,"sts":7}]}`},
		{"joined empty", AppendJoined(nil, "g1", []byte(`"j"`), nil),
			`{"type":"joined","group":"g1","id":"j","members":[]}`},
		{"left", AppendLeft(nil, "g1", []byte("2")), `{"type":"left","group":"g1","id":2}`},
		{"left no id", AppendLeft(nil, "g1", nil), `{"type":"left","group":"g1"}`},
		{"ack", AppendAck(nil, []byte("3")), `{"type":"ack","id":3}`},
		{"ack empty id", AppendAck(nil, []byte{}), `{"type":"ack"}`},
		{"pong", AppendPong(nil, []byte("4")), `{"type":"pong","id":4}`},
		{"pong string id", AppendPong(nil, []byte(`"p\"1"`)), `{"type":"pong","id":"p\"1"}`},
		{"pong no id", AppendPong(nil, nil), `{"type":"pong"}`},
		{"loc", AppendLoc(nil, "g1", "bob", bob),
			`{"type":"loc","group":"g1","user":"bob","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"sts":1732400000123}`},
		{"loc minimal", AppendLoc(nil, "g1", "bob", Location{Lat: 0, Lng: -0.000001}),
			`{"type":"loc","group":"g1","user":"bob","lat":0,"lng":-0.000001,"sts":0}`},
		{"presence online", AppendPresence(nil, "g1", "bob", true), `{"type":"presence","group":"g1","user":"bob","state":"online"}`},
		{"presence offline", AppendPresence(nil, "g1", "bob", false), `{"type":"presence","group":"g1","user":"bob","state":"offline"}`},
		{"error", AppendError(nil, CodeInvalidLocation, "lat out of range", []byte("5")),
			`{"type":"error","code":"invalid_location","msg":"lat out of range","id":5}`},
		{"error no id", AppendError(nil, CodeLineTooLong, "", nil), `{"type":"error","code":"line_too_long","msg":""}`},
		{"bye", AppendBye(nil, "kicked", "by operator", 60000),
			`{"type":"bye","reason":"kicked","msg":"by operator","retry_after_ms":60000}`},
		{"bye shutdown", AppendBye(nil, "shutdown", "", 0), `{"type":"bye","reason":"shutdown","retry_after_ms":0}`},
		{"bye no retry", AppendBye(nil, "banned", "", -1), `{"type":"bye","reason":"banned"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want+"\n" {
				t.Fatalf("got  %s\nwant %s", tt.got, tt.want)
			}
			if !json.Valid(tt.got) {
				t.Fatalf("not valid JSON: %s", tt.got)
			}
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	b := AppendAck([]byte("prefix\n"), []byte("1"))
	b = AppendPong(b, nil)
	if string(b) != "prefix\n{\"type\":\"ack\",\"id\":1}\n{\"type\":\"pong\"}\n" {
		t.Fatalf("got %q", b)
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"alice", `"alice"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"\xff", `"\ufffd"`},
		{"a\xe2\x82", `"a\ufffd\ufffd"`}, // truncated sequence: one U+FFFD per byte
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"é😀김", `"é😀김"`},
		{"</script>&", `"</script>&"`},
		{"\ufffd", "\"\ufffd\""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := appendString(nil, tt.in)
			if string(got) != tt.want {
				t.Fatalf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if string(got) != stdString(tt.in) {
				t.Errorf("appendString(%q) = %s, encoding/json %s", tt.in, got, stdString(tt.in))
			}
		})
	}
}

// stdString is encoding/json's encoding of s, without HTML escaping.
func stdString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "-0"}, {5, "5"}, {37.55, "37.55"}, {-126.99, "-126.99"},
		{1e-6, "0.000001"}, {1e-7, "1e-7"}, {1.5e-300, "1.5e-300"}, {1e20, "100000000000000000000"},
		{1e21, "1e+21"}, {math.MaxFloat64, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
		{math.NaN(), "null"}, {math.Inf(1), "null"}, {math.Inf(-1), "null"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.in)); got != tt.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tt.in, got, tt.want)
		}
		if !math.IsNaN(tt.in) && !math.IsInf(tt.in, 0) {
			std, _ := json.Marshal(tt.in)
			if string(std) != tt.want {
				t.Errorf("appendFloat(%v) = %s, encoding/json %s", tt.in, tt.want, std)
			}
		}
	}
}

func TestAppendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	buf := make([]byte, 0, 4096)
	members := []Member{{User: "bob", Loc: bob, HasLoc: true}, {User: "eve"}}
	id := []byte(`"x"`)
	n := testing.AllocsPerRun(100, func() {
		b := AppendWelcome(buf[:0], "s", "u\x00", 1, 2)
		b = AppendJoined(b, "g", id, members)
		b = AppendLeft(b, "g", id)
		b = AppendAck(b, id)
		b = AppendPong(b, id)
		b = AppendLoc(b, "g", "u\xff\u2028", bob)
		b = AppendPresence(b, "g", "u", true)
		b = AppendError(b, CodeForbidden, "m\"", id)
		_ = AppendBye(b, "r", "m", 1)
	})
	if n != 0 {
		t.Fatalf("%v allocs into a buffer with room, want 0", n)
	}
}

// message is the union of the fields of all server messages.
type message struct {
	Type      string    `json:"type"`
	Session   *string   `json:"session"`
	User      *string   `json:"user"`
	Group     *string   `json:"group"`
	Code      *string   `json:"code"`
	Msg       *string   `json:"msg"`
	Reason    *string   `json:"reason"`
	State     *string   `json:"state"`
	ID        any       `json:"id"`
	Heartbeat *int64    `json:"heartbeat_ms"`
	MaxLine   *int64    `json:"max_line"`
	Retry     *int64    `json:"retry_after_ms"`
	Members   []message `json:"members"`
	Lat       *float64  `json:"lat"`
	Lng       *float64  `json:"lng"`
	Acc       *float64  `json:"acc"`
	TS        *int64    `json:"ts"`
	STS       *int64    `json:"sts"`
}

// parse checks that out is one JSON object and a newline, and decodes it.
func parse(t *testing.T, out []byte) message {
	t.Helper()
	if len(out) == 0 || out[len(out)-1] != '\n' || bytes.IndexByte(out, '\n') != len(out)-1 {
		t.Fatalf("not one line: %q", out)
	}
	if !json.Valid(out) {
		t.Fatalf("not valid JSON: %q", out)
	}
	var m message
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return m
}

func FuzzEncode(f *testing.F) {
	f.Add("g1", "bob", "by operator", 37.55, 126.99, 5.0, int64(1732400000000))
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, lat, lng, acc float64, n int64) {
		want := func(s string) string { return string([]rune(s)) } // invalid bytes become U+FFFD
		eq := func(name string, got *string, s string) {
			t.Helper()
			if got == nil || *got != want(s) {
				t.Fatalf("%s = %v, want %q", name, got, want(s))
			}
		}
		if got := string(appendString(nil, s1)); got != stdString(s1) {
			t.Fatalf("appendString(%q) = %s, encoding/json %s", s1, got, stdString(s1))
		}
		// Ids as Decode gives them: s3 as a string id, n as a number id.
		strID := decodedID(t, appendString(nil, s3))
		numID := decodedID(t, strconv.AppendInt(nil, n, 10))

		m := parse(t, AppendWelcome(nil, s1, s2, int(n), int(n)))
		eq("session", m.Session, s1)
		eq("user", m.User, s2)

		loc := Location{Lat: lat, Lng: lng, Acc: acc, HasAcc: n%2 == 0, TS: n, HasTS: n%3 == 0, STS: n}
		m = parse(t, AppendJoined(nil, s1, strID, []Member{{User: s2, Loc: loc, HasLoc: true}, {User: s3}}))
		eq("group", m.Group, s1)
		if m.ID != want(s3) || len(m.Members) != 2 {
			t.Fatalf("joined: %+v", m)
		}
		eq("members[0].user", m.Members[0].User, s2)
		checkLocFields(t, m.Members[0], loc)
		eq("members[1].user", m.Members[1].User, s3)
		if m.Members[1].Lat != nil || m.Members[1].STS != nil {
			t.Fatalf("member without location has fields: %+v", m.Members[1])
		}

		m = parse(t, AppendLeft(nil, s1, numID))
		eq("group", m.Group, s1)
		if m.ID != json.Number(numID) {
			t.Fatalf("left id %v, want %s", m.ID, numID)
		}
		parse(t, AppendAck(nil, strID))
		parse(t, AppendPong(nil, numID))

		m = parse(t, AppendLoc(nil, s1, s2, loc))
		eq("group", m.Group, s1)
		eq("user", m.User, s2)
		checkLocFields(t, m, loc)

		m = parse(t, AppendPresence(nil, s1, s2, n%2 == 0))
		eq("group", m.Group, s1)
		eq("user", m.User, s2)

		m = parse(t, AppendError(nil, Code(s1), s2, strID))
		eq("code", m.Code, s1)
		eq("msg", m.Msg, s2)

		m = parse(t, AppendBye(nil, s1, s2, n))
		eq("reason", m.Reason, s1)
		if s2 != "" {
			eq("msg", m.Msg, s2)
		} else if m.Msg != nil {
			t.Fatalf("bye with empty msg has msg")
		}
		if (m.Retry != nil) != (n >= 0) || (m.Retry != nil && *m.Retry != n) {
			t.Fatalf("bye retry_after_ms = %v, want %d", m.Retry, n)
		}
	})
}

// decodedID returns the id Decode reads from a ping with the given id literal.
func decodedID(t *testing.T, lit []byte) []byte {
	t.Helper()
	line := append(append([]byte(`{"type":"ping","id":`), lit...), '}')
	req, e := Decode(line)
	if e != nil || !bytes.Equal(req.ID, lit) {
		t.Fatalf("Decode(%s) = %+v, %v", line, req, e)
	}
	return req.ID
}

// checkLocFields compares the location fields of m with loc; non-finite
// floats must have been written as null.
func checkLocFields(t *testing.T, m message, loc Location) {
	t.Helper()
	float := func(name string, got *float64, f float64) {
		t.Helper()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if got != nil {
				t.Fatalf("%s = %v, want null", name, *got)
			}
			return
		}
		if got == nil || *got != f || math.Signbit(*got) != math.Signbit(f) {
			t.Fatalf("%s = %v, want %v", name, got, f)
		}
	}
	float("lat", m.Lat, loc.Lat)
	float("lng", m.Lng, loc.Lng)
	if loc.HasAcc {
		float("acc", m.Acc, loc.Acc)
	} else if m.Acc != nil {
		t.Fatalf("acc present")
	}
	if (m.TS != nil) != loc.HasTS || (loc.HasTS && *m.TS != loc.TS) {
		t.Fatalf("ts = %v, want %d (%v)", m.TS, loc.TS, loc.HasTS)
	}
	if m.STS == nil || *m.STS != loc.STS {
		t.Fatalf("sts = %v, want %d", m.STS, loc.STS)
	}
}

func BenchmarkAppendLoc(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendLoc(buf[:0], "g1", "bob", bob)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendJoined(b *testing.B) {
	members := make([]Member, 16)
	for i := range members {
		members[i] = Member{User: "user-" + strconv.Itoa(i), Loc: bob, HasLoc: i%4 != 0}
	}
	id := []byte("1")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJoined(buf[:0], "g1", id, members)
	}
	b.SetBytes(int64(len(buf)))
}

func TestMemberZero(t *testing.T) {
	if got := AppendJoined(nil, "g", nil, []Member{{}}); !reflect.DeepEqual(parse(t, got).Members, []message{{User: new("")}}) {
		t.Fatalf("got %s", got)
	}
}
