//go:build e2e

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ucompass/compass/pkg/auth"
	"github.com/ucompass/compass/pkg/client"
)

// dial connects from the attack's source address.
func (e *advEnv) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.RawDial(ctx, e.data, e.from)
}

// advParallel runs f n times on up to workers goroutines and returns the
// number of errors and the first one.
func advParallel(n, workers int, f func(i int) error) (int, error) {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		fails atomic.Int64
		first atomic.Pointer[error]
	)
	for range min(n, workers) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil {
					fails.Add(1)
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return int(fails.Load()), *p
	}
	return 0, nil
}

// sendAndExpectClose writes b and reads until the server closes,
// failing if the server wrote anything (junk is closed silently).
func (e *advEnv) sendAndExpectClose(b []byte) error {
	c, err := e.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if len(b) > 0 {
		if _, err := c.Write(b); err != nil {
			return err
		}
	}
	return advSilentClose(c, advHandshakeTimeout+3*time.Second)
}

// advSilentClose reads until EOF (or a reset) within d; any byte read is a
// failure: junk must be closed without a byte written.
func advSilentClose(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	got, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		return fmt.Errorf("not closed: %v", err)
	}
	if len(got) > 0 {
		return fmt.Errorf("server wrote %q to junk", got)
	}
	return nil
}

func advFailures(what string, n int, fails int, err error) string {
	if fails > 0 {
		return fmt.Sprintf("%d/%d %s failed: %v", fails, n, what, err)
	}
	return ""
}

// advAttacks lists the attacks in the order they run.
func advAttacks() []advAttack {
	return append(advToolAttacks(), advGeneratedAttacks()...)
}

var advNmapPort = regexp.MustCompile(`(?m)^\d+/tcp\s+(\S+)\s+(\S+)`)

func advToolAttacks() []advAttack {
	return []advAttack{
		{name: "nmap -sV --version-all", tool: true, run: func(e *advEnv) string {
			out := advTool(e, "nmap", "-sV", "--version-all", "-Pn", "-p", advPort(e.data), "127.0.0.1")
			if m := advNmapPort.FindStringSubmatch(out); m != nil {
				return "nmap: " + m[1] + " " + m[2]
			}
			e.t.Errorf("nmap output without the port:\n%s", out)
			return "nmap: ?"
		}, check: func(e *advEnv, d advDelta) error {
			return advOnly(d, 1, "timeout", "text", "http", "tls", "binary", "empty", "rdp", "smb", "redis", "ssh", "http2")
		}},
		{name: "curl", tool: true, run: func(e *advEnv) string {
			out := advTool(e, "curl", "-sS", "--max-time", "10", "--interface", "127.0.0.3", "http://127.0.0.1:"+advPort(e.data)+"/")
			return strings.TrimSpace(out)
		}, check: func(e *advEnv, d advDelta) error {
			return advExpect(d, map[string]int{"http": 1})
		}},
		{name: "wrk HTTP flood (3s, 10 conns)", tool: true, run: func(e *advEnv) string {
			out := advTool(e, "wrk", "-t1", "-c10", "-d3s", "http://127.0.0.1:"+advPort(e.data)+"/")
			if m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out); m != nil {
				errs := regexp.MustCompile(`Socket errors: .*`).FindString(out)
				return "wrk: " + m[1] + " responses; " + errs
			}
			return "wrk: " + strings.TrimSpace(out)
		}, check: func(e *advEnv, d advDelta) error {
			return advOnly(d, 100, "http", "empty", "refused:accept_rate")
		}},
		{name: "openssl s_client", tool: true, run: func(e *advEnv) string {
			out := advTool(e, "openssl", "s_client", "-connect", "127.0.0.1:"+advPort(e.data), "-servername", "compass.example")
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "errno") || strings.Contains(l, "no peer certificate") {
					return "openssl: " + strings.TrimSpace(l)
				}
			}
			return "openssl: handshake failed"
		}, check: func(e *advEnv, d advDelta) error {
			return advExpect(d, map[string]int{"tls": 1})
		}},
		{name: "ssh-keyscan", tool: true, run: func(e *advEnv) string {
			out := advTool(e, "ssh-keyscan", "-T", "10", "-p", advPort(e.data), "127.0.0.1")
			// ssh-keyscan waits for the server's banner before it speaks.
			return fmt.Sprintf("ssh-keyscan: %d × %q", strings.Count(out, "\n"), strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]))
		}, check: func(e *advEnv, d advDelta) error {
			return advOnly(d, 1, "timeout")
		}},
	}
}

func advGeneratedAttacks() []advAttack {
	return []advAttack{
		advRandomBinary(), advTLSHellos(), advScannerFlights(), advSlowloris(), advEndlessLine(),
		advHalfOpenRST(), advJunkLines(), advUntrustedProxy(), advMalformedProxy(), advStorm(), advAutoban(),
	}
}

func advRandomBinary() advAttack {
	const n = 50
	return advAttack{name: "random binary", from: "127.0.0.4", run: func(e *advEnv) string {
		fails, err := advParallel(n, 16, func(int) error {
			b := make([]byte, 256)
			_, _ = rand.Read(b)
			b[0], b[2] = 0xff, 0x00 // no signature starts 0xff ?? 0x00: binary at byte 3
			return e.sendAndExpectClose(b)
		})
		return advOr(advFailures("connections", n, fails, err), "closed silently")
	}, check: func(e *advEnv, d advDelta) error {
		return advExpect(d, map[string]int{"binary": n})
	}}
}

func advOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func advTLSHellos() advAttack {
	const n = 50
	return advAttack{name: "TLS ClientHello (crypto/tls)", from: "127.0.0.5", run: func(e *advEnv) string {
		fails, err := advParallel(n, 16, func(int) error {
			c, err := e.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			herr := tls.Client(c, &tls.Config{ServerName: "compass.example"}).Handshake()
			if herr == nil || !(errors.Is(herr, io.EOF) || strings.Contains(herr.Error(), "reset")) {
				return fmt.Errorf("handshake: %v, want EOF", herr)
			}
			return nil
		})
		return advOr(advFailures("handshakes", n, fails, err), "handshake: EOF")
	}, check: func(e *advEnv, d advDelta) error {
		return advExpect(d, map[string]int{"tls": n})
	}}
}

// advScannerFlights are the first bytes of other protocols' clients, as
// scanners send them.
func advScannerFlights() advAttack {
	flights := map[string]string{
		"ssh":   "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
		"rdp":   "\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00",
		"smb":   "\x00\x00\x00\x45\xffSMB\x72\x00\x00\x00\x00\x18\x53\xc8",
		"redis": "*1\r\n$4\r\nPING\r\n",
		"http2": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"text":  "help\r\n",
	}
	const each = 5
	var names []string
	for k := range flights {
		names = append(names, k)
	}
	return advAttack{name: "ssh/rdp/smb/redis/http2/text first flights", from: "127.0.0.13", run: func(e *advEnv) string {
		fails, err := advParallel(each*len(names), 8, func(i int) error {
			return e.sendAndExpectClose([]byte(flights[names[i%len(names)]]))
		})
		return advOr(advFailures("connections", each*len(names), fails, err), "closed silently")
	}, check: func(e *advEnv, d advDelta) error {
		want := map[string]int{}
		for _, k := range names {
			want[k] = each
		}
		return advExpect(d, want)
	}}
}

// advSlowloris sends the preamble a byte a second: the handshake deadline
// closes each connection, holding no goroutine meanwhile.
func advSlowloris() advAttack {
	const n = 100
	return advAttack{name: "slowloris (preamble 1 byte/s)", from: "127.0.0.6", run: func(e *advEnv) string {
		var slowest atomic.Int64
		fails, err := advParallel(n, n, func(int) error {
			c, err := e.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			start := time.Now()
			stop := make(chan struct{})
			go func() {
				for i := 0; i < len("U-Compass/1\n"); i++ {
					if _, err := c.Write([]byte{"U-Compass/1\n"[i]}); err != nil {
						return
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
				}
			}()
			defer close(stop)
			err = advSilentClose(c, advHandshakeTimeout+5*time.Second)
			slowest.Store(max(slowest.Load(), int64(time.Since(start))))
			return err
		})
		return advOr(advFailures("connections", n, fails, err),
			fmt.Sprintf("closed silently after at most %v", time.Duration(slowest.Load()).Round(10*time.Millisecond)))
	}, check: func(e *advEnv, d advDelta) error {
		return advExpect(d, map[string]int{"timeout": n})
	}}
}

// hello completes a handshake as user (a signed token) and returns the reader.
func (e *advEnv) hello(c net.Conn, user string) (*bufio.Reader, error) {
	tok, err := auth.SignHS256(e.secret, user, nil, time.Hour)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte("U-Compass/1\n{\"type\":\"hello\",\"token\":\"" + tok + "\"}\n")); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := r.ReadString('\n')
	if err != nil || !strings.Contains(l, `"welcome"`) {
		return nil, fmt.Errorf("handshake: %q %v", l, err)
	}
	return r, nil
}

// advReadUntilClose returns the lines the server wrote until it closed.
func advReadUntilClose(c net.Conn, r *bufio.Reader) ([]string, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if l != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
		if err != nil {
			if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset") {
				return lines, nil
			}
			return lines, err
		}
	}
}

// advEndlessLine sends a line without a newline after a valid handshake:
// the server buffers at most --max-line bytes, answers line_too_long and
// closes.
func advEndlessLine() advAttack {
	const n = 20
	return advAttack{name: "endless line after handshake", from: "127.0.0.7", run: func(e *advEnv) string {
		fails, err := advParallel(n, n, func(i int) error {
			c, err := e.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			r, err := e.hello(c, fmt.Sprintf("endless-%d", i))
			if err != nil {
				return err
			}
			go func() {
				chunk := []byte(strings.Repeat("x", 1024))
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
			lines, err := advReadUntilClose(c, r)
			if err != nil || len(lines) != 1 || !strings.Contains(lines[0], `"line_too_long"`) {
				return fmt.Errorf("got %q %v, want line_too_long then close", lines, err)
			}
			return nil
		})
		return advOr(advFailures("connections", n, fails, err), "error line_too_long, closed")
	}, check: func(e *advEnv, d advDelta) error {
		if got := d.metric(advClosed("line_too_long")); got != n {
			return fmt.Errorf("closed line_too_long %d, want %d", got, n)
		}
		return advExpect(d, map[string]int{"ucompass": n})
	}}
}

// advHalfOpenRST aborts connections with an RST (SO_LINGER 0): half before
// sending anything, half in the middle of hello.
func advHalfOpenRST() advAttack {
	const n = 200
	return advAttack{name: "RST (SO_LINGER 0) mid-handshake", from: "127.0.0.8", run: func(e *advEnv) string {
		fails, err := advParallel(n, 32, func(i int) error {
			c, err := e.dial()
			if err != nil {
				return err
			}
			if i%2 == 1 {
				if _, err := c.Write([]byte("U-Compass/1\n{\"type\":\"hel")); err != nil {
					return err
				}
				time.Sleep(10 * time.Millisecond) // let the preamble be sniffed
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			return c.Close()
		})
		return advOr(advFailures("connections", n, fails, err), "reset by the client; nothing leaked")
	}, check: func(e *advEnv, d advDelta) error {
		if got := d.metric(advClosed("peer")); got != n {
			return fmt.Errorf("closed peer %d, want %d", got, n)
		}
		return advExpect(d, map[string]int{"empty": n / 2, "ucompass": n / 2})
	}}
}

// advJunkLines: a valid handshake, then lines that are not JSON: errors
// until the abuse score passes its threshold and bye abuse closes it.
func advJunkLines() advAttack {
	const n = 10
	return advAttack{name: "preamble + hello + junk lines", from: "127.0.0.9", run: func(e *advEnv) string {
		fails, err := advParallel(n, n, func(i int) error {
			c, err := e.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			r, err := e.hello(c, fmt.Sprintf("junk-%d", i))
			if err != nil {
				return err
			}
			if _, err := c.Write([]byte(strings.Repeat("\x00garbage{{{\n", 50))); err != nil {
				return err
			}
			lines, err := advReadUntilClose(c, r)
			if err != nil || len(lines) == 0 || !strings.Contains(lines[len(lines)-1], `"reason":"abuse"`) {
				return fmt.Errorf("last of %d lines %q (%v), want bye abuse", len(lines), lines, err)
			}
			return nil
		})
		return advOr(advFailures("connections", n, fails, err), "invalid_json errors, then bye abuse")
	}, check: func(e *advEnv, d advDelta) error {
		if got := d.metric(`compass_kicks_total{reason="abuse"}`); got != n {
			return fmt.Errorf("abuse kicks %d, want %d", got, n)
		}
		return advExpect(d, map[string]int{"ucompass": n})
	}}
}

// advUntrustedProxy: PROXY v1 and v2 headers from an address that is not
// a trusted proxy are junk.
func advUntrustedProxy() advAttack {
	const n = 20
	v2 := "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc0\x00\x02\x02\x15\xb3\x23\x28"
	return advAttack{name: "PROXY v1/v2 from an untrusted address", from: "127.0.0.10", run: func(e *advEnv) string {
		fails, err := advParallel(n, 8, func(i int) error {
			h := "PROXY TCP4 192.0.2.1 192.0.2.2 5555 9000\r\n"
			if i%2 == 1 {
				h = v2
			}
			return e.sendAndExpectClose([]byte(h + "U-Compass/1\n"))
		})
		return advOr(advFailures("connections", n, fails, err), "closed silently")
	}, check: func(e *advEnv, d advDelta) error {
		if got := d.metric(`compass_proxy_headers_total{result="untrusted"}`); got != n {
			return fmt.Errorf("untrusted proxy headers %d, want %d", got, n)
		}
		return advExpect(d, map[string]int{"proxy": n})
	}}
}

// advMalformedProxy: a trusted proxy (--trusted-proxies) sending broken
// headers; class proxy, closed proxy_error; the proxy is never auto-banned.
func advMalformedProxy() advAttack {
	const n = 10
	return advAttack{name: "malformed PROXY from a trusted proxy", from: advTrustedProxy, run: func(e *advEnv) string {
		fails, err := advParallel(n, 8, func(i int) error {
			h := "PROXY TCP4 999.0.2.1 192.0.2.2 5555 9000\r\n"
			if i%2 == 1 {
				h = "\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff" // 64 KiB announced
			}
			return e.sendAndExpectClose([]byte(h))
		})
		return advOr(advFailures("connections", n, fails, err), "closed silently")
	}, check: func(e *advEnv, d advDelta) error {
		if got := d.metric(advClosed("proxy_error")); got != n {
			return fmt.Errorf("closed proxy_error %d, want %d", got, n)
		}
		return advExpect(d, map[string]int{"proxy": n})
	}}
}

// advStorm opens and closes 2,000 connections as fast as 64 workers can,
// from eight source addresses.
func advStorm() advAttack {
	const n = 2000
	return advAttack{name: "connect/close storm", from: "127.0.0.14", run: func(e *advEnv) string {
		start := time.Now()
		fails, err := advParallel(n, 64, func(i int) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := client.RawDial(ctx, e.data, fmt.Sprintf("127.0.0.%d", 14+i%8))
			if err != nil {
				return err
			}
			return c.Close()
		})
		return advOr(advFailures("connections", n, fails, err),
			fmt.Sprintf("%d connections in %v", n, time.Since(start).Round(time.Millisecond)))
	}, check: func(e *advEnv, d advDelta) error {
		if d.accepted != n {
			return fmt.Errorf("%d accepted, want %d", d.accepted, n)
		}
		return advOnly(d, n, "empty", "refused:accept_rate")
	}}
}

// advAutoban: an attacker outside the allowlist sends HTTP junk: after
// --autoban-threshold rejected connections it is banned, and the rest of
// its connections are closed at accept.
func advAutoban() advAttack {
	const n = advAutobanThreshold + 5
	return advAttack{name: "autoban (HTTP junk, outside the allowlist)", from: "127.0.0.200", run: func(e *advEnv) string {
		for i := range n {
			if err := e.sendAndExpectClose([]byte("GET /admin HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				e.errorf("autoban attacker, connection %d: %v", i, err)
			}
		}
		return ""
	}, after: func(e *advEnv) string {
		for _, b := range e.adm.bans(e.t) {
			if b.GetCidr() == "127.0.0.200/32" {
				return fmt.Sprintf("banned %s (%s) for %v; %d refused", b.GetCidr(), b.GetReason(),
					b.GetExpiresAt().AsTime().Sub(b.GetCreatedAt().AsTime()).Round(time.Second), b.GetRefusedCount())
			}
		}
		return "not banned"
	}, check: func(e *advEnv, d advDelta) error {
		if got := d.metric("compass_autobans_total"); got != 1 {
			return fmt.Errorf("autobans %d, want 1", got)
		}
		var found bool
		for _, b := range e.adm.bans(e.t) {
			found = found || (b.GetCidr() == "127.0.0.200/32" && b.GetReason() == "autoban")
		}
		if !found {
			return errors.New("ListBans has no autoban of 127.0.0.200/32")
		}
		if !strings.Contains(e.srv.stderr.String(), `"msg":"address banned automatically","cidr":"127.0.0.200/32"`) {
			return errors.New("no log line for the automatic ban")
		}
		return advExpect(d, map[string]int{"http": advAutobanThreshold, "refused:banned_at_accept": 5})
	}}
}
