package bench

import (
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/router"
)

// quality is how well a matching served a load.
type quality struct {
	requests, matched int
	pickupKM          []float64
}

func (q quality) rate() float64 { return float64(q.matched) / float64(max(q.requests, 1)) }

func (q quality) mean() float64 {
	sum := 0.0
	for _, d := range q.pickupKM {
		sum += d
	}
	return sum / float64(max(len(q.pickupKM), 1))
}

// measureQuality runs a load through the partitioned engine, in process and in event
// time, with the simulated drivers reacting to their matches; records what went in; then
// replays that same input through a global oracle, one partition over everything with
// the same scoring. The cross-region miss rate is the share of requests whose oracle
// driver was in a region-log partition other than the request's: a better driver the
// partitioned engine could not see.
func measureQuality(cfg Config, partitions int32, drivers int, rate float64, span time.Duration) (engineQ, oracleQ quality, missRate float64, err error) {
	start := time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC)
	w, err := world(cfg, drivers, rate, start)
	if err != nil {
		return quality{}, quality{}, 0, err
	}
	regionRes := cfg.Engine.Matcher.Resolutions.Region
	indexRes := cfg.Engine.Matcher.Resolutions.Index
	partitionOf := func(p geo.Point) int32 {
		return router.PartitionOf(geo.CellOf(p, indexRes).Parent(regionRes), partitions)
	}

	type step struct {
		in   event.Input
		tick bool
		at   event.Time
	}
	var recorded []step
	requestPartition := map[string]int32{}
	collect := func(q *quality) func(int32, event.Output) {
		return func(_ int32, e event.Output) {
			switch m := e.(type) {
			case *event.RideMatched:
				q.matched++
				q.pickupKM = append(q.pickupKM, m.PickupDistanceKM)
			}
		}
	}
	engineQ.pickupKM = nil
	eng, err := newPipeline(cfg, partitions, func(part int32, e event.Output) {
		collect(&engineQ)(part, e)
		o := event.RideOutcome{Type: e.Type(), RequestID: e.Key()}
		if m, ok := e.(*event.RideMatched); ok {
			o.DriverID, o.Pickup, o.Drop = m.DriverID, m.PickupCoords, m.DropCoords
		}
		w.Apply(o)
	})
	if err != nil {
		return quality{}, quality{}, 0, err
	}
	for t := w.Start(); t < w.Start().Add(span); {
		t = t.Add(100 * time.Millisecond)
		w.Step(t, func(in *event.Input) {
			recorded = append(recorded, step{in: *in})
			if in.Kind == event.KindRideRequest {
				engineQ.requests++
				requestPartition[in.Request.RequestID] = partitionOf(in.Request.Pickup)
			}
			eng.input(in)
		})
		recorded = append(recorded, step{tick: true, at: t})
		eng.tick(t)
	}

	misses := 0
	oracle, err := newPipeline(cfg, 1, func(part int32, e event.Output) {
		collect(&oracleQ)(part, e)
		if m, ok := e.(*event.RideMatched); ok && partitionOf(m.DriverLocation) != requestPartition[m.RequestID] {
			misses++
		}
	})
	if err != nil {
		return quality{}, quality{}, 0, err
	}
	for i := range recorded {
		s := &recorded[i]
		if s.tick {
			oracle.tick(s.at)
			continue
		}
		if s.in.Kind == event.KindRideRequest {
			oracleQ.requests++
		}
		oracle.input(&s.in)
	}
	return engineQ, oracleQ, float64(misses) / float64(max(oracleQ.requests, 1)), nil
}
