package matcher

import (
	"encoding/json"
	"fmt"
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
	p := newPartition(t, assignment(Greedy)) // retried every 250ms
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
	p := newPartition(t, assignment(Greedy)) // retried every 250ms
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
	p := newPartition(t, assignment(Greedy)) // retried every 250ms
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
		p := newPartition(t, assignment(Greedy))
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
		p := newPartition(t, assignment(Greedy))
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
		p := newPartition(t, assignment(Greedy))
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
		p := newPartition(t, assignment(Greedy))
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
		p := newPartition(t, assignment(Greedy))
		if ts := tokens(apply(p, left(t0, 2))); len(ts) != 1 || ts[0].To != 2 {
			t.Fatalf("want a free token to 2, got %+v", ts)
		}
	})
}
