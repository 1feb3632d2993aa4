package matcher

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"ridematch/event"
)

// Sources as the engine names them: two driver-locations partitions and one of
// ride-requests.
var (
	drivers0  = event.SourceOf(false, 0)
	drivers1  = event.SourceOf(false, 1)
	requests0 = event.SourceOf(true, 0)
)

// markAt is a router's mark: each source's claim, lagging or caught up, and the slack.
func markAt(slack time.Duration, marks ...event.SourceMark) *event.LogRecord {
	r := &event.LogRecord{Kind: event.LogMark, Time: never, Mark: event.Mark{Slack: slack, Sources: marks}}
	for _, m := range marks {
		r.Time = min(r.Time, m.Claim)
	}
	return r
}

func claim(s event.SourceID, at event.Time) event.SourceMark {
	return event.SourceMark{Source: s, Claim: at}
}

// frame applies a router frame: its mark, then its records.
func frame(p *Partition, written event.Time, recs ...*event.LogRecord) []Output {
	p.Frame(written)
	return apply(p, recs...)
}

// TestClockIsTheSlowestSource: a router that has got far ahead (a fast phone, a hostile
// record timestamp in producer mode) moves its own sources only; a request waiting in
// the partition waits its full TTL, by the sources that have not got as far.
func TestClockIsTheSlowestSource(t *testing.T) {
	p := newPartition(t)
	frame(p, t0, markAt(event.Unbounded, claim(drivers0, t0), claim(requests0, t0)), requestAt("R1", bandra, event.Mini, t0))
	if p.Pending() != 1 || p.Clock() != t0 {
		t.Fatalf("pending %d, clock %v", p.Pending(), p.Clock())
	}
	// Another router says its partition is a day on: the clock stays with the others.
	out := frame(p, t0, markAt(event.Unbounded, claim(drivers1, t0.Add(24*time.Hour))))
	if len(outcomes(out)) != 0 || p.Pending() != 1 || p.Clock() != t0 {
		t.Fatalf("a source a day ahead moved the clock to %v: %s", p.Clock(), describe(outcomes(out)))
	}
	// Its records too: a request it routes a day on waits by the others' clock.
	out = frame(p, t0, markAt(event.Unbounded, claim(drivers1, t0.Add(24*time.Hour))), requestAt("R2", bandra, event.Mini, t0.Add(24*time.Hour)))
	if len(outcomes(out)) != 0 || p.Pending() != 2 || p.Clock() != t0 {
		t.Fatalf("after a request a day ahead: clock %v, pending %d: %s", p.Clock(), p.Pending(), describe(outcomes(out)))
	}
	if p.Stats().Late != 0 {
		t.Errorf("late records: %d", p.Stats().Late)
	}
	// The slow sources move on: R1 waits until exactly its TTL has passed.
	out = frame(p, t0, markAt(event.Unbounded, claim(drivers0, t0.Add(29*time.Second)), claim(requests0, t0.Add(29*time.Second))))
	if len(outcomes(out)) != 0 || p.Clock() != t0.Add(29*time.Second) {
		t.Fatalf("29s on: clock %v, %s", p.Clock(), describe(outcomes(out)))
	}
	out = frame(p, t0, markAt(event.Unbounded, claim(drivers0, t0.Add(time.Minute)), claim(requests0, t0.Add(time.Minute))))
	evs := outcomes(out)
	if len(evs) != 1 || p.Pending() != 1 {
		t.Fatalf("a minute on: %s, pending %d", describe(evs), p.Pending())
	}
	u, ok := evs[0].(*event.RideUnmatched)
	if !ok || u.RequestID != "R1" || u.Timestamp != t0.Add(30*time.Second) {
		t.Fatalf("want R1 unmatched at exactly %v: %s", t0.Add(30*time.Second), describe(evs))
	}
}

// TestMergedRecordsMoveTheClock: the records after a mark are in log-time order across
// the router's lagging sources, so each moves the clock to its own time, and what falls
// due between two records happens between them, at its moment.
func TestMergedRecordsMoveTheClock(t *testing.T) {
	p := newPartition(t)
	out := frame(p, t0, markAt(event.Unbounded, claim(drivers0, t0), claim(requests0, t0)),
		requestAt("R1", bandra, event.Mini, t0),
		driverAt("D1", bandra, t0.Add(10*time.Second), vehicle(event.Auto)),
		driverAt("D2", bandra, t0.Add(20*time.Second), vehicle(event.Auto)),
		driverAt("D3", bandra, t0.Add(31*time.Second)), // a sedan: too late for R1
	)
	evs := outcomes(out)
	if len(evs) != 1 {
		t.Fatalf("want R1 unmatched: %s", describe(evs))
	}
	if u, ok := evs[0].(*event.RideUnmatched); !ok || u.Timestamp != t0.Add(30*time.Second) {
		t.Fatalf("want R1 unmatched at %v, before the sedan at 31s: %s", t0.Add(30*time.Second), describe(evs))
	}
	if p.Clock() != t0.Add(31*time.Second) {
		t.Errorf("clock %v, want the last record's time", p.Clock())
	}
}

// TestMergedRecordsMoveBySlackAtMost: in producer mode a mark's slack bounds how far a
// merged record carries the sources the mark names, so one record stamped a day ahead
// moves the clock by the slack at most; with the broker's clock (no slack) the merged
// records carry them all the way.
func TestMergedRecordsMoveBySlackAtMost(t *testing.T) {
	p := newPartition(t)
	frame(p, t0, markAt(30*time.Second, claim(drivers0, t0), claim(requests0, t0)),
		driverAt("D1", bandra, t0.Add(24*time.Hour)))
	if p.Clock() != t0.Add(30*time.Second) {
		t.Fatalf("clock %v, want %v: the slack past the sources' claims", p.Clock(), t0.Add(30*time.Second))
	}
	// The sources stay there: the next mark claiming no more does not move the clock.
	frame(p, t0, markAt(30*time.Second, claim(drivers0, t0), claim(requests0, t0)))
	if p.Clock() != t0.Add(30*time.Second) {
		t.Fatalf("clock %v after a mark claiming t0", p.Clock())
	}
	p = newPartition(t)
	frame(p, t0, markAt(event.Unbounded, claim(drivers0, t0), claim(requests0, t0)),
		driverAt("D1", bandra, t0.Add(time.Hour)))
	if p.Clock() != t0.Add(time.Hour) {
		t.Fatalf("clock %v, want %v", p.Clock(), t0.Add(time.Hour))
	}
}

// TestSilentSourcesAreDropped: a source no mark has named for sourceSilence marks holds
// the clock back no more.
func TestSilentSourcesAreDropped(t *testing.T) {
	p := newPartition(t)
	frame(p, t0, markAt(event.Unbounded, claim(drivers0, t0), claim(drivers1, t0)))
	at := t0
	for i := range sourceSilence {
		at = t0.Add(time.Duration(i+1) * time.Millisecond)
		frame(p, t0, markAt(event.Unbounded, claim(drivers0, at)))
		if p.Clock() != t0 {
			t.Fatalf("after %d marks without drivers1 the clock moved to %v", i+1, p.Clock())
		}
	}
	at = at.Add(time.Millisecond)
	frame(p, t0, markAt(event.Unbounded, claim(drivers0, at)))
	if p.Clock() != at {
		t.Fatalf("after %d marks without drivers1 the clock is %v, want %v", sourceSilence+1, p.Clock(), at)
	}
}

// TestLegacyFramesStopWhereTheyWereWritten: a region log written by an engine older than
// marks carried the devices' clocks, poison included; a restore over it moves the clock
// no further than when each frame was written.
func TestLegacyFramesStopWhereTheyWereWritten(t *testing.T) {
	p := newPartition(t)
	legacy := func(r *event.LogRecord) *event.LogRecord { r.Legacy = true; return r }
	poison := event.TimeOf(time.Date(2611, 2, 17, 0, 0, 0, 0, time.UTC))
	frame(p, t0, legacy(requestAt("R1", bandra, event.Mini, t0)))
	frame(p, t0.Add(time.Second), legacy(tickAt(poison)))
	if p.Clock() != t0.Add(time.Second) || p.Pending() != 1 {
		t.Fatalf("clock %v, pending %d after a poisoned tick in a frame written at %v", p.Clock(), p.Pending(), t0.Add(time.Second))
	}
	out := frame(p, t0.Add(31*time.Second), legacy(tickAt(poison)))
	if evs := outcomes(out); len(evs) != 1 || evs[0].(*event.RideUnmatched).Timestamp != t0.Add(30*time.Second) {
		t.Fatalf("want R1 unmatched at its TTL: %s", describe(evs))
	}
}

// TestCancelBeforeItsRequest: a cancel that overtakes its request is held for CancelHold,
// and the request, when it comes, ends ride_cancelled.
func TestCancelBeforeItsRequest(t *testing.T) {
	p := newPartition(t)
	out := apply(p, driverAt("D1", bandra, t0), cancelAt("R1", t0), requestAt("R1", bandra, event.Mini, t0.Add(2*time.Second)))
	evs := outcomes(out)
	if len(evs) != 1 {
		t.Fatalf("want one outcome: %s", describe(evs))
	}
	if c, ok := evs[0].(*event.RideCancelled); !ok || c.RequestID != "R1" || c.Reason != "rider_cancelled" {
		t.Fatalf("want R1 cancelled: %s", describe(evs))
	}
	if st := p.Stats(); st.HeldCancels != 1 || st.CancelledOnArrival != 1 || st.Cancelled != 1 {
		t.Errorf("stats %+v", st)
	}
	// Its driver was not taken; a duplicate of the request gets nothing.
	if out := apply(p, requestAt("R1", bandra, event.Mini, t0.Add(3*time.Second)), requestAt("R2", bandra, event.Mini, t0.Add(3*time.Second))); onlyMatch(t, out).RequestID != "R2" {
		t.Fatalf("R2 should get the driver")
	}
	// Past the hold, a cancel no longer waits for its request.
	p = newPartition(t)
	out = apply(p, driverAt("D1", bandra, t0), cancelAt("R3", t0), tickAt(t0.Add(DefaultConfig().CancelHold+2*time.Second)),
		requestAt("R3", bandra, event.Mini, t0.Add(DefaultConfig().CancelHold+2*time.Second)))
	if m := onlyMatch(t, out); m.RequestID != "R3" {
		t.Fatalf("want R3 matched: %+v", m)
	}
}

// TestTicksDoNotChangeOutputs: outputs depend on the records and on when things fall due,
// not on how often or where ticks move the clock: the same merged log, applied as one
// frame, as many frames, or with ticks strewn between, gives the same bytes. That is what
// makes a backlog replay the same whatever the fetch sizes and timing. (The decision log
// records which record's handling made each decision, a position that ticks do move.)
func TestTicksDoNotChangeOutputs(t *testing.T) {
	var log []*event.LogRecord
	var front event.Time
	for _, r := range randomLog(11, 4*time.Minute, 200, 3) {
		switch {
		case r.Kind == event.LogTick, r.Kind == event.LogLeft, r.Kind == event.LogToken:
			continue // ticks are what varies; hand-offs are timed by another partition
		case r.Kind == event.LogDriver && r.Route == event.RouteArrival:
			continue
		}
		// The log time: the router's, never back; the device's time stays as it was.
		front = max(front, r.Time)
		r.Time = front
		log = append(log, r)
	}
	run := func(seed uint64, frameEvery, tickEvery int) []string {
		rng := rand.New(rand.NewPCG(seed, 1))
		p := newPartition(t)
		var out []Output
		at := func(r *event.LogRecord, pos int) {
			p.Apply(r, event.Position(pos))
			for _, o := range p.Outputs() {
				if o.Decision != nil {
					// Which record's handling made a decision is a position in the log,
					// ticks included: the one thing here that ticks may change.
					d := *o.Decision
					d.Position = 0
					o.Decision = &d
				}
				out = append(out, o)
			}
		}
		last := log[0].Time
		for i, r := range log {
			if i == 0 || frameEvery > 0 && rng.IntN(frameEvery) == 0 {
				p.Frame(r.Time)
				at(markAt(event.Unbounded, claim(drivers0, last), claim(requests0, last)), -1)
			}
			if tickEvery > 0 && rng.IntN(tickEvery) == 0 {
				// A tick between: the router caught up, claiming no more than the next
				// record's time.
				p.Frame(r.Time)
				c := last + event.Time(rng.Int64N(int64(r.Time-last)+1))
				at(markAt(event.Unbounded, claim(drivers0, c), claim(requests0, c)), -1)
			}
			at(r, i)
			last = r.Time
		}
		return encodeOutputs(t, out)
	}
	want := run(1, 0, 0)
	if len(want) < 100 {
		t.Fatalf("only %d outputs", len(want))
	}
	for _, v := range []struct {
		seed          uint64
		frames, ticks int
	}{{2, 10, 0}, {3, 0, 3}, {4, 2, 2}, {5, 50, 20}} {
		got := run(v.seed, v.frames, v.ticks)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("frames every ~%d, ticks every ~%d: output %d differs:\n got %s\nwant %s", v.frames, v.ticks, i, got[i], want[i])
				}
			}
			t.Fatalf("frames every ~%d, ticks every ~%d: %d outputs, want %d", v.frames, v.ticks, len(got), len(want))
		}
	}
}

// TestClaimsOutsideTheSaneRangeAreIgnored: a mark claiming the epoch, or the year 2611,
// moves nothing: no router writes such a claim, and one would drag the clock to it.
func TestClaimsOutsideTheSaneRangeAreIgnored(t *testing.T) {
	p := newPartition(t)
	frame(p, t0, markAt(event.Unbounded, claim(drivers0, t0)))
	frame(p, t0, markAt(30*time.Second, claim(drivers1, 0)), driverAt("D1", bandra, t0.Add(time.Second)))
	frame(p, t0, markAt(event.Unbounded, claim(requests0, event.TimeOf(time.Date(2611, 1, 1, 0, 0, 0, 0, time.UTC)))))
	if p.Clock() != t0 {
		t.Fatalf("clock %v, want %v", p.Clock(), t0)
	}
}
