package matcher

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// noon in Mumbai, outside peak hours.
var t0 = event.TimeOf(time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC))

var (
	bandra = geo.Point{Lat: 19.0544, Lng: 72.8413}
	bkc    = geo.Point{Lat: 19.0596, Lng: 72.8656}
)

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func newPartition(t testing.TB, mutate ...func(*Config)) *Partition {
	t.Helper()
	cfg := DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type driverOpt func(*event.LogRecord)

func busy(r *event.LogRecord)           { r.Driver.Availability = event.Busy }
func vehicle(v event.Vehicle) driverOpt { return func(r *event.LogRecord) { r.Driver.Vehicle = v } }
func rating(x float64) driverOpt        { return func(r *event.LogRecord) { r.Driver.Rating = x } }
func route(rt event.Route, from int32) driverOpt {
	return func(r *event.LogRecord) { r.Route, r.From = rt, from }
}

func driverAt(id string, p geo.Point, at event.Time, opts ...driverOpt) *event.LogRecord {
	r := &event.LogRecord{Kind: event.LogDriver, Time: at, Route: event.RouteGenesis, Driver: event.DriverLocation{
		DriverID: id, Location: p, Time: at, SpeedKMH: 20, Availability: event.Available, Vehicle: event.Sedan, Rating: 4.5,
	}}
	for _, o := range opts {
		o(r)
	}
	return r
}

func requestAt(id string, pickup geo.Point, rt event.RideType, at event.Time) *event.LogRecord {
	return &event.LogRecord{Kind: event.LogRequest, Time: at, Request: event.RideRequest{
		RequestID: id, CustomerID: "C-" + id, PickupName: "bandra_station", DropName: "bkc",
		Pickup: pickup, Drop: bkc, Time: at, RideType: rt,
	}}
}

func cancelAt(id string, at event.Time) *event.LogRecord {
	return &event.LogRecord{Kind: event.LogCancel, Time: at, Cancel: event.RideCancel{RequestID: id, Time: at}}
}

func tickAt(at event.Time) *event.LogRecord { return &event.LogRecord{Kind: event.LogTick, Time: at} }

// apply applies records at the next offsets and returns their outputs, decisions aside.
func apply(p *Partition, recs ...*event.LogRecord) []Output {
	var out []Output
	for _, r := range recs {
		p.Apply(r, p.pos+1)
		for _, o := range p.Outputs() {
			if o.Decision == nil {
				out = append(out, o)
			}
		}
	}
	return out
}

func outcomes(out []Output) []event.Output {
	var evs []event.Output
	for _, o := range out {
		if o.Event != nil && o.Event.Type() != event.TypeSurgeUpdated {
			evs = append(evs, o.Event)
		}
	}
	return evs
}

func onlyMatch(t *testing.T, out []Output) *event.RideMatched {
	t.Helper()
	evs := outcomes(out)
	if len(evs) != 1 {
		t.Fatalf("want one outcome, got %d: %v", len(evs), describe(evs))
	}
	m, ok := evs[0].(*event.RideMatched)
	if !ok {
		t.Fatalf("want ride_matched, got %s", describe(evs))
	}
	return m
}

func describe(evs []event.Output) string {
	var b strings.Builder
	for _, e := range evs {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestMatchesBestDriverWithReferenceFields(t *testing.T) {
	p := newPartition(t)
	near := geo.Offset(bandra, 0.3, 0)       // 0.3 km, rating 4.0: 100-3+0+15 = 112
	rated := geo.Offset(bandra, 0, 0.8)      // 0.8 km, rating 4.9: 100-8+18+15 = 125
	far := geo.Offset(bandra, 2.9, 0)        // 2.9 km, rating 5.0: 100-29+20+15 = 106
	beyond := geo.Offset(bandra, 3.2, 0)     // out of range whatever its rating
	wrongType := geo.Offset(bandra, 0.05, 0) // an auto for a mini
	out := apply(p,
		driverAt("DRV-near", near, t0, rating(4.0)),
		driverAt("DRV-rated", rated, t0, rating(4.9)),
		driverAt("DRV-far", far, t0, rating(5.0)),
		driverAt("DRV-beyond", beyond, t0, rating(5.0)),
		driverAt("DRV-auto", wrongType, t0, rating(5.0), vehicle(event.Auto)),
		requestAt("R1", bandra, event.Mini, t0.Add(sec(1))),
	)
	m := onlyMatch(t, out)
	if m.DriverID != "DRV-rated" {
		t.Fatalf("matched %s, want DRV-rated (highest score)", m.DriverID)
	}
	wantKM := geo.DistanceKM(bandra, rated)
	tripKM := geo.DistanceKM(bandra, bkc)
	checks := []struct {
		name      string
		got, want any
	}{
		{"request_id", m.RequestID, "R1"},
		{"customer_id", m.CustomerID, "C-R1"},
		{"pickup_location", m.PickupLocation, "bandra_station"},
		{"drop_location", m.DropLocation, "bkc"},
		{"estimated_arrival", m.EstimatedArrival, int(wantKM/25*60) + 5},
		{"fare_estimate", m.FareEstimate, p.cfg.Fare(tripKM, 1)},
		{"match_timestamp", m.MatchTimestamp, t0.Add(sec(1))},
		{"driver_rating", m.DriverRating, 4.9},
		{"pickup_distance_km", m.PickupDistanceKM, round3(wantKM)},
		{"score", m.Score, round3(100 - 10*wantKM + 20*0.9 + 15)},
		{"surge_multiplier", m.SurgeMultiplier, 1.0},
		{"h3_cell", m.H3Cell, geo.CellOf(bandra, 9).Parent(7)},
		{"vehicle_type", m.VehicleType, "sedan"},
		{"ride_type", m.RideType, "mini"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	j, _ := json.Marshal(m)
	for _, f := range []string{"match_id", "request_id", "customer_id", "driver_id", "pickup_location", "drop_location", "estimated_arrival", "fare_estimate", "match_timestamp", "driver_rating"} {
		if !strings.Contains(string(j), `"`+f+`":`) {
			t.Errorf("ride_matched JSON lacks the reference's %s: %s", f, j)
		}
	}
}

func TestPeakHoursAreLocal(t *testing.T) {
	// 13:00 UTC is 18:30 in Mumbai: peak, so the ETA uses 15 km/h.
	at := event.TimeOf(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC))
	p := newPartition(t)
	d := geo.Offset(bandra, 2.5, 0)
	m := onlyMatch(t, apply(p, driverAt("D", d, at), requestAt("R", bandra, event.Prime, at)))
	if want := int(geo.DistanceKM(bandra, d)/15*60) + 5; m.EstimatedArrival != want {
		t.Errorf("peak ETA %d, want %d", m.EstimatedArrival, want)
	}
}

func TestVehicleCompatibility(t *testing.T) {
	tests := []struct {
		ride    event.RideType
		vehicle event.Vehicle
		want    bool
	}{
		{event.Micro, event.Hatchback, true},
		{event.Micro, event.Sedan, false},
		{event.Micro, event.Auto, false},
		{event.Mini, event.Hatchback, true},
		{event.Mini, event.Sedan, true},
		{event.Mini, event.Auto, false},
		{event.Prime, event.Sedan, true},
		{event.Prime, event.Hatchback, false},
		{event.AutoRide, event.Auto, true},
		{event.AutoRide, event.Sedan, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%s", tt.ride, tt.vehicle), func(t *testing.T) {
			p := newPartition(t)
			out := outcomes(apply(p,
				driverAt("D", geo.Offset(bandra, 0.5, 0), t0, vehicle(tt.vehicle)),
				requestAt("R", bandra, tt.ride, t0),
			))
			matched := len(out) == 1 && out[0].Type() == event.TypeRideMatched
			if matched != tt.want || len(out) > 1 {
				t.Errorf("outcomes %s; want matched = %v", describe(out), tt.want)
			}
		})
	}
}

func TestSoftCompatibilityIsABonus(t *testing.T) {
	p := newPartition(t, func(c *Config) { c.SoftCompatibility = true })
	m := onlyMatch(t, apply(p,
		driverAt("D-auto", geo.Offset(bandra, 0.1, 0), t0, vehicle(event.Auto), rating(5)),
		driverAt("D-sedan", geo.Offset(bandra, 0.5, 0), t0, rating(4.0)),
		requestAt("R", bandra, event.Mini, t0),
	))
	// auto: 100 - 1 + 20 = 119; sedan: 100 - 5 + 0 + 15 = 110.
	if m.DriverID != "D-auto" || m.Score != round3(119) {
		t.Errorf("soft compatibility matched %s with score %v, want D-auto with 119", m.DriverID, m.Score)
	}
}

func TestTiesGoToNearerThenSmallerID(t *testing.T) {
	p := newPartition(t)
	a := geo.Offset(bandra, 1, 0)
	m := onlyMatch(t, apply(p,
		driverAt("D-b", a, t0),
		driverAt("D-a", a, t0),
		driverAt("D-c", geo.Offset(bandra, 0, 1.0000001), t0),
		requestAt("R", bandra, event.Prime, t0),
	))
	if m.DriverID != "D-a" {
		t.Errorf("tie went to %s, want D-a", m.DriverID)
	}
}

func TestWaitingRequestUnmatchedAfterTTL(t *testing.T) {
	p := newPartition(t, func(c *Config) { c.RequestTTL = 5 * time.Second })
	out := outcomes(apply(p,
		driverAt("D-far", geo.Offset(bandra, 3.5, 0), t0),
		requestAt("R", bandra, event.Mini, t0),
		tickAt(t0.Add(sec(4.9))),
	))
	if len(out) != 0 {
		t.Fatalf("outcome before the TTL: %s", describe(out))
	}
	out = outcomes(apply(p, tickAt(t0.Add(sec(5)))))
	if len(out) != 1 {
		t.Fatalf("want ride_unmatched at the TTL, got %s", describe(out))
	}
	u, ok := out[0].(*event.RideUnmatched)
	if !ok || u.Reason != event.UnmatchedNoDriver || u.Timestamp != t0.Add(sec(5)) {
		t.Fatalf("want ride_unmatched at t0+5s, got %s", describe(out))
	}
	if out := outcomes(apply(p, tickAt(t0.Add(sec(60))), driverAt("D-near", bandra, t0.Add(sec(61))), tickAt(t0.Add(sec(62))))); len(out) != 0 {
		t.Fatalf("a second outcome: %s", describe(out))
	}
}

func TestWaitingRequestMatchedWhenADriverFreesUp(t *testing.T) {
	p := newPartition(t)
	out := apply(p,
		driverAt("D", geo.Offset(bandra, 1, 0), t0, busy),
		requestAt("R", bandra, event.Mini, t0.Add(sec(1))),
	)
	if len(outcomes(out)) != 0 {
		t.Fatalf("matched a busy driver: %s", describe(outcomes(out)))
	}
	out = apply(p, driverAt("D", geo.Offset(bandra, 1, 0), t0.Add(sec(10)), route(event.RouteStay, 0)), tickAt(t0.Add(sec(10.3))))
	m := onlyMatch(t, out)
	if m.DriverID != "D" || m.MatchTimestamp > t0.Add(sec(10.3)) {
		t.Errorf("matched %s at %v, want D by the first retry boundary", m.DriverID, m.MatchTimestamp)
	}
}

// A waiting request is matched with a driver who was indexed but silent past the driver
// TTL when it was searched for, once the driver reports again from where it was: the
// retry after that update must search, not be skipped as if nothing had changed.
func TestWaitingRequestMatchedWhenAStaleDriverReports(t *testing.T) {
	p := newPartition(t)
	at := geo.Offset(bandra, 1, 0)
	apply(p, driverAt("D", at, t0))
	out := apply(p, requestAt("R", bandra, event.Mini, t0.Add(sec(40))), tickAt(t0.Add(sec(41))))
	if len(outcomes(out)) != 0 {
		t.Fatalf("matched a driver silent for 40s: %s", describe(outcomes(out)))
	}
	out = apply(p, driverAt("D", at, t0.Add(sec(45)), route(event.RouteStay, 0)), tickAt(t0.Add(sec(45.3))))
	if m := onlyMatch(t, out); m.DriverID != "D" {
		t.Errorf("matched %s, want D", m.DriverID)
	}
}

func TestReservationHoldsUntilTheDriverShowsBusy(t *testing.T) {
	p := newPartition(t)
	d := geo.Offset(bandra, 0.5, 0)
	stay := route(event.RouteStay, 0)
	onlyMatch(t, apply(p, driverAt("D", d, t0), requestAt("R1", bandra, event.Mini, t0.Add(sec(1)))))
	// Updates sent before the driver heard of its match still say available.
	out := apply(p,
		driverAt("D", d, t0.Add(sec(2)), stay),
		requestAt("R2", bandra, event.Mini, t0.Add(sec(3))),
	)
	if len(outcomes(out)) != 0 {
		t.Fatalf("a reserved driver was matched again: %s", describe(outcomes(out)))
	}
	// The driver shows busy (the reservation becomes the trip), then finishes.
	apply(p, driverAt("D", d, t0.Add(sec(4)), stay, busy))
	if out := outcomes(apply(p, tickAt(t0.Add(sec(5))))); len(out) != 0 {
		t.Fatalf("a busy driver was matched: %s", describe(out))
	}
	m := onlyMatch(t, apply(p, driverAt("D", d, t0.Add(sec(20)), stay), tickAt(t0.Add(sec(20.5)))))
	if m.RequestID != "R2" {
		t.Errorf("the freed driver took %s, want the waiting R2", m.RequestID)
	}
}

func TestReservationTimesOut(t *testing.T) {
	p := newPartition(t, func(c *Config) { c.ReservationTimeout = 10 * time.Second; c.RequestTTL = 60 * time.Second })
	d := geo.Offset(bandra, 0.5, 0)
	stay := route(event.RouteStay, 0)
	onlyMatch(t, apply(p, driverAt("D", d, t0), requestAt("R1", bandra, event.Mini, t0)))
	apply(p, requestAt("R2", bandra, event.Mini, t0.Add(sec(1))))
	if out := outcomes(apply(p, driverAt("D", d, t0.Add(sec(9)), stay), tickAt(t0.Add(sec(9.9))))); len(out) != 0 {
		t.Fatalf("matched before the reservation timed out: %s", describe(out))
	}
	m := onlyMatch(t, apply(p, driverAt("D", d, t0.Add(sec(10.5)), stay), tickAt(t0.Add(sec(11.5)))))
	if m.RequestID != "R2" {
		t.Errorf("after the timeout the driver took %s, want R2", m.RequestID)
	}
}

func TestStaleDriversAreNotMatched(t *testing.T) {
	p := newPartition(t)
	out := outcomes(apply(p,
		driverAt("D", geo.Offset(bandra, 0.5, 0), t0),
		requestAt("R", bandra, event.Mini, t0.Add(sec(30.001))),
	))
	if len(out) != 0 {
		t.Fatalf("matched a driver silent for longer than the driver TTL: %s", describe(out))
	}
}

func TestOlderDriverUpdatesAreIgnored(t *testing.T) {
	p := newPartition(t)
	stay := route(event.RouteStay, 0)
	apply(p,
		driverAt("D", geo.Offset(bandra, 0.5, 0), t0.Add(sec(10))),
		driverAt("D", geo.Offset(bandra, 10, 0), t0.Add(sec(5)), stay),
	)
	if p.Stats().StaleUpdates != 1 {
		t.Fatalf("stale updates = %d, want 1", p.Stats().StaleUpdates)
	}
	onlyMatch(t, apply(p, requestAt("R", bandra, event.Mini, t0.Add(sec(11)))))
}

func TestDuplicateRequestsGetOneOutcome(t *testing.T) {
	p := newPartition(t)
	out := apply(p,
		driverAt("D1", geo.Offset(bandra, 0.5, 0), t0),
		driverAt("D2", geo.Offset(bandra, 0.6, 0), t0),
		requestAt("R", bandra, event.Mini, t0),
		requestAt("R", bandra, event.Mini, t0.Add(sec(1))),
	)
	onlyMatch(t, out)
	if p.Stats().Duplicates != 1 {
		t.Errorf("duplicates = %d, want 1", p.Stats().Duplicates)
	}
}

func TestCancels(t *testing.T) {
	t.Run("waiting request", func(t *testing.T) {
		p := newPartition(t)
		out := outcomes(apply(p, requestAt("R", bandra, event.Mini, t0), cancelAt("R", t0.Add(sec(2))), tickAt(t0.Add(sec(60)))))
		if len(out) != 1 || out[0].Type() != event.TypeRideCancelled {
			t.Fatalf("want exactly ride_cancelled, got %s", describe(out))
		}
	})
	t.Run("after the match", func(t *testing.T) {
		p := newPartition(t)
		out := outcomes(apply(p,
			driverAt("D", geo.Offset(bandra, 0.5, 0), t0),
			requestAt("R1", bandra, event.Mini, t0),
			cancelAt("R1", t0.Add(sec(2))),
			requestAt("R2", bandra, event.Mini, t0.Add(sec(3))),
		))
		if len(out) != 3 || out[0].Type() != event.TypeRideMatched || out[1].Type() != event.TypeMatchCancelled || out[2].Type() != event.TypeRideMatched {
			t.Fatalf("want ride_matched, match_cancelled, ride_matched (the released driver), got %s", describe(out))
		}
		if mc := out[1].(*event.MatchCancelled); mc.DriverID != "D" || mc.MatchID != out[0].(*event.RideMatched).MatchID {
			t.Errorf("match_cancelled names %s/%s", mc.DriverID, mc.MatchID)
		}
	})
	t.Run("unknown or finished", func(t *testing.T) {
		p := newPartition(t)
		out := outcomes(apply(p, cancelAt("nobody", t0), requestAt("R", bandra, event.Mini, t0), cancelAt("R", t0.Add(sec(1))), cancelAt("R", t0.Add(sec(2)))))
		if len(out) != 1 {
			t.Fatalf("want one outcome, got %s", describe(out))
		}
		if p.Stats().CancelsIgnored != 2 {
			t.Errorf("ignored cancels = %d, want 2", p.Stats().CancelsIgnored)
		}
	})
}

func tokens(out []Output) []Output {
	var ts []Output
	for _, o := range out {
		if o.Handoff != nil {
			ts = append(ts, o)
		}
	}
	return ts
}

func TestOwnershipHandoff(t *testing.T) {
	d := geo.Offset(bandra, 0.5, 0)
	left := func(at event.Time, to int32) *event.LogRecord {
		return &event.LogRecord{Kind: event.LogLeft, Time: at, DriverID: "D", To: to}
	}
	token := func(arrival event.Time, res event.Reservation) *event.LogRecord {
		return &event.LogRecord{Kind: event.LogToken, Time: arrival, DriverID: "D", Reservation: res}
	}

	t.Run("arrival waits for the token", func(t *testing.T) {
		p := newPartition(t)
		arrive := t0.Add(sec(1))
		out := outcomes(apply(p, driverAt("D", d, arrive, route(event.RouteArrival, 3)), requestAt("R", bandra, event.Mini, arrive.Add(sec(1)))))
		if len(out) != 0 {
			t.Fatalf("matched a driver whose token has not arrived: %s", describe(out))
		}
		m := onlyMatch(t, apply(p, token(arrive, event.Reservation{}), tickAt(arrive.Add(sec(1.5)))))
		if m.DriverID != "D" {
			t.Errorf("matched %s", m.DriverID)
		}
	})

	t.Run("the owner passes the token with its reservation", func(t *testing.T) {
		p := newPartition(t)
		m := onlyMatch(t, apply(p, driverAt("D", d, t0), requestAt("R", bandra, event.Mini, t0)))
		out := apply(p, left(t0.Add(sec(2)), 5))
		ts := tokens(out)
		if len(ts) != 1 || ts[0].To != 5 || ts[0].Handoff.Kind != event.LogToken || ts[0].Handoff.Time != t0.Add(sec(2)) {
			t.Fatalf("want one token for partition 5 at the move time, got %+v", ts)
		}
		if res := ts[0].Handoff.Reservation; res.RequestID != "R" || res.MatchID != m.MatchID {
			t.Errorf("the token lost the reservation: %+v", res)
		}
		if out := outcomes(apply(p, requestAt("R2", bandra, event.Mini, t0.Add(sec(3))))); len(out) != 0 {
			t.Fatalf("the old owner matched a driver it handed over: %s", describe(out))
		}
	})

	t.Run("a reservation travels with the token", func(t *testing.T) {
		p := newPartition(t)
		arrive := t0.Add(sec(1))
		apply(p,
			driverAt("D", d, arrive, route(event.RouteArrival, 3)),
			token(arrive, event.Reservation{RequestID: "R-elsewhere", MatchID: "m-x", Until: arrive.Add(sec(60))}),
		)
		if out := outcomes(apply(p, requestAt("R", bandra, event.Mini, arrive.Add(sec(1))))); len(out) != 0 {
			t.Fatalf("matched a driver reserved by another partition: %s", describe(out))
		}
		// The rider of the other partition cancels: every partition hears it.
		onlyMatch(t, apply(p, cancelAt("R-elsewhere", arrive.Add(sec(2))), tickAt(arrive.Add(sec(2.5)))))
	})

	t.Run("a token for a driver that left again is forwarded", func(t *testing.T) {
		p := newPartition(t)
		arrive := t0.Add(sec(1))
		out := apply(p,
			driverAt("D", d, arrive, route(event.RouteArrival, 3)),
			left(arrive.Add(sec(2)), 7),
			token(arrive, event.Reservation{}),
		)
		ts := tokens(out)
		if len(ts) != 1 || ts[0].To != 7 || ts[0].Handoff.Time != arrive.Add(sec(2)) {
			t.Fatalf("want the token forwarded to 7 for the arrival at the move time, got %+v", ts)
		}
		if out := outcomes(apply(p, requestAt("R", bandra, event.Mini, arrive.Add(sec(3))))); len(out) != 0 {
			t.Fatalf("matched a driver that left: %s", describe(out))
		}
	})

	t.Run("a left for an unknown driver still sends a token", func(t *testing.T) {
		p := newPartition(t)
		if ts := tokens(apply(p, left(t0, 2))); len(ts) != 1 || ts[0].To != 2 {
			t.Fatalf("want a free token to 2, got %+v", ts)
		}
	})
}

// randomLog is a plausible partition log: drivers moving around Bandra, changing
// availability, leaving for and coming back from another partition; requests, duplicate
// requests, cancels; and ticks every 100ms. Times are roughly ordered, as in a real log.
func randomLog(seed uint64, span time.Duration, drivers int, requestsPerSec float64) []*event.LogRecord {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type sim struct {
		id    string
		pos   geo.Point
		next  event.Time
		avail event.Availability
		away  bool // in the other partition
	}
	ds := make([]*sim, drivers)
	for i := range ds {
		ds[i] = &sim{
			id:    fmt.Sprintf("D%04d", i),
			pos:   geo.Offset(bandra, rng.NormFloat64()*1.5, rng.NormFloat64()*1.5),
			next:  t0.Add(time.Duration(rng.Int64N(int64(2 * time.Second)))),
			avail: event.Available,
		}
	}
	vehicles := []event.Vehicle{event.Hatchback, event.Sedan, event.Auto}
	rides := []event.RideType{event.Micro, event.Mini, event.Prime, event.AutoRide}
	var log []*event.LogRecord
	var requests []string
	end := t0.Add(span)
	nextReq := t0
	seen := map[string]bool{}
	for now := t0; now < end; now = now.Add(100 * time.Millisecond) {
		log = append(log, tickAt(now))
		for _, d := range ds {
			if d.next > now {
				continue
			}
			d.next = now.Add(2 * time.Second)
			ts := now.Add(-time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
			d.pos = geo.Offset(d.pos, rng.NormFloat64()*0.02, rng.NormFloat64()*0.02)
			switch r := rng.Float64(); {
			case r < 0.02:
				d.avail = event.Busy
			case r < 0.06:
				d.avail = event.Available
			case r < 0.065:
				d.avail = event.Offline
			}
			if d.away {
				if rng.Float64() < 0.1 {
					// Back from partition 1: the arrival, then the token a little later.
					d.away = false
					rec := driverAt(d.id, d.pos, ts, route(event.RouteArrival, 1), vehicle(vehicles[len(d.id)%3]), rating(4+float64(len(d.id)%10)/10))
					rec.Driver.Availability = d.avail
					log = append(log, rec)
					tok := &event.LogRecord{Kind: event.LogToken, Time: ts, DriverID: d.id}
					log = append(log, tickAt(now), tok)
				}
				continue
			}
			if rng.Float64() < 0.01 {
				d.away = true
				log = append(log, &event.LogRecord{Kind: event.LogLeft, Time: ts, DriverID: d.id, To: 1})
				continue
			}
			rt := event.RouteStay
			if !seen[d.id] {
				rt, seen[d.id] = event.RouteGenesis, true
			}
			rec := driverAt(d.id, d.pos, ts, route(rt, 0))
			rec.Driver.Vehicle = vehicles[int(d.id[len(d.id)-1])%3]
			rec.Driver.Rating = 3 + float64(int(d.id[len(d.id)-2])%20)/10
			rec.Driver.Availability = d.avail
			log = append(log, rec)
		}
		for nextReq <= now {
			nextReq = nextReq.Add(time.Duration(rng.ExpFloat64() / requestsPerSec * float64(time.Second)))
			id := fmt.Sprintf("R%06d", len(requests))
			pickup := geo.Offset(bandra, rng.NormFloat64()*1.2, rng.NormFloat64()*1.2)
			switch r := rng.Float64(); {
			case r < 0.03 && len(requests) > 0:
				id = requests[rng.IntN(len(requests))] // a duplicate
			case r < 0.08 && len(requests) > 0:
				// Riders cancel recent requests: some wait, some are matched.
				log = append(log, cancelAt(requests[len(requests)-1-rng.IntN(min(5, len(requests)))], now))
				continue
			case r < 0.15:
				pickup = geo.Offset(bandra, 8+rng.Float64(), 0) // beyond every driver
			}
			requests = append(requests, id)
			log = append(log, requestAt(id, pickup, rides[rng.IntN(len(rides))], now.Add(-time.Duration(rng.Int64N(int64(time.Second))))))
		}
	}
	return log
}

func encodeOutputs(t testing.TB, out []Output) []string {
	var s []string
	for _, o := range out {
		var v any = o.Event
		if o.Decision != nil {
			v = o.Decision
		}
		if o.Handoff != nil {
			v = struct {
				To int32
				R  *event.LogRecord
			}{o.To, o.Handoff}
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		s = append(s, string(j))
	}
	return s
}

// TestSearchFindsTheBestKnownDriver checks the ring search and its pruning against brute
// force over every driver the partition holds.
func TestSearchFindsTheBestKnownDriver(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		p := newPartition(t)
		matched := 0
		for i, r := range randomLog(seed, 3*time.Minute, 400, 5) {
			if r.Kind == event.LogRequest {
				p.advance(r.Time)
				q := &request{RideRequest: r.Request, origin: geo.CellOf(r.Request.Pickup, p.cfg.Resolutions.Index)}
				got, gotKM, gotScore := p.search(q)
				want, wantKM, wantScore := bruteForce(p, q)
				if got != want {
					t.Fatalf("seed %d record %d: search found %v (%.3f km, %.3f), brute force %v (%.3f km, %.3f)", seed, i, name(p, got), gotKM, gotScore, name(p, want), wantKM, wantScore)
				}
				if got != nil {
					matched++
				}
			}
			p.Apply(r, event.Position(i))
			p.Outputs()
		}
		if matched == 0 {
			t.Fatalf("seed %d: no request could be matched; the test proves nothing", seed)
		}
	}
}

func name(p *Partition, d *driver) string {
	if d == nil {
		return "nobody"
	}
	return p.drivers.String(d.id)
}

func bruteForce(p *Partition, r *request) (best *driver, bestKM, bestScore float64) {
	w := p.cfg.Weights
	for _, ref := range p.drivers.All() {
		d := p.table.at(ref)
		compatible := r.RideType.Compatible(d.vehicle)
		if d.own != ownOwned || d.avail != event.Available || p.reservation(d) != nil || !d.located || !compatible || !p.fresh(d) {
			continue
		}
		km := geo.DistanceKM(r.Pickup, d.pos)
		if km > p.cfg.MaxPickupKM {
			continue
		}
		s := w.Score(km, d.rating, compatible)
		if best == nil || s > bestScore || (s == bestScore && (km < bestKM || (km == bestKM && name(p, d) < name(p, best)))) {
			best, bestKM, bestScore = d, km, s
		}
	}
	return best, bestKM, bestScore
}

func TestSameLogSameOutputs(t *testing.T) {
	log := randomLog(42, 5*time.Minute, 300, 4)
	run := func() []string {
		p := newPartition(t)
		var out []Output
		for i, r := range log {
			p.Apply(r, event.Position(i))
			out = append(out, p.Outputs()...)
		}
		return encodeOutputs(t, out)
	}
	a, b := run(), run()
	if len(a) == 0 {
		t.Fatal("no outputs")
	}
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("two runs over the same log differ")
	}
	kinds := map[string]int{}
	for _, s := range a {
		var m struct {
			EventType string `json:"event_type"`
		}
		_ = json.Unmarshal([]byte(s), &m)
		kinds[m.EventType]++
	}
	for _, k := range []string{event.TypeRideMatched, event.TypeRideUnmatched, event.TypeRideCancelled, event.TypeSurgeUpdated} {
		if kinds[k] == 0 {
			t.Errorf("the random log produced no %s; it should exercise every path: %v", k, kinds)
		}
	}
}

// TestRestoreFromHistory is the property restore rests on: a partition rebuilt from only
// the last History() of its log produces, from then on, exactly what the partition that
// saw the whole log produces.
func TestRestoreFromHistory(t *testing.T) {
	log := randomLog(7, 25*time.Minute, 300, 3)
	cfg := DefaultConfig()
	for _, cut := range []int{len(log) / 2, len(log) * 3 / 4, len(log) - 500} {
		full := newPartition(t)
		var want []string
		var decisions []*event.LogRecord // the decision log
		for i, r := range log {
			full.Apply(r, event.Position(i))
			checkIndexed(t, full)
			out := full.Outputs()
			for _, o := range out {
				if o.Decision != nil && i < cut {
					decisions = append(decisions, o.Decision)
				}
			}
			if i >= cut {
				want = append(want, encodeOutputs(t, out)...)
			}
		}
		// As the engine does: replay History of the region log, with the decisions of the
		// last DecisionHistory.
		from := log[cut].Time.Add(-cfg.History())
		start := 0
		for start < cut && log[start].Time < from {
			start++
		}
		restored := newPartition(t)
		decided := map[event.Position]map[string]string{}
		for _, d := range decisions {
			switch {
			case d.Time < log[cut].Time.Add(-cfg.DecisionHistory()):
			case d.RequestPosition < event.Position(start):
				restored.Remember(d)
			case d.Outcome == event.OutcomeMatched && d.Position >= event.Position(start):
				if decided[d.Position] == nil {
					decided[d.Position] = map[string]string{}
				}
				decided[d.Position][d.RequestID] = d.DriverID
			}
		}
		for i := start; i < cut; i++ {
			restored.Replay(log[i], event.Position(i), decided[event.Position(i)])
			if out := restored.Outputs(); len(out) != 0 {
				t.Fatalf("Replay output %s", encodeOutputs(t, out))
			}
		}
		var got []string
		for i := cut; i < len(log); i++ {
			restored.Apply(log[i], event.Position(i))
			checkIndexed(t, restored)
			got = append(got, encodeOutputs(t, restored.Outputs())...)
		}
		if len(want) == 0 {
			t.Fatal("no outputs after the cut")
		}
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Fatalf("cut at record %d (replayed from %d): output %d differs:\nrestored: %s\nfull:     %s", cut, start, i, g, w)
			}
		}
	}
}

// TestForgottenDriversAreReused: waves of drivers that report for a while and fall silent
// are forgotten and their structs and id bytes reused by the next wave, and the
// drivers of a wave are matched as if the partition were new: nothing of a forgotten
// driver shows through a reused struct.
func TestForgottenDriversAreReused(t *testing.T) {
	const waves, perWave = 6, 300
	p := newPartition(t)
	at := t0
	for w := range waves {
		at = t0.Add(time.Duration(w) * 3 * time.Minute)
		for i := range perWave {
			// The last driver of each wave is the best: nearest, and the only hatchback.
			id := fmt.Sprintf("W%d-%0100d", w, i)
			pos := geo.Point{Lat: bandra.Lat + 0.01 + float64(i%17)*0.001, Lng: bandra.Lng + float64(i%13)*0.001}
			opts := []driverOpt{vehicle(event.Sedan), rating(4)}
			if i == perWave-1 {
				pos, opts = bandra, []driverOpt{vehicle(event.Hatchback), rating(4.9)}
			}
			if w%2 == 1 && i%3 == 0 {
				opts = append(opts, busy)
			}
			apply(p, driverAt(id, pos, at, opts...))
		}
		req := fmt.Sprintf("R%d", w)
		m := onlyMatch(t, apply(p, requestAt(req, bandra, event.Mini, at.Add(time.Second))))
		if want := fmt.Sprintf("W%d-%0100d", w, perWave-1); m.DriverID != want || m.VehicleType != event.Hatchback.String() {
			t.Fatalf("wave %d: matched %s (%s), want %s", w, m.DriverID, m.VehicleType, want)
		}
		apply(p, cancelAt(req, at.Add(2*time.Second)))
		checkIndexed(t, p)
		// Silence: the wave is forgotten at the next forgetting after ForgetAfter.
		apply(p, tickAt(at.Add(p.cfg.ForgetAfter+time.Duration(forgetEvery+1)*p.cfg.SweepInterval)))
	}
	if p.Drivers() != 0 || p.stats.ForgotDrivers != waves*perWave {
		t.Fatalf("%d drivers left, %d forgotten, want 0 and %d", p.Drivers(), p.stats.ForgotDrivers, waves*perWave)
	}
	if made := p.table.made(); made != perWave {
		t.Errorf("%d driver places made for %d drivers at a time", made, perWave)
	}
	for _, ref := range p.table.free {
		if d := p.table.at(ref); !reflect.ValueOf(*d).IsZero() {
			t.Fatalf("a free driver place still holds %+v", *d)
		}
		if p.reservations[ref] != nil || p.forwards[ref] != nil {
			t.Fatalf("free driver place %d still has a reservation or forwards", ref)
		}
	}
	if p.drivers.Wasteful() {
		t.Error("the ids of forgotten drivers were never compacted away")
	}
}

// TestCancelReleasesOnlyItsReservation: a replay makes the recorded matches whatever the
// driver then holds, so a driver's reservation can be replaced by another; the replaced
// one leaves nothing behind. Cancelling its request later releases neither the driver nor,
// once the driver is forgotten, the driver that reuses its struct.
func TestCancelReleasesOnlyItsReservation(t *testing.T) {
	p := newPartition(t)
	p.Replay(requestAt("R1", bandra, event.Mini, t0), 1, map[string]string{"R1": "D1"})
	p.Replay(&event.LogRecord{Kind: event.LogLeft, Time: t0.Add(sec(1)), DriverID: "D1", To: 1}, 2, nil)
	p.Replay(requestAt("R2", bandra, event.Mini, t0.Add(sec(2))), 3, map[string]string{"R2": "D1"})
	later := t0.Add(p.cfg.ReservationTimeout + p.cfg.ForgetAfter + time.Duration(forgetEvery+1)*p.cfg.SweepInterval)
	apply(p, tickAt(later))
	if p.Drivers() != 0 {
		t.Fatalf("D1 not forgotten: %d drivers", p.Drivers())
	}
	at := later.Add(sec(1))
	if m := onlyMatch(t, apply(p, driverAt("X", bandra, at), requestAt("R3", bandra, event.Mini, at))); m.DriverID != "X" {
		t.Fatalf("R3 matched to %s", m.DriverID)
	}
	for _, e := range outcomes(apply(p, cancelAt("R1", at.Add(sec(1))), requestAt("R4", bandra, event.Mini, at.Add(sec(1))))) {
		if m, ok := e.(*event.RideMatched); ok {
			t.Fatalf("R4 matched to %s, who is reserved for R3: cancelling R1 released it", m.DriverID)
		}
	}
}

// checkIndexed holds the invariant the surge's supply count and a replay's deferred
// indexing rest on: between records, a driver is in the index exactly when it is
// matchable.
func checkIndexed(t *testing.T, p *Partition) {
	t.Helper()
	for rid, ref := range p.drivers.All() {
		id := p.drivers.String(rid)
		d := p.table.at(ref)
		if d.ref != ref {
			t.Fatalf("driver %s at %d says it is at %d", id, ref, d.ref)
		}
		if name(p, d) != id {
			t.Fatalf("driver %s is kept under id %s", name(p, d), id)
		}
		if d.reserved != (p.reservations[ref] != nil) {
			t.Fatalf("driver %s: reserved %v, but its reservation is %v", id, d.reserved, p.reservations[ref])
		}
		if (d.slot >= 0) != matchable(d) {
			t.Fatalf("driver %s: indexed %v, matchable %v", id, d.slot >= 0, matchable(d))
		}
		if d.slot < 0 {
			continue
		}
		b := p.index.buckets.at(d.ibucket)
		if at, ok := p.index.cells[b.cell]; !ok || at != d.ibucket || b.drivers[d.ivehicle][d.slot].ref != ref {
			t.Fatalf("driver %s is not in the index where it says it is", id)
		}
	}
}

// TestRetrySkipsOnlyVainSearches: a retry is skipped only when no driver within the
// request's reach has been written since its last search, so skipping changes no output:
// the same logs with every retry searched give the same outputs, record by record.
func TestRetrySkipsOnlyVainSearches(t *testing.T) {
	for _, seed := range []uint64{7, 8, 9} {
		log := randomLog(seed, 8*time.Minute, 300, 3)
		skipping, searching := newPartition(t), newPartition(t)
		searching.retryAll = true
		for i, r := range log {
			skipping.Apply(r, event.Position(i))
			searching.Apply(r, event.Position(i))
			got, want := encodeOutputs(t, skipping.Outputs()), encodeOutputs(t, searching.Outputs())
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d, record %d: skipping retries gives\n%s\nsearching every one\n%s", seed, i, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
		st := skipping.Stats()
		if st.RetriesSkipped == 0 || st.Retries == 0 {
			t.Fatalf("seed %d: %d retries searched, %d skipped: the log should exercise both", seed, st.Retries, st.RetriesSkipped)
		}
		if all := searching.Stats(); all.RetriesSkipped != 0 || all.Retries != st.Retries+st.RetriesSkipped {
			t.Fatalf("seed %d: searching every retry made %d searches and skipped %d; skipping: %d + %d", seed, all.Retries, all.RetriesSkipped, st.Retries, st.RetriesSkipped)
		}
		t.Logf("seed %d: %d retries searched, %d skipped", seed, st.Retries, st.RetriesSkipped)
	}
}

// TestDriverForgottenInAReplayIsFreed: a driver a replay queued for indexing and then
// forgot keeps its place until the queue is done, and then gives it back.
func TestDriverForgottenInAReplayIsFreed(t *testing.T) {
	p := newPartition(t)
	p.Replay(driverAt("D1", bandra, t0), 1, nil)
	later := t0.Add(p.cfg.ForgetAfter + time.Duration(forgetEvery+1)*p.cfg.SweepInterval)
	p.Replay(tickAt(later), 2, nil)
	if p.Drivers() != 0 || len(p.unindexed) != 1 {
		t.Fatalf("after the replay: %d drivers, %d queued; want D1 forgotten and still queued", p.Drivers(), len(p.unindexed))
	}
	apply(p, tickAt(later.Add(sec(1))))
	if len(p.table.free) != 1 || p.table.made() != 1 {
		t.Fatalf("%d places free of %d made, want D1's place free", len(p.table.free), p.table.made())
	}
	if d := p.table.at(p.table.free[0]); !reflect.ValueOf(*d).IsZero() {
		t.Fatalf("the freed place still holds %+v", *d)
	}
}
