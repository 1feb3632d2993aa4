package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/matcher"
)

// The region log is the matcher's input: what a clean replay of it outputs is what the
// engines must have written, through any crash or rebalance.

// replayRegionLog returns each request's final outcome in a clean replay of the region
// log, decoded.
func replayRegionLog(t *testing.T, h *harness) map[string]map[string]any {
	t.Helper()
	prefix := h.topics.Name(ridematch.RoleRideMatches) + "/"
	out := map[string]map[string]any{}
	for k, values := range replayed(t, h).keyed {
		id, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		for _, v := range values {
			var m map[string]any
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				t.Fatal(err)
			}
			switch m["event_type"] {
			case event.TypeRideMatched, event.TypeRideUnmatched, event.TypeRideCancelled:
				out[id] = m
			}
		}
	}
	return out
}

// matcherOutputs is everything the matcher stage writes, as the bytes written: outcomes
// and surge updates by topic and key, decisions by partition in order, and the records
// matchers wrote into the region log (hand-offs, and whatever else a matcher sends
// another partition) by partition.
type matcherOutputs struct {
	keyed     map[string][]string
	decisions map[int32][]string
	logged    map[int32][]string
}

func newMatcherOutputs() *matcherOutputs {
	return &matcherOutputs{keyed: map[string][]string{}, decisions: map[int32][]string{}, logged: map[int32][]string{}}
}

// written reads what the engines committed.
func written(t *testing.T, h *harness) *matcherOutputs {
	t.Helper()
	o := newMatcherOutputs()
	for _, role := range []ridematch.Role{ridematch.RoleRideMatches, ridematch.RoleSurgePricing, ridematch.RoleDriverOffers} {
		for _, r := range h.readAll(h.topics.Name(role)) {
			k := h.topics.Name(role) + "/" + string(r.Key)
			o.keyed[k] = append(o.keyed[k], string(r.Value))
		}
	}
	for _, r := range byOffset(h.readAll(h.topics.Name(ridematch.RoleDecisionLog))) {
		o.decisions[r.Partition] = append(o.decisions[r.Partition], string(r.Value))
	}
	var lr event.LogRecord
	for _, r := range byOffset(h.readAll(h.topics.Name(ridematch.RoleRegionLog))) {
		// A router opens every frame it writes with a mark; a matcher's frames have none.
		router := false
		err := event.EachInFrame(r.Value, func(i int, b []byte) error {
			if i == 0 {
				if err := event.DecodeLog(b, &lr); err != nil {
					return err
				}
				router = lr.Kind == event.LogMark
			}
			if !router {
				o.logged[r.Partition] = append(o.logged[r.Partition], string(b))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("region log %d@%d: %v", r.Partition, r.Offset, err)
		}
	}
	return o
}

// replayed replays each region-log partition alone, from its first record, as the
// engine applies it, and returns what it outputs, encoded as the engine encodes it.
func replayed(t *testing.T, h *harness) *matcherOutputs {
	t.Helper()
	o := newMatcherOutputs()
	byPartition := map[int32][]*kgo.Record{}
	for _, r := range byOffset(h.readAll(h.topics.Name(ridematch.RoleRegionLog))) {
		byPartition[r.Partition] = append(byPartition[r.Partition], r)
	}
	matches, surge, offers := h.topics.Name(ridematch.RoleRideMatches), h.topics.Name(ridematch.RoleSurgePricing), h.topics.Name(ridematch.RoleDriverOffers)
	for p, recs := range byPartition {
		cfg := DefaultConfig().Matcher
		cfg.RequestTTL = 5 * time.Second
		cfg.Assignment = h.assignment
		cfg.OfferTimeout = h.offerTimeout
		part, err := matcher.New(cfg, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		var lr event.LogRecord
		for _, r := range recs {
			part.Frame(event.TimeOf(r.Timestamp))
			err := event.EachInFrame(r.Value, func(i int, b []byte) error {
				if err := event.DecodeLog(b, &lr); err != nil {
					return err
				}
				part.Apply(&lr, event.PositionOf(r.Offset, i))
				for _, out := range part.Outputs() {
					switch {
					case out.Decision != nil:
						o.decisions[p] = append(o.decisions[p], string(event.AppendLog(nil, out.Decision)))
					case out.Handoff != nil:
						o.logged[out.To] = append(o.logged[out.To], string(event.AppendLog(nil, out.Handoff)))
					case out.Event != nil:
						topic := matches
						switch out.Event.Type() {
						case event.TypeSurgeUpdated:
							topic = surge
						case event.TypeRideOffered, event.TypeOfferWithdrawn:
							topic = offers
						}
						v, err := json.Marshal(out.Event)
						if err != nil {
							return err
						}
						o.keyed[topic+"/"+out.Event.Key()] = append(o.keyed[topic+"/"+out.Event.Key()], string(v))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("replaying region log %d@%d: %v", p, r.Offset, err)
			}
		}
	}
	return o
}

func byOffset(recs []*kgo.Record) []*kgo.Record {
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return recs
}

// sameOutputsAsReplay asserts that what the engines wrote is, byte for byte, what a clean
// replay of the region log outputs: the same values under each key of ride-matches and
// surge-pricing, the same decisions in the same order in each partition of the decision
// log, the same records written by matchers into each partition of the region log.
func sameOutputsAsReplay(t *testing.T, h *harness) {
	t.Helper()
	got, want := written(t, h), replayed(t, h)
	diff := 0
	report := func(what string, g, w []string) {
		if slices.Equal(g, w) {
			return
		}
		if diff++; diff <= 5 {
			t.Errorf("%s: the engines wrote\n  %q\na clean replay of the region log gives\n  %q", what, g, w)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(union(got.keyed, want.keyed))) {
		report(k, sortedCopy(got.keyed[k]), sortedCopy(want.keyed[k]))
	}
	for _, p := range slices.Sorted(maps.Keys(union(got.decisions, want.decisions))) {
		report(fmt.Sprintf("decision log %d", p), got.decisions[p], want.decisions[p])
	}
	for _, p := range slices.Sorted(maps.Keys(union(got.logged, want.logged))) {
		report(fmt.Sprintf("records matchers wrote into region log %d", p), sortedCopy(got.logged[p]), sortedCopy(want.logged[p]))
	}
	if diff > 0 {
		t.Errorf("%d keys or partitions differ from a clean replay", diff)
	}
	t.Logf("byte for byte as a clean replay: %d keys of ride-matches and surge-pricing, %d decision-log partitions, %d region-log partitions with matcher records",
		len(got.keyed), len(got.decisions), len(got.logged))
}

func union[K comparable, V any](a, b map[K]V) map[K]bool {
	u := map[K]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }
