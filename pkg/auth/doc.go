// Package auth verifies the JSON Web Tokens that clients present in their
// U-Compass hello, and loads the verification key at start-up.
//
// A [Verifier] is built once from the configured algorithm and key
// ([NewVerifier], [LoadVerifier]) and then answers [Verifier.Verify] with the
// [Identity] the token grants, or an error that wraps one of the sentinel
// errors of this package (all of which mean `unauthorized` on the wire).
//
// # Rules
//
//   - The algorithm is pinned: a token whose header names any algorithm other
//     than the configured one fails with [ErrAlgorithm], before any key is
//     used. That covers "none" and the HS256-with-the-public-key confusion.
//   - Required claims: sub (a non-empty string), exp (a NumericDate) and
//     groups (a JSON array of strings, possibly empty). Missing ones fail
//     with [ErrMissingClaim], ill-typed ones with [ErrInvalidClaim].
//   - Times are checked with a fixed leeway of [Leeway] (30 s) for clock
//     skew between issuer and server: a token is expired once now >= exp +
//     Leeway, and not yet valid while now < nbf - Leeway. nbf is optional.
//     iat is informational (RFC 7519 section 4.1.6) and not checked at all,
//     not even its type; an issuer that wants a later start sets nbf.
//   - Claim names are matched exactly (JWT names are case-sensitive); of
//     duplicate names the last one counts, as in encoding/json.
//   - A token longer than [MaxTokenLen] bytes is rejected before parsing.
//   - Other claims and header fields (iss, aud, kid, typ, ...) are ignored.
//
// Error messages never contain the token, nor any key material: they are
// safe to log.
//
// # Concurrency
//
// A Verifier is immutable after construction and safe for concurrent use by
// any number of goroutines; Verify allocates only per-call state and holds
// no locks. [SignHS256] is likewise safe for concurrent use.
package auth
