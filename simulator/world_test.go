package simulator

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// 11:00 in India (peak until 12:00), 00:30 in New York.
var testStart = event.TimeOf(time.Date(2026, 11, 25, 5, 30, 0, 0, time.UTC))

func testConfig(city string, drivers int, rate float64) Config {
	cfg := DefaultConfig()
	cfg.City, cfg.Drivers, cfg.Rate = city, drivers, rate
	return cfg
}

func newTestWorld(t *testing.T, cfg Config) *World {
	t.Helper()
	w, err := NewWorld(cfg, testStart)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// record runs w to `to` and returns every event, encoded as it goes on the wire.
func record(w *World, to event.Time) [][]byte {
	var out [][]byte
	w.Step(to, func(in *event.Input) { out = append(out, encode(in)) })
	return out
}

func encode(in *event.Input) []byte {
	switch in.Kind {
	case event.KindDriverLocation:
		return in.Driver.AppendJSON(nil)
	case event.KindRideRequest:
		return in.Request.AppendJSON(nil)
	default:
		return in.Cancel.AppendJSON(nil)
	}
}

func TestWorldIsDeterministic(t *testing.T) {
	tests := []struct {
		name     string
		a, b     Config
		wantSame bool
	}{
		{"same seed", testConfig("mumbai", 200, 5), testConfig("mumbai", 200, 5), true},
		{"same seed, national", testConfig("all", 300, 5), testConfig("all", 300, 5), true},
		{"other seed", testConfig("mumbai", 200, 5), func() Config { c := testConfig("mumbai", 200, 5); c.Seed = 2; return c }(), false},
		{"other city", testConfig("mumbai", 200, 5), testConfig("delhi", 200, 5), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.a.CancelRate, tt.b.CancelRate = 0.2, 0.2
			wa, wb := newTestWorld(t, tt.a), newTestWorld(t, tt.b)
			end := testStart.Add(10 * time.Minute)
			// Steps of different sizes must not change anything.
			var a, b [][]byte
			for s := testStart; s < end; s = s.Add(137 * time.Millisecond) {
				a = append(a, record(wa, s)...)
			}
			a = append(a, record(wa, end)...)
			b = record(wb, end)
			same := len(a) == len(b)
			for i := 0; same && i < len(a); i++ {
				same = bytes.Equal(a[i], b[i])
			}
			if same != tt.wantSame {
				t.Errorf("same events = %v, want %v (%d and %d events)", same, tt.wantSame, len(a), len(b))
			}
			if len(a) < 1000 {
				t.Errorf("only %d events in 10 minutes", len(a))
			}
		})
	}
}

// A reaction changes its own driver's path, and nothing else.
func TestReactionsOnlyChangeTheirDriver(t *testing.T) {
	cfg := testConfig("mumbai", 50, 2)
	plain, reacting := newTestWorld(t, cfg), newTestWorld(t, cfg)
	mid := testStart.Add(time.Minute)
	a, b := record(plain, mid), record(reacting, mid)
	id := reacting.DriverIDs()[7]
	d := reacting.byID[id]
	reacting.Apply(event.RideOutcome{Type: event.TypeRideMatched, RequestID: "REQ-x", DriverID: id,
		Pickup: geo.Offset(d.pos, 1, 0), Drop: geo.Offset(d.pos, 4, 3)})
	end := testStart.Add(20 * time.Minute)
	a, b = append(a, record(plain, end)...), append(b, record(reacting, end)...)
	if len(a) != len(b) {
		t.Fatalf("%d events without the reaction, %d with", len(a), len(b))
	}
	differ := 0
	for i := range a {
		if bytes.Equal(a[i], b[i]) {
			continue
		}
		in, err := event.DecodeInput(b[i])
		if err != nil || in.Kind != event.KindDriverLocation || in.Driver.DriverID != id {
			t.Fatalf("event %d changed and is not driver %s's:\n%s\n%s", i, id, a[i], b[i])
		}
		differ++
	}
	if differ == 0 {
		t.Error("the matched driver's updates did not change")
	}
}

// driverTrack is one driver's updates, in order.
type driverTrack []event.DriverLocation

func tracks(w *World, to event.Time) map[string]driverTrack {
	out := map[string]driverTrack{}
	w.Step(to, func(in *event.Input) {
		if in.Kind == event.KindDriverLocation {
			out[in.Driver.DriverID] = append(out[in.Driver.DriverID], in.Driver)
		}
	})
	return out
}

func TestDriversMovePlausibly(t *testing.T) {
	tests := []struct {
		city      string
		checkPeak bool // the test start is in India's peak hour
	}{
		{"mumbai", true},
		{"delhi", true},
		{"bengaluru", true},
		{"newyork", false},
		{"all", true},
	}
	for _, tt := range tests {
		t.Run(tt.city, func(t *testing.T) {
			cfg := testConfig(tt.city, 200, 0)
			w := newTestWorld(t, cfg)
			cities, _ := cfg.cities()
			cityOf := map[string]geo.City{}
			for _, d := range w.drivers {
				cityOf[d.id] = d.city.City
			}
			peakEnd := testStart.Add(time.Hour) // 12:00 in India
			var peakSum, offSum float64
			var peakN, offN int
			for id, tr := range tracks(w, testStart.Add(2*time.Hour)) {
				city := cityOf[id]
				center := city.Center()
				if !slices.ContainsFunc(cities, func(c geo.City) bool { return c.Name == city.Name }) {
					t.Fatalf("driver %s in %s, not simulated", id, city.Name)
				}
				for i, u := range tr {
					if d := geo.DistanceKM(u.Location, center); d > 30 {
						t.Fatalf("driver %s is %.1f km from the centre of %s at %v", id, d, city.Name, u.Time)
					}
					if u.SpeedKMH != 0 && (u.SpeedKMH < cfg.MinSpeedKMH*cfg.PeakFactor-0.1 || u.SpeedKMH > cfg.MaxSpeedKMH+0.1) {
						t.Fatalf("driver %s reports %v km/h", id, u.SpeedKMH)
					}
					if i == 0 {
						continue
					}
					dt := u.Time.Sub(tr[i-1].Time)
					if dt != cfg.GPSInterval {
						t.Fatalf("driver %s updates %v apart, want %v", id, dt, cfg.GPSInterval)
					}
					kmh := geo.DistanceKM(tr[i-1].Location, u.Location) / dt.Hours()
					if kmh > cfg.MaxSpeedKMH+0.5 { // 0.5: positions are rounded to 0.1 m
						t.Fatalf("driver %s moved at %.1f km/h", id, kmh)
					}
					if u.Time <= peakEnd {
						peakSum, peakN = peakSum+kmh, peakN+1
					} else {
						offSum, offN = offSum+kmh, offN+1
					}
				}
			}
			peak, off := peakSum/float64(peakN), offSum/float64(offN)
			t.Logf("mean speed %.1f km/h in the first hour, %.1f in the second", peak, off)
			if off < cfg.MinSpeedKMH*0.9 || off > cfg.MaxSpeedKMH {
				t.Errorf("mean speed off peak %.1f km/h, want within %v-%v", off, cfg.MinSpeedKMH, cfg.MaxSpeedKMH)
			}
			if tt.checkPeak && peak > off*0.75 {
				t.Errorf("peak-hour mean speed %.1f km/h is not well below the off-peak %.1f", peak, off)
			}
		})
	}
}

func TestRequestsFollowTheRate(t *testing.T) {
	tests := []struct {
		city string
		rate float64
		span time.Duration
	}{
		{"mumbai", 0.5, 4 * time.Hour},
		{"mumbai", 5, time.Hour},
		{"all", 50, 20 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.city, tt.rate), func(t *testing.T) {
			cfg := testConfig(tt.city, 20, tt.rate)
			cfg.CancelRate = 0
			w := newTestWorld(t, cfg)
			places := map[string]geo.Point{}
			for _, c := range geo.Cities() {
				for _, p := range c.Places {
					places[p.Name] = p.Point
				}
			}
			ids := map[string]bool{}
			types := map[event.RideType]int{}
			n, gps := 0, 0
			last := event.Time(0)
			w.Step(testStart.Add(tt.span), func(in *event.Input) {
				if in.Time() < last {
					t.Fatalf("event at %v after one at %v", in.Time(), last)
				}
				last = in.Time()
				if in.Kind == event.KindDriverLocation {
					gps++
					return
				}
				r := in.Request
				n++
				if ids[r.RequestID] {
					t.Fatalf("request id %s twice", r.RequestID)
				}
				ids[r.RequestID] = true
				types[r.RideType]++
				if r.PickupName == r.DropName {
					t.Fatalf("request %s from %s to itself", r.RequestID, r.PickupName)
				}
				for _, p := range []struct {
					name string
					at   geo.Point
				}{{r.PickupName, r.Pickup}, {r.DropName, r.Drop}} {
					d := geo.DistanceKM(places[p.name], p.at)
					if d < cfg.PlaceJitterMinKM-0.01 || d > cfg.PlaceJitterMaxKM+0.01 {
						t.Fatalf("request %s: %.3f km from %s", r.RequestID, d, p.name)
					}
				}
			})
			want := tt.rate * tt.span.Seconds()
			if math.Abs(float64(n)-want) > 4*math.Sqrt(want) {
				t.Errorf("%d requests in %v at %v/s, want %.0f ± %.0f", n, tt.span, tt.rate, want, 4*math.Sqrt(want))
			}
			wantGPS := float64(cfg.Drivers) * tt.span.Seconds() / cfg.GPSInterval.Seconds()
			if math.Abs(float64(gps)-wantGPS) > float64(cfg.Drivers) {
				t.Errorf("%d GPS updates, want %.0f", gps, wantGPS)
			}
			for _, m := range rideMix {
				if share := float64(types[m.r]) / float64(n); math.Abs(share-m.share) > 5*math.Sqrt(m.share/float64(n)) {
					t.Errorf("%v: %.3f of requests, want %.2f", m.r, share, m.share)
				}
			}
		})
	}
}

// A matched driver reports busy, drives to the pickup, waits there, drives to the drop,
// and reports available again.
func TestMatchedDriverDoesTheRide(t *testing.T) {
	cfg := testConfig("mumbai", 10, 0)
	w := newTestWorld(t, cfg)
	record(w, testStart.Add(10*time.Second))
	id := w.DriverIDs()[3]
	d := w.byID[id]
	pickup := geo.Offset(d.pos, 1.5, 1)
	drop := geo.Offset(pickup, 3, -2)
	matchedAt := w.Now()
	w.Apply(event.RideOutcome{Type: event.TypeRideMatched, RequestID: "REQ-9", DriverID: id, Pickup: pickup, Drop: drop})
	if c := w.Counts(); c.Busy != 1 || c.RidesStarted != 1 {
		t.Fatalf("after the match: %+v", c)
	}
	tr := tracks(w, testStart.Add(time.Hour))[id]

	var atPickup, freeAt event.Time
	for _, u := range tr {
		if u.Availability == event.Available {
			freeAt = u.Time
			if geo.DistanceKM(u.Location, drop) > 0.05 {
				t.Errorf("available at %v, %.3f km from the drop", u.Time, geo.DistanceKM(u.Location, drop))
			}
			break
		}
		if u.SpeedKMH == 0 && geo.DistanceKM(u.Location, pickup) < 0.001 && atPickup == 0 {
			atPickup = u.Time
		}
	}
	switch {
	case tr[0].Availability != event.Busy:
		t.Fatalf("first update after the match is %v", tr[0].Availability)
	case atPickup == 0:
		t.Fatal("the driver never waited at the pickup")
	case freeAt == 0:
		t.Fatal("the driver never became available again")
	}
	toPickup := atPickup.Sub(matchedAt).Hours()
	trip := freeAt.Sub(atPickup).Hours()
	if toPickup < 1.8/cfg.MaxSpeedKMH || toPickup > 1.8/(cfg.MinSpeedKMH*cfg.PeakFactor)+0.01 {
		t.Errorf("took %.1f min to the pickup 1.8 km away", toPickup*60)
	}
	if min := (3.6/cfg.MaxSpeedKMH + cfg.BoardingTime.Hours()); trip < min {
		t.Errorf("boarding and the 3.6 km trip took %.1f min, want at least %.1f", trip*60, min*60)
	}
	for _, u := range tr {
		if u.Time > freeAt && u.Availability != event.Available {
			t.Fatalf("%v again at %v", u.Availability, u.Time)
		}
	}
	if c := w.Counts(); c.Busy != 0 || c.RidesCompleted != 1 {
		t.Errorf("after the ride: %+v", c)
	}
}

func TestApply(t *testing.T) {
	match := func(id, req string) event.RideOutcome {
		return event.RideOutcome{Type: event.TypeRideMatched, RequestID: req, DriverID: id, Pickup: geo.Point{Lat: 19.06, Lng: 72.84}, Drop: geo.Point{Lat: 19.1, Lng: 72.85}}
	}
	tests := []struct {
		name     string
		give     func(driver string) []event.RideOutcome
		wantBusy int
		want     Counts
	}{
		{"match", func(d string) []event.RideOutcome { return []event.RideOutcome{match(d, "R1")} }, 1, Counts{RidesStarted: 1, Busy: 1}},
		{"duplicate match", func(d string) []event.RideOutcome { return []event.RideOutcome{match(d, "R1"), match(d, "R1")} }, 1, Counts{RidesStarted: 1, Busy: 1}},
		{"second ride for a busy driver", func(d string) []event.RideOutcome { return []event.RideOutcome{match(d, "R1"), match(d, "R2")} }, 1, Counts{RidesStarted: 1, Busy: 1, Conflicts: 1}},
		{"unknown driver", func(string) []event.RideOutcome { return []event.RideOutcome{match("DRV-someone-else", "R1")} }, 0, Counts{}},
		{"match without coordinates", func(d string) []event.RideOutcome {
			return []event.RideOutcome{{Type: event.TypeRideMatched, RequestID: "R1", DriverID: d}}
		}, 0, Counts{}},
		{"match cancelled", func(d string) []event.RideOutcome {
			return []event.RideOutcome{match(d, "R1"), {Type: event.TypeMatchCancelled, RequestID: "R1", DriverID: d}}
		}, 0, Counts{RidesStarted: 1, Released: 1}},
		{"match cancelled for another ride", func(d string) []event.RideOutcome {
			return []event.RideOutcome{match(d, "R1"), {Type: event.TypeMatchCancelled, RequestID: "R0", DriverID: d}}
		}, 1, Counts{RidesStarted: 1, Busy: 1}},
		{"unmatched", func(d string) []event.RideOutcome {
			return []event.RideOutcome{{Type: event.TypeRideUnmatched, RequestID: "R1"}}
		}, 0, Counts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTestWorld(t, testConfig("mumbai", 5, 0))
			record(w, testStart.Add(5*time.Second))
			id := w.DriverIDs()[2]
			for _, o := range tt.give(id) {
				w.Apply(o)
			}
			got := w.Counts()
			got.GPSUpdates, got.Drivers = 0, 0
			if got != tt.want {
				t.Errorf("counts %+v, want %+v", got, tt.want)
			}
			// The driver's next update says what it is doing.
			for _, u := range tracks(w, testStart.Add(7*time.Second))[id] {
				if wantAvail := map[bool]event.Availability{true: event.Busy, false: event.Available}[tt.wantBusy == 1]; u.Availability != wantAvail {
					t.Errorf("next update %v, want %v", u.Availability, wantAvail)
				}
			}
		})
	}
}

// Riders due to cancel do so unless an outcome came first, between CancelMin and
// CancelMax after requesting.
func TestRidersCancelWhileWaiting(t *testing.T) {
	cfg := testConfig("mumbai", 0, 2)
	cfg.CancelRate = 1
	w := newTestWorld(t, cfg)
	requested := map[string]event.Time{}
	cancelled := map[string]event.Time{}
	answered := map[string]bool{}
	emit := func(in *event.Input) {
		switch in.Kind {
		case event.KindRideRequest:
			requested[in.Request.RequestID] = in.Request.Time
		case event.KindRideCancel:
			cancelled[in.Cancel.RequestID] = in.Cancel.Time
			if in.Cancel.Reason != CancelReason {
				t.Errorf("reason %q", in.Cancel.Reason)
			}
		}
	}
	end := testStart.Add(10 * time.Minute)
	for s := testStart; s < end; s = s.Add(time.Second) {
		w.Step(s, emit)
		// Every other request gets its outcome at once.
		for id := range requested {
			if !answered[id] && len(answered)%2 == 0 {
				w.Apply(event.RideOutcome{Type: event.TypeRideUnmatched, RequestID: id})
			}
			answered[id] = true
		}
	}
	w.Step(end.Add(time.Minute), emit)
	if len(requested) < 900 {
		t.Fatalf("%d requests", len(requested))
	}
	want := 0
	for id, at := range requested {
		ct, ok := cancelled[id]
		if !ok {
			continue
		}
		want++
		if d := ct.Sub(at); d < cfg.CancelMin || d > cfg.CancelMax {
			t.Errorf("%s cancelled %v after requesting", id, d)
		}
	}
	if len(cancelled) != want || want < len(requested)/3 || want > len(requested)*2/3 {
		t.Errorf("%d of %d requests cancelled (%d unknown), want about half", want, len(requested), len(cancelled)-want)
	}
	if w.Counts().Cancels != uint64(len(cancelled)) {
		t.Errorf("Counts().Cancels = %d, want %d", w.Counts().Cancels, len(cancelled))
	}
}

// Every event the world makes is one the engine accepts, and reads back as it was made.
func TestEventsDecode(t *testing.T) {
	cfg := testConfig("all", 200, 20)
	cfg.CancelRate = 0.3
	w := newTestWorld(t, cfg)
	kinds := map[event.Kind]int{}
	busy := 0
	check := func(in *event.Input) {
		b := encode(in)
		got, err := event.DecodeInput(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		kinds[got.Kind]++
		if got.Kind != in.Kind || got.Time() != in.Time() || got.Time()%1000 != 0 {
			t.Fatalf("%s read back as kind %v at %v, want %v at %v", b, got.Kind, got.Time(), in.Kind, in.Time())
		}
		switch in.Kind {
		case event.KindDriverLocation:
			if got.Driver != in.Driver {
				t.Fatalf("%s read back as %+v", b, got.Driver)
			}
			if got.Driver.Availability == event.Busy {
				busy++
			}
		case event.KindRideRequest:
			if got.Request != in.Request {
				t.Fatalf("%s read back as %+v", b, got.Request)
			}
		case event.KindRideCancel:
			if got.Cancel != in.Cancel {
				t.Fatalf("%s read back as %+v", b, got.Cancel)
			}
		}
	}
	w.Step(testStart.Add(time.Minute), check)
	for i, id := range w.DriverIDs()[:20] {
		d := w.byID[id]
		w.Apply(event.RideOutcome{Type: event.TypeRideMatched, RequestID: fmt.Sprint("R", i), DriverID: id, Pickup: geo.Offset(d.pos, 1, 1), Drop: geo.Offset(d.pos, 5, 1)})
	}
	w.Step(testStart.Add(10*time.Minute), check)
	if kinds[event.KindDriverLocation] == 0 || kinds[event.KindRideRequest] == 0 || kinds[event.KindRideCancel] == 0 || busy == 0 {
		t.Errorf("not every kind of event was checked: %v, %d busy", kinds, busy)
	}
}

func TestSplitDrivers(t *testing.T) {
	cfg := testConfig("all", 1001, 0)
	cs, _ := cfg.cities()
	got := split(cfg.Drivers, cs)
	sum, total := 0, 0.0
	for _, c := range cs {
		total += c.Weight
	}
	for i, n := range got {
		sum += n
		if want := float64(cfg.Drivers) * cs[i].Weight / total; math.Abs(float64(n)-want) > 1 {
			t.Errorf("%s: %d drivers, want %.1f", cs[i].Name, n, want)
		}
	}
	if sum != cfg.Drivers {
		t.Errorf("%d drivers in all, want %d", sum, cfg.Drivers)
	}
}

// FuzzApplyOutcome: whatever event.DecodeOutcome accepts is safe to apply to a world.
func FuzzApplyOutcome(f *testing.F) {
	f.Add([]byte(`{"event_type":"ride_matched","request_id":"R1","driver_id":"D1","pickup_coordinates":{"lat":19.05,"lng":72.84}}`))
	f.Add([]byte(`{"event_type":"match_cancelled","request_id":"R4","driver_id":"D4"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := event.DecodeOutcome(b)
		if err != nil {
			return
		}
		w, werr := NewWorld(testConfig("mumbai", 3, 1), testStart)
		if werr != nil {
			t.Fatal(werr)
		}
		o.DriverID = w.DriverIDs()[0]
		w.Apply(o)
		w.Step(testStart.Add(10*60e9), func(*event.Input) {})
	})
}
