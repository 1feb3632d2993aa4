package bench

import (
	"errors"
	"slices"
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
	} {
		cfg := DefaultConfig()
		tt.set(&cfg.Dispatch)
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate() = %v, want ErrConfig", tt.name, err)
		}
	}
}
