package matcher

import (
	"sync"
	"time"

	"ridematch/geo"
	"ridematch/internal/memo"
)

// Shared is what the partitions of one process share: caches of geometry that costs H3
// calls to work out and never changes (the rings of cells around a pickup, cells' centres
// and sizes) and the time zones. Sharing them keeps a partition just assigned to an
// instance as fast as one that has run for hours. Nothing in it changes what a partition
// decides. It is safe for concurrent use.
type Shared struct {
	zones *geo.Zones

	mu    sync.RWMutex // guards disks
	disks map[diskKey]*disk
	rings *memo.Map[geo.Cell, geo.Rings]
	geoms *memo.Map[geo.Cell, cellGeom]
	local *memo.Map[geo.Cell, *time.Location]
}

type diskKey struct {
	origin geo.Cell
	maxKM  float64
}

// sharedCap bounds each cache; a full cache is emptied and refilled.
const sharedCap = 1 << 17

// NewShared returns empty caches and the time zones of geo.Cities.
func NewShared() *Shared {
	return &Shared{
		zones: geo.NewZones(),
		disks: make(map[diskKey]*disk),
		rings: memo.New[geo.Cell, geo.Rings](sharedCap),
		geoms: memo.New[geo.Cell, cellGeom](sharedCap),
		local: memo.New[geo.Cell, *time.Location](sharedCap),
	}
}

// disk is the cells around a pickup cell, ring by ring, as far as a search has needed;
// a disk only ever grows, so a reader may keep the one it got.
type disk struct {
	rings geo.Rings
	cells [][]geo.Cell // the rings computed so far
	full  int          // how many rings can hold a driver within the pickup distance
}

// diskAround returns the disk around origin for pickups up to maxKM, holding at least
// rings rings (0: the few a search in a busy area needs; they are cheap to compute, and
// most searches go no further).
func (s *Shared) diskAround(origin geo.Cell, maxKM float64, rings int) *disk {
	key := diskKey{origin, maxKM}
	s.mu.RLock()
	dk := s.disks[key]
	s.mu.RUnlock()
	if dk == nil {
		// Cells this close differ in size by far less than the margin Rings keeps, so the
		// ring arithmetic of one cell serves its whole neighbourhood.
		near := origin.Parent(max(0, origin.Resolution()-2))
		rg := s.rings.Get(near, func(geo.Cell) geo.Rings { return geo.NewRings(origin) })
		dk = &disk{rings: rg, full: rg.Within(maxKM) + 1}
	}
	// Widen in steps: the disk of all the rings is hundreds of cells, and most searches
	// stop long before it.
	switch {
	case rings == 0:
		rings = min(dk.full, 4)
	case rings <= 8:
		rings = min(dk.full, 8)
	default:
		rings = dk.full
	}
	if len(dk.cells) >= rings {
		return dk
	}
	wider := &disk{rings: dk.rings, full: dk.full, cells: geo.Disk(origin, rings-1)}
	s.mu.Lock()
	if len(s.disks) >= sharedCap {
		clear(s.disks)
	}
	s.disks[key] = wider
	s.mu.Unlock()
	return wider
}

// geom returns a cell's centre and outer radius.
func (s *Shared) geom(c geo.Cell) cellGeom { return s.geoms.Get(c, geomOf) }

// location is the time zone of a pickup, looked up once per surge cell.
func (s *Shared) location(cell geo.Cell, p geo.Point) *time.Location {
	return s.local.Get(cell, func(geo.Cell) *time.Location { return s.zones.At(p) })
}
