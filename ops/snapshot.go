package ops

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/router"
)

// mapDrivers bounds the drivers one city's snapshot carries; past it, a sample by id.
const mapDrivers = 5000

// Snapshot is what the live map draws for one city: the JSON of /api/snapshot and of
// each message on /events. Points are [lat, lng], rounded to about a metre.
type Snapshot struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	City   string    `json:"city"`
	Status string    `json:"status"` // what the map's reader is doing: "reading" once it reads
	Ready  bool      `json:"ready"`  // the engine's readiness, as /readyz says
	// Sample is n when only one driver in n is shown: the map follows a sample of a busy
	// cluster's drivers (Config.MaxDrivers) and draws a sample of a busy city's.
	Sample    int          `json:"sample"`
	SurgeRes  int          `json:"surge_res"`
	RegionRes int          `json:"region_res"`
	Center    [2]float64   `json:"center"`
	Places    []Place      `json:"places"`
	Cells     []Cell       `json:"cells"`
	Drivers   [][3]float64 `json:"drivers"` // lat, lng, state: 0 busy, 1 available, 2 offered
	Pending   [][2]float64 `json:"pending"`
	Matches   [][5]float64 `json:"matches"` // driver lat, lng, pickup lat, lng, age in seconds
	Regions   []Region     `json:"regions"`
	Totals    Totals       `json:"totals"`
	Cities    []CityTotals `json:"cities"`
}

// A driver's state, the third number of each of Snapshot.Drivers. An offered driver holds
// a ride_offered it has not answered: not yet followed by the request's outcome, an
// offer_withdrawn or its expires_at. Its own updates may still say available.
const (
	driverBusy      = 0
	driverAvailable = 1
	driverOffered   = 2
)

// Place is one of a city's named places, to label the map.
type Place struct {
	Name string     `json:"name"`
	At   [2]float64 `json:"at"`
}

// Cell is an H3 cell at the surge resolution with drivers, requests or a price.
type Cell struct {
	ID         string  `json:"id"`
	Multiplier float64 `json:"m"`
	// Priced: a surge_updated was read for the cell; Demand and Supply are its inputs.
	Priced    bool         `json:"priced"`
	Demand    int          `json:"demand"`
	Supply    int          `json:"supply"`
	Drivers   int          `json:"drivers"`
	Available int          `json:"available"` // available and not offered
	Offered   int          `json:"offered"`
	Pending   int          `json:"pending"`
	Boundary  [][2]float64 `json:"b"`
}

// Region is an H3 cell at the region resolution, the unit of partitioning, with the
// region-log partition that owns it and its counters.
type Region struct {
	ID         string  `json:"id"`
	Partition  int32   `json:"partition"`
	Drivers    int     `json:"drivers"`
	Available  int     `json:"available"` // available and not offered
	Offered    int     `json:"offered"`
	Pending    int     `json:"pending"`
	Matched    int     `json:"matched"` // in the recent window
	Unmatched  int     `json:"unmatched"`
	Cancelled  int     `json:"cancelled"`
	Surging    int     `json:"surging"` // cells priced above 1
	Multiplier float64 `json:"max_m"`
}

// Totals are a city's counters; Matched and the other outcomes count the recent window.
type Totals struct {
	Drivers       int     `json:"drivers"`
	Available     int     `json:"available"` // available and not offered
	Offered       int     `json:"offered"`   // holding an offer
	Moving        int     `json:"moving"`    // drivers whose position changed in the last 5s
	Pending       int     `json:"pending"`
	Matched       int     `json:"matched"`
	Unmatched     int     `json:"unmatched"`
	Cancelled     int     `json:"cancelled"`
	Cells         int     `json:"cells"`
	Surging       int     `json:"surging"`
	MaxMultiplier float64 `json:"max_m"`
	WindowSeconds int     `json:"window_seconds"`
}

// CityTotals is a line of the city picker.
type CityTotals struct {
	Name    string `json:"name"`
	Drivers int    `json:"drivers"`
	Pending int    `json:"pending"`
}

func r5(x float64) float64 { return math.Round(x*1e5) / 1e5 }

func ll(p geo.Point) [2]float64 { return [2]float64{r5(p.Lat), r5(p.Lng)} }

// cityIndex returns the index of a city by name, or of the busiest city when name is
// empty; -1 if there is no such city. Called with mu held.
func (f *feed) cityIndex(name string) int {
	if name == "" {
		counts := make([]int, len(f.cities))
		for _, d := range f.follow {
			counts[d.city]++
		}
		for _, q := range f.waiting {
			counts[q.city]++
		}
		best := 0
		for i, n := range counts {
			if n > counts[best] {
				best = i
			}
		}
		return best
	}
	for i, c := range f.cities {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// knows reports whether the map has a city by that name (or, for "", any city).
func (f *feed) knows(city string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cityIndex(city) >= 0
}

// snapshot returns the JSON of a city's snapshot of the current generation, and the
// generation; ok is false for a city the map does not know.
func (f *feed) snapshot(city string, ready bool) (b []byte, seq uint64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ci := f.cityIndex(city)
	if ci < 0 {
		return nil, 0, false
	}
	key := f.cities[ci].Name
	if ready {
		key += "+ready"
	}
	if b, ok := f.cache[key]; ok {
		return b, f.seq, true
	}
	s := f.build(ci, ready, time.Now())
	b, err := json.Marshal(s)
	if err != nil {
		panic("ops: a snapshot does not encode: " + err.Error()) // numbers and strings only
	}
	f.cache[key] = b
	return b, f.seq, true
}

// build makes a city's snapshot. Called with mu held.
func (f *feed) build(ci int, ready bool, now time.Time) *Snapshot {
	city := f.cities[ci]
	s := &Snapshot{
		Seq: f.seq, Time: now.UTC().Truncate(time.Millisecond), City: city.Name, Status: f.status, Ready: ready,
		Sample: int(f.sample), SurgeRes: f.cfg.Resolutions.Surge, RegionRes: f.cfg.Resolutions.Region,
		Center:  ll(f.centers[ci]),
		Places:  []Place{},
		Cells:   []Cell{},
		Drivers: [][3]float64{}, Pending: [][2]float64{}, Matches: [][5]float64{},
		Regions: []Region{},
	}
	for _, p := range city.Places {
		s.Places = append(s.Places, Place{Name: p.Name, At: ll(p.Point)})
	}
	ar := &areas{f: f, cells: map[geo.Cell]*Cell{}, regions: map[geo.Cell]*Region{}}
	f.addDrivers(s, ar, ci, now)
	f.addPending(s, ar, ci)
	f.addSurge(s, ar, ci)
	f.addOutcomes(s, ar, ci)
	f.addMatches(s, ci, now)

	for _, c := range ar.cells {
		s.Cells = append(s.Cells, *c)
	}
	slices.SortFunc(s.Cells, func(a, b Cell) int { return cmp.Compare(a.ID, b.ID) })
	s.Totals.Cells = len(s.Cells)
	s.Totals.MaxMultiplier = max(s.Totals.MaxMultiplier, 1)
	s.Totals.WindowSeconds = int(f.cfg.RecentWindow.Seconds())
	for _, r := range ar.regions {
		s.Regions = append(s.Regions, *r)
	}
	slices.SortFunc(s.Regions, func(a, b Region) int { return cmp.Compare(a.ID, b.ID) })
	s.Cities = f.cityTotals()
	return s
}

// areas are the cells and regions of a snapshot being built, each made when first
// counted in.
type areas struct {
	f       *feed
	cells   map[geo.Cell]*Cell
	regions map[geo.Cell]*Region
}

// cell returns the snapshot's entry for c, a cell at the surge resolution.
func (a *areas) cell(c geo.Cell) *Cell {
	x := a.cells[c]
	if x == nil {
		x = &Cell{ID: c.String(), Multiplier: 1, Boundary: a.f.boundary(c)}
		a.cells[c] = x
	}
	return x
}

// region returns the snapshot's entry for the region c lies in.
func (a *areas) region(c geo.Cell) *Region {
	r := c.Parent(a.f.cfg.Resolutions.Region)
	x := a.regions[r]
	if x == nil {
		x = &Region{ID: r.String(), Partition: router.PartitionOf(r, max(a.f.partitions, 1)), Multiplier: 1}
		a.regions[r] = x
	}
	return x
}

// addDrivers counts the city's drivers in and draws them, a sample of them past
// mapDrivers. A driver holding an offer is offered, whatever its own updates say.
func (f *feed) addDrivers(s *Snapshot, a *areas, ci int, now time.Time) {
	var n int
	for _, d := range f.follow {
		if d.city == ci {
			n++
		}
	}
	stride := uint32(1)
	if n > mapDrivers {
		stride = uint32((n + mapDrivers - 1) / mapDrivers)
	}
	s.Sample *= int(stride)
	for id, d := range f.follow {
		if d.city != ci {
			continue
		}
		c, r := a.cell(d.fix.Cell), a.region(d.fix.Cell)
		c.Drivers++
		r.Drivers++
		s.Totals.Drivers++
		state := driverBusy
		switch {
		case f.holdsOffer(id, now):
			c.Offered++
			r.Offered++
			s.Totals.Offered++
			state = driverOffered
		case d.available:
			c.Available++
			r.Available++
			s.Totals.Available++
			state = driverAvailable
		}
		if now.Sub(d.moved) < 5*time.Second {
			s.Totals.Moving++
		}
		if stride == 1 || (d.hash>>8)%stride == 0 {
			s.Drivers = append(s.Drivers, [3]float64{r5(d.p.Lat), r5(d.p.Lng), float64(state)})
		}
	}
}

// addPending counts the city's waiting requests in and draws them.
func (f *feed) addPending(s *Snapshot, a *areas, ci int) {
	for _, q := range f.waiting {
		if q.city != ci {
			continue
		}
		a.cell(q.cell).Pending++
		a.region(q.cell).Pending++
		s.Totals.Pending++
		s.Pending = append(s.Pending, ll(q.p))
	}
}

// addSurge prices the city's cells and counts the surging ones in their regions.
func (f *feed) addSurge(s *Snapshot, a *areas, ci int) {
	for c, sc := range f.cells {
		if sc.city != ci {
			continue
		}
		x := a.cell(c)
		x.Multiplier, x.Priced, x.Demand, x.Supply = sc.multiplier, true, sc.demand, sc.supply
		if sc.multiplier > 1 {
			r := a.region(c)
			r.Surging++
			r.Multiplier = max(r.Multiplier, sc.multiplier)
			s.Totals.Surging++
		}
		s.Totals.MaxMultiplier = max(s.Totals.MaxMultiplier, sc.multiplier)
	}
}

// addOutcomes counts the city's recent outcomes in their regions.
func (f *feed) addOutcomes(s *Snapshot, a *areas, ci int) {
	for _, m := range f.marks {
		if m.city != ci || m.region == 0 {
			continue
		}
		r := a.region(m.region)
		switch m.kind {
		case event.TypeRideMatched:
			r.Matched++
			s.Totals.Matched++
		case event.TypeRideUnmatched:
			r.Unmatched++
			s.Totals.Unmatched++
		case event.TypeRideCancelled:
			r.Cancelled++
			s.Totals.Cancelled++
		}
	}
}

// addMatches draws the city's most recent matches, newest first, at most RecentMatches.
func (f *feed) addMatches(s *Snapshot, ci int, now time.Time) {
	for i := len(f.lines) - 1; i >= 0 && len(s.Matches) < f.cfg.RecentMatches; i-- {
		l := f.lines[i]
		if l.city != ci {
			continue
		}
		age := math.Round(max(0, now.Sub(l.at).Seconds())*10) / 10
		s.Matches = append(s.Matches, [5]float64{r5(l.driver.Lat), r5(l.driver.Lng), r5(l.pickup.Lat), r5(l.pickup.Lng), age})
	}
}

// cityTotals is the city picker: every city with its drivers and waiting requests.
func (f *feed) cityTotals() []CityTotals {
	counts := make([]CityTotals, len(f.cities))
	for i, c := range f.cities {
		counts[i].Name = c.Name
	}
	for _, d := range f.follow {
		counts[d.city].Drivers++
	}
	for _, q := range f.waiting {
		counts[q.city].Pending++
	}
	return counts
}

// boundary is a cell's outline, cached. Called with mu held.
func (f *feed) boundary(c geo.Cell) [][2]float64 {
	if b, ok := f.bounds[c]; ok {
		return b
	}
	var b [][2]float64
	for _, p := range c.Boundary() {
		b = append(b, ll(p))
	}
	f.bounds[c] = b
	return b
}
