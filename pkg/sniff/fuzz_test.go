package sniff

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzClassify checks Classify's promises on arbitrary bytes: no panic,
// agreement with the reference rule, decisions stable under appended bytes,
// MaxDecide bytes always decided, and ucompass for the exact preamble only.
// Seeds: every sample, plus testdata/fuzz/FuzzClassify (real first flights,
// including crypto/tls ClientHellos; rewrite them with -update-seeds).
func FuzzClassify(f *testing.F) {
	for _, tc := range staticSamples {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkInvariants(t, b)
	})
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzClassify from the samples")

// TestFuzzSeeds checks that every sample has a seed file, and with
// -update-seeds writes them (in the "go test fuzz v1" format).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzClassify")
	for _, tc := range samples() {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, "/", "-"))
		if *updateSeeds {
			seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tc.data)
			if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("no seed for sample %s: %v (run go test -run TestFuzzSeeds -update-seeds)", tc.name, err)
		}
	}
}
