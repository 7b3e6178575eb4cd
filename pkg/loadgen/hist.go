package loadgen

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds from 1 µs to 2 minutes with three
// significant figures (0.1 % error).
const (
	histLow    = 1
	histHigh   = int64(2 * time.Minute / time.Microsecond)
	histDigits = 3
	histShards = 16
)

func newHDR() *hdrhistogram.Histogram { return hdrhistogram.New(histLow, histHigh, histDigits) }

// Hist is a concurrent HDR histogram: recorders pick a shard by a key of
// their own (a session index), so that they rarely share a lock.
type Hist struct {
	shards [histShards]histShard
}

type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [48]byte // keep shards off each other's cache lines
}

// NewHist returns an empty histogram.
func NewHist() *Hist {
	h := &Hist{}
	for i := range h.shards {
		h.shards[i].h = newHDR()
	}
	return h
}

// Record adds d (clamped to the histogram's range) under shard key.
func (h *Hist) Record(key int, d time.Duration) {
	us := int64(d / time.Microsecond)
	us = min(max(us, histLow), histHigh)
	s := &h.shards[uint(key)%histShards]
	s.mu.Lock()
	_ = s.h.RecordValue(us)
	s.mu.Unlock()
}

// Take returns all shards in one histogram and empties them.
func (h *Hist) Take() *hdrhistogram.Histogram {
	out := newHDR()
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.h.Reset()
		s.mu.Unlock()
	}
	return out
}

// Merged returns a copy of all shards in one histogram.
func (h *Hist) Merged() *hdrhistogram.Histogram {
	out := newHDR()
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// EncodedHist is a histogram in HdrHistogram's compressed V2 form (base64),
// the way histograms travel from workers and are kept in the JSON report.
type EncodedHist string

// Encode compresses h.
func Encode(h *hdrhistogram.Histogram) EncodedHist {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "" // only for an unsupported version
	}
	return EncodedHist(b)
}

// Decode reads an encoded histogram; "" is an empty one.
func (e EncodedHist) Decode() (*hdrhistogram.Histogram, error) {
	if e == "" {
		return newHDR(), nil
	}
	return hdrhistogram.Decode([]byte(e))
}

// Summary is the part of a latency distribution the report shows, in
// microseconds.
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   int64   `json:"p50_us"`
	P90   int64   `json:"p90_us"`
	P99   int64   `json:"p99_us"`
	P999  int64   `json:"p999_us"`
	Max   int64   `json:"max_us"`
}

// Summarize reads the quantiles of h.
func Summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{
		Count: h.TotalCount(), Mean: h.Mean(),
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(),
	}
}
