package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewVerifierErrors(t *testing.T) {
	k := getKeys(t)
	rsaPEM, ecPEM, edPEM := k.byAlg[RS256].public, k.byAlg[ES256].public, k.byAlg[EdDSA].public
	ecPriv := k.byAlg[ES256].signKey.(*ecdsa.PrivateKey)
	ecPrivDER, err := x509.MarshalECPrivateKey(ecPriv)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	for _, tc := range []struct {
		name, alg string
		key       []byte
		want      string // the exact message, or its prefix when it ends in "..."
	}{
		{"unknown alg", "hs256", []byte(testSecret), `unknown algorithm "hs256": want one of HS256, EdDSA, RS256, ES256`},
		{"alg none", "none", []byte(testSecret), `unknown algorithm "none": want one of HS256, EdDSA, RS256, ES256`},
		{"empty alg", "", rsaPEM, `unknown algorithm "": want one of HS256, EdDSA, RS256, ES256`},
		{"short secret", HS256, []byte("tiny-secret\n"), "HS256 secret is 11 bytes, too short: need at least 32"},
		{"empty secret", HS256, []byte(" \n"), "HS256 secret is empty"},
		{"PEM as secret", HS256, rsaPEM, "HS256 secret is a PEM block: a public key verifies EdDSA, RS256 or ES256 tokens, not HS256 (check --jwt-alg)"},
		{"secret as public key", RS256, []byte(testSecret), `RS256 key is not PEM-encoded: want a PEM "PUBLIC KEY" block`},
		{"private key", ES256, block("EC PRIVATE KEY", ecPrivDER), `ES256 key: PEM block is a private key ("EC PRIVATE KEY"): give the server the public key only`},
		{"unknown PEM type", EdDSA, block("OPENSSH KEY", []byte{1, 2, 3}), `EdDSA key: unsupported PEM block type "OPENSSH KEY": want "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE"`},
		{"corrupt public key", ES256, block("PUBLIC KEY", []byte("not DER at all")), "ES256 key: bad PUBLIC KEY block: ..."},
		{"corrupt certificate", RS256, block("CERTIFICATE", []byte{0x30, 0x03, 1, 2, 3}), "RS256 key: bad CERTIFICATE block: ..."},
		{"RSA key for ES256", ES256, rsaPEM, "key is an RSA public key, which does not match algorithm ES256 (ES256 needs an ECDSA P-256 key)"},
		{"EC key for RS256", RS256, ecPEM, "key is an ECDSA P-256 public key, which does not match algorithm RS256 (RS256 needs an RSA key)"},
		{"Ed25519 key for ES256", ES256, edPEM, "key is an Ed25519 public key, which does not match algorithm ES256 (ES256 needs an ECDSA P-256 key)"},
		{"EC key for EdDSA", EdDSA, ecPEM, "key is an ECDSA P-256 public key, which does not match algorithm EdDSA (EdDSA needs an Ed25519 key)"},
		{"P-384 key for ES256", ES256, pkixPEM(t, p384.Public()), "ES256 key is ECDSA on P-384: ES256 needs P-256"},
		{"1024-bit RSA", RS256, pkixPEM(t, rsa1024.Public()), "RS256 key is 1024-bit RSA, too short: need at least 2048 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(tc.alg, tc.key)
			if err == nil {
				t.Fatalf("NewVerifier = %v, want error", v)
			}
			checkMessage(t, err.Error(), tc.want)
			checkNoKey(t, err.Error(), tc.key)
		})
	}
}

func checkMessage(t *testing.T, got, want string) {
	t.Helper()
	if prefix, ok := strings.CutSuffix(want, "..."); ok {
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("error = %q, want prefix %q", got, prefix)
		}
	} else if got != want {
		t.Errorf("error = %q\n            want %q", got, want)
	}
}

// checkNoKey fails if msg quotes any 8-byte run of the key or, for a PEM
// key, of the base64 of its contents.
func checkNoKey(t *testing.T, msg string, key []byte) {
	t.Helper()
	body := string(key)
	if b, _ := pem.Decode(key); b != nil {
		body = base64.StdEncoding.EncodeToString(b.Bytes)
	}
	for i := 0; i+8 <= len(body); i++ {
		if strings.Contains(msg, body[i:i+8]) {
			t.Fatalf("error %q quotes key material %q", msg, body[i:i+8])
		}
	}
}

func TestNewVerifierKeyForms(t *testing.T) {
	k := getKeys(t)
	rsaPriv := k.byAlg[RS256].signKey.(*rsa.PrivateKey)
	ecPriv := k.byAlg[ES256].signKey.(*ecdsa.PrivateKey)
	for _, tc := range []struct {
		name, alg string
		key       []byte
	}{
		{"HS256 secret with newline", HS256, []byte(testSecret + "\r\n")},
		{"HS256 secret exactly 32 bytes", HS256, []byte(testSecret[:32])},
		{"PKIX Ed25519", EdDSA, k.byAlg[EdDSA].public},
		{"PKIX RSA", RS256, k.byAlg[RS256].public},
		{"PKCS1 RSA", RS256, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaPriv.PublicKey)})},
		{"PKIX ECDSA", ES256, k.byAlg[ES256].public},
		{"ECDSA certificate", ES256, selfSigned(t, ecPriv)},
		{"RSA certificate", RS256, selfSigned(t, rsaPriv)},
		{"PEM with comments around", ES256, append(append([]byte("# issued by idp\n"), k.byAlg[ES256].public...), "\n\n"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, tc.alg, tc.key)
			if v.Alg() != tc.alg {
				t.Errorf("Alg() = %q, want %q", v.Alg(), tc.alg)
			}
			signKey := k.byAlg[tc.alg]
			if tc.alg == HS256 {
				signKey.signKey = normalizeSecret(tc.key)
			}
			if _, err := v.VerifyAt(sign(t, signKey, claims(nil)), testNow); err != nil {
				t.Errorf("VerifyAt: %v", err)
			}
		})
	}
}

func selfSigned(t *testing.T, priv crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestNewVerifierCopiesSecret: the Verifier must not alias the caller's
// buffer, which may be zeroed or reused after start-up.
func TestNewVerifierCopiesSecret(t *testing.T) {
	buf := []byte(testSecret)
	v := mustVerifier(t, HS256, buf)
	clear(buf)
	tok, err := SignHS256([]byte(testSecret), "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify after clearing the caller's buffer: %v", err)
	}
}

func TestLoadVerifier(t *testing.T) {
	k := getKeys(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("secret", []byte(testSecret+"\n"))
	pub := write("es256.pem", k.byAlg[ES256].public)
	short := write("short", []byte("tiny-secret\n"))
	empty := write("empty", nil)
	blank := write("blank", []byte("\n \n"))
	missing := filepath.Join(dir, "missing")
	big := write("big", make([]byte, maxKeyFile+1))

	for _, tc := range []struct {
		name, alg, path string
		want            string // "" for success; else exact, or a prefix ending in "..."
	}{
		{"HS256 secret file", HS256, secret, ""},
		{"ES256 PEM file", ES256, pub, ""},
		{"missing file", HS256, missing, "read key file: open " + missing + ": no such file or directory"},
		{"directory", HS256, dir, "read key file: read " + dir + ": is a directory"},
		{"empty file", HS256, empty, "key file " + empty + ": file is empty"},
		{"blank file", ES256, blank, "key file " + blank + ": file is empty"},
		{"huge file", HS256, big, "key file " + big + ": larger than 1048576 bytes, not a key"},
		{"short secret", HS256, short, "key file " + short + ": HS256 secret is 11 bytes, too short: need at least 32"},
		{"secret file for ES256", ES256, secret, "key file " + secret + `: ES256 key is not PEM-encoded: want a PEM "PUBLIC KEY" block`},
		{"PEM file for HS256", HS256, pub, "key file " + pub + ": HS256 secret is a PEM block: ..."},
		{"unknown alg", "RS512", pub, "key file " + pub + `: unknown algorithm "RS512": ...`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := LoadVerifier(tc.alg, tc.path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("LoadVerifier: %v", err)
				}
				if _, err := v.VerifyAt(sign(t, k.byAlg[tc.alg], claims(nil)), testNow); err != nil {
					t.Errorf("VerifyAt: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadVerifier succeeded, want error")
			}
			checkMessage(t, err.Error(), tc.want)
			checkNoKey(t, err.Error(), []byte(testSecret))
			checkNoKey(t, err.Error(), k.byAlg[ES256].public)
		})
	}
}
