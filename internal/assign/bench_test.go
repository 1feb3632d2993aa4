package assign

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// window is one batch window of a city 20 km × 30 km: each request's edges are its 16
// best drivers within 3 km, by the matcher's score 100 − 10·km + 20·(rating − 4) + 15,
// weighed in millionths. Requests lie within cluster km of the city's centre, or anywhere
// when cluster is 0.
func window(requests, drivers int, cluster float64) *Graph {
	const w, h, reach, degree = 20.0, 30.0, 3.0, 16
	rng := rand.New(rand.NewPCG(1, uint64(requests*drivers)))
	type driver struct{ x, y, rating float64 }
	ds := make([]driver, drivers)
	for i := range ds {
		ds[i] = driver{rng.Float64() * w, rng.Float64() * h, 3 + 2*rng.Float64()}
	}
	type scored struct {
		col   int32
		score float64
	}
	var near []scored
	g := new(Graph)
	g.Reset(drivers)
	for range requests {
		x, y := rng.Float64()*w, rng.Float64()*h
		if cluster > 0 {
			r, a := cluster*math.Sqrt(rng.Float64()), 2*math.Pi*rng.Float64()
			x, y = w/2+r*math.Cos(a), h/2+r*math.Sin(a)
		}
		near = near[:0]
		for j, d := range ds {
			if km := math.Hypot(d.x-x, d.y-y); km <= reach {
				near = append(near, scored{int32(j), 100 - 10*km + 20*(d.rating-4) + 15})
			}
		}
		slices.SortStableFunc(near, func(a, b scored) int {
			switch {
			case a.score > b.score:
				return -1
			case a.score < b.score:
				return 1
			}
			return 0
		})
		for _, n := range near[:min(len(near), degree)] {
			g.Add(n.col, int64(math.Round(n.score*1e6)))
		}
		g.EndRow()
	}
	return g
}

var windows = []struct {
	name              string
	requests, drivers int
	cluster           float64
}{
	{"ample", 500, 2000, 0},     // drivers to spare
	{"scarce", 500, 150, 0},     // few drivers within reach of most requests
	{"clustered", 500, 2000, 3}, // every request within 3 km: one component
}

// BenchmarkSolve solves one batch window of a partition.
func BenchmarkSolve(b *testing.B) {
	for _, w := range windows {
		b.Run(w.name, func(b *testing.B) {
			g := window(w.requests, w.drivers, w.cluster)
			var s Solver
			match := s.Solve(g, nil)
			b.ReportAllocs()
			for b.Loop() {
				match = s.Solve(g, match)
			}
			pairs := 0
			for _, c := range match {
				if c >= 0 {
					pairs++
				}
			}
			b.ReportMetric(float64(pairs), "pairs")
			b.ReportMetric(float64(len(g.Col))/float64(g.Rows), "edges/row")
		})
	}
}

// TestSolveAllocs holds building a Graph and solving it to no allocation once the Graph
// and the Solver have seen a window as large.
func TestSolveAllocs(t *testing.T) {
	for _, w := range windows {
		want := window(w.requests, w.drivers, w.cluster)
		var g Graph
		var s Solver
		var match []int32
		n := testing.AllocsPerRun(10, func() {
			g.Reset(want.Cols)
			for i := range want.Rows {
				for e := want.Start[i]; e < want.Start[i+1]; e++ {
					g.Add(want.Col[e], want.Weight[e])
				}
				g.EndRow()
			}
			match = s.Solve(&g, match)
		})
		if n != 0 {
			t.Errorf("%s: %.0f allocations a window", w.name, n)
		}
	}
}
