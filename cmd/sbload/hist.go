package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets, as HdrHistogram does:
// values below 128 ns are exact, above that each power of two is split in
// 64 buckets, so a reported percentile is at most 1/64 (1.6 %) above the
// true value. Recording is two shifts and an increment; one histogram
// belongs to one goroutine and they are merged at the end.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	histBuckets = (64 - histSubBits) * histSub
)

func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1
	return (shift+1)*histSub + int(uint64(v)>>shift) - histSub
}

// bucketTop is the largest value that falls in bucket b.
func bucketTop(b int) int64 {
	if b < 2*histSub {
		return int64(b)
	}
	shift := b/histSub - 1
	m := uint64(histSub + b%histSub)
	top := (m+1)<<shift - 1
	if top > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(top)
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value at or below which a fraction q of the
// recordings fall, rounded up to its bucket's top and capped at the
// largest value seen.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketTop(b), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// latencies is the summary the tool reports for a histogram.
type latencies struct {
	P50, P90, P99, P999, Max, Mean time.Duration
	N                              uint64
}

func (h *histogram) summary() latencies {
	return latencies{
		P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), P999: h.quantile(0.999),
		Max: time.Duration(h.max), Mean: h.mean(), N: h.n,
	}
}
