package router

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/nopointer"
)

// availableAt returns a function that routes an available driver's update at Bandra
// through r into s.
func availableAt(t *testing.T, r *Router, s *sink) func(id string, at event.Time) {
	return func(id string, at event.Time) {
		t.Helper()
		if err := r.Route(driverJSON(id, bandra, at, event.Available), drivers(at), s.emit); err != nil {
			t.Fatal(err)
		}
	}
}

func TestForget(t *testing.T) {
	cfg := DefaultConfig()
	r := newRouter(t, cfg, 4)
	var s sink
	route := availableAt(t, r, &s)
	route("OLD", t0)
	route("EDGE", t0.Add(10*time.Second))
	route("NEW", t0.Add(10*time.Second+cfg.History()))
	r.Forget()
	// The watermark is t0+10s+History: OLD is older than History, EDGE exactly History.
	if r.Drivers() != 2 {
		t.Fatalf("Drivers() = %d after Forget, want 2 (EDGE and NEW)", r.Drivers())
	}
	s.take()
	route("EDGE", t0.Add(10*time.Second+cfg.History()+time.Second))
	if got := s.take(); len(got) != 1 || got[0].rec.Route != event.RouteGenesis {
		t.Fatalf("EDGE after silence: %v", got)
	}
	before := r.Stats().Stale
	route("OLD", t0) // forgotten, so not stale: a genesis
	if got := s.take(); len(got) != 1 || got[0].rec.Route != event.RouteGenesis || r.Stats().Stale != before {
		t.Fatalf("OLD after Forget: %v", got)
	}
	r2 := newRouter(t, cfg, 4)
	r2.Forget() // an empty router forgets nothing and does not panic
	if r2.Drivers() != 0 {
		t.Fatal("empty router has drivers")
	}
}

// TestForgetChurn: waves of drivers that come once and are forgotten reuse the slots
// and the id blocks of those before them, and the driver that stays stays known.
func TestForgetChurn(t *testing.T) {
	cfg := DefaultConfig()
	r := newRouter(t, cfg, 4)
	var s sink
	route := availableAt(t, r, &s)
	const waves, perWave = 20, 500
	at := t0
	for w := range waves {
		at = t0.Add(time.Duration(w) * (cfg.History() + time.Second))
		route("STAY", at)
		for i := range perWave {
			route(fmt.Sprintf("%0120d", w*perWave+i), at)
		}
		r.Forget()
		s.take()
	}
	if r.Drivers() != perWave+1 {
		t.Fatalf("Drivers() = %d after the last wave, want %d", r.Drivers(), perWave+1)
	}
	if len(r.seen) > 2*perWave+1 || r.drivers.Wasteful() {
		t.Errorf("after %d waves: %d slots for %d drivers, ids wasteful", waves, len(r.seen), r.Drivers())
	}
	stale := r.Stats().Stale
	route("STAY", at)
	if r.Stats().Stale != stale+1 {
		t.Error("STAY was forgotten, or lost its last time, when the ids were compacted")
	}
}

// input is one record of a driver-locations partition.
type input struct {
	value  []byte
	record event.Time
}

// randomDrivers is a driver-locations partition: drivers around Mumbai moving between
// regions of different partitions, updating every few seconds, with clocks that lag by
// up to lag or run ahead by up to ahead, going silent for minutes now and then, and
// sending duplicates and out-of-order updates.
func randomDrivers(rnd *rand.Rand, places []place, lag, ahead time.Duration) []input {
	type driver struct {
		at    geo.Point
		skew  time.Duration
		quiet event.Time
		last  event.Time
	}
	ds := make([]driver, 40)
	for i := range ds {
		ds[i] = driver{at: places[rnd.IntN(len(places))].p, skew: time.Duration(rnd.Int64N(int64(lag+ahead))) - lag}
	}
	var out []input
	rec := t0
	for len(out) < 20000 {
		rec = rec.Add(time.Duration(rnd.IntN(150)) * time.Millisecond)
		i := rnd.IntN(len(ds))
		d := &ds[i]
		if rec < d.quiet {
			continue
		}
		switch rnd.IntN(60) {
		case 0: // silence
			d.quiet = rec.Add(time.Duration(rnd.Int64N(int64(3 * time.Minute))))
			continue
		case 1, 2: // a jump across regions
			d.at = places[rnd.IntN(len(places))].p
		default:
			d.at = geo.Offset(d.at, rnd.Float64()-0.5, rnd.Float64()-0.5)
		}
		at := rec.Add(d.skew)
		// Duplicates and reordering, of updates no older than the clocks may lag.
		if recent := d.last.Add(-time.Second) >= rec.Add(-lag); recent {
			switch rnd.IntN(30) {
			case 0:
				at = d.last // a duplicate
			case 1:
				at = d.last.Add(-time.Second) // out of order
			}
		}
		if at > d.last {
			d.last = at
		}
		out = append(out, input{driverJSON(fmt.Sprintf("DRV%03d", i), d.at, at, event.Available), rec})
	}
	return out
}

// routeAll routes in[from:], forgetting after every record if asked, and returns what
// each record became, one line per region-log record.
func routeAll(t *testing.T, r *Router, in []input, from int, forget bool) []string {
	t.Helper()
	var lines []string
	for i := from; i < len(in); i++ {
		x := in[i]
		err := r.Route(x.value, drivers(x.record), func(p int32, rec *event.LogRecord) {
			lines = append(lines, fmt.Sprintf("record %d: p%d kind %d route %d from %d to %d %s", i, p, rec.Kind, rec.Route, rec.From, rec.To, rec.DriverID+rec.Driver.DriverID))
		})
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if forget {
			r.Forget()
		}
	}
	return lines
}

// TestForgetKeepsDecisions: with driver clocks within the allowed skews (lagging less
// than the TTL), forgetting after every record routes exactly as never forgetting, and a
// router rebuilt from the last History() of records routes the rest exactly as the one
// that saw them all.
func TestForgetKeepsDecisions(t *testing.T) {
	const n = 4
	cfg := DefaultConfig()
	places := placesAround(bandra, n)
	parts := map[int32]bool{}
	for _, pl := range places {
		parts[pl.part] = true
	}
	if len(parts) != n {
		t.Fatalf("the places around Bandra reach %d partitions, want %d", len(parts), n)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	in := randomDrivers(rnd, places[:len(places)/3], 20*time.Second, 25*time.Second)

	never := newRouter(t, cfg, n)
	want := routeAll(t, never, in, 0, false)
	always := newRouter(t, cfg, n)
	if got := routeAll(t, always, in, 0, true); !reflect.DeepEqual(got, want) {
		t.Fatalf("forgetting after every record changed the routing: %s", firstDiff(got, want))
	}
	if always.Drivers() >= never.Drivers() {
		t.Errorf("Forget forgot nothing: %d drivers against %d", always.Drivers(), never.Drivers())
	}
	st := never.Stats()
	if st.Moves == 0 || st.Geneses <= 40 || st.Stale == 0 {
		t.Fatalf("the log does not exercise routing: %+v", st)
	}
	if always.Stats() != st {
		t.Errorf("Stats differ: %+v forgetting, %+v not", always.Stats(), st)
	}

	for cut := 0; cut < 5; cut++ {
		from := in[len(in)/4+rnd.IntN(len(in)/2)].record
		first := 0
		for first < len(in) && in[first].record < from.Add(-cfg.History()) {
			first++
		}
		start := first
		for start < len(in) && in[start].record < from {
			start++
		}
		restored := newRouter(t, cfg, n)
		for _, x := range in[first:start] { // replay: outputs discarded
			if err := restored.Route(x.value, drivers(x.record), func(int32, *event.LogRecord) {}); err != nil {
				t.Fatal(err)
			}
		}
		got := routeAll(t, restored, in, start, true)
		var wantTail []string
		for _, line := range want {
			var i int
			fmt.Sscanf(line, "record %d:", &i)
			if i >= start {
				wantTail = append(wantTail, line)
			}
		}
		if !reflect.DeepEqual(got, wantTail) {
			t.Fatalf("cut at %v: rebuilt from History() routes differently: %s", from, firstDiff(got, wantTail))
		}
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %q, want %q", got[i], want[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(got), len(want))
}

// A router keeps a slot per driver: the slots must give the collector nothing to follow.
func TestSlotHoldsNoPointer(t *testing.T) {
	if path := nopointer.In(reflect.TypeFor[lastSeen](), "lastSeen"); path != "" {
		t.Fatalf("%s holds a pointer", path)
	}
}
