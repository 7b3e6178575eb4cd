package auth

import "testing"

func benchmarkVerify(b *testing.B, alg string) {
	kp := getKeys(b).byAlg[alg]
	v := mustVerifier(b, alg, kp.public)
	tok := sign(b, kp, claims(nil))
	if _, err := v.VerifyAt(tok, testNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyAt(tok, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) { benchmarkVerify(b, HS256) }
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, ES256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, EdDSA) }
func BenchmarkVerifyRS256(b *testing.B) { benchmarkVerify(b, RS256) }

// BenchmarkVerifyRejectAlg is the cost of turning away a token of another
// algorithm, which an attacker can send for free.
func BenchmarkVerifyRejectAlg(b *testing.B) {
	k := getKeys(b)
	v := mustVerifier(b, ES256, k.byAlg[ES256].public)
	tok := sign(b, k.byAlg[HS256], claims(nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyAt(tok, testNow); err == nil {
			b.Fatal("accepted")
		}
	}
}
