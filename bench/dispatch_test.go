package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/matcher"
)

// smallDispatch is a closed loop small enough for a test: ten minutes of a few hundred
// drivers in Mumbai's evening peak, busy enough that some requests wait.
func smallDispatch() Config {
	cfg := DefaultConfig()
	p, _ := PresetNamed("scarce")
	cfg.UsePreset(p)
	cfg.Dispatch.Drivers, cfg.Dispatch.Rate, cfg.Dispatch.Span = 300, 0.5, 10*time.Minute
	return cfg
}

// TestDispatchPhase runs every policy and the bound on one demand and checks that each
// gives figures a closed loop can give.
func TestDispatchPhase(t *testing.T) {
	cfg := smallDispatch()
	var res Result
	var lines []string
	if err := runDispatch(cfg, &res, func(f string, args ...any) { lines = append(lines, f) }); err != nil {
		t.Fatal(err)
	}
	d := res.Dispatch
	if d == nil || len(lines) != 5 {
		t.Fatalf("dispatch %v, %d progress lines: want figures and a line for the setup and each run", d, len(lines))
	}
	if d.Scenario != "scarce" || d.City != "mumbai" || d.Drivers != 300 || d.Span != "10m0s" || d.Window != "2s" || d.Start != "2026-11-25T17:30:00+05:30" {
		t.Errorf("setup %+v", d)
	}
	runs := map[string]DispatchFigures{"bound": d.Bound}
	for _, a := range dispatchPolicies() {
		f, ok := d.Policies[a.String()]
		if !ok {
			t.Fatalf("no figures for %s: %v", a, d.Policies)
		}
		runs[a.String()] = f
	}
	for name, f := range runs {
		matched := f.MatchRate * float64(f.Requests)
		switch {
		case f.Requests != d.Policies["greedy"].Requests || f.Requests < 200:
			t.Errorf("%s: %d requests, greedy %d: want the same demand, about 300", name, f.Requests, d.Policies["greedy"].Requests)
		case f.MatchRate <= 0 || f.MatchRate > 1:
			t.Errorf("%s: match rate %v", name, f.MatchRate)
		case f.Conflicts != 0:
			t.Errorf("%s: %d drivers given a second ride", name, f.Conflicts)
		case float64(f.CompletedRides) > matched:
			t.Errorf("%s: %d rides completed of %.0f matched", name, f.CompletedRides, matched)
		case f.MeanPickupKM <= 0 || f.P95PickupKM < f.MeanPickupKM/2 || f.P95PickupKM > cfg.Engine.Matcher.MaxPickupKM:
			t.Errorf("%s: pickups mean %v km, p95 %v km", name, f.MeanPickupKM, f.P95PickupKM)
		case f.MeanWaitS < 0 || f.P95WaitS > f.P99WaitS || f.P99WaitS > cfg.Engine.Matcher.RequestTTL.Seconds():
			t.Errorf("%s: waits mean %vs, p95 %vs, p99 %vs", name, f.MeanWaitS, f.P95WaitS, f.P99WaitS)
		case f.DriverUtilization <= 0 || f.DriverUtilization > 1:
			t.Errorf("%s: utilization %v", name, f.DriverUtilization)
		}
	}
	// Drivers are scarce here: some requests wait, or go unmatched.
	if g := d.Policies["greedy"]; g.MatchRate == 1 && g.P99WaitS == 0 {
		t.Errorf("greedy matched everything at once: the test load is not busy: %+v", g)
	}
}

// TestWorldRequestsIgnoreOutcomes: the world makes the same requests whatever the engine
// decided, which is what lets the bound feed one run's requests into another.
func TestWorldRequestsIgnoreOutcomes(t *testing.T) {
	cfg := smallDispatch()
	start := dispatchStart(cfg)
	streams := map[string][]event.RideRequest{}
	for _, a := range []matcher.Assignment{matcher.Greedy, matcher.Batch} {
		var got []event.RideRequest
		l := dispatchLoop{cfg: cfg, start: start, record: &got}
		l.cfg.Engine.Matcher.Assignment = a
		if _, err := l.run(); err != nil {
			t.Fatal(err)
		}
		streams[a.String()] = got
	}
	// And with no engine at all: no driver is ever sent anywhere.
	cfg.GPSInterval = cfg.Dispatch.GPSInterval
	w, err := world(cfg, cfg.Dispatch.Drivers, cfg.Dispatch.Rate, start)
	if err != nil {
		t.Fatal(err)
	}
	for at, end := w.Start(), w.Start().Add(cfg.Dispatch.Span); at < end; {
		at = at.Add(dispatchStep)
		w.Step(at, func(in *event.Input) {
			if in.Kind == event.KindRideRequest {
				streams["none"] = append(streams["none"], in.Request)
			}
		})
	}
	want := streams["none"]
	if len(want) < 200 {
		t.Fatalf("%d requests: too few to compare", len(want))
	}
	for name, got := range streams {
		if !slices.Equal(got, want) {
			t.Errorf("the requests of the %s run differ from those of a world with no engine", name)
		}
	}
}

func TestPresets(t *testing.T) {
	for _, tt := range []struct {
		give    string
		want    string
		drivers int
	}{
		{"scarce", "scarce", 6000},
		{"AMPLE", "ample", 18000},
	} {
		p, ok := PresetNamed(tt.give)
		if !ok || p.Name != tt.want || p.Drivers != tt.drivers {
			t.Errorf("PresetNamed(%q) = %+v, %v", tt.give, p, ok)
			continue
		}
		cfg := DefaultConfig()
		cfg.UsePreset(p)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if cfg.Scenario != "mumbai" || cfg.Dispatch.Preset != p.Name || cfg.Dispatch.Drivers != p.Drivers || cfg.Dispatch.Rate != p.Rate {
			t.Errorf("%s: scenario %q, dispatch %+v", p.Name, cfg.Scenario, cfg.Dispatch)
		}
		if got := dispatchStart(cfg).Format("15:04 MST"); got != "17:30 IST" {
			t.Errorf("%s starts at %s, want the evening peak in Mumbai", p.Name, got)
		}
		// The other phases keep their own load.
		if d := DefaultConfig(); cfg.Drivers != d.Drivers || cfg.Rate != d.Rate {
			t.Errorf("%s changed the throughput load: %d drivers, %v requests/s", p.Name, cfg.Drivers, cfg.Rate)
		}
	}
	if _, ok := PresetNamed("mumbai"); ok {
		t.Error("a city is a preset")
	}
}

func TestDispatchValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*DispatchConfig)
	}{
		{"span under a minute", func(d *DispatchConfig) { d.Span = 59 * time.Second }},
		{"no drivers", func(d *DispatchConfig) { d.Drivers = 0 }},
		{"no requests", func(d *DispatchConfig) { d.Rate = 0 }},
		{"a start past midnight", func(d *DispatchConfig) { d.Start = 24 * time.Hour }},
		{"GPS every 10ms", func(d *DispatchConfig) { d.GPSInterval = 10 * time.Millisecond }},
		{"offers of 10ms", func(d *DispatchConfig) { d.OfferTimeout = 10 * time.Millisecond }},
		{"an accept rate over one", func(d *DispatchConfig) { d.OfferTimeout, d.AcceptRate = 15*time.Second, 1.5 }},
	} {
		cfg := DefaultConfig()
		tt.set(&cfg.Dispatch)
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate() = %v, want ErrConfig", tt.name, err)
		}
	}
}

// offerRun is one greedy run of the small closed loop with driver offers on, and what
// the engine emitted: each request's final outcomes, and the requests the world made.
type offerRun struct {
	f         DispatchFigures
	cfg       Config
	asked     []event.RideRequest
	finals    map[string][]string // request id: its final outcomes' types, in order
	offered   int
	unoffered []*event.RideMatched // matches that name no offer
	unmatched []*event.RideUnmatched
}

func runOffers(t *testing.T, acceptRate float64) offerRun {
	t.Helper()
	cfg := smallDispatch()
	cfg.Dispatch.OfferTimeout, cfg.Dispatch.AcceptRate = 15*time.Second, acceptRate
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := offerRun{cfg: cfg, finals: map[string][]string{}}
	l := dispatchLoop{cfg: cfg, start: dispatchStart(cfg), record: &r.asked, observe: func(e event.Output) {
		switch m := e.(type) {
		case *event.RideOffered:
			r.offered++
		case *event.RideMatched:
			if m.OfferID == "" {
				r.unoffered = append(r.unoffered, m)
			}
		case *event.RideUnmatched:
			r.unmatched = append(r.unmatched, m)
		}
		if (event.RideOutcome{Type: e.Type()}).Final() {
			r.finals[e.Key()] = append(r.finals[e.Key()], e.Type())
		}
	}}
	l.cfg.Engine.Matcher.Assignment = matcher.Greedy
	f, err := l.run()
	if err != nil {
		t.Fatal(err)
	}
	r.f = f
	return r
}

// checkOutcomes checks that no request had two final outcomes, and that every request
// made long enough before the span's end to have run out of time and offers had one.
func (r offerRun) checkOutcomes(t *testing.T) {
	t.Helper()
	m := r.cfg.Engine.Matcher
	settled := event.TimeOf(dispatchStart(r.cfg)).Add(r.cfg.Dispatch.Span - m.RequestTTL - time.Duration(m.MaxOffers)*r.cfg.Dispatch.OfferTimeout - 10*time.Second)
	for id, fs := range r.finals {
		if len(fs) > 1 {
			t.Errorf("request %s ended %d times: %v", id, len(fs), fs)
		}
	}
	missing := 0
	for _, q := range r.asked {
		if q.Time < settled && len(r.finals[q.RequestID]) == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d requests made before the last minutes had no outcome", missing, len(r.asked))
	}
}

// TestDispatchOffers: with offers on, every match is an accepted offer, made after the
// driver's answer, at about the accept rate, and no driver is given a second ride.
func TestDispatchOffers(t *testing.T) {
	r := runOffers(t, 0.85)
	f, o := r.f, r.f.Offers
	if o == nil {
		t.Fatalf("no offer figures: %+v", f)
	}
	r.checkOutcomes(t)
	switch {
	case f.Requests < 200 || o.Made != r.offered:
		t.Errorf("%d requests, %d offers made, %d ride_offered seen", f.Requests, o.Made, r.offered)
	case o.PerRequest < 0.8 || o.PerRequest > float64(r.cfg.Engine.Matcher.MaxOffers):
		t.Errorf("%.2f offers a request", o.PerRequest)
	case o.AcceptRate < 0.78 || o.AcceptRate > 0.92:
		t.Errorf("acceptance %.3f of %d offers, want near 0.85", o.AcceptRate, o.Made)
	case f.Conflicts != 0:
		t.Errorf("%d drivers given a second ride while on one", f.Conflicts)
	case len(r.unoffered) > 0:
		t.Errorf("%d matches name no offer, the first %+v", len(r.unoffered), r.unoffered[0])
	case f.MatchedAtOnce != 0 || f.MeanWaitS < 1:
		// Every answer takes the driver a second or more.
		t.Errorf("matched at once %.3f, mean wait %.2fs: the waits leave out the answers", f.MatchedAtOnce, f.MeanWaitS)
	case f.MatchRate < 0.5 || f.DriverUtilization <= 0:
		t.Errorf("match rate %.3f, utilization %.3f", f.MatchRate, f.DriverUtilization)
	}
	ranOut := 0
	for _, u := range r.unmatched {
		if u.Reason == event.UnmatchedDeclined || u.Reason == event.UnmatchedOfferTimeout {
			ranOut++
		}
	}
	if ranOut != o.Declined+o.TimedOut || o.RanOut != float64(ranOut)/float64(f.Requests) {
		t.Errorf("%d requests ran out of offers, figures %+v", ranOut, *o)
	}
	// Offers off: no offer figures, as before.
	cfg := smallDispatch()
	cfg.Dispatch.Span = 2 * time.Minute
	off, err := dispatchLoop{cfg: cfg, start: dispatchStart(cfg)}.run()
	if err != nil {
		t.Fatal(err)
	}
	if off.Offers != nil || off.MatchedAtOnce == 0 {
		t.Errorf("offers off: %+v", off)
	}
}

// TestDispatchOffersLapse: drivers that never answer let every offer lapse, and the
// requests offered end offer_timeout, none matched.
func TestDispatchOffersLapse(t *testing.T) {
	r := runOffers(t, 0)
	f, o := r.f, r.f.Offers
	if o == nil {
		t.Fatalf("no offer figures: %+v", f)
	}
	r.checkOutcomes(t)
	if f.MatchRate != 0 || f.DriverUtilization != 0 || o.AcceptRate != 0 || o.Declined != 0 {
		t.Errorf("nobody answers, yet: match rate %.3f, utilization %.3f, acceptance %.3f, %d declined", f.MatchRate, f.DriverUtilization, o.AcceptRate, o.Declined)
	}
	if o.Made == 0 || o.TimedOut == 0 || o.TimedOut > o.Made {
		t.Errorf("%d offers made, %d requests timed out", o.Made, o.TimedOut)
	}
	for _, u := range r.unmatched {
		if u.Offers > 0 && u.Reason != event.UnmatchedOfferTimeout {
			t.Errorf("%s offered to %d drivers ended %q, want %q", u.RequestID, u.Offers, u.Reason, event.UnmatchedOfferTimeout)
		}
	}
}

// TestDispatchPhaseOffers: with offers on, every policy and the bound make offers, get
// answers, and give no driver a second ride; the setup says offers were on.
func TestDispatchPhaseOffers(t *testing.T) {
	cfg := smallDispatch()
	cfg.Dispatch.OfferTimeout = 15 * time.Second
	var res Result
	var lines []string
	if err := runDispatch(cfg, &res, func(f string, args ...any) { lines = append(lines, fmt.Sprintf(f, args...)) }); err != nil {
		t.Fatal(err)
	}
	d := res.Dispatch
	if d == nil || len(lines) != 5 || d.Offers == nil || *d.Offers != (DispatchOfferSetup{Timeout: "15s", AcceptRate: 0.85}) {
		t.Fatalf("dispatch %+v, %d progress lines", d, len(lines))
	}
	if !strings.Contains(lines[0], "driver offers of 15s accepted at 0.85") || !strings.Contains(lines[1], "offers a request") {
		t.Errorf("progress does not say offers were on:\n%s", strings.Join(lines, "\n"))
	}
	runs := map[string]DispatchFigures{"bound": d.Bound}
	for name, f := range d.Policies {
		runs[name] = f
	}
	for name, f := range runs {
		switch o := f.Offers; {
		case o == nil:
			t.Errorf("%s: no offer figures", name)
		case o.Made == 0 || o.AcceptRate < 0.75 || o.AcceptRate > 0.95:
			t.Errorf("%s: %d offers, acceptance %.3f", name, o.Made, o.AcceptRate)
		case f.Conflicts != 0:
			t.Errorf("%s: %d drivers given a second ride", name, f.Conflicts)
		case f.MatchRate <= 0:
			t.Errorf("%s: match rate %v", name, f.MatchRate)
		}
	}
}
