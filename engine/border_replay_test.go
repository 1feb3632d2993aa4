package engine

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/bordertest"
)

// borderTrip is a rider near one of Mumbai's partition borders and a driver of a vehicle
// its ride takes just across, rated 5.0 so that it beats most drivers on the rider's own
// side: 0.1 to 1 km from the border for the rider, 0.1 to 1.2 km for the driver, at one of
// the five crossings of a pair closest to Mumbai's places, so that riders crowd the same
// few places and contend for their drivers. At each crossing the riders are on one side
// and the drivers on the other. The driver joins w's drivers.
func (w *world) borderTrip(pairs []bordertest.Pair, i int, at time.Time) (event.DriverLocation, event.RideRequest) {
	for {
		pi := w.rng.IntN(len(pairs))
		p, k := pairs[pi], w.rng.IntN(min(5, len(pairs[pi].Crossings)))
		c := p.Crossings[k]
		// Riders on one side of each crossing, drivers on the other, the sides taken in
		// turn from one crossing to the next.
		side := 1.0
		if (pi+k)%2 == 1 {
			side = -1
		}
		rider, driver := c.Into(-side*(0.1+0.9*w.rng.Float64())), c.Into(side*(0.1+1.1*w.rng.Float64()))
		if sideOf(rider) == sideOf(driver) || (sideOf(rider) != p.A && sideOf(rider) != p.B) || (sideOf(driver) != p.A && sideOf(driver) != p.B) {
			continue // the jagged border put both on one side: draw again
		}
		v := event.Vehicles()[w.rng.IntN(len(event.Vehicles()))]
		var rides []event.RideType
		for _, rt := range event.RideTypes() {
			if rt.Compatible(v) {
				rides = append(rides, rt)
			}
		}
		d := bordertest.Driver(fmt.Sprintf("DRV-B%04d", i), driver, v, at)
		d.Rating = 5.0
		w.drivers[d.DriverID] = d
		return d, bordertest.Request(fmt.Sprintf("REQ-B%05d", i), rider, rides[w.rng.IntN(len(rides))], at)
	}
}

// bestAcross counts the requests whose best driver, by the matcher's score among every
// compatible driver within 3 km (ignoring who else wants it), is on another partition.
func bestAcross(w *world, reqs map[string]event.RideRequest) int {
	n := 0
	for _, r := range reqs {
		var best event.DriverLocation
		bestScore := -1.0
		for _, d := range w.drivers {
			km := geo.DistanceKM(r.Pickup, d.Location)
			score := 100 - 10*km + 20*(d.Rating-4) + 15
			if km <= 3 && r.RideType.Compatible(d.Vehicle) && score > bestScore {
				best, bestScore = d, score
			}
		}
		if bestScore >= 0 && sideOf(best.Location).Partition != sideOf(r.Pickup).Partition {
			n++
		}
	}
	return n
}

// TestBorderMembersComeAndGo is TestMembersComeAndGo with border traffic, issue 19's
// determinism criterion: beside a city's ordinary load, 150 riders near Mumbai's
// partition borders whose best driver stands across, while members quit after zero, one
// and two transactions, others join and one more quits: border requests and the claims
// they make are in flight through every rebalance. Every promise of holds is kept, and
// every output of the matchers, outcomes, surge updates, decisions and what they wrote
// into the region log, is byte for byte what a clean replay of the region log gives.
func TestBorderMembersComeAndGo(t *testing.T) {
	h := newHarness(t)
	a, b, c := h.start(), h.start(), h.start()
	quitAfter(a, 0)
	quitAfter(b, 1)
	quitAfter(c, 2)
	pairs := mumbaiPairs()
	border := newWorld(16)
	borderReqs := map[string]event.RideRequest{}
	dt, rt := h.topics.Name(ridematch.RoleDriverLocations), h.topics.Name(ridematch.RoleRideRequests)
	w, reqs, bad := h.fixture(15, 250, 150, func(i int) {
		d, r := border.borderTrip(pairs, i, time.Now().UTC())
		h.produce(dt, d.DriverID, d.AppendJSON(nil))
		h.produce(rt, r.RequestID, r.AppendJSON(nil))
		borderReqs[r.RequestID] = r
		switch i {
		case 30, 90:
			h.start()
		case 60:
			quitAfter(h.start(), 3)
		}
	})
	maps.Copy(w.drivers, border.drivers)
	maps.Copy(reqs, borderReqs)
	across := bestAcross(w, borderReqs)
	if across < len(borderReqs)/2 {
		t.Fatalf("only %d of %d border requests have their best driver across a partition border: the test proves little", across, len(borderReqs))
	}
	h.holds(w, reqs, bad)
	sameOutputsAsReplay(t, h)
	out := h.outcomesFor(reqs, 0)
	matched := 0
	for id := range borderReqs {
		if out[id]["event_type"] == event.TypeRideMatched {
			matched++
		}
	}
	t.Logf("%d border requests, %d with their best driver across a partition border, %d matched", len(borderReqs), across, matched)
}
