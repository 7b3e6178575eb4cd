package sniff

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// firstDecision feeds growing prefixes of b to Classify and returns the first
// length that decides and its class (0, Undecided if none does). It fails t
// when a longer prefix changes the decision.
func firstDecision(t *testing.T, b []byte) (int, Class) {
	t.Helper()
	at, got := 0, Undecided
	for n := 0; n <= len(b); n++ {
		c := Classify(b[:n])
		switch {
		case got == Undecided && c != Undecided:
			at, got = n, c
		case got != Undecided && c != got:
			t.Fatalf("Classify(%q) = %v, but its prefix of %d bytes was %v", b[:n], c, at, got)
		}
	}
	return at, got
}

func TestClassifySamples(t *testing.T) {
	for _, tc := range samples() {
		t.Run(tc.name, func(t *testing.T) {
			if prefix, _, _ := strings.Cut(tc.name, "/"); prefix != tc.want.String() {
				t.Fatalf("sample %q is named for %q but wants %v", tc.name, prefix, tc.want)
			}
			at, got := firstDecision(t, tc.data)
			if tc.at == 0 {
				if got != Undecided {
					t.Fatalf("Classify(%q) decided %v at %d bytes, want undecided", tc.data, got, at)
				}
			} else if at != tc.at || got != tc.want {
				t.Fatalf("Classify(%q) decided %v at %d bytes, want %v at %d", tc.data, got, at, tc.want, tc.at)
			}
			if c := AtEOF(tc.data); c != tc.want {
				t.Errorf("AtEOF(%q) = %v, want %v", tc.data, c, tc.want)
			}
		})
	}
}

// TestSignaturesDecideAtLastByte builds concrete instances of every signature
// and checks each is undecided on every proper prefix and decided on the
// whole: no signature is decided later, or earlier, than its last byte.
func TestSignaturesDecideAtLastByte(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, sig := range signatures() {
		for range 20 {
			b := instance(rnd, sig)
			at, got := firstDecision(t, b)
			if at != len(b) || got != sig.class {
				t.Fatalf("signature instance %q decided %v at %d, want %v at %d", b, got, at, sig.class, len(b))
			}
		}
	}
}

// instance returns random bytes that match every span of sig.
func instance(rnd *rand.Rand, sig signature) []byte {
	b := make([]byte, len(sig.spans))
	for i, sp := range sig.spans {
		b[i] = sp.lo + byte(rnd.IntN(int(sp.hi-sp.lo)+1))
	}
	return b
}

// TestSignaturesPrefixFree checks that no signature can be a prefix of another
// of a different class, which Classify relies on to stop at a full match.
func TestSignaturesPrefixFree(t *testing.T) {
	sigs := signatures()
	for i, a := range sigs {
		for _, b := range sigs[i+1:] {
			if a.class != b.class && overlap(a.spans, b.spans) {
				t.Errorf("%v signature %v and %v signature %v can share a prefix", a.class, a.spans, b.class, b.spans)
			}
		}
	}
}

// overlap reports whether some input matches all of the shorter of a and b
// and the same leading positions of the longer.
func overlap(a, b []span) bool {
	for i := range min(len(a), len(b)) {
		if a[i].hi < b[i].lo || b[i].hi < a[i].lo {
			return false
		}
	}
	return true
}

// TestMaxDecide checks MaxDecide is tight: every input of MaxDecide bytes is
// decided, and some input of MaxDecide-1 bytes is not.
func TestMaxDecide(t *testing.T) {
	longest := 0
	for _, sig := range signatures() {
		longest = max(longest, len(sig.spans))
	}
	if longest != MaxDecide {
		t.Fatalf("longest signature has %d bytes, MaxDecide is %d", longest, MaxDecide)
	}
	if c := Classify([]byte("PRI * HTTP/2.")); c != Undecided {
		t.Fatalf("Classify of 13 bytes of the HTTP/2 preface = %v, want undecided", c)
	}
	if MaxDecide > 24 {
		t.Fatalf("MaxDecide = %d, callers were promised at most 24", MaxDecide)
	}
}

// TestClassifyProperties checks, over many random inputs biased towards
// signatures, that Classify agrees with the reference definition, that a
// decision never changes as bytes are appended, and that MaxDecide bytes
// always decide.
func TestClassifyProperties(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	sigs, corpus := signatures(), samples()
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for range n {
		b := randomInput(rnd, sigs, corpus)
		checkInvariants(t, b)
	}
}

// randomInput returns random bytes, a mutated sample or a signature instance
// cut short or followed by random bytes.
func randomInput(rnd *rand.Rand, sigs []signature, corpus []sample) []byte {
	switch rnd.IntN(3) {
	case 0:
		return randomBytes(rnd, rnd.IntN(2*MaxDecide))
	case 1:
		b := bytes.Clone(corpus[rnd.IntN(len(corpus))].data)
		if len(b) > 0 {
			b[rnd.IntN(len(b))] = byte(rnd.UintN(256))
		}
		return b[:rnd.IntN(len(b)+1)]
	default:
		b := instance(rnd, sigs[rnd.IntN(len(sigs))])
		b = b[:rnd.IntN(len(b)+1)]
		return append(b, randomBytes(rnd, rnd.IntN(MaxDecide))...)
	}
}

func randomBytes(rnd *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.UintN(256))
	}
	return b
}

// checkInvariants fails t when Classify breaks one of its promises on b. The
// fuzz target uses it too.
func checkInvariants(t *testing.T, b []byte) {
	t.Helper()
	c := Classify(b)
	if want := reference(b); c != want {
		t.Fatalf("Classify(%q) = %v, reference says %v", b, c, want)
	}
	if len(b) >= MaxDecide && c == Undecided {
		t.Fatalf("Classify(%q) of %d >= MaxDecide bytes is undecided", b, len(b))
	}
	if (c == UCompass) != bytes.HasPrefix(b, []byte(Preamble)) {
		t.Fatalf("Classify(%q) = %v: only the exact preamble is ucompass", b, c)
	}
	for n := range len(b) {
		if p := Classify(b[:n]); p != Undecided && p != c {
			t.Fatalf("Classify(%q) = %v but its prefix of %d bytes was %v", b, c, n, p)
		}
	}
	if e := AtEOF(b); c == Undecided && e != Empty && e != Text && e != Binary {
		t.Fatalf("AtEOF(%q) = %v for undecided bytes", b, e)
	} else if c != Undecided && e != c {
		t.Fatalf("AtEOF(%q) = %v, Classify says %v", b, e, c)
	}
}

// allSignatures is the flat list, built once for reference.
var allSignatures = signatures()

// reference is the rule of the package comment spelled out literally, with
// no index and no shortcuts: walk the prefixes; a prefix that completes a
// signature decides its class; one that is a prefix of no signature decides
// text or binary; otherwise look at one more byte.
func reference(b []byte) Class {
	for n := 1; n <= len(b); n++ {
		alive := false
		for _, sig := range allSignatures {
			if n > len(sig.spans) || sig.match(b[:n]) < n {
				continue
			}
			if n == len(sig.spans) {
				return sig.class
			}
			alive = true
		}
		if !alive {
			return textOrBinary(b[:n])
		}
	}
	return Undecided
}

func TestAtEOF(t *testing.T) {
	tests := []struct {
		in   string
		want Class
	}{
		{"", Empty},
		{"\r\n\r\n", Text},
		{"U-Compass/1", Text},
		{"PING", Text},
		{"*", Text},
		{"\x16\x03", Binary},
		{"\x00\x00\x00", Binary},
		{"\r\n\r\n\x00", Binary},
		{Preamble, UCompass}, // decided bytes keep their class
		{"GET ", HTTP},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := AtEOF([]byte(tc.in)); got != tc.want {
				t.Errorf("AtEOF(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	for c := range 256 {
		want := c >= 0x20 && c <= 0x7e || c == '\t' || c == '\r' || c == '\n'
		if got := printable(byte(c)); got != want {
			t.Errorf("printable(%#x) = %v, want %v", c, got, want)
		}
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	for _, tc := range samples() {
		if a := testing.AllocsPerRun(100, func() { Classify(tc.data) }); a != 0 {
			t.Errorf("Classify(%s) allocates %v times", tc.name, a)
		}
	}
}
