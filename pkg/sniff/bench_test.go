package sniff

import (
	"strings"
	"testing"
)

// BenchmarkClassify classifies the first decided sample of each class (the
// crypto/tls ClientHello, the net/http GET, ...), whole: a caller may hand
// over more than MaxDecide bytes.
func BenchmarkClassify(b *testing.B) {
	seen := map[Class]bool{}
	for _, tc := range samples() {
		if seen[tc.want] || tc.at == 0 {
			continue
		}
		seen[tc.want] = true
		b.Run(tc.want.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Classify(tc.data)
			}
		})
	}
}

func BenchmarkStatsCount(b *testing.B) {
	st := NewStats(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			st.Count(HTTP)
		}
	})
}

func BenchmarkStatsReject(b *testing.B) {
	st := NewStats(0)
	head := []byte(strings.Repeat("x", 100))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			st.Reject(Rejection{Remote: "192.0.2.1:4242", Class: Text, Head: head})
		}
	})
}
