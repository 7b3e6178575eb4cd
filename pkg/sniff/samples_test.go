package sniff

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A sample is a real first flight of some client and where Classify must
// decide it.
type sample struct {
	name string
	data []byte
	want Class
	// at is the exact prefix length at which Classify first decides; 0 means
	// it never does (the bytes are a proper prefix of a signature) and want is
	// then what AtEOF must say.
	at int
}

// samples returns the fixed samples plus real ones produced by crypto/tls and
// net/http. The generated ones are built once per test binary.
func samples() []sample {
	return append(generatedSamples(), staticSamples...)
}

var generatedSamples = sync.OnceValue(func() []sample {
	get := httpRequest("GET", "http://example.com/", "")
	post := httpRequest("POST", "http://example.com/api", `{"a":1}`)
	tls12 := &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12}
	return []sample{
		{"tls/crypto-tls-1.3", clientHello(&tls.Config{ServerName: "example.com"}), TLS, 3},
		{"tls/crypto-tls-1.2", clientHello(tls12), TLS, 3},
		{"http/net-http-get", get, HTTP, 4},
		{"http/net-http-post", post, HTTP, 5},
	}
})

// clientHello runs a crypto/tls client handshake against a net.Pipe and
// returns the first record it writes: a real ClientHello.
func clientHello(cfg *tls.Config) []byte {
	c, s := net.Pipe()
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(c, cfg).Handshake() // fails once s closes; expected
	}()
	defer func() { s.Close(); <-done }()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		panic(fmt.Sprintf("reading ClientHello header: %v", err))
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(s, body); err != nil {
		panic(fmt.Sprintf("reading ClientHello body: %v", err))
	}
	return append(hdr, body...)
}

// httpRequest returns the bytes net/http writes for a request.
func httpRequest(method, url, body string) []byte {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 zgrab/0.x")
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

const (
	// An x.224 Connection Request in TPKT with an RDP_NEG_REQ for TLS and
	// CredSSP, as mstsc and nmap send it.
	rdpRequest = "\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"
	// SMB1 Negotiate Protocol request (command 0x72) in a NetBIOS session
	// message, dialects "NT LM 0.12" and "SMB 2.002", as nmap sends it.
	smb1Negotiate = "\x00\x00\x00\x45\xffSMB\x72\x00\x00\x00\x00\x18\x53\xc8" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xfe" +
		"\x00\x00\x00\x00\x00\x22\x00\x02NT LM 0.12\x00\x02SMB 2.002\x00\x02SMB 2.???\x00"
	// SMB2 Negotiate request (command 0) offering dialects 2.02 and 2.10.
	smb2Negotiate = "\x00\x00\x00\x6c\xfeSMB\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x24\x00\x02\x00\x01\x00\x00\x00\x7f\x00\x00\x00\x01\x02\x03\x04" +
		"\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x02\x02\x10\x02"
	// PROXY v2, PROXY command, TCP over IPv4, 192.0.2.1:56324 -> 198.51.100.1:443.
	proxyV2Header = proxyV2 + "\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x01\xdc\x04\x01\xbb"
	// An SSLv2 ClientHello (version 2.0) and an SSLv2-compatible ClientHello
	// of an old TLS 1.0 client.
	sslv2Hello    = "\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10\x07\x00\xc0\x05\x00\x80"
	sslv2CompatV3 = "\x80\x46\x01\x03\x01\x00\x2d\x00\x00\x00\x10\x00\x00\x39\x00\x00\x38"
)

func fixed(name, data string, want Class, at int) sample {
	return sample{name, []byte(data), want, at}
}

var staticSamples = []sample{
	fixed("ucompass/preamble", Preamble, UCompass, 12),
	fixed("ucompass/preamble+hello", Preamble+`{"type":"hello","user":"alice"}`+"\n", UCompass, 12),
	fixed("text/preamble-crlf", "U-Compass/1\r\n", Text, 12),
	fixed("text/preamble-lowercase", "u-compass/1\n", Text, 1),
	fixed("text/preamble-upper", "U-COMPASS/1\n", Text, 4),
	fixed("text/preamble-v2", "U-Compass/2\n", Text, 11),
	fixed("text/preamble-v10", "U-Compass/10\n", Text, 12),
	fixed("text/preamble-truncated", "U-Compass/1", Text, 0),
	fixed("proxy/v1", "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n", Proxy, 6),
	fixed("proxy/v1-unknown", "PROXY UNKNOWN\r\n", Proxy, 6),
	fixed("proxy/v2", proxyV2Header, Proxy, 12),
	fixed("text/proxy-no-space", "PROXY\r\n", Text, 6),
	fixed("binary/proxy-v2-wrong", "\r\n\r\n\x00\r\nQUIX\n", Binary, 11),
	fixed("http/get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP, 4),
	fixed("http/head", "HEAD / HTTP/1.0\r\n\r\n", HTTP, 5),
	fixed("http/put", "PUT /x HTTP/1.1\r\n", HTTP, 4),
	fixed("http/delete", "DELETE /x HTTP/1.1\r\n", HTTP, 7),
	fixed("http/options", "OPTIONS * HTTP/1.1\r\n", HTTP, 8),
	fixed("http/connect", "CONNECT example.com:443 HTTP/1.1\r\n", HTTP, 8),
	fixed("http/patch", "PATCH /x HTTP/1.1\r\n", HTTP, 6),
	fixed("http/trace", "TRACE / HTTP/1.1\r\n", HTTP, 6),
	fixed("text/get-lowercase", "get / HTTP/1.1\r\n", Text, 1),
	fixed("text/get-crlf", "GET\r\n", Text, 4),
	fixed("http2/preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP2, 14),
	fixed("text/pri-http1", "PRI * HTTP/1.1\r\n", Text, 12),
	fixed("tls/record-ssl3", "\x16\x03\x00\x00\x2f\x01", TLS, 3),
	fixed("tls/sslv2-hello", sslv2Hello, TLS, 5),
	fixed("tls/sslv2-compat", sslv2CompatV3, TLS, 5),
	fixed("binary/tls-bad-version", "\x16\x03\x05\x00\x2f", Binary, 3),
	fixed("binary/tls-truncated", "\x16\x03", Binary, 0),
	fixed("ssh/openssh", "SSH-2.0-OpenSSH_9.2p1\r\n", SSH, 4),
	fixed("text/ssh-lowercase", "ssh-2.0\r\n", Text, 1),
	fixed("rdp/x224-connection-request", rdpRequest, RDP, 2),
	fixed("binary/tpkt-bad", "\x03\x01\x00\x13", Binary, 2),
	fixed("smb/smb1-negotiate", smb1Negotiate, SMB, 8),
	fixed("smb/smb2-negotiate", smb2Negotiate, SMB, 8),
	fixed("binary/netbios-not-smb", "\x00\x00\x00\x45\xffSMX", Binary, 8),
	fixed("redis/resp-ping", "*1\r\n$4\r\nPING\r\n", Redis, 2),
	fixed("redis/resp-info", "*1\r\n$4\r\ninfo\r\n", Redis, 2),
	fixed("redis/inline-ping", "PING\r\n", Redis, 5),
	fixed("redis/inline-info-lf", "INFO\n", Redis, 5),
	fixed("redis/inline-config", "CONFIG GET *\r\n", Redis, 7),
	fixed("redis/inline-set", "SET x y\r\n", Redis, 4),
	fixed("redis/inline-slaveof", "SLAVEOF 192.0.2.1 6379\r\n", Redis, 8),
	fixed("redis/inline-quit", "QUIT\r\n", Redis, 5),
	fixed("text/ping-lowercase", "ping\r\n", Text, 1),
	fixed("text/pingx", "PINGX\r\n", Text, 5),
	fixed("text/del-not-delete", "DEL key\r\n", Text, 4),
	fixed("text/resp-star-letter", "*x\r\n", Text, 2),
	fixed("text/crlfcrlf-generic-lines", "\r\n\r\n", Text, 0),
	fixed("text/crlfcrlf-then-text", "\r\n\r\nhelp\r\n", Text, 5),
	fixed("text/help", "help\r\n", Text, 1),
	fixed("text/tab", "\tx", Text, 1),
	fixed("binary/deadbeef", "\xde\xad\xbe\xef\x00\x11\x22\x33", Binary, 3),
	fixed("binary/zeros-counting", "\x00\x01\x02\x03\x04\x05\x06\x07", Binary, 5),
	fixed("binary/socks5", "\x05\x01\x00", Binary, 1),
	fixed("binary/del", "\x7f", Binary, 1),
	fixed("binary/telnet-iac", "\xff\xfb\x18\xff\xfb\x1f", Binary, 3),
	fixed("text/utf8-after-ascii", "h\xc3\xa9llo", Text, 1),
	fixed("binary/utf8-leading", "\xc3\xa9t\xc3\xa9", Binary, 3),
	fixed("empty/no-bytes", "", Empty, 0),
}
