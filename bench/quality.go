package bench

import (
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
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

// take counts an outcome into q.
func (q *quality) take(e event.Output) {
	if m, ok := e.(*event.RideMatched); ok {
		q.matched++
		q.pickupKM = append(q.pickupKM, m.PickupDistanceKM)
	}
}

// qualityRun is what measureQuality measured: how the partitioned engine and the oracle
// served one input, the cross-region misses, and the border requests.
type qualityRun struct {
	engine, oracle quality
	misses, border int
}

// missRate is the cross-region misses, a share of all requests.
func (r qualityRun) missRate() float64 { return float64(r.misses) / float64(max(r.engine.requests, 1)) }

// borderMissRate is the cross-region misses, a share of the border requests.
func (r qualityRun) borderMissRate() float64 {
	return float64(r.misses) / float64(max(r.border, 1))
}

// served is how the partitioned engine served a request: matched, with the match's score,
// or not (unmatched, cancelled while waiting, or still waiting when the load ended).
type served struct {
	matched bool
	score   float64
}

// oracleMatch is one of the oracle's matches: its request, its score, and the region-log
// partition its driver stood in.
type oracleMatch struct {
	request   string
	score     float64
	partition int32
}

// scoreTolerance is how much lower than the oracle's an engine's score must be to be worse.
const scoreTolerance = 1e-6

// lost reports whether the engine served a request worse than the oracle, which matched it
// at score: left it unmatched, or matched it at a lower score.
func lost(s served, score float64) bool { return !s.matched || s.score < score-scoreTolerance }

// crossRegionMisses counts the requests whose oracle driver stood in a region-log
// partition other than their pickup's (pickups, by request) and that the engine lost
// (engine, by request; a request it has no outcome for, it left unmatched). cross holds
// every request whose oracle driver stood in another partition, lost or not.
func crossRegionMisses(oracle []oracleMatch, engine map[string]served, pickups map[string]int32) (misses int, cross map[string]bool) {
	cross = map[string]bool{}
	for _, m := range oracle {
		if m.partition == pickups[m.request] {
			continue
		}
		cross[m.request] = true
		if lost(engine[m.request], m.score) {
			misses++
		}
	}
	return misses, cross
}

// measureQuality runs a load through the partitioned engine, in process and in event
// time, with the simulated drivers reacting to their matches; records what went in; then
// replays that same input through a global oracle, one partition over everything with
// the same scoring. A cross-region miss is a request whose oracle driver stood in a
// region-log partition other than its pickup's and that the partitioned engine served
// worse: a better driver it did not get. A border request is one that arrived with a
// driver within reach in another partition (see borderWatch), or whose oracle driver was
// in one.
func measureQuality(cfg Config, partitions int32, drivers int, rate float64, span time.Duration) (qualityRun, error) {
	var run qualityRun
	rec, err := recordEngine(cfg, partitions, drivers, rate, span, &run.engine)
	if err != nil {
		return qualityRun{}, err
	}
	matches, err := replayOracle(cfg, rec.steps, partitionFunc(cfg, partitions), &run.oracle)
	if err != nil {
		return qualityRun{}, err
	}
	misses, cross := crossRegionMisses(matches, rec.served, rec.pickups)
	near := nearBorder(cfg.Engine.Matcher, partitions, rec.steps)
	for id := range cross {
		near[id] = true
	}
	run.misses, run.border = misses, len(near)
	return run, nil
}

// partitionFunc returns the region-log partition of a point, as the router places it.
func partitionFunc(cfg Config, partitions int32) func(geo.Point) int32 {
	regionRes, indexRes := cfg.Engine.Matcher.Resolutions.Region, cfg.Engine.Matcher.Resolutions.Index
	return func(p geo.Point) int32 {
		return router.PartitionOf(geo.CellOf(p, indexRes).Parent(regionRes), partitions)
	}
}

// step is one step of a recorded input: an input event, or a tick at a time.
type step struct {
	in   event.Input
	tick bool
	at   event.Time
}

// recording is the partitioned engine's run: its input, how it served each request, and
// each request's pickup partition.
type recording struct {
	steps   []step
	served  map[string]served
	pickups map[string]int32
}

// recordEngine runs the load through the partitioned engine, counting its outcomes into q.
func recordEngine(cfg Config, partitions int32, drivers int, rate float64, span time.Duration, q *quality) (recording, error) {
	start := time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC)
	w, err := world(cfg, drivers, rate, start)
	if err != nil {
		return recording{}, err
	}
	partitionOf := partitionFunc(cfg, partitions)
	rec := recording{served: map[string]served{}, pickups: map[string]int32{}}
	eng, err := newPipeline(cfg, partitions, func(_ int32, e event.Output) {
		q.take(e)
		o := event.RideOutcome{Type: e.Type(), RequestID: e.Key()}
		switch m := e.(type) {
		case *event.RideMatched:
			o.DriverID, o.Pickup, o.Drop = m.DriverID, m.PickupCoords, m.DropCoords
			rec.served[m.RequestID] = served{matched: true, score: m.Score}
		case *event.RideUnmatched, *event.RideCancelled:
			rec.served[e.Key()] = served{}
		case *event.MatchCancelled:
			o.DriverID = m.DriverID // frees the driver in the world
		}
		w.Apply(o)
	})
	if err != nil {
		return recording{}, err
	}
	for t := w.Start(); t < w.Start().Add(span); {
		t = t.Add(100 * time.Millisecond)
		w.Step(t, func(in *event.Input) {
			rec.steps = append(rec.steps, step{in: *in})
			if in.Kind == event.KindRideRequest {
				q.requests++
				rec.pickups[in.Request.RequestID] = partitionOf(in.Request.Pickup)
			}
			eng.input(in)
		})
		rec.steps = append(rec.steps, step{tick: true, at: t})
		eng.tick(t)
	}
	return rec, nil
}

// replayOracle replays the recorded steps through the global oracle, counting its outcomes
// into q, and returns its matches.
func replayOracle(cfg Config, steps []step, partitionOf func(geo.Point) int32, q *quality) ([]oracleMatch, error) {
	var matches []oracleMatch
	oracle, err := newPipeline(cfg, 1, func(_ int32, e event.Output) {
		q.take(e)
		if m, ok := e.(*event.RideMatched); ok {
			matches = append(matches, oracleMatch{request: m.RequestID, score: m.Score, partition: partitionOf(m.DriverLocation)})
		}
	})
	if err != nil {
		return nil, err
	}
	for i := range steps {
		s := &steps[i]
		if s.tick {
			oracle.tick(s.at)
			continue
		}
		if s.in.Kind == event.KindRideRequest {
			q.requests++
		}
		oracle.input(&s.in)
	}
	return matches, nil
}

// nearBorder returns the requests of the recorded steps that arrived with a driver within
// reach in another region-log partition.
func nearBorder(cfg matcher.Config, partitions int32, steps []step) map[string]bool {
	w := newBorderWatch(cfg, partitions)
	near := map[string]bool{}
	for i := range steps {
		s := &steps[i]
		switch {
		case s.tick:
		case s.in.Kind == event.KindDriverLocation:
			w.driver(&s.in.Driver)
		case s.in.Kind == event.KindRideRequest:
			if w.border(&s.in.Request) {
				near[s.in.Request.RequestID] = true
			}
		}
	}
	return near
}
