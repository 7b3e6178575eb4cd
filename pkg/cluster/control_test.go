package cluster_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ucompass/compass/pkg/cluster"
)

func answersOf(as []cluster.Answer) map[string]string {
	out := map[string]string{}
	for _, a := range as {
		out[a.Replica] = string(a.Body) + "|" + a.Err
	}
	return out
}

// Gather reaches every other replica and names those that did not answer.
func TestGather(t *testing.T) {
	_, rs := startCluster(t, 3)
	for _, r := range rs {
		r.node.Handle("echo", func(_ context.Context, req []byte) ([]byte, error) {
			if string(req) == "fail" {
				return nil, errors.New("failed on " + r.id)
			}
			return append([]byte(r.id+":"), req...), nil
		})
	}
	as, missing := rs[0].node.Gather(ctx(t), "echo", []byte("x"))
	if got := answersOf(as); len(got) != 2 || got["b"] != "b:x|" || got["c"] != "c:x|" || missing != nil {
		t.Fatalf("answers %v, missing %v", got, missing)
	}
	as, _ = rs[1].node.Gather(ctx(t), "echo", []byte("fail"))
	if got := answersOf(as); got["a"] != "|failed on a" || got["c"] != "|failed on c" {
		t.Fatalf("answers %v", got)
	}
	as, _ = rs[1].node.Gather(ctx(t), "nope", nil)
	if got := answersOf(as); got["a"] != "|unknown control topic" {
		t.Fatalf("answers %v", got)
	}

	// c dies: until the TTL it is known, and named as missing.
	rs[2].node.Crash()
	start := time.Now()
	as, missing = rs[0].node.Gather(ctx(t), "echo", []byte("y"))
	if got := answersOf(as); len(got) != 1 || got["b"] != "b:y|" || !slices.Equal(missing, []string{"c"}) {
		t.Fatalf("answers %v, missing %v", got, missing)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("partial answer after %v", d)
	}
	// After the TTL c is forgotten: a complete answer again.
	waitFor(t, "c forgotten", func() bool { return len(rs[0].node.Peers()) == 1 })
	if _, missing = rs[0].node.Gather(ctx(t), "echo", nil); missing != nil {
		t.Fatalf("missing %v", missing)
	}
}
