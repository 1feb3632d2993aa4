package assign

import (
	"errors"
	"fmt"
	"slices"
)

const (
	// MaxWeight is the greatest weight of an edge.
	MaxWeight = 1 << 40
	// MaxRows is the most rows a Graph may have, and MaxEdges the most edges: a row number
	// plus one, and Dijkstra's count of labels, fit in 31 bits.
	MaxRows  = 1 << 30
	MaxEdges = 1 << 30
)

// ErrGraph is the error Check wraps for a malformed Graph.
var ErrGraph = errors.New("assign: malformed graph")

// Graph is a sparse bipartite graph: row i's edges are Col[Start[i]:Start[i+1]] with
// Weight[...] (same index). Rows' edges come in the caller's order of preference (best
// first), which breaks ties between equal weights.
//
// Fill one directly or, reusing its storage, with Reset, then Add for each edge of a row
// and EndRow after each row.
type Graph struct {
	Rows, Cols int
	Start      []int32 // len Rows+1
	Col        []int32
	Weight     []int64 // each in 1..MaxWeight
}

// Reset empties g for a window of cols columns, keeping its storage.
func (g *Graph) Reset(cols int) {
	g.Rows, g.Cols = 0, cols
	g.Start = append(g.Start[:0], 0)
	g.Col, g.Weight = g.Col[:0], g.Weight[:0]
}

// Add gives the row being built an edge to col, after those it already has.
func (g *Graph) Add(col int32, weight int64) {
	g.Col = append(g.Col, col)
	g.Weight = append(g.Weight, weight)
}

// EndRow ends the row being built; the next Add starts row g.Rows.
func (g *Graph) EndRow() {
	g.Start = append(g.Start, int32(len(g.Col)))
	g.Rows++
}

// Check reports, wrapping ErrGraph, what makes g malformed, or nil. The zero Graph is
// well formed, with no rows.
func (g *Graph) Check() error {
	switch {
	case g.Rows == 0 && len(g.Start) == 0 && len(g.Col) == 0 && len(g.Weight) == 0:
		return nil
	case g.Rows < 0 || g.Rows > MaxRows || g.Cols < 0:
		return fmt.Errorf("%w: %d rows, %d columns", ErrGraph, g.Rows, g.Cols)
	case len(g.Start) != g.Rows+1 || g.Start[0] != 0:
		return fmt.Errorf("%w: Start of length %d for %d rows", ErrGraph, len(g.Start), g.Rows)
	case len(g.Col) > MaxEdges:
		return fmt.Errorf("%w: %d edges", ErrGraph, len(g.Col))
	case int(g.Start[g.Rows]) != len(g.Col) || len(g.Col) != len(g.Weight):
		return fmt.Errorf("%w: %d edges, %d columns, %d weights", ErrGraph, g.Start[g.Rows], len(g.Col), len(g.Weight))
	}
	for i := range g.Rows {
		if g.Start[i] > g.Start[i+1] {
			return fmt.Errorf("%w: row %d starts after row %d", ErrGraph, i, i+1)
		}
	}
	for e, c := range g.Col {
		if c < 0 || int(c) >= g.Cols {
			return fmt.Errorf("%w: edge %d to column %d of %d", ErrGraph, e, c, g.Cols)
		}
		if w := g.Weight[e]; w < 1 || w > MaxWeight {
			return fmt.Errorf("%w: edge %d weighs %d", ErrGraph, e, w)
		}
	}
	return nil
}

// Solver holds scratch space reused across Solve calls (a partition keeps one); it is not
// safe for concurrent use. Its zero value is ready.
type Solver struct {
	cost []int64  // per row: the cost (W - weight) of the column it holds
	cols []column // per column
	done []int32  // columns settled by the current Dijkstra, before its terminal
	heap heap

	slow bool // for tests: no shortcut by nearest, to show it changes nothing
}

// column is a column's state, kept together as Dijkstra reads it together.
type column struct {
	pot     int64 // potential: the reduced cost of (i, c) is cost - u(i) - pot
	dist    int64 // distance from the current Dijkstra's root, if labelled
	predW   int64 // cost of the edge from pred
	pred    int32 // the row that labelled it
	holder  int32 // the row holding it plus one, or 0 when it is free
	label   int32 // the Dijkstra (its root row plus one) that labelled it
	settled int32 // the Dijkstra that settled it
}

// Solve returns, for each row of g, the column it is assigned or -1, in match (grown or
// reused), maximising the total weight; ties are settled as the package comment says.
// It panics if g fails Check: a malformed graph is a bug in the caller.
func (s *Solver) Solve(g *Graph, match []int32) []int32 {
	if err := g.Check(); err != nil {
		panic(err)
	}
	match = grow(match, g.Rows)
	s.cost = grow(s.cost, g.Rows)
	s.cols = grow(s.cols, g.Cols)
	clear(s.cols)
	for i := range g.Rows {
		s.augment(g, int32(i), match)
	}
	return match
}

func grow[T any](x []T, n int) []T { return slices.Grow(x[:0], n)[:n] }

// augment adds row r to the assignment in match by one shortest augmenting path.
func (s *Solver) augment(g *Graph, r int32, match []int32) {
	const W = MaxWeight
	if !s.slow && s.nearest(g, r, match) {
		return
	}
	run := r + 1
	s.heap.reset()
	s.done = s.done[:0]
	limit := int64(W) // no terminal is ever farther than r's own skip
	var seq uint32

	// scan labels the columns of row i, reached at distance d, whose potential is u.
	scan := func(i int32, d, u int64) {
		base := d - u
		for e := g.Start[i]; e < g.Start[i+1]; e++ {
			c := g.Col[e]
			col := &s.cols[c]
			cost := W - g.Weight[e]
			nd := base + cost - col.pot
			if nd > limit || col.settled == run || col.label == run && nd >= col.dist {
				continue
			}
			col.label, col.dist, col.pred, col.predW = run, nd, i, cost
			if col.holder == 0 {
				limit = nd
			}
			seq++
			s.heap.push(entry{key: nd, tie: seq, col: c})
		}
		if nd := base + W; nd <= limit { // the skip, whose potential stays 0
			limit = nd
			seq++
			s.heap.push(entry{key: nd, tie: seq | skipTie, col: -1 - i})
		}
	}
	scan(r, 0, 0)

	for {
		x := s.heap.pop() // never empty: r's skip is always in
		if x.col < 0 {
			// A skip is always free: only its own row reaches it.
			s.settle(x.key)
			s.flip(-1-x.col, -1, W, r, match)
			return
		}
		col := &s.cols[x.col]
		if col.settled == run || x.key != col.dist {
			continue // stale
		}
		col.settled = run
		if col.holder == 0 {
			s.settle(x.key)
			s.flip(col.pred, x.col, col.predW, r, match)
			return
		}
		s.done = append(s.done, x.col)
		i := col.holder - 1
		scan(i, x.key, s.cost[i]-col.pot)
	}
}

// nearest takes Dijkstra's first step from row r without a heap: if the nearest of r's
// columns (ties to the first listed, then to a column over the skip) is free, or is the
// skip, it assigns it, as Dijkstra would, and reports true.
func (s *Solver) nearest(g *Graph, r int32, match []int32) bool {
	const W = MaxWeight
	best, bestD, bestCost := int32(-1), int64(W)+1, int64(W)
	for e := g.Start[r]; e < g.Start[r+1]; e++ {
		c := g.Col[e]
		cost := W - g.Weight[e]
		if d := cost - s.cols[c].pot; d < bestD {
			best, bestD, bestCost = c, d, cost
		}
	}
	switch {
	case bestD > W:
		match[r], s.cost[r] = -1, W
	case s.cols[best].holder == 0:
		match[r], s.cost[r] = best, bestCost
		s.cols[best].holder = r + 1
	default:
		return false
	}
	return true
}

// settle lowers the potentials of the columns settled before the terminal at distance d,
// which keeps reduced costs non-negative and the new path's pairs at zero.
func (s *Solver) settle(d int64) {
	for _, c := range s.done {
		s.cols[c].pot += s.cols[c].dist - d
	}
}

// flip gives row i column c (-1 for its skip) at the given cost, and each row on the path
// back to r the column its predecessor gave up.
func (s *Solver) flip(i, c int32, cost int64, r int32, match []int32) {
	for {
		prev := match[i]
		match[i], s.cost[i] = c, cost
		if c >= 0 {
			s.cols[c].holder = i + 1
		}
		if i == r {
			return
		}
		c = prev
		i, cost = s.cols[c].pred, s.cols[c].predW
	}
}
