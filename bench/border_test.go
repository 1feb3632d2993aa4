package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
)

// borderPartitions is the region-log partition count of the border tests: the bench's.
const borderPartitions = 12

// borderPickup finds, walking east from Mumbai's centre, a pickup whose point 0.6 km east
// lies in another region-log partition and whose point 0.6 km west lies in its own.
func borderPickup(t *testing.T, partitionOf func(geo.Point) int32) geo.Point {
	t.Helper()
	city, err := geo.CityNamed("mumbai")
	if err != nil {
		t.Fatal(err)
	}
	for km := 0.0; km < 200; km += 0.05 {
		p := geo.Offset(city.Center(), 0, km)
		own := partitionOf(p)
		if partitionOf(geo.Offset(p, 0, 0.6)) != own && partitionOf(geo.Offset(p, 0, -0.6)) == own {
			return p
		}
	}
	t.Fatal("no partition border within 200 km east of Mumbai")
	return geo.Point{}
}

// driverAt is an available hatchback's update, east km of the pickup, ago before t.
func driverAt(id string, pickup geo.Point, east float64, t event.Time, ago time.Duration) event.DriverLocation {
	return event.DriverLocation{
		DriverID: id, Location: geo.Offset(pickup, 0, east), Time: t.Add(-ago),
		Availability: event.Available, Vehicle: event.Hatchback, Rating: 4.5,
	}
}

// A border request has, when it arrives, a driver within reach (available, of a vehicle
// its ride type takes, fresh, within the pickup radius) in another partition; the
// driver's latest update is the one that counts.
func TestBorderWatch(t *testing.T) {
	cfg := DefaultConfig()
	partitionOf := partitionFunc(cfg, borderPartitions)
	pickup := borderPickup(t, partitionOf)
	if partitionOf(geo.Offset(pickup, 0, 3.5)) == partitionOf(pickup) {
		t.Fatal("the point 3.5 km east of the pickup is in its partition: the far case tests nothing")
	}
	now := event.TimeOf(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	with := func(f func(*event.DriverLocation), d event.DriverLocation) event.DriverLocation {
		f(&d)
		return d
	}
	across := driverAt("DRV-1", pickup, 0.6, now, 5*time.Second)
	for _, tc := range []struct {
		name    string
		updates []event.DriverLocation
		want    bool
	}{
		{"an available driver 0.6 km across", []event.DriverLocation{across}, true},
		{"one 3.5 km across", []event.DriverLocation{driverAt("DRV-1", pickup, 3.5, now, 5*time.Second)}, false},
		{"one 0.6 km away on the pickup's side", []event.DriverLocation{driverAt("DRV-1", pickup, -0.6, now, 5*time.Second)}, false},
		{"an offline one", []event.DriverLocation{with(func(d *event.DriverLocation) { d.Availability = event.Offline }, across)}, false},
		{"a busy one", []event.DriverLocation{with(func(d *event.DriverLocation) { d.Availability = event.Busy }, across)}, false},
		{"a stale one", []event.DriverLocation{driverAt("DRV-1", pickup, 0.6, now, 31*time.Second)}, false},
		{"one updated a driver TTL ago", []event.DriverLocation{driverAt("DRV-1", pickup, 0.6, now, 30*time.Second)}, true},
		{"a sedan for a micro ride", []event.DriverLocation{with(func(d *event.DriverLocation) { d.Vehicle = event.Sedan }, across)}, false},
		{"one gone offline since", []event.DriverLocation{across, with(func(d *event.DriverLocation) { d.Availability = event.Offline; d.Time = now }, across)}, false},
		{"one come from afar", []event.DriverLocation{driverAt("DRV-1", pickup, 40, now, 20*time.Second), across}, true},
		{"one gone afar", []event.DriverLocation{across, driverAt("DRV-1", pickup, 40, now, time.Second)}, false},
		{"two across, both gone afar", []event.DriverLocation{
			across, driverAt("DRV-2", pickup, 0.7, now, 5*time.Second),
			driverAt("DRV-1", pickup, 40, now, 2*time.Second), driverAt("DRV-2", pickup, 41, now, time.Second),
		}, false},
		{"two across, one gone afar", []event.DriverLocation{
			across, driverAt("DRV-2", pickup, 0.7, now, 5*time.Second), driverAt("DRV-1", pickup, 40, now, 2*time.Second),
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newBorderWatch(cfg.Engine.Matcher, borderPartitions)
			for i := range tc.updates {
				w.driver(&tc.updates[i])
			}
			r := event.RideRequest{RequestID: "REQ-1", Pickup: pickup, Time: now, RideType: event.Micro}
			if got := w.border(&r); got != tc.want {
				t.Errorf("border = %v, want %v", got, tc.want)
			}
		})
	}
}

// With soft compatibility any vehicle is within reach.
func TestBorderWatchSoftCompatibility(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Engine.Matcher.SoftCompatibility = true
	pickup := borderPickup(t, partitionFunc(cfg, borderPartitions))
	now := event.TimeOf(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	d := driverAt("DRV-1", pickup, 0.6, now, time.Second)
	d.Vehicle = event.Auto
	w := newBorderWatch(cfg.Engine.Matcher, borderPartitions)
	w.driver(&d)
	if !w.border(&event.RideRequest{RequestID: "REQ-1", Pickup: pickup, Time: now, RideType: event.Prime}) {
		t.Error("an auto across the border is not within reach of a prime ride with soft compatibility")
	}
}

// The watch's grid and coarse cells find what looking at every driver finds, for drivers
// moving about a border.
func TestBorderWatchAgreesWithEveryDriver(t *testing.T) {
	cfg := DefaultConfig()
	mc := cfg.Engine.Matcher
	partitionOf := partitionFunc(cfg, borderPartitions)
	pickup := borderPickup(t, partitionOf)
	now := event.TimeOf(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	rng := rand.New(rand.NewPCG(1, 2))
	around := func(km float64) geo.Point {
		return geo.Offset(pickup, (rng.Float64()*2-1)*km, (rng.Float64()*2-1)*km)
	}
	w := newBorderWatch(mc, borderPartitions)
	latest := map[string]event.DriverLocation{}
	borders := 0
	for step := range 3000 {
		d := event.DriverLocation{
			DriverID: fmt.Sprintf("DRV-%d", rng.IntN(300)), Location: around(15), Time: now.Add(-time.Duration(rng.IntN(40)) * time.Second),
			Availability: event.Available, Vehicle: event.Vehicles()[rng.IntN(3)],
		}
		w.driver(&d)
		latest[d.DriverID] = d
		if step%10 != 0 {
			continue
		}
		r := event.RideRequest{RequestID: fmt.Sprint("REQ-", step), Pickup: around(10), Time: now, RideType: event.RideTypes()[rng.IntN(4)]}
		want := false
		for _, d := range latest {
			if w.reaches(&d, &r) && partitionOf(d.Location) != partitionOf(r.Pickup) {
				want = true
				break
			}
		}
		if got := w.border(&r); got != want {
			t.Fatalf("request %d at %v: border = %v, every driver says %v", step, r.Pickup, got, want)
		}
		if want {
			borders++
		}
	}
	if borders == 0 || borders == 300 {
		t.Errorf("%d of 300 requests at a border: the test tells nothing", borders)
	}
}

// A cross-region miss is a request whose oracle driver stood in another partition than its
// pickup, and that the engine served worse: left unmatched, or matched at a lower score.
func TestCrossRegionMisses(t *testing.T) {
	pickups := map[string]int32{"same": 1, "unmatched": 1, "lower": 1, "equal": 1, "higher": 1, "near-equal": 1, "no-outcome": 1}
	engine := map[string]served{
		"same": {}, "unmatched": {},
		"lower":      {matched: true, score: 80},
		"equal":      {matched: true, score: 90},
		"higher":     {matched: true, score: 95},
		"near-equal": {matched: true, score: 90 - 1e-7},
	}
	oracle := []oracleMatch{
		{request: "same", score: 90, partition: 1},
		{request: "unmatched", score: 90, partition: 2},
		{request: "lower", score: 90, partition: 2},
		{request: "equal", score: 90, partition: 2},
		{request: "higher", score: 90, partition: 2},
		{request: "near-equal", score: 90, partition: 2},
		{request: "no-outcome", score: 90, partition: 2},
	}
	misses, cross := crossRegionMisses(oracle, engine, pickups)
	if misses != 3 { // unmatched, lower, no-outcome
		t.Errorf("%d misses, want 3", misses)
	}
	if len(cross) != 6 || cross["same"] {
		t.Errorf("cross = %v, want every request but the one whose oracle driver was in its partition", cross)
	}
	for _, tc := range []struct {
		s     served
		score float64
		want  bool
	}{
		{served{}, 0, true},
		{served{matched: true, score: 50}, 50.5, true},
		{served{matched: true, score: 50}, 50 + 1e-7, false},
		{served{matched: true, score: 50}, 50, false},
		{served{matched: true, score: 51}, 50, false},
	} {
		if got := lost(tc.s, tc.score); got != tc.want {
			t.Errorf("lost(%+v, %v) = %v, want %v", tc.s, tc.score, got, tc.want)
		}
	}
}

// The latency phase times the border matches apart: a ride_matched whose driver stood in
// another partition than its pickup. Every other outcome, and anything else read, is timed
// with the rest.
func TestBorderMatchesTimedApart(t *testing.T) {
	cfg := DefaultConfig()
	pickup := borderPickup(t, partitionFunc(cfg, cfg.Engine.Topics.Get(ridematch.RoleRegionLog).Partitions))
	encode := func(e any) []byte {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	matched := func(id string, east float64) []byte {
		return encode(&event.RideMatched{EventType: event.TypeRideMatched, RequestID: id, PickupCoords: pickup, DriverLocation: geo.Offset(pickup, 0, east)})
	}
	border := borderMatcher(cfg)
	start := time.Now().Add(-time.Second)
	clock := &requestClock{start: start, warm: start, sent: map[string]time.Time{}}
	for _, tc := range []struct {
		id    string
		value []byte
		want  bool
	}{
		{"across", matched("across", 0.6), true},
		{"own side", matched("own side", -0.6), false},
		{"unmatched", encode(&event.RideUnmatched{EventType: event.TypeRideUnmatched, RequestID: "unmatched", PickupCoords: pickup}), false},
		{"not an outcome", []byte(`{"event_type":"ride_requested"}`), false},
	} {
		if got := border(tc.value); got != tc.want {
			t.Errorf("%s: border match %v, want %v", tc.id, got, tc.want)
		}
		clock.produced(tc.id)
		clock.read(tc.id, border(tc.value), time.Now())
	}
	if others, borders := clock.latencies(); len(others) != 3 || len(borders) != 1 {
		t.Errorf("%d outcomes timed with the rest and %d as border matches, want 3 and 1", len(others), len(borders))
	}
}
