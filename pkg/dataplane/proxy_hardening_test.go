package dataplane_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ucompass/compass/pkg/client"
	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/metrics"
	"github.com/ucompass/compass/pkg/session"
	"github.com/ucompass/compass/pkg/sniff"
)

const preamble = "U-Compass/1\n"

func trustLoopback(c *config.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

func proxyV1(client string) string {
	ap := netip.MustParseAddrPort(client)
	proto := "TCP4"
	if ap.Addr().Is6() {
		proto = "TCP6"
	}
	return proto + " " + ap.Addr().String() + " " + ap.Addr().String() + " " +
		strconv.Itoa(int(ap.Port())) + " 9000\r\n"
}

// proxyV2 returns a v2 PROXY header for a TCP client (LOCAL when client is "").
func proxyV2(client string) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	if client == "" {
		return append(b, 0x20, 0x00, 0, 0)
	}
	ap := netip.MustParseAddrPort(client)
	var payload []byte
	fam := byte(0x11)
	if ap.Addr().Is4() {
		a := ap.Addr().As4()
		payload = append(append(payload, a[:]...), 127, 0, 0, 1)
	} else {
		fam = 0x21
		a, d := ap.Addr().As16(), netip.IPv6Loopback().As16()
		payload = append(append(payload, a[:]...), d[:]...)
	}
	payload = binary.BigEndian.AppendUint16(payload, ap.Port())
	payload = binary.BigEndian.AppendUint16(payload, 9000)
	b = append(b, 0x21, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

// writeParts writes each part as its own segment, with a pause between.
func writeParts(t *testing.T, c net.Conn, parts ...[]byte) {
	t.Helper()
	for i, p := range parts {
		if i > 0 {
			time.Sleep(2 * time.Millisecond)
		}
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

// welcomed reads the welcome and checks the session works (ping/pong).
func welcomed(t *testing.T, c net.Conn) {
	t.Helper()
	r := bufio.NewReader(c)
	if l := readLines(t, r, c, 1)[0]; !strings.HasPrefix(l, `{"type":"welcome"`) {
		t.Fatalf("got %q, want welcome", l)
	}
	if _, err := c.Write([]byte(`{"type":"ping","id":7}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if l := readLines(t, r, c, 1)[0]; l != `{"type":"pong","id":7}` {
		t.Fatalf("got %q, want pong", l)
	}
}

func (e *env) sessionOf(user string) *session.Session {
	e.t.Helper()
	var found *session.Session
	waitFor(e.t, "session of "+user, func() bool {
		for _, s := range e.deps.Table.All() {
			if s.User() == user {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

func (e *env) closed(reason string) float64 {
	return testutil.ToFloat64(e.deps.Metrics.Closed.WithLabelValues(reason))
}

func (e *env) proxyHeaders(result string) float64 {
	return testutil.ToFloat64(e.deps.Metrics.ProxyHeaders.WithLabelValues(result))
}

// A trusted proxy's header, v1 or v2, in one packet with the preamble and
// hello or split over several, makes the client's address the session's.
func TestProxyTrusted(t *testing.T) {
	e := start(t, trustLoopback)
	cases := []struct {
		name   string
		header []byte
		remote string // want; "" the TCP peer's
		split  []int  // cut points of header+preamble+hello
	}{
		{"v1-tcp4", []byte("PROXY " + proxyV1("203.0.113.7:40001")), "203.0.113.7:40001", nil},
		{"v1-tcp4-split", []byte("PROXY " + proxyV1("203.0.113.7:40002")), "203.0.113.7:40002", []int{1, 6, 9, 20, 43, 44}},
		{"v1-tcp6", []byte("PROXY " + proxyV1("[2001:db8::7]:40003")), "[2001:db8::7]:40003", []int{30}},
		{"v1-unknown", []byte("PROXY UNKNOWN\r\n"), "", nil},
		{"v2-tcp4", proxyV2("198.51.100.9:40004"), "198.51.100.9:40004", nil},
		{"v2-tcp4-split", proxyV2("198.51.100.9:40005"), "198.51.100.9:40005", []int{3, 12, 14, 16, 20, 28, 29}},
		{"v2-tcp6", proxyV2("[2001:db8::9]:40006"), "[2001:db8::9]:40006", []int{16}},
		{"v2-local", proxyV2(""), "", []int{16}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := "proxied" + strconv.Itoa(i)
			msg := append(append([]byte(nil), tc.header...), preamble+`{"type":"hello","user":"`+user+`"}`+"\n"...)
			var parts [][]byte
			last := 0
			for _, cut := range tc.split {
				parts = append(parts, msg[last:cut])
				last = cut
			}
			parts = append(parts, msg[last:])
			c := e.raw()
			writeParts(t, c, parts...)
			welcomed(t, c)
			want := tc.remote
			if want == "" {
				want = c.LocalAddr().String()
			}
			if got := e.sessionOf(user).Remote.String(); got != want {
				t.Fatalf("session remote %s, want %s", got, want)
			}
		})
	}
	if n := e.proxyHeaders(metrics.ProxyAccepted); n != float64(len(cases)) {
		t.Errorf("accepted headers %v, want %d", n, len(cases))
	}
	if n := e.deps.Sniff.Counts()[sniff.Proxy]; n != 0 {
		t.Errorf("trusted headers counted as class proxy: %d", n)
	}
}

// From an untrusted address any header is junk: class proxy, closed
// silently; a malformed header from a trusted proxy too; a second header
// after a trusted one is the client's junk.
func TestProxyRejected(t *testing.T) {
	cases := []struct {
		name    string
		trusted bool
		data    []byte
		result  string // compass_proxy_headers_total
		reason  string // compass_connections_closed_total
		remote  string // in the rejection ring ("" the TCP peer)
	}{
		{"untrusted-v1", false, []byte("PROXY " + proxyV1("203.0.113.7:1") + preamble), metrics.ProxyUntrusted, metrics.ClosedRejected, ""},
		{"untrusted-v2", false, proxyV2("203.0.113.7:1"), metrics.ProxyUntrusted, metrics.ClosedRejected, ""},
		{"malformed-v1", true, []byte("PROXY TCP4 203.0.113.x"), metrics.ProxyMalformed, metrics.ClosedProxyError, ""},
		{"malformed-v2", true, []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"), metrics.ProxyMalformed, metrics.ClosedProxyError, ""},
		{"v1-without-crlf", true, []byte("PROXY UNKNOWN " + strings.Repeat("x", 120)), metrics.ProxyMalformed, metrics.ClosedProxyError, ""},
		{"second-header", true, append(proxyV2("203.0.113.8:2"), "PROXY UNKNOWN\r\n"...), metrics.ProxyUntrusted, metrics.ClosedRejected, "203.0.113.8:2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, func(c *config.Config) {
				if tc.trusted {
					trustLoopback(c)
				}
			})
			c := e.raw()
			writeParts(t, c, tc.data)
			if got := readAll(t, c); len(got) != 0 {
				t.Fatalf("server wrote %q", got)
			}
			waitFor(t, "counted", func() bool { return e.closed(tc.reason) == 1 })
			if n := e.deps.Sniff.Counts()[sniff.Proxy]; n != 1 {
				t.Errorf("class proxy counted %d times", n)
			}
			if n := e.proxyHeaders(tc.result); n != 1 {
				t.Errorf("compass_proxy_headers_total{result=%q} = %v", tc.result, n)
			}
			want := tc.remote
			if want == "" {
				want = c.LocalAddr().String()
			}
			rec := e.deps.Sniff.Recent()
			if len(rec) != 1 || rec[0].Class != sniff.Proxy || rec[0].Remote != want || len(rec[0].Head) == 0 {
				t.Fatalf("rejections %+v, want one proxy from %s", rec, want)
			}
		})
	}
}

// A header cut short by the peer or by the handshake timeout.
func TestProxyIncomplete(t *testing.T) {
	e := start(t, func(c *config.Config) { trustLoopback(c); c.HandshakeTimeout = 300 * time.Millisecond })
	c := e.raw()
	writeParts(t, c, []byte("PROXY TCP4 203.0.113.7 "))
	c.(*net.TCPConn).CloseWrite()
	if got := readAll(t, c); len(got) != 0 {
		t.Fatalf("server wrote %q", got)
	}
	c2 := e.raw()
	writeParts(t, c2, proxyV2("203.0.113.7:1")[:20])
	if got := readAll(t, c2); len(got) != 0 {
		t.Fatalf("server wrote %q", got)
	}
	waitFor(t, "counted", func() bool {
		n := e.deps.Sniff.Counts()
		return n[sniff.Proxy] == 1 && n[sniff.Timeout] == 1
	})
	if e.proxyHeaders(metrics.ProxyMalformed) != 1 || e.closed(metrics.ClosedHandshakeTimeout) != 1 {
		t.Fatal("a header cut by EOF is malformed, one cut by the deadline a timeout")
	}
}

// The relayed client's bans and per-address slots apply, not the proxy's:
// the slot moves from the proxy to the client.
func TestProxyClientLimits(t *testing.T) {
	// A long handshake timeout: "second" waits for its preamble all along,
	// and must not be classified as a timeout on a slow run.
	e := start(t, func(c *config.Config) { trustLoopback(c); c.MaxConnsPerIP = 2; c.HandshakeTimeout = time.Minute })
	e.deps.Bans.Add(netip.MustParsePrefix("192.0.2.66/32"), time.Hour, "test")
	var open []net.Conn
	for i := range 4 { // four clients behind one proxy address with a limit of 2
		c := e.raw()
		writeParts(t, c, proxyV2("198.51.100."+strconv.Itoa(i+1)+":1000"), []byte(preamble+`{"type":"hello","user":"u`+strconv.Itoa(i)+`"}`+"\n"))
		welcomed(t, c)
		open = append(open, c)
	}
	// 198.51.100.1 has one session: a second connection is admitted, a third refused.
	second := e.raw()
	writeParts(t, second, []byte("PROXY "+proxyV1("198.51.100.1:2000")))
	third := e.raw()
	writeParts(t, third, []byte("PROXY "+proxyV1("198.51.100.1:2001")))
	if got := readAll(t, third); len(got) != 0 {
		t.Fatalf("server wrote %q", got)
	}
	waitFor(t, "refused", func() bool { return e.closed(metrics.ClosedMaxConnsPerIP) == 1 })
	banned := e.raw()
	writeParts(t, banned, proxyV2("192.0.2.66:1"))
	if got := readAll(t, banned); len(got) != 0 {
		t.Fatalf("server wrote %q to a banned client", got)
	}
	waitFor(t, "banned", func() bool { return e.closed(metrics.ClosedBannedAtAccept) == 1 })
	// Neither refusal was classified by the sniffer.
	for cl, n := range e.deps.Sniff.Counts() {
		if n != 0 && cl != sniff.UCompass {
			t.Errorf("class %s counted %d", cl, n)
		}
	}
	for _, c := range open {
		c.Close()
	}
	second.Close()
	waitFor(t, "slots freed", func() bool { return e.dp.Conns() == 0 })
	for i := range 2 { // 198.51.100.1 has its slots back
		c := e.raw()
		writeParts(t, c, proxyV2("198.51.100.1:"+strconv.Itoa(3000+i)), []byte(preamble+hello))
		welcomed(t, c)
	}
}

// Junk behind a trusted proxy is the client's: classified, recorded and
// auto-banned under the client's address, never the proxy's.
func TestProxyJunkBehindProxy(t *testing.T) {
	e := start(t, func(c *config.Config) {
		trustLoopback(c)
		c.Autoban, c.AutobanThreshold, c.AutobanWindow, c.AutobanDuration = true, 2, time.Minute, time.Minute
		c.AutobanAllow = nil
	})
	for range 2 {
		c := e.raw()
		writeParts(t, c, proxyV2("203.0.113.50:1"), []byte("GET / HTTP/1.1\r\n\r\n"))
		if got := readAll(t, c); len(got) != 0 {
			t.Fatalf("server wrote %q", got)
		}
	}
	waitFor(t, "banned", func() bool { return e.deps.Bans.Check(netip.MustParseAddr("203.0.113.50")) })
	if rec := e.deps.Sniff.Recent(); rec[0].Class != sniff.HTTP || rec[0].Remote != "203.0.113.50:1" || !strings.HasPrefix(string(rec[0].Head), "GET ") {
		t.Fatalf("rejection %+v", rec[0])
	}
	// Junk from the proxy itself (a LOCAL header) never bans the proxy.
	for range 3 {
		c := e.raw()
		writeParts(t, c, proxyV2(""), []byte("\x16\x03\x01\x00\x10"))
		readAll(t, c)
	}
	waitFor(t, "tls counted", func() bool { return e.deps.Sniff.Counts()[sniff.TLS] == 3 })
	if e.deps.Bans.Check(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("the trusted proxy was banned")
	}
	// The banned client is refused after its header; other clients are not.
	c := e.raw()
	writeParts(t, c, proxyV2("203.0.113.50:2"), []byte(preamble+hello))
	if got := readAll(t, c); len(got) != 0 {
		t.Fatalf("server wrote %q to a banned client", got)
	}
	ok, err := client.Dial(context.Background(), e.addr, client.Options{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	ok.Close()
}
