package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
)

// Points in two cities, and where the test's records say they were sent.
var (
	bandra  = geo.Point{Lat: 19.0544, Lng: 72.8413}
	bkc     = geo.Point{Lat: 19.0596, Lng: 72.8656}
	saket   = geo.Point{Lat: 28.5245, Lng: 77.2066}
	atlanta = geo.Point{Lat: 33.749, Lng: -84.388} // in no city of the map
)

func testFeed(t *testing.T, mutate ...func(*Config)) *feed {
	t.Helper()
	cfg := DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return newFeed(cfg, zerolog.Nop(), newLatency())
}

// put applies a record at a wall time, as the reader does.
func (f *feed) put(topic, key string, value []byte, stamp, wall time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apply(&kgo.Record{Topic: topic, Key: []byte(key), Value: value, Timestamp: stamp}, wall)
}

func driverJSON(id string, p geo.Point, at time.Time, availability string) []byte {
	return fmt.Appendf(nil, `{"event_type":"driver_location_update","driver_id":%q,"location":{"lat":%v,"lng":%v},"timestamp":%q,"speed":20,"heading":90,"availability":%q,"vehicle_type":"sedan","rating":4.7}`,
		id, p.Lat, p.Lng, at.UTC().Format(time.RFC3339Nano), availability)
}

func requestJSON(id string, p geo.Point, at time.Time) []byte {
	return fmt.Appendf(nil, `{"event_type":"ride_requested","request_id":%q,"customer_id":"CUST1","pickup_location":"bandra_station","drop_location":"bkc","pickup_coordinates":{"lat":%v,"lng":%v},"drop_coordinates":{"lat":19.0596,"lng":72.8656},"request_time":%q,"ride_type":"prime"}`,
		id, p.Lat, p.Lng, at.UTC().Format(time.RFC3339Nano))
}

func matchedJSON(request string, pickup, driver geo.Point) []byte {
	cell := geo.CellOf(pickup, 7)
	return fmt.Appendf(nil, `{"event_type":"ride_matched","request_id":%q,"driver_id":"DRV1","h3_cell":%q,"pickup_coordinates":{"lat":%v,"lng":%v},"driver_location":{"lat":%v,"lng":%v}}`,
		request, cell, pickup.Lat, pickup.Lng, driver.Lat, driver.Lng)
}

func unmatchedJSON(request string, pickup geo.Point) []byte {
	return fmt.Appendf(nil, `{"event_type":"ride_unmatched","request_id":%q,"h3_cell":%q,"pickup_coordinates":{"lat":%v,"lng":%v},"reason":"no_compatible_driver_within_range"}`,
		request, geo.CellOf(pickup, 7), pickup.Lat, pickup.Lng)
}

func surgeJSON(cell geo.Cell, m float64) []byte {
	return fmt.Appendf(nil, `{"event_type":"surge_updated","h3_cell":%q,"resolution":7,"surge_multiplier":%v,"previous_multiplier":1,"demand":9,"supply":3,"window_seconds":300}`, cell, m)
}

// snap returns a city's snapshot, decoded.
func (f *feed) snap(t *testing.T, city string) Snapshot {
	t.Helper()
	b, _, ok := f.snapshot(city, true)
	if !ok {
		t.Fatalf("no snapshot for %q", city)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func latencyCount(t *testing.T, f *feed, kind string) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	if err := f.latency.WithLabelValues(kind).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestFeedRequestWaitsUntilItsOutcome(t *testing.T) {
	f := testFeed(t)
	now := f.start.Add(time.Second)
	f.put(f.drivers, "DRV1", driverJSON("DRV1", bkc, now, "available"), now, now)
	f.put(f.requests, "REQ1", requestJSON("REQ1", bandra, now), now, now)
	f.put(f.requests, "REQ2", requestJSON("REQ2", bandra, now), now, now)
	f.tick(now)
	s := f.snap(t, "mumbai")
	if len(s.Pending) != 2 || s.Totals.Pending != 2 || len(s.Drivers) != 1 || s.Totals.Available != 1 {
		t.Fatalf("pending %d (total %d), drivers %d (available %d); want 2, 1", len(s.Pending), s.Totals.Pending, len(s.Drivers), s.Totals.Available)
	}

	f.put(f.matches, "REQ1", matchedJSON("REQ1", bandra, bkc), now.Add(12*time.Millisecond), now)
	f.put(f.matches, "REQ2", unmatchedJSON("REQ2", bandra), now.Add(5*time.Second), now)
	f.tick(now)
	s = f.snap(t, "mumbai")
	if len(s.Pending) != 0 || len(s.Matches) != 1 || s.Totals.Matched != 1 || s.Totals.Unmatched != 1 {
		t.Fatalf("pending %d, match lines %d, matched %d, unmatched %d; want 0, 1, 1, 1", len(s.Pending), len(s.Matches), s.Totals.Matched, s.Totals.Unmatched)
	}
	if got := s.Matches[0]; got[0] != bkc.Lat || got[2] != bandra.Lat {
		t.Errorf("match line %v: want from the driver (%v) to the pickup (%v)", got, bkc, bandra)
	}
	if len(s.Regions) != 1 || s.Regions[0].Matched != 1 || s.Regions[0].Unmatched != 1 || s.Regions[0].Drivers != 1 {
		t.Errorf("regions %+v: want one with 1 driver, 1 matched, 1 unmatched", s.Regions)
	}
	if n, sum := latencyCount(t, f, event.TypeRideMatched); n != 1 || sum < 0.011 || sum > 0.013 {
		t.Errorf("matched latency: %d observations summing %vs; want 1 of 0.012s", n, sum)
	}
	if n, _ := latencyCount(t, f, event.TypeRideUnmatched); n != 1 {
		t.Errorf("unmatched latency: %d observations; want 1", n)
	}
}

// The reader reads the topics side by side: an outcome may come before its request.
func TestFeedOutcomeBeforeRequest(t *testing.T) {
	f := testFeed(t)
	now := f.start.Add(time.Second)
	f.put(f.matches, "REQ1", matchedJSON("REQ1", bandra, bkc), now.Add(20*time.Millisecond), now)
	f.put(f.requests, "REQ1", requestJSON("REQ1", bandra, now), now, now)
	f.tick(now)
	s := f.snap(t, "mumbai")
	if len(s.Pending) != 0 {
		t.Errorf("%d pending; a request whose outcome came first must not wait", len(s.Pending))
	}
	if n, sum := latencyCount(t, f, event.TypeRideMatched); n != 1 || sum < 0.019 || sum > 0.021 {
		t.Errorf("latency: %d observations summing %vs; want 1 of 0.02s", n, sum)
	}
}

// Outcomes read back from before the map started, and requests stamped after their
// outcome (clocks apart), are not measured.
func TestFeedLatencySkipsHistoryAndSkew(t *testing.T) {
	f := testFeed(t)
	before := f.start.Add(-time.Minute)
	f.put(f.requests, "OLD", requestJSON("OLD", bandra, before), before, f.start)
	f.put(f.matches, "OLD", matchedJSON("OLD", bandra, bkc), before.Add(time.Millisecond), f.start)
	later := f.start.Add(time.Second)
	f.put(f.requests, "SKEW", requestJSON("SKEW", bandra, later), later, later)
	f.put(f.matches, "SKEW", matchedJSON("SKEW", bandra, bkc), later.Add(-time.Millisecond), later)
	if n, _ := latencyCount(t, f, event.TypeRideMatched); n != 0 {
		t.Errorf("%d latencies observed; want none", n)
	}
}

func TestFeedForgetsWhatIsOld(t *testing.T) {
	f := testFeed(t)
	now := f.start
	f.put(f.drivers, "DRV1", driverJSON("DRV1", bkc, now, "available"), now, now)
	f.put(f.requests, "REQ1", requestJSON("REQ1", bandra, now), now, now)
	f.put(f.matches, "REQ0", matchedJSON("REQ0", bandra, bkc), now, now)
	f.tick(now.Add(f.cfg.DriverTTL + time.Second))
	if s := f.snap(t, "mumbai"); s.Totals.Drivers != 0 || s.Totals.Pending != 1 {
		t.Errorf("after the driver TTL: %d drivers, %d pending; want 0, 1", s.Totals.Drivers, s.Totals.Pending)
	}
	f.tick(now.Add(f.cfg.RecentWindow + time.Second))
	if s := f.snap(t, "mumbai"); s.Totals.Pending != 0 || len(s.Matches) != 0 || s.Totals.Matched != 0 {
		t.Errorf("after the recent window: %d pending, %d lines, %d matched; want none", s.Totals.Pending, len(s.Matches), s.Totals.Matched)
	}
}

func TestFeedDriverUpdates(t *testing.T) {
	f := testFeed(t)
	now := f.start
	f.put(f.drivers, "DRV1", driverJSON("DRV1", bkc, now, "available"), now, now)
	f.put(f.drivers, "DRV1", driverJSON("DRV1", bandra, now.Add(2*time.Second), "busy"), now.Add(2*time.Second), now)
	// Older than the one held: dropped, as the router drops it.
	f.put(f.drivers, "DRV1", driverJSON("DRV1", bkc, now.Add(time.Second), "available"), now.Add(time.Second), now)
	f.put(f.drivers, "DRV2", driverJSON("DRV2", atlanta, now, "available"), now, now)
	f.put(f.drivers, "DRV3", []byte(`{"event_type":"driver_location_update"`), now, now)
	f.tick(now)
	s := f.snap(t, "mumbai")
	if len(s.Drivers) != 1 || s.Drivers[0] != [3]float64{bandra.Lat, bandra.Lng, 0} {
		t.Fatalf("drivers %v: want the busy driver at bandra only", s.Drivers)
	}
	if s.Totals.Moving != 1 || len(s.Cells) != 1 || s.Cells[0].Drivers != 1 || s.Cells[0].Available != 0 {
		t.Errorf("moving %d, cells %+v: want one moving driver in one cell", s.Totals.Moving, s.Cells)
	}
}

// However many drivers the cluster has, the map follows at most MaxDrivers, a sample by
// id, and says so.
func TestFeedFollowsASample(t *testing.T) {
	f := testFeed(t, func(c *Config) { c.MaxDrivers = 100 })
	now := f.start
	for i := range 1000 {
		id := fmt.Sprintf("DRV%04d", i)
		p := geo.Offset(bkc, float64(i%30)*0.1, float64(i/30)*0.1)
		f.put(f.drivers, id, driverJSON(id, p, now, "available"), now, now)
	}
	if n := len(f.follow); n > 100 || n < 25 {
		t.Errorf("following %d drivers; want between 25 and MaxDrivers (100)", n)
	}
	f.tick(now)
	s := f.snap(t, "mumbai")
	if s.Sample < 8 || s.Totals.Drivers != len(f.follow) {
		t.Errorf("sample 1 in %d, %d drivers shown; want 1 in 8 or more, the %d followed", s.Sample, s.Totals.Drivers, len(f.follow))
	}
}

func TestFeedSurgeAndCities(t *testing.T) {
	f := testFeed(t)
	now := f.start
	cell := geo.CellOf(bkc, 7)
	f.put(f.surge, cell.String(), surgeJSON(cell, 1.8), now, now)
	f.put(f.surge, "x", []byte(`{"h3_cell":"not a cell","surge_multiplier":2}`), now, now)
	for i := range 3 {
		id := fmt.Sprintf("DRV%d", i)
		f.put(f.drivers, id, driverJSON(id, saket, now, "available"), now, now)
	}
	f.tick(now)

	s := f.snap(t, "mumbai")
	if len(s.Cells) != 1 || s.Cells[0].ID != cell.String() || s.Cells[0].Multiplier != 1.8 || !s.Cells[0].Priced || s.Cells[0].Demand != 9 {
		t.Fatalf("cells %+v: want %s priced at 1.8 with demand 9", s.Cells, cell)
	}
	if len(s.Cells[0].Boundary) != 6 {
		t.Errorf("the cell has %d vertices; want 6", len(s.Cells[0].Boundary))
	}
	if s.Totals.Surging != 1 || s.Totals.MaxMultiplier != 1.8 || len(s.Regions) != 1 || s.Regions[0].Surging != 1 {
		t.Errorf("totals %+v, regions %+v: want one surging cell at 1.8", s.Totals, s.Regions)
	}
	if p := s.Regions[0].Partition; p < 0 || p >= 12 {
		t.Errorf("the region's partition is %d; want one of the region log's 12", p)
	}
	if d := f.snap(t, "delhi"); d.Totals.Drivers != 3 || len(d.Cells) != 1 || d.Cells[0].Multiplier != 1 {
		t.Errorf("delhi: %d drivers, cells %+v; want 3 drivers in one unpriced cell", d.Totals.Drivers, d.Cells)
	}
	if busiest := f.snap(t, ""); busiest.City != "delhi" {
		t.Errorf("without a city the map shows %s; want the busiest, delhi", busiest.City)
	}
	if _, _, ok := f.snapshot("atlantis", true); ok {
		t.Error("a snapshot of a city the map does not know")
	}
	var names []string
	for _, c := range s.Cities {
		names = append(names, c.Name)
	}
	if len(names) != len(geo.Cities()) || names[0] != "mumbai" {
		t.Errorf("the city picker lists %v; want every city of geo.Cities", names)
	}
}

// offeredJSON is a ride_offered of request to driver, made at the engine's log time at and
// open for span; offer ids are the request's and the attempt's.
func offeredJSON(request, driver string, attempt int, at time.Time, span time.Duration) []byte {
	return fmt.Appendf(nil, `{"event_type":"ride_offered","offer_id":"o-0-%s-%d","request_id":%q,"driver_id":%q,"customer_id":"CUST1","pickup_location":"bandra_station","drop_location":"bkc","pickup_coordinates":{"lat":%v,"lng":%v},"drop_coordinates":{"lat":19.0596,"lng":72.8656},"pickup_distance_km":2.5,"estimated_arrival":6,"fare_estimate":120,"surge_multiplier":1,"offer_timestamp":%q,"expires_at":%q,"attempt":%d,"ride_type":"prime","vehicle_type":"sedan"}`,
		request, attempt, request, driver, bandra.Lat, bandra.Lng, at.UTC().Format(time.RFC3339Nano), at.Add(span).UTC().Format(time.RFC3339Nano), attempt)
}

func withdrawnJSON(request, driver string, attempt int) []byte {
	return fmt.Appendf(nil, `{"event_type":"offer_withdrawn","offer_id":"o-0-%s-%d","request_id":%q,"driver_id":%q,"reason":"rider_cancelled","timestamp":"2026-11-25T19:00:00Z"}`,
		request, attempt, request, driver)
}

// acceptedJSON is the ride_matched an accepted offer makes.
func acceptedJSON(request, driver string, attempt int) []byte {
	return fmt.Appendf(nil, `{"event_type":"ride_matched","request_id":%q,"driver_id":%q,"offer_id":"o-0-%s-%d","h3_cell":%q,"pickup_coordinates":{"lat":%v,"lng":%v},"driver_location":{"lat":%v,"lng":%v}}`,
		request, driver, request, attempt, geo.CellOf(bandra, 7), bandra.Lat, bandra.Lng, bkc.Lat, bkc.Lng)
}

func offersRanOutJSON(request string, offers int) []byte {
	return fmt.Appendf(nil, `{"event_type":"ride_unmatched","request_id":%q,"h3_cell":%q,"pickup_coordinates":{"lat":%v,"lng":%v},"reason":"declined","offers":%d}`,
		request, geo.CellOf(bandra, 7), bandra.Lat, bandra.Lng, offers)
}

// driverStates returns the state the snapshot gives each driver, found by position.
func driverStates(s Snapshot, at map[string]geo.Point) map[string]float64 {
	states := map[string]float64{}
	for id, p := range at {
		for _, d := range s.Drivers {
			if d[0] == r5(p.Lat) && d[1] == r5(p.Lng) {
				states[id] = d[2]
			}
		}
	}
	return states
}

// A driver holding an offer is drawn as offered until the request's outcome, the offer's
// withdrawal, the request's next offer or the offer's expiry, on the map's clock: the
// record's time plus the time the offer gives, however far the engine's clock is from it.
func TestFeedOfferedDrivers(t *testing.T) {
	const span = 15 * time.Second
	// The engine's log time, an hour behind the record timestamps: only the offer's span
	// counts, not its expires_at against the map's clock.
	engineClock := -time.Hour
	type record struct {
		role  ridematch.Role
		value func(start time.Time) []byte
		after time.Duration // stamped this long after the start
	}
	offer := func(request, driver string, attempt int, after time.Duration) record {
		return record{ridematch.RoleDriverOffers, func(start time.Time) []byte {
			return offeredJSON(request, driver, attempt, start.Add(after+engineClock), span)
		}, after}
	}
	fixed := func(role ridematch.Role, b []byte, after time.Duration) record {
		return record{role, func(time.Time) []byte { return b }, after}
	}
	tests := []struct {
		name string
		give []record
		tick time.Duration // after the start
		want []string      // the offered drivers
	}{
		{"offered", []record{offer("REQ1", "DRV1", 1, 0)}, time.Second, []string{"DRV1"}},
		{"a busy driver offered", []record{offer("REQ1", "DRV2", 1, 0)}, time.Second, []string{"DRV2"}},
		{"accepted", []record{offer("REQ1", "DRV1", 1, 0),
			fixed(ridematch.RoleRideMatches, acceptedJSON("REQ1", "DRV1", 1), 3*time.Second)}, 4 * time.Second, nil},
		{"withdrawn", []record{offer("REQ1", "DRV1", 1, 0),
			fixed(ridematch.RoleDriverOffers, withdrawnJSON("REQ1", "DRV1", 1), 2*time.Second)}, 3 * time.Second, nil},
		{"another offer withdrawn", []record{offer("REQ2", "DRV1", 1, 0),
			fixed(ridematch.RoleDriverOffers, withdrawnJSON("REQ1", "DRV1", 1), 2*time.Second)}, 3 * time.Second, []string{"DRV1"}},
		{"open until it expires", []record{offer("REQ1", "DRV1", 1, 0)}, span - time.Millisecond, []string{"DRV1"}},
		{"expired", []record{offer("REQ1", "DRV1", 1, 0)}, span, nil},
		{"declined, offered to the next driver", []record{offer("REQ1", "DRV1", 1, 0), offer("REQ1", "DRV2", 2, 2*time.Second)},
			3 * time.Second, []string{"DRV2"}},
		{"the later offer read first", []record{offer("REQ1", "DRV2", 2, 2*time.Second), offer("REQ1", "DRV1", 1, 0)},
			3 * time.Second, []string{"DRV2"}},
		{"the outcome read before its offer", []record{fixed(ridematch.RoleRideMatches, acceptedJSON("REQ1", "DRV1", 1), 3*time.Second),
			offer("REQ1", "DRV1", 1, 0)}, 4 * time.Second, nil},
		{"offers ran out", []record{offer("REQ1", "DRV1", 1, 0),
			fixed(ridematch.RoleRideMatches, offersRanOutJSON("REQ1", 1), 3*time.Second)}, 4 * time.Second, nil},
		{"the driver offered another request", []record{offer("REQ1", "DRV1", 1, 0), offer("REQ2", "DRV1", 1, time.Second)},
			2 * time.Second, []string{"DRV1"}},
		{"not an offer", []record{fixed(ridematch.RoleDriverOffers, []byte(`{"event_type":"ride_offered","driver_id":"DRV1"}`), 0),
			fixed(ridematch.RoleDriverOffers, []byte(`{"event_type":"ride_offered"`), 0)}, time.Second, nil},
	}
	drivers := map[string]geo.Point{"DRV1": bkc, "DRV2": bandra}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testFeed(t)
			start := f.start.Add(time.Second)
			f.put(f.drivers, "DRV1", driverJSON("DRV1", bkc, start, "available"), start, start)
			f.put(f.drivers, "DRV2", driverJSON("DRV2", bandra, start, "busy"), start, start)
			for _, r := range tt.give {
				at := start.Add(r.after)
				f.put(f.cfg.Topics.Name(r.role), "", r.value(start), at, at)
			}
			f.tick(start.Add(tt.tick))
			s := f.snap(t, "mumbai")

			want := map[string]float64{"DRV1": driverAvailable, "DRV2": driverBusy}
			for _, id := range tt.want {
				want[id] = driverOffered
			}
			if got := driverStates(s, drivers); !maps.Equal(got, want) {
				t.Errorf("driver states %v; want %v", got, want)
			}
			available := 0
			if want["DRV1"] == driverAvailable {
				available = 1
			}
			if s.Totals.Offered != len(tt.want) || s.Totals.Available != available || s.Totals.Drivers != 2 {
				t.Errorf("totals: %d offered, %d available, %d drivers; want %d, %d, 2", s.Totals.Offered, s.Totals.Available, s.Totals.Drivers, len(tt.want), available)
			}
			var cells, regions int
			for _, c := range s.Cells {
				cells += c.Offered
			}
			for _, r := range s.Regions {
				regions += r.Offered
			}
			if cells != len(tt.want) || regions != len(tt.want) {
				t.Errorf("%d offered in the cells, %d in the regions; want %d", cells, regions, len(tt.want))
			}
			if len(f.offerOf) != len(f.offered) {
				t.Errorf("%d open offers by driver, %d by request: the indexes disagree", len(f.offered), len(f.offerOf))
			}
		})
	}
}

// The map reads offers from driver-offers and ends them on ride-matches, records a real
// client produced on an in-process broker.
func TestFeedReadsOffers(t *testing.T) {
	var topics []string
	for _, tp := range ridematch.DefaultTopics().Topics {
		topics = append(topics, tp.Name)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := testFeed(t, func(cfg *Config) {
		cfg.Cluster.Brokers = c.ListenAddrs()
		cfg.SnapshotInterval = 100 * time.Millisecond
	})
	opts, err := f.cfg.Cluster.Opts(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ProducerLinger(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	produce := func(topic, key string, value []byte) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Written before the map starts, a record in each partition written to later (one a
	// topic): a reader finds where to start as it starts, and in an empty partition would
	// start after a record written meanwhile.
	now := time.Now()
	drivers := map[string]geo.Point{"DRV1": bkc, "DRV2": bandra, "DRV3": geo.Offset(bkc, 1, 1)}
	for id, p := range drivers {
		produce(f.drivers, id, driverJSON(id, p, now, "available"))
	}
	produce(f.offers, "DRV1", offeredJSON("REQ1", "DRV1", 1, now, time.Minute))
	produce(f.offers, "DRV2", offeredJSON("REQ2", "DRV2", 1, now, time.Minute))
	produce(f.offers, "DRV3", offeredJSON("REQ3", "DRV3", 1, now, 4*time.Second))
	produce(f.matches, "REQ0", acceptedJSON("REQ0", "DRV0", 1))

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	f.watch() // the drivers are read only while someone watches
	wg.Go(func() { f.run(ctx, kadm.NewClient(cl), opts) })
	states := func() map[string]float64 {
		b, _, _ := f.snapshot("mumbai", true)
		var s Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return driverStates(s, drivers)
	}
	eventually(t, 10*time.Second, "three offered drivers", func() bool {
		return maps.Equal(states(), map[string]float64{"DRV1": driverOffered, "DRV2": driverOffered, "DRV3": driverOffered})
	})

	// DRV1 accepts, REQ2's rider cancels; DRV3 does not answer.
	produce(f.matches, "REQ1", acceptedJSON("REQ1", "DRV1", 1))
	produce(f.offers, "DRV2", withdrawnJSON("REQ2", "DRV2", 1))
	eventually(t, 10*time.Second, "DRV1 and DRV2 back to available", func() bool {
		s := states()
		return s["DRV1"] == driverAvailable && s["DRV2"] == driverAvailable
	})
	eventually(t, 10*time.Second, "DRV3's offer expired", func() bool {
		return states()["DRV3"] == driverAvailable
	})
}
