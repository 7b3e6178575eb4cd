package auth

import "errors"

// Sentinel errors returned (wrapped, with details) by [Verifier.Verify]. Test
// them with errors.Is. Every one of them means the token is not accepted.
var (
	// ErrMalformed: the token is not a well-formed compact JWS (empty, too
	// long, not three base64url segments, header or claims not JSON objects,
	// no alg in the header).
	ErrMalformed = errors.New("malformed token")

	// ErrAlgorithm: the header names an algorithm other than the one the
	// Verifier is configured for ("none" included).
	ErrAlgorithm = errors.New("token algorithm not accepted")

	// ErrSignature: the signature does not verify with the configured key.
	ErrSignature = errors.New("invalid token signature")

	// ErrExpired: exp (plus the leeway) is not after the verification time.
	ErrExpired = errors.New("token expired")

	// ErrNotYetValid: nbf (minus the leeway) is after the verification time.
	ErrNotYetValid = errors.New("token not yet valid")

	// ErrMissingClaim: sub, exp or groups is absent.
	ErrMissingClaim = errors.New("token lacks a required claim")

	// ErrInvalidClaim: a claim this package reads has the wrong JSON type or
	// an unusable value (an empty sub, groups not an array of strings, an
	// exp or nbf that is not a finite number).
	ErrInvalidClaim = errors.New("token has an invalid claim")
)
