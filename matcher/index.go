package matcher

import (
	"math"

	"ridematch/event"
	"ridematch/geo"
)

// index holds the drivers that may be matched, by H3 cell and, within a cell, by vehicle
// type, with what the search needs to skip a cell or a vehicle list without looking at
// its drivers: the cell's centre and outer radius, and each list's best rating.
type index struct {
	cells   map[geo.Cell]bucketRef
	buckets table[bucket, bucketRef]
	shared  *Shared
	drivers *table[driver, driverRef] // the partition's, where the entries' drivers are
	// writes counts the entries added or refreshed, and each area the last of them
	// within it, by vehicle: a waiting request's search, which found no one, can only
	// find someone once an entry within its reach has been written (the clock only makes
	// entries staler), so a retry with no write since in the areas it reaches is skipped.
	writes  uint64
	areaOfs map[geo.Cell]areaRef
	areas   []area
	areaRes int
	// widest is the outer radius of the widest cell a bucket has had, in km.
	widest float64
}

// bucketRef is a bucket's place in the index's table; areaRef an area's in its list.
type (
	bucketRef int32
	areaRef   int32
)

// area is a coarse cell (one resolution above the index's): the last write there, by
// vehicle.
type area struct{ written [nVehicles]uint64 }

// areaOf returns the area holding index cell c, made on first use.
func (x *index) areaOf(c geo.Cell) areaRef {
	key := c.Parent(x.areaRes)
	a, ok := x.areaOfs[key]
	if !ok {
		a = areaRef(len(x.areas))
		x.areas = append(x.areas, area{})
		x.areaOfs[key] = a
	}
	return a
}

// wrote records a write of a v entry in b.
func (x *index) wrote(b *bucket, v event.Vehicle) {
	x.writes++
	x.areas[b.area].written[v] = x.writes
}

// writtenSince reports whether any of areas has had a write of a vehicle in vehicles
// after the index's write count was since.
func (x *index) writtenSince(areas []areaRef, vehicles [nVehicles]bool, since uint64) bool {
	for _, a := range areas {
		for v := 1; v < nVehicles; v++ {
			if vehicles[v] && x.areas[a].written[v] > since {
				return true
			}
		}
	}
	return false
}

type cellGeom struct {
	lat, lng, cosLat float64
	radiusKM         float64 // from the centre to the farthest vertex
}

type bucket struct {
	cell      geo.Cell
	area      areaRef
	geom      cellGeom
	drivers   [nVehicles][]entry
	maxRating [nVehicles]float32
	n         int
}

// entry is a driver as the search scans it: what decides whether it can win, kept in the
// bucket so that scanning reads contiguous memory; only a driver that may win is followed
// to its struct. Coordinates are float32 (a metre at worst), used only to skip drivers
// with a margin; the winner's distance is computed from the exact position. It holds no
// pointer, so the collector does not scan a list of them.
type entry struct {
	lat, lng float32
	rating   float32
	ref      driverRef
	ts       event.Time
}

func entryOf(d *driver) entry {
	return entry{lat: float32(d.pos.Lat), lng: float32(d.pos.Lng), rating: float32(d.rating), ts: d.ts, ref: d.ref}
}

// nVehicles is one more than the largest event.Vehicle, so vehicles index arrays.
const nVehicles = int(event.Auto) + 1

func newIndex(shared *Shared, res int) index {
	return index{cells: make(map[geo.Cell]bucketRef), shared: shared, areaOfs: make(map[geo.Cell]areaRef), areaRes: max(0, res-1)}
}

func geomOf(c geo.Cell) cellGeom {
	center := c.Center()
	return cellGeom{lat: center.Lat, lng: center.Lng, cosLat: math.Cos(center.Lat * math.Pi / 180), radiusKM: geo.RadiusKM(c)}
}

// add puts d in the bucket of its cell and vehicle, remembering where.
func (x *index) add(d *driver) {
	r, ok := x.cells[d.cell]
	var b *bucket
	if ok {
		b = x.buckets.at(r)
	} else {
		r, b = x.buckets.alloc()
		*b = bucket{cell: d.cell, area: x.areaOf(d.cell), geom: x.shared.geom(d.cell)}
		x.cells[d.cell] = r
		x.widest = max(x.widest, b.geom.radiusKM)
	}
	v := d.vehicle
	d.ibucket, d.ivehicle = r, v
	d.slot = int32(len(b.drivers[v]))
	b.drivers[v] = append(b.drivers[v], entryOf(d))
	x.wrote(b, v)
	b.maxRating[v] = max(b.maxRating[v], float32(d.rating))
	b.n++
}

// update refreshes d's entry where it is.
func (x *index) update(d *driver) {
	b := x.buckets.at(d.ibucket)
	e := &b.drivers[d.ivehicle][d.slot]
	old := e.rating
	*e = entryOf(d)
	x.wrote(b, d.ivehicle)
	// Ratings are compared as stored, in float32, so an unchanged rating never recounts.
	if e.rating > b.maxRating[d.ivehicle] {
		b.maxRating[d.ivehicle] = e.rating
	} else if e.rating < old && old == b.maxRating[d.ivehicle] {
		b.recount(d.ivehicle)
	}
}

// remove takes d out of the bucket it was added to.
func (x *index) remove(d *driver) {
	b := x.buckets.at(d.ibucket)
	v := d.ivehicle
	list := b.drivers[v]
	last := len(list) - 1
	rating := list[d.slot].rating
	list[d.slot] = list[last]
	x.drivers.at(list[d.slot].ref).slot = d.slot
	list[last] = entry{}
	b.drivers[v] = list[:last]
	if b.n--; b.n == 0 {
		delete(x.cells, b.cell)
		x.buckets.release(d.ibucket)
	} else if rating >= b.maxRating[v] {
		b.recount(v)
	}
	d.slot, d.ibucket = -1, 0
}

func (b *bucket) recount(v event.Vehicle) {
	var m float32
	for _, e := range b.drivers[v] {
		m = max(m, e.rating)
	}
	b.maxRating[v] = m
}

// approxKM is the distance between two nearby points on the equirectangular projection
// about the first, whose cosine of latitude is cosLat. Within the few kilometres of a
// search it is within 0.5% of the great-circle distance, plus a metre.
func approxKM(lat, lng, cosLat float64, p geo.Point) float64 {
	dy := (p.Lat - lat) * (math.Pi / 180 * geo.EarthRadiusKM)
	dx := (p.Lng - lng) * (math.Pi / 180 * geo.EarthRadiusKM) * cosLat
	return math.Sqrt(dx*dx + dy*dy)
}

// float32Slack and ratingSlack cover the rounding of an entry's coordinates (under 2 m
// anywhere on Earth) and rating to float32.
const (
	float32Slack = 0.002
	ratingSlack  = 1e-6
)

// approxSlack bounds how much approxKM can overstate a distance of up to a few km: it is
// subtracted before a bound is trusted, so no driver is skipped that could win.
func approxSlack(km float64) float64 { return 0.005*km + 0.001 }

// candidate is a driver a search found for a request, with its pickup distance and score.
type candidate struct {
	d           *driver
	dist, score float64
}

// ranking keeps a search's best k candidates, best first: by score, then nearer, then
// smaller driver id.
type ranking struct {
	k    int
	list []candidate
}

// reset empties the ranking for a search that keeps k.
func (rk *ranking) reset(k int) {
	clear(rk.list)
	rk.k, rk.list = k, rk.list[:0]
}

// bar is the score a candidate must reach to be kept, and whether there is one: none
// until k are kept. A candidate at the bar may still be kept by distance or id.
func (rk *ranking) bar() (float64, bool) {
	if len(rk.list) < rk.k {
		return 0, false
	}
	return rk.list[len(rk.list)-1].score, true
}

// reaches reports whether a driver at least km away with at most rating could score at
// least the bar (ties are decided by distance and id, so they must be seen).
func (rk *ranking) reaches(w Weights, km, rating float64, compatible bool) bool {
	bar, full := rk.bar()
	if !full {
		return true
	}
	s := w.Base - w.DistancePerKM*km + w.Rating*(rating-w.RatingPivot)
	if compatible {
		s += w.Compatible
	}
	return max(0, s) >= bar
}

// search is the ring search of every assignment: outward from the pickup's cell (H3
// GridDisk, ring by ring), keeping the best k candidates (see ranking). It skips a ring,
// a cell or a vehicle list when even a driver at its nearest possible point with its
// best rating could not reach the bar, and stops at the first ring that can hold no one
// who could.
func (p *Partition) search(r *request, k int) []candidate {
	rk := &p.ranking
	rk.reset(k)
	dk := p.shared.diskAround(r.origin, p.cfg.MaxPickupKM, 0)
	w := p.cfg.Weights
	maxKM := p.cfg.MaxPickupKM
	bonus := w.Rating*(5-w.RatingPivot) + w.Compatible // the most rating and compatibility can add
	pickup := r.Pickup
	cosLat := math.Cos(pickup.Lat * math.Pi / 180)
	vehicles := p.vehiclesFor(r)
	beats := func(km, rating float64, compatible bool) bool { return rk.reaches(w, km, rating, compatible) }
	for j := 0; ; j++ {
		if j >= len(dk.cells) {
			if len(dk.cells) >= dk.full {
				break
			}
			dk = p.shared.diskAround(r.origin, p.cfg.MaxPickupKM, j+1)
		}
		if bar, full := rk.bar(); full && w.Base-w.DistancePerKM*dk.rings.LowerBoundKM(j)+bonus < bar {
			break
		}
		for _, c := range dk.cells[j] {
			ref, ok := p.index.cells[c]
			if !ok {
				continue
			}
			b := p.index.buckets.at(ref)
			// The nearest any point of the cell can be to the pickup.
			near := approxKM(b.geom.lat, b.geom.lng, cosLat, pickup) - b.geom.radiusKM
			near -= approxSlack(near + b.geom.radiusKM)
			if near > maxKM {
				continue
			}
			for v := 1; v < nVehicles; v++ {
				if !vehicles[v] || len(b.drivers[v]) == 0 {
					continue
				}
				compatible := r.RideType.Compatible(event.Vehicle(v))
				if !beats(max(0, near), float64(b.maxRating[v])+ratingSlack, compatible) {
					continue
				}
				list := b.drivers[v]
				for i := range list {
					e := &list[i]
					if p.clock.Sub(e.ts) > p.cfg.DriverTTL {
						continue
					}
					approx := approxKM(pickup.Lat, pickup.Lng, cosLat, geo.Point{Lat: float64(e.lat), Lng: float64(e.lng)})
					if lo := approx - approxSlack(approx) - float32Slack; lo > maxKM || !beats(lo, float64(e.rating)+ratingSlack, compatible) {
						continue
					}
					d := p.table.at(e.ref)
					if r.tried != nil && r.hasTried(p.nameOf(d)) {
						continue
					}
					dist := geo.DistanceKM(pickup, d.pos)
					if dist > maxKM {
						continue
					}
					p.rank(rk, candidate{d: d, dist: dist, score: w.Score(dist, d.rating, compatible)})
				}
			}
		}
	}
	return rk.list
}

// rank offers c to the ranking rk.
func (p *Partition) rank(rk *ranking, c candidate) {
	i := len(rk.list)
	for i > 0 && p.better(c, rk.list[i-1]) {
		i--
	}
	if i >= rk.k {
		return
	}
	if len(rk.list) < rk.k {
		rk.list = append(rk.list, candidate{})
	}
	copy(rk.list[i+1:], rk.list[i:])
	rk.list[i] = c
}

// better is the search's order: higher score, then nearer, then smaller driver id.
func (p *Partition) better(a, b candidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.dist != b.dist {
		return a.dist < b.dist
	}
	return p.nameOf(a.d) < p.nameOf(b.d)
}

// best is the request's best candidate, if any: the greedy choice.
func (p *Partition) best(r *request) (candidate, bool) {
	if list := p.search(r, 1); len(list) > 0 {
		return list[0], true
	}
	return candidate{}, false
}
