package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// decode turns one line (without its terminator) into a Message that owns
// a copy of the line. A flat object of known fields (loc, presence, ack,
// pong, error, bye, ...) takes the fast path; anything else, members
// included, goes through encoding/json, with the same result (FuzzDecode
// checks that).
func decode(line []byte) (Message, error) {
	raw := bytes.Clone(line)
	m, ok := decodeFlat(raw)
	if !ok {
		var err error
		if m, err = decodeJSON(raw); err != nil {
			return Message{}, err
		}
	}
	if m.Type == "" {
		return Message{}, fmt.Errorf("%w: no type in %s", ErrProtocol, excerpt(raw))
	}
	m.Raw = raw
	return m, nil
}

// decodeJSON is the slow path, kept apart so that decode's Message stays
// on the stack.
func decodeJSON(raw []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return Message{}, fmt.Errorf("%w: %v in %s", ErrProtocol, err, excerpt(raw))
	}
	return m, nil
}

// numbers holds every number of one message, so that they cost one
// allocation: floats lat, lng, acc; ints ts, sts, retry_after_ms.
type numbers struct {
	f [3]float64
	i [3]int64
}

// flat decodes a compact-or-spaced JSON object whose values are strings
// without escapes and numbers. Every string field is a substring of s, a
// single copy of the line.
type flat struct {
	m   Message // by value, so that escape analysis keeps it on the stack
	s   string
	raw []byte // same bytes as s; ID is a slice of it
	i   int
	num *numbers
}

// decodeFlat decodes raw, or reports false when it needs encoding/json.
func decodeFlat(raw []byte) (Message, bool) {
	d := flat{s: string(raw), raw: raw}
	if !d.object() {
		return Message{}, false
	}
	return d.m, true
}

func (d *flat) object() bool {
	d.space()
	if !d.eat('{') {
		return false
	}
	for {
		d.space()
		key, ok := d.str()
		if !ok {
			return false
		}
		d.space()
		if !d.eat(':') {
			return false
		}
		d.space()
		if !d.field(key) {
			return false
		}
		d.space()
		if d.eat(',') {
			continue
		}
		if !d.eat('}') {
			return false
		}
		d.space()
		return d.i == len(d.s)
	}
}

func (d *flat) field(key string) bool {
	m := &d.m
	switch key {
	case "type":
		return d.strField(&m.Type)
	case "group":
		return d.strField(&m.Group)
	case "user":
		return d.strField(&m.User)
	case "session":
		return d.strField(&m.Session)
	case "state":
		return d.strField(&m.State)
	case "code":
		return d.strField(&m.Code)
	case "msg":
		return d.strField(&m.Msg)
	case "reason":
		return d.strField(&m.Reason)
	case "id":
		return d.id()
	case "lat":
		return d.float(&m.Lat, 0)
	case "lng":
		return d.float(&m.Lng, 1)
	case "acc":
		return d.float(&m.Acc, 2)
	case "ts":
		return d.int64(&m.TS, 0)
	case "sts":
		return d.int64(&m.STS, 1)
	case "retry_after_ms":
		return d.int64(&m.RetryAfterMS, 2)
	case "heartbeat_ms":
		return d.int(&m.HeartbeatMS)
	case "max_line":
		return d.int(&m.MaxLine)
	}
	return false // unknown keys, and keys matched case-insensitively, need encoding/json
}

func (d *flat) strField(p *string) bool {
	v, ok := d.str()
	if ok {
		*p = v
	}
	return ok
}

// id keeps a number or a plain string as it appears, like json.RawMessage.
func (d *flat) id() bool {
	start := d.i
	var ok bool
	if d.i < len(d.s) && d.s[d.i] == '"' {
		_, ok = d.str()
	} else {
		_, ok = d.number()
	}
	if ok {
		d.m.ID = json.RawMessage(d.raw[start:d.i:d.i])
	}
	return ok
}

func (d *flat) nums() *numbers {
	if d.num == nil {
		d.num = new(numbers)
	}
	return d.num
}

func (d *flat) float(p **float64, slot int) bool {
	tok, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		return false // out of range: encoding/json reports it
	}
	n := d.nums()
	n.f[slot] = v
	*p = &n.f[slot]
	return true
}

func (d *flat) int64(p **int64, slot int) bool {
	tok, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(tok, 10, 64)
	if err != nil {
		return false
	}
	n := d.nums()
	n.i[slot] = v
	*p = &n.i[slot]
	return true
}

func (d *flat) int(p *int) bool {
	tok, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(tok, 10, strconv.IntSize)
	if err != nil {
		return false
	}
	*p = int(v)
	return true
}

// str reads a string without escapes or control characters, and valid
// UTF-8, which is exactly the string encoding/json would return.
func (d *flat) str() (string, bool) {
	s := d.s
	if d.i >= len(s) || s[d.i] != '"' {
		return "", false
	}
	start, high := d.i+1, false
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			v := s[start:i]
			if high && !utf8.ValidString(v) {
				return "", false
			}
			d.i = i + 1
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return "", false
}

// number reads a token of the JSON number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (d *flat) number() (string, bool) {
	s, i := d.s, d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i)
	default:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return "", false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return "", false
		}
		i = j
	}
	tok := s[d.i:i]
	d.i = i
	return tok, true
}

func digits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

func (d *flat) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *flat) eat(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}
