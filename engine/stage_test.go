package engine

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"ridematch"
	"ridematch/event"
	"ridematch/matcher"
)

// A partition's state is rebuilt whenever the partition is assigned, whether or not its
// revoke was heard: another member may have handled it meanwhile.
func TestAssignedStateIsRebuilt(t *testing.T) {
	cfg := DefaultConfig()
	d := DefaultTopology(&cfg).Stages[1]
	s := newStage(&d, Env{Config: &cfg, Stats: &Stats{}, Log: zerolog.Nop()}, func(env Env) (Processor[*matcherState], error) {
		return newMatcherProcessor(env, matcher.NewShared())
	})
	kept, regained, revoked := tp{"in", 0}, tp{"in", 1}, tp{"in", 2}
	for _, p := range []tp{kept, regained, revoked} {
		s.parts[p] = &matcherState{}
	}

	s.onRevoked(context.Background(), nil, map[string][]int32{"in": {2}})
	// Partition 1 comes back without its revoke having been heard.
	s.onAssigned(context.Background(), nil, map[string][]int32{"in": {1}})
	s.dropRevoked()

	for _, tt := range []struct {
		give tp
		want bool
	}{
		{kept, true},
		{regained, false},
		{revoked, false},
	} {
		if _, ok := s.parts[tt.give]; ok != tt.want {
			t.Errorf("partition %d: state kept %v, want %v", tt.give.Partition, ok, tt.want)
		}
	}
	if !s.assigned[regained] || s.assigned[revoked] {
		t.Errorf("assigned = %v, want partition 1 and not 2", s.assigned)
	}
}

func TestSnapshotAdd(t *testing.T) {
	a := Snapshot{Matched: 3, Drivers: 10, LastRestore: time.Second, MaxBufferedFetch: 5,
		Offers: 5, OffersAccepted: 3, Responses: 4, DroppedResponses: [matcher.NDrops]uint64{matcher.DropExpired: 1},
		AcceptTimes:  matcher.AcceptTimes{Counts: [len(matcher.AcceptBuckets) + 1]uint64{0, 2, 1}, Sum: 3 * time.Second},
		DeadLettered: map[event.Reason]uint64{event.ReasonMalformedJSON: 1}, Assigned: map[string]int{"router": 2}}
	b := Snapshot{Matched: 4, Drivers: 7, LastRestore: 2 * time.Second, MaxBufferedFetch: 3,
		Offers: 2, OffersDeclined: 1, OffersExpired: 1, OffersWithdrawn: 1, ResponsesApplied: 1,
		DroppedResponses: [matcher.NDrops]uint64{matcher.DropExpired: 2, matcher.DropUnknown: 1},
		AcceptTimes:      matcher.AcceptTimes{Counts: [len(matcher.AcceptBuckets) + 1]uint64{1}, Sum: time.Second / 4},
		DeadLettered:     map[event.Reason]uint64{event.ReasonMalformedJSON: 2, event.ReasonBadRating: 1}, Assigned: map[string]int{"router": 1, "matcher": 4}}
	var got Snapshot
	got.Add(a)
	got.Add(b)
	want := Snapshot{Matched: 7, Drivers: 17, LastRestore: 2 * time.Second, MaxBufferedFetch: 5,
		Offers: 7, OffersAccepted: 3, OffersDeclined: 1, OffersExpired: 1, OffersWithdrawn: 1, Responses: 4, ResponsesApplied: 1,
		DroppedResponses: [matcher.NDrops]uint64{matcher.DropExpired: 3, matcher.DropUnknown: 1},
		AcceptTimes:      matcher.AcceptTimes{Counts: [len(matcher.AcceptBuckets) + 1]uint64{1, 2, 1}, Sum: 3250 * time.Millisecond},
		DeadLettered:     map[event.Reason]uint64{event.ReasonMalformedJSON: 3, event.ReasonBadRating: 1}, Assigned: map[string]int{"router": 3, "matcher": 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sum\n%+v\nwant\n%+v", got, want)
	}
	if a.Matched != 3 || a.DeadLettered[event.ReasonMalformedJSON] != 1 {
		t.Errorf("Add changed its argument: %+v", a)
	}
}

// A matcher partition's offer counters reach the engine's as the differences between
// its readings.
func TestAddMatcherOffers(t *testing.T) {
	before := matcher.Stats{Offers: 4, OffersAccepted: 2, OffersDeclined: 1, Responses: 3,
		AcceptTimes: matcher.AcceptTimes{Counts: [len(matcher.AcceptBuckets) + 1]uint64{1, 1}, Sum: 1500 * time.Millisecond}}
	before.Dropped[matcher.DropDuplicate] = 1
	after := before
	after.Offers, after.OffersAccepted, after.OffersExpired, after.OffersWithdrawn, after.Responses = 9, 3, 2, 1, 5
	after.AcceptTimes.Counts[len(matcher.AcceptBuckets)] = 1 // one accept past the last bucket
	after.AcceptTimes.Sum += 40 * time.Second
	after.Dropped[matcher.DropDuplicate] = 2
	after.Dropped[matcher.DropDriver] = 1

	var st Stats
	st.addMatcher(matcher.Stats{}, before)
	st.addMatcher(before, after)
	st.addMatcher(after, after)
	got := st.Snapshot()
	var want [matcher.NDrops]uint64
	want[matcher.DropDuplicate], want[matcher.DropDriver] = 2, 1
	if got.Offers != 9 || got.OffersAccepted != 3 || got.OffersDeclined != 1 || got.OffersExpired != 2 ||
		got.OffersWithdrawn != 1 || got.ResponsesApplied != 5 || got.Responses != 0 || got.DroppedResponses != want {
		t.Errorf("offer counters %+v", got)
	}
	if got.AcceptTimes != after.AcceptTimes {
		t.Errorf("accept times %+v; want %+v", got.AcceptTimes, after.AcceptTimes)
	}
}

// TestUnencodableOutputIsCounted: an outcome that cannot be written as JSON (a fare of
// NaN, which validated settings rule out) is reported and counted, never a panic that
// would come back on every restart.
func TestUnencodableOutputIsCounted(t *testing.T) {
	cfg := DefaultConfig()
	var stats Stats
	m := &matcherProcessor{cfg: &cfg, stats: &stats, log: zerolog.Nop(), matches: cfg.Topics.Name(ridematch.RoleRideMatches)}
	if r := m.record(&event.RideMatched{EventType: event.TypeRideMatched, RequestID: "R1", FareEstimate: math.NaN()}); r != nil {
		t.Fatalf("a fare of NaN encoded as %s", r.Value)
	}
	if got := stats.Snapshot().Unencodable; got != 1 {
		t.Errorf("Unencodable = %d, want 1", got)
	}
	r := m.record(&event.RideMatched{EventType: event.TypeRideMatched, RequestID: "R1", FareEstimate: 50})
	if r == nil || r.Topic != cfg.Topics.Name(ridematch.RoleRideMatches) || string(r.Key) != "R1" {
		t.Fatalf("a valid outcome: %+v", r)
	}
}
