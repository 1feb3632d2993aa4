package assign

import (
	"errors"
	"fmt"
	"slices"
)

const (
	// MaxWeight is the greatest weight of an edge.
	MaxWeight = 1 << 40
	// MaxRows is the most rows a Graph may have: with MaxWeight, it keeps potentials, which
	// stay within MaxRows·MaxWeight = 2^57, clear of int64's limit.
	MaxRows = 1 << 17
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

// Check reports, wrapping ErrGraph, what makes g malformed, or nil.
func (g *Graph) Check() error {
	switch {
	case g.Rows < 0 || g.Rows > MaxRows || g.Cols < 0:
		return fmt.Errorf("%w: %d rows, %d columns", ErrGraph, g.Rows, g.Cols)
	case len(g.Start) != g.Rows+1 || g.Start[0] != 0:
		return fmt.Errorf("%w: Start of length %d for %d rows", ErrGraph, len(g.Start), g.Rows)
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
	// Per row.
	comp  []int32 // union-find parent; a root is its component's id
	first []int32 // the column of the row's first edge of greatest weight, or -1
	clash []bool  // by component root: two rows share a first choice
	cost  []int64 // cost of the column a row holds (W - weight)

	// Per column.
	holder  []int32 // the row holding the column plus one, or 0 when it is free
	touch   []int32 // a row with an edge to the column, or -1: for union-find
	pot     []int64 // potential: reduced cost of (i, c) is cost - u(i) - pot[c]
	dist    []int64
	pred    []int32 // the row that labelled the column
	predW   []int64 // cost of the edge from pred
	label   []int32 // the Dijkstra (numbered by its root row + 1) that labelled it
	settled []int32 // the Dijkstra that settled it
	chooser []int32 // during the fast path: a row whose first choice it is, or -1

	done []int32 // columns settled by the current Dijkstra
	heap heap

	slow bool // for tests: Dijkstra for every row, to show the fast path agrees
}

// Solve returns, for each row of g, the column it is assigned or -1, in match (grown or
// reused), maximising the total weight; ties are settled as the package comment says.
// It panics if g fails Check: a malformed graph is a bug in the caller.
func (s *Solver) Solve(g *Graph, match []int32) []int32 {
	if err := g.Check(); err != nil {
		panic(err)
	}
	match = slices.Grow(match[:0], g.Rows)[:g.Rows]
	s.reset(g.Rows, g.Cols)

	// First choices, and components by union-find: each column joins the rows it touches.
	for i := range g.Rows {
		best, bestW := int32(-1), int64(0)
		for e := g.Start[i]; e < g.Start[i+1]; e++ {
			c := g.Col[e]
			if w := g.Weight[e]; w > bestW {
				best, bestW = c, w
			}
			if t := s.touch[c]; t >= 0 {
				s.union(int32(i), t)
			} else {
				s.touch[c] = int32(i)
			}
		}
		s.first[i] = best
	}
	for i := range g.Rows {
		c := s.first[i]
		if c < 0 {
			continue
		}
		if o := s.chooser[c]; o >= 0 {
			s.clash[s.find(o)] = true
		}
		s.chooser[c] = int32(i)
	}

	// Components without a clash take first choices; the rest, row by row, Dijkstra.
	for i := range g.Rows {
		if !s.slow && !s.clash[s.find(int32(i))] {
			match[i] = s.first[i]
			if c := s.first[i]; c >= 0 {
				s.holder[c] = int32(i) + 1
			}
			continue
		}
		s.augment(g, int32(i), match)
	}
	return match
}

// reset sizes the scratch for rows × cols and clears what a Solve reads before writing.
func (s *Solver) reset(rows, cols int) {
	s.comp = grow(s.comp, rows)
	for i := range s.comp {
		s.comp[i] = int32(i)
	}
	s.first = grow(s.first, rows)
	s.clash = grow(s.clash, rows)
	clear(s.clash)
	s.cost = grow(s.cost, rows)

	s.holder = grow(s.holder, cols)
	clear(s.holder)
	s.touch = grow(s.touch, cols)
	s.chooser = grow(s.chooser, cols)
	for c := range cols {
		s.touch[c], s.chooser[c] = -1, -1
	}
	s.pot = grow(s.pot, cols)
	clear(s.pot)
	s.dist = grow(s.dist, cols)
	s.pred = grow(s.pred, cols)
	s.predW = grow(s.predW, cols)
	s.label = grow(s.label, cols)
	clear(s.label)
	s.settled = grow(s.settled, cols)
	clear(s.settled)
}

func grow[T any](x []T, n int) []T { return slices.Grow(x[:0], n)[:n] }

func (s *Solver) find(i int32) int32 {
	for s.comp[i] != i {
		s.comp[i] = s.comp[s.comp[i]] // path halving
		i = s.comp[i]
	}
	return i
}

func (s *Solver) union(a, b int32) {
	a, b = s.find(a), s.find(b)
	if a != b {
		s.comp[max(a, b)] = min(a, b)
	}
}

// augment adds row r to the assignment in match by one shortest augmenting path.
func (s *Solver) augment(g *Graph, r int32, match []int32) {
	const W = MaxWeight
	run := r + 1 // labels this Dijkstra in label and settled
	s.heap.reset()
	s.done = s.done[:0]
	limit := int64(W) // no terminal is ever farther than r's own skip
	var seq uint32

	// scan labels the columns of row i, reached at distance d with reduced-cost offset u.
	scan := func(i int32, d, u int64) {
		base := d - u
		for e := g.Start[i]; e < g.Start[i+1]; e++ {
			c := g.Col[e]
			cost := W - g.Weight[e]
			nd := base + cost - s.pot[c]
			if nd > limit || s.settled[c] == run || (s.label[c] == run && nd >= s.dist[c]) {
				continue
			}
			s.label[c], s.dist[c], s.pred[c], s.predW[c] = run, nd, i, cost
			if s.holder[c] == 0 {
				limit = nd
			}
			seq++
			s.heap.push(entry{key: nd, tie: seq, col: c})
		}
		if nd := base + W; nd <= limit { // the skip, whose potential never moves
			limit = nd
			seq++
			s.heap.push(entry{key: nd, tie: seq | skipTie, col: -1 - i})
		}
	}
	scan(r, 0, 0)

	for {
		x := s.heap.pop() // never empty: r's skip is always in
		// A skip is always free: only its own row reaches it.
		if x.col < 0 {
			s.settle(x.key)
			s.flip(-1-x.col, -1, W, r, match)
			return
		}
		c := x.col
		if s.settled[c] == run || x.key != s.dist[c] {
			continue // stale
		}
		s.settled[c] = run
		h := s.holder[c]
		if h == 0 {
			s.settle(x.key)
			s.flip(s.pred[c], c, s.predW[c], r, match)
			return
		}
		s.done = append(s.done, c)
		i := h - 1
		scan(i, x.key, s.cost[i]-s.pot[c])
	}
}

// settle lowers the potentials of the columns settled before the terminal at distance d,
// which keeps reduced costs non-negative and the new path's pairs at zero.
func (s *Solver) settle(d int64) {
	for _, c := range s.done {
		s.pot[c] += s.dist[c] - d
	}
}

// flip gives row i column c (-1 for its skip) at the given cost, and each row on the path
// back to r the column its predecessor gave up.
func (s *Solver) flip(i, c int32, cost int64, r int32, match []int32) {
	for {
		prev := match[i]
		match[i], s.cost[i] = c, cost
		if c >= 0 {
			s.holder[c] = i + 1
		}
		if i == r {
			return
		}
		c = prev
		i, cost = s.pred[c], s.predW[c]
	}
}
