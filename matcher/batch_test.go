package matcher

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

func assignment(a Assignment) func(*Config) { return func(c *Config) { c.Assignment = a } }

// matchedBy returns each ride_matched's driver, by request.
func matchedBy(t *testing.T, out []Output) map[string]*event.RideMatched {
	t.Helper()
	got := map[string]*event.RideMatched{}
	for _, e := range outcomes(out) {
		if m, ok := e.(*event.RideMatched); ok {
			if got[m.RequestID] != nil {
				t.Fatalf("%s matched twice", m.RequestID)
			}
			got[m.RequestID] = m
		}
	}
	return got
}

// TestBatchBeatsGreedyWhenContested is the case batching is for. A is 0.5 km from X and
// 1.8 km from Y; B is 1 km from X and 3.3 km from Y, out of reach. Greedy gives A its best,
// X, and B no one. A window gives A Y and B X: both ride, at a higher total score.
func TestBatchBeatsGreedyWhenContested(t *testing.T) {
	x := driverAt("X", geo.Offset(bandra, 0.5, 0), t0)
	y := driverAt("Y", geo.Offset(bandra, -1.8, 0), t0)
	a := requestAt("A", bandra, event.Mini, t0)
	b := requestAt("B", geo.Offset(bandra, 1.5, 0), event.Mini, t0.Add(sec(0.4)))
	tests := []struct {
		give Assignment
		recs []*event.LogRecord
		want map[string]string // request: driver
	}{
		{Greedy, []*event.LogRecord{x, y, a, b}, map[string]string{"A": "X"}},
		{Batch, []*event.LogRecord{x, y, a, b}, map[string]string{"A": "Y", "B": "X"}},
		// Adaptive matches a request at once when no one waits: here A came before any
		// driver and waits, so B, whose one candidate is within A's reach, waits too.
		{Adaptive, []*event.LogRecord{a, x, y, b}, map[string]string{"A": "Y", "B": "X"}},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			p := newPartition(t, assignment(tt.give))
			out := apply(p, tt.recs...)
			out = append(out, apply(p, tickAt(t0.Add(sec(2))), tickAt(t0.Add(sec(40))))...)
			got := matchedBy(t, out)
			if len(got) != len(tt.want) {
				t.Fatalf("matched %d requests, want %d: %s", len(got), len(tt.want), describe(outcomes(out)))
			}
			for req, drv := range tt.want {
				m := got[req]
				if m == nil || m.DriverID != drv {
					t.Fatalf("%s: got %+v, want driver %s", req, m, drv)
				}
				if m.Assignment != tt.give.String() || m.Batched != (tt.give != Greedy) {
					t.Errorf("%s says assignment %q, batched %v", req, m.Assignment, m.Batched)
				}
				if tt.give != Greedy && m.MatchTimestamp != t0.Add(sec(2)) {
					t.Errorf("%s matched at %v, want the window's end", req, m.MatchTimestamp)
				}
			}
		})
	}
}

// TestWindowClosesOnTicks: a request alone waits for the end of its window, which ticks
// alone close; a request with no one waits for the next, up to its TTL.
func TestWindowClosesOnTicks(t *testing.T) {
	p := newPartition(t, assignment(Batch))
	out := apply(p, tickAt(t0), requestAt("R1", bandra, event.Mini, t0.Add(sec(0.5))), tickAt(t0.Add(sec(1.9))))
	if len(outcomes(out)) != 0 {
		t.Fatalf("an outcome before the window closed: %s", describe(outcomes(out)))
	}
	out = apply(p, driverAt("D1", geo.Offset(bandra, 1, 0), t0.Add(sec(2.5))), tickAt(t0.Add(sec(3.9))))
	if len(outcomes(out)) != 0 {
		t.Fatalf("an outcome before the second window closed: %s", describe(outcomes(out)))
	}
	m := onlyMatch(t, apply(p, tickAt(t0.Add(sec(4.1)))))
	if m.DriverID != "D1" || m.MatchTimestamp != t0.Add(sec(4)) || !m.Batched {
		t.Fatalf("got %+v, want D1 at the second window's end", m)
	}
	if s := p.Stats(); s.Windows != 2 || s.Batched != 1 {
		t.Fatalf("stats %+v: want two windows, one batched", s)
	}
}

// TestOneRequestAtATimeGetsTheBestDriver: the reference's flow, a request at a time,
// gets from a window exactly the driver greedy gives it.
func TestOneRequestAtATimeGetsTheBestDriver(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var recs []*event.LogRecord
	for i := range 300 {
		pos := geo.Offset(bandra, rng.NormFloat64()*2, rng.NormFloat64()*2)
		recs = append(recs, driverAt(fmt.Sprintf("D%03d", i), pos, t0, vehicle([]event.Vehicle{event.Hatchback, event.Sedan, event.Auto}[i%3]), rating(3+float64(rng.IntN(21))/10)))
	}
	rides := []event.RideType{event.Micro, event.Mini, event.Prime, event.AutoRide}
	for i := range 12 {
		at := t0.Add(time.Duration(i)*2*time.Second + sec(0.3))
		pickup := geo.Offset(bandra, rng.NormFloat64()*2, rng.NormFloat64()*2)
		recs = append(recs, requestAt(fmt.Sprintf("R%02d", i), pickup, rides[i%4], at), tickAt(at.Add(sec(1.8))))
	}
	drivers := func(a Assignment) string {
		p := newPartition(t, assignment(a))
		var b strings.Builder
		for _, e := range outcomes(apply(p, recs...)) {
			if m, ok := e.(*event.RideMatched); ok {
				fmt.Fprintf(&b, "%s:%s ", m.RequestID, m.DriverID)
			}
		}
		return b.String()
	}
	greedy := drivers(Greedy)
	if strings.Count(greedy, ":") < 10 {
		t.Fatalf("too few matches to prove anything: %s", greedy)
	}
	for _, a := range []Assignment{Batch, Adaptive} {
		if got := drivers(a); got != greedy {
			t.Errorf("%v gave %s\ngreedy gave %s", a, got, greedy)
		}
	}
}

// TestAdaptiveMatchesUncontestedAtOnce: with no one else waiting, a request is matched
// the moment it comes, as greedy would.
func TestAdaptiveMatchesUncontestedAtOnce(t *testing.T) {
	p := newPartition(t, assignment(Adaptive))
	m := onlyMatch(t, apply(p, driverAt("D1", geo.Offset(bandra, 1, 0), t0), requestAt("R1", bandra, event.Mini, t0.Add(sec(0.5)))))
	if m.MatchTimestamp != t0.Add(sec(0.5)) || m.Batched || m.Assignment != "adaptive" {
		t.Fatalf("got %+v, want an immediate match", m)
	}
	// A request far away waits for no one either: R2's candidates are out of R3's reach.
	apply(p, requestAt("R2", geo.Offset(bandra, 20, 0), event.Mini, t0.Add(sec(0.6))))
	m = onlyMatch(t, apply(p, driverAt("D2", geo.Offset(bandra, 0, 1), t0.Add(sec(0.7))), requestAt("R3", bandra, event.Mini, t0.Add(sec(0.8)))))
	if m.RequestID != "R3" || m.Batched {
		t.Fatalf("got %+v, want R3 matched at once", m)
	}
	if p.Stats().Contested != 0 {
		t.Fatalf("stats %+v: nothing was contested", p.Stats())
	}
}

// TestBatchCaps: a window takes at most BatchRequests requests, oldest first; the rest
// wait for the next.
func TestBatchCaps(t *testing.T) {
	p := newPartition(t, assignment(Batch), func(c *Config) { c.BatchRequests, c.BatchCandidates = 2, 5 })
	var recs []*event.LogRecord
	for i := range 5 {
		recs = append(recs, driverAt(fmt.Sprintf("D%d", i), geo.Offset(bandra, float64(i)*0.2, 0), t0))
	}
	for i := range 3 {
		recs = append(recs, requestAt(fmt.Sprintf("R%d", i), bandra, event.Mini, t0.Add(sec(0.1*float64(i+1)))))
	}
	got := matchedBy(t, apply(p, append(recs, tickAt(t0.Add(sec(2.1))))...))
	if len(got) != 2 || got["R0"] == nil || got["R1"] == nil {
		t.Fatalf("first window matched %v, want R0 and R1", got)
	}
	got = matchedBy(t, apply(p, tickAt(t0.Add(sec(4.1)))))
	if len(got) != 1 || got["R2"] == nil {
		t.Fatalf("second window matched %v, want R2", got)
	}
}

// TestBatchesSameLogSameOutputs and restore: windows in flight at the cut are rebuilt
// from History() and close as they did.
func TestBatchesSameLogSameOutputs(t *testing.T) {
	log := randomLog(11, 20*time.Minute, 150, 4)
	for _, a := range []Assignment{Batch, Adaptive} {
		t.Run(a.String(), func(t *testing.T) {
			run := func() ([]string, Stats) {
				p := newPartition(t, assignment(a))
				var out []Output
				for i, r := range log {
					p.Apply(r, event.Position(i))
					out = append(out, p.Outputs()...)
				}
				return encodeOutputs(t, out), p.Stats()
			}
			x, s := run()
			y, _ := run()
			if strings.Join(x, "\n") != strings.Join(y, "\n") {
				t.Fatal("two runs over the same log differ")
			}
			if s.Batched == 0 || (a == Adaptive && s.Contested == 0) {
				t.Fatalf("stats %+v: the log should make windows assign", s)
			}
			checkRestore(t, log, []int{len(log) / 3, len(log) * 2 / 3, len(log) - 200}, assignment(a))
		})
	}
}

// TestReplayMakesEachDecisionAtItsMoment: one record can close several windows, or pass
// several retries, and a replay makes each decision at the moment it was made, not at the
// first chance within the record. Here the first window takes only R0 (a cap of one), or a
// reservation expires between two of them; the cancel after the cut shows the match id,
// which names the moment.
func TestReplayMakesEachDecisionAtItsMoment(t *testing.T) {
	capped := []*event.LogRecord{
		tickAt(t0),
		driverAt("D0", geo.Offset(bandra, 0.2, 0), t0),
		driverAt("D1", geo.Offset(bandra, 0.4, 0), t0),
		requestAt("R0", bandra, event.Mini, t0.Add(sec(0.1))),
		requestAt("R1", bandra, event.Mini, t0.Add(sec(0.2))),
		tickAt(t0.Add(sec(4.1))),
		cancelAt("R1", t0.Add(sec(5))),
		tickAt(t0.Add(sec(6))),
	}
	checkRestore(t, capped, []int{6}, assignment(Batch), func(c *Config) { c.BatchRequests = 1 })
	expiring := []*event.LogRecord{
		tickAt(t0),
		driverAt("D0", geo.Offset(bandra, 0.2, 0), t0),
		requestAt("Q", bandra, event.Mini, t0.Add(sec(0.1))),
		tickAt(t0.Add(sec(2.1))),
		requestAt("R", bandra, event.Mini, t0.Add(sec(2.5))),
		tickAt(t0.Add(sec(6.5))),
		cancelAt("R", t0.Add(sec(7))),
		tickAt(t0.Add(sec(8))),
	}
	for _, a := range []Assignment{Greedy, Batch, Adaptive} {
		t.Run(a.String(), func(t *testing.T) {
			checkRestore(t, expiring, []int{6}, assignment(a), func(c *Config) { c.ReservationTimeout = 3 * time.Second })
		})
	}
}

// TestCapCountsOnlySearches: requests that cannot be served, and are skipped, do not hold
// a window's places from those behind them.
func TestCapCountsOnlySearches(t *testing.T) {
	p := newPartition(t, assignment(Batch), func(c *Config) { c.BatchRequests = 2 })
	recs := []*event.LogRecord{driverAt("D0", geo.Offset(bandra, 0.2, 0), t0)}
	for i := range 2 {
		recs = append(recs, requestAt(fmt.Sprintf("FAR%d", i), geo.Offset(bandra, 9, 0), event.Mini, t0.Add(sec(0.1))))
	}
	recs = append(recs, requestAt("NEAR", bandra, event.Mini, t0.Add(sec(0.2))))
	for s := 1; s <= 40; s++ {
		recs = append(recs, driverAt("D0", geo.Offset(bandra, 0.2, 0), t0.Add(time.Duration(s)*time.Second)))
	}
	if got := matchedBy(t, apply(p, recs...)); got["NEAR"] == nil {
		t.Fatal("NEAR was never matched, though D0 stood free beside it")
	}
}

// TestBatchSearchesALateRequestAtOnce: a request whose time is up before the window
// closes (a record that came late) gets a search at once, as greedy gives it.
func TestBatchSearchesALateRequestAtOnce(t *testing.T) {
	p := newPartition(t, assignment(Batch))
	apply(p, driverAt("D0", geo.Offset(bandra, 0.5, 0), t0.Add(sec(40))), tickAt(t0.Add(sec(40.5))))
	m := onlyMatch(t, apply(p, requestAt("R", bandra, event.Mini, t0.Add(sec(10)))))
	if m.DriverID != "D0" || m.Batched {
		t.Fatalf("got %+v, want D0 at once", m)
	}
}
