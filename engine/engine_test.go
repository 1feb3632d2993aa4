package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"

	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"ridematch"
	"ridematch/broker"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded broker's and clients' connection goroutines wind down just after
		// Close returns.
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).run"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("RIDEMATCH_TEST_LOG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Str("test", t.Name()).Logger()
	}
	return zerolog.Nop()
}

// harness is an embedded broker with engines and a client, all on loopback.
type harness struct {
	t      *testing.T
	ctx    context.Context
	broker *broker.Broker
	client *kgo.Client
	topics ridematch.Topics
	// assignment is every engine's, and a clean replay's; so is offerTimeout.
	assignment   matcher.Assignment
	offerTimeout time.Duration
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, ridematch.DefaultTopics()) }

func newHarnessWith(t *testing.T, topics ridematch.Topics) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cfg := broker.DefaultConfig()
	cfg.Listen, cfg.Topics = "127.0.0.1:0", topics
	b, err := broker.Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &harness{t: t, ctx: ctx, broker: b, client: cl, topics: topics, assignment: matcher.DefaultConfig().Assignment}
}

type running struct {
	e      *Engine
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// stop stops the engine as SIGTERM does and waits for it.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("engine stopped with %v", r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("engine did not stop within 15s")
	}
}

func (h *harness) start(mutate ...func(*Config)) *running {
	h.t.Helper()
	cfg := DefaultConfig()
	cfg.Cluster.Brokers = []string{h.broker.Addr()}
	cfg.Topics = h.topics
	cfg.Matcher.RequestTTL = 5 * time.Second
	cfg.Matcher.Assignment = h.assignment
	cfg.Matcher.OfferTimeout = h.offerTimeout
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := New(cfg, testLogger(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	r := &running{e: e, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = e.Run(ctx)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (h *harness) produce(topic, key string, value []byte) {
	h.t.Helper()
	if err := h.client.ProduceSync(h.ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

// readAll returns a topic's committed records up to its end as of the call.
func (h *harness) readAll(topic string) []*kgo.Record {
	h.t.Helper()
	ends, err := kadm.NewClient(h.client).ListCommittedOffsets(h.ctx, topic)
	if err != nil {
		h.t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.broker.Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(h.ctx)
		if h.ctx.Err() != nil {
			h.t.Fatalf("reading %s: %v", topic, h.ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset == end-1 {
				delete(left, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// outcomesFor waits until every request has a final outcome (or the deadline passes) and
// returns the final outcomes by request id, failing on duplicates.
func (h *harness) outcomesFor(requests map[string]event.RideRequest, within time.Duration) map[string]map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := map[string]map[string]any{}
		dups := 0
		for _, r := range h.readAll(h.topics.Name(ridematch.RoleRideMatches)) {
			var m map[string]any
			if err := json.Unmarshal(r.Value, &m); err != nil {
				h.t.Fatalf("ride-matches holds non-JSON %q", r.Value)
			}
			switch m["event_type"] {
			case event.TypeRideMatched, event.TypeRideUnmatched, event.TypeRideCancelled:
			default:
				continue
			}
			id, _ := m["request_id"].(string)
			if _, ok := requests[id]; !ok {
				h.t.Fatalf("an outcome for a request never made: %s", r.Value)
			}
			if prev, ok := out[id]; ok {
				dups++
				h.t.Errorf("request %s has two final outcomes:\n%v\n%v", id, prev, m)
			}
			out[id] = m
		}
		if dups > 0 {
			h.t.FailNow()
		}
		if len(out) == len(requests) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// world generates reference-shaped input around Mumbai's places.
type world struct {
	rng     *rand.Rand
	drivers map[string]event.DriverLocation
}

func newWorld(seed uint64) *world {
	return &world{rng: rand.New(rand.NewPCG(seed, 1)), drivers: map[string]event.DriverLocation{}}
}

func (w *world) place() geo.Place {
	ps := geo.Cities()[0].Places
	return ps[w.rng.IntN(len(ps))]
}

func (w *world) driver(i int, at time.Time) event.DriverLocation {
	p := w.place()
	d := event.DriverLocation{
		DriverID:     fmt.Sprintf("DRV%04d", i),
		Location:     geo.Offset(p.Point, w.rng.NormFloat64()*1.5, w.rng.NormFloat64()*1.5),
		Time:         event.TimeOf(at),
		SpeedKMH:     20,
		Heading:      float64(w.rng.IntN(360)),
		Availability: event.Available,
		Vehicle:      event.Vehicles()[w.rng.IntN(len(event.Vehicles()))],
		Rating:       float64(40+w.rng.IntN(11)) / 10,
	}
	w.drivers[d.DriverID] = d
	return d
}

func (w *world) request(i int, at time.Time) event.RideRequest {
	from, to := w.place(), w.place()
	return event.RideRequest{
		RequestID:  fmt.Sprintf("REQ%05d", i),
		CustomerID: fmt.Sprintf("CUST%05d", i),
		PickupName: from.Name,
		DropName:   to.Name,
		Pickup:     geo.Offset(from.Point, w.rng.NormFloat64()*0.5, w.rng.NormFloat64()*0.5),
		Drop:       geo.Offset(to.Point, w.rng.NormFloat64()*0.5, w.rng.NormFloat64()*0.5),
		Time:       event.TimeOf(at),
		RideType:   event.RideTypes()[w.rng.IntN(len(event.RideTypes()))],
	}
}

// checkOutcomes asserts what docs/design.md promises of every outcome (Guarantees).
func checkOutcomes(t *testing.T, w *world, requests map[string]event.RideRequest, out map[string]map[string]any, maxKM float64) (matched int) {
	t.Helper()
	for id := range requests {
		if _, ok := out[id]; !ok {
			t.Errorf("request %s has no final outcome", id)
		}
	}
	byDriver := map[string]string{}
	for id, m := range out {
		if m["event_type"] != event.TypeRideMatched {
			continue
		}
		matched++
		req := requests[id]
		driverID, _ := m["driver_id"].(string)
		d, ok := w.drivers[driverID]
		if !ok {
			t.Errorf("%s matched to unknown driver %s", id, driverID)
			continue
		}
		if prev, ok := byDriver[driverID]; ok {
			t.Errorf("driver %s given two rides: %s and %s", driverID, prev, id)
		}
		byDriver[driverID] = id
		if km := geo.DistanceKM(req.Pickup, d.Location); km > maxKM+1e-9 {
			t.Errorf("%s matched %.3f km away, beyond %v km", id, km, maxKM)
		}
		if !req.RideType.Compatible(d.Vehicle) {
			t.Errorf("%s ride %s matched to a %s", id, req.RideType, d.Vehicle)
		}
	}
	return matched
}

// TestEndToEnd runs the engine as users do: reference-shaped events produced by a
// plain client, two engines in one group, a third joining and one leaving mid-stream, bad
// records mixed in. Every request gets exactly one final outcome, matches are in range
// and compatible, no driver gets two rides, bad records land in the dead-letter topic, and
// the outcomes are exactly what a clean, single replay of the region log gives.
func TestEndToEnd(t *testing.T) {
	h := newHarness(t)
	e1 := h.start()
	e2 := h.start()
	w := newWorld(1)
	now := time.Now().UTC()
	drivers, requests := h.topics.Name(ridematch.RoleDriverLocations), h.topics.Name(ridematch.RoleRideRequests)
	// Fewer drivers than requests: reservations decide who gets whom, which is what a
	// restored partition must get exactly right.
	for i := 0; i < 200; i++ {
		d := w.driver(i, now)
		h.produce(drivers, d.DriverID, d.AppendJSON(nil))
	}
	reqs := map[string]event.RideRequest{}
	var e3 *running
	bad := 0
	for i := 0; i < 240; i++ {
		r := w.request(i, time.Now().UTC())
		reqs[r.RequestID] = r
		h.produce(requests, r.RequestID, r.AppendJSON(nil))
		switch i {
		case 60:
			e3 = h.start() // joins
		case 120:
			e1.stop(t) // leaves gracefully, as on SIGTERM
		}
		if i%40 == 0 {
			h.produce(requests, "junk", []byte(`{"event_type":"ride_requested","request_id":"x"`))
			h.produce(drivers, "DRV-bad", []byte(`{"event_type":"driver_location_update","driver_id":"DRV-bad","location":{"lat":91,"lng":72.8},"timestamp":"2026-11-25T10:00:00","availability":"available","vehicle_type":"sedan"}`))
			bad += 2
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := h.outcomesFor(reqs, 40*time.Second)
	for _, e := range []*running{e2, e3} {
		if !waitFor(10*time.Second, e.e.Ready) {
			t.Error("an engine that owns rebuilt partitions does not say it is ready")
		}
	}
	matched := checkOutcomes(t, w, reqs, out, 3.0)
	if matched < len(reqs)/3 {
		t.Errorf("only %d of %d requests matched", matched, len(reqs))
	}
	if dlq := len(h.readAll(h.topics.Name(ridematch.RoleDeadLetter))); dlq != bad {
		t.Errorf("the dead-letter topic holds %d records, want the %d bad ones", dlq, bad)
	}
	e2.stop(t)
	e3.stop(t)

	// The region log is the matcher's input: replayed cleanly, in one pass per partition,
	// it must give exactly the outcomes the engines gave through two rebalances.
	replayed := replayRegionLog(t, h)
	for id, m := range out {
		got, _ := json.Marshal(m)
		want, _ := json.Marshal(replayed[id])
		if string(got) != string(want) {
			t.Errorf("request %s: engine wrote %s, a clean replay of the region log gives %s", id, got, want)
		}
	}
}

// TestReferenceShapes feeds the reference's exact events, as kafka-python's json.dumps
// writes them (naive isoformat timestamps, estimated_distance and surge_multiplier on the
// request), and expects the reference's match.
func TestReferenceShapes(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000000")
	for i, loc := range []string{`{"lat": 19.0545, "lng": 72.8414}`, `{"lat": 19.1197, "lng": 72.8464}`, `{"lat": 19.0596, "lng": 72.8656}`} {
		id := fmt.Sprintf("DRV00%d", i+1)
		v := fmt.Sprintf(`{"event_type": "driver_location_update", "driver_id": %q, "location": %s, "timestamp": %q, "speed": 12.5, "heading": 90.0, "availability": "available", "vehicle_type": "sedan", "rating": 4.7}`, id, loc, ts)
		h.produce(h.topics.Name(ridematch.RoleDriverLocations), id, []byte(v))
	}
	// The reference's flow: the drivers are known before the request comes. Live records of
	// two topics are routed as they are polled, so on a busy machine the request could
	// overtake them.
	for deadline := time.Now().Add(10 * time.Second); e.e.Stats().Drivers < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the matcher holds %d drivers of 3 after 10s", e.e.Stats().Drivers)
		}
	}
	req := fmt.Sprintf(`{"event_type": "ride_requested", "request_id": "3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11", "customer_id": "CUST001", "pickup_location": "bandra_station", "drop_location": "bkc", "pickup_coordinates": {"lat": 19.0544, "lng": 72.8413}, "drop_coordinates": {"lat": 19.0596, "lng": 72.8656}, "request_time": %q, "ride_type": "prime", "estimated_distance": 2.6192, "surge_multiplier": 1.0}`, ts)
	h.produce(h.topics.Name(ridematch.RoleRideRequests), "3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11", []byte(req))
	out := h.outcomesFor(map[string]event.RideRequest{"3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11": {}}, 20*time.Second)
	m := out["3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11"]
	if m == nil || m["event_type"] != event.TypeRideMatched || m["driver_id"] != "DRV001" {
		t.Fatalf("want DRV001 (0.014 km away) matched, got %v", m)
	}
	if fare := m["fare_estimate"]; fare != 81.43 {
		t.Errorf("fare %v, want the reference's (50 + 12 x 2.6192) x 1.0 = 81.43", fare)
	}
	if dlq := h.readAll(h.topics.Name(ridematch.RoleDeadLetter)); len(dlq) != 0 {
		t.Errorf("the reference's events were dead-lettered: %s", dlq[0].Value)
	}
}

// TestSameInputSameOutcomes runs the engine twice, each time on a fresh broker, over the
// same input, and expects the same matches.
func TestSameInputSameOutcomes(t *testing.T) {
	run := func() map[string]string {
		h := newHarness(t)
		w := newWorld(3)
		now := time.Now().UTC()
		for i := 0; i < 300; i++ {
			d := w.driver(i, now)
			h.produce(h.topics.Name(ridematch.RoleDriverLocations), d.DriverID, d.AppendJSON(nil))
		}
		reqs := map[string]event.RideRequest{}
		for i := 0; i < 80; i++ {
			r := w.request(i, now.Add(time.Duration(i)*time.Millisecond))
			reqs[r.RequestID] = r
			h.produce(h.topics.Name(ridematch.RoleRideRequests), r.RequestID, r.AppendJSON(nil))
		}
		var (
			mu       sync.Mutex
			consumed = map[string]int{}
		)
		e := h.start(func(c *Config) {
			c.OnTransaction = func(tt TransactionTiming) {
				mu.Lock()
				defer mu.Unlock()
				if tt.Process < 0 || tt.Produce < 0 || tt.Commit <= 0 {
					t.Errorf("%s transaction timed %v", tt.Stage, tt)
				}
				if tt.Committed {
					consumed[tt.Stage] += tt.Records
				}
			}
		})
		out := h.outcomesFor(reqs, 30*time.Second)
		e.stop(t)
		mu.Lock()
		// A clean run consumes each input record in exactly one committed transaction.
		if consumed["router"] != 380 || consumed["matcher"] == 0 {
			t.Errorf("committed transactions consumed %v, want 380 router records and some matcher ones", consumed)
		}
		mu.Unlock()
		got := map[string]string{}
		for id, m := range out {
			// The trip the fare prices, not the fare: its surge multiplier is the one the
			// pickup's cell had when the match was made, and in broker-clock mode that moment
			// is when the router received the records, so whether a surge boundary falls before
			// it differs between runs (a request adaptive lets wait for its window can see one
			// pass).
			got[id] = fmt.Sprint(m["event_type"], " ", m["driver_id"], " ", m["trip_distance_km"], " ", m["estimated_arrival"], " ", m["score"])
		}
		return got
	}
	a, b := run(), run()
	if len(a) != 80 {
		t.Fatalf("first run gave %d outcomes, want 80", len(a))
	}
	for id := range a {
		if a[id] != b[id] {
			t.Errorf("%s: %s, then %s", id, a[id], b[id])
		}
	}
}

// TestUnreachableBroker: a clear error, soon.
func TestUnreachableBroker(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cluster.Brokers = []string{"127.0.0.1:1"}
	cfg.Cluster.ConnectTimeout = time.Second
	e, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = e.Run(context.Background())
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Run = %v after %v, want an error within the connect timeout", err, time.Since(start))
	}
	t.Log(err)
}

func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
