package router_test

import (
	"fmt"
	"hash/fnv"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/router"
	"ridematch/simulator"
)

// BenchmarkRoute routes a simulated Mumbai's GPS and requests, encoded as they arrive on
// the input topics, through the routers of their input partitions: decoding, checking,
// locating and the ownership handover, as the first stage does per record.
func BenchmarkRoute(b *testing.B) {
	cfg := simulator.DefaultConfig()
	cfg.Drivers, cfg.Rate = 20_000, 50
	start := event.TimeOf(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	w, err := simulator.NewWorld(cfg, start)
	if err != nil {
		b.Fatal(err)
	}
	type input struct {
		value []byte
		src   router.Source
		part  int
	}
	const parts = 12
	var ins []input
	w.Step(start.Add(2*time.Minute), func(in *event.Input) {
		var v []byte
		src := router.Source{Topic: router.RideRequests, Time: in.Time()}
		key := ""
		switch in.Kind {
		case event.KindDriverLocation:
			v, key, src.Topic = in.Driver.AppendJSON(nil), in.Driver.DriverID, router.DriverLocations
		case event.KindRideRequest:
			v, key = in.Request.AppendJSON(nil), in.Request.RequestID
		case event.KindRideCancel:
			v, key = in.Cancel.AppendJSON(nil), in.Cancel.RequestID
		}
		h := fnv.New32a()
		h.Write([]byte(key))
		ins = append(ins, input{v, src, int(h.Sum32() % parts)})
	})
	var routed int
	emit := func(int32, *event.LogRecord) { routed++ }
	b.SetBytes(0)
	b.ReportAllocs()
	for b.Loop() {
		// Fresh routers each pass, so every update is routed as the first time: a driver's
		// first update starts its ownership, the rest follow it.
		b.StopTimer()
		var rs [parts]*router.Router
		shared := router.NewShared(router.DefaultConfig())
		for i := range rs {
			if rs[i], err = router.New(router.DefaultConfig(), 12, shared); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		for i := range ins {
			in := &ins[i]
			if err := rs[in.part].Route(in.value, in.src, emit); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ins)), "ns/record")
}

// BenchmarkRouteResponse routes drivers' answers to offers: decoding, checking, and
// reading the partition out of the offer id.
func BenchmarkRouteResponse(b *testing.B) {
	at := event.TimeOf(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	var values [][]byte
	for i := range 64 {
		r := event.OfferResponse{OfferID: event.OfferID(int32(i%12), fmt.Sprint("REQ-", i), fmt.Sprint("DRV-", i), at),
			RequestID: fmt.Sprint("REQ-", i), DriverID: fmt.Sprint("DRV-", i), Accepted: i%3 != 0, Time: at}
		values = append(values, r.AppendJSON(nil))
	}
	r, err := router.New(router.DefaultConfig(), 12, nil)
	if err != nil {
		b.Fatal(err)
	}
	src := router.Source{Topic: router.DriverResponses, Time: at}
	emit := func(int32, *event.LogRecord) {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := r.Route(values[i&63], src, emit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollect is what a router remembering 100,000 drivers costs the garbage
// collector at each cycle: a full collection with the router all that is live, and the
// heap objects and the bytes to scan for pointers it holds per driver.
func BenchmarkCollect(b *testing.B) {
	const drivers = 100_000
	start := event.TimeOf(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	mumbai := geo.Cities()[0].Places[0].Point
	runtime.GC()
	before, beforeScan := heapObjects()
	r, err := router.New(router.DefaultConfig(), 12, nil)
	if err != nil {
		b.Fatal(err)
	}
	emit := func(int32, *event.LogRecord) {}
	for i := range drivers {
		d := event.DriverLocation{
			DriverID: fmt.Sprintf("DRV%06d", i), Location: geo.Offset(mumbai, float64(i%300)/10, float64(i/300%300)/10),
			Time: start, Availability: event.Available, Vehicle: event.Sedan, Rating: 4.5,
		}
		if err := r.Route(d.AppendJSON(nil), router.Source{Topic: router.DriverLocations, Time: start}, emit); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	after, afterScan := heapObjects()
	perDriver := float64(after-before) / float64(r.Drivers())
	scanPerDriver := float64(afterScan-beforeScan) / float64(r.Drivers())
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(r)
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

// BenchmarkPartitionOf is the hash every region-log record's partition is chosen by.
func BenchmarkPartitionOf(b *testing.B) {
	cells := make([]geo.Cell, 1024)
	for i := range cells {
		cells[i] = geo.CellOf(geo.Offset(geo.Point{Lat: 19.0544, Lng: 72.8413}, float64(i%32), float64(i/32)), 4)
	}
	var sum int32
	for i := 0; b.Loop(); i++ {
		sum += router.PartitionOf(cells[i&1023], 12)
	}
	if sum < 0 {
		b.Fatal("a negative partition")
	}
}
