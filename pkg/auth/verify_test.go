package auth

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var algs = []string{HS256, EdDSA, RS256, ES256}

// otherAlg is an algorithm other than alg, for cross-algorithm tokens.
var otherAlg = map[string]string{HS256: RS256, EdDSA: ES256, RS256: ES256, ES256: RS256}

type verifyCase struct {
	name  string
	token func(t *testing.T, kp keyPair, k testKeys) string
	now   time.Time // testNow when zero
	want  error     // nil: valid
	// wantID is checked on success; nil means the default alice identity.
	wantID *Identity
	// algs restricts the case to these verifier algorithms; nil means all.
	algs []string
}

// signed returns a token function that signs claims edited by edits.
func signed(edits map[string]any) func(*testing.T, keyPair, testKeys) string {
	return func(t *testing.T, kp keyPair, _ testKeys) string { return sign(t, kp, claims(edits)) }
}

// signedJSON returns a token function that signs the literal claims JSON.
func signedJSON(claimsJSON string) func(*testing.T, keyPair, testKeys) string {
	return func(t *testing.T, kp keyPair, _ testKeys) string { return signRaw(t, kp, claimsJSON) }
}

var (
	validExp = testNow.Add(time.Hour).Unix()
	aliceID  = Identity{User: "alice", Groups: []string{"g1", "g2"}, Expiry: time.Unix(validExp, 0)}
)

func verifyCases() []verifyCase {
	return []verifyCase{
		{name: "valid", token: signed(nil)},
		{name: "empty groups", token: signed(map[string]any{"groups": []string{}}),
			wantID: &Identity{User: "alice", Groups: []string{}, Expiry: time.Unix(validExp, 0)}},
		{name: "fractional exp", token: signedJSON(`{"sub":"alice","groups":["g1","g2"],"exp":1893553445.5}`),
			wantID: &Identity{User: "alice", Groups: []string{"g1", "g2"}, Expiry: time.Unix(1893553445, 5e8)}},
		{name: "extra claims ignored", token: signed(map[string]any{"iss": "idp", "aud": "x", "foo": []int{1}})},
		{name: "iat in the future ignored", token: signed(map[string]any{"iat": testNow.Add(24 * time.Hour).Unix()})},
		{name: "iat ill-typed ignored", token: signed(map[string]any{"iat": "yesterday"})},
		{name: "expired", token: signed(map[string]any{"exp": testNow.Add(-time.Minute).Unix()}), want: ErrExpired},
		{name: "expired within leeway", token: signed(map[string]any{"exp": testNow.Add(-Leeway + time.Second).Unix()}),
			wantID: &Identity{User: "alice", Groups: []string{"g1", "g2"}, Expiry: testNow.Add(-Leeway + time.Second)}},
		{name: "expired at leeway", token: signed(map[string]any{"exp": testNow.Add(-Leeway).Unix()}), want: ErrExpired},
		{name: "nbf in the future", token: signed(map[string]any{"nbf": testNow.Add(time.Minute).Unix()}), want: ErrNotYetValid},
		{name: "nbf within leeway", token: signed(map[string]any{"nbf": testNow.Add(Leeway).Unix()})},
		{name: "nbf in the past", token: signed(map[string]any{"nbf": testNow.Add(-time.Minute).Unix()})},
		{name: "bad signature", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			return flipSignature(sign(t, kp, claims(nil)))
		}, want: ErrSignature},
		{name: "claims altered after signing", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			good := strings.Split(sign(t, kp, claims(nil)), ".")
			forged := strings.Split(rawToken(`{}`, `{"sub":"mallory","groups":["admin"],"exp":1999999999}`, ""), ".")
			return good[0] + "." + forged[1] + "." + good[2]
		}, want: ErrSignature},
		{name: "signed with another key", token: func(t *testing.T, kp keyPair, k testKeys) string {
			return sign(t, k.other[kp.alg], claims(nil))
		}, want: ErrSignature},
		{name: "empty signature", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			tok := sign(t, kp, claims(nil))
			return tok[:strings.LastIndexByte(tok, '.')+1]
		}, want: ErrSignature},
		{name: "another algorithm", token: func(t *testing.T, kp keyPair, k testKeys) string {
			return sign(t, k.byAlg[otherAlg[kp.alg]], claims(nil))
		}, want: ErrAlgorithm},
		{name: "HS256 keyed with the verifier's key bytes", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			return signWith(t, jwt.SigningMethodHS256, kp.public, claims(nil))
		}, want: ErrAlgorithm, algs: []string{EdDSA, RS256, ES256}},
		{name: "HS512 with the secret", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			return signWith(t, jwt.SigningMethodHS512, []byte(testSecret), claims(nil))
		}, want: ErrAlgorithm},
		{name: "alg none", token: func(t *testing.T, _ keyPair, _ testKeys) string {
			return signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
		}, want: ErrAlgorithm},
		{name: "alg None with signature", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			sig := strings.Split(sign(t, kp, claims(nil)), ".")[2]
			return rawToken(`{"alg":"None"}`, `{"sub":"alice","groups":[],"exp":1999999999}`, sig)
		}, want: ErrAlgorithm},
		{name: "alg lower case", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			sig := strings.Split(sign(t, kp, claims(nil)), ".")[2]
			return rawToken(`{"alg":"`+strings.ToLower(kp.alg)+`"}`, `{"sub":"alice","groups":[],"exp":1999999999}`, sig)
		}, want: ErrAlgorithm},
		{name: "no alg", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			return rawToken(`{"typ":"JWT"}`, `{"sub":"alice","groups":[],"exp":1999999999}`, "c2ln")
		}, want: ErrMalformed},
		{name: "alg not a string", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			return rawToken(`{"alg":256}`, `{"sub":"alice","groups":[],"exp":1999999999}`, "c2ln")
		}, want: ErrMalformed},
		{name: "missing sub", token: signed(map[string]any{"sub": nil}), want: ErrMissingClaim},
		{name: "claim names are case-sensitive", token: signedJSON(`{"SUB":"alice","Groups":[],"Exp":1999999999}`), want: ErrMissingClaim},
		{name: "duplicate claim, last wins", token: signedJSON(`{"sub":"mallory","sub":"alice","groups":["g1","g2"],"exp":1893557045}`)}, // exp: validExp
		{name: "null sub", token: signedJSON(`{"sub":null,"groups":[],"exp":1999999999}`), want: ErrMissingClaim},
		{name: "empty sub", token: signed(map[string]any{"sub": ""}), want: ErrInvalidClaim},
		{name: "sub a number", token: signed(map[string]any{"sub": 42}), want: ErrInvalidClaim},
		{name: "sub an array", token: signed(map[string]any{"sub": []string{"alice"}}), want: ErrInvalidClaim},
		{name: "missing exp", token: signed(map[string]any{"exp": nil}), want: ErrMissingClaim},
		{name: "exp a string", token: signed(map[string]any{"exp": "1999999999"}), want: ErrInvalidClaim},
		{name: "exp a bool", token: signed(map[string]any{"exp": true}), want: ErrInvalidClaim},
		{name: "exp too large", token: signedJSON(`{"sub":"alice","groups":[],"exp":1e400}`), want: ErrInvalidClaim},
		{name: "nbf a string", token: signed(map[string]any{"nbf": "now"}), want: ErrInvalidClaim},
		{name: "missing groups", token: signed(map[string]any{"groups": nil}), want: ErrMissingClaim},
		{name: "null groups", token: signedJSON(`{"sub":"alice","groups":null,"exp":1999999999}`), want: ErrMissingClaim},
		{name: "groups a string", token: signed(map[string]any{"groups": "g1"}), want: ErrInvalidClaim},
		{name: "groups an object", token: signed(map[string]any{"groups": map[string]bool{"g1": true}}), want: ErrInvalidClaim},
		{name: "groups of numbers", token: signed(map[string]any{"groups": []int{1, 2}}), want: ErrInvalidClaim},
		{name: "groups with a null", token: signedJSON(`{"sub":"alice","groups":["g1",null],"exp":1999999999}`), want: ErrInvalidClaim},
		{name: "groups nested", token: signed(map[string]any{"groups": [][]string{{"g1"}}}), want: ErrInvalidClaim},
		{name: "claims an array", token: signedJSON(`["alice"]`), want: ErrMalformed},
		{name: "claims null", token: signedJSON(`null`), want: ErrMissingClaim},
		{name: "oversized", token: signed(map[string]any{"pad": strings.Repeat("x", MaxTokenLen)}), want: ErrMalformed},
		{name: "just under the size limit", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			return padTo(t, kp, MaxTokenLen)
		}},
		{name: "base64 padding", token: func(t *testing.T, kp keyPair, _ testKeys) string {
			return sign(t, kp, claims(nil)) + "=="
		}, want: ErrMalformed},
	}
}

// flipSignature changes one bit of the signature, keeping it canonical
// base64url (the first character's top bit is always significant).
func flipSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'g'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// padTo returns a valid token between limit-3 and limit bytes long.
func padTo(t *testing.T, kp keyPair, limit int) string {
	t.Helper()
	tok := sign(t, kp, claims(nil))
	pad := (limit - len(tok)) * 3 / 4
	for ; pad > 0; pad-- {
		tok = sign(t, kp, claims(map[string]any{"pad": strings.Repeat("x", pad)}))
		if len(tok) <= limit {
			break
		}
	}
	if len(tok) < limit-3 || len(tok) > limit {
		t.Fatalf("padded token is %d bytes, want about %d", len(tok), limit)
	}
	return tok
}

func TestVerify(t *testing.T) {
	k := getKeys(t)
	for _, alg := range algs {
		kp := k.byAlg[alg]
		v := mustVerifier(t, alg, kp.public)
		for _, tc := range verifyCases() {
			if tc.algs != nil && !slices.Contains(tc.algs, alg) {
				continue
			}
			t.Run(alg+"/"+tc.name, func(t *testing.T) {
				tok := tc.token(t, kp, k)
				now := tc.now
				if now.IsZero() {
					now = testNow
				}
				id, err := v.VerifyAt(tok, now)
				checkVerify(t, tok, id, err, tc.want, tc.wantID)
			})
		}
	}
}

func checkVerify(t *testing.T, tok string, id Identity, err, want error, wantID *Identity) {
	t.Helper()
	if want != nil {
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		if !reflect.DeepEqual(id, Identity{}) {
			t.Errorf("identity %+v returned with error", id)
		}
		checkNoToken(t, err, tok)
		return
	}
	if err != nil {
		t.Fatalf("err = %v, want nil", err)
	}
	w := aliceID
	if wantID != nil {
		w = *wantID
	}
	if id.User != w.User || !reflect.DeepEqual(id.Groups, w.Groups) || !id.Expiry.Equal(w.Expiry) {
		t.Errorf("identity = %+v, want %+v", id, w)
	}
	if id.Groups == nil {
		t.Error("Groups is nil")
	}
}

// checkNoToken fails if the error message quotes any sizeable piece of the
// token.
func checkNoToken(t *testing.T, err error, tok string) {
	t.Helper()
	msg := err.Error()
	for _, seg := range strings.Split(tok, ".") {
		for len(seg) >= 8 {
			if strings.Contains(msg, seg[:8]) {
				t.Fatalf("error %q quotes the token", msg)
			}
			seg = seg[8:]
		}
	}
}

func TestVerifyGarbage(t *testing.T) {
	k := getKeys(t)
	good := sign(t, k.byAlg[HS256], claims(nil))
	for _, tok := range []string{
		"", ".", "..", "...", "a", "a.b", "a.b.c", "a.b.c.d", "Bearer " + good, good + ".", "." + good,
		" " + good, good[:len(good)/2], strings.Repeat("A", MaxTokenLen+1), "\x00\xff.\x00.\x00",
		"eyJ.eyJ.", "e30.e30.", "W10.e30.", "bnVsbA.e30.", "eyJhbGciOiJIUzI1NiJ9.!!!.sig", "日本.語.です",
	} {
		for _, alg := range algs {
			v := mustVerifier(t, alg, k.byAlg[alg].public)
			id, err := v.VerifyAt(tok, testNow)
			if err == nil {
				t.Fatalf("%s: garbage %q verified as %+v", alg, tok, id)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrAlgorithm) {
				t.Errorf("%s: garbage %q: err = %v, want malformed, signature or algorithm", alg, tok, err)
			}
			checkNoToken(t, err, tok)
		}
	}
}

// TestMalformedDetails pins the details taken from jwt/v5's messages, so a
// change of wording there shows up here rather than as vaguer errors.
func TestMalformedDetails(t *testing.T) {
	v := mustVerifier(t, HS256, []byte(testSecret))
	for _, tc := range []struct{ token, want string }{
		{"", "malformed token: empty"},
		{strings.Repeat("a", MaxTokenLen+1), "malformed token: 8193 bytes, over the limit of 8192"},
		{"a.b", "malformed token: want three dot-separated segments"},
		{"!.e30.", "malformed token: header is not base64url"},
		{"e31.e30.", "malformed token: header is not base64url"}, // non-canonical: strict decoding
		{"W10.e30.", "malformed token: header is not a JSON object"},
		{"e30.!.", "malformed token: claims are not base64url"},
		{"e30.W10.", "malformed token: claims are not a JSON object"},
		{"eyJhbGciOiJIUzI1NiJ9.e30.!", "malformed token: signature is not base64url"},
		{"e30.e30.", "malformed token: header has no alg string"},
		{"eyJhbGciOiJub25lIn0.e30.", `token algorithm not accepted: token is "none", verifier accepts HS256 only`},
		{"eyJhbGciOiJIUzI1NiJ9.e30.", "invalid token signature: does not verify with the configured HS256 key"},
	} {
		_, err := v.VerifyAt(tc.token, testNow)
		if err == nil || err.Error() != tc.want {
			t.Errorf("VerifyAt(%.20q) = %v, want %q", tc.token, err, tc.want)
		}
	}
}

func TestVerifyClaimMessages(t *testing.T) {
	kp := getKeys(t).byAlg[HS256]
	v := mustVerifier(t, HS256, kp.public)
	for _, tc := range []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"sub": nil}, "token lacks a required claim: sub"},
		{map[string]any{"exp": nil}, "token lacks a required claim: exp"},
		{map[string]any{"groups": nil}, "token lacks a required claim: groups"},
		{map[string]any{"sub": ""}, "token has an invalid claim: sub is empty"},
		{map[string]any{"sub": 1}, "token has an invalid claim: sub is not a string"},
		{map[string]any{"exp": "x"}, "token has an invalid claim: exp is not a number"},
		{map[string]any{"groups": "g"}, "token has an invalid claim: groups is not an array"},
		{map[string]any{"groups": []any{"g", 2}}, "token has an invalid claim: groups[1] is not a string"},
		{map[string]any{"exp": testNow.Add(-time.Hour).Unix()},
			"token expired: exp 2030-01-02T02:04:05Z is 1h0m0s before now (leeway 30s)"},
		{map[string]any{"nbf": testNow.Add(time.Hour).Unix()},
			"token not yet valid: nbf 2030-01-02T04:04:05Z is 1h0m0s after now (leeway 30s)"},
	} {
		_, err := v.VerifyAt(sign(t, kp, claims(tc.claims)), testNow)
		if err == nil || err.Error() != tc.want {
			t.Errorf("claims %v: err = %v, want %q", tc.claims, err, tc.want)
		}
	}
}

func TestVerifyUsesWallClock(t *testing.T) {
	kp := getKeys(t).byAlg[ES256]
	v := mustVerifier(t, ES256, kp.public)
	now := time.Now()
	if _, err := v.Verify(sign(t, kp, claims(map[string]any{"exp": now.Add(time.Minute).Unix()}))); err != nil {
		t.Errorf("fresh token: %v", err)
	}
	_, err := v.Verify(sign(t, kp, claims(map[string]any{"exp": now.Add(-time.Hour).Unix()})))
	if !errors.Is(err, ErrExpired) {
		t.Errorf("stale token: err = %v, want ErrExpired", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	kp := getKeys(t).byAlg[EdDSA]
	v := mustVerifier(t, EdDSA, kp.public)
	good := sign(t, kp, claims(nil))
	bad := flipSignature(good)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if _, err := v.VerifyAt(good, testNow); err != nil {
					t.Error(err)
					return
				}
				if _, err := v.VerifyAt(bad, testNow); !errors.Is(err, ErrSignature) {
					t.Errorf("bad token: %v", err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}
