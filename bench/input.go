package bench

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/simulator"
)

// input is a load, encoded once and replayed into every phase: the reference's JSON,
// keyed as producers key it, stamped with event time. The bytes live in one arena.
type input struct {
	arena []byte
	recs  []inputRecord
}

type inputRecord struct {
	requests       bool // ride-requests, else driver-locations
	keyOff, keyLen uint32
	valOff, valLen uint32
	tsMillis       int64
}

// world returns the simulated load of the benchmark's scenario: drivers in its cities,
// and rate requests a simulated second, generated or, for a trip file, replayed at that
// average rate. Its drivers answer the offers they are told of (World.Offer) as the
// dispatch phase's accept rate says.
func world(cfg Config, drivers int, rate float64, start time.Time) (*simulator.World, error) {
	sc := simulator.DefaultConfig()
	sc.City, sc.Drivers, sc.Rate, sc.GPSInterval, sc.Seed = cfg.Scenario, drivers, rate, cfg.GPSInterval, cfg.Seed
	sc.AcceptRate = cfg.Dispatch.AcceptRate
	if cfg.replay == nil {
		return simulator.NewWorld(sc, event.TimeOf(start))
	}
	sc.City, sc.Replay, sc.ReplayPace = simulator.DefaultConfig().City, cfg.Scenario, max(1, rate/cfg.replay.Rate())
	return simulator.NewReplayWorld(sc, cfg.replay, event.TimeOf(start))
}

// loadScenario reads the scenario's trip file, if it names one.
func loadScenario(cfg *Config) error {
	if cfg.Scenario == simulator.AllCities {
		return nil
	}
	if _, err := geo.CityNamed(cfg.Scenario); err == nil {
		return nil
	}
	sc := simulator.DefaultConfig()
	sc.Replay, sc.Seed = cfg.Scenario, cfg.Seed
	rp, err := simulator.LoadReplay(sc)
	if err != nil {
		return err
	}
	cfg.replay = rp
	return nil
}

// generate steps the scenario's world until it has emitted n events.
func generate(cfg Config, n int, start time.Time) (*input, error) {
	w, err := world(cfg, cfg.Drivers, cfg.Rate, start)
	if err != nil {
		return nil, err
	}
	in := &input{arena: make([]byte, 0, n*260), recs: make([]inputRecord, 0, n)}
	for t := w.Start(); len(in.recs) < n; {
		t = t.Add(100 * time.Millisecond)
		w.Step(t, func(e *event.Input) {
			if len(in.recs) < n {
				in.add(e)
			}
		})
	}
	return in, nil
}

func (in *input) add(e *event.Input) {
	r := inputRecord{tsMillis: e.Time().Millis()}
	var key string
	start := uint32(len(in.arena))
	switch e.Kind {
	case event.KindDriverLocation:
		key = e.Driver.DriverID
		in.arena = e.Driver.AppendJSON(in.arena)
	case event.KindRideRequest:
		r.requests, key = true, e.Request.RequestID
		in.arena = e.Request.AppendJSON(in.arena)
	case event.KindRideCancel:
		r.requests, key = true, e.Cancel.RequestID
		in.arena = e.Cancel.AppendJSON(in.arena)
	}
	r.valOff, r.valLen = start, uint32(len(in.arena))-start
	r.keyOff = uint32(len(in.arena))
	in.arena = append(in.arena, key...)
	r.keyLen = uint32(len(key))
	in.recs = append(in.recs, r)
}

// record makes a fresh kgo record for record i (the client writes into the records it
// produces, so each phase needs its own).
func (in *input) record(i int, topics ridematch.Topics) *kgo.Record {
	r := &kgo.Record{}
	in.fill(r, i, topics)
	return r
}

// fill makes r record i.
func (in *input) fill(r *kgo.Record, i int, topics ridematch.Topics) {
	x := &in.recs[i]
	topic := topics.Name(ridematch.RoleDriverLocations)
	if x.requests {
		topic = topics.Name(ridematch.RoleRideRequests)
	}
	*r = kgo.Record{
		Topic:     topic,
		Key:       in.arena[x.keyOff : x.keyOff+x.keyLen : x.keyOff+x.keyLen],
		Value:     in.arena[x.valOff : x.valOff+x.valLen : x.valOff+x.valLen],
		Timestamp: time.UnixMilli(x.tsMillis),
	}
}

// recycler keeps the records a producer is done with (its promise was called) for the
// next ones: the latency phase's load generator shares the collector with the engines
// it measures, and should leave it little to trace.
type recycler struct {
	mu   sync.Mutex
	free []*kgo.Record
}

func (c *recycler) get() *kgo.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		r := c.free[n-1]
		c.free = c.free[:n-1]
		return r
	}
	return &kgo.Record{}
}

// done is a produce promise that takes the record back.
func (c *recycler) done(r *kgo.Record, _ error) {
	*r = kgo.Record{}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free = append(c.free, r)
}
