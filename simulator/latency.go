package simulator

import (
	"math"
	"math/bits"
	"time"
)

// latencies is a histogram of durations to about 3%: microseconds in power-of-two ranges,
// each cut into 32 equal buckets. It takes any number of samples in fixed memory.
type latencies struct {
	counts [60 * subBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	subBits    = 5
	subBuckets = 1 << subBits
)

func (l *latencies) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	l.counts[bucketOf(us)]++
	l.n++
	l.max = max(l.max, d)
}

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	exp := bits.Len64(us) - 1 // >= subBits
	sub := (us >> (exp - subBits)) & (subBuckets - 1)
	return (exp-subBits+1)*subBuckets + int(sub)
}

// bucketMid is the middle of a bucket's range, in microseconds.
func bucketMid(i int) float64 {
	if i < subBuckets {
		return float64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := uint64(i % subBuckets)
	width := uint64(1) << (exp - subBits)
	return float64((subBuckets+sub)<<(exp-subBits)) + float64(width-1)/2
}

// quantile returns the q-quantile (0 < q <= 1), or 0 without samples.
func (l *latencies) quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(l.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range l.counts {
		if seen += c; seen >= rank {
			return min(time.Duration(bucketMid(i)*float64(time.Microsecond)), l.max)
		}
	}
	return l.max
}
