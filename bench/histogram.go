package bench

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear (the HdrHistogram layout): values below 2·subBuckets
// nanoseconds get a bucket each; above that, every power of two is split into subBuckets
// equal buckets. A bucket's width is at most 1/subBuckets of its lower bound, so a quantile
// read at the bucket's midpoint is within 1/(2·subBuckets) ≈ 1.6% of the true value, over the
// whole uint64 range, in a fixed 15 KiB array: recording is an index computation and an
// increment, with no allocation and no lock.
const (
	subBucketBits = 5
	subBuckets    = 1 << subBucketBits
	// numBuckets covers values up to 2^64-1: the last power of two has shift 58.
	numBuckets = (64-subBucketBits)*subBuckets + subBuckets
)

// histogram records durations in nanoseconds. The zero value is ready to use. It is not safe
// for concurrent use: the load generator keeps one per connection and merges them at the end.
type histogram struct {
	counts [numBuckets]uint64
	n      uint64
	sum    uint64
	min    uint64
	max    uint64
}

// bucketOf returns the index of the bucket holding v.
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v) // exact for small values
	}
	shift := bits.Len64(v) - subBucketBits - 1 // v>>shift is in [subBuckets, 2·subBuckets)
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketBounds returns the smallest value of bucket i and the bucket's width.
func bucketBounds(i int) (lo, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := uint(i/subBuckets - 1)
	mantissa := uint64(i%subBuckets + subBuckets)
	return mantissa << shift, 1 << shift
}

// Record adds one duration. Negative durations (a clock that stepped back) count as 0.
func (h *histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

// Merge adds every value recorded in o.
func (h *histogram) Merge(o *histogram) {
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

// Reset forgets every recorded value.
func (h *histogram) Reset() { *h = histogram{} }

// Count returns the number of recorded values.
func (h *histogram) Count() uint64 { return h.n }

// Min and Max return the exact extremes (0 when empty).
func (h *histogram) Min() time.Duration { return time.Duration(h.min) }
func (h *histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the exact mean (0 when empty).
func (h *histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Quantile returns the value below which a share q (0..1) of the recorded values fall: the
// midpoint of the bucket holding the value of rank ceil(q·n), clamped to the exact min and
// max. It returns 0 when the histogram is empty.
func (h *histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketBounds(i)
			v := lo + (w-1)/2
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
