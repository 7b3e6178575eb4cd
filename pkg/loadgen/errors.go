package loadgen

import (
	"sort"
	"sync"
)

// ErrCount is one distinct error message and how often it was seen.
type ErrCount struct {
	Msg   string `json:"msg"`
	Count int64  `json:"count"`
}

// errSample counts distinct error messages, keeping at most maxErrKinds.
type errSample struct {
	mu    sync.Mutex
	count map[string]int64
}

const maxErrKinds = 8

func (e *errSample) add(what string, err error) {
	msg := what + ": " + squashDigits(err.Error())
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.count == nil {
		e.count = map[string]int64{}
	}
	if _, ok := e.count[msg]; ok || len(e.count) < maxErrKinds {
		e.count[msg]++
	}
}

// squashDigits writes every run of digits as N, so that one error from
// many ports or addresses is one entry.
func squashDigits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if len(b) == 0 || b[len(b)-1] != 'N' {
				b = append(b, 'N')
			}
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func (e *errSample) list() []ErrCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ErrCount, 0, len(e.count))
	for m, n := range e.count {
		out = append(out, ErrCount{m, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// mergeErrs adds b's counts into a.
func mergeErrs(a, b []ErrCount) []ErrCount {
	for _, e := range b {
		found := false
		for i := range a {
			if a[i].Msg == e.Msg {
				a[i].Count += e.Count
				found = true
			}
		}
		if !found && len(a) < maxErrKinds {
			a = append(a, e)
		}
	}
	sort.Slice(a, func(i, j int) bool { return a[i].Count > a[j].Count })
	return a
}
