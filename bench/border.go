package bench

import (
	"math"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
	"ridematch/router"
)

// borderWatch follows a recorded input, in order, and tells which requests arrive near a
// region border: with a driver within reach that stands in another region-log partition.
// Within reach is what the matcher asks of a candidate: the driver's latest update is
// available, of a vehicle the ride type takes (any, with soft compatibility), fresh (its
// time within the driver TTL of the request's: in the recorded input, an event's time is
// its log time) and within the pickup radius by haversine. Reservations are not known
// here, so a driver another request holds counts.
//
// An update costs a map look-up and a little arithmetic: drivers are kept in a grid of
// latitude and longitude. The partitions are found through coarse H3 cells (resolution 7,
// or the region's if that is finer), worked out once each: a driver's partition is that of
// its index cell's region, and an index cell's coarse ancestor is the coarse cell it lies
// in or a neighbour of that. A request whose coarse cell has every coarse cell within
// reach, and their neighbours, in one partition has no driver within reach in another, and
// looks at no driver; elsewhere, a driver within reach is placed in its coarse cell, and
// in its index cell only when that coarse cell borders another partition.
type borderWatch struct {
	cfg        matcher.Config
	partitions int32
	grid       driverGrid
	locator    *geo.Locator // of the coarse cells
	ids        map[string]int32
	drivers    []watchedDriver
	coarse     map[geo.Cell]coarseCell
}

// watchedDriver is a driver's latest update, where the grid keeps it, and its partition
// once asked for.
type watchedDriver struct {
	update    event.DriverLocation
	cell      gridCell
	slot      int     // its place in its grid cell
	fix       geo.Fix // of its coarse cell, when last placed
	partition int32
	placed    bool // whether partition is that of update
}

// coarseCell is what a coarse cell says of the partitions: its own; whether every index
// cell in it is sure to be in that one (its neighbours are in it too); and whether every
// driver within reach of a point in it is (every coarse cell within reach, and their
// neighbours, is in it).
type coarseCell struct {
	partition    int32
	sure, inland bool
}

// coarseRes is the finest resolution of borderWatch's coarse cells, some 5 km² each.
const coarseRes = 7

func newBorderWatch(cfg matcher.Config, partitions int32) *borderWatch {
	res := cfg.Resolutions
	return &borderWatch{
		cfg: cfg, partitions: partitions,
		grid:    newDriverGrid(cfg.MaxPickupKM),
		locator: geo.NewLocator(max(res.Region, min(coarseRes, res.Index))),
		ids:     map[string]int32{},
		coarse:  map[geo.Cell]coarseCell{},
	}
}

// driver takes a driver's update, which replaces its last.
func (w *borderWatch) driver(d *event.DriverLocation) {
	cell := w.grid.cellOf(d.Location)
	i, ok := w.ids[d.DriverID]
	if !ok {
		i = int32(len(w.drivers))
		w.ids[d.DriverID] = i
		w.drivers = append(w.drivers, watchedDriver{cell: cell, slot: w.grid.add(cell, i)})
	}
	wd := &w.drivers[i]
	wd.update, wd.placed = *d, false
	if cell == wd.cell {
		return
	}
	if moved := w.grid.remove(wd.cell, wd.slot); moved >= 0 {
		w.drivers[moved].slot = wd.slot
	}
	wd.cell, wd.slot = cell, w.grid.add(cell, i)
}

// border reports whether the request, arriving now, has a driver within reach in a
// partition other than its pickup's.
func (w *borderWatch) border(r *event.RideRequest) bool {
	if w.coarseCell(w.locator.Locate(r.Pickup, geo.Fix{}).Cell).inland {
		return false
	}
	own := w.partitionOf(geo.CellOf(r.Pickup, w.cfg.Resolutions.Index))
	return w.grid.near(r.Pickup, func(i int32) bool {
		return w.reaches(&w.drivers[i].update, r) && w.driverPartition(i) != own
	})
}

// partitionOf is the region-log partition of a cell of the region's resolution or finer.
func (w *borderWatch) partitionOf(c geo.Cell) int32 {
	return router.PartitionOf(c.Parent(w.cfg.Resolutions.Region), w.partitions)
}

// coarseCell returns what coarse cell c says, working it out the first time.
func (w *borderWatch) coarseCell(c geo.Cell) coarseCell {
	if cc, ok := w.coarse[c]; ok {
		return cc
	}
	cc := coarseCell{partition: w.partitionOf(c), sure: true, inland: true}
	for j, ring := range geo.Disk(c, geo.NewRings(c).Within(w.cfg.MaxPickupKM)+1) {
		for _, n := range ring {
			same := w.partitionOf(n) == cc.partition
			cc.sure = cc.sure && (same || j > 1)
			cc.inland = cc.inland && same
		}
	}
	w.coarse[c] = cc
	return cc
}

// driverPartition is the partition driver i's latest update placed it in.
func (w *borderWatch) driverPartition(i int32) int32 {
	wd := &w.drivers[i]
	if wd.placed {
		return wd.partition
	}
	wd.fix = w.locator.Locate(wd.update.Location, wd.fix)
	cc := w.coarseCell(wd.fix.Cell)
	wd.partition, wd.placed = cc.partition, true
	if !cc.sure {
		wd.partition = w.partitionOf(geo.CellOf(wd.update.Location, w.cfg.Resolutions.Index))
	}
	return wd.partition
}

// reaches reports whether the driver's update makes it a candidate for the request.
func (w *borderWatch) reaches(d *event.DriverLocation, r *event.RideRequest) bool {
	return d.Availability == event.Available &&
		(w.cfg.SoftCompatibility || r.RideType.Compatible(d.Vehicle)) &&
		r.Time.Sub(d.Time) <= w.cfg.DriverTTL &&
		geo.DistanceKM(d.Location, r.Pickup) <= w.cfg.MaxPickupKM
}

// driverGrid keeps drivers in cells of latitude and longitude, each side stepDeg, the
// pickup radius in degrees of latitude: a point within the radius of another lies in its
// row or the next either side, and in the columns its longitude can reach. It does not
// wrap round the antimeridian.
type driverGrid struct {
	reachKM, stepDeg float64
	cells            map[gridCell][]int32
}

type gridCell struct{ row, col int32 }

func newDriverGrid(reachKM float64) driverGrid {
	return driverGrid{reachKM: reachKM, stepDeg: reachKM / (geo.EarthRadiusKM * math.Pi / 180), cells: map[gridCell][]int32{}}
}

func (g *driverGrid) cellOf(p geo.Point) gridCell {
	return gridCell{row: int32(math.Floor(p.Lat / g.stepDeg)), col: int32(math.Floor(p.Lng / g.stepDeg))}
}

// add puts driver i in cell c, and returns its slot there.
func (g *driverGrid) add(c gridCell, i int32) int {
	g.cells[c] = append(g.cells[c], i)
	return len(g.cells[c]) - 1
}

// remove takes the driver in slot of cell c out, and returns the driver it moved into
// that slot, or -1.
func (g *driverGrid) remove(c gridCell, slot int) int32 {
	ds := g.cells[c]
	last := ds[len(ds)-1]
	ds[slot] = last
	if ds = ds[:len(ds)-1]; len(ds) == 0 {
		delete(g.cells, c)
	} else {
		g.cells[c] = ds
	}
	if slot == len(ds) {
		return -1
	}
	return last
}

// near calls fn with each driver in the cells a point within reach of p can lie in, until
// fn returns true, and reports whether it did.
func (g *driverGrid) near(p geo.Point, fn func(int32) bool) bool {
	// The most a point within reach can differ in longitude: the edge of the cap of the
	// sphere about p.
	dLng := 180.0
	if s := math.Sin(g.reachKM/geo.EarthRadiusKM) / math.Cos(p.Lat*math.Pi/180); s < 1 {
		dLng = math.Asin(s) * 180 / math.Pi
	}
	at := g.cellOf(p)
	west, east := g.cellOf(geo.Point{Lat: p.Lat, Lng: p.Lng - dLng}), g.cellOf(geo.Point{Lat: p.Lat, Lng: p.Lng + dLng})
	for row := at.row - 1; row <= at.row+1; row++ {
		for col := west.col; col <= east.col; col++ {
			for _, i := range g.cells[gridCell{row, col}] {
				if fn(i) {
					return true
				}
			}
		}
	}
	return false
}
