package cluster

import (
	"encoding/hex"
	"strings"
)

// subjects names the NATS subjects of one deployment (docs/cluster.md):
//
//	<prefix>.g.<hex group>   a group's frames: loc, join, part, state
//	<prefix>.hb              heartbeats, byes and resync requests
//	<prefix>.sync            "send me your state of a group" (request/reply)
//	<prefix>.ctl.<topic>     control-plane scatter-gather (request/reply)
//
// A group id may contain '.', NATS's token separator, so it is hex-encoded:
// every group is exactly one token, and no group id can reach into another
// subject or be a wildcard.
type subjects struct {
	prefix string
	hb     string
	sync   string
	ctlAll string
}

func newSubjects(prefix string) subjects {
	return subjects{prefix: prefix, hb: prefix + ".hb", sync: prefix + ".sync", ctlAll: prefix + ".ctl.*"}
}

func (s subjects) group(g string) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + 3 + 2*len(g))
	b.WriteString(s.prefix)
	b.WriteString(".g.")
	b.WriteString(hex.EncodeToString([]byte(g)))
	return b.String()
}

func (s subjects) ctl(topic string) string { return s.prefix + ".ctl." + topic }

// topic returns the control topic of a ctl subject.
func (s subjects) topic(subject string) string {
	return strings.TrimPrefix(subject, s.prefix+".ctl.")
}
