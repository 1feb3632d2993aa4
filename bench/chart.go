package bench

import (
	"fmt"
	"math"
	"strings"
)

// Bucket counts the latencies at most UpToMS and above the bucket before; the last
// bucket (UpToMS 0) holds the rest.
type Bucket struct {
	UpToMS float64 `json:"up_to_ms"`
	Count  int     `json:"count"`
}

// latencyEdges are the upper bounds of the latency histogram's buckets, 1-2-5 a decade.
var latencyEdges = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// histogram counts xs (milliseconds) into the latency buckets.
func histogram(xs []float64) []Bucket {
	h := make([]Bucket, len(latencyEdges)+1)
	for i, e := range latencyEdges {
		h[i].UpToMS = e
	}
	for _, x := range xs {
		i := 0
		for i < len(latencyEdges) && x > latencyEdges[i] {
			i++
		}
		h[i].Count++
	}
	// Trim the empty buckets at either end.
	lo, hi := 0, len(h)
	for lo < hi && h[lo].Count == 0 {
		lo++
	}
	for hi > lo && h[hi-1].Count == 0 {
		hi--
	}
	return h[lo:hi]
}

// HistogramBars draws a histogram as one line a bucket: its range, a bar as long as its
// share of the largest bucket, and its share of all.
func HistogramBars(h []Bucket, width int) []string {
	var total, most int
	for _, b := range h {
		total += b.Count
		most = max(most, b.Count)
	}
	if total == 0 {
		return nil
	}
	lines := make([]string, 0, len(h))
	for _, b := range h {
		label := fmt.Sprintf("≤ %g ms", b.UpToMS)
		if b.UpToMS == 0 {
			label = fmt.Sprintf("> %g ms", latencyEdges[len(latencyEdges)-1])
		}
		bar := strings.Repeat("█", int(math.Round(float64(width*b.Count)/float64(most))))
		lines = append(lines, fmt.Sprintf("%-10s %-*s %5.1f%%", label, width, bar, 100*float64(b.Count)/float64(total)))
	}
	return lines
}

// Sparkline draws xs, which are not negative, as one line of block characters: ▁ for
// zero up to █ for the highest of xs.
func Sparkline(xs []float64) string {
	const ticks = "▁▂▃▄▅▆▇█"
	steps := []rune(ticks)
	if len(xs) == 0 {
		return ""
	}
	hi := 0.0
	for _, x := range xs {
		hi = max(hi, x)
	}
	var b strings.Builder
	for _, x := range xs {
		i := 0
		if hi > 0 {
			i = int(math.Round(float64(len(steps)-1) * max(x, 0) / hi))
		}
		b.WriteRune(steps[i])
	}
	return b.String()
}
