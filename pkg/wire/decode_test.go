package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeErrors(t *testing.T) {
	g64, g65 := strings.Repeat("g", 64), strings.Repeat("g", 65)
	tests := []struct {
		name string
		line string
		code Code
		id   string // "" for no id
	}{
		// invalid_json: never an id.
		{"not json", `hello`, CodeInvalidJSON, ""},
		{"whitespace only", "  \t", CodeInvalidJSON, ""},
		{"array", `[{"type":"ping"}]`, CodeInvalidJSON, ""},
		{"string", `"ping"`, CodeInvalidJSON, ""},
		{"number", `1`, CodeInvalidJSON, ""},
		{"null", `null`, CodeInvalidJSON, ""},
		{"truncated", `{"type":"ping"`, CodeInvalidJSON, ""},
		{"trailing comma", `{"type":"ping","id":1,}`, CodeInvalidJSON, ""},
		{"two objects", `{"type":"ping"}{"type":"ping"}`, CodeInvalidJSON, ""},
		{"trailing garbage", `{"type":"ping","id":1} x`, CodeInvalidJSON, ""},
		{"single quotes", `{'type':'ping'}`, CodeInvalidJSON, ""},
		{"leading zero", `{"type":"ping","id":01}`, CodeInvalidJSON, ""},
		{"bare NaN", `{"type":"loc","lat":NaN,"lng":0}`, CodeInvalidJSON, ""},
		{"bare Infinity", `{"type":"loc","lat":Infinity,"lng":0}`, CodeInvalidJSON, ""},
		{"minus Infinity", `{"type":"loc","lat":-Infinity,"lng":0}`, CodeInvalidJSON, ""},
		{"plus sign", `{"type":"loc","lat":+1,"lng":0}`, CodeInvalidJSON, ""},
		{"hex", `{"type":"loc","lat":0x10,"lng":0}`, CodeInvalidJSON, ""},
		{"invalid UTF-8", "{\"type\":\"ping\",\"x\":\"\xff\"}", CodeInvalidJSON, ""},
		{"UTF-8 surrogate", "{\"type\":\"ping\",\"x\":\"\xed\xa0\x80\"}", CodeInvalidJSON, ""},
		{"raw control char", "{\"type\":\"ping\",\"x\":\"\t\"}", CodeInvalidJSON, ""},
		{"bad escape", `{"type":"ping","x":"\x"}`, CodeInvalidJSON, ""},
		{"short unicode escape", `{"type":"ping","x":"\u12"}`, CodeInvalidJSON, ""},
		{"missing colon", `{"type" "ping"}`, CodeInvalidJSON, ""},
		{"unquoted key", `{type:"ping"}`, CodeInvalidJSON, ""},
		{"nested unclosed", `{"type":"ping","x":[1,{"a":2]}`, CodeInvalidJSON, ""},
		{"bad literal", `{"type":"ping","x":tru}`, CodeInvalidJSON, ""},

		// invalid_message about id: never an id.
		{"id object", `{"type":"ping","id":{}}`, CodeInvalidMessage, ""},
		{"id array", `{"type":"ping","id":[1]}`, CodeInvalidMessage, ""},
		{"id bool", `{"type":"ping","id":true}`, CodeInvalidMessage, ""},
		{"bad id before bad type", `{"id":false,"type":"nope"}`, CodeInvalidMessage, ""},

		// invalid_message and unknown_type about type.
		{"empty object", `{}`, CodeInvalidMessage, ""},
		{"missing type", `{"id":1}`, CodeInvalidMessage, "1"},
		{"null type", `{"type":null,"id":"x"}`, CodeInvalidMessage, `"x"`},
		{"number type", `{"type":1,"id":"x"}`, CodeInvalidMessage, `"x"`},
		{"array type", `{"type":["ping"],"id":2}`, CodeInvalidMessage, "2"},
		{"type key case", `{"Type":"ping"}`, CodeInvalidMessage, ""},
		{"unknown type", `{"type":"welcome","id":1.5}`, CodeUnknownType, "1.5"},
		{"type case", `{"type":"PING","id":-3}`, CodeUnknownType, "-3"},
		{"type empty", `{"type":""}`, CodeUnknownType, ""},
		{"type with space", `{"type":"ping "}`, CodeUnknownType, ""},
		{"type long escaped", `{"type":"\u0070\u0069\u006e\u0067\u0070\u0069\u006e\u0067"}`, CodeUnknownType, ""},

		// hello.
		{"hello token number", `{"type":"hello","token":1,"id":1}`, CodeInvalidMessage, "1"},
		{"hello user object", `{"type":"hello","user":{}}`, CodeInvalidMessage, ""},

		// join and leave.
		{"join missing group", `{"type":"join","id":"j"}`, CodeInvalidMessage, `"j"`},
		{"join null group", `{"type":"join","group":null}`, CodeInvalidMessage, ""},
		{"join number group", `{"type":"join","group":1}`, CodeInvalidMessage, ""},
		{"leave missing group", `{"type":"leave"}`, CodeInvalidMessage, ""},
		{"join empty group", `{"type":"join","group":"","id":4}`, CodeInvalidGroup, "4"},
		{"join 65 chars", `{"type":"join","group":"` + g65 + `"}`, CodeInvalidGroup, ""},
		{"join 65 chars escaped", `{"type":"join","group":"\u0067` + g64 + `"}`, CodeInvalidGroup, ""},
		{"join unicode", `{"type":"join","group":"grüppe"}`, CodeInvalidGroup, ""},
		{"join escaped unicode", `{"type":"join","group":"g\u00fc"}`, CodeInvalidGroup, ""},
		{"join space", `{"type":"join","group":"a b"}`, CodeInvalidGroup, ""},
		{"join slash", `{"type":"join","group":"a/b"}`, CodeInvalidGroup, ""},
		{"join escaped newline", `{"type":"join","group":"a\n"}`, CodeInvalidGroup, ""},
		{"leave bad group", `{"type":"leave","group":"*","id":"l"}`, CodeInvalidGroup, `"l"`},

		// loc: invalid_message.
		{"loc missing lat", `{"type":"loc","lng":1,"id":5}`, CodeInvalidMessage, "5"},
		{"loc missing lng", `{"type":"loc","lat":1}`, CodeInvalidMessage, ""},
		{"loc null lat", `{"type":"loc","lat":null,"lng":1}`, CodeInvalidMessage, ""},
		{"loc string lat", `{"type":"loc","lat":"37.5","lng":1}`, CodeInvalidMessage, ""},
		{"loc NaN string", `{"type":"loc","lat":"NaN","lng":1}`, CodeInvalidMessage, ""},
		{"loc Infinity string", `{"type":"loc","lat":1,"lng":"Infinity"}`, CodeInvalidMessage, ""},
		{"loc bool lng", `{"type":"loc","lat":1,"lng":true}`, CodeInvalidMessage, ""},
		{"loc string acc", `{"type":"loc","lat":1,"lng":1,"acc":"5"}`, CodeInvalidMessage, ""},
		{"loc string ts", `{"type":"loc","lat":1,"lng":1,"ts":"1732400000000"}`, CodeInvalidMessage, ""},
		{"loc fractional ts", `{"type":"loc","lat":1,"lng":1,"ts":1.5}`, CodeInvalidMessage, ""},
		{"loc ts over int64", `{"type":"loc","lat":1,"lng":1,"ts":9223372036854775808}`, CodeInvalidMessage, ""},
		{"loc ts 1e19", `{"type":"loc","lat":1,"lng":1,"ts":1e19}`, CodeInvalidMessage, ""},
		{"loc ts 1e400", `{"type":"loc","lat":1,"lng":1,"ts":1e400}`, CodeInvalidMessage, ""},
		{"message before location", `{"type":"loc","lat":1e400,"lng":1,"acc":"x"}`, CodeInvalidMessage, ""},
		{"ts before range", `{"type":"loc","lat":91,"lng":1,"ts":0.5}`, CodeInvalidMessage, ""},

		// loc: invalid_location.
		{"lat 1e400", `{"type":"loc","lat":1e400,"lng":1,"id":6}`, CodeInvalidLocation, "6"},
		{"lat -1e400", `{"type":"loc","lat":-1e400,"lng":1}`, CodeInvalidLocation, ""},
		{"lng 1e400", `{"type":"loc","lat":1,"lng":1e400}`, CodeInvalidLocation, ""},
		{"lat 91", `{"type":"loc","lat":91,"lng":1}`, CodeInvalidLocation, ""},
		{"lat just over 90", `{"type":"loc","lat":90.0000001,"lng":1}`, CodeInvalidLocation, ""},
		{"lat -90.5", `{"type":"loc","lat":-90.5,"lng":1}`, CodeInvalidLocation, ""},
		{"lng 180.5", `{"type":"loc","lat":1,"lng":180.5}`, CodeInvalidLocation, ""},
		{"lng -181", `{"type":"loc","lat":1,"lng":-181}`, CodeInvalidLocation, ""},
		{"acc negative", `{"type":"loc","lat":1,"lng":1,"acc":-1,"id":"a"}`, CodeInvalidLocation, `"a"`},
		{"acc tiny negative", `{"type":"loc","lat":1,"lng":1,"acc":-1e-300}`, CodeInvalidLocation, ""},
		{"acc 1e400", `{"type":"loc","lat":1,"lng":1,"acc":1e400}`, CodeInvalidLocation, ""},

		// id echo forms.
		{"id escaped string", `{"type":"nope","id":"a\"b\u00e9"}`, CodeUnknownType, `"a\"b\u00e9"`},
		{"id exponent", `{"type":"nope","id":1e400}`, CodeUnknownType, "1e400"},
		{"id last wins", `{"id":{},"type":"nope","id":7}`, CodeUnknownType, "7"},
		{"id null", `{"type":"nope","id":null}`, CodeUnknownType, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, e := Decode([]byte(tt.line))
			if e == nil {
				t.Fatalf("Decode(%s) = %+v, want error %s", tt.line, req, tt.code)
			}
			if e.Code != tt.code || string(e.ID) != tt.id {
				t.Fatalf("Decode(%s) = %s (%s) id %q, want %s id %q", tt.line, e.Code, e.Msg, e.ID, tt.code, tt.id)
			}
			if tt.id == "" && e.ID != nil {
				t.Errorf("ID = %q, want nil", e.ID)
			}
			if !reflect.DeepEqual(req, Request{}) {
				t.Errorf("request not zero on error: %+v", req)
			}
			if e.Msg == "" || e.Error() != "wire: "+string(e.Code)+": "+e.Msg {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
}

func TestDecodeOK(t *testing.T) {
	g64 := strings.Repeat("g", 64)
	loc := func(lat, lng float64) Location { return Location{Lat: lat, Lng: lng} }
	tests := []struct {
		name string
		line string
		want Request
	}{
		{"hello token", `{"type":"hello","token":"abc.def.ghi"}`, Request{Type: TypeHello, Token: "abc.def.ghi"}},
		{"hello user", `{"type":"hello","user":"alice"}`, Request{Type: TypeHello, User: "alice"}},
		{"hello empty", `{"type":"hello"}`, Request{Type: TypeHello}},
		{"hello null token", `{"type":"hello","token":null,"user":"bob"}`, Request{Type: TypeHello, User: "bob"}},
		{"hello escapes", `{"type":"hello","user":"al\u0069ce\n\"\\\/\ud83d\ude00"}`, Request{Type: TypeHello, User: "alice\n\"\\/😀"}},
		{"hello lone surrogate", `{"type":"hello","user":"a\ud800b\udc00"}`, Request{Type: TypeHello, User: "a\uFFFDb\uFFFD"}},
		{"hello unicode", `{"type":"hello","user":"김철수"}`, Request{Type: TypeHello, User: "김철수"}},
		{"join", `{"type":"join","group":"g1","id":1}`, Request{Type: TypeJoin, Group: "g1", ID: []byte("1")}},
		{"join escaped", `{"type":"join","group":"g\u0031"}`, Request{Type: TypeJoin, Group: "g1"}},
		{"join 64 chars", `{"type":"join","group":"` + g64 + `"}`, Request{Type: TypeJoin, Group: g64}},
		{"join every class", `{"type":"join","group":"aZ09_.:-"}`, Request{Type: TypeJoin, Group: "aZ09_.:-"}},
		{"leave", `{"type":"leave","group":"g1","id":"two"}`, Request{Type: TypeLeave, Group: "g1", ID: []byte(`"two"`)}},
		{"loc full", `{"type":"loc","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"id":3}`,
			Request{Type: TypeLoc, ID: []byte("3"), Loc: Location{Lat: 37.55, Lng: 126.99, Acc: 5, HasAcc: true, TS: 1732400000000, HasTS: true}}},
		{"loc minimal", `{"type":"loc","lat":0,"lng":0}`, Request{Type: TypeLoc, Loc: loc(0, 0)}},
		{"loc bounds high", `{"type":"loc","lat":90,"lng":180}`, Request{Type: TypeLoc, Loc: loc(90, 180)}},
		{"loc bounds low", `{"type":"loc","lat":-90.0,"lng":-1.8e2}`, Request{Type: TypeLoc, Loc: loc(-90, -180)}},
		{"loc underflow", `{"type":"loc","lat":1e-400,"lng":-1e-400}`, Request{Type: TypeLoc, Loc: loc(0, math.Copysign(0, -1))}},
		{"loc acc 0", `{"type":"loc","lat":1,"lng":2,"acc":0}`, Request{Type: TypeLoc, Loc: Location{Lat: 1, Lng: 2, HasAcc: true}}},
		{"loc nulls", `{"type":"loc","lat":1,"lng":2,"acc":null,"ts":null}`, Request{Type: TypeLoc, Loc: loc(1, 2)}},
		{"loc ts exponent", `{"type":"loc","lat":1,"lng":2,"ts":1.7324E12}`, Request{Type: TypeLoc, Loc: Location{Lat: 1, Lng: 2, TS: 1732400000000, HasTS: true}}},
		{"loc ts .0", `{"type":"loc","lat":1,"lng":2,"ts":1732400000000.0}`, Request{Type: TypeLoc, Loc: Location{Lat: 1, Lng: 2, TS: 1732400000000, HasTS: true}}},
		{"loc ts negative", `{"type":"loc","lat":1,"lng":2,"ts":-1}`, Request{Type: TypeLoc, Loc: Location{Lat: 1, Lng: 2, TS: -1, HasTS: true}}},
		{"loc ts min int64", `{"type":"loc","lat":1,"lng":2,"ts":-9223372036854775808}`, Request{Type: TypeLoc, Loc: Location{Lat: 1, Lng: 2, TS: math.MinInt64, HasTS: true}}},
		{"loc ignores group", `{"type":"loc","lat":1,"lng":2,"group":"!!"}`, Request{Type: TypeLoc, Loc: loc(1, 2)}},
		{"ping", `{"type":"ping"}`, Request{Type: TypePing}},
		{"ping id", `{"type":"ping","id":"p-1"}`, Request{Type: TypePing, ID: []byte(`"p-1"`)}},
		{"whitespace", " \t{ \"type\" : \"ping\" , \"id\" : 4 } \r", Request{Type: TypePing, ID: []byte("4")}},
		{"unknown fields", `{"type":"ping","x":{"a":[1,{"b":null},true,false,"s",-0.5e-3]},"y":[]}`, Request{Type: TypePing}},
		{"escaped key", `{"t\u0079pe":"ping"}`, Request{Type: TypePing}},
		{"escaped type", `{"type":"p\u0069ng"}`, Request{Type: TypePing}},
		{"duplicate type", `{"type":"join","type":"ping"}`, Request{Type: TypePing}},
		{"fields of other types ignored", `{"type":"ping","lat":"x","group":1,"token":2}`, Request{Type: TypePing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := Decode([]byte(tt.line))
			if e != nil {
				t.Fatalf("Decode(%s): %v", tt.line, e)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Decode(%s) =\n %+v, want\n %+v", tt.line, got, tt.want)
			}
			if math.Signbit(got.Loc.Lng) != math.Signbit(tt.want.Loc.Lng) {
				t.Errorf("sign of lng lost")
			}
		})
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	line := []byte(`{"type":"join","group":"g1","id":"abc"}`)
	req, _ := Decode(line)
	_, e := Decode([]byte(`{"type":"nope","id":"abc"}`))
	for i := range line {
		line[i] = 'X'
	}
	if string(req.ID) != `"abc"` || req.Group != "g1" || string(e.ID) != `"abc"` {
		t.Fatalf("request aliases the line: %+v", req)
	}
}

func TestDecodeDepth(t *testing.T) {
	// The top-level object is one container: maxDepth-1 arrays inside it
	// are fine, one more is not, as with json.Valid.
	for _, n := range []int{maxDepth - 1, maxDepth} {
		line := `{"type":"ping","x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + "}"
		_, e := Decode([]byte(line))
		if (e == nil) != json.Valid([]byte(line)) {
			t.Errorf("depth %d: Decode error %v, json.Valid %v", n+1, e, json.Valid([]byte(line)))
		}
	}
}

func TestValidGroup(t *testing.T) {
	for _, g := range []string{"g", "g1", "aZ09_.:-", strings.Repeat("x", 64)} {
		if !ValidGroup(g) {
			t.Errorf("ValidGroup(%q) = false", g)
		}
	}
	for _, g := range []string{"", strings.Repeat("x", 65), "a b", "ü", "a/b", "a\x00", "a\n", "a,b", "\xff"} {
		if ValidGroup(g) {
			t.Errorf("ValidGroup(%q) = true", g)
		}
	}
	for c := range 256 {
		want := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("_.:-", byte(c)) >= 0
		if ValidGroup(string([]byte{byte(c)})) != want {
			t.Errorf("ValidGroup(%q) != %v", rune(c), want)
		}
	}
}

func TestTypeString(t *testing.T) {
	want := map[Type]string{0: "Type(0)", TypeHello: "hello", TypeJoin: "join", TypeLeave: "leave", TypeLoc: "loc", TypePing: "ping", 6: "Type(6)", 255: "Type(255)"}
	for ty, s := range want {
		if ty.String() != s {
			t.Errorf("Type(%d).String() = %q, want %q", ty, ty.String(), s)
		}
	}
}

func TestCodes(t *testing.T) {
	want := []Code{"invalid_json", "invalid_message", "unknown_type", "invalid_group", "invalid_location",
		"not_joined", "too_many_groups", "forbidden", "rate_limited", "handshake_required", "unauthorized", "line_too_long"}
	got := Codes()
	if !slices.Equal(got, want) {
		t.Fatalf("Codes() = %v", got)
	}
	got[0] = "x"
	if Codes()[0] != CodeInvalidJSON {
		t.Fatalf("Codes() shares its slice")
	}
	for _, c := range want {
		closes := c == CodeHandshakeRequired || c == CodeUnauthorized || c == CodeLineTooLong
		if c.Closes() != closes {
			t.Errorf("%s.Closes() = %v", c, c.Closes())
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	for _, tt := range []struct {
		line string
		max  float64
	}{
		{`{"type":"loc","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000}`, 0},
		{`{"type":"loc","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"id":3}`, 1}, // the ID copy
		{`{"type":"ping"}`, 0},
		{`{"type":"join","group":"g1","id":1}`, 2}, // the ID copy and the group
	} {
		line := []byte(tt.line)
		if n := testing.AllocsPerRun(100, func() { _, _ = Decode(line) }); n > tt.max {
			t.Errorf("Decode(%s): %v allocs, want <= %v", tt.line, n, tt.max)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"loc","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"id":3}`))
	f.Add([]byte(`{"type":"join","group":"g1","id":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		cp := bytes.Clone(line)
		req, e := Decode(cp)
		if !bytes.Equal(cp, line) {
			t.Fatalf("Decode modified its input")
		}
		clear(cp) // nothing returned may alias the line
		wantJSON := json.Valid(line) && utf8.Valid(line) && bytes.TrimLeft(line, " \t\r\n")[0] == '{'
		if (e != nil && e.Code == CodeInvalidJSON) == wantJSON {
			t.Fatalf("Decode(%q) = %v; json.Valid and UTF-8 object: %v", line, e, wantJSON)
		}
		if !wantJSON {
			if e.ID != nil {
				t.Fatalf("invalid_json with id %q", e.ID)
			}
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", line, err)
		}
		checkID(t, line, m, req, e)
		if e != nil {
			checkDecodeError(t, line, req, e)
			return
		}
		checkRequest(t, line, m, req)
	})
}

// checkID compares the id of a decoded line with encoding/json's view of it.
func checkID(t *testing.T, line []byte, m map[string]json.RawMessage, req Request, e *Error) {
	t.Helper()
	raw, ok := m["id"]
	if !ok || string(raw) == "null" || (raw[0] != '"' && raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		raw = nil
	}
	got := req.ID
	if e != nil {
		got = e.ID
	}
	if !bytes.Equal(got, raw) || (raw == nil) != (got == nil) {
		t.Fatalf("Decode(%q): id %q, want %q", line, got, raw)
	}
}

func checkDecodeError(t *testing.T, line []byte, req Request, e *Error) {
	t.Helper()
	switch e.Code {
	case CodeInvalidMessage, CodeUnknownType, CodeInvalidGroup, CodeInvalidLocation:
	default:
		t.Fatalf("Decode(%q): unexpected code %s", line, e.Code)
	}
	if !reflect.DeepEqual(req, Request{}) {
		t.Fatalf("Decode(%q): request %+v with error", line, req)
	}
}

// checkRequest compares a decoded request with encoding/json's view of the
// line and checks the invariants Decode promises.
func checkRequest(t *testing.T, line []byte, m map[string]json.RawMessage, req Request) {
	t.Helper()
	str := func(key string) string {
		var s string
		if raw, ok := m[key]; ok {
			_ = json.Unmarshal(raw, &s)
		}
		return s
	}
	if req.Type.String() != str("type") {
		t.Fatalf("Decode(%q): type %s", line, req.Type)
	}
	switch req.Type {
	case TypeHello:
		if req.Token != str("token") || req.User != str("user") {
			t.Fatalf("Decode(%q): token %q user %q", line, req.Token, req.User)
		}
	case TypeJoin, TypeLeave:
		if !ValidGroup(req.Group) || req.Group != str("group") {
			t.Fatalf("Decode(%q): group %q", line, req.Group)
		}
	case TypeLoc:
		checkLoc(t, line, m, req.Loc)
	}
}

func checkLoc(t *testing.T, line []byte, m map[string]json.RawMessage, loc Location) {
	t.Helper()
	num := func(key string) float64 {
		var f float64
		_ = json.Unmarshal(m[key], &f)
		return f
	}
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	if !finite(loc.Lat) || !finite(loc.Lng) || loc.Lat < -90 || loc.Lat > 90 || loc.Lng < -180 || loc.Lng > 180 {
		t.Fatalf("Decode(%q): location %+v", line, loc)
	}
	if loc.Lat != num("lat") || loc.Lng != num("lng") {
		t.Fatalf("Decode(%q): lat %v lng %v", line, loc.Lat, loc.Lng)
	}
	if loc.HasAcc && (!finite(loc.Acc) || loc.Acc < 0 || loc.Acc != num("acc")) {
		t.Fatalf("Decode(%q): acc %v", line, loc.Acc)
	}
	if loc.HasTS && float64(loc.TS) != num("ts") {
		t.Fatalf("Decode(%q): ts %v", line, loc.TS)
	}
	if loc.STS != 0 {
		t.Fatalf("Decode(%q): sts %d", line, loc.STS)
	}
	out := AppendLoc(nil, "g1", "u", loc)
	if !json.Valid(out) {
		t.Fatalf("AppendLoc of Decode(%q) = %q, not JSON", line, out)
	}
}

func BenchmarkDecodeLoc(b *testing.B) {
	for _, bb := range []struct{ name, line string }{
		{"plain", `{"type":"loc","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000}`},
		{"with_id", `{"type":"loc","lat":37.5512345,"lng":126.9912345,"acc":12.5,"ts":1732400000000,"id":3}`},
	} {
		b.Run(bb.name, func(b *testing.B) {
			line := []byte(bb.line)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, e := Decode(line); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// BenchmarkDecodeLocStdlib is the same job done with encoding/json, for
// comparison with BenchmarkDecodeLoc/plain.
func BenchmarkDecodeLocStdlib(b *testing.B) {
	line := []byte(`{"type":"loc","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var v struct {
			ID, Type, Lat, Lng, Acc, TS json.RawMessage
		}
		if err := json.Unmarshal(line, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJoin(b *testing.B) {
	line := []byte(`{"type":"join","group":"g1","id":1}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Decode(line); e != nil {
			b.Fatal(e)
		}
	}
}
