package proxyproto

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks Parse's promises on arbitrary bytes: no panic; a header
// parses the same alone and with anything after it, and every proper
// prefix of it is ErrNeedMore; ErrNeedMore only below MaxLen and for every
// prefix; a final error stays final whatever follows. Seeds: the valid
// headers of the unit tests (testdata/fuzz/FuzzParse, rewrite with
// -update-seeds) plus a few broken ones.
func FuzzParse(f *testing.F) {
	for _, tc := range validHeaders() {
		f.Add(tc.in)
	}
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nU-Compass/1\n"))
	f.Add([]byte(SigV2 + "\x21\x11\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		switch {
		case err == nil:
			checkHeader(t, b, h, n)
		case err == ErrNeedMore:
			if n != 0 || len(b) >= MaxLen {
				t.Fatalf("ErrNeedMore with n=%d at %d bytes", n, len(b))
			}
			for k := range len(b) {
				if _, _, err := Parse(b[:k]); err != ErrNeedMore {
					t.Fatalf("prefix %q of an incomplete header: %v", b[:k], err)
				}
			}
		default:
			if !errors.Is(err, ErrNotProxy) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("unknown error %v", err)
			}
			for _, more := range [][]byte{[]byte("\r\n"), []byte(" 1 2\r\n"), make([]byte, MaxLen)} {
				if _, _, err2 := Parse(append(bytes.Clone(b), more...)); err2 == nil || err2 == ErrNeedMore {
					t.Fatalf("%q was %v, but with %q after it: %v", b, err, more, err2)
				}
			}
		}
	})
}

func checkHeader(t *testing.T, b []byte, h Header, n int) {
	t.Helper()
	if n <= 0 || n > len(b) || n > MaxLen {
		t.Fatalf("n = %d for %d bytes", n, len(b))
	}
	if h.Version != 1 && h.Version != 2 {
		t.Fatalf("version %d", h.Version)
	}
	if h.Client.IsValid() != h.Server.IsValid() || (h.Command == Local && h.Client.IsValid()) {
		t.Fatalf("header %+v", h)
	}
	h2, n2, err := Parse(b[:n])
	if err != nil || n2 != n || h2 != h {
		t.Fatalf("the header alone: %+v, %d, %v; with the rest: %+v, %d", h2, n2, err, h, n)
	}
	for k := range n {
		if _, _, err := Parse(b[:k]); err != ErrNeedMore {
			t.Fatalf("prefix of %d of a %d-byte header: %v", k, n, err)
		}
	}
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzParse from the unit tests' headers")

// TestFuzzSeeds checks that every valid header of the unit tests has a seed
// file, and with -update-seeds writes them ("go test fuzz v1" format).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if *updateSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range validHeaders() {
		path := filepath.Join(dir, filepath.Base(tc.name[:2])+"-"+filepath.Base(tc.name))
		if *updateSeeds {
			seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tc.in)
			if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("no seed for %s: %v (run go test -run TestFuzzSeeds -update-seeds)", tc.name, err)
		}
	}
}
