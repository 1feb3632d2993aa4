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

// TestSearchFindsTheBestKnownDrivers checks the ring search and its pruning against brute
// force over every driver the partition holds: the best driver, as greedy takes it, and
// the best k, as a batch window takes them, by a ring search or a sweep of the index.
func TestSearchFindsTheBestKnownDrivers(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		p := newPartition(t)
		matched := 0
		for i, r := range randomLog(seed, 3*time.Minute, 400, 5) {
			if r.Kind == event.LogRequest {
				p.advance(r.Time)
				q := &request{RideRequest: r.Request, origin: geo.CellOf(r.Request.Pickup, p.cfg.Resolutions.Index)}
				want := bruteForce(p, q)
				for _, k := range []int{1, 3, 16} {
					w := ranked(p, want[:min(k, len(want))])
					if got := ranked(p, p.search(q, k)); got != w {
						t.Fatalf("seed %d record %d, best %d: search found %s, brute force %s", seed, i, k, got, w)
					}
					ranks := make([]ranking, 1)
					if p.sweepIndex([]*request{q}, k, ranks); ranked(p, ranks[0].list) != w {
						t.Fatalf("seed %d record %d, best %d: a sweep found %s, brute force %s", seed, i, k, ranked(p, ranks[0].list), w)
					}
				}
				if len(want) > 0 {
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

func ranked(p *Partition, cs []candidate) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s (%.3f km, %.3f) ", name(p, c.d), c.dist, c.score)
	}
	return b.String()
}

func name(p *Partition, d *driver) string {
	if d == nil {
		return "nobody"
	}
	return p.drivers.String(d.id)
}

// bruteForce ranks every matchable driver within reach of r, best first.
func bruteForce(p *Partition, r *request) []candidate {
	w := p.cfg.Weights
	var all []candidate
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
		all = append(all, candidate{d: d, dist: km, score: w.Score(km, d.rating, compatible)})
	}
	slices.SortFunc(all, func(a, b candidate) int {
		if p.better(a, b) {
			return -1
		}
		return 1
	})
	return all
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
	checkRestore(t, log, []int{len(log) / 2, len(log) * 3 / 4, len(log) - 500})
}

// checkRestore checks that a partition rebuilt from the last History() of log before
// each cut produces what the partition that saw the whole log produces.
func checkRestore(t *testing.T, log []*event.LogRecord, cuts []int, mutate ...func(*Config)) {
	t.Helper()
	cfg := DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	for _, cut := range cuts {
		full := newPartition(t, mutate...)
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
		restored := newPartition(t, mutate...)
		decided := Decisions{}
		for _, d := range decisions {
			switch {
			case d.Time < log[cut].Time.Add(-cfg.DecisionHistory()):
			case d.RequestPosition < event.Position(start):
				restored.Remember(d)
			case d.Position >= event.Position(start):
				decided.Add(d)
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
				for j := max(0, i-3); j < min(i+8, len(got), len(want)); j++ {
					t.Logf("%d\n  got  %.400s\n  want %.400s", j, got[j], want[j])
				}
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
	p.Replay(requestAt("R1", bandra, event.Mini, t0), 1, map[DecisionKey]Decision{{"R1", t0}: {DriverID: "D1"}})
	p.Replay(&event.LogRecord{Kind: event.LogLeft, Time: t0.Add(sec(1)), DriverID: "D1", To: 1}, 2, nil)
	p.Replay(requestAt("R2", bandra, event.Mini, t0.Add(sec(2))), 3, map[DecisionKey]Decision{{"R2", t0.Add(sec(2))}: {DriverID: "D1"}})
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

// TestRetrySkipsOnlyVainSearches: a retry (or a window's search) is skipped only when no
// driver within the request's reach has been written since its last search, so skipping
// changes no output: the same logs with every retry searched give the same outputs,
// record by record, under every assignment.
func TestRetrySkipsOnlyVainSearches(t *testing.T) {
	for i, seed := range []uint64{7, 8, 9} {
		policy := assignment([]Assignment{Greedy, Batch, Adaptive}[i])
		log := randomLog(seed, 8*time.Minute, 300, 3)
		skipping, searching := newPartition(t, policy), newPartition(t, policy)
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
