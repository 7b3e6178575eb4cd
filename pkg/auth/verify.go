package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// Leeway is the clock skew tolerated on exp and nbf.
	Leeway = 30 * time.Second
	// MaxTokenLen is the longest token, in bytes, that Verify will parse.
	MaxTokenLen = 8 << 10
)

// Identity is what a verified token grants.
type Identity struct {
	User   string    // sub
	Groups []string  // groups claim (may be empty, never nil after Verify)
	Expiry time.Time // exp
}

// Verifier checks client tokens against one algorithm and key. It is
// immutable and safe for concurrent use.
type Verifier struct {
	alg     string
	method  jwt.SigningMethod
	parser  *jwt.Parser
	keyFunc jwt.Keyfunc
}

func newVerifier(alg string, method jwt.SigningMethod, key any) *Verifier {
	v := &Verifier{
		alg:    alg,
		method: method,
		// Claims are validated by VerifyAt against its own clock; the parser
		// only checks structure, the algorithm and the signature. A Parser
		// is read-only while parsing, so sharing one is safe.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithStrictDecoding(),
			jwt.WithoutClaimsValidation(),
		),
	}
	v.keyFunc = func(t *jwt.Token) (any, error) {
		// WithValidMethods already rejected other algorithms; checking again
		// keeps the key from ever meeting a method it was not meant for.
		if t.Method != method {
			return nil, ErrAlgorithm
		}
		return key, nil
	}
	return v
}

// Alg returns the algorithm the Verifier accepts: "HS256", "EdDSA", "RS256"
// or "ES256".
func (v *Verifier) Alg() string { return v.alg }

// Verify is VerifyAt with the current time.
func (v *Verifier) Verify(token string) (Identity, error) {
	return v.VerifyAt(token, time.Now())
}

// VerifyAt checks token as of now: size, structure, algorithm, signature,
// then the claims (see the package documentation for the rules). The error,
// if any, wraps one of the package's sentinel errors and never contains the
// token.
func (v *Verifier) VerifyAt(token string, now time.Time) (Identity, error) {
	switch {
	case token == "":
		return Identity{}, fmt.Errorf("%w: empty", ErrMalformed)
	case len(token) > MaxTokenLen:
		return Identity{}, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrMalformed, len(token), MaxTokenLen)
	}
	c := new(rawClaims)
	tok, err := v.parser.ParseWithClaims(token, c, v.keyFunc)
	if err != nil {
		return Identity{}, v.classify(tok, err)
	}
	return c.identity(now)
}

// classify maps a jwt/v5 parse error onto the package's sentinels, with a
// detail that never quotes the token beyond (a prefix of) its alg.
func (v *Verifier) classify(tok *jwt.Token, err error) error {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return fmt.Errorf("%w: %s", ErrMalformed, malformedDetail(err))
	}
	if tok != nil && tok.Header != nil {
		alg, ok := tok.Header["alg"].(string)
		if !ok {
			return fmt.Errorf("%w: header has no alg string", ErrMalformed)
		}
		if alg != v.alg {
			return fmt.Errorf("%w: token is %.16q, verifier accepts %s only", ErrAlgorithm, alg, v.alg)
		}
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return fmt.Errorf("%w: does not verify with the configured %s key", ErrSignature, v.alg)
	}
	return fmt.Errorf("%w: cannot be verified", ErrMalformed)
}

// malformedDetail names the part of the token that failed to decode. The
// jwt/v5 messages are matched by prefix only; an unknown one gives a generic
// detail rather than risk echoing token bytes (JSON syntax errors quote them).
func malformedDetail(err error) string {
	msg := err.Error()
	for _, d := range []struct{ prefix, detail string }{
		{"token is malformed: token contains an invalid number of segments", "want three dot-separated segments"},
		{"token is malformed: could not base64 decode header", "header is not base64url"},
		{"token is malformed: could not JSON decode header", "header is not a JSON object"},
		{"token is malformed: could not base64 decode claim", "claims are not base64url"},
		{"token is malformed: could not JSON decode claim", "claims are not a JSON object"},
		{"token is malformed: could not base64 decode signature", "signature is not base64url"},
	} {
		if strings.HasPrefix(msg, d.prefix) {
			return d.detail
		}
	}
	return "cannot be decoded"
}

// rawClaims holds the claims Verify reads, undecoded, so that a missing claim,
// a null and a value of the wrong type can be told apart and reported. It
// satisfies jwt.Claims only to pass through the parser, which is told not to
// validate claims.
type rawClaims struct {
	Sub, Exp, Nbf, Groups json.RawMessage
}

// UnmarshalJSON picks the claims out of the claim set by their exact names:
// JWT claim names are case-sensitive, unlike encoding/json's field matching,
// so "SUB" or "Groups" must not stand in for "sub" or "groups".
func (c *rawClaims) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*c = rawClaims{Sub: m["sub"], Exp: m["exp"], Nbf: m["nbf"], Groups: m["groups"]}
	return nil
}

func (*rawClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (*rawClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (*rawClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (*rawClaims) GetIssuer() (string, error)                   { return "", nil }
func (*rawClaims) GetSubject() (string, error)                  { return "", nil }
func (*rawClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// identity checks the claims against now and builds the Identity.
func (c *rawClaims) identity(now time.Time) (Identity, error) {
	user, err := c.subject()
	if err != nil {
		return Identity{}, err
	}
	exp, err := numericDate("exp", c.Exp, true)
	if err != nil {
		return Identity{}, err
	}
	nbf, err := numericDate("nbf", c.Nbf, false)
	if err != nil {
		return Identity{}, err
	}
	groups, err := c.groups()
	if err != nil {
		return Identity{}, err
	}
	if !now.Before(exp.Add(Leeway)) {
		return Identity{}, fmt.Errorf("%w: exp %s is %s before now (leeway %s)",
			ErrExpired, exp.UTC().Format(time.RFC3339), now.Sub(exp).Round(time.Second), Leeway)
	}
	if !nbf.IsZero() && now.Before(nbf.Add(-Leeway)) {
		return Identity{}, fmt.Errorf("%w: nbf %s is %s after now (leeway %s)",
			ErrNotYetValid, nbf.UTC().Format(time.RFC3339), nbf.Sub(now).Round(time.Second), Leeway)
	}
	return Identity{User: user, Groups: groups, Expiry: exp}, nil
}

func (c *rawClaims) subject() (string, error) {
	if isAbsent(c.Sub) {
		return "", fmt.Errorf("%w: sub", ErrMissingClaim)
	}
	var sub string
	if c.Sub[0] != '"' || json.Unmarshal(c.Sub, &sub) != nil {
		return "", fmt.Errorf("%w: sub is not a string", ErrInvalidClaim)
	}
	if sub == "" {
		return "", fmt.Errorf("%w: sub is empty", ErrInvalidClaim)
	}
	return sub, nil
}

func (c *rawClaims) groups() ([]string, error) {
	if isAbsent(c.Groups) {
		return nil, fmt.Errorf("%w: groups", ErrMissingClaim)
	}
	var elems []json.RawMessage
	if c.Groups[0] != '[' || json.Unmarshal(c.Groups, &elems) != nil {
		return nil, fmt.Errorf("%w: groups is not an array", ErrInvalidClaim)
	}
	groups := make([]string, len(elems))
	for i, e := range elems {
		// A JSON null would decode to "" without error; require a string.
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &groups[i]) != nil {
			return nil, fmt.Errorf("%w: groups[%d] is not a string", ErrInvalidClaim, i)
		}
	}
	return groups, nil
}

// maxSeconds bounds a NumericDate to what a float64 holds exactly (about
// 285 million years), far inside what time.Time represents.
const maxSeconds = 1 << 53

// numericDate decodes a NumericDate (RFC 7519: seconds since the epoch, a
// JSON number, fractions allowed). An absent optional claim is the zero Time.
func numericDate(name string, raw json.RawMessage, required bool) (time.Time, error) {
	if isAbsent(raw) {
		if required {
			return time.Time{}, fmt.Errorf("%w: %s", ErrMissingClaim, name)
		}
		return time.Time{}, nil
	}
	var num json.Number
	if c := raw[0]; (c != '-' && (c < '0' || c > '9')) || json.Unmarshal(raw, &num) != nil {
		return time.Time{}, fmt.Errorf("%w: %s is not a number", ErrInvalidClaim, name)
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.Abs(f) >= maxSeconds {
		return time.Time{}, fmt.Errorf("%w: %s is out of range", ErrInvalidClaim, name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// isAbsent reports a claim that is missing or JSON null.
func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
