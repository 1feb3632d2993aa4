package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/bordertest"
	"ridematch/matcher"
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
	quitAfter := func(r *running, txns uint64) {
		go func() {
			for r.e.Stats().Transactions < txns {
				time.Sleep(time.Millisecond)
			}
			r.cancel()
		}()
	}
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

// matcherOutputs is everything the matcher stage writes, as the bytes written: outcomes
// and surge updates by topic and key, decisions by partition in order, and the records
// matchers wrote into the region log (hand-offs, and whatever else a matcher sends
// another partition) by partition.
type matcherOutputs struct {
	keyed     map[string][]string
	decisions map[int32][]string
	logged    map[int32][]string
}

func newMatcherOutputs() *matcherOutputs {
	return &matcherOutputs{keyed: map[string][]string{}, decisions: map[int32][]string{}, logged: map[int32][]string{}}
}

// written reads what the engines committed.
func written(t *testing.T, h *harness) *matcherOutputs {
	t.Helper()
	o := newMatcherOutputs()
	for _, role := range []ridematch.Role{ridematch.RoleRideMatches, ridematch.RoleSurgePricing} {
		for _, r := range h.readAll(h.topics.Name(role)) {
			k := h.topics.Name(role) + "/" + string(r.Key)
			o.keyed[k] = append(o.keyed[k], string(r.Value))
		}
	}
	for _, r := range byOffset(h.readAll(h.topics.Name(ridematch.RoleDecisionLog))) {
		o.decisions[r.Partition] = append(o.decisions[r.Partition], string(r.Value))
	}
	var lr event.LogRecord
	for _, r := range byOffset(h.readAll(h.topics.Name(ridematch.RoleRegionLog))) {
		// A router opens every frame it writes with a mark; a matcher's frames have none.
		router := false
		err := event.EachInFrame(r.Value, func(i int, b []byte) error {
			if i == 0 {
				if err := event.DecodeLog(b, &lr); err != nil {
					return err
				}
				router = lr.Kind == event.LogMark
			}
			if !router {
				o.logged[r.Partition] = append(o.logged[r.Partition], string(b))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("region log %d@%d: %v", r.Partition, r.Offset, err)
		}
	}
	return o
}

// replayed replays each region-log partition alone, from its first record, as the
// engine applies it, and returns what it outputs, encoded as the engine encodes it.
func replayed(t *testing.T, h *harness) *matcherOutputs {
	t.Helper()
	o := newMatcherOutputs()
	byPartition := map[int32][]*kgo.Record{}
	for _, r := range byOffset(h.readAll(h.topics.Name(ridematch.RoleRegionLog))) {
		byPartition[r.Partition] = append(byPartition[r.Partition], r)
	}
	matches, surge := h.topics.Name(ridematch.RoleRideMatches), h.topics.Name(ridematch.RoleSurgePricing)
	for p, recs := range byPartition {
		cfg := DefaultConfig().Matcher
		cfg.RequestTTL = 5 * time.Second
		part, err := matcher.New(cfg, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		var lr event.LogRecord
		for _, r := range recs {
			part.Frame(event.TimeOf(r.Timestamp))
			err := event.EachInFrame(r.Value, func(i int, b []byte) error {
				if err := event.DecodeLog(b, &lr); err != nil {
					return err
				}
				part.Apply(&lr, event.PositionOf(r.Offset, i))
				for _, out := range part.Outputs() {
					switch {
					case out.Decision != nil:
						o.decisions[p] = append(o.decisions[p], string(event.AppendLog(nil, out.Decision)))
					case out.Handoff != nil:
						o.logged[out.To] = append(o.logged[out.To], string(event.AppendLog(nil, out.Handoff)))
					case out.Event != nil:
						topic := matches
						if out.Event.Type() == event.TypeSurgeUpdated {
							topic = surge
						}
						v, err := json.Marshal(out.Event)
						if err != nil {
							return err
						}
						o.keyed[topic+"/"+out.Event.Key()] = append(o.keyed[topic+"/"+out.Event.Key()], string(v))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("replaying region log %d@%d: %v", p, r.Offset, err)
			}
		}
	}
	return o
}

func byOffset(recs []*kgo.Record) []*kgo.Record {
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return recs
}

// sameOutputsAsReplay asserts that what the engines wrote is, byte for byte, what a clean
// replay of the region log outputs: the same values under each key of ride-matches and
// surge-pricing, the same decisions in the same order in each partition of the decision
// log, the same records written by matchers into each partition of the region log.
func sameOutputsAsReplay(t *testing.T, h *harness) {
	t.Helper()
	got, want := written(t, h), replayed(t, h)
	diff := 0
	report := func(what string, g, w []string) {
		if slices.Equal(g, w) {
			return
		}
		if diff++; diff <= 5 {
			t.Errorf("%s: the engines wrote\n  %q\na clean replay of the region log gives\n  %q", what, g, w)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(union(got.keyed, want.keyed))) {
		report(k, sortedCopy(got.keyed[k]), sortedCopy(want.keyed[k]))
	}
	for _, p := range slices.Sorted(maps.Keys(union(got.decisions, want.decisions))) {
		report(fmt.Sprintf("decision log %d", p), got.decisions[p], want.decisions[p])
	}
	for _, p := range slices.Sorted(maps.Keys(union(got.logged, want.logged))) {
		report(fmt.Sprintf("records matchers wrote into region log %d", p), sortedCopy(got.logged[p]), sortedCopy(want.logged[p]))
	}
	if diff > 0 {
		t.Errorf("%d keys or partitions differ from a clean replay", diff)
	}
	t.Logf("byte for byte as a clean replay: %d keys of ride-matches and surge-pricing, %d decision-log partitions, %d region-log partitions with matcher records",
		len(got.keyed), len(got.decisions), len(got.logged))
}

func union[K comparable, V any](a, b map[K]V) map[K]bool {
	u := map[K]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }
