package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzVerify from TestFuzzSeeds")

// fuzzES256Key is a throwaway P-256 key, fixed so that the valid tokens in
// the seed corpus stay valid. It protects nothing.
const fuzzES256Key = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIA9+9da0BDmffkKf
4nk0giX0xgUcZ2D7hcUo+HAapX6hRANCAAT6SGu+LL5f2rNSQI3oeM0YkWN6kmNE
lpTLg42l+HxBHJ5PzejyYA6EZumYDOZlZeJMCFr/0ppFT7Ttpc4vbpX3
-----END PRIVATE KEY-----
`

// fuzzKeys returns the HS256 and ES256 key pairs of the fuzz target; tokens
// are verified at testNow, so seeds made with them never expire.
func fuzzKeys(t testing.TB) (hs, es keyPair) {
	t.Helper()
	block, _ := pem.Decode([]byte(fuzzES256Key))
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	hs = keyPair{HS256, jwt.SigningMethodHS256, []byte(testSecret), []byte(testSecret)}
	es = keyPair{ES256, jwt.SigningMethodES256, priv, nil}
	es.public = pkixPEM(t, es.signKey.(crypto.Signer).Public())
	return hs, es
}

func FuzzVerify(f *testing.F) {
	hs, es := fuzzKeys(f)
	verifiers := []*Verifier{mustVerifier(f, HS256, hs.public), mustVerifier(f, ES256, es.public)}
	pairs := []keyPair{hs, es}
	f.Add(sign(f, hs, claims(nil)))
	f.Add(sign(f, es, claims(nil)))
	f.Fuzz(func(t *testing.T, tok string) {
		accepted := 0
		for i, v := range verifiers {
			id, err := v.VerifyAt(tok, testNow)
			if err != nil {
				checkFuzzError(t, tok, id, err)
				continue
			}
			accepted++
			checkGenuine(t, tok, id, pairs[i])
			if again, err := v.VerifyAt(tok, testNow); err != nil || !sameIdentity(again, id) {
				t.Fatalf("re-verify = %+v, %v; first %+v", again, err, id)
			}
		}
		if accepted > 1 {
			t.Fatalf("token accepted by both HS256 and ES256 verifiers")
		}
	})
}

var sentinels = []error{ErrMalformed, ErrAlgorithm, ErrSignature, ErrExpired, ErrNotYetValid, ErrMissingClaim, ErrInvalidClaim}

func checkFuzzError(t *testing.T, tok string, id Identity, err error) {
	t.Helper()
	if id.User != "" || id.Groups != nil || !id.Expiry.IsZero() {
		t.Fatalf("identity %+v returned with error %v", id, err)
	}
	found := false
	for _, s := range sentinels {
		found = found || errors.Is(err, s)
	}
	if !found {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	if len(tok) >= 40 && strings.Contains(err.Error(), tok) {
		t.Fatalf("error %q contains the token", err)
	}
}

// checkGenuine re-checks an accepted token with jwt/v5's own validation as a
// reference: the signature with kp's key, exp and nbf with the same leeway,
// and the claims Verify returned.
func checkGenuine(t *testing.T, tok string, id Identity, kp keyPair) {
	t.Helper()
	if len(tok) > MaxTokenLen {
		t.Fatalf("accepted a %d-byte token", len(tok))
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{kp.alg}), jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return testNow }), jwt.WithExpirationRequired())
	mc := jwt.MapClaims{}
	if _, err := p.ParseWithClaims(tok, mc, func(*jwt.Token) (any, error) { return verifyKey(kp), nil }); err != nil {
		t.Fatalf("accepted %+v, but reference parser says: %v", id, err)
	}
	sub, _ := mc["sub"].(string)
	if id.User == "" || id.User != sub {
		t.Fatalf("User = %q, sub claim %v", id.User, mc["sub"])
	}
	groups, ok := mc["groups"].([]any)
	if !ok || id.Groups == nil || len(groups) != len(id.Groups) {
		t.Fatalf("Groups = %q, groups claim %v", id.Groups, mc["groups"])
	}
	for i, g := range groups {
		if s, ok := g.(string); !ok || s != id.Groups[i] {
			t.Fatalf("Groups = %q, groups claim %v", id.Groups, mc["groups"])
		}
	}
	if exp, _ := mc.GetExpirationTime(); exp == nil || id.Expiry.Unix() != exp.Unix() {
		t.Fatalf("Expiry = %v, exp claim %v", id.Expiry, mc["exp"])
	}
}

func verifyKey(kp keyPair) any {
	if kp.alg == HS256 {
		return kp.signKey
	}
	return kp.signKey.(crypto.Signer).Public()
}

func sameIdentity(a, b Identity) bool {
	return a.User == b.User && a.Expiry.Equal(b.Expiry) && slices.Equal(a.Groups, b.Groups)
}

// fuzzSeeds are the seed corpus: name -> token. Names starting with
// "valid-" must verify with one of the fuzz verifiers at testNow.
func fuzzSeeds(t *testing.T) map[string]string {
	hs, es := fuzzKeys(t)
	validHS := sign(t, hs, claims(nil))
	validES := sign(t, es, claims(nil))
	return map[string]string{
		"valid-hs256":                validHS,
		"valid-es256":                validES,
		"valid-hs256-empty-groups":   sign(t, hs, claims(map[string]any{"groups": []string{}})),
		"valid-es256-nbf":            sign(t, es, claims(map[string]any{"nbf": testNow.Add(-time.Minute).Unix(), "iss": "idp"})),
		"expired-hs256":              sign(t, hs, claims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})),
		"not-yet-valid-es256":        sign(t, es, claims(map[string]any{"nbf": testNow.Add(time.Hour).Unix()})),
		"truncated-hs256-header":     validHS[:10],
		"truncated-hs256-claims":     validHS[:strings.IndexByte(validHS, '.')+20],
		"truncated-hs256-no-sig":     validHS[:strings.LastIndexByte(validHS, '.')+1],
		"truncated-hs256-sig":        validHS[:len(validHS)-5],
		"truncated-es256-sig":        validES[:len(validES)-1],
		"bad-sig-es256":              flipSignature(validES),
		"alg-none":                   signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		"alg-none-with-sig":          rawToken(`{"alg":"none"}`, `{"sub":"alice","groups":["g1"],"exp":1999999999}`, validHS[strings.LastIndexByte(validHS, '.')+1:]),
		"hs256-keyed-with-es256-pem": signWith(t, jwt.SigningMethodHS256, es.public, claims(nil)),
		"missing-sub-hs256":          sign(t, hs, claims(map[string]any{"sub": nil})),
		"missing-exp-hs256":          sign(t, hs, claims(map[string]any{"exp": nil})),
		"missing-groups-es256":       sign(t, es, claims(map[string]any{"groups": nil})),
		"groups-numbers-hs256":       sign(t, hs, claims(map[string]any{"groups": []int{1, 2}})),
		"groups-null-elem-hs256":     signRaw(t, hs, `{"sub":"alice","groups":["g1",null],"exp":1999999999}`),
		"oversized-hs256":            sign(t, hs, claims(map[string]any{"pad": strings.Repeat("x", MaxTokenLen)})),
		"garbage-empty":              "",
		"garbage-dots":               "..",
		"garbage-binary":             "\x00\xff.\xfe\x01.\x80",
	}
}

// TestFuzzSeeds checks the seed corpus against the fuzz keys: valid seeds
// verify, the others do not. With -update-fuzz-seeds it rewrites the corpus.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if *updateSeeds {
		writeSeeds(t, dir, fuzzSeeds(t))
	}
	hs, es := fuzzKeys(t)
	verifiers := []*Verifier{mustVerifier(t, HS256, hs.public), mustVerifier(t, ES256, es.public)}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no seed corpus in %s: %v", dir, err)
	}
	for _, e := range entries {
		tok := readSeed(t, filepath.Join(dir, e.Name()))
		ok := 0
		for _, v := range verifiers {
			if _, err := v.VerifyAt(tok, testNow); err == nil {
				ok++
			}
		}
		if want := strings.HasPrefix(e.Name(), "valid-"); want != (ok == 1) {
			t.Errorf("seed %s: verified by %d verifiers, want valid=%v", e.Name(), ok, want)
		}
	}
}

func writeSeeds(t *testing.T, dir string, seeds map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, tok := range seeds {
		data := fmt.Sprintf("go test fuzz v1\nstring(%s)\n", strconv.Quote(tok))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readSeed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(string(data), "go test fuzz v1\nstring(")
	body, ok2 := strings.CutSuffix(body, ")\n")
	if !ok || !ok2 {
		t.Fatalf("%s: not a go test fuzz v1 string seed", path)
	}
	tok, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tok
}
