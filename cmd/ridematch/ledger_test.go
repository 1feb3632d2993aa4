//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
)

// The process tests' ledger: the topics read back after a run, and the checks every
// request's outcome must pass.

// readCommittedTopic returns the committed records of a topic, read_committed, up to its
// last stable offset as of the call. Control records are kept while reading so that a
// partition whose last offset is a transaction marker is known to be read.
func readCommittedTopic(ctx context.Context, addr, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	cl.Close()
	if err != nil {
		return nil, fmt.Errorf("listing the end of %s: %w", topic, err)
	}
	left := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		switch {
		case o.Err != nil:
			lerr = fmt.Errorf("listing the end of %s/%d: %w", topic, o.Partition, o.Err)
		case o.Offset > 0:
			left[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if lerr != nil {
		return nil, lerr
	}
	if len(left) == 0 {
		return nil, nil
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s, %d partitions short of their end: %w", topic, len(left), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset == end-1 {
				delete(left, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	// Per partition in offset order, partitions in order: the order outcomes were written.
	slices.SortStableFunc(out, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out, nil
}

// readOrFail reads a topic of topics.yaml within 30 s.
func readOrFail(t *testing.T, addr string, role ridematch.Role) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := readCommittedTopic(ctx, addr, ridematch.DefaultTopics().Name(role))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// requested is what the checks need of a ride_requested.
type requested struct {
	EventType string    `json:"event_type"`
	RequestID string    `json:"request_id"`
	RideType  string    `json:"ride_type"`
	Pickup    geo.Point `json:"pickup_coordinates"`
}

// finalOutcome is what the checks need of a ride_matched, ride_unmatched or
// ride_cancelled.
type finalOutcome struct {
	EventType      string     `json:"event_type"`
	RequestID      string     `json:"request_id"`
	DriverID       string     `json:"driver_id"`
	VehicleType    string     `json:"vehicle_type"`
	PickupKM       *float64   `json:"pickup_distance_km"`
	DriverLocation *geo.Point `json:"driver_location"`
	raw            string
}

// ledger is a run as the topics hold it: the requests, each driver's vehicle, and the
// final outcomes by request, in the order they were written.
type ledger struct {
	requests map[string]requested
	vehicles map[string]string
	outcomes map[string][]finalOutcome
	strays   []string // outcomes for requests never made
}

// collect reads the requests and drivers, then waits up to within for every request to
// have a final outcome. Once all have one it reads ride-matches once more a second later,
// so that a duplicate written just after is seen too.
func collect(t *testing.T, addr string, within time.Duration) *ledger {
	t.Helper()
	l := &ledger{requests: map[string]requested{}, vehicles: map[string]string{}}
	for _, r := range readOrFail(t, addr, ridematch.RoleRideRequests) {
		var q requested
		if json.Unmarshal(r.Value, &q) == nil && q.EventType == "ride_requested" && q.RequestID != "" {
			if _, dup := l.requests[q.RequestID]; !dup {
				l.requests[q.RequestID] = q
			}
		}
	}
	if len(l.requests) == 0 {
		t.Fatal("no ride_requested on ride-requests: the simulator sent nothing")
	}
	for _, r := range readOrFail(t, addr, ridematch.RoleDriverLocations) {
		var d struct {
			DriverID    string `json:"driver_id"`
			VehicleType string `json:"vehicle_type"`
		}
		if json.Unmarshal(r.Value, &d) == nil && d.DriverID != "" && d.VehicleType != "" {
			l.vehicles[d.DriverID] = d.VehicleType
		}
	}
	deadline := time.Now().Add(within)
	for {
		l.readOutcomes(t, addr)
		if l.missing() == 0 {
			time.Sleep(time.Second)
			l.readOutcomes(t, addr)
			return l
		}
		if time.Now().After(deadline) {
			return l
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (l *ledger) readOutcomes(t *testing.T, addr string) {
	t.Helper()
	l.outcomes, l.strays = map[string][]finalOutcome{}, nil
	for _, r := range readOrFail(t, addr, ridematch.RoleRideMatches) {
		var o finalOutcome
		if err := json.Unmarshal(r.Value, &o); err != nil {
			t.Fatalf("ride-matches holds a value that is not JSON: %q", r.Value)
		}
		switch o.EventType {
		case event.TypeRideMatched, event.TypeRideUnmatched, event.TypeRideCancelled:
		default:
			continue
		}
		o.raw = string(r.Value)
		if _, ok := l.requests[o.RequestID]; !ok {
			l.strays = append(l.strays, o.raw)
			continue
		}
		l.outcomes[o.RequestID] = append(l.outcomes[o.RequestID], o)
	}
}

func (l *ledger) missing() int {
	n := 0
	for id := range l.requests {
		if len(l.outcomes[id]) == 0 {
			n++
		}
	}
	return n
}

// check asserts what the acceptance checks assert of a run's outcomes: every request has
// exactly one final outcome and nothing else has one; every match is within 3 km of the
// pickup and of a compatible vehicle; no driver has two rides; at least half matched.
func (l *ledger) check(t *testing.T) {
	t.Helper()
	const maxKM = 3.0
	for i, s := range l.strays {
		if i == 3 {
			break
		}
		t.Errorf("an outcome for a request never made: %s", s)
	}
	if len(l.strays) > 0 {
		t.Errorf("%d outcomes for requests never made", len(l.strays))
	}
	var missing, dups []string
	for id := range l.requests {
		switch n := len(l.outcomes[id]); {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			dups = append(dups, id)
		}
	}
	slices.Sort(missing)
	slices.Sort(dups)
	if len(missing) > 0 {
		t.Errorf("%d of %d requests have no final outcome, e.g. %s", len(missing), len(l.requests), strings.Join(missing[:min(5, len(missing))], " "))
	}
	for i, id := range dups {
		if i == 3 {
			break
		}
		var b strings.Builder
		for _, o := range l.outcomes[id] {
			b.WriteString("\n  " + o.raw)
		}
		t.Errorf("request %s has %d final outcomes:%s", id, len(l.outcomes[id]), b.String())
	}
	if len(dups) > 0 {
		t.Errorf("%d requests have more than one final outcome", len(dups))
	}

	byDriver := map[string][]string{}
	matched := 0
	for id, outs := range l.outcomes {
		for _, o := range outs {
			if o.EventType != event.TypeRideMatched {
				continue
			}
			matched++
			byDriver[o.DriverID] = append(byDriver[o.DriverID], id)
			req := l.requests[id]
			if o.PickupKM == nil || *o.PickupKM < 0 || *o.PickupKM > maxKM+1e-6 {
				t.Errorf("%s: pickup_distance_km outside 0..%v: %s", id, maxKM, o.raw)
			}
			// The matcher's figure is rounded; the haversine from the request's own
			// pickup to where the match says the driver was must agree.
			if o.DriverLocation == nil {
				t.Errorf("%s: ride_matched without driver_location: %s", id, o.raw)
			} else if km := geo.DistanceKM(req.Pickup, *o.DriverLocation); km > maxKM+0.001 {
				t.Errorf("%s: the driver was %.4f km from the pickup, beyond %v km: %s", id, km, maxKM, o.raw)
			}
			rt, okR := event.ParseRideType(req.RideType)
			vt, okV := event.ParseVehicle(l.vehicles[o.DriverID])
			switch {
			case !okR:
				t.Errorf("%s: matched a request of unknown ride type %q", id, req.RideType)
			case !okV:
				t.Errorf("%s: matched driver %s, whose vehicle no driver_location_update gives (%q)", id, o.DriverID, l.vehicles[o.DriverID])
			case !rt.Compatible(vt):
				t.Errorf("%s: %s ride matched to %s's %s", id, rt, o.DriverID, vt)
			case o.VehicleType != vt.String():
				t.Errorf("%s: ride_matched says %s drives a %s, its updates say %s", id, o.DriverID, o.VehicleType, vt)
			}
		}
	}
	twice := 0
	for d, ids := range byDriver {
		if len(ids) > 1 {
			if twice++; twice <= 3 {
				t.Errorf("driver %s was given %d rides in a run shorter than a trip: %s", d, len(ids), strings.Join(ids, " "))
			}
		}
	}
	if twice > 0 {
		t.Errorf("%d drivers were given more than one ride", twice)
	}
	if matched*2 < len(l.requests) {
		t.Errorf("only %d of %d requests matched", matched, len(l.requests))
	}
}

func (l *ledger) summary() string {
	counts := map[string]int{}
	n := 0
	for _, outs := range l.outcomes {
		for _, o := range outs {
			counts[o.EventType]++
			n++
		}
	}
	return fmt.Sprintf("requests=%d outcomes=%d matched=%d unmatched=%d cancelled=%d missing=%d drivers=%d",
		len(l.requests), n, counts[event.TypeRideMatched], counts[event.TypeRideUnmatched], counts[event.TypeRideCancelled], l.missing(), len(l.vehicles))
}
