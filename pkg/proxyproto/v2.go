package proxyproto

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Version 2: the 12-byte signature, a version/command byte (0x20 LOCAL,
// 0x21 PROXY), a family/transport byte, a big-endian 16-bit length, then
// that many bytes: the address block of the family and optional TLVs
// (skipped, not interpreted).

// Address families and transports of the family/transport byte.
const (
	afUnspec = 0x0
	afInet   = 0x1
	afInet6  = 0x2
	afUnix   = 0x3

	tpUnspec = 0x0
	tpStream = 0x1
	tpDgram  = 0x2
)

// addrLen is the length of the address block of each family.
var addrLen = [4]int{afUnspec: 0, afInet: 12, afInet6: 36, afUnix: 216}

func parseV2(b []byte) (Header, int, error) {
	if err := checkV2Fixed(b); err != nil || len(b) < 16 {
		if err == nil {
			err = ErrNeedMore
		}
		return Header{}, 0, err
	}
	n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < n {
		return Header{}, 0, ErrNeedMore
	}
	h := Header{Version: 2, Command: Command(b[12] & 0xf)}
	af, tp := b[13]>>4, b[13]&0xf
	if h.Command == Local || tp != tpStream {
		return h, n, nil // the connection's own addresses stand
	}
	p := b[16:n]
	switch af {
	case afInet:
		h.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[0:4])), binary.BigEndian.Uint16(p[8:10]))
		h.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[4:8])), binary.BigEndian.Uint16(p[10:12]))
	case afInet6:
		h.Client = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[0:16])), binary.BigEndian.Uint16(p[32:34]))
		h.Server = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[16:32])), binary.BigEndian.Uint16(p[34:36]))
	}
	return h, n, nil
}

// checkV2Fixed checks the bytes of the 16-byte fixed part that b has after
// the signature: the version, the command, the family and transport, and
// the length against the bounds and the family's address block.
func checkV2Fixed(b []byte) error {
	if len(b) > 12 {
		if v, cmd := b[12]>>4, b[12]&0xf; v != 2 || cmd > byte(Proxy) {
			return fmt.Errorf("%w: v2 version/command byte %#02x", ErrInvalid, b[12])
		}
	}
	if len(b) > 13 {
		if af, tp := b[13]>>4, b[13]&0xf; af > afUnix || tp > tpDgram {
			return fmt.Errorf("%w: v2 family/transport byte %#02x", ErrInvalid, b[13])
		}
	}
	if len(b) < 16 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(b[14:16]))
	if n > MaxV2Payload {
		return ErrTooLong
	}
	if Command(b[12]&0xf) == Proxy && n < addrLen[b[13]>>4] {
		return fmt.Errorf("%w: v2 length %d shorter than the address block", ErrInvalid, n)
	}
	return nil
}
