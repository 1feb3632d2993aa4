package engine

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/bordertest"
	"ridematch/router"
)

// The border tests of issue 19, "halo plus claim": a request must see the drivers within
// reach (3 km) across the border of its region-log partition, and a driver two partitions
// both want goes to one of them only. The geometry (package bordertest) is the router's
// own: a point's region is its index cell's res-4 ancestor, its partition
// router.PartitionOf of that region.

// mumbaiMetro is Mumbai as these tests take it: every point within 25 km of one of its
// places. Its regions are the router's regions of those points: the res-4 cells of the
// places, and those of their neighbours that reach into the area (nine regions).
func mumbaiMetro() bordertest.Metro {
	c, err := geo.CityNamed("mumbai")
	if err != nil {
		panic(err)
	}
	return bordertest.MetroOf(c, 25)
}

// mumbaiPairs are the pairs of Mumbai's regions that share an edge and sit on different
// partitions of the default region log (12 partitions), with crossings of their borders.
var mumbaiPairs = sync.OnceValue(func() []bordertest.Pair {
	return mumbaiMetro().Pairs(ridematch.DefaultTopics().Get(ridematch.RoleRegionLog).Partitions)
})

// The example of issue 19: region 84608b5 (partition 6) borders 84608bd (partition 2)
// near (19.0801, 73.0008); a mini ride here, with a sedan there, 1.2 km apart, is left
// unmatched by an engine that cannot see across the border.
var (
	issueRider  = geo.Point{Lat: 19.08010, Lng: 72.99509}
	issueDriver = geo.Point{Lat: 19.08010, Lng: 73.00649}
)

// sideOf is the region and partition the router gives p with the default topics.
func sideOf(p geo.Point) bordertest.Side {
	r := bordertest.Region(p)
	return bordertest.Side{Region: r, Partition: router.PartitionOf(r, ridematch.DefaultTopics().Get(ridematch.RoleRegionLog).Partitions)}
}

// settled waits for every request's final outcome, as outcomesFor does, then reads them
// again a second later, so that a second outcome written just after the first is seen
// too (outcomesFor fails the test on any).
func (h *harness) settled(reqs map[string]event.RideRequest, within time.Duration) map[string]map[string]any {
	h.t.Helper()
	out := h.outcomesFor(reqs, within)
	time.Sleep(time.Second)
	again := h.outcomesFor(reqs, 0)
	for id := range out {
		if jsonOf(out[id]) != jsonOf(again[id]) {
			h.t.Errorf("request %s: its final outcome changed from %s to %s", id, jsonOf(out[id]), jsonOf(again[id]))
		}
	}
	return again
}

// noDriverTwice fails the test for every driver in more than one ride_matched.
func noDriverTwice(t *testing.T, out map[string]map[string]any) {
	t.Helper()
	byDriver := map[string][]string{}
	for id, m := range out {
		if m["event_type"] == event.TypeRideMatched {
			d, _ := m["driver_id"].(string)
			byDriver[d] = append(byDriver[d], id)
		}
	}
	for d, ids := range byDriver {
		if len(ids) > 1 {
			slices.Sort(ids)
			t.Errorf("driver %s is in %d ride_matched: %v", d, len(ids), ids)
		}
	}
}

// describe is an outcome in a line.
func describe(m map[string]any) string {
	switch {
	case m == nil:
		return "no outcome"
	case m["event_type"] == event.TypeRideMatched:
		return fmt.Sprintf("ride_matched with %v at %v km", m["driver_id"], m["pickup_distance_km"])
	case m["event_type"] == event.TypeRideUnmatched:
		return fmt.Sprintf("ride_unmatched (%v)", m["reason"])
	}
	return fmt.Sprint(m["event_type"])
}

// borderScene is a rider on one side of a partition border whose only compatible driver
// stands on the other.
type borderScene struct {
	name   string
	req    event.RideRequest
	driver event.DriverLocation
}

// everyPairScenes is issue 19's example and, for each pair of Mumbai's neighbouring
// regions on different partitions, a rider 0.6 km from their border and a driver 0.6 km
// on the other side: in A and B for the first pair, in B and A for the next, and so on,
// in turn through the ride types. The crossings are chosen closest to Mumbai's places and
// 10 km from each other and from the example, so that no rider is within 7 km of another
// scene's driver.
func everyPairScenes(t *testing.T, now time.Time) []borderScene {
	t.Helper()
	pairs := mumbaiPairs()
	crossings := bordertest.Spread(pairs, 10, 1, issueRider, issueDriver)
	if len(pairs) == 0 || len(crossings) != len(pairs) {
		t.Fatalf("%d pairs, %d crossings 10 km apart: the geometry is not what the test expects", len(pairs), len(crossings))
	}
	classes := []bordertest.Class{
		{Ride: event.Micro, Vehicle: event.Hatchback}, {Ride: event.Mini, Vehicle: event.Sedan}, {Ride: event.Prime, Vehicle: event.Sedan},
		{Ride: event.AutoRide, Vehicle: event.Auto}, {Ride: event.Mini, Vehicle: event.Hatchback},
	}
	scenes := []borderScene{{
		name:   "issue 19's example",
		req:    bordertest.Request("REQ-issue19", issueRider, event.Mini, now),
		driver: bordertest.Driver("DRV-issue19", issueDriver, event.Sedan, now),
	}}
	for i, c := range crossings {
		if !c.Holds(-0.6, 0.6) {
			t.Fatalf("%v: the points 0.6 km each side are not on their sides", c)
		}
		rider, driver := c.Into(-0.6), c.Into(0.6)
		if i%2 == 1 {
			rider, driver = driver, rider
		}
		cl := classes[i%len(classes)]
		scenes = append(scenes, borderScene{
			name:   fmt.Sprintf("pair %d, %s", i+1, c),
			req:    bordertest.Request(fmt.Sprintf("REQ-pair%02d", i+1), rider, cl.Ride, now),
			driver: bordertest.Driver(fmt.Sprintf("DRV-pair%02d", i+1), driver, cl.Vehicle, now),
		})
	}
	for i, s := range scenes {
		from, to := sideOf(s.req.Pickup), sideOf(s.driver.Location)
		km := geo.DistanceKM(s.req.Pickup, s.driver.Location)
		if from.Partition == to.Partition || km < 1.1 || km > 1.3 || !s.req.RideType.Compatible(s.driver.Vehicle) {
			t.Fatalf("%s: rider in %s, driver in %s, %.3f km apart: not the scene wanted", s.name, from, to, km)
		}
		for j, o := range scenes {
			if d := geo.DistanceKM(s.req.Pickup, o.driver.Location); j != i && d <= 7 {
				t.Fatalf("%s: the rider is %.1f km from the driver of %s: the scenes are not independent", s.name, d, o.name)
			}
		}
		t.Logf("%s: %s rider (%.5f, %.5f) in %s; %s (%.5f, %.5f) in %s, %.2f km away",
			s.name, s.req.RideType, s.req.Pickup.Lat, s.req.Pickup.Lng, from, s.driver.Vehicle, s.driver.Location.Lat, s.driver.Location.Lng, to, km)
	}
	return scenes
}

// TestBorderEveryPair is issue 19's first acceptance criterion: for each pair of Mumbai's
// neighbouring regions on different partitions, and for the issue's own example, a rider
// 0.6 km from the border gets the only compatible driver, 0.6 km on the other side. One
// engine, default topics and matcher settings (the harness's 5 s request TTL), real
// clients; every request has exactly one outcome.
func TestBorderEveryPair(t *testing.T) {
	h := newHarness(t)
	if n := h.topics.Get(ridematch.RoleRegionLog).Partitions; n != 12 {
		t.Fatalf("the region log has %d partitions, want the default 12", n)
	}
	scenes := everyPairScenes(t, time.Now().UTC())
	h.start()
	dt, rt := h.topics.Name(ridematch.RoleDriverLocations), h.topics.Name(ridematch.RoleRideRequests)
	for _, s := range scenes {
		h.produce(dt, s.driver.DriverID, s.driver.AppendJSON(nil))
	}
	reqs := map[string]event.RideRequest{}
	for _, s := range scenes {
		reqs[s.req.RequestID] = s.req
		h.produce(rt, s.req.RequestID, s.req.AppendJSON(nil))
	}
	out := h.settled(reqs, 30*time.Second)
	matched := 0
	for _, s := range scenes {
		m := out[s.req.RequestID]
		if m["event_type"] == event.TypeRideMatched && m["driver_id"] == s.driver.DriverID {
			matched++
			continue
		}
		t.Errorf("%s: the rider in %s, whose only compatible driver is 1.2 km away in %s, got %s",
			s.name, sideOf(s.req.Pickup), sideOf(s.driver.Location), describe(m))
	}
	noDriverTwice(t, out)
	t.Logf("%d pairs of neighbouring Mumbai regions on different partitions, and issue 19's example: %d of %d riders matched across the border",
		len(scenes)-1, matched, len(scenes))
}

// TestBorderContention is issue 19's second acceptance criterion: two riders on either
// side of a border, one compatible driver between them (0.3 km from the border, on one
// side or the other), and a second compatible driver farther away, within reach of both
// riders, of the one beside the first driver only, or of the far one only; the two
// requests produced back to back, either one first. Twelve cases, at four places on
// Mumbai's borders in three ride types that take no vehicle of each other, all at once:
// exactly one rider gets the first driver; the other gets the second when it is within
// reach and ends ride_unmatched otherwise (a refused claimant searches again, well within
// its TTL here); no driver is in two ride_matched; every request has exactly one outcome.
func TestBorderContention(t *testing.T) {
	h := newHarness(t)
	cases := contentionCases(t, "c", time.Now().UTC())
	h.start()
	dt, rt := h.topics.Name(ridematch.RoleDriverLocations), h.topics.Name(ridematch.RoleRideRequests)
	for _, c := range cases {
		for _, d := range c.Drivers() {
			h.produce(dt, d.DriverID, d.AppendJSON(nil))
		}
	}
	reqs := map[string]event.RideRequest{}
	for _, c := range cases {
		for _, r := range c.Requests() {
			reqs[r.RequestID] = r
			h.produce(rt, r.RequestID, r.AppendJSON(nil))
		}
	}
	out := h.settled(reqs, 30*time.Second)
	outcomes := map[string]bordertest.Outcome{}
	for id, m := range out {
		typ, _ := m["event_type"].(string)
		driver, _ := m["driver_id"].(string)
		outcomes[id] = bordertest.Outcome{Type: typ, DriverID: driver}
	}
	bad := 0
	for _, c := range cases {
		if err := c.CheckSearchesAgain(outcomes); err != nil {
			bad++
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	noDriverTwice(t, out)
	t.Logf("%d contentions, %d as issue 19 wants", len(cases), len(cases)-bad)
}

// contentionCases lays out the twelve contentions at the four crossings of Mumbai's
// borders closest to its places that are 12 km from each other.
func contentionCases(t *testing.T, prefix string, now time.Time) []bordertest.Contention {
	t.Helper()
	crossings := bordertest.Spread(mumbaiPairs(), 12, 1)
	m := mumbaiMetro()
	slices.SortStableFunc(crossings, func(a, b bordertest.Crossing) int { return cmp.Compare(m.Reach(a.At), m.Reach(b.At)) })
	cases, err := bordertest.Contentions(crossings[:min(4, len(crossings))], prefix, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Logf("%s: far rider in %s, near rider and first driver in %s, second driver in %s",
			c.Name, sideOf(c.FarRider.Pickup), sideOf(c.NearRider.Pickup), sideOf(c.Second.Location))
	}
	return cases
}
