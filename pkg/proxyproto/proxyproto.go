package proxyproto

import (
	"errors"
	"net/netip"
)

// Signatures that open a header.
const (
	// SigV1 opens a version 1 (text) header.
	SigV1 = "PROXY "
	// SigV2 is the 12-byte signature of a version 2 (binary) header.
	SigV2 = "\r\n\r\n\x00\r\nQUIT\n"
)

// Size bounds. A caller never needs to buffer more than MaxLen bytes.
const (
	// MaxV1 is the longest version 1 header, "\r\n" included (the
	// specification's bound: a TCP6 line with the longest addresses).
	MaxV1 = 107
	// MaxV2Payload is the longest version 2 address block plus TLVs this
	// parser accepts: the 216-byte UNIX address block, or the 36-byte
	// TCP6 block with room for 476 bytes of TLVs (AWS, Azure and GCP load
	// balancers send well under 100; HAProxy's SSL TLVs a few hundred).
	// A header announcing more is ErrTooLong as soon as its length is read.
	MaxV2Payload = 512
	// MaxV2 is the longest version 2 header: the 16-byte fixed part and
	// MaxV2Payload.
	MaxV2 = 16 + MaxV2Payload
	// MaxLen is the most bytes Parse ever needs to decide.
	MaxLen = MaxV2
)

// Errors returned by Parse. Every error but ErrNeedMore is final: no more
// bytes can turn it into a header. Errors other than the sentinels
// themselves wrap ErrInvalid with details.
var (
	// ErrNeedMore means the bytes are a valid but incomplete header; call
	// Parse again with more of them.
	ErrNeedMore = errors.New("proxyproto: incomplete header")
	// ErrNotProxy means the bytes do not start with either signature.
	ErrNotProxy = errors.New("proxyproto: not a PROXY protocol header")
	// ErrInvalid means a malformed header.
	ErrInvalid = errors.New("proxyproto: malformed header")
	// ErrTooLong means a version 1 line without "\r\n" within MaxV1 bytes,
	// or a version 2 header announcing more than MaxV2Payload bytes.
	ErrTooLong = errors.New("proxyproto: header too long")
)

// Command says whether a header relays a client connection.
type Command uint8

const (
	// Local is a version 2 LOCAL header: the proxy's own connection (a
	// health check); the addresses of the TCP connection stand.
	Local Command = iota
	// Proxy relays a client connection (version 1 headers always do).
	Proxy
)

func (c Command) String() string {
	if c == Local {
		return "LOCAL"
	}
	return "PROXY"
}

// Header is a parsed PROXY protocol header.
type Header struct {
	Version int // 1 or 2
	Command Command
	// Client and Server are the relayed connection's source and
	// destination. They are not valid (IsValid false) when the header
	// carries no TCP endpoints: version 1 UNKNOWN, version 2 LOCAL, or a
	// version 2 family or transport other than TCP over IPv4 or IPv6. The
	// receiver then uses the TCP connection's own addresses.
	Client, Server netip.AddrPort
}

// Parse parses the PROXY protocol header at the start of b. It returns the
// header and its length n in bytes (what follows belongs to the relayed
// stream), or an error: ErrNeedMore while b is a valid prefix of a header,
// ErrNotProxy when b starts with neither signature, ErrTooLong past the size
// bounds, and an error wrapping ErrInvalid for anything malformed.
func Parse(b []byte) (h Header, n int, err error) {
	switch {
	case hasPrefix(b, SigV1):
		return parseV1(b)
	case hasPrefix(b, SigV2):
		return parseV2(b)
	}
	return Header{}, 0, ErrNotProxy
}

// hasPrefix reports whether b and sig agree on their common length: b is
// either sig's prefix or starts with it.
func hasPrefix(b []byte, sig string) bool {
	n := min(len(b), len(sig))
	return string(b[:n]) == sig[:n]
}
