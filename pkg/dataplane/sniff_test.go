package dataplane_test

import (
	"bytes"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/config"
	"github.com/ucompass/compass/pkg/sniff"
)

// clientHello returns the first flight of a real crypto/tls client.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		_ = tls.Client(a, &tls.Config{ServerName: "example.com"}).Handshake()
	}()
	buf := make([]byte, 4096)
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func httpRequest(t *testing.T) []byte {
	t.Helper()
	req, err := http.NewRequest("GET", "http://127.0.0.1/wp-login.php", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Every sniffer class: closed with zero bytes written, and counted.
func TestSnifferClassesOverTCP(t *testing.T) {
	e := start(t, func(c *config.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	random := make([]byte, 256)
	for i := range random {
		random[i] = byte(rand.IntN(256))
	}
	random[0] = 0xff // not printable, no signature
	cases := []struct {
		class sniff.Class
		data  []byte
	}{
		{sniff.TLS, clientHello(t)},
		{sniff.HTTP, httpRequest(t)},
		{sniff.HTTP2, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")},
		{sniff.SSH, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")},
		{sniff.RDP, []byte("\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00")},
		{sniff.SMB, []byte("\x00\x00\x00\x85\xffSMBr\x00\x00\x00\x00\x18\x53\xc8")},
		{sniff.SMB, []byte("\x00\x00\x00\x66\xfeSMB\x40\x00\x00\x00")},
		{sniff.Redis, []byte("*1\r\n$4\r\nPING\r\n")},
		{sniff.Redis, []byte("INFO\r\n")},
		{sniff.Proxy, []byte("PROXY TCP4 192.0.2.1 192.0.2.2 5555 9000\r\n")},
		{sniff.Proxy, []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc0\x00\x02\x02\x15\xb3\x23\x28")},
		{sniff.Text, []byte("help\r\n")},
		{sniff.Text, []byte("U-Compass/1\r\n")},
		{sniff.Text, []byte("u-compass/1\n")},
		{sniff.Text, []byte("U-Compass/2\n")},
		{sniff.Binary, random},
		{sniff.Timeout, []byte("U-Comp")},
		{sniff.Timeout, nil},
	}
	want := map[sniff.Class]uint64{}
	for _, tc := range cases {
		t.Run(tc.class.String(), func(t *testing.T) {
			c := e.raw()
			if len(tc.data) > 0 {
				if _, err := c.Write(tc.data); err != nil {
					t.Fatal(err)
				}
			}
			if got := readAll(t, c); len(got) != 0 {
				t.Fatalf("server wrote %q to a %s client", got, tc.class)
			}
			want[tc.class]++
		})
	}
	// Connect and close at once: class empty.
	c := e.raw()
	c.Close()
	want[sniff.Empty]++
	waitFor(t, "counts", func() bool {
		got := e.deps.Sniff.Counts()
		for cl, n := range want {
			if got[cl] != n {
				return false
			}
		}
		return true
	})
	recent := e.deps.Sniff.Recent()
	if len(recent) == 0 || recent[0].Remote == "" {
		t.Fatalf("recent rejections: %+v", recent)
	}
	var sawTLS bool
	for _, r := range recent {
		if r.Class == sniff.TLS && len(r.Head) > 0 && r.Head[0] == 0x16 && len(r.Head) <= 64 {
			sawTLS = true
		}
		if r.Class == sniff.Empty {
			t.Errorf("empty connections fill the ring: %+v", r)
		}
	}
	if !sawTLS {
		t.Errorf("no tls rejection with its head in %+v", recent)
	}
}

// Half-closed after the preamble: nothing written, nothing leaked.
func TestHalfClose(t *testing.T) {
	e := start(t, nil)
	c := e.raw()
	c.Write([]byte("U-Compass/1\n{\"type\":\"hel"))
	c.(*net.TCPConn).CloseWrite()
	if got := readAll(t, c); len(got) != 0 {
		t.Fatalf("got %q", got)
	}
	waitFor(t, "session gone", func() bool { return e.deps.Table.Len() == 0 })
}

// Many junk connections at once leave the server serving real clients.
func TestJunkStorm(t *testing.T) {
	e := start(t, nil)
	a := e.dial("alice")
	junk := [][]byte{[]byte("GET / HTTP/1.0\r\n\r\n"), []byte("\x16\x03\x01\x02\x00"), []byte("SSH-2.0-x\r\n"), bytes.Repeat([]byte{0}, 100)}
	for i := range 200 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(junk[i%len(junk)])
		c.Close()
	}
	if err := a.Ping(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "junk closed", func() bool { return e.dp.Conns() == 1 })
	if got := e.deps.Sniff.Counts(); got[sniff.HTTP] != 50 || got[sniff.TLS] != 50 || got[sniff.SSH] != 50 {
		t.Fatalf("counts %v", got)
	}
	_ = strings.TrimSpace
}
