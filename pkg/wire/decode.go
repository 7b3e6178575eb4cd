package wire

import (
	"bytes"
	"math"
	"strconv"
)

// Type is the type of a client request. The zero Type is no type.
type Type uint8

// The client request types of protocol.md.
const (
	TypeHello Type = iota + 1
	TypeJoin
	TypeLeave
	TypeLoc
	TypePing
)

var typeNames = [...]string{
	TypeHello: "hello",
	TypeJoin:  "join",
	TypeLeave: "leave",
	TypeLoc:   "loc",
	TypePing:  "ping",
}

// String returns the protocol name of t ("hello", "join", ...), or
// "Type(N)" for a value that is not one of the constants.
func (t Type) String() string {
	if t >= TypeHello && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Code is the code of an error message, as written on the wire.
type Code string

// The error codes of protocol.md, in its order. Decode produces only
// invalid_json, invalid_message, unknown_type, invalid_group and
// invalid_location; the others are decided by the server.
const (
	CodeInvalidJSON       Code = "invalid_json"
	CodeInvalidMessage    Code = "invalid_message"
	CodeUnknownType       Code = "unknown_type"
	CodeInvalidGroup      Code = "invalid_group"
	CodeInvalidLocation   Code = "invalid_location"
	CodeNotJoined         Code = "not_joined"
	CodeTooManyGroups     Code = "too_many_groups"
	CodeForbidden         Code = "forbidden"
	CodeRateLimited       Code = "rate_limited"
	CodeHandshakeRequired Code = "handshake_required"
	CodeUnauthorized      Code = "unauthorized"
	CodeLineTooLong       Code = "line_too_long"
)

// Closes reports whether the server closes the connection after sending an
// error with this code (handshake_required, unauthorized, line_too_long).
func (c Code) Closes() bool {
	switch c {
	case CodeHandshakeRequired, CodeUnauthorized, CodeLineTooLong:
		return true
	}
	return false
}

// Codes returns every code in protocol.md's order, in a new slice.
func Codes() []Code {
	return []Code{
		CodeInvalidJSON, CodeInvalidMessage, CodeUnknownType, CodeInvalidGroup,
		CodeInvalidLocation, CodeNotJoined, CodeTooManyGroups, CodeForbidden,
		CodeRateLimited, CodeHandshakeRequired, CodeUnauthorized, CodeLineTooLong,
	}
}

// Location is a position. Decode guarantees Lat in [-90, 90], Lng in
// [-180, 180], both finite, and when HasAcc, Acc finite and >= 0.
type Location struct {
	Lat, Lng float64
	Acc      float64 // metres; meaningful only when HasAcc
	HasAcc   bool
	TS       int64 // client time, ms since epoch; meaningful only when HasTS
	HasTS    bool
	STS      int64 // server receive time, ms since epoch; set by the server, 0 from Decode
}

// Request is one validated client request. It owns its memory.
type Request struct {
	Type Type
	// ID is the raw JSON literal of "id" (a string, quotes and escapes
	// included, or a number) exactly as it appeared, ready to echo; a copy,
	// never aliasing the line; nil when absent or null.
	ID    []byte
	Token string   // hello; "" when absent
	User  string   // hello (development mode); "" when absent
	Group string   // join, leave; always valid (ValidGroup)
	Loc   Location // loc
}

// Error is a request that Decode rejects: the error message to send back.
// ID is the id to echo, as in Request; nil when the line was not valid JSON
// or its id was absent or ill-typed.
//
// Decode returns a *Error, not an error: do not store a nil *Error in an
// error variable (it would not compare equal to nil).
type Error struct {
	Code Code
	Msg  string
	ID   []byte
}

// Error returns "wire: CODE: MSG".
func (e *Error) Error() string { return "wire: " + string(e.Code) + ": " + e.Msg }

// Decode parses one client line (terminator removed, not empty: Split's
// empty lines are to be skipped, not decoded) into a validated Request. On
// failure it returns the zero Request and the error to send, never both.
// Decode never panics and never retains line.
//
// The rules, checked in this order (the first failure wins):
//
//  1. The line must be exactly one JSON object (whitespace around it
//     allowed) in valid UTF-8, else invalid_json without id. Nesting beyond
//     encoding/json's limit (10000) is invalid_json too.
//  2. Member names match exactly (case sensitive, after unescaping); for a
//     name given twice the last one wins; unknown members are ignored; null
//     is the same as absent.
//  3. "id", when present, must be a string or a number, else
//     invalid_message without id. From here on every error echoes it.
//  4. "type" must be present and a string (invalid_message), and one of
//     hello, join, leave, loc, ping (unknown_type).
//  5. hello: "token" and "user" are optional strings (invalid_message when
//     another type); which one is required is the caller's decision.
//  6. join, leave: "group" must be present and a string (invalid_message)
//     whose unescaped value satisfies ValidGroup (invalid_group; non-ASCII
//     and "" included).
//  7. loc: all invalid_message checks come before the invalid_location
//     ones. invalid_message: "lat" or "lng" missing or not a number; "acc"
//     present and not a number; "ts" present and not a number whose value
//     is an integer in int64 range (1732400000000, 1.7324e12 and
//     1732400000000.0 are accepted; 1.5 and 1e19 are not). Then
//     invalid_location: "lat", "lng" or "acc" not finite as a float64
//     (1e400), lat outside [-90, 90], lng outside [-180, 180], acc < 0.
//     A number too small for a float64 (1e-400) reads as 0.
//  8. ping: nothing else is read.
func Decode(line []byte) (Request, *Error) {
	var f fields
	if !scanLine(line, &f) {
		return Request{}, &Error{Code: CodeInvalidJSON, Msg: "not a JSON object"}
	}
	var id []byte
	switch f.id.kind {
	case kindAbsent:
	case kindString, kindEscString, kindNumber:
		id = bytes.Clone(f.id.raw)
	default:
		return Request{}, &Error{Code: CodeInvalidMessage, Msg: "id must be a string or a number"}
	}
	req, e := decodeFields(&f)
	if e != nil {
		e.ID = id
		return Request{}, e
	}
	req.ID = id
	return req, nil
}

// decodeFields applies rules 4 to 8 of Decode; the error it returns has no ID.
func decodeFields(f *fields) (req Request, e *Error) {
	req.Type, e = decodeType(f.typ)
	if e != nil {
		return Request{}, e
	}
	switch req.Type {
	case TypeHello:
		if req.Token, e = decodeOptString(f.token, "token must be a string"); e != nil {
			return Request{}, e
		}
		req.User, e = decodeOptString(f.user, "user must be a string")
	case TypeJoin, TypeLeave:
		req.Group, e = decodeGroup(f.group)
	case TypeLoc:
		req.Loc, e = decodeLoc(f)
	}
	if e != nil {
		return Request{}, e
	}
	return req, nil
}

func invalidMessage(msg string) *Error  { return &Error{Code: CodeInvalidMessage, Msg: msg} }
func invalidLocation(msg string) *Error { return &Error{Code: CodeInvalidLocation, Msg: msg} }

func decodeType(v value) (Type, *Error) {
	var name []byte
	var buf [maxShortKey]byte
	switch v.kind {
	case kindAbsent:
		return 0, invalidMessage("missing type")
	case kindString:
		name = v.content()
	case kindEscString:
		if len(v.content()) <= maxShortKey {
			name = appendUnescaped(buf[:0], v.content())
		}
	default:
		return 0, invalidMessage("type must be a string")
	}
	switch string(name) {
	case "hello":
		return TypeHello, nil
	case "join":
		return TypeJoin, nil
	case "leave":
		return TypeLeave, nil
	case "loc":
		return TypeLoc, nil
	case "ping":
		return TypePing, nil
	}
	return 0, &Error{Code: CodeUnknownType, Msg: "unknown type"}
}

// decodeOptString decodes an optional string member ("" when absent).
func decodeOptString(v value, typeMsg string) (string, *Error) {
	switch v.kind {
	case kindAbsent:
		return "", nil
	case kindString:
		return string(v.content()), nil
	case kindEscString:
		return string(appendUnescaped(make([]byte, 0, len(v.content())), v.content())), nil
	}
	return "", invalidMessage(typeMsg)
}

func decodeGroup(v value) (string, *Error) {
	var g []byte
	var buf [maxGroupLen]byte
	switch v.kind {
	case kindAbsent:
		return "", invalidMessage("missing group")
	case kindString:
		g = v.content()
	case kindEscString:
		// Each character of a valid group takes at most 6 escaped bytes.
		if len(v.content()) <= 6*maxGroupLen {
			g = appendUnescaped(buf[:0], v.content())
		}
	default:
		return "", invalidMessage("group must be a string")
	}
	if !validGroup(g) {
		return "", &Error{Code: CodeInvalidGroup, Msg: "group must match ^[A-Za-z0-9_.:-]{1,64}$"}
	}
	return string(g), nil
}

// maxGroupLen is the longest valid group id.
const maxGroupLen = 64

// groupChars marks the bytes allowed in a group id: [A-Za-z0-9_.:-].
var groupChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "_.:-" {
		t[c] = true
	}
	return t
}()

// ValidGroup reports whether g is a valid group id, that is whether it
// matches ^[A-Za-z0-9_.:-]{1,64}$.
func ValidGroup(g string) bool { return validGroup(g) }

func validGroup[S string | []byte](g S) bool {
	if len(g) == 0 || len(g) > maxGroupLen {
		return false
	}
	for i := 0; i < len(g); i++ {
		if !groupChars[g[i]] {
			return false
		}
	}
	return true
}

// decodeLoc applies rule 7 of Decode.
func decodeLoc(f *fields) (loc Location, e *Error) {
	if e = checkLocTypes(f); e != nil {
		return loc, e
	}
	if f.ts.kind == kindNumber {
		var ok bool
		if loc.TS, ok = parseTS(f.ts.raw); !ok {
			return loc, invalidMessage(msgTS)
		}
		loc.HasTS = true
	}
	if loc.Lat, e = parseCoord(f.lat.raw, latRule); e != nil {
		return loc, e
	}
	if loc.Lng, e = parseCoord(f.lng.raw, lngRule); e != nil {
		return loc, e
	}
	if f.acc.kind == kindNumber {
		if loc.Acc, e = parseCoord(f.acc.raw, accRule); e != nil {
			return loc, e
		}
		loc.HasAcc = true
	}
	return loc, nil
}

const msgTS = "ts must be an integer number of ms since epoch"

// checkLocTypes returns the invalid_message error of a loc, if any, except
// for the value of ts.
func checkLocTypes(f *fields) *Error {
	switch {
	case f.lat.kind == kindAbsent:
		return invalidMessage("missing lat")
	case f.lat.kind != kindNumber:
		return invalidMessage("lat must be a number")
	case f.lng.kind == kindAbsent:
		return invalidMessage("missing lng")
	case f.lng.kind != kindNumber:
		return invalidMessage("lng must be a number")
	case f.acc.kind != kindAbsent && f.acc.kind != kindNumber:
		return invalidMessage("acc must be a number")
	case f.ts.kind != kindAbsent && f.ts.kind != kindNumber:
		return invalidMessage(msgTS)
	}
	return nil
}

// rangeRule is the valid range [min, max] of a loc number, with the
// messages of its invalid_location errors.
type rangeRule struct {
	min, max              float64
	notFinite, outOfRange string
}

var (
	latRule = rangeRule{-90, 90, "lat is not a finite number", "lat out of range"}
	lngRule = rangeRule{-180, 180, "lng is not a finite number", "lng out of range"}
	accRule = rangeRule{0, math.MaxFloat64, "acc is not a finite number", "acc is negative"}
)

// parseCoord parses a number literal that must be finite and within r.
func parseCoord(raw []byte, r rangeRule) (float64, *Error) {
	v, ok := parseFinite(raw)
	if !ok {
		return 0, invalidLocation(r.notFinite)
	}
	if v < r.min || v > r.max {
		return 0, invalidLocation(r.outOfRange)
	}
	return v, nil
}

// parseFinite parses a JSON number literal as a float64, reporting false
// when it does not fit a finite float64.
func parseFinite(raw []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// parseTS parses a ts value: a number whose value is an integer in int64
// range, in any JSON notation.
func parseTS(raw []byte) (int64, bool) {
	if isIntLiteral(raw) {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		return n, err == nil
	}
	f, ok := parseFinite(raw)
	// -2^63 is exact in a float64; 2^63 is the first value out of range.
	if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= -math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// isIntLiteral reports whether a JSON number literal has neither a fraction
// nor an exponent.
func isIntLiteral(raw []byte) bool {
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}
