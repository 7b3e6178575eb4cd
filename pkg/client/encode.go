package client

import (
	"math"
	"strconv"
)

// The append functions write one client line, terminator included, in the
// style of strconv.Append*: no allocation when b has room.

func appendHello(b []byte, o Options) []byte {
	b = append(b, `{"type":"hello",`...)
	if o.Token != "" {
		b = append(b, `"token":`...)
		b = appendString(b, o.Token)
	} else {
		b = append(b, `"user":`...)
		b = appendString(b, o.User)
	}
	return append(b, "}\n"...)
}

// appendGroupRequest writes join or leave.
func appendGroupRequest(b []byte, typ, group string, id int64) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","group":`...)
	b = appendString(b, group)
	b = appendID(b, id)
	return append(b, "}\n"...)
}

func appendPing(b []byte, id int64) []byte {
	b = append(b, `{"type":"ping"`...)
	b = appendID(b, id)
	return append(b, "}\n"...)
}

// appendLoc writes loc; id 0 means no id.
func appendLoc(b []byte, l Loc, id int64) []byte {
	b = append(b, `{"type":"loc","lat":`...)
	b = appendFloat(b, l.Lat)
	b = append(b, `,"lng":`...)
	b = appendFloat(b, l.Lng)
	if l.Acc != nil {
		b = append(b, `,"acc":`...)
		b = appendFloat(b, *l.Acc)
	}
	if l.TS != nil {
		b = append(b, `,"ts":`...)
		b = strconv.AppendInt(b, *l.TS, 10)
	}
	b = appendID(b, id)
	return append(b, "}\n"...)
}

func appendID(b []byte, id int64) []byte {
	if id == 0 {
		return b
	}
	b = append(b, `,"id":`...)
	return strconv.AppendInt(b, id, 10)
}

// check rejects what JSON cannot carry.
func (l Loc) check() error {
	if !finite(l.Lat) || !finite(l.Lng) || l.Acc != nil && !finite(*l.Acc) {
		return ErrNotFinite
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// appendFloat formats a finite f as encoding/json does: the shortest
// representation that reads back as f, exponent form only when very small
// or very large.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-07 -> e-7, as encoding/json writes it
		b = b[:n-1]
	}
	return b
}

// appendString writes s as a JSON string. It escapes '"', '\\' and control
// characters and passes every other byte through unchanged, invalid UTF-8
// included, so tests can send what they mean to.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
