package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"

	"github.com/ucompass/compass/pkg/wire"
)

// A frame is what replicas send each other on the data subjects: a
// version byte, a kind byte, the sender's replica id, then the kind's
// fields. Strings are a uvarint length and the bytes; numbers are
// little-endian. Frames are binary, not JSON, because loc frames are on
// the hot path: a loc frame is the sender's already-encoded client line
// behind a few fixed fields, so the receiver neither parses nor
// re-encodes it.
const frameVersion = 1

// Frame kinds.
const (
	kindLoc     byte = 'L' // group subject: user, location, the encoded loc line
	kindJoin    byte = 'J' // group subject: user's first session here joined (user, location)
	kindPart    byte = 'P' // group subject: user's last session here left (user)
	kindState   byte = 'S' // group subject or a sync reply: every user here (count, then user, location each)
	kindQuery   byte = 'Q' // sync subject: "send me your state of group" (group)
	kindAlive   byte = 'H' // heartbeat subject: I am alive
	kindBye     byte = 'B' // heartbeat subject: I am leaving, forget my members
	kindResync  byte = 'R' // heartbeat subject: replica (target) please send your states of every group
	maxMembers       = 1 << 20
	locFieldsAt      = 1 << 0
	locAcc           = 1 << 1
	locTS            = 1 << 2
)

// errFrame is a frame that does not decode: dropped and counted.
var errFrame = errors.New("cluster: malformed frame")

// frame is a decoded frame; which fields are set depends on kind.
type frame struct {
	kind    byte
	replica string
	user    string // loc, join, part
	group   string // query
	target  string // resync
	loc     wire.Location
	hasLoc  bool
	line    []byte        // loc: aliases the message
	members []wire.Member // state
}

func appendHeader(b []byte, kind byte, replica string) []byte {
	b = append(b, frameVersion, kind)
	return appendStr(b, replica)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendLoc appends a flags byte and the location fields present.
func appendLoc(b []byte, loc wire.Location, ok bool) []byte {
	if !ok {
		return append(b, 0)
	}
	var f byte = locFieldsAt
	if loc.HasAcc {
		f |= locAcc
	}
	if loc.HasTS {
		f |= locTS
	}
	b = append(b, f)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(loc.Lat))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(loc.Lng))
	if loc.HasAcc {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(loc.Acc))
	}
	if loc.HasTS {
		b = binary.LittleEndian.AppendUint64(b, uint64(loc.TS))
	}
	return binary.LittleEndian.AppendUint64(b, uint64(loc.STS))
}

// appendLocFrame is a loc of user in the group of the subject: line is the
// client line, "\n" included.
func appendLocFrame(b []byte, replica, user string, loc wire.Location, line []byte) []byte {
	b = appendHeader(b, kindLoc, replica)
	b = appendStr(b, user)
	b = appendLoc(b, loc, true)
	return append(b, line...)
}

func appendMemberFrame(b []byte, replica, user string, in bool, loc wire.Location, ok bool) []byte {
	if !in {
		b = appendHeader(b, kindPart, replica)
		return appendStr(b, user)
	}
	b = appendHeader(b, kindJoin, replica)
	b = appendStr(b, user)
	return appendLoc(b, loc, ok)
}

func appendStateFrame(b []byte, replica string, members []wire.Member) []byte {
	b = appendHeader(b, kindState, replica)
	b = binary.AppendUvarint(b, uint64(len(members)))
	for _, m := range members {
		b = appendStr(b, m.User)
		b = appendLoc(b, m.Loc, m.HasLoc)
	}
	return b
}

func appendQueryFrame(b []byte, replica, group string) []byte {
	return appendStr(appendHeader(b, kindQuery, replica), group)
}

func appendResyncFrame(b []byte, replica, target string) []byte {
	return appendStr(appendHeader(b, kindResync, replica), target)
}

// reader decodes a frame; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errFrame
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errFrame
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) f64() float64 {
	v := math.Float64frombits(r.u64())
	if math.IsNaN(v) || math.IsInf(v, 0) {
		r.err = errFrame
	}
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errFrame
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errFrame
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) loc() (wire.Location, bool) {
	f := r.byte()
	if f&locFieldsAt == 0 {
		return wire.Location{}, false
	}
	var l wire.Location
	l.Lat, l.Lng = r.f64(), r.f64()
	if f&locAcc != 0 {
		l.Acc, l.HasAcc = r.f64(), true
	}
	if f&locTS != 0 {
		l.TS, l.HasTS = int64(r.u64()), true
	}
	l.STS = int64(r.u64())
	return l, true
}

// decode reads a frame. A loc frame's line aliases b and must be exactly
// one line: another replica speaks to clients only in whole lines.
func decode(b []byte) (frame, error) {
	r := reader{b: b}
	var f frame
	if r.byte() != frameVersion {
		return f, errFrame
	}
	f.kind = r.byte()
	f.replica = r.str()
	switch f.kind {
	case kindLoc:
		f.user = r.str()
		f.loc, f.hasLoc = r.loc()
		f.line = r.b
		r.b = nil
		if i := bytes.IndexByte(f.line, '\n'); i < 0 || i != len(f.line)-1 || !f.hasLoc {
			return f, errFrame
		}
	case kindJoin:
		f.user = r.str()
		f.loc, f.hasLoc = r.loc()
	case kindPart:
		f.user = r.str()
	case kindState:
		f.members = r.members()
	case kindQuery:
		f.group = r.str()
	case kindResync:
		f.target = r.str()
	case kindAlive, kindBye:
	default:
		return f, errFrame
	}
	if r.err != nil || len(r.b) != 0 || f.replica == "" {
		return f, errFrame
	}
	return f, nil
}

func (r *reader) members() []wire.Member {
	n := r.uvarint()
	if n > maxMembers || n > uint64(len(r.b)) { // each member takes 2 bytes at least
		r.err = errFrame
		return nil
	}
	out := make([]wire.Member, 0, n)
	for range n {
		m := wire.Member{User: r.str()}
		m.Loc, m.HasLoc = r.loc()
		if r.err != nil {
			return nil
		}
		out = append(out, m)
	}
	return out
}
