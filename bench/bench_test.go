package bench

import (
	"runtime"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/matcher"
)

// BenchmarkMatchCity is the match measurement of `ridematch bench`: a request's Apply
// against a partition holding a city of 50,000 simulated drivers.
func BenchmarkMatchCity(b *testing.B) {
	cfg := DefaultConfig()
	cl, err := newCityLog(cfg, 50_000, 10, 2000)
	if err != nil {
		b.Fatal(err)
	}
	// The partitions share a process's caches, as an engine's do; the first loop warms them.
	for b.Loop() {
		b.StopTimer()
		p, err := matcher.New(cfg.Engine.Matcher, 0, cl.shared)
		if err != nil {
			b.Fatal(err)
		}
		for i := range cl.load {
			p.Apply(&cl.load[i], event.Position(i))
			p.Outputs()
		}
		last := cl.load[len(cl.load)-1].Time
		b.StartTimer()
		for i := range cl.requests {
			r := cl.requests[i]
			r.Time, r.Request.Time = last, last
			p.Apply(&r, event.Position(len(cl.load)+i))
			p.Outputs()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cl.requests))/1000, "us/match")
}

// BenchmarkIndexCity is the index measurement of `ridematch bench`.
func BenchmarkIndexCity(b *testing.B) {
	cfg := DefaultConfig()
	cl, err := newCityLog(cfg, 50_000, 10, 0)
	if err != nil {
		b.Fatal(err)
	}
	p, err := matcher.New(cfg.Engine.Matcher, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range cl.load {
		p.Apply(&cl.load[i], event.Position(i))
		p.Outputs()
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		m := cl.moves[n%len(cl.moves)]
		m.Time += event.Time(time.Hour/time.Microsecond) * event.Time(n/len(cl.moves)+1)
		m.Driver.Time = m.Time
		p.Apply(&m, event.Position(len(cl.load)+n))
		p.Outputs()
		n++
	}
}

// BenchmarkCollectEngine is a full collection of the state the bench's latency load
// leaves in an engine: 100,000 drivers and 3,000,000 events through the in-process
// pipeline (the routers of 18 input partitions, 12 matcher partitions), the rest of the
// heap nearly empty. Run it with -cpu 1, so that its time is the collector's CPU: at two
// cores, its mark takes CPU the pipeline has no spare of (BENCHMARKS.md, "Go benchmarks").
func BenchmarkCollectEngine(b *testing.B) {
	cfg := DefaultConfig()
	w, err := world(cfg, cfg.Drivers, cfg.Rate, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	p, err := newPipeline(cfg, 12, func(int32, event.Output) {})
	if err != nil {
		b.Fatal(err)
	}
	for n, t := 0, w.Start(); n < 3_000_000; {
		t = t.Add(100 * time.Millisecond)
		w.Step(t, func(e *event.Input) { p.input(e); n++ })
		p.tick(t)
	}
	runtime.GC()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(p)
}
