package simulator

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLatencyQuantiles(t *testing.T) {
	tests := []struct {
		name string
		give func(rng *rand.Rand) time.Duration
	}{
		{"constant", func(*rand.Rand) time.Duration { return 12 * time.Millisecond }},
		{"uniform µs", func(rng *rand.Rand) time.Duration { return time.Duration(rng.IntN(40)) * time.Microsecond }},
		{"uniform ms", func(rng *rand.Rand) time.Duration { return time.Duration(rng.IntN(100_000)) * time.Microsecond }},
		{"long tail", func(rng *rand.Rand) time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*1.5) * float64(5*time.Millisecond))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var l latencies
			var all []time.Duration
			for range 20_000 {
				d := tt.give(rng)
				l.record(d)
				all = append(all, d.Truncate(time.Microsecond))
			}
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				want := all[int(math.Ceil(q*float64(len(all))))-1]
				got := l.quantile(q)
				if math.Abs(float64(got-want)) > 0.04*float64(want)+float64(time.Microsecond) {
					t.Errorf("q%v = %v, want %v", q, got, want)
				}
			}
		})
	}
	var empty latencies
	if got := empty.quantile(0.5); got != 0 {
		t.Errorf("empty q50 = %v", got)
	}
}

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := -1
	for _, us := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		b := bucketOf(us)
		if b < prev {
			t.Errorf("bucket of %d is %d, before %d", us, b, prev)
		}
		if b >= len(latencies{}.counts) {
			t.Fatalf("bucket of %d is %d, out of range", us, b)
		}
		if mid := bucketMid(b); math.Abs(mid-float64(us)) > 0.035*float64(us)+0.5 {
			t.Errorf("%d µs is in a bucket centred on %v", us, mid)
		}
		prev = b
	}
}
