package bench

import (
	"runtime"
	"slices"
	"strings"
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
	"ridematch/simulator"
)

// cityLog is a city's drivers moving, as the matcher receives them: decoded region-log
// records with their index cells found, all in one partition. The first len(drivers)
// records place every driver; the rest move them.
type cityLog struct {
	// shared is the process-wide cache the partitions share, as an engine's do.
	shared      *matcher.Shared
	load, moves []event.LogRecord
	requests    []event.LogRecord
	start       event.Time
}

// newCityLog simulates drivers in one city for a few GPS rounds, and about requests
// requests at its places.
func newCityLog(cfg Config, drivers, rounds, requests int) (*cityLog, error) {
	if cfg.Scenario == simulator.AllCities {
		cfg.Scenario = geo.Cities()[0].Name
	}
	span := time.Duration(rounds) * cfg.GPSInterval
	start := event.TimeOf(time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC)) // noon in India
	w, err := world(cfg, drivers, float64(requests)/span.Seconds(), start.Std())
	if err != nil {
		return nil, err
	}
	loc := geo.NewLocator(cfg.Engine.Matcher.Resolutions.Index)
	cells := map[string]geo.Fix{}
	cl := &cityLog{start: w.Start(), shared: matcher.NewShared()}
	seen := map[string]bool{}
	w.Step(start.Add(span), func(in *event.Input) {
		switch in.Kind {
		case event.KindDriverLocation:
			d := in.Driver
			d.Availability = event.Available // the measurement wants them matchable
			// Each record its own id, as the matcher's decoder makes them: the world's
			// drivers share one string each, which a real record never does.
			d.DriverID = strings.Clone(d.DriverID)
			fix := loc.Locate(d.Location, cells[d.DriverID])
			cells[d.DriverID] = fix
			rec := event.LogRecord{Kind: event.LogDriver, Time: d.Time, Driver: d, Cell: fix.Cell}
			if !seen[d.DriverID] {
				seen[d.DriverID] = true
				rec.Route = event.RouteGenesis
				cl.load = append(cl.load, rec)
				return
			}
			cl.moves = append(cl.moves, rec)
		case event.KindRideRequest:
			q := in.Request
			cl.requests = append(cl.requests, event.LogRecord{Kind: event.LogRequest, Time: q.Time, Request: q,
				Cell: geo.CellOf(q.Pickup, cfg.Engine.Matcher.Resolutions.Index)})
		}
	})
	return cl, nil
}

// measureIndex times driver updates into the index on one core: a partition holding the
// city's drivers applies GPS rounds of all of them. The median of the runs is reported.
func measureIndex(cfg Config, cl *cityLog) (Spread, error) {
	var rates []float64
	for run := 0; run < cfg.Runs; run++ {
		p, err := matcher.New(cfg.Engine.Matcher, 0, cl.shared)
		if err != nil {
			return Spread{}, err
		}
		for i := range cl.load {
			p.Apply(&cl.load[i], event.Position(i))
			p.Outputs()
		}
		runtime.GC()
		start := time.Now()
		for i := range cl.moves {
			p.Apply(&cl.moves[i], event.Position(len(cl.load)+i))
			p.Outputs()
		}
		rates = append(rates, float64(len(cl.moves))/time.Since(start).Seconds())
	}
	return spread(rates), nil
}

// measureMatch times each request's Apply against a partition holding the city's
// drivers, all placed and available: the search, the scoring, the reservation and the
// outcome. Every run replays the same requests against the same partition, so a request
// costs the code the same each time; what differs between runs is what the machine did
// meanwhile (an interrupt, the other core's work, a page the kernel was sampling). best
// takes each request at its fastest run, which is the code's own cost; raw pools every
// run, interruptions and all. Both are in microseconds.
func measureMatch(cfg Config, cl *cityLog) (best, raw Percentiles, err error) {
	fastest := make([]float64, len(cl.requests))
	var all []float64
	// One run more than asked: the first warms the caches partitions share, as a
	// running engine's are, and is not counted.
	for run := -1; run < cfg.Runs; run++ {
		p, err := matcher.New(cfg.Engine.Matcher, 0, cl.shared)
		if err != nil {
			return Percentiles{}, Percentiles{}, err
		}
		for i := range cl.load {
			p.Apply(&cl.load[i], event.Position(i))
			p.Outputs()
		}
		last := cl.load[len(cl.load)-1].Time
		runtime.GC()
		for i := range cl.requests {
			r := cl.requests[i]
			// Every request at the moment the drivers were last placed: all fresh.
			r.Time, r.Request.Time = last, last
			start := time.Now()
			p.Apply(&r, event.Position(len(cl.load)+i))
			us := float64(time.Since(start).Nanoseconds()) / 1000
			p.Outputs()
			if run < 0 {
				continue
			}
			if run == 0 || us < fastest[i] {
				fastest[i] = us
			}
			all = append(all, us)
		}
	}
	return percentiles(fastest), percentiles(all), nil
}

// measureMemory is the heap one partition holds per driver, index and all: the heap with
// the partition loaded, less the heap once it is gone.
func measureMemory(cfg Config, cl *cityLog) (float64, error) {
	heap := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	p, err := matcher.New(cfg.Engine.Matcher, 0, cl.shared)
	if err != nil {
		return 0, err
	}
	for i := range cl.load {
		p.Apply(&cl.load[i], event.Position(i))
		p.Outputs()
	}
	with := heap()
	drivers := p.Drivers()
	p = nil
	without := heap()
	return float64(with-without) / float64(drivers), nil
}

func spread(xs []float64) Spread {
	s := slices.Clone(xs)
	slices.Sort(s)
	return Spread{Median: s[len(s)/2], Min: s[0], Max: s[len(s)-1]}
}

// percentiles of xs, nearest rank.
func percentiles(xs []float64) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: s[len(s)-1]}
}
