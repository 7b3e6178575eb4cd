package proxyproto

import (
	"bytes"
	"fmt"
	"net/netip"
)

// Version 1: "PROXY" SP proto SP src SP dst SP sport SP dport CRLF, where
// proto is TCP4 or TCP6, or "PROXY UNKNOWN" followed by anything up to
// CRLF. Fields are separated by exactly one space.

// v1 field limits: the longest text of each kind of field.
const (
	maxIPv4Text = len("255.255.255.255")
	maxIPv6Text = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")
	maxPortText = len("65535")
)

func parseV1(b []byte) (Header, int, error) {
	if len(b) < len(SigV1) {
		return Header{}, 0, ErrNeedMore
	}
	window := b[:min(len(b), MaxV1)]
	end := bytes.IndexByte(window, '\n')
	if end < 0 {
		if err := checkV1Prefix(window[len(SigV1):]); err != nil {
			return Header{}, 0, err
		}
		if len(window) == MaxV1 {
			return Header{}, 0, ErrTooLong
		}
		return Header{}, 0, ErrNeedMore
	}
	if b[end-1] != '\r' {
		return Header{}, 0, fmt.Errorf("%w: v1 line ends in a bare \\n", ErrInvalid)
	}
	h, err := parseV1Fields(b[len(SigV1) : end-1])
	if err != nil {
		return Header{}, 0, err
	}
	return h, end + 1, nil
}

// parseV1Fields parses the text between "PROXY " and "\r\n".
func parseV1Fields(s []byte) (Header, error) {
	if bytes.IndexByte(s, '\r') >= 0 {
		return Header{}, fmt.Errorf("%w: v1 line holds a \\r", ErrInvalid)
	}
	proto, rest, _ := bytes.Cut(s, []byte{' '})
	switch string(proto) {
	case "UNKNOWN":
		// The rest (if any, after one space) is ignored by definition.
		return Header{Version: 1, Command: Proxy}, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, fmt.Errorf("%w: v1 protocol %q", ErrInvalid, proto)
	}
	f := bytes.Split(rest, []byte{' '})
	if len(f) != 4 {
		return Header{}, fmt.Errorf("%w: v1 %s needs 4 fields after it, got %d", ErrInvalid, proto, len(f))
	}
	v6 := proto[3] == '6'
	src, err1 := parseV1Addr(f[0], v6)
	dst, err2 := parseV1Addr(f[1], v6)
	sport, err3 := parsePort(f[2])
	dport, err4 := parsePort(f[3])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return Header{}, err
		}
	}
	return Header{Version: 1, Command: Proxy,
		Client: netip.AddrPortFrom(src, sport), Server: netip.AddrPortFrom(dst, dport)}, nil
}

func parseV1Addr(f []byte, v6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(f))
	switch {
	case err != nil:
		return a, fmt.Errorf("%w: v1 address %q", ErrInvalid, f)
	case v6 && (!a.Is6() || a.Zone() != ""), !v6 && !a.Is4():
		return netip.Addr{}, fmt.Errorf("%w: v1 address %q of the wrong family", ErrInvalid, f)
	}
	return a, nil
}

// parsePort accepts 0 to 65535 in decimal without leading zeros.
func parsePort(f []byte) (uint16, error) {
	if len(f) == 0 || len(f) > maxPortText || (f[0] == '0' && len(f) > 1) {
		return 0, fmt.Errorf("%w: v1 port %q", ErrInvalid, f)
	}
	v := 0
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: v1 port %q", ErrInvalid, f)
		}
		v = v*10 + int(c-'0')
	}
	if v > 65535 {
		return 0, fmt.Errorf("%w: v1 port %q", ErrInvalid, f)
	}
	return uint16(v), nil
}

// checkV1Prefix checks the text after "PROXY " of a line whose "\n" has
// not arrived: an error means no continuation can make it valid. Complete
// fields are checked fully, the last (incomplete) one by its characters
// and length, which any valid field of its kind satisfies.
func checkV1Prefix(s []byte) error {
	if i := bytes.IndexByte(s, '\r'); i >= 0 {
		if i != len(s)-1 {
			return fmt.Errorf("%w: v1 line holds a \\r", ErrInvalid)
		}
		_, err := parseV1Fields(s[:i]) // only "\n" may follow: s is complete
		return err
	}
	f := bytes.Split(s, []byte{' '})
	proto := f[0]
	if len(f) == 1 {
		for _, p := range []string{"TCP4", "TCP6", "UNKNOWN"} {
			if len(proto) <= len(p) && string(proto) == p[:len(proto)] {
				return nil
			}
		}
		return fmt.Errorf("%w: v1 protocol %q", ErrInvalid, proto)
	}
	switch string(proto) {
	case "UNKNOWN":
		return nil
	case "TCP4", "TCP6":
	default:
		return fmt.Errorf("%w: v1 protocol %q", ErrInvalid, proto)
	}
	if len(f) > 5 {
		return fmt.Errorf("%w: v1 %s with more than 4 fields after it", ErrInvalid, proto)
	}
	v6 := proto[3] == '6'
	for i, field := range f[1:] {
		last := i == len(f)-2
		var err error
		switch {
		case last:
			err = checkPartialField(field, i, v6)
		case i < 2:
			_, err = parseV1Addr(field, v6)
		default:
			_, err = parsePort(field)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkPartialField checks the beginning of field i (0, 1: addresses; 2,
// 3: ports) by its characters and length.
func checkPartialField(f []byte, i int, v6 bool) error {
	ok := func(c byte) bool { return c >= '0' && c <= '9' }
	max := maxPortText
	switch {
	case i >= 2:
		if len(f) > 1 && f[0] == '0' {
			return fmt.Errorf("%w: v1 port %q", ErrInvalid, f)
		}
	case v6:
		ok = func(c byte) bool {
			return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'
		}
		max = maxIPv6Text
	default:
		ok = func(c byte) bool { return (c >= '0' && c <= '9') || c == '.' }
		max = maxIPv4Text
	}
	if len(f) > max {
		return fmt.Errorf("%w: v1 field %q too long", ErrInvalid, f)
	}
	for _, c := range f {
		if !ok(c) {
			return fmt.Errorf("%w: v1 field %q", ErrInvalid, f)
		}
	}
	return nil
}
