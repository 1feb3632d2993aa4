package matcher

import (
	"math"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/assign"
)

// window is a partition's scratch space for the assignment of a batch window: the
// requests that have candidates (rows), the drivers they bring (columns, in order of
// first appearance), and the candidates behind the graph's edges.
type window struct {
	solver assign.Solver
	graph  assign.Graph
	rows   []*request
	cols   []*driver
	colOf  map[driverRef]int32
	edges  []candidate // parallel to graph.Col
	match  []int32
	reqs   []*request // the requests searched for
	ranks  []ranking  // their candidates, from a sweep
}

// scoreUnit is the score of one unit of assignment weight: scores are summed exactly, as
// integers, a millionth of a point apart.
const scoreUnit = 1e-6

// weightOf is the assignment weight of a score. A pair scoring zero or less still counts
// as a little more than no pair, as greedy would make it.
func weightOf(score float64) int64 {
	w := math.Round(score / scoreUnit)
	return int64(max(1, min(w, assign.MaxWeight)))
}

// matchNow decides what a request does when it comes: Greedy matches it at once if it
// can, Batch lets it wait for the window, and Adaptive matches it at once unless it is
// contested: a waiting request could take the driver greedy would give it. A request
// whose time runs out before the window closes is searched for at once. A replay makes
// what the decision log says was made at once.
func (p *Partition) matchNow(r *request) bool {
	if p.replaying || p.cfg.Assignment == Greedy {
		return p.tryMatch(r)
	}
	if p.cfg.Assignment == Batch && r.deadline >= p.nextWindow {
		return false
	}
	// Adaptive, or a request whose time runs out before the window closes (a late record):
	// a search now.
	c, ok := p.best(r)
	if !ok {
		p.searchedInVain(r)
		return false
	}
	if p.cfg.Assignment == Adaptive && r.deadline >= p.nextWindow && p.wanted(c.d) {
		p.stats.Contested++
		return false
	}
	p.take(r, c)
	return true
}

// wanted reports whether a waiting request could take d: d is within its reach and of a
// vehicle it takes.
func (p *Partition) wanted(d *driver) bool {
	maxKM := p.cfg.MaxPickupKM
	cosLat := math.Cos(d.pos.Lat * math.Pi / 180)
	for _, q := range p.pending {
		if km := approxKM(d.pos.Lat, d.pos.Lng, cosLat, q.Pickup); km-approxSlack(km) > maxKM {
			continue
		}
		if (p.cfg.SoftCompatibility || q.RideType.Compatible(d.vehicle)) && geo.DistanceKM(q.Pickup, d.pos) <= maxKM {
			return true
		}
	}
	return false
}

// assignWindow closes a batch window: the requests waiting, oldest first up to
// BatchRequests, each with its best BatchCandidates drivers, get the assignment of the
// highest total score (package assign, exact over that graph). A request left without a
// driver waits for the next window. A replay makes the recorded decisions instead.
func (p *Partition) assignWindow() {
	if len(p.pending) == 0 {
		return
	}
	p.batching = true
	defer func() { p.batching = false }()
	if p.replaying {
		for _, r := range p.pending {
			p.tryMatch(r)
		}
		p.dropTaken()
		return
	}
	p.stats.Windows++
	w := p.solveWindow()
	for i, col := range w.match {
		if col < 0 {
			continue
		}
		p.stats.Batched++
		p.take(w.rows[i], w.edge(i, col))
	}
	p.dropTaken()
}

// solveWindow builds the window's graph from the waiting requests and solves it. Each
// request's candidates come from a ring search, or, when the window's requests would
// search more cells between them than the index holds, from one sweep of the index.
func (p *Partition) solveWindow() *window {
	w := &p.window
	w.reset()
	reqs := w.reqs[:0]
	for _, r := range p.pending {
		if len(reqs) == p.cfg.BatchRequests {
			break // the rest wait for the next window
		}
		if r.searched != 0 && !p.retryAll && !p.index.writtenSince(p.reachOf(r), p.vehiclesFor(r), r.searched) {
			p.stats.RetriesSkipped++ // no driver within its reach has been written since it found no one
			continue
		}
		p.stats.Retries++
		reqs = append(reqs, r)
	}
	w.reqs = reqs
	k := p.cfg.BatchCandidates
	sweep := false
	if len(reqs) > 0 {
		dk := p.shared.diskAround(reqs[0].origin, p.cfg.MaxPickupKM, 0)
		sweep = len(reqs)*cellsWithin(dk.full) > sweepFactor*len(p.index.cells)
	}
	if sweep {
		for len(w.ranks) < len(reqs) {
			w.ranks = append(w.ranks, ranking{})
		}
		p.sweepIndex(reqs, k, w.ranks)
	}
	for i, r := range reqs {
		var cands []candidate
		if sweep {
			cands = w.ranks[i].list
		} else {
			cands = p.search(r, k)
		}
		if len(cands) == 0 {
			p.searchedInVain(r)
			continue
		}
		w.add(r, cands)
	}
	w.graph.Cols = len(w.cols)
	w.match = w.solver.Solve(&w.graph, w.match)
	return w
}

// cellsWithin is how many cells a disk of n rings holds.
func cellsWithin(n int) int { return 3*n*(n-1) + 1 }

// sweepFactor weighs a sweep's cost per index cell against a ring search's per cell of
// its disk: a search looks each cell up, and stops early; a sweep looks at every cell
// and the requests around it.
const sweepFactor = 4

func (w *window) reset() {
	if w.colOf == nil {
		w.colOf = make(map[driverRef]int32)
	}
	clear(w.colOf)
	clear(w.rows)
	clear(w.cols)
	clear(w.reqs)
	clear(w.edges)
	w.rows, w.cols, w.edges = w.rows[:0], w.cols[:0], w.edges[:0]
	w.graph.Reset(0)
}

// add makes r a row, with an edge to each of its candidates.
func (w *window) add(r *request, cands []candidate) {
	g := &w.graph
	for _, c := range cands {
		col, ok := w.colOf[c.d.ref]
		if !ok {
			col = int32(len(w.cols))
			w.colOf[c.d.ref] = col
			w.cols = append(w.cols, c.d)
		}
		g.Add(col, weightOf(c.score))
		w.edges = append(w.edges, c)
	}
	w.rows = append(w.rows, r)
	g.EndRow()
}

// edge is row i's candidate in column col.
func (w *window) edge(i int, col int32) candidate {
	g := &w.graph
	for k := g.Start[i]; k < g.Start[i+1]; k++ {
		if g.Col[k] == col {
			return w.edges[k]
		}
	}
	panic("assign: a row was given a column it has no edge to")
}

// dropTaken takes the requests a window matched or claimed off the waiting list.
func (p *Partition) dropTaken() {
	kept := p.pending[:0]
	for _, r := range p.pending {
		if r.state == 0 && !r.claiming && r.offer == nil {
			kept = append(kept, r)
		}
	}
	clear(p.pending[len(kept):])
	p.pending = kept
}

// sweepIndex ranks the best k drivers of each of reqs in one pass over the index, into
// ranks: cheaper than a ring search each when a window holds many requests and the index
// few cells. Its lists are the ring search's: the same drivers pass the same checks, and
// the ranking is a total order, whatever order the drivers come in.
func (p *Partition) sweepIndex(reqs []*request, k int, ranks []ranking) {
	maxKM := p.cfg.MaxPickupKM
	w := p.cfg.Weights
	// Requests on a grid of latitude and longitude whose cells are at least maxKM plus the
	// widest index cell across: a request within reach of any point of a cell's bucket is
	// in the grid cell of the bucket's centre or a neighbour.
	span := maxKM + 2*p.index.widest
	maxLat := 0.0
	for _, r := range reqs {
		maxLat = max(maxLat, math.Abs(r.Pickup.Lat))
	}
	dLat := span / kmPerDegree
	dLng := span / (kmPerDegree * math.Cos(math.Min(89, maxLat+1)*math.Pi/180))
	key := func(pt geo.Point) [2]int32 {
		return [2]int32{int32(math.Floor(pt.Lat / dLat)), int32(math.Floor(pt.Lng / dLng))}
	}
	grid := make(map[[2]int32][]int32, len(reqs))
	for i, r := range reqs {
		kk := key(r.Pickup)
		grid[kk] = append(grid[kk], int32(i))
		ranks[i].reset(k)
	}
	vehicles := make([][nVehicles]bool, len(reqs))
	cosLat := make([]float64, len(reqs))
	for i, r := range reqs {
		vehicles[i] = p.vehiclesFor(r)
		cosLat[i] = math.Cos(r.Pickup.Lat * math.Pi / 180)
	}
	// Two passes: the cells near each request first, whose drivers set its bar high, so
	// that the second pass can pass over most of the farther cells' drivers unread.
	inner := maxKM / 3
	for pass := range 2 {
		for _, ref := range p.index.cells {
			b := p.index.buckets.at(ref)
			at := key(geo.Point{Lat: b.geom.lat, Lng: b.geom.lng})
			for dx := int32(-1); dx <= 1; dx++ {
				for dy := int32(-1); dy <= 1; dy++ {
					for _, i := range grid[[2]int32{at[0] + dx, at[1] + dy}] {
						r := reqs[i]
						near := approxKM(b.geom.lat, b.geom.lng, cosLat[i], r.Pickup) - b.geom.radiusKM
						near -= approxSlack(near + b.geom.radiusKM)
						if near > maxKM || (near <= inner) != (pass == 0) {
							continue
						}
						rk := &ranks[i]
						for v := 1; v < nVehicles; v++ {
							if !vehicles[i][v] {
								continue
							}
							compatible := r.RideType.Compatible(event.Vehicle(v))
							if !rk.reaches(w, max(0, near), float64(b.maxRating[v])+ratingSlack, compatible) {
								continue
							}
							for j := range b.drivers[v] {
								e := &b.drivers[v][j]
								if p.clock.Sub(e.ts) > p.cfg.DriverTTL {
									continue
								}
								approx := approxKM(r.Pickup.Lat, r.Pickup.Lng, cosLat[i], geo.Point{Lat: float64(e.lat), Lng: float64(e.lng)})
								if lo := approx - approxSlack(approx) - float32Slack; lo > maxKM || !rk.reaches(w, lo, float64(e.rating)+ratingSlack, compatible) {
									continue
								}
								d := p.table.at(e.ref)
								if r.tried != nil && r.hasTried(p.nameOf(d)) {
									continue
								}
								dist := geo.DistanceKM(r.Pickup, d.pos)
								if dist > maxKM {
									continue
								}
								p.rank(rk, candidate{d: d, dist: dist, score: w.Score(dist, d.rating, compatible)})
							}
						}
					}
				}
			}
		}
	}
}

// kmPerDegree is a degree of latitude, or of longitude at the equator, in km.
const kmPerDegree = geo.EarthRadiusKM * math.Pi / 180
