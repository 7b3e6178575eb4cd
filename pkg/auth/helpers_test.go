package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the verification time of the table tests.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const testSecret = "0123456789abcdef0123456789abcdef-test-only"

// keyPair is one algorithm's signing key and the key material a Verifier
// is built from (the secret for HS256, a PEM public key otherwise).
type keyPair struct {
	alg     string
	method  jwt.SigningMethod
	signKey any
	public  []byte
}

type testKeys struct {
	byAlg map[string]keyPair // the keys verifiers are built from
	other map[string]keyPair // a second, unrelated key of each algorithm
}

var (
	keysOnce sync.Once
	keys     testKeys
)

// getKeys generates the test keys once per test binary (RSA is slow).
func getKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		keys = testKeys{byAlg: genKeys(t, testSecret), other: genKeys(t, testSecret+"-other")}
	})
	return keys
}

func genKeys(t testing.TB, secret string) map[string]keyPair {
	t.Helper()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]keyPair{
		HS256: {HS256, jwt.SigningMethodHS256, []byte(secret), []byte(secret + "\n")},
		EdDSA: {EdDSA, jwt.SigningMethodEdDSA, edPriv, pkixPEM(t, edPriv.Public())},
		RS256: {RS256, jwt.SigningMethodRS256, rsaPriv, pkixPEM(t, rsaPriv.Public())},
		ES256: {ES256, jwt.SigningMethodES256, ecPriv, pkixPEM(t, ecPriv.Public())},
	}
}

func pkixPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func mustVerifier(t testing.TB, alg string, key []byte) *Verifier {
	t.Helper()
	v, err := NewVerifier(alg, key)
	if err != nil {
		t.Fatalf("NewVerifier(%s): %v", alg, err)
	}
	return v
}

// claims returns a valid claim set as of testNow, with edits applied: a
// nil value deletes the claim.
func claims(edits map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":    "alice",
		"groups": []string{"g1", "g2"},
		"iat":    testNow.Add(-time.Minute).Unix(),
		"exp":    testNow.Add(time.Hour).Unix(),
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign signs c with kp's method and key.
func sign(t testing.TB, kp keyPair, c jwt.Claims) string {
	t.Helper()
	return signWith(t, kp.method, kp.signKey, c)
}

func signWith(t testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return tok
}

// rawToken assembles a token from literal JSON header and claims and a
// literal signature segment, for inputs the jwt package will not produce.
func rawToken(header, claims, sig string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + sig
}

// signRaw signs literal JSON claims with kp, so that claims of any JSON
// shape (numbers as strings, nulls, ...) carry a valid signature.
func signRaw(t testing.TB, kp keyPair, claimsJSON string) string {
	t.Helper()
	if !json.Valid([]byte(claimsJSON)) {
		t.Fatalf("invalid test JSON %s", claimsJSON)
	}
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"` + kp.alg + `","typ":"JWT"}`))
	unsigned := hdr + "." + enc.EncodeToString([]byte(claimsJSON))
	sig, err := kp.method.Sign(unsigned, kp.signKey)
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + enc.EncodeToString(sig)
}
