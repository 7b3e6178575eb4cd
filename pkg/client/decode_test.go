package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// Lines from the protocol page, and variants the fast path must get right
// or hand to encoding/json.
var decodeSeeds = []string{
	`{"type":"joined","group":"g1","id":1,"members":[{"user":"bob","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"sts":1732400000123}]}`,
	`{"type":"left","group":"g1","id":2}`,
	`{"type":"ack","id":3}`,
	`{"type":"pong","id":4}`,
	`{"type":"loc","group":"g1","user":"bob","lat":37.55,"lng":126.99,"acc":5,"ts":1732400000000,"sts":1732400000123}`,
	`{"type":"presence","group":"g1","user":"bob","state":"online"}`,
	`{"type":"error","code":"invalid_location","msg":"lat out of range","id":5}`,
	`{"type":"bye","reason":"kicked","msg":"by operator","retry_after_ms":60000}`,
	`{"type":"welcome","session":"s1","user":"alice","heartbeat_ms":30000,"max_line":4096}`,
	` { "type" : "ack" , "id" : "abc" } ` + "\r",
	`{"type":"loc","lat":-0,"lng":1.5e2,"acc":0.25E-1,"ts":-1}`,
	`{"type":"loc","user":"뉴욕","lat":1e400}`,
	`{"type":"loc","user":"a\"b","lat":1}`,
	`{"type":"loc","user":"\xff","lat":1}`,
	`{"type":"loc","lat":null}`,
	`{"type":"loc","ts":1.5}`,
	`{"type":"loc","lat":01}`,
	`{"type":"loc","lat":1,"lat":2}`,
	`{"Type":"loc","LAT":3}`,
	`{"type":"loc","extra":{"a":[1,2]}}`,
	`{"type":"ack","id":1}x`,
	`{"type":"ack",}`,
	`{}`,
	`[]`,
	`null`,
	`"str"`,
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		line string
		fast bool
		want Message
		err  error
	}{
		{decodeSeeds[0], false, Message{Type: "joined", Group: "g1", ID: json.RawMessage("1"), Members: []Member{
			{User: "bob", Lat: new(37.55), Lng: new(126.99), Acc: new(5.0), TS: new(int64(1732400000000)), STS: new(int64(1732400000123))}}}, nil},
		{decodeSeeds[4], true, Message{Type: "loc", Group: "g1", User: "bob", Lat: new(37.55), Lng: new(126.99), Acc: new(5.0),
			TS: new(int64(1732400000000)), STS: new(int64(1732400000123))}, nil},
		{decodeSeeds[5], true, Message{Type: "presence", Group: "g1", User: "bob", State: "online"}, nil},
		{decodeSeeds[6], true, Message{Type: "error", Code: "invalid_location", Msg: "lat out of range", ID: json.RawMessage("5")}, nil},
		{decodeSeeds[7], true, Message{Type: "bye", Reason: "kicked", Msg: "by operator", RetryAfterMS: new(int64(60000))}, nil},
		{decodeSeeds[8], true, Message{Type: "welcome", Session: "s1", User: "alice", HeartbeatMS: 30000, MaxLine: 4096}, nil},
		{decodeSeeds[9], true, Message{Type: "ack", ID: json.RawMessage(`"abc"`)}, nil},
		{decodeSeeds[12], false, Message{Type: "loc", User: `a"b`, Lat: new(1.0)}, nil},
		{decodeSeeds[17], true, Message{Type: "loc", Lat: new(2.0)}, nil},
		{decodeSeeds[18], false, Message{Type: "loc", Lat: new(3.0)}, nil},
		{decodeSeeds[11], false, Message{}, ErrProtocol},
		{decodeSeeds[15], false, Message{}, ErrProtocol},
		{decodeSeeds[20], false, Message{}, ErrProtocol},
		{`{}`, false, Message{}, ErrProtocol},
		{`null`, false, Message{}, ErrProtocol},
	} {
		if _, fast := decodeFlat([]byte(tc.line)); fast != tc.fast {
			t.Errorf("%s: fast path %v, want %v", tc.line, fast, tc.fast)
		}
		got, err := decode([]byte(tc.line))
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.line, err, tc.err)
		}
		if err != nil {
			continue
		}
		if string(got.Raw) != tc.line {
			t.Errorf("%s: Raw = %q", tc.line, got.Raw)
		}
		got.Raw = nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

// FuzzDecode checks that whatever the fast path accepts, encoding/json
// accepts too, with the same result.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := decodeFlat(bytes.Clone(line))
		var slow Message
		err := json.Unmarshal(line, &slow)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json says %v", line, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\n fast %+v\n json %+v", line, fast, slow)
		}
	})
}

func TestDecodeAllocs(t *testing.T) {
	line := []byte(decodeSeeds[4])
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decode(line); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("decode(loc) = %v allocations, want 3 (Raw, strings, numbers)", allocs)
	}
}
