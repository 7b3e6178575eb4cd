package sniff

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestStatsConcurrent(t *testing.T) {
	const workers, rounds = 32, 150
	st := NewStats(16)
	classes := Classes()
	perWorker := rounds * len(classes) // every class counted rounds times
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			head := []byte(fmt.Sprintf("worker %d", w))
			for i := range perWorker {
				c := classes[i%len(classes)]
				st.Count(c)
				st.Reject(Rejection{Time: time.Now(), Remote: "192.0.2.1:1", Class: c, Head: head})
				if i%100 == 0 { // readers race with writers too
					_ = st.Counts()
					_ = st.Recent()
				}
			}
		})
	}
	wg.Wait()
	var total uint64
	for c, n := range st.Counts() {
		if n != workers*rounds {
			t.Errorf("count of %v = %d, want %d", c, n, workers*rounds)
		}
		total += n
	}
	if total != uint64(workers*perWorker) {
		t.Errorf("total count = %d, want %d", total, workers*perWorker)
	}
	if n := len(st.Recent()); n != 16 {
		t.Errorf("len(Recent()) = %d after %d rejections, want the ring size 16", n, workers*perWorker)
	}
}

func TestStatsRingOrder(t *testing.T) {
	tests := []struct {
		ring, rejects int
		want          []string
	}{
		{ring: 3, rejects: 0, want: nil},
		{ring: 3, rejects: 2, want: []string{"r1", "r0"}},
		{ring: 3, rejects: 3, want: []string{"r2", "r1", "r0"}},
		{ring: 3, rejects: 7, want: []string{"r6", "r5", "r4"}},
		{ring: 1, rejects: 5, want: []string{"r4"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("ring%d-rejects%d", tc.ring, tc.rejects), func(t *testing.T) {
			st := NewStats(tc.ring)
			for i := range tc.rejects {
				st.Reject(Rejection{Remote: fmt.Sprintf("r%d", i), Class: HTTP})
			}
			var got []string
			for _, r := range st.Recent() {
				got = append(got, r.Remote)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Recent() remotes = %v, want %v (newest first)", got, tc.want)
			}
		})
	}
}

func TestStatsDefaultRing(t *testing.T) {
	for _, size := range []int{0, -1} {
		st := NewStats(size)
		for range 200 {
			st.Reject(Rejection{Class: Text})
		}
		if n := len(st.Recent()); n != 128 {
			t.Errorf("NewStats(%d) keeps %d rejections, want 128", size, n)
		}
	}
}

func TestStatsRejectCopiesAndTruncates(t *testing.T) {
	st := NewStats(4)
	head := bytes.Repeat([]byte{'A'}, 100)
	st.Reject(Rejection{Class: Binary, Head: head})
	head[0] = 'X' // the caller reuses its buffer

	r := st.Recent()[0]
	if len(r.Head) != MaxHead || r.Head[0] != 'A' {
		t.Fatalf("stored head = %q (len %d), want %d bytes of A", r.Head, len(r.Head), MaxHead)
	}
	r.Head[1] = 'Y' // the reader scribbles on its copy
	if again := st.Recent()[0].Head; again[1] != 'A' {
		t.Fatalf("modifying Recent()'s head changed the ring: %q", again)
	}
	if cap(r.Head) > MaxHead {
		t.Errorf("stored head keeps cap %d, the caller's buffer must not be retained", cap(r.Head))
	}
}

func TestStatsRejectDoesNotCount(t *testing.T) {
	st := NewStats(2)
	st.Reject(Rejection{Class: SSH})
	if n := st.Counts()[SSH]; n != 0 {
		t.Errorf("Reject counted: ssh = %d", n)
	}
}

func TestStatsCounts(t *testing.T) {
	st := NewStats(1)
	st.Count(TLS)
	st.Count(TLS)
	st.Count(Empty)
	st.Count(Undecided) // ignored, not a class
	st.Count(Class(99)) // ignored, not a class
	got := st.Counts()
	if len(got) != len(Classes()) {
		t.Fatalf("Counts() has %d classes, want every one of %d", len(got), len(Classes()))
	}
	for _, c := range Classes() {
		want := map[Class]uint64{TLS: 2, Empty: 1}[c]
		if n, ok := got[c]; !ok || n != want {
			t.Errorf("Counts()[%v] = %d, %v, want %d", c, n, ok, want)
		}
	}
}
