package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
)

// TestSlowBroker: input keeps coming while the broker answers every produce request 100ms
// late for a few seconds (the engine's output and commits, and its upstream producers
// alike). The engine slows down, its buffers stay bounded, and once the broker recovers
// it catches up: every update routed, every request answered exactly once.
func TestSlowBroker(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	var slow atomic.Bool
	var delayed atomic.Int64
	c := h.broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if slow.Load() {
			delayed.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
		return nil, nil, false
	})

	w := newWorld(17)
	const drivers, rounds = 2000, 12
	dt, rt := h.topics.Name(ridematch.RoleDriverLocations), h.topics.Name(ridematch.RoleRideRequests)
	reqs := map[string]event.RideRequest{}
	var wg sync.WaitGroup
	start := time.Now()
	for round := 0; round < rounds; round++ {
		switch round {
		case 3:
			slow.Store(true)
		case 8:
			slow.Store(false)
		}
		at := start.Add(time.Duration(round) * 500 * time.Millisecond)
		for i := 0; i < drivers; i++ {
			// Each driver creeps 20 m north a round: the same drivers, moving.
			d := w.drivers[fmt.Sprintf("DRV%04d", i)]
			if round == 0 {
				d = w.driver(i, at)
			}
			d.Location = geo.Offset(d.Location, 0.02, 0)
			d.Time = event.TimeOf(at)
			w.drivers[d.DriverID] = d
			wg.Add(1)
			h.client.Produce(h.ctx, &kgo.Record{Topic: dt, Key: []byte(d.DriverID), Value: d.AppendJSON(nil)}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Error(err)
				}
			})
		}
		for i := 0; i < 20; i++ {
			r := w.request(round*20+i, time.Now().UTC())
			reqs[r.RequestID] = r
			h.produce(rt, r.RequestID, r.AppendJSON(nil))
		}
		time.Sleep(500 * time.Millisecond)
	}
	wg.Wait()
	recovered := time.Now()
	if !waitFor(60*time.Second, func() bool { return e.e.Stats().DriverUpdates >= drivers*rounds }) {
		t.Fatalf("routed %d of %d driver updates a minute after the broker recovered", e.e.Stats().DriverUpdates, drivers*rounds)
	}
	caughtUp := time.Since(recovered)
	out := h.outcomesFor(reqs, 30*time.Second)
	checkOutcomes(t, w, reqs, out, 3.0+0.02*rounds) // the driver may have moved on since
	s := e.e.Stats()
	t.Logf("%d produce requests delayed; caught up %v after; most buffered: %d fetched, %d to produce",
		delayed.Load(), caughtUp.Round(time.Millisecond), s.MaxBufferedFetch, s.MaxBufferedProduce)
	if delayed.Load() == 0 {
		t.Fatal("the broker was never slow: the test proved nothing")
	}
	// The bounds: a consumer buffers at most FetchMaxBytes a broker (16 MiB, some 60,000
	// of these records), a transaction holds MaxBatch records' outputs, and the producer
	// blocks at its 10,000-record default.
	if s.MaxBufferedFetch > 60_000 || s.MaxBufferedProduce > int64(3*DefaultConfig().MaxBatch) {
		t.Errorf("buffers grew to %d fetched and %d to produce", s.MaxBufferedFetch, s.MaxBufferedProduce)
	}
	if s.DriverUpdates != drivers*rounds {
		t.Errorf("routed %d driver updates, want %d: none dropped, none twice", s.DriverUpdates, drivers*rounds)
	}
}
