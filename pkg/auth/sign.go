package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// mintClaims is the claim set SignHS256 issues.
type mintClaims struct {
	Groups []string `json:"groups"`
	jwt.RegisteredClaims
}

// SignHS256 returns an HS256 token for user with the given groups (nil means
// none), issued now and expiring ttl from now (rounded down to the second). It
// is meant for tests across the repository and for the load tool in HS256
// mode, not for production issuance.
//
// secret is normalised as [NewVerifier] does (trailing whitespace trimmed, at
// least [MinSecretLen] bytes), so the contents of the same key file sign and
// verify alike. A negative ttl gives a token that is already expired; mind
// [Leeway] when testing expiry.
func SignHS256(secret []byte, user string, groups []string, ttl time.Duration) (string, error) {
	key, err := parseSecret(secret)
	if err != nil {
		return "", err
	}
	if user == "" {
		return "", errors.New("sign HS256 token: user is empty")
	}
	if groups == nil {
		groups = []string{}
	}
	now := time.Now()
	c := mintClaims{
		Groups: groups,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign HS256 token: %w", err)
	}
	return tok, nil
}
