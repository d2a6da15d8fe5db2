package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBoundsContainTheirValues(t *testing.T) {
	values := []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<20 + 12345, 1 << 40, math.MaxUint64}
	for _, v := range values {
		i := bucketOf(v)
		lo, w := bucketBounds(i)
		if v < lo || v-lo >= w {
			t.Errorf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		if i >= numBuckets {
			t.Errorf("value %d maps to bucket %d, beyond %d", v, i, numBuckets)
		}
	}
	// Buckets tile the number line: each starts where the previous one ends.
	for i := 1; i < numBuckets; i++ {
		plo, pw := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		if plo+pw != lo {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, plo+pw)
		}
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h histogram
	for v := 1; v <= 50; v++ {
		h.Record(time.Duration(v))
	}
	if got := h.Quantile(0.5); got != 25 {
		t.Errorf("p50 of 1..50 = %d, want 25", got)
	}
	if h.Min() != 1 || h.Max() != 50 || h.Count() != 50 {
		t.Errorf("min %d max %d count %d", h.Min(), h.Max(), h.Count())
	}
}

// Quantiles of log-uniform latencies from 1 µs to 100 ms must be within the histogram's
// stated relative error (half a bucket: 1/64) of the exact order statistics.
func TestHistogramQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var h histogram
	vals := make([]time.Duration, 200000)
	for i := range vals {
		vals[i] = time.Duration(math.Exp(math.Log(1e3) + r.Float64()*(math.Log(1e8)-math.Log(1e3))))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 1.0/64 {
			t.Errorf("q%.3f = %s, exact %s: relative error %.4f > 1/64", q, got, exact, rel)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("min/max %s/%s, want %s/%s", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
}

func TestHistogramMergeEqualsRecordingEverything(t *testing.T) {
	var a, b, all histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i * i * 37)
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a != all {
		t.Errorf("merged histogram differs: count %d/%d p99 %s/%s", a.Count(), all.Count(), a.Quantile(.99), all.Quantile(.99))
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 {
		t.Error("empty histogram must report 0")
	}
	h.Record(-5 * time.Microsecond) // a clock step back is recorded as 0, not as a huge value
	if h.Max() != 0 || h.Count() != 1 {
		t.Errorf("negative duration recorded as max %s", h.Max())
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	var h histogram
	d := time.Duration(1)
	if n := testing.AllocsPerRun(1000, func() { h.Record(d); d = d*3 + 1 }); n != 0 {
		t.Errorf("Record allocates %.1f times", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xffff) * 100)
	}
}
