package geo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/uber/h3-go/v4"
)

// Cell is an H3 cell index.
type Cell uint64

// ErrResolution is returned for resolutions H3 does not have or that do not nest.
var ErrResolution = errors.New("invalid H3 resolution")

// CellOf returns the cell at res that contains p.
func CellOf(p Point, res int) Cell {
	return Cell(h3.LatLngToCell(h3.LatLng{Lat: p.Lat, Lng: p.Lng}, res))
}

// The H3 index layout: the resolution in bits 52-55, then one 3-bit digit per resolution
// 1..15, digit r at bit 3*(15-r); digits finer than the cell's resolution are all 7.
const (
	resShift  = 52
	resMask   = uint64(0xf) << resShift
	digitBits = 3
)

// Parent returns c's ancestor at res, or c itself when res is not coarser. It is plain bit
// arithmetic on the index (no cgo), as cheap as the hot path needs.
func (c Cell) Parent(res int) Cell {
	cur := c.Resolution()
	if res >= cur || res < 0 {
		return c
	}
	v := uint64(c)&^resMask | uint64(res)<<resShift
	for r := res + 1; r <= cur; r++ {
		v |= 7 << ((15 - r) * digitBits)
	}
	return Cell(v)
}

// Resolution is c's H3 resolution.
func (c Cell) Resolution() int { return int(uint64(c) & resMask >> resShift) }

// Center is c's centroid.
func (c Cell) Center() Point {
	ll := h3.Cell(c).LatLng()
	return Point{Lat: ll.Lat, Lng: ll.Lng}
}

// Boundary returns c's vertices, counter-clockwise.
func (c Cell) Boundary() []Point {
	b := h3.Cell(c).Boundary()
	out := make([]Point, len(b))
	for i, ll := range b {
		out[i] = Point{Lat: ll.Lat, Lng: ll.Lng}
	}
	return out
}

// Valid reports whether c is a valid H3 cell.
func (c Cell) Valid() bool { return h3.Cell(c).IsValid() }

// String is the canonical 15-hex-digit H3 form.
func (c Cell) String() string { return h3.Cell(c).String() }

// AppendText appends c's canonical form to b.
func (c Cell) AppendText(b []byte) []byte {
	const hex = "0123456789abcdef"
	v := uint64(c)
	start := len(b)
	for i := 60; i >= 0; i -= 4 {
		d := (v >> uint(i)) & 0xf
		if len(b) == start && d == 0 && i > 0 {
			continue
		}
		b = append(b, hex[d])
	}
	return b
}

// MarshalText makes a Cell read as its canonical form in JSON.
func (c Cell) MarshalText() ([]byte, error) { return c.AppendText(nil), nil }

// ParseCell parses the canonical form.
func ParseCell(s string) (Cell, error) {
	c := Cell(h3.IndexFromString(s))
	if !c.Valid() {
		return 0, fmt.Errorf("%q is not an H3 cell", s)
	}
	return c, nil
}

// Disk returns the cells within grid distance k of origin, grouped by distance: Disk(o,
// k)[j] holds the cells exactly j steps away (H3's GridDisk, distances kept).
func Disk(origin Cell, k int) [][]Cell {
	rings := h3.GridDiskDistances(h3.Cell(origin), k)
	out := make([][]Cell, len(rings))
	for j, ring := range rings {
		out[j] = make([]Cell, 0, len(ring))
		for _, c := range ring {
			// About a pentagon, H3 leaves the slots of the cells a pentagon lacks as 0,
			// which come back as distance 0.
			if c != 0 {
				out[j] = append(out[j], Cell(c))
			}
		}
	}
	return out
}

// MinEdgeKM is the shortest edge of c. H3 cells of one resolution differ in size by up to
// about two times across the globe, so ring arithmetic uses the local edge, not the average.
func MinEdgeKM(c Cell) float64 {
	m := math.Inf(1)
	for _, e := range h3.Cell(c).DirectedEdges() {
		m = min(m, h3.EdgeLengthKm(e))
	}
	return m
}

// Rings bounds ring search around a cell whose shortest edge is edgeKM. A point in the
// origin cell and a point in a cell j rings out are at least (1.5j - 2) edges apart
// (neighbouring centres are at least 1.5 edges apart, and each point lies within one edge
// of its centre); a factor covers the shape distortion between neighbouring cells: 0.85
// around hexagons (the worst measured is 0.867), 0.8 around H3's twelve pentagons, whose
// neighbourhoods are more distorted (see TestRingsLowerBound).
type Rings struct{ edgeKM float64 }

// NewRings returns the ring arithmetic around origin.
func NewRings(origin Cell) Rings {
	f := 0.85
	if h3.Cell(origin).IsPentagon() {
		f = 0.8
	}
	return Rings{edgeKM: f * MinEdgeKM(origin)}
}

// Within returns how many rings out a point within km of the origin cell can lie.
func (r Rings) Within(km float64) int { return int((km + 2*r.edgeKM) / (1.5 * r.edgeKM)) }

// LowerBoundKM is how close a point j rings out can be to a point in the origin cell.
func (r Rings) LowerBoundKM(j int) float64 { return max(0, (1.5*float64(j)-2)*r.edgeKM) }

// Resolutions are the three H3 resolutions ridematch works at.
type Resolutions struct {
	// Index is where drivers are indexed for ring search (default 9, edges of about 0.17 km).
	Index int
	// Surge is where supply and demand are counted (default 7, about 5 km² a cell).
	Surge int
	// Region is what the router partitions by (default 4, about 1,800 km² a cell).
	Region int
}

// DefaultResolutions are the defaults documented on Resolutions.
func DefaultResolutions() Resolutions { return Resolutions{Index: 9, Surge: 7, Region: 4} }

// Validate checks 0 <= Region <= Surge <= Index <= 15: each coarser cell must be an
// ancestor of the finer one, so a surge cell never straddles two regions.
func (r Resolutions) Validate() error {
	if r.Region < 0 || r.Region > r.Surge || r.Surge > r.Index || r.Index > 15 {
		return fmt.Errorf("%w: need 0 <= region (%d) <= surge (%d) <= index (%d) <= 15", ErrResolution, r.Region, r.Surge, r.Index)
	}
	return nil
}

// Cells returns p's index cell, its surge and region ancestors. Deriving the coarser cells
// as ancestors (not from p directly) keeps the three consistent: H3 children do not nest
// exactly inside their parent's outline.
func (r Resolutions) Cells(p Point) (index, surge, region Cell) {
	index = CellOf(p, r.Index)
	return index, index.Parent(r.Surge), index.Parent(r.Region)
}

// Locator finds the cell of points that move a little at a time, such as drivers: while a
// point stays in the cell it was last in (nearly always, between two GPS fixes), it is
// checked against the cell's outline, named in its Fix, instead of calling H3, some ten
// times cheaper (BenchmarkLocate). A point that leaves through an edge is tried in the
// cell last found beyond that edge before H3 is asked, so a driver crossing into a
// neighbouring cell seldom costs a call either. Outlines are made once per cell and
// shared, so one Locator serves all the goroutines of a process: it is safe for
// concurrent use.
//
// The outlines live in chunks without pointers, and a Fix names its outline by place,
// not by pointer: a hundred thousand drivers' fixes give the garbage collector nothing to
// follow (BenchmarkCollectEngine in bench). Past limit outlines the Locator starts a new
// generation of chunks; a Fix of an older one still places points in its circle, and
// asks H3 for the rest.
type Locator struct {
	res    int
	mu     sync.RWMutex            // guards places, gen and made
	places map[Cell]uint32         // each outline's place in this generation, from 1
	gen    uint32                  // the generation outlines are made in
	made   int                     // outlines made in this generation
	chunks []atomic.Pointer[chunk] // limit/chunkLen of them
	calls  atomic.Uint64           // points H3 was asked to place
}

// chunk holds chunkLen outlines of one generation. An outline is written once, before
// its place is known to any other goroutine; only its across changes after.
type chunk struct {
	gen      uint32
	outlines [chunkLen]outline
}

// chunkLen is the outlines in a chunk, some 100 KB of them.
const chunkLen = 256

// Fix is where a point was found: its cell, with the place of the cell's outline to check
// the next point against. The zero Fix is no position. A Fix belongs to the Locator that
// made it.
//
// It also holds, inline, a circle about the cell's centre well inside the cell, in
// float32s: most next points fall in it, and are placed without reaching the outline,
// which lives elsewhere in memory (a cache miss, for a driver seen seconds ago among a
// hundred thousand). float32 misplaces the centre by under 2 m at any longitude; the
// circle is shrunk by more than that.
type Fix struct {
	Cell               Cell
	gen, place         uint32 // the outline's generation and place (0: none)
	lat, lng, cosLat32 float32
	near2              float32 // squared radius of the circle, km²
}

// outline is a cell's shape in kilometres east and north of its centre, in an
// equirectangular projection: linear in latitude and longitude (the longitude taken the
// short way round, across ±180° too), so a polygon's straight edges stay straight. A
// cell's edges are great-circle arcs, which that projection bends: each edge is moved in
// by twice the bend measured at its midpoint, plus a margin, so that a point the outline
// holds is in the cell, and one it is unsure of goes to H3. Near a pole the projection
// fails; a cell with a vertex within two degrees of one has no edges, and every point
// goes to H3.
type outline struct {
	cell     Cell
	lat, lng float64 // the centre
	cosLat   float64
	inner    float64 // radius of a circle about the centre inside the cell (a Fix's near)
	// The edges, counter-clockwise: a point is inside when, for every edge e,
	// e.nx*x + e.ny*y > e.c; (nx, ny) is the inward unit normal, and c includes the
	// margin. The n of them are held inline, each edge's three numbers side by side.
	n     int
	edges [maxBoundary]edge
	// across holds, for each edge, the cell a point leaving through it was last found in
	// (0 if none yet): nearly always the neighbour on the other side. It is only a guess,
	// checked against that cell's outline, so a stale or racing one costs a call to H3,
	// never a wrong cell.
	across [maxBoundary]atomic.Uint64
}

type edge struct{ nx, ny, c float64 }

// maxBoundary is the most vertices an H3 cell boundary has (H3's MAX_CELL_BNDRY_VERTS).
const maxBoundary = 10

// NewLocator returns a Locator for cells of resolution res.
func NewLocator(res int) *Locator { return newLocator(res, maxOutlines) }

// newLocator returns a Locator that keeps at most limit outlines (a multiple of chunkLen).
func newLocator(res, limit int) *Locator {
	return &Locator{res: res, places: make(map[Cell]uint32), chunks: make([]atomic.Pointer[chunk], limit/chunkLen)}
}

const (
	kmPerDegLat  = 110.574
	kmPerDegLng0 = 111.320
	marginKM     = 0.002
	// maxOutlines bounds the outlines a Locator keeps, some 100 MB at 392 bytes each;
	// past it, it starts afresh.
	maxOutlines = 1 << 18
)

// Resolution is the resolution of the cells the Locator finds.
func (l *Locator) Resolution() int { return l.res }

// Locate returns the fix of p at the Locator's resolution; last is the fix of the
// point's previous position (the zero Fix if none).
func (l *Locator) Locate(p Point, last Fix) Fix {
	exit := -1
	var o *outline
	if last.place != 0 {
		if last.near(p) {
			return last
		}
		if o = l.outlineOf(last); o != nil {
			if exit = o.exit(p); exit < 0 {
				return last
			}
			if c := Cell(o.across[exit].Load()); c != 0 && c != last.Cell {
				if f, next := l.cached(c); next != nil && next.exit(p) < 0 {
					return f
				}
			}
		}
	}
	l.calls.Add(1)
	c := CellOf(p, l.res)
	f := l.fix(c)
	if exit >= 0 && c != last.Cell && o.across[exit].Load() != uint64(c) {
		o.across[exit].Store(uint64(c))
	}
	return f
}

// outlineOf is the outline f names, or nil if it names none or one of an older
// generation.
func (l *Locator) outlineOf(f Fix) *outline {
	i := int(f.place) - 1
	if i < 0 || i/chunkLen >= len(l.chunks) {
		return nil
	}
	ch := l.chunks[i/chunkLen].Load()
	if ch == nil || ch.gen != f.gen {
		return nil
	}
	if o := &ch.outlines[i%chunkLen]; o.cell == f.Cell {
		return o
	}
	return nil
}

// cached is the fix of c's outline, and the outline, if the Locator has made it; else
// nil.
func (l *Locator) cached(c Cell) (Fix, *outline) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	place := l.places[c]
	if place == 0 {
		return Fix{}, nil
	}
	return l.fixAt(place)
}

// fixAt is the fix of the outline at place, and the outline. l.mu must be held.
func (l *Locator) fixAt(place uint32) (Fix, *outline) {
	i := int(place) - 1
	o := &l.chunks[i/chunkLen].Load().outlines[i%chunkLen]
	r := max(0, o.inner-float32SlackKM)
	return Fix{Cell: o.cell, gen: l.gen, place: place, lat: float32(o.lat), lng: float32(o.lng), cosLat32: float32(o.cosLat), near2: float32(r * r)}, o
}

// fix is the fix of c, whose outline it makes if the Locator has not.
func (l *Locator) fix(c Cell) Fix {
	if f, o := l.cached(c); o != nil {
		return f
	}
	var made outline
	makeOutline(c, &made)
	l.mu.Lock()
	defer l.mu.Unlock()
	if place := l.places[c]; place != 0 {
		f, _ := l.fixAt(place)
		return f
	}
	if l.made == len(l.chunks)*chunkLen {
		l.gen++
		l.made = 0
		clear(l.places)
	}
	i := l.made
	if i%chunkLen == 0 {
		l.chunks[i/chunkLen].Store(&chunk{gen: l.gen})
	}
	o := &l.chunks[i/chunkLen].Load().outlines[i%chunkLen]
	o.cell, o.lat, o.lng, o.cosLat, o.inner, o.n, o.edges = made.cell, made.lat, made.lng, made.cosLat, made.inner, made.n, made.edges
	l.made++
	l.places[c] = uint32(i + 1)
	f, _ := l.fixAt(uint32(i + 1))
	return f
}

// float32SlackKM is how much closer to the centre than the outline's inner circle a point
// must be for the Fix's float32 circle to place it: more than float32 can misplace the
// centre (half a unit in the last place of 180°, 1.7 m) and the radius.
const float32SlackKM = 0.003

// near reports whether p is inside the Fix's circle, and so inside its cell.
func (f Fix) near(p Point) bool {
	y := (p.Lat - float64(f.lat)) * kmPerDegLat
	x := shortLng(p.Lng-float64(f.lng)) * kmPerDegLng0 * float64(f.cosLat32)
	return x*x+y*y < float64(f.near2)
}

// exit is -1 if p is inside the outline, else the edge p is farthest beyond: the one it
// most likely left through, where a point near a vertex is beyond two. An outline with
// no edges holds no point.
func (o *outline) exit(p Point) int {
	if o.n == 0 {
		return 0
	}
	x, y := o.project(p)
	exit, worst := -1, 0.0
	for i, e := range o.edges[:o.n] {
		if d := e.c - (e.nx*x + e.ny*y); d >= worst {
			exit, worst = i, d
		}
	}
	return exit
}

// shortLng is a difference of longitudes the short way round, in [-180, 180].
func shortLng(d float64) float64 {
	switch {
	case d > 180:
		return d - 360
	case d < -180:
		return d + 360
	}
	return d
}

// nearPoleDeg is how close to a pole a cell's vertex may be for the cell to have an
// outline.
const nearPoleDeg = 2

// makeOutline makes c's outline in o.
func makeOutline(c Cell, o *outline) {
	center := c.Center()
	o.cell, o.lat, o.lng, o.cosLat = c, center.Lat, center.Lng, math.Cos(center.Lat*degToRad)
	boundary := c.Boundary()
	for _, v := range boundary {
		if math.Abs(v.Lat) > 90-nearPoleDeg {
			return // no edges: every point goes to H3
		}
	}
	if area(boundary, o) < 0 { // they come counter-clockwise; make sure
		slices.Reverse(boundary)
	}
	o.n = len(boundary)
	inner := math.Inf(1)
	for i, a := range boundary {
		b := boundary[(i+1)%len(boundary)]
		xa, ya := o.project(a)
		xb, yb := o.project(b)
		ex, ey := xb-xa, yb-ya
		n := math.Hypot(ex, ey)
		// (nx, ny) is the inward unit normal; c is the line's offset, moved in by the
		// margin and twice the arc's bend at its midpoint, in either direction.
		nx, ny := -ey/n, ex/n
		xm, ym := o.project(arcMidpoint(a, b))
		bend := math.Abs(nx*(xm-xa) + ny*(ym-ya))
		in := marginKM + 2*bend
		o.edges[i] = edge{nx: nx, ny: ny, c: nx*xa + ny*ya + in}
		inner = min(inner, math.Abs(ex*ya-ey*xa)/n-in)
	}
	o.inner = max(0, inner-marginKM)
}

// project is p in the outline's projection: kilometres east and north of its centre.
func (o *outline) project(p Point) (x, y float64) {
	return shortLng(p.Lng-o.lng) * kmPerDegLng0 * o.cosLat, (p.Lat - o.lat) * kmPerDegLat
}

// area is twice the signed area of ps in o's projection: positive counter-clockwise.
func area(ps []Point, o *outline) float64 {
	a := 0.0
	for i, p := range ps {
		x0, y0 := o.project(p)
		x1, y1 := o.project(ps[(i+1)%len(ps)])
		a += x0*y1 - x1*y0
	}
	return a
}

// arcMidpoint is the midpoint of the great-circle arc from a to b.
func arcMidpoint(a, b Point) Point {
	ax, ay, az := unitVector(a)
	bx, by, bz := unitVector(b)
	x, y, z := ax+bx, ay+by, az+bz
	return Point{Lat: math.Atan2(z, math.Hypot(x, y)) / degToRad, Lng: math.Atan2(y, x) / degToRad}
}

func unitVector(p Point) (x, y, z float64) {
	lat, lng := p.Lat*degToRad, p.Lng*degToRad
	return math.Cos(lat) * math.Cos(lng), math.Cos(lat) * math.Sin(lng), math.Sin(lat)
}

// RadiusKM is the distance from c's centre to its farthest vertex.
func RadiusKM(c Cell) float64 {
	center, r := c.Center(), 0.0
	for _, v := range c.Boundary() {
		r = max(r, DistanceKM(center, v))
	}
	return r
}
