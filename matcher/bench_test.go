package matcher

import (
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// cityOf places n drivers around Mumbai's places, as the index holds a busy city.
func cityOf(b *testing.B, n int) (*Partition, []*event.LogRecord) { return cityOf2(b, n) }

func cityOf2(b testing.TB, n int) (*Partition, []*event.LogRecord) {
	b.Helper()
	p := newPartition(b)
	rng := rand.New(rand.NewPCG(1, 2))
	places := geo.Cities()[0].Places
	vehicles := event.Vehicles()
	var moves []*event.LogRecord
	for i := 0; i < n; i++ {
		pl := places[rng.IntN(len(places))].Point
		pos := geo.Offset(pl, rng.NormFloat64()*2, rng.NormFloat64()*2)
		r := driverAt(driverID(i), pos, t0, vehicle(vehicles[rng.IntN(len(vehicles))]), rating(4+float64(rng.IntN(11))/10))
		r.Cell = geo.CellOf(pos, p.cfg.Resolutions.Index)
		p.Apply(r, event.Position(i))
		p.Outputs()
		m := *r
		m.Route = event.RouteStay
		m.Time = t0.Add(time.Second)
		m.Driver.Time = m.Time
		m.Driver.Location = geo.Offset(pos, 0.01, 0.01)
		m.Cell = geo.CellOf(m.Driver.Location, p.cfg.Resolutions.Index)
		moves = append(moves, &m)
	}
	return p, moves
}

func driverID(i int) string {
	const digits = "0123456789"
	b := []byte("D0000000")
	for j := len(b) - 1; i > 0; j-- {
		b[j] = digits[i%10]
		i /= 10
	}
	return string(b)
}

func BenchmarkDriverUpdate(b *testing.B) {
	p, moves := cityOf(b, 50_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := moves[i%len(moves)]
		m.Time++
		m.Driver.Time = m.Time
		p.Apply(m, event.Position(len(moves)+i))
		p.Outputs()
		i++
	}
}

// BenchmarkMatch is one request into a 50,000-driver partition: its pickup's cell, the
// ring search, scoring and the reservation, greedy. Every request comes at one instant, so
// those that find no one wait for ever; adaptive would then scan them all for rivals at
// each arrival, which a partition whose requests expire never does.
func BenchmarkMatch(b *testing.B) {
	p, _ := cityOf(b, 50_000)
	p.cfg.Assignment = Greedy
	rng := rand.New(rand.NewPCG(3, 4))
	places := geo.Cities()[0].Places
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pl := places[rng.IntN(len(places))].Point
		pickup := geo.Offset(pl, rng.NormFloat64()*0.5, rng.NormFloat64()*0.5)
		r := requestAt(driverID(1_000_000+i), pickup, event.RideTypes()[rng.IntN(4)], t0)
		r.Cell = geo.CellOf(pickup, p.cfg.Resolutions.Index)
		p.Apply(r, event.Position(i))
		p.Outputs()
		i++
	}
}

// BenchmarkCollect is what a partition holding 50,000 drivers costs the garbage collector
// at each cycle: a full collection with the partition all that is live, and the heap
// objects and the bytes to scan for pointers it holds per driver.
func BenchmarkCollect(b *testing.B) {
	runtime.GC()
	before, beforeScan := heapObjects()
	p, _ := cityOf(b, 50_000)
	runtime.GC()
	after, afterScan := heapObjects()
	perDriver := float64(after-before) / float64(p.Drivers())
	scanPerDriver := float64(afterScan-beforeScan) / float64(p.Drivers())
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(p)
	b.ReportMetric(perDriver, "objects/driver")
	b.ReportMetric(scanPerDriver, "scan-B/driver")
}

// heapObjects is the heap's objects and the bytes of it the collector scans for
// pointers, as of the last collection.
func heapObjects() (objects, scan uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/objects:objects"}, {Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// BenchmarkAssign is one batch window in one city: 500 waiting requests among 2,000
// drivers, each request bringing its best BatchCandidates, solved exactly.
func BenchmarkAssign(b *testing.B) {
	p, _ := cityOf2(b, 2000)
	p.cfg.Assignment = Batch
	rng := rand.New(rand.NewPCG(3, 4))
	places := geo.Cities()[0].Places
	rides := []event.RideType{event.Micro, event.Mini, event.Prime, event.AutoRide}
	for i := range 500 {
		pickup := geo.Offset(places[rng.IntN(len(places))].Point, rng.NormFloat64()*2, rng.NormFloat64()*2)
		p.wait(&request{
			RideRequest: event.RideRequest{RequestID: driverID(i), Pickup: pickup, RideType: rides[i%len(rides)]},
			origin:      geo.CellOf(pickup, p.cfg.Resolutions.Index), deadline: t0.Add(time.Minute),
		})
	}
	edges, matched := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range p.pending {
			r.searched = 0
		}
		w := p.solveWindow()
		edges, matched = len(w.graph.Col), 0
		for _, c := range w.match {
			if c >= 0 {
				matched++
			}
		}
	}
	b.ReportMetric(float64(edges), "edges")
	b.ReportMetric(float64(matched), "matched")
}
