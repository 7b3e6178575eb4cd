package wire

import (
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a validating JSON scanner specialised for client lines: it
// checks that a line is exactly one JSON object (RFC 8259, UTF-8) and records
// the raw literals of the members Decode cares about, without building any
// tree. It accepts exactly what json.Valid accepts, except that it also
// requires valid UTF-8 (json.Valid lets invalid bytes through inside
// strings), and it shares encoding/json's nesting limit. FuzzDecode checks
// both properties against encoding/json.

// kind classifies a scanned member value.
type kind uint8

const (
	kindAbsent    kind = iota // not present, or JSON null
	kindString                // a string without backslash escapes
	kindEscString             // a string with at least one backslash escape
	kindNumber                // a number
	kindOther                 // true, false, an object or an array
)

// maxDepth is encoding/json's nesting limit: more containers open at once
// than this is not JSON (json.Valid agrees).
const maxDepth = 10000

// maxShortKey bounds the raw (escaped) length of a key or a type name worth
// unescaping: every name Decode looks for is ASCII and at most 5 bytes, that
// is at most 30 bytes written as \u escapes.
const maxShortKey = 32

// value is the raw literal of one member value; raw aliases the line and
// includes the quotes of a string.
type value struct {
	raw  []byte
	kind kind
}

// content returns the bytes between the quotes of a string value.
func (v value) content() []byte { return v.raw[1 : len(v.raw)-1] }

// fields holds the members Decode cares about. When a key appears more than
// once, the last occurrence wins (as with encoding/json).
type fields struct {
	id, typ, token, user, group, lat, lng, acc, ts value
}

// slot returns where the member with the given raw key (quotes included)
// goes, or nil for a member Decode ignores. Keys are matched exactly (case
// sensitive) after unescaping.
func (f *fields) slot(raw []byte, k kind) *value {
	name := raw[1 : len(raw)-1]
	var buf [maxShortKey]byte
	if k == kindEscString {
		if len(name) > maxShortKey {
			return nil
		}
		name = appendUnescaped(buf[:0], name)
	}
	switch string(name) {
	case "id":
		return &f.id
	case "type":
		return &f.typ
	case "token":
		return &f.token
	case "user":
		return &f.user
	case "group":
		return &f.group
	case "lat":
		return &f.lat
	case "lng":
		return &f.lng
	case "acc":
		return &f.acc
	case "ts":
		return &f.ts
	}
	return nil
}

// scanner walks one line; off is the next byte to read.
type scanner struct {
	data []byte
	off  int
}

// scanLine reports whether line is exactly one JSON object, optionally
// surrounded by whitespace, in valid UTF-8; it records the known members in
// f as it goes. On false, f holds garbage.
func scanLine(line []byte, f *fields) bool {
	s := scanner{data: line}
	s.skipWS()
	if s.peek() != '{' || !s.scanObject(1, f) {
		return false
	}
	s.skipWS()
	return s.off == len(s.data)
}

// peek returns the next byte, or 0 at the end (0 starts no JSON token).
func (s *scanner) peek() byte {
	if s.off < len(s.data) {
		return s.data[s.off]
	}
	return 0
}

// consume skips c if it is the next byte.
func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.off++
		return true
	}
	return false
}

func (s *scanner) skipWS() {
	for s.off < len(s.data) {
		switch s.data[s.off] {
		case ' ', '\t', '\n', '\r':
			s.off++
		default:
			return
		}
	}
}

// scanObject scans an object starting at '{' that is container number depth
// (1 for the top level). With a non-nil f, members are recorded in it.
func (s *scanner) scanObject(depth int, f *fields) bool {
	s.off++ // '{'
	s.skipWS()
	if s.consume('}') {
		return true
	}
	for {
		start := s.off
		k, ok := s.scanString()
		if !ok {
			return false
		}
		key := s.data[start:s.off]
		s.skipWS()
		if !s.consume(':') {
			return false
		}
		s.skipWS()
		v, ok := s.scanValue(depth)
		if !ok {
			return false
		}
		if f != nil {
			if p := f.slot(key, k); p != nil {
				*p = v
			}
		}
		s.skipWS()
		if !s.consume(',') {
			return s.consume('}')
		}
		s.skipWS()
	}
}

// scanArray scans an array starting at '[' that is container number depth.
func (s *scanner) scanArray(depth int) bool {
	s.off++ // '['
	s.skipWS()
	if s.consume(']') {
		return true
	}
	for {
		if _, ok := s.scanValue(depth); !ok {
			return false
		}
		s.skipWS()
		if !s.consume(',') {
			return s.consume(']')
		}
		s.skipWS()
	}
}

// scanValue scans any value inside container number depth.
func (s *scanner) scanValue(depth int) (value, bool) {
	start := s.off
	var k kind
	ok := false
	switch c := s.peek(); {
	case c == '"':
		k, ok = s.scanString()
	case c == '-' || (c >= '0' && c <= '9'):
		k, ok = kindNumber, s.scanNumber()
	case c == '{':
		k, ok = kindOther, depth < maxDepth && s.scanObject(depth+1, nil)
	case c == '[':
		k, ok = kindOther, depth < maxDepth && s.scanArray(depth+1)
	case c == 't':
		k, ok = kindOther, s.literal("true")
	case c == 'f':
		k, ok = kindOther, s.literal("false")
	case c == 'n':
		k, ok = kindAbsent, s.literal("null")
	}
	return value{raw: s.data[start:s.off], kind: k}, ok
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.off < len(lit) || string(s.data[s.off:s.off+len(lit)]) != lit {
		return false
	}
	s.off += len(lit)
	return true
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? . What
// follows is checked by the caller (a delimiter must).
func (s *scanner) scanNumber() bool {
	s.consume('-')
	switch c := s.peek(); {
	case c == '0':
		s.off++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.consume('.') && s.digits() == 0 {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits skips [0-9]* and returns how many it skipped.
func (s *scanner) digits() int {
	start := s.off
	for s.off < len(s.data) && s.data[s.off] >= '0' && s.data[s.off] <= '9' {
		s.off++
	}
	return s.off - start
}

// scanString scans a string starting at '"': no control characters, valid
// escapes, valid UTF-8.
func (s *scanner) scanString() (kind, bool) {
	if !s.consume('"') {
		return kindAbsent, false
	}
	k := kindString
	for s.off < len(s.data) {
		c := s.data[s.off]
		switch {
		case c == '"':
			s.off++
			return k, true
		case c == '\\':
			if !s.scanEscape() {
				return kindAbsent, false
			}
			k = kindEscString
		case c < 0x20:
			return kindAbsent, false
		case c < utf8.RuneSelf:
			s.off++
		default:
			r, size := utf8.DecodeRune(s.data[s.off:])
			if r == utf8.RuneError && size == 1 {
				return kindAbsent, false
			}
			s.off += size
		}
	}
	return kindAbsent, false
}

// scanEscape scans one escape sequence starting at '\\'.
func (s *scanner) scanEscape() bool {
	s.off++ // '\\'
	switch s.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.off++
		return true
	case 'u':
		if len(s.data)-s.off < 5 || hex4(s.data[s.off+1:]) < 0 {
			return false
		}
		s.off += 5
		return true
	}
	return false
}

// hex4 decodes the 4 hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUnescaped appends the unescaped form of the content of a string that
// scanString accepted. Like encoding/json, a \u escape of a lone surrogate
// becomes U+FFFD.
func appendUnescaped(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' || i+1 >= len(src) {
			dst = append(dst, c)
			i++
			continue
		}
		switch e := src[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := unescapeU(src[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// unescapeU decodes the \uXXXX escape (or surrogate pair of two) at the
// start of src, returning the rune and the number of bytes used.
func unescapeU(src []byte) (rune, int) {
	r := hex4(src[2:])
	if r < 0 {
		return utf8.RuneError, 2 // unreachable after scanString
	}
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if len(src) >= 12 && src[6] == '\\' && src[7] == 'u' {
		if dec := utf16.DecodeRune(r, hex4(src[8:])); dec != utf8.RuneError {
			return dec, 12
		}
	}
	return utf8.RuneError, 6
}
