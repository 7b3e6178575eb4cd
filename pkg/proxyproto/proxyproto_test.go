package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a version 2 header: verCmd, famTp, then payload.
func v2(verCmd, famTp byte, payload []byte) []byte {
	b := []byte(SigV2)
	b = append(b, verCmd, famTp)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

func inet4(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	p := append(s[:], d[:]...)
	p = binary.BigEndian.AppendUint16(p, sport)
	return binary.BigEndian.AppendUint16(p, dport)
}

func inet6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	p := append(s[:], d[:]...)
	p = binary.BigEndian.AppendUint16(p, sport)
	return binary.BigEndian.AppendUint16(p, dport)
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// tlvs is an AWS-style TLV (type 0xEA, VPC endpoint id) and a NOOP.
var tlvs = []byte("\xea\x00\x17\x01vpce-08d2bf15fac5001c9\x04\x00\x02\x00\x00")

type valid struct {
	name string
	in   []byte
	want Header
}

func validHeaders() []valid {
	return []valid{
		{"v1/tcp4", []byte("PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"),
			Header{1, Proxy, ap("192.0.2.1:56324"), ap("198.51.100.1:443")}},
		{"v1/tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"),
			Header{1, Proxy, ap("[2001:db8::1]:65535"), ap("[2001:db8::2]:0")}},
		{"v1/tcp6-mapped", []byte("PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n"),
			Header{1, Proxy, ap("[::ffff:192.0.2.7]:1"), ap("[::1]:2")}},
		{"v1/unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Command: Proxy}},
		{"v1/unknown-with-addresses", []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
			Header{Version: 1, Command: Proxy}},
		{"v1/longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			Header{1, Proxy, ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
		{"v2/tcp4", v2(0x21, 0x11, inet4("192.0.2.1", "198.51.100.1", 56324, 443)),
			Header{2, Proxy, ap("192.0.2.1:56324"), ap("198.51.100.1:443")}},
		{"v2/tcp6", v2(0x21, 0x21, inet6("2001:db8::1", "2001:db8::2", 1234, 9000)),
			Header{2, Proxy, ap("[2001:db8::1]:1234"), ap("[2001:db8::2]:9000")}},
		{"v2/tcp4-tlvs", v2(0x21, 0x11, append(inet4("203.0.113.9", "10.0.0.1", 40000, 9000), tlvs...)),
			Header{2, Proxy, ap("203.0.113.9:40000"), ap("10.0.0.1:9000")}},
		{"v2/local", v2(0x20, 0x00, nil), Header{Version: 2, Command: Local}},
		{"v2/local-with-addresses", v2(0x20, 0x11, inet4("192.0.2.1", "192.0.2.2", 1, 2)), Header{Version: 2, Command: Local}},
		{"v2/proxy-unspec", v2(0x21, 0x00, nil), Header{Version: 2, Command: Proxy}},
		{"v2/unix", v2(0x21, 0x31, make([]byte, 216)), Header{Version: 2, Command: Proxy}},
		{"v2/udp4", v2(0x21, 0x12, inet4("192.0.2.1", "192.0.2.2", 1, 2)), Header{Version: 2, Command: Proxy}},
		{"v2/largest", v2(0x21, 0x21, append(inet6("::1", "::2", 1, 2), make([]byte, MaxV2Payload-36)...)),
			Header{2, Proxy, ap("[::1]:1"), ap("[::2]:2")}},
	}
}

func TestParseValid(t *testing.T) {
	for _, tc := range validHeaders() {
		t.Run(tc.name, func(t *testing.T) {
			payload := []byte("U-Compass/1\n{\"type\":\"hello\"}\n")
			h, n, err := Parse(append(bytes.Clone(tc.in), payload...))
			if err != nil || n != len(tc.in) || h != tc.want {
				t.Fatalf("Parse = %+v, %d, %v; want %+v, %d, nil", h, n, err, tc.want, len(tc.in))
			}
		})
	}
}

// Every proper prefix of a valid header is ErrNeedMore.
func TestParseTruncatedAtEveryByte(t *testing.T) {
	for _, tc := range validHeaders() {
		t.Run(tc.name, func(t *testing.T) {
			for k := range len(tc.in) {
				if _, n, err := Parse(tc.in[:k]); err != ErrNeedMore || n != 0 {
					t.Fatalf("Parse(first %d of %d bytes %q) = %d, %v; want ErrNeedMore", k, len(tc.in), tc.in[:k], n, err)
				}
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	long := "PROXY TCP4 " + strings.Repeat("1", 200)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n"), ErrNotProxy},
		{"preamble", []byte("U-Compass/1\n"), ErrNotProxy},
		{"binary", []byte{0xde, 0xad, 0xbe, 0xef}, ErrNotProxy},
		{"v1/lowercase", []byte("proxy TCP4"), ErrNotProxy},
		{"v1/no-space", []byte("PROXY\r\n"), ErrNotProxy},
		{"v1/bare-lf", []byte("PROXY UNKNOWN\n"), ErrInvalid},
		{"v1/bad-proto", []byte("PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n"), ErrInvalid},
		{"v1/bad-proto-early", []byte("PROXY TCP5"), ErrInvalid},
		{"v1/unknownx", []byte("PROXY UNKNOWNX\r\n"), ErrInvalid},
		{"v1/tcp4-with-v6", []byte("PROXY TCP4 ::1 ::1 1 2\r\n"), ErrInvalid},
		{"v1/tcp4-with-v6-early", []byte("PROXY TCP4 ::"), ErrInvalid},
		{"v1/tcp6-with-v4", []byte("PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n"), ErrInvalid},
		{"v1/tcp6-zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), ErrInvalid},
		{"v1/ipv4-leading-zero", []byte("PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n"), ErrInvalid},
		{"v1/port-too-big", []byte("PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n"), ErrInvalid},
		{"v1/port-leading-zero", []byte("PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n"), ErrInvalid},
		{"v1/port-leading-zero-early", []byte("PROXY TCP4 1.2.3.4 1.2.3.4 01"), ErrInvalid},
		{"v1/too-few-fields", []byte("PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n"), ErrInvalid},
		{"v1/too-many-fields", []byte("PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n"), ErrInvalid},
		{"v1/too-many-fields-early", []byte("PROXY TCP4 1.2.3.4 1.2.3.4 1 2 "), ErrInvalid},
		{"v1/double-space", []byte("PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n"), ErrInvalid},
		{"v1/double-space-early", []byte("PROXY TCP4  "), ErrInvalid},
		{"v1/cr-inside", []byte("PROXY TCP4 1.2.3.4\r1"), ErrInvalid},
		{"v1/cr-early-end", []byte("PROXY TCP4 1.2.3.4\r"), ErrInvalid},
		{"v1/letters-in-ipv4", []byte("PROXY TCP4 1.2.3.x"), ErrInvalid},
		{"v1/oversized", []byte(long), ErrInvalid},
		{"v1/no-crlf-in-107", []byte("PROXY UNKNOWN " + strings.Repeat("x", 200) + "\r\n"), ErrTooLong},
		{"v2/version-1", v2(0x11, 0x11, inet4("1.2.3.4", "1.2.3.4", 1, 2)), ErrInvalid},
		{"v2/bad-command", v2(0x22, 0x11, inet4("1.2.3.4", "1.2.3.4", 1, 2)), ErrInvalid},
		{"v2/bad-command-early", []byte(SigV2 + "\x2f"), ErrInvalid},
		{"v2/bad-family", v2(0x21, 0x41, nil), ErrInvalid},
		{"v2/bad-transport", []byte(SigV2 + "\x21\x13"), ErrInvalid},
		{"v2/short-inet", v2(0x21, 0x11, make([]byte, 11)), ErrInvalid},
		{"v2/short-inet6", v2(0x21, 0x21, make([]byte, 12)), ErrInvalid},
		{"v2/short-unix", v2(0x21, 0x31, make([]byte, 215)), ErrInvalid},
		{"v2/oversized", v2(0x21, 0x21, make([]byte, MaxV2Payload+1)), ErrTooLong},
		// The length alone decides: no need to wait for 64 KiB.
		{"v2/oversized-announced", []byte(SigV2 + "\x21\x11\xff\xff"), ErrTooLong},
		{"v2/wrong-signature", []byte("\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c"), ErrNotProxy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := Parse(tc.in)
			if !errors.Is(err, tc.want) || n != 0 || h != (Header{}) {
				t.Fatalf("Parse(%q) = %+v, %d, %v; want %v", tc.in, h, n, err, tc.want)
			}
		})
	}
	if _, _, err := Parse([]byte(long[:MaxV1])); !errors.Is(err, ErrInvalid) {
		t.Errorf("107 bytes of a bad address: %v", err)
	}
}

// A v1 line that is still valid at MaxV1 bytes without its "\r\n" is too long.
func TestParseV1TooLong(t *testing.T) {
	in := []byte("PROXY UNKNOWN " + strings.Repeat("x", MaxV1))
	for k := range MaxV1 {
		if _, _, err := Parse(in[:k]); err != ErrNeedMore {
			t.Fatalf("at %d bytes: %v, want ErrNeedMore", k, err)
		}
	}
	for _, k := range []int{MaxV1, MaxV1 + 1, len(in)} {
		if _, _, err := Parse(in[:k]); err != ErrTooLong {
			t.Fatalf("at %d bytes: %v, want ErrTooLong", k, err)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	if _, _, err := Parse(nil); err != ErrNeedMore {
		t.Fatalf("Parse(nil) = %v, want ErrNeedMore", err)
	}
}

func TestCommandString(t *testing.T) {
	if Local.String() != "LOCAL" || Proxy.String() != "PROXY" {
		t.Fatal(Local.String(), Proxy.String())
	}
}

func BenchmarkParse(b *testing.B) {
	for _, tc := range validHeaders()[:2] {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = Parse(tc.in)
			}
		})
	}
	in := v2(0x21, 0x11, inet4("192.0.2.1", "198.51.100.1", 56324, 443))
	b.Run("v2/tcp4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = Parse(in)
		}
	})
}
