package geo

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/uber/h3-go/v4"
)

// testCells returns cells at every resolution: random points, the cities, and pentagons
// (whose indexes skip a digit value, the case plain bit arithmetic could get wrong).
func testCells(rnd *rand.Rand, perRes int) []Cell {
	var out []Cell
	for res := 0; res <= 15; res++ {
		for i := 0; i < perRes; i++ {
			out = append(out, CellOf(randomOnSphere(rnd), res))
		}
		for _, p := range []Point{bandraStation, connaughtPlace, timesSquare, {90, 0}, {-90, 0}, {0, 180}} {
			out = append(out, CellOf(p, res))
		}
		for _, p := range h3.Pentagons(res) {
			out = append(out, Cell(p))
		}
	}
	return out
}

func TestParentMatchesH3(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, c := range testCells(rnd, 200) {
		if !c.Valid() {
			t.Fatalf("test cell %v is not valid", c)
		}
		cur := c.Resolution()
		if want := h3.Cell(c).Resolution(); cur != want {
			t.Fatalf("%v.Resolution() = %d, h3 says %d", c, cur, want)
		}
		for res := 0; res <= cur; res++ {
			got, want := c.Parent(res), Cell(h3.Cell(c).Parent(res))
			if got != want {
				t.Fatalf("%v (res %d).Parent(%d) = %v, h3 says %v", c, cur, res, got, want)
			}
			if got.Resolution() != res || !got.Valid() {
				t.Fatalf("%v.Parent(%d) = %v at resolution %d, valid %v", c, res, got, got.Resolution(), got.Valid())
			}
			// Parents nest: the parent of a parent is the parent.
			for r2 := 0; r2 <= res; r2++ {
				if got.Parent(r2) != c.Parent(r2) {
					t.Fatalf("%v.Parent(%d).Parent(%d) != Parent(%d)", c, res, r2, r2)
				}
			}
		}
		for _, res := range []int{cur, cur + 1, 15, 16, -1} {
			if got := c.Parent(res); got != c {
				t.Errorf("%v (res %d).Parent(%d) = %v, want the cell itself", c, cur, res, got)
			}
		}
	}
}

func TestCellText(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	for _, c := range testCells(rnd, 50) {
		s := c.String()
		if want := h3.Cell(c).String(); s != want {
			t.Fatalf("String() = %q, h3 says %q", s, want)
		}
		if got := string(c.AppendText([]byte("cell="))); got != "cell="+s {
			t.Fatalf("AppendText = %q, want %q", got, "cell="+s)
		}
		if len(s) != 15 {
			t.Fatalf("%q is not the 15-digit canonical form", s)
		}
		got, err := ParseCell(s)
		if err != nil || got != c {
			t.Fatalf("ParseCell(%q) = %v, %v; want %v", s, got, err, c)
		}
		b, err := json.Marshal(struct{ C Cell }{c})
		if err != nil || string(b) != `{"C":"`+s+`"}` {
			t.Fatalf("json.Marshal = %s, %v", b, err)
		}
	}
	for _, c := range []Cell{0, 1, 0xf, 0x10, 0xfffffffffffffff, math.MaxUint64} {
		if got, want := string(c.AppendText(nil)), h3.Cell(c).String(); got != want {
			t.Errorf("AppendText(%#x) = %q, h3 says %q", uint64(c), got, want)
		}
	}
	for _, s := range []string{"", "0", "zz", "8928308280fffff0", "ffffffffffffffff", "not a cell", "-8928308280fffff", strings.Repeat("8", 15)} {
		if c, err := ParseCell(s); err == nil {
			t.Errorf("ParseCell(%q) = %v, want an error", s, c)
		}
	}
}

// About a pentagon, the disk holds only cells: H3's empty slots (0) are left out.
func TestDiskAboutAPentagon(t *testing.T) {
	for _, res := range []int{4, 9} {
		p := Cell(h3.Pentagons(res)[0])
		rings := Disk(p, 2)
		if len(rings[0]) != 1 || rings[0][0] != p {
			t.Fatalf("res %d: ring 0 about a pentagon is %v, want the pentagon alone", res, rings[0])
		}
		for j, ring := range rings {
			if j > 0 && len(ring) != 5*j {
				t.Errorf("res %d: ring %d has %d cells, want %d", res, j, len(ring), 5*j)
			}
			for _, c := range ring {
				if !c.Valid() {
					t.Errorf("res %d: ring %d holds %v, not a cell", res, j, c)
				}
			}
		}
	}
}

func TestDisk(t *testing.T) {
	origin := CellOf(bandraStation, 9)
	rings := Disk(origin, 4)
	if len(rings) != 5 || len(rings[0]) != 1 || rings[0][0] != origin {
		t.Fatalf("Disk(o, 4) = %d rings, ring 0 %v", len(rings), rings[0])
	}
	seen := map[Cell]bool{}
	for j, ring := range rings {
		if j > 0 && len(ring) != 6*j {
			t.Errorf("ring %d has %d cells, want %d", j, len(ring), 6*j)
		}
		for _, c := range ring {
			if d := h3.GridDistance(h3.Cell(origin), h3.Cell(c)); d != j {
				t.Errorf("cell %v in ring %d is %d steps away", c, j, d)
			}
			if seen[c] {
				t.Errorf("cell %v twice", c)
			}
			seen[c] = true
		}
	}
	if len(seen) != 1+3*4*5 {
		t.Errorf("disk of 4 has %d cells, want 61", len(seen))
	}
}

func TestMinEdgeKM(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	for res := 0; res <= 15; res++ {
		for i := 0; i < 20; i++ {
			c := CellOf(randomOnSphere(rnd), res)
			m := MinEdgeKM(c)
			avg := h3.HexagonEdgeLengthAvgKm(res)
			if !(m > avg/2.5 && m < avg*1.5) {
				t.Errorf("MinEdgeKM(res %d) = %v, average edge %v", res, m, avg)
			}
			for _, v := range c.Boundary() {
				if d := DistanceKM(c.Center(), v); d < m*0.5 {
					t.Errorf("a vertex %v km from the centre, shortest edge %v", d, m)
				}
			}
		}
	}
}

// pointsIn returns points of c: its centre, random points inside, and points a hair
// inside each vertex, where a cell reaches furthest.
func pointsIn(rnd *rand.Rand, c Cell, n int) []Point {
	center := toVec(c.Center())
	bound := c.Boundary()
	out := []Point{c.Center()}
	for _, v := range bound {
		for _, f := range []float64{0.999, 0.99, 0.95, 0.9} {
			p := fromVec(center.add(toVec(v).add(center.scale(-1)).scale(f)))
			if CellOf(p, c.Resolution()) == c {
				out = append(out, p)
				break
			}
		}
	}
	for tries := 0; len(out) < n+len(bound)+1 && tries < 20*n; tries++ {
		i := rnd.IntN(len(bound))
		a, b := toVec(bound[i]), toVec(bound[(i+1)%len(bound)])
		u, w := rnd.Float64(), rnd.Float64()
		if u+w > 1 {
			u, w = 1-u, 1-w
		}
		p := fromVec(center.add(a.add(center.scale(-1)).scale(u)).add(b.add(center.scale(-1)).scale(w)))
		if CellOf(p, c.Resolution()) == c {
			out = append(out, p)
		}
	}
	return out
}

// ringOrigin is an origin cell for the ring tests.
type ringOrigin struct {
	class string
	cell  Cell
}

// ringOrigins are origin cells at res: the cities, random places on the globe, cells
// beside pentagons, and pentagons, where the grid is most distorted.
func ringOrigins(rnd *rand.Rand, res, random int) []ringOrigin {
	var out []ringOrigin
	for _, p := range []Point{bandraStation, churchgate, connaughtPlace, timesSquare, {-33.87, 151.21}, {64.1, -21.9}} {
		out = append(out, ringOrigin{"cities", CellOf(p, res)})
	}
	for i := 0; i < random; i++ {
		out = append(out, ringOrigin{"random", CellOf(randomOnSphere(rnd), res)})
	}
	pents := h3.Pentagons(res)
	for _, k := range []int{1, 2, 3} {
		p := pents[rnd.IntN(len(pents))]
		ring := h3.GridDiskDistances(p, k)[k]
		out = append(out, ringOrigin{"beside pentagons", Cell(ring[rnd.IntN(len(ring))])})
	}
	for i := 0; i < 3; i++ {
		out = append(out, ringOrigin{"pentagons", Cell(pents[rnd.IntN(len(pents))])})
	}
	return out
}

// byClass groups origins by class, in first-seen order.
func byClass(origins []ringOrigin) (classes []string, cells map[string][]Cell) {
	cells = map[string][]Cell{}
	for _, o := range origins {
		if cells[o.class] == nil {
			classes = append(classes, o.class)
		}
		cells[o.class] = append(cells[o.class], o.cell)
	}
	return classes, cells
}

// TestRingsWithin: every point within km of a point in the origin cell lies in a cell no
// more than Within(km) rings out. Sampled at the far edge of the radius, from points at
// the origin cell's corners.
func TestRingsWithin(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	for res := 7; res <= 10; res++ {
		classes, origins := byClass(ringOrigins(rnd, res, 12))
		for _, class := range classes {
			t.Run(fmt.Sprintf("res %d/%s", res, class), func(t *testing.T) {
				for _, origin := range origins[class] {
					checkWithin(t, rnd, origin)
				}
			})
		}
	}
}

func checkWithin(t *testing.T, rnd *rand.Rand, origin Cell) {
	t.Helper()
	res := origin.Resolution()
	rings := NewRings(origin)
	for _, km := range []float64{0.5, 0.5 + 4.5*rnd.Float64(), 3, 5} {
		k := rings.Within(km)
		if k < 0 {
			t.Fatalf("Within(%v) = %d", km, k)
		}
		// GridDisk holds exactly the cells at grid distance <= k. (h3-go's GridDistance
		// reports 0 when H3 cannot compute a distance, near pentagons, so the disk is the
		// robust form of "GridDistance <= k".)
		disk := map[Cell]bool{}
		for _, c := range h3.GridDisk(h3.Cell(origin), k) {
			disk[Cell(c)] = true
		}
		for _, p := range pointsIn(rnd, origin, 6) {
			for i := 0; i < 40; i++ {
				d := km
				if i%2 == 1 {
					d = km * (1 - 0.3*rnd.Float64())
				}
				q := destination(p, rnd.Float64()*360, d)
				cq := CellOf(q, res)
				if !disk[cq] {
					gd := h3.GridDistance(h3.Cell(origin), h3.Cell(cq))
					t.Fatalf("res %d origin %v (pentagon %v): a point %.4f km from %v lies in %v, %d rings out; Within(%v) = %d",
						res, origin, h3.Cell(origin).IsPentagon(), DistanceKM(p, q), p, cq, gd, km, k)
				}
			}
		}
	}
}

// arcDistanceKM is the shortest distance from p to the great-circle arc a-b.
func arcDistanceKM(p, a, b vec) float64 {
	n := a.cross(b)
	if n.norm() == 0 {
		return min(arcKM(p, a), arcKM(p, b))
	}
	n = n.scale(1 / n.norm())
	proj := p.add(n.scale(-p.dot(n)))
	if a.cross(proj).dot(n) >= 0 && proj.cross(b).dot(n) >= 0 {
		return math.Asin(min(1, math.Abs(p.dot(n)))) * EarthRadiusKM
	}
	return min(arcKM(p, a), arcKM(p, b))
}

// polygonDistanceKM is the shortest distance between two disjoint cells: attained
// between a vertex of one and an edge of the other (H3 edges are great-circle arcs
// between the boundary's vertices).
func polygonDistanceKM(a, b []vec) float64 {
	d := math.Inf(1)
	for _, pair := range [2][2][]vec{{a, b}, {b, a}} {
		pts, poly := pair[0], pair[1]
		for _, p := range pts {
			for i := range poly {
				d = min(d, arcDistanceKM(p, poly[i], poly[(i+1)%len(poly)]))
			}
		}
	}
	return d
}

func boundaryVecs(c Cell) []vec {
	var out []vec
	for _, p := range c.Boundary() {
		out = append(out, toVec(p))
	}
	return out
}

// reachKM is how far c reaches from its centre: the furthest vertex (over an arc the
// distance from a point is largest at an end).
func reachKM(c Cell) float64 {
	center := toVec(c.Center())
	r := 0.0
	for _, v := range boundaryVecs(c) {
		r = max(r, arcKM(center, v))
	}
	return r
}

// TestRingsLowerBound: LowerBoundKM(j) never exceeds the true shortest distance between
// the origin cell and a cell j rings out. Cells are visited nearest centre first; a cell
// whose centre distance minus both reaches (a lower bound on the true distance) is at
// least the bound and the nearest cell found so far is cleared; the rest get the exact
// polygon distance. Points sampled in the nearest cell of each ring double-check.
func TestRingsLowerBound(t *testing.T) {
	rnd := rand.New(rand.NewPCG(13, 14))
	for res := 7; res <= 10; res++ {
		random := 10
		if res == 10 {
			random = 4
		}
		classes, origins := byClass(ringOrigins(rnd, res, random))
		for _, class := range classes {
			t.Run(fmt.Sprintf("res %d/%s", res, class), func(t *testing.T) {
				worst := 0.0 // the largest LowerBoundKM(j) / true distance, for the log
				for _, origin := range origins[class] {
					worst = max(worst, checkLowerBound(t, rnd, origin))
				}
				t.Logf("tightest LowerBoundKM / true distance: %.3f", worst)
			})
		}
	}
}

func checkLowerBound(t *testing.T, rnd *rand.Rand, origin Cell) (worst float64) {
	t.Helper()
	res := origin.Resolution()
	rings := NewRings(origin)
	center, reach, poly := toVec(origin.Center()), reachKM(origin), boundaryVecs(origin)
	originPoints := pointsIn(rnd, origin, 8)
	prev := -1.0
	for j, ring := range h3.GridDiskDistances(h3.Cell(origin), rings.Within(5)+2) {
		lb := rings.LowerBoundKM(j)
		if lb < 0 || lb < prev || (j <= 1 && lb != 0) {
			t.Fatalf("LowerBoundKM(%d) = %v after %v: must start at 0 and never fall", j, lb, prev)
		}
		prev = lb
		if j == 0 {
			continue
		}
		type cand struct {
			c     Cell
			cheap float64
		}
		cands := make([]cand, len(ring))
		for i, hc := range ring {
			c := Cell(hc)
			cands[i] = cand{c, arcKM(center, toVec(c.Center())) - reach - reachKM(c)}
		}
		slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.cheap, b.cheap) })
		ringMin, nearest := math.Inf(1), Cell(0)
		for _, cd := range cands {
			if cd.cheap >= lb && cd.cheap >= ringMin {
				break // this cell and every later one are at least this far
			}
			d := polygonDistanceKM(poly, boundaryVecs(cd.c))
			if d < ringMin {
				ringMin, nearest = d, cd.c
			}
			if d < lb-1e-9 {
				t.Fatalf("res %d origin %v (pentagon %v): cell %v is %d rings out and %.5f km away; LowerBoundKM(%d) = %.5f",
					res, origin, h3.Cell(origin).IsPentagon(), cd.c, j, d, j, lb)
			}
		}
		if j >= 2 {
			worst = max(worst, lb/ringMin)
		}
		// Points actually in the origin and the nearest cell of the ring.
		for _, q := range pointsIn(rnd, nearest, 8) {
			for _, p := range originPoints {
				if d := DistanceKM(p, q); d < lb-1e-9 {
					t.Fatalf("res %d origin %v: %v (in %v, %d rings out) is %.5f km from %v; LowerBoundKM(%d) = %.5f",
						res, origin, q, nearest, j, d, p, j, lb)
				}
			}
		}
	}
	return worst
}

// TestRingsArithmetic pins Within and LowerBoundKM to each other: Within(km) is the last
// ring whose lower bound is within km.
func TestRingsArithmetic(t *testing.T) {
	rnd := rand.New(rand.NewPCG(15, 16))
	for res := 6; res <= 11; res++ {
		origin := CellOf(randomOnSphere(rnd), res)
		r := NewRings(origin)
		for i := 0; i < 200; i++ {
			km := rnd.Float64() * 6
			k := r.Within(km)
			if k < 1 {
				t.Fatalf("Within(%v) = %d: the neighbours of the origin are always candidates", km, k)
			}
			if r.LowerBoundKM(k) > km+1e-9 {
				t.Fatalf("Within(%v) = %d but LowerBoundKM(%d) = %v > km", km, k, k, r.LowerBoundKM(k))
			}
			if r.LowerBoundKM(k+1) <= km-1e-9 {
				t.Fatalf("Within(%v) = %d but ring %d may hold points %v km away", km, k, k+1, r.LowerBoundKM(k+1))
			}
			if k2 := r.Within(km + 0.5); k2 < k {
				t.Fatalf("Within shrinks: %d then %d", k, k2)
			}
		}
	}
}

func TestResolutionsValidate(t *testing.T) {
	tests := []struct {
		give Resolutions
		want bool
	}{
		{DefaultResolutions(), true},
		{Resolutions{Index: 9, Surge: 7, Region: 4}, true},
		{Resolutions{Index: 0, Surge: 0, Region: 0}, true},
		{Resolutions{Index: 15, Surge: 15, Region: 15}, true},
		{Resolutions{Index: 10, Surge: 10, Region: 3}, true},
		{Resolutions{Index: 9, Surge: 7, Region: 8}, false},
		{Resolutions{Index: 6, Surge: 7, Region: 4}, false},
		{Resolutions{Index: 16, Surge: 7, Region: 4}, false},
		{Resolutions{Index: 9, Surge: 7, Region: -1}, false},
		{Resolutions{Index: -1, Surge: -1, Region: -1}, false},
		{Resolutions{}, true},
	}
	for _, tt := range tests {
		err := tt.give.Validate()
		if (err == nil) != tt.want {
			t.Errorf("%+v.Validate() = %v, want valid %v", tt.give, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrResolution) {
			t.Errorf("%+v.Validate() = %v, does not wrap ErrResolution", tt.give, err)
		}
	}
	if d := DefaultResolutions(); d != (Resolutions{Index: 9, Surge: 7, Region: 4}) {
		t.Errorf("DefaultResolutions() = %+v, documented 9/7/4", d)
	}
}

func TestResolutionsCells(t *testing.T) {
	rnd := rand.New(rand.NewPCG(17, 18))
	all := []Resolutions{DefaultResolutions(), {Index: 10, Surge: 8, Region: 5}, {Index: 15, Surge: 9, Region: 0}, {Index: 7, Surge: 7, Region: 7}}
	for i := 0; i < 3000; i++ {
		p := randomOnSphere(rnd)
		if i%3 == 0 {
			p = destination(bandraStation, rnd.Float64()*360, rnd.Float64()*40)
		}
		for _, r := range all {
			index, surge, region := r.Cells(p)
			if index != CellOf(p, r.Index) || index.Resolution() != r.Index {
				t.Fatalf("%+v.Cells(%v) index %v, want %v", r, p, index, CellOf(p, r.Index))
			}
			if surge != Cell(h3.Cell(index).Parent(r.Surge)) || surge.Resolution() != r.Surge {
				t.Fatalf("%+v.Cells(%v) surge %v is not the index cell's ancestor", r, p, surge)
			}
			if region != Cell(h3.Cell(index).Parent(r.Region)) || region != surge.Parent(r.Region) || region.Resolution() != r.Region {
				t.Fatalf("%+v.Cells(%v) region %v is not the index and surge cells' ancestor", r, p, region)
			}
		}
	}
}
