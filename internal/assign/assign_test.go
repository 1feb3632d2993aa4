package assign

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

type edge struct {
	col int32
	w   int64
}

func build(cols int, rows [][]edge) *Graph {
	g := new(Graph)
	g.Reset(cols)
	for _, row := range rows {
		for _, e := range row {
			g.Add(e.col, e.w)
		}
		g.EndRow()
	}
	return g
}

func TestSolve(t *testing.T) {
	const X, Y, Z = 0, 1, 2
	tests := []struct {
		name string
		cols int
		give [][]edge
		want []int32
	}{
		{name: "empty", want: []int32{}},
		{name: "no rows", cols: 2, want: []int32{}},
		{name: "no drivers", cols: 0, give: [][]edge{{}}, want: []int32{-1}},
		{name: "one row", cols: 3, give: [][]edge{{{X, 5}, {Y, 9}, {Z, 7}}}, want: []int32{Y}},
		{name: "a row with no edges", cols: 2, give: [][]edge{{{X, 5}}, {}, {{Y, 1}}}, want: []int32{X, -1, Y}},
		{
			// Greedy in row order gives A X and B nothing (100); both matched is 185.
			name: "greedy loses", cols: 2,
			give: [][]edge{{{X, 100}, {Y, 90}}, {{X, 95}}},
			want: []int32{Y, X},
		},
		{
			// B taking Y would cost A 90 to gain B 5.
			name: "leaving a row out", cols: 2,
			give: [][]edge{{{X, 100}, {Y, 10}}, {{X, 95}}, {{Y, 5}}},
			want: []int32{Y, X, -1},
		},
		{name: "one driver, the heavier row", cols: 1, give: [][]edge{{{X, 10}}, {{X, 11}}}, want: []int32{-1, X}},
		{name: "a chain", cols: 3,
			give: [][]edge{{{X, 10}, {Y, 9}}, {{Y, 10}, {Z, 9}}, {{X, 10}}},
			want: []int32{Y, Z, X}},
		// Ties: the caller's order of preference, then more pairs.
		{name: "a tie goes to the first listed", cols: 3, give: [][]edge{{{Z, 7}, {X, 7}, {Y, 7}}}, want: []int32{Z}},
		{
			// A's first choice Y is free: it keeps it though X ties it and B wants X too.
			name: "first choice kept in a clash", cols: 2,
			give: [][]edge{{{Y, 7}, {X, 7}}, {{X, 3}}, {{X, 2}}},
			want: []int32{Y, X, -1},
		},
		{
			// 10 either way: A alone on X, or A on Y and B on X; the two pairs win.
			name: "more pairs at equal weight", cols: 2,
			give: [][]edge{{{X, 10}, {Y, 5}}, {{X, 5}}},
			want: []int32{Y, X},
		},
		{name: "the same first choice, equal weights", cols: 1, give: [][]edge{{{X, 4}}, {{X, 4}}}, want: []int32{X, -1}},
	}
	var s Solver
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(tt.cols, tt.give)
			got := s.Solve(g, nil)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Solve = %v, want %v", got, tt.want)
			}
			if total(g, got) != bruteForce(g) {
				t.Errorf("total %d, optimum %d", total(g, got), bruteForce(g))
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		give Graph
		ok   bool
	}{
		{name: "zero", give: Graph{}, ok: true},
		{name: "empty", give: Graph{Cols: 3, Start: []int32{0}}, ok: true},
		{name: "valid", give: Graph{Rows: 1, Cols: 1, Start: []int32{0, 1}, Col: []int32{0}, Weight: []int64{MaxWeight}}, ok: true},
		{name: "no Start", give: Graph{Rows: 1}},
		{name: "edges, no Start", give: Graph{Col: []int32{0}, Weight: []int64{1}}},
		{name: "short Start", give: Graph{Rows: 1, Cols: 1, Start: []int32{0}}},
		{name: "edges unaccounted", give: Graph{Rows: 1, Cols: 1, Start: []int32{0, 0}, Col: []int32{0}, Weight: []int64{1}}},
		{name: "rows out of order", give: Graph{Rows: 2, Cols: 1, Start: []int32{0, 1, 0}}},
		{name: "column out of range", give: Graph{Rows: 1, Cols: 1, Start: []int32{0, 1}, Col: []int32{1}, Weight: []int64{1}}},
		{name: "weight zero", give: Graph{Rows: 1, Cols: 1, Start: []int32{0, 1}, Col: []int32{0}, Weight: []int64{0}}},
		{name: "weight too great", give: Graph{Rows: 1, Cols: 1, Start: []int32{0, 1}, Col: []int32{0}, Weight: []int64{MaxWeight + 1}}},
		{name: "too many rows", give: Graph{Rows: MaxRows + 1, Start: []int32{0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.give.Check()
			if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrGraph) {
				t.Errorf("Check() = %v, want ok %v", err, tt.ok)
			}
			if tt.ok {
				if got := new(Solver).Solve(&tt.give, nil); len(got) != tt.give.Rows {
					t.Errorf("Solve gives %d rows of %d", len(got), tt.give.Rows)
				}
			}
		})
	}
}

// TestSolveRandom compares Solve with brute force on small random graphs, many of them
// with tied weights, and checks that the answer depends on nothing but the graph.
func TestSolveRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var reused, slow Solver
	slow.slow = true
	for n := range 5000 {
		g := randomGraph(rng, 1+rng.IntN(6), 1+rng.IntN(7))
		got := reused.Solve(g, nil)
		check(t, g, got)
		if t.Failed() {
			t.Fatalf("instance %d: %v gives %v", n, g, got)
		}
		if again := reused.Solve(g, nil); !slices.Equal(again, got) {
			t.Fatalf("instance %d: solved again, %v, then %v", n, got, again)
		}
		if fresh := new(Solver).Solve(g, nil); !slices.Equal(fresh, got) {
			t.Fatalf("instance %d: a fresh Solver gives %v, a used one %v", n, fresh, got)
		}
		if all := slow.Solve(g, nil); !slices.Equal(all, got) {
			t.Fatalf("instance %d: %v gives %v by Dijkstra alone, %v with nearest", n, g, all, got)
		}
		perm := rng.Perm(g.Cols)
		p := permuted(g, perm)
		if pt := total(p, reused.Solve(p, nil)); pt != total(g, got) {
			t.Fatalf("instance %d: columns permuted, total %d, not %d", n, pt, total(g, got))
		}
	}
}

func FuzzSolve(f *testing.F) {
	f.Add([]byte{2, 2, 0x11, 100, 0x12, 90, 0x21, 95})
	f.Add([]byte{3, 1, 0x11, 4, 0x21, 4, 0x31, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := decode(data)
		var s Solver
		check(t, g, s.Solve(g, nil))
	})
}

// decode makes a graph of data: rows and columns (0 to 7 each) from the first two bytes,
// then an edge from every two bytes: row and column from the first's high and low nibbles,
// weight 1 to 16 from the second (few values: many ties). A row's edges keep their order.
func decode(data []byte) *Graph {
	if len(data) < 2 {
		return build(0, nil)
	}
	rows, cols := int(data[0]%8), int(data[1]%8)
	byRow := make([][]edge, rows)
	for b := data[2:]; len(b) >= 2 && rows > 0 && cols > 0; b = b[2:] {
		r, c := int(b[0]>>4)%rows, int32(b[0]&15)%int32(cols)
		byRow[r] = append(byRow[r], edge{c, 1 + int64(b[1])%16})
	}
	return build(cols, byRow)
}

func randomGraph(rng *rand.Rand, rows, cols int) *Graph {
	byRow := make([][]edge, rows)
	density := rng.Float64()
	spread := 1 + rng.Int64N(20) // few distinct weights: many ties
	for i := range byRow {
		for c := range cols {
			if rng.Float64() < density {
				byRow[i] = append(byRow[i], edge{int32(c), 1 + rng.Int64N(spread)})
			}
		}
		rng.Shuffle(len(byRow[i]), func(a, b int) { byRow[i][a], byRow[i][b] = byRow[i][b], byRow[i][a] })
	}
	return build(cols, byRow)
}

func permuted(g *Graph, perm []int) *Graph {
	p := *g
	p.Col = slices.Clone(g.Col)
	for e, c := range p.Col {
		p.Col[e] = int32(perm[c])
	}
	return &p
}

// check fails t unless match is a matching on g's edges of the greatest total weight.
func check(t *testing.T, g *Graph, match []int32) {
	t.Helper()
	if len(match) != g.Rows {
		t.Fatalf("%d rows, %d in the match", g.Rows, len(match))
	}
	taken := make(map[int32]int)
	for i, c := range match {
		if c < 0 {
			continue
		}
		if edgeWeight(g, i, c) == 0 {
			t.Errorf("row %d has no edge to column %d", i, c)
		}
		if o, ok := taken[c]; ok {
			t.Errorf("rows %d and %d both hold column %d", o, i, c)
		}
		taken[c] = i
	}
	if got, want := total(g, match), bruteForce(g); got != want {
		t.Errorf("total %d, optimum %d", got, want)
	}
}

// edgeWeight is the greatest weight of an edge from row i to column c, or 0.
func edgeWeight(g *Graph, i int, c int32) int64 {
	var w int64
	for e := g.Start[i]; e < g.Start[i+1]; e++ {
		if g.Col[e] == c {
			w = max(w, g.Weight[e])
		}
	}
	return w
}

func total(g *Graph, match []int32) int64 {
	var sum int64
	for i, c := range match {
		if c >= 0 {
			sum += edgeWeight(g, i, c)
		}
	}
	return sum
}

// bruteForce is the greatest total weight of a matching, over every set of columns taken
// by the rows so far (at most 7 columns: a row's edges, duplicates and all, count once).
func bruteForce(g *Graph) int64 {
	if g.Cols > 7 {
		panic("bruteForce: too many columns")
	}
	// best[m]: the greatest weight of the rows so far on exactly the columns in m, or -1.
	best := make([]int64, 1<<g.Cols)
	for m := range best {
		best[m] = -1
	}
	best[0] = 0
	next := make([]int64, len(best))
	for i := range g.Rows {
		copy(next, best) // row i left out
		for m, b := range best {
			for c := range int32(g.Cols) {
				if w := edgeWeight(g, i, c); b >= 0 && w > 0 && m&(1<<c) == 0 {
					next[m|1<<c] = max(next[m|1<<c], b+w)
				}
			}
		}
		best, next = next, best
	}
	return slices.Max(best)
}

// TestSolveLarge compares Solve with the dense Hungarian method on graphs too large for
// brute force, with weights up to MaxWeight.
func TestSolveLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var s Solver
	for n := range 300 {
		rows, cols := 1+rng.IntN(60), 1+rng.IntN(60)
		byRow := make([][]edge, rows)
		for i := range byRow {
			for _, c := range rng.Perm(cols)[:rng.IntN(min(cols, 12)+1)] {
				w := MaxWeight - rng.Int64N(1<<uint(rng.IntN(41)))
				byRow[i] = append(byRow[i], edge{int32(c), w})
			}
		}
		g := build(cols, byRow)
		got := s.Solve(g, nil)
		if gt, want := total(g, got), hungarian(g); gt != want {
			t.Fatalf("instance %d: total %d, optimum %d", n, gt, want)
		}
	}
}

// hungarian is the greatest total weight of a matching by the dense O(n³) Hungarian
// method, on a square matrix of n = rows + cols in which a missing edge weighs 0.
func hungarian(g *Graph) int64 {
	n := g.Rows + g.Cols
	a := make([][]int64, n+1) // cost, 1-based: -weight
	for i := range a {
		a[i] = make([]int64, n+1)
	}
	for i := range g.Rows {
		for e := g.Start[i]; e < g.Start[i+1]; e++ {
			a[i+1][g.Col[e]+1] = min(a[i+1][g.Col[e]+1], -g.Weight[e])
		}
	}
	const inf = math.MaxInt64 / 4
	u, v := make([]int64, n+1), make([]int64, n+1)
	p, way := make([]int, n+1), make([]int, n+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		minv := make([]int64, n+1)
		used := make([]bool, n+1)
		for j := range minv {
			minv[j] = inf
		}
		for p[j0] != 0 {
			used[j0] = true
			i0, delta, j1 := p[j0], int64(inf), 0
			for j := 1; j <= n; j++ {
				if !used[j] {
					if cur := a[i0][j] - u[i0] - v[j]; cur < minv[j] {
						minv[j], way[j] = cur, j0
					}
					if minv[j] < delta {
						delta, j1 = minv[j], j
					}
				}
			}
			for j := 0; j <= n; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	var sum int64
	for j := 1; j <= n; j++ {
		sum -= a[p[j]][j]
	}
	return sum
}

// TestSolveCertificate proves Solve's answer optimal on graphs far beyond brute force, up
// to 131,072 rows of weights near MaxWeight, by the linear program's duality: the row
// prices y = W - u and column prices z = -pot cover every edge (y_i + z_c ≥ weight, all
// ≥ 0) and add up to the matching's weight, which no matching can then exceed. Prices
// stay within MaxWeight, as the package comment says.
func TestSolveCertificate(t *testing.T) {
	tests := []struct {
		name string
		give *Graph
	}{
		{name: "ample", give: window(500, 2000, 0)},
		{name: "scarce", give: window(500, 150, 0)},
		{name: "clustered", give: window(500, 2000, 3)},
		{name: "heavy and wide", give: band(1<<17, 1<<15, 6, MaxWeight-1000, rand.New(rand.NewPCG(9, 9)))},
		{name: "heavy and scarce", give: band(1<<17, 1<<13, 4, MaxWeight/2, rand.New(rand.NewPCG(8, 8)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.give.Rows > 1000 {
				t.Skip("a large graph")
			}
			var s Solver
			g := tt.give
			match := s.Solve(g, nil)
			var prices int64
			for _, col := range s.cols {
				if col.pot > 0 || col.pot < -MaxWeight {
					t.Fatalf("a column priced %d", -col.pot)
				}
				prices -= col.pot
			}
			for i := range g.Rows {
				y := int64(0) // a row left out
				if c := match[i]; c >= 0 {
					y = MaxWeight - (s.cost[i] - s.cols[c].pot)
				}
				if y < 0 || y > MaxWeight {
					t.Fatalf("row %d priced %d", i, y)
				}
				prices += y
				for e := g.Start[i]; e < g.Start[i+1]; e++ {
					if z := -s.cols[g.Col[e]].pot; y+z < g.Weight[e] {
						t.Fatalf("row %d's edge to %d, of %d, priced %d", i, g.Col[e], g.Weight[e], y+z)
					}
				}
			}
			if w := total(g, match); prices != w {
				t.Fatalf("prices add up to %d, the matching weighs %d", prices, w)
			}
		})
	}
}

// band is a graph of rows whose edges go to degree columns near rows·i/cols, with weights
// from lo to MaxWeight: neighbours contend, and the contention runs the length of it.
func band(rows, cols, degree int, lo int64, rng *rand.Rand) *Graph {
	g := new(Graph)
	g.Reset(cols)
	for i := range rows {
		at := i * cols / rows
		for range degree {
			c := min(max(at+rng.IntN(9)-4, 0), cols-1)
			g.Add(int32(c), lo+rng.Int64N(MaxWeight-lo+1))
		}
		g.EndRow()
	}
	return g
}
