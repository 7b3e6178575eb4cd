package sniff

import "strconv"

// Class is the verdict on a connection's first bytes.
type Class uint8

// The classes of protocol.md ("The sniffer"), in its table order. Undecided
// is not a class: it means Classify needs more bytes.
const (
	Undecided Class = iota // not a class: more bytes are needed
	UCompass               // the exact preamble "U-Compass/1\n"
	Proxy                  // a PROXY protocol v1 or v2 header
	HTTP                   // an HTTP/1.x method token and a space
	HTTP2                  // the HTTP/2 connection preface
	TLS                    // a TLS record header or an SSLv2 ClientHello
	SSH                    // "SSH-"
	RDP                    // a TPKT header
	SMB                    // a NetBIOS session header and an SMB1/SMB2 magic
	Redis                  // a RESP array or a common inline command
	Text                   // other printable text
	Binary                 // anything else
	Empty                  // the peer closed without sending a byte
	Timeout                // nothing decisive arrived in time

	numClasses = iota
)

// names are the operator-facing names of protocol.md; they appear in metric
// labels and admin output, so they must not change.
var names = [numClasses]string{
	Undecided: "undecided",
	UCompass:  "ucompass",
	Proxy:     "proxy",
	HTTP:      "http",
	HTTP2:     "http2",
	TLS:       "tls",
	SSH:       "ssh",
	RDP:       "rdp",
	SMB:       "smb",
	Redis:     "redis",
	Text:      "text",
	Binary:    "binary",
	Empty:     "empty",
	Timeout:   "timeout",
}

// String returns the protocol.md name of c, "undecided" for Undecided and
// "Class(N)" for a value that is no class at all.
func (c Class) String() string {
	if int(c) < len(names) {
		return names[c]
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// Classes returns every real class (Undecided excluded) in protocol.md's
// table order. The slice is fresh on every call and may be modified.
func Classes() []Class {
	cs := make([]Class, 0, numClasses-1)
	for c := UCompass; c < numClasses; c++ {
		cs = append(cs, c)
	}
	return cs
}

// ParseClass returns the class named s (as String spells it). "undecided" is
// not a class, so it gives (Undecided, false) like any unknown name.
func ParseClass(s string) (Class, bool) {
	for c := UCompass; c < numClasses; c++ {
		if names[c] == s {
			return c, true
		}
	}
	return Undecided, false
}

// valid reports whether c is a real class, one Stats can count.
func (c Class) valid() bool { return c > Undecided && c < numClasses }
