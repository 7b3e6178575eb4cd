package sniff

// A signature is a sequence of byte ranges, one per position, that decides
// its class once all of them have matched. No signature may be a prefix of
// another of a different class (TestSignaturesPrefixFree checks it); that is
// what lets Classify stop at the first full match.
type signature struct {
	class Class
	spans []span
}

// span is an inclusive byte range for one position.
type span struct{ lo, hi byte }

// match returns how many leading bytes of b match sig, up to len(sig.spans).
func (sig *signature) match(b []byte) int {
	n := min(len(b), len(sig.spans))
	for i := 0; i < n; i++ {
		if b[i] < sig.spans[i].lo || b[i] > sig.spans[i].hi {
			return i
		}
	}
	return n
}

// byFirst indexes the signatures by every byte their first span accepts, so
// Classify only tries the few that can match b[0]. Read-only after init.
var byFirst = indexByFirst(signatures())

func indexByFirst(sigs []signature) (idx [256][]signature) {
	for _, sig := range sigs {
		for c := int(sig.spans[0].lo); c <= int(sig.spans[0].hi); c++ {
			idx[c] = append(idx[c], sig)
		}
	}
	return idx
}

// signatures lists every signature of protocol.md's table.
func signatures() []signature {
	sigs := []signature{
		{UCompass, lit(Preamble)},
		{Proxy, lit("PROXY ")},
		{Proxy, lit(proxyV2)},
		{HTTP2, lit("PRI * HTTP/2.0")},
		// A TLS record: handshake type, then SSL 3.0 up to TLS 1.3's 0x0304.
		{TLS, seq(lit("\x16\x03"), rng(0x00, 0x04))},
		// An SSLv2 ClientHello: a 2-byte record header with the high bit set,
		// msg type 1, then version 2.0 or (SSLv2-compatible hello) 3.0-3.4.
		{TLS, seq(rng(0x80, 0xff), rng(0x00, 0xff), lit("\x01\x00\x02"))},
		{TLS, seq(rng(0x80, 0xff), rng(0x00, 0xff), lit("\x01\x03"), rng(0x00, 0x04))},
		{SSH, lit("SSH-")},
		{RDP, lit("\x03\x00")}, // TPKT version 3, reserved 0
		// NetBIOS session message (type 0, 3-byte length), then SMB1 or SMB2.
		{SMB, seq(lit("\x00"), rng(0x00, 0xff), rng(0x00, 0xff), rng(0x00, 0xff),
			rng(0xfe, 0xff), lit("SMB"))},
		{Redis, seq(lit("*"), rng('0', '9'))}, // RESP array header
	}
	for _, m := range httpMethods {
		sigs = append(sigs, signature{HTTP, lit(m + " ")})
	}
	for _, w := range redisInline {
		for _, end := range []byte{' ', '\r', '\n'} {
			sigs = append(sigs, signature{Redis, seq(lit(w), rng(end, end))})
		}
	}
	return sigs
}

func lit(s string) []span {
	spans := make([]span, len(s))
	for i := range len(s) {
		spans[i] = span{s[i], s[i]}
	}
	return spans
}

func rng(lo, hi byte) []span { return []span{{lo, hi}} }

func seq(parts ...[]span) []span {
	var spans []span
	for _, p := range parts {
		spans = append(spans, p...)
	}
	return spans
}
