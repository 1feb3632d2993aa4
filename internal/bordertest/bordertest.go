// Package bordertest finds where a city's region-log partitions meet, by the router's own
// rule, for the tests of border-safe matching (issue 19): the engine's and the process
// tests put riders and drivers on either side of those borders. It is used by tests only.
//
// A point's region is what the router gives it: its index cell (resolution 9) and that
// cell's ancestor at the region resolution (4), whose partition is router.PartitionOf.
// H3 children do not nest exactly inside their parents, so that border is not the res-4
// hexagon's edge but a jagged line near it: every point this package returns is checked
// by the rule, not by the hexagon.
package bordertest

import (
	"fmt"
	"math"
	"slices"

	"ridematch/geo"
	"ridematch/router"
)

// Region is the router's region of p at the default resolutions.
func Region(p geo.Point) geo.Cell {
	_, _, region := geo.DefaultResolutions().Cells(p)
	return region
}

// Side is a region and the region-log partition that owns it.
type Side struct {
	Region    geo.Cell
	Partition int32
}

func (s Side) String() string { return fmt.Sprintf("%s (partition %d)", s.Region, s.Partition) }

// Crossing is a point of the border between two regions owned by different partitions,
// and the direction across it, from A to B.
type Crossing struct {
	A, B Side
	// At is on the border: the router puts points a few metres to one side in A, to the
	// other in B.
	At geo.Point
	// North and East are the unit normal of the res-4 edge, pointing from A into B.
	North, East float64
}

// Into returns the point km from the border along the normal: into B when km > 0, into A
// when km < 0.
func (c Crossing) Into(km float64) geo.Point {
	return geo.Offset(c.At, km*c.North, km*c.East)
}

// Holds reports whether every point at a distance in kms from the border, along the
// normal, lies on its side of it by the router's rule: in B for a positive distance, in A
// otherwise.
func (c Crossing) Holds(kms ...float64) bool {
	for _, km := range kms {
		want := c.B.Region
		if km <= 0 {
			want = c.A.Region
		}
		if Region(c.Into(km)) != want {
			return false
		}
	}
	return true
}

func (c Crossing) String() string {
	return fmt.Sprintf("%s | %s at (%.5f, %.5f)", c.A, c.B, c.At.Lat, c.At.Lng)
}

// Metro is a city's area: every point within RadiusKM of one of its places.
type Metro struct {
	Places   []geo.Point
	RadiusKM float64
}

// MetroOf is the area within radiusKM of the city's places.
func MetroOf(c geo.City, radiusKM float64) Metro {
	m := Metro{RadiusKM: radiusKM}
	for _, p := range c.Places {
		m.Places = append(m.Places, p.Point)
	}
	return m
}

// Reach is the distance from p to the nearest place.
func (m Metro) Reach(p geo.Point) float64 {
	d := math.Inf(1)
	for _, q := range m.Places {
		d = min(d, geo.DistanceKM(p, q))
	}
	return d
}

// Regions returns the regions the router gives the metro area's points, sampled every
// kilometre: the res-4 cells of the places and those of their neighbours that reach into
// the area. They come sorted.
func (m Metro) Regions() []geo.Cell {
	seen := map[geo.Cell]bool{}
	r := math.Ceil(m.RadiusKM)
	for _, p := range m.Places {
		for dn := -r; dn <= r; dn++ {
			for de := -r; de <= r; de++ {
				if q := geo.Offset(p, dn, de); geo.DistanceKM(p, q) <= m.RadiusKM {
					seen[Region(q)] = true
				}
			}
		}
	}
	out := make([]geo.Cell, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Pair is two neighbouring regions of the metro area, owned by different partitions, and
// crossings of their border, the closest to one of the area's places first.
type Pair struct {
	A, B      Side
	Crossings []Crossing
}

// Pairs returns every pair of the metro area's regions that share an edge (H3 ring 1) and
// sit on different partitions of a region log of n partitions, each with the crossings of
// its border at least 4 km from the edge's ends (where a third region starts) that leave
// room on both sides: the router puts every point from 3 km into A to 3 km into B, along
// the normal, on its side. A pair of regions that both reach into the area may share a
// border that lies outside it, out at sea or inland: its crossings are there.
func (m Metro) Pairs(n int32) []Pair {
	regions := m.Regions()
	var out []Pair
	for _, a := range regions {
		for _, b := range geo.Disk(a, 1)[1] {
			if b <= a || !slices.Contains(regions, b) {
				continue
			}
			pa, pb := router.PartitionOf(a, n), router.PartitionOf(b, n)
			if pa == pb {
				continue
			}
			p := Pair{A: Side{a, pa}, B: Side{b, pb}}
			p.Crossings = m.crossings(p.A, p.B)
			if len(p.Crossings) > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// crossings walks the res-4 edge a and b share, every half kilometre, and keeps the
// border points, found by bisection along the edge's normal, that qualify (see Pairs),
// the closest to a place first.
func (m Metro) crossings(a, b Side) []Crossing {
	v1, v2, ok := sharedEdge(a.Region, b.Region)
	if !ok {
		return nil
	}
	dn, de := planar(v1, v2)
	length := math.Hypot(dn, de)
	// The normal, turned towards b.
	nn, ne := -de/length, dn/length
	if cn, ce := planar(a.Region.Center(), b.Region.Center()); nn*cn+ne*ce < 0 {
		nn, ne = -nn, -ne
	}
	var out []Crossing
	for t := 4.0; t <= length-4; t += 0.5 {
		on := geo.Offset(v1, t*dn/length, t*de/length)
		c := Crossing{A: a, B: b, At: on, North: nn, East: ne}
		if !c.bisect() || !c.Holds(-3, -2, -1, -0.6, -0.3, -0.1, 0.1, 0.3, 0.6, 1, 2, 3) {
			continue
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(x, y Crossing) int { return cmpFloat(m.Reach(x.At), m.Reach(y.At)) })
	return out
}

// bisect moves At, along the normal, onto the router's border between A and B.
func (c *Crossing) bisect() bool {
	lo, hi := -3.0, 3.0
	if Region(c.Into(lo)) != c.A.Region || Region(c.Into(hi)) != c.B.Region {
		return false
	}
	for hi-lo > 1e-4 { // 10 cm
		mid := (lo + hi) / 2
		switch Region(c.Into(mid)) {
		case c.A.Region:
			lo = mid
		case c.B.Region:
			hi = mid
		default:
			return false
		}
	}
	c.At = c.Into((lo + hi) / 2)
	return true
}

// sharedEdge returns the two vertices the res-4 cells a and b have in common.
func sharedEdge(a, b geo.Cell) (v1, v2 geo.Point, ok bool) {
	var shared []geo.Point
	for _, p := range a.Boundary() {
		for _, q := range b.Boundary() {
			if geo.DistanceKM(p, q) < 0.01 {
				shared = append(shared, p)
				break
			}
		}
	}
	if len(shared) != 2 {
		return geo.Point{}, geo.Point{}, false
	}
	return shared[0], shared[1], true
}

// planar is b's offset from a, in km north and east: exact enough over an edge's length.
func planar(a, b geo.Point) (north, east float64) {
	const kmPerDeg = geo.EarthRadiusKM * math.Pi / 180
	mid := (a.Lat + b.Lat) / 2 * math.Pi / 180
	return (b.Lat - a.Lat) * kmPerDeg, (b.Lng - a.Lng) * kmPerDeg * math.Cos(mid)
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Spread picks crossings, one pair at a time and the pairs in turn, the closest to a place
// first, each at least apartKM from every one picked before and from avoid, until each
// pair has perPair or has no crossing left that is far enough.
func Spread(pairs []Pair, apartKM float64, perPair int, avoid ...geo.Point) []Crossing {
	taken := slices.Clone(avoid)
	var out []Crossing
	far := func(p geo.Point) bool {
		for _, q := range taken {
			if geo.DistanceKM(p, q) < apartKM {
				return false
			}
		}
		return true
	}
	for round := 0; round < perPair; round++ {
		for _, p := range pairs {
			for _, c := range p.Crossings {
				if far(c.At) {
					out = append(out, c)
					taken = append(taken, c.At)
					break
				}
			}
		}
	}
	return out
}
