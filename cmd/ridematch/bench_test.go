package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"ridematch/bench"
)

// TestBenchJSON runs a small bench of the in-process and engine phases and reads its
// JSON as a script would: every promised key is there, and the figures are ones a run
// that did its work gives.
func TestBenchJSON(t *testing.T) {
	code, out, errs := runCommand(t, 2*time.Minute, "bench", "--json", "--phases", "core,throughput",
		"--index-drivers", "2000", "--runs", "2", "--drivers", "2000", "--events", "20000", "--duration", "10s", "--throughput-runs", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	num := func(path ...string) float64 {
		t.Helper()
		var v any = r
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object", path)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("the JSON lacks %v:\n%s", path, out)
			}
		}
		f, ok := v.(float64)
		if !ok {
			t.Fatalf("%v = %v, not a number", path, v)
		}
		return f
	}
	for _, p := range [][]string{
		{"engine_events_per_sec"}, {"floor_events_per_sec"}, {"raw_consume_per_sec"},
		{"index_updates_per_sec"}, {"match_latency_us", "p50"}, {"match_latency_us", "p99"},
		{"match_latency_raw_us", "p99"}, {"bytes_per_driver"}, {"index_updates_spread", "median"},
		{"engine_events_per_sec_spread", "median"}, {"floor_events_per_sec_spread", "min"},
	} {
		if v := num(p...); v <= 0 {
			t.Errorf("%v = %v, want a measured figure", p, v)
		}
	}
	if best, raw := num("match_latency_us", "p99"), num("match_latency_raw_us", "p99"); best > raw {
		t.Errorf("the fastest runs' p99 %v exceeds the pooled p99 %v", best, raw)
	}
	// Phases not asked for report zero rather than a figure nobody measured.
	if v := num("restore_seconds"); v != 0 {
		t.Errorf("restore_seconds = %v without the restore phase", v)
	}
	for _, p := range [][]string{
		{"e2e_latency_ms", "p99"}, {"border_e2e_latency_ms", "p50"}, {"border_e2e_latency_ms", "p99"}, {"border_matches"},
		{"cross_region_miss_rate"}, {"quality_requests"}, {"border_requests"}, {"border_miss_rate"},
	} {
		if v := num(p...); v != 0 {
			t.Errorf("%v = %v without its phase", p, v)
		}
	}
}

// A trip file is a scenario: its requests, paced, against drivers where its demand is.
func TestBenchReplayScenario(t *testing.T) {
	file := "../../simulator/testdata/nyc_20k_head.csv"
	code, out, errs := runCommand(t, time.Minute, "bench", "--json", "--phases", "core", "--scenario", file, "--index-drivers", "2000", "--runs", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		Match struct{ P50 float64 } `json:"match_latency_us"`
		Setup struct{ Scenario string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Match.P50 <= 0 || r.Setup.Scenario != file {
		t.Errorf("match p50 %v for scenario %q: want a measurement of %s", r.Match.P50, r.Setup.Scenario, file)
	}
	if !strings.Contains(errs, "replaying "+file) {
		t.Errorf("no replay progress line in:\n%s", errs)
	}
	code, _, errs = runCommand(t, time.Minute, "bench", "--scenario", "atlantis")
	if code != 2 || !strings.Contains(errs, `"atlantis" is neither a city`) {
		t.Errorf("an unknown scenario: exit %d, %q", code, errs)
	}
}

// The table shows the figures of the phases that ran, and no zeros for the others.
func TestBenchTableShowsOnlyPhasesRun(t *testing.T) {
	for _, tc := range []struct {
		phases    []string
		want, not []string
	}{
		{[]string{"core"}, []string{"index updates", "match latency", "memory"}, []string{"engine throughput", "end-to-end latency", "border", "restore", "match rate"}},
		{[]string{"throughput", "restore"}, []string{"engine throughput", "plumbing floor", "unfinished: floor round 2: stalled", "raw consume", "restore"}, []string{"index updates", "end-to-end latency", "match rate"}},
		{bench.AllPhases(), []string{"engine throughput", "end-to-end latency", "border matches", "index updates", "restore", "match rate", "cross-region misses", "border requests"}, nil},
	} {
		var b strings.Builder
		printBench(&b, bench.Result{Setup: bench.Setup{Phases: tc.phases}, Unfinished: []string{"floor round 2: stalled"}})
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("phases %v: no %q line in\n%s", tc.phases, w, b.String())
			}
		}
		for _, n := range tc.not {
			if strings.Contains(b.String(), n) {
				t.Errorf("phases %v: a %q line in\n%s", tc.phases, n, b.String())
			}
		}
	}
}

// --assignment and --batch-window set the matcher's, echoed in the setup; a policy that
// does not exist is a usage error.
func TestBenchAssignment(t *testing.T) {
	code, out, errs := runCommand(t, time.Minute, "bench", "--json", "--phases", "core", "--index-drivers", "1000", "--runs", "1", "--assignment", "batch", "--batch-window", "3s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct{ Setup bench.Setup }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Setup.Assignment != "batch" || r.Setup.BatchWindow != "3s" {
		t.Errorf("setup echoes assignment %q, window %q", r.Setup.Assignment, r.Setup.BatchWindow)
	}
	code, _, errs = runCommand(t, time.Minute, "bench", "--assignment", "fifo")
	if code != 2 || !strings.Contains(errs, `unknown assignment "fifo"`) {
		t.Errorf("an unknown assignment: exit %d, %q", code, errs)
	}
}

// The dispatch phase on a preset: its drivers unless --drivers says otherwise, the rate
// given on the command line over the preset's, and every policy and the bound reported.
func TestBenchDispatch(t *testing.T) {
	code, out, errs := runCommand(t, time.Minute, "bench", "--json", "--phases", "dispatch", "--scenario", "scarce", "--rate", "0.5", "--dispatch-span", "2m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct{ Dispatch *bench.Dispatch }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	d := r.Dispatch
	if d == nil {
		t.Fatalf("no dispatch in\n%s", out)
	}
	preset, _ := bench.PresetNamed("scarce")
	if d.Scenario != "scarce" || d.City != "mumbai" || d.Drivers != preset.Drivers || d.Rate != 0.5 || d.Span != "2m0s" {
		t.Errorf("setup %+v: want scarce's drivers in mumbai at 0.5 requests/s for 2m", d)
	}
	for _, name := range []string{"greedy", "batch", "adaptive"} {
		if f, ok := d.Policies[name]; !ok || f.Requests == 0 || f.MatchRate <= 0 {
			t.Errorf("%s: %+v, %v", name, f, ok)
		}
	}
	if d.Bound.Requests != d.Policies["greedy"].Requests {
		t.Errorf("the bound served %d requests, greedy %d", d.Bound.Requests, d.Policies["greedy"].Requests)
	}
	for _, want := range []string{"dispatch: scarce (mumbai), 6000 drivers", "  greedy: match rate", "  bound: match rate"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no %q progress line in:\n%s", want, errs)
		}
	}
	code, out, errs = runCommand(t, time.Minute, "bench", "--json", "--phases", "dispatch", "--scenario", "ample", "--drivers", "300", "--dispatch-span", "1m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	r.Dispatch = nil
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Dispatch == nil {
		t.Fatalf("%v: no dispatch in\n%s", err, out)
	}
	if ample, _ := bench.PresetNamed("ample"); r.Dispatch.Drivers != 300 || r.Dispatch.Rate != ample.Rate {
		t.Errorf("--drivers 300 on ample: %d drivers at %v requests/s, want 300 at the preset's %v", r.Dispatch.Drivers, r.Dispatch.Rate, ample.Rate)
	}
	code, _, errs = runCommand(t, time.Minute, "bench", "--phases", "dispatch", "--dispatch-span", "30s")
	if code != 2 || !strings.Contains(errs, "dispatch span must be at least 1m") {
		t.Errorf("a 30s span: exit %d, %q", code, errs)
	}
}

// The dispatch table has the policies and the bound as columns and a row for each figure.
func TestBenchDispatchTable(t *testing.T) {
	f := bench.DispatchFigures{Requests: 7201, MatchRate: 0.744, CompletedRides: 3398, MeanPickupKM: 1.1, P95PickupKM: 2.8, MeanWaitS: 3.5, P95WaitS: 24.7, P99WaitS: 29, DriverUtilization: 0.816}
	b := f
	b.MatchRate = 0.801
	var s strings.Builder
	printBench(&s, bench.Result{Setup: bench.Setup{Phases: []string{"dispatch"}}, Dispatch: &bench.Dispatch{
		Scenario: "scarce", City: "mumbai", Policies: map[string]bench.DispatchFigures{"greedy": f, "batch": f, "adaptive": f}, Bound: b,
	}})
	for _, want := range []string{"greedy  batch  adaptive  bound", "match rate   0.744  0.744     0.744  0.801", "requests    7201", "p99 wait s", "driver utilization"} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("no %q in\n%s", want, s.String())
		}
	}
	s.Reset()
	printBench(&s, bench.Result{Setup: bench.Setup{Phases: []string{"core"}}})
	if strings.Contains(s.String(), "dispatch") {
		t.Errorf("a dispatch table without the phase:\n%s", s.String())
	}
}

// --offer-timeout turns driver offers on in the dispatch phase, answered at --accept-rate;
// --accept-rate alone is a mistake.
func TestBenchDispatchOffers(t *testing.T) {
	code, out, errs := runCommand(t, time.Minute, "bench", "--json", "--phases", "dispatch", "--scenario", "ample", "--drivers", "300", "--dispatch-span", "2m", "--offer-timeout", "15s", "--accept-rate", "0.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct{ Dispatch *bench.Dispatch }
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Dispatch == nil {
		t.Fatalf("%v: no dispatch in\n%s", err, out)
	}
	d := r.Dispatch
	if d.Offers == nil || *d.Offers != (bench.DispatchOfferSetup{Timeout: "15s", AcceptRate: 0.5}) {
		t.Errorf("setup echoes offers %+v", d.Offers)
	}
	for name, f := range map[string]bench.DispatchFigures{"greedy": d.Policies["greedy"], "bound": d.Bound} {
		if o := f.Offers; o == nil || o.Made == 0 || o.AcceptRate < 0.3 || o.AcceptRate > 0.7 {
			t.Errorf("%s: offers %+v, want about half accepted", name, o)
		}
	}
	if !strings.Contains(errs, "driver offers of 15s accepted at 0.50") {
		t.Errorf("progress does not say offers were on:\n%s", errs)
	}
	code, _, errs = runCommand(t, time.Minute, "bench", "--phases", "dispatch", "--accept-rate", "0.5")
	if code != 2 || !strings.Contains(errs, "--accept-rate needs --offer-timeout") {
		t.Errorf("--accept-rate without offers: exit %d, %q", code, errs)
	}
	code, _, errs = runCommand(t, time.Minute, "bench", "--phases", "dispatch", "--offer-timeout", "15s", "--accept-rate", "2")
	if code != 2 || !strings.Contains(errs, "accept rate") {
		t.Errorf("--accept-rate 2: exit %d, %q", code, errs)
	}
}

// With offers on, the dispatch table has a row for each offer figure; off, none.
func TestBenchDispatchOfferTable(t *testing.T) {
	f := bench.DispatchFigures{Requests: 7201, MatchRate: 0.7, Offers: &bench.OfferFigures{Made: 8000, PerRequest: 1.11, AcceptRate: 0.851, RanOut: 0.021}}
	d := &bench.Dispatch{Scenario: "scarce", City: "mumbai", Offers: &bench.DispatchOfferSetup{Timeout: "15s", AcceptRate: 0.85},
		Policies: map[string]bench.DispatchFigures{"greedy": f, "batch": f, "adaptive": f}, Bound: f}
	var s strings.Builder
	printBench(&s, bench.Result{Setup: bench.Setup{Phases: []string{"dispatch"}}, Dispatch: d})
	for _, want := range []string{"driver offers of 15s accepted at 0.85", "offers per request    1.11", "offers accepted   0.851", "ran out of offers   0.021"} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("no %q in\n%s", want, s.String())
		}
	}
	d.Offers, f.Offers = nil, nil
	d.Policies = map[string]bench.DispatchFigures{"greedy": f, "batch": f, "adaptive": f}
	d.Bound = f
	s.Reset()
	printBench(&s, bench.Result{Setup: bench.Setup{Phases: []string{"dispatch"}}, Dispatch: d})
	if strings.Contains(s.String(), "offer") {
		t.Errorf("offer rows with offers off:\n%s", s.String())
	}
}

// --drivers and --rate, given, shape the quality phase's load too.
func TestBenchQualityLoad(t *testing.T) {
	code, out, errs := runCommand(t, time.Minute, "bench", "--json", "--phases", "quality", "--scenario", "mumbai", "--drivers", "300", "--rate", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r bench.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	// Five simulated minutes at 2 requests a second, where the default is 20.
	if r.QualityRequests < 450 || r.QualityRequests > 750 {
		t.Errorf("%d quality requests at --rate 2, want about 600", r.QualityRequests)
	}
}
