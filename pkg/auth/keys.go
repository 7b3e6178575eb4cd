package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithms accepted by [NewVerifier].
const (
	HS256 = "HS256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
	ES256 = "ES256"
)

const (
	// MinSecretLen is the shortest HS256 secret accepted, in bytes (RFC 7518
	// section 3.2: a key of at least the hash size).
	MinSecretLen = 32
	// MinRSABits is the smallest RSA modulus accepted for RS256.
	MinRSABits = 2048
	// maxKeyFile bounds what LoadVerifier reads, so that a wrong path (a
	// device, a log file) fails clearly instead of filling memory.
	maxKeyFile = 1 << 20
)

// NewVerifier returns a Verifier for alg, which is one of "HS256", "EdDSA",
// "RS256" and "ES256" (exactly so spelt).
//
// For HS256, key is the shared secret as raw bytes; trailing whitespace (the
// newline at the end of a file) is trimmed, and the rest must be at least
// [MinSecretLen] bytes. Otherwise key is a PEM-encoded public key: a PKIX
// "PUBLIC KEY", an "RSA PUBLIC KEY" (PKCS #1) or a "CERTIFICATE" whose
// public key is used; only the first PEM block is read. The key type must
// match alg: Ed25519 for EdDSA, RSA of at least [MinRSABits] bits for RS256,
// ECDSA on P-256 for ES256.
//
// Errors describe the problem without quoting key material; callers prefix
// them with the flag or file they came from. NewVerifier keeps no reference
// to key.
func NewVerifier(alg string, key []byte) (*Verifier, error) {
	var (
		method jwt.SigningMethod
		vkey   any
		err    error
	)
	switch alg {
	case HS256:
		method = jwt.SigningMethodHS256
		vkey, err = parseSecret(key)
	case EdDSA:
		method = jwt.SigningMethodEdDSA
		vkey, err = parsePublicKey(alg, key)
	case RS256:
		method = jwt.SigningMethodRS256
		vkey, err = parsePublicKey(alg, key)
	case ES256:
		method = jwt.SigningMethodES256
		vkey, err = parsePublicKey(alg, key)
	default:
		return nil, fmt.Errorf("unknown algorithm %.32q: want one of HS256, EdDSA, RS256, ES256", alg)
	}
	if err != nil {
		return nil, err
	}
	return newVerifier(alg, method, vkey), nil
}

// LoadVerifier reads the key file at path and passes its contents to
// [NewVerifier]. Errors mention the path, never the file's contents.
func LoadVerifier(alg, path string) (*Verifier, error) {
	key, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	v, err := NewVerifier(alg, key)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return v, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err) // *PathError names the path
	}
	defer f.Close()
	key, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read key file: %w", err)
	case len(key) > maxKeyFile:
		return nil, fmt.Errorf("key file %s: larger than %d bytes, not a key", path, maxKeyFile)
	case len(bytes.TrimSpace(key)) == 0:
		return nil, fmt.Errorf("key file %s: file is empty", path)
	}
	return key, nil
}

// normalizeSecret trims what editors and `echo` leave at the end of a file.
func normalizeSecret(secret []byte) []byte {
	return bytes.TrimRight(secret, " \t\r\n")
}

func parseSecret(key []byte) ([]byte, error) {
	secret := normalizeSecret(key)
	switch {
	case len(secret) == 0:
		return nil, errors.New("HS256 secret is empty")
	case bytes.HasPrefix(bytes.TrimSpace(secret), []byte("-----BEGIN")):
		return nil, errors.New("HS256 secret is a PEM block: a public key verifies EdDSA, RS256 or ES256 tokens, not HS256 (check --jwt-alg)")
	case len(secret) < MinSecretLen:
		return nil, fmt.Errorf("HS256 secret is %d bytes, too short: need at least %d", len(secret), MinSecretLen)
	}
	return bytes.Clone(secret), nil
}

func parsePublicKey(alg string, data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s key is not PEM-encoded: want a PEM \"PUBLIC KEY\" block", alg)
	}
	pub, err := decodePEMPublicKey(block)
	if err != nil {
		return nil, fmt.Errorf("%s key: %w", alg, err)
	}
	return checkKeyType(alg, pub)
}

func decodePEMPublicKey(block *pem.Block) (any, error) {
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bad PUBLIC KEY block: %w", err)
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bad RSA PUBLIC KEY block: %w", err)
		}
		return pub, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bad CERTIFICATE block: %w", err)
		}
		return cert.PublicKey, nil
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("PEM block is a private key (%.40q): give the server the public key only", block.Type)
	}
	return nil, fmt.Errorf("unsupported PEM block type %.40q: want \"PUBLIC KEY\", \"RSA PUBLIC KEY\" or \"CERTIFICATE\"", block.Type)
}

func checkKeyType(alg string, pub any) (any, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if alg == EdDSA {
			return k, nil
		}
	case *rsa.PublicKey:
		if alg == RS256 {
			if n := k.N.BitLen(); n < MinRSABits {
				return nil, fmt.Errorf("RS256 key is %d-bit RSA, too short: need at least %d bits", n, MinRSABits)
			}
			return k, nil
		}
	case *ecdsa.PublicKey:
		if alg == ES256 {
			if k.Curve != elliptic.P256() {
				return nil, fmt.Errorf("ES256 key is ECDSA on %s: ES256 needs P-256", k.Curve.Params().Name)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("key is %s, which does not match algorithm %s (%s needs %s)",
		keyKind(pub), alg, alg, wantKind[alg])
}

var wantKind = map[string]string{
	EdDSA: "an Ed25519 key",
	RS256: "an RSA key",
	ES256: "an ECDSA P-256 key",
}

func keyKind(pub any) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "an Ed25519 public key"
	case *rsa.PublicKey:
		return "an RSA public key"
	case *ecdsa.PublicKey:
		return "an ECDSA " + k.Curve.Params().Name + " public key"
	default:
		return fmt.Sprintf("a %T public key", pub)
	}
}
