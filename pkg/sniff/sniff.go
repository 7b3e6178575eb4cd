package sniff

// Preamble is the first line of every U-Compass client, exactly.
const Preamble = "U-Compass/1\n"

// MaxDecide is the number of bytes after which Classify always decides: the
// length of the longest signature, the HTTP/2 preface "PRI * HTTP/2.0". A
// caller never needs to buffer more than this before a decision, and Classify
// never looks past it.
const MaxDecide = 14

// proxyV2 is the 12-byte signature that opens a PROXY protocol v2 header.
const proxyV2 = "\r\n\r\n\x00\r\nQUIT\n"

// httpMethods are the HTTP/1.x methods of protocol.md; each is a signature
// when followed by a space.
var httpMethods = []string{
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE",
}

// redisInline are the inline commands (upper case, as scanners send them) that
// make a redis connection when followed by ' ', '\r' or '\n'. GET is left out
// on purpose: "GET " is http by protocol.md's table, and a lone "GET\r\n"
// tells nothing, so it is text.
var redisInline = []string{
	"AUTH", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DBSIZE", "ECHO", "EVAL",
	"FLUSHALL", "FLUSHDB", "INFO", "KEYS", "MODULE", "MONITOR", "PING", "QUIT",
	"REPLICAOF", "SAVE", "SELECT", "SET", "SLAVEOF",
}

// Classify decides the class of a connection from its first bytes b.
// Undecided means b is still a proper prefix of some signature and more bytes
// are needed; it is returned for an empty b and never when len(b) >=
// MaxDecide. Otherwise the class is decided at the earliest byte possible:
// "GET " at 4 bytes, 0x16 0x03 0x01 at 3 (tls), the preamble at 12, "help" at
// 1 (text), "U-Compass/1\r" at 12 (text). Bytes after the deciding one are not
// looked at, which is why a decision never changes as more bytes arrive.
//
// When b has left every signature, the class is Text if every byte up to and
// including the deciding one is printable (see AtEOF), else Binary.
//
// Classify does not allocate and does not retain b.
func Classify(b []byte) Class {
	if len(b) == 0 {
		return Undecided
	}
	decideAt := 1 // every signature not listed under b[0] died at byte 1
	for i := range byFirst[b[0]] {
		sig := &byFirst[b[0]][i]
		n := sig.match(b)
		switch {
		case n == len(sig.spans):
			return sig.class // signatures are prefix-free: no other can match
		case n == len(b):
			return Undecided // b may still become sig
		default:
			decideAt = max(decideAt, n+1)
		}
	}
	return textOrBinary(b[:decideAt])
}

// AtEOF classifies a connection whose peer closed after sending b: Empty for
// no bytes, the class Classify gives if it decides, else Text when every byte
// of b is printable and Binary otherwise. A truncated signature is therefore
// never its class: "U-Compass/1" then EOF is text, "\x16\x03" is binary.
//
// Printable means ASCII 0x20-0x7e plus '\t', '\r' and '\n'. UTF-8 is not
// treated as text: scanners speak ASCII, and a few bytes of random binary
// often happen to be valid UTF-8.
func AtEOF(b []byte) Class {
	if len(b) == 0 {
		return Empty
	}
	if c := Classify(b); c != Undecided {
		return c
	}
	return textOrBinary(b)
}

func textOrBinary(b []byte) Class {
	for _, c := range b {
		if !printable(c) {
			return Binary
		}
	}
	return Text
}

func printable(c byte) bool {
	return (c >= 0x20 && c <= 0x7e) || c == '\t' || c == '\r' || c == '\n'
}
