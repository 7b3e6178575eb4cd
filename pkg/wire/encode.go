package wire

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// The Append functions below follow the rules in the package comment
// ("Server messages").

// AppendWelcome appends
// {"type":"welcome","session":S,"user":U,"heartbeat_ms":H,"max_line":M}.
func AppendWelcome(b []byte, session, user string, heartbeatMS, maxLine int) []byte {
	b = append(b, `{"type":"welcome","session":`...)
	b = appendString(b, session)
	b = append(b, `,"user":`...)
	b = appendString(b, user)
	b = append(b, `,"heartbeat_ms":`...)
	b = strconv.AppendInt(b, int64(heartbeatMS), 10)
	b = append(b, `,"max_line":`...)
	b = strconv.AppendInt(b, int64(maxLine), 10)
	return append(b, "}\n"...)
}

// Member is one entry of joined.members: another user of the group and,
// when HasLoc, their last known location.
type Member struct {
	User   string
	Loc    Location
	HasLoc bool
}

// AppendJoined appends
// {"type":"joined","group":G,"id":ID,"members":[...]}. A member with a
// location is {"user":U,"lat":..,"lng":..,"acc":..,"ts":..,"sts":..} (acc
// and ts only when present); one without is {"user":U}. members is always
// an array, [] when empty.
func AppendJoined(b []byte, group string, id []byte, members []Member) []byte {
	b = append(b, `{"type":"joined","group":`...)
	b = appendString(b, group)
	b = appendID(b, id)
	b = append(b, `,"members":[`...)
	for i := range members {
		m := &members[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"user":`...)
		b = appendString(b, m.User)
		if m.HasLoc {
			b = appendLocation(b, &m.Loc)
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// AppendLeft appends {"type":"left","group":G,"id":ID}.
func AppendLeft(b []byte, group string, id []byte) []byte {
	b = append(b, `{"type":"left","group":`...)
	b = appendString(b, group)
	b = appendID(b, id)
	return append(b, "}\n"...)
}

// AppendAck appends {"type":"ack","id":ID}.
func AppendAck(b []byte, id []byte) []byte {
	b = append(b, `{"type":"ack"`...)
	b = appendID(b, id)
	return append(b, "}\n"...)
}

// AppendPong appends {"type":"pong","id":ID}.
func AppendPong(b []byte, id []byte) []byte {
	b = append(b, `{"type":"pong"`...)
	b = appendID(b, id)
	return append(b, "}\n"...)
}

// AppendLoc appends
// {"type":"loc","group":G,"user":U,"lat":..,"lng":..,"acc":..,"ts":..,"sts":..}
// with acc and ts only when loc.HasAcc and loc.HasTS; sts always.
func AppendLoc(b []byte, group, user string, loc Location) []byte {
	b = append(b, `{"type":"loc","group":`...)
	b = appendString(b, group)
	b = append(b, `,"user":`...)
	b = appendString(b, user)
	b = appendLocation(b, &loc)
	return append(b, "}\n"...)
}

// AppendPresence appends
// {"type":"presence","group":G,"user":U,"state":"online"} (or "offline").
func AppendPresence(b []byte, group, user string, online bool) []byte {
	b = append(b, `{"type":"presence","group":`...)
	b = appendString(b, group)
	b = append(b, `,"user":`...)
	b = appendString(b, user)
	if online {
		return append(b, `,"state":"online"}`+"\n"...)
	}
	return append(b, `,"state":"offline"}`+"\n"...)
}

// AppendError appends {"type":"error","code":C,"msg":M,"id":ID}; msg is
// always present (possibly "").
func AppendError(b []byte, code Code, msg string, id []byte) []byte {
	b = append(b, `{"type":"error","code":`...)
	b = appendString(b, string(code))
	b = append(b, `,"msg":`...)
	b = appendString(b, msg)
	b = appendID(b, id)
	return append(b, "}\n"...)
}

// AppendBye appends {"type":"bye","reason":R,"msg":M,"retry_after_ms":N};
// msg is absent when "", retry_after_ms absent when retryAfterMS < 0 (the
// client must not reconnect on its own).
func AppendBye(b []byte, reason, msg string, retryAfterMS int64) []byte {
	b = append(b, `{"type":"bye","reason":`...)
	b = appendString(b, reason)
	if msg != "" {
		b = append(b, `,"msg":`...)
		b = appendString(b, msg)
	}
	if retryAfterMS >= 0 {
		b = append(b, `,"retry_after_ms":`...)
		b = strconv.AppendInt(b, retryAfterMS, 10)
	}
	return append(b, "}\n"...)
}

func appendID(b, id []byte) []byte {
	if len(id) == 0 {
		return b
	}
	b = append(b, `,"id":`...)
	return append(b, id...)
}

// appendLocation appends the location members, each with a leading comma.
func appendLocation(b []byte, loc *Location) []byte {
	b = append(b, `,"lat":`...)
	b = appendFloat(b, loc.Lat)
	b = append(b, `,"lng":`...)
	b = appendFloat(b, loc.Lng)
	if loc.HasAcc {
		b = append(b, `,"acc":`...)
		b = appendFloat(b, loc.Acc)
	}
	if loc.HasTS {
		b = append(b, `,"ts":`...)
		b = strconv.AppendInt(b, loc.TS, 10)
	}
	b = append(b, `,"sts":`...)
	return strconv.AppendInt(b, loc.STS, 10)
}

// appendFloat formats f as encoding/json does; NaN and ±Inf become null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Shorten e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (see the escaping rules above).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is pending, needing no escape
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscapedASCII(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscapedASCII appends the escape of '"', '\\' or a control character.
func appendEscapedASCII(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
