package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
	"ridematch/router"
)

// mumbaiAcross returns two Mumbai places more than 10 km apart in different region-log
// partitions: a driver at one is out of reach of a request at the other.
func mumbaiAcross(t *testing.T, n int32) (geo.Place, geo.Place) {
	t.Helper()
	partitionOf := func(p geo.Point) int32 {
		_, _, region := geo.DefaultResolutions().Cells(p)
		return router.PartitionOf(region, n)
	}
	places := geo.Cities()[0].Places
	for _, a := range places {
		for _, b := range places {
			if partitionOf(a.Point) != partitionOf(b.Point) && geo.DistanceKM(a.Point, b.Point) > 10 {
				return a, b
			}
		}
	}
	t.Fatal("no two Mumbai places 10 km apart in different partitions")
	return geo.Place{}, geo.Place{}
}

// TestHostileClocks attacks a running engine's clock the ways that once broke it (issue
// 24), each with a plain client setting the record timestamp as kcat and kafka-python do:
// a driver update stamped 2^64 ns ahead (year 2611), one stamped 9999 in a record of
// timestamp 0, one whose stamp and record timestamp both say 3000, and a phone 29s fast.
// Through all of them, and through a restart after them:
//   - a request waiting in another partition waits its full TTL, and so does every
//     request made after the attacks that no driver can take;
//   - a reserved driver stays reserved: a second request beside it gets no one;
//   - a driver whose last stamp is 12 minutes old is not fresh;
//   - each poisoned record is dead-lettered as a bad timestamp, and the fast phone's
//     update is taken, as data: its driver is matched, and nothing else moves;
//   - every time the engine writes is RFC 3339 within 2000-2099.
func TestHostileClocks(t *testing.T) {
	const ttl = 6 * time.Second
	h := newHarness(t)
	start := func() *running {
		return h.start(func(c *Config) { c.Matcher.RequestTTL = ttl })
	}
	e := start()
	near, far := mumbaiAcross(t, h.topics.Get(ridematch.RoleRegionLog).Partitions)
	drivers, requests := h.topics.Name(ridematch.RoleDriverLocations), h.topics.Name(ridematch.RoleRideRequests)
	wall := time.Now().UTC()
	sendDriver := func(d event.DriverLocation, recordTime time.Time) {
		t.Helper()
		r := &kgo.Record{Topic: drivers, Key: []byte(d.DriverID), Value: d.AppendJSON(nil), Timestamp: recordTime}
		if err := h.client.ProduceSync(h.ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	reqs := map[string]event.RideRequest{}
	request := func(id string, at geo.Point) {
		t.Helper()
		r := event.RideRequest{RequestID: id, CustomerID: "C-" + id, PickupName: "x", DropName: "y", Pickup: at,
			Drop: geo.Offset(at, 2, 2), Time: event.TimeOf(time.Now()), RideType: event.Mini}
		reqs[id] = r
		h.produce(requests, id, r.AppendJSON(nil))
	}
	driver := func(id string, at geo.Point, stamp time.Time) event.DriverLocation {
		return event.DriverLocation{DriverID: id, Location: at, Time: event.TimeOf(stamp), SpeedKMH: 20,
			Availability: event.Available, Vehicle: event.Sedan, Rating: 4.8}
	}
	waitReady(t, e, 20*time.Second)

	// D0 takes R0 and is reserved: it never reports busy.
	sendDriver(driver("D0", near.Point, time.Now()), time.Now())
	// Stale: its phone's last stamp is 12 minutes old, its record new.
	sendDriver(driver("D-OLD", geo.Offset(near.Point, 0, 1.5), time.Now().Add(-12*time.Minute)), time.Now())
	time.Sleep(500 * time.Millisecond)
	request("R0", near.Point)
	h.outcomesFor(map[string]event.RideRequest{"R0": reqs["R0"]}, 10*time.Second)
	// W waits, in the other partition, for a driver that never comes.
	request("W", far.Point)
	time.Sleep(time.Second)

	// The attacks.
	year := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	attack := time.Now().UTC()
	sendDriver(driver("EVIL-2611", near.Point, attack.Add(time.Duration(math.MaxInt64)).Add(time.Duration(math.MaxInt64)).Add(2*time.Nanosecond-10*time.Minute)), attack)
	sendDriver(driver("EVIL-9999", near.Point, year(9999)), time.UnixMilli(0))
	sendDriver(driver("EVIL-3000", near.Point, year(3000)), year(3000))
	fastPhone := driver("FAST", geo.Offset(far.Point, 40, 40), attack.Add(29*time.Second))
	sendDriver(fastPhone, attack)
	time.Sleep(500 * time.Millisecond)

	// After them: R1 beside the reserved D0 (and the stale D-OLD), W2 where no one is, R2
	// for the fast phone's driver.
	request("R1", near.Point)
	request("W2", far.Point)
	request("R2", fastPhone.Location)
	afterAttack := time.Now()
	got := h.outcomesFor(reqs, 30*time.Second)
	if time.Since(afterAttack) < ttl-time.Second {
		t.Errorf("every outcome came %v after the attacks, sooner than the %v TTL", time.Since(afterAttack), ttl)
	}
	want := map[string]string{"R0": "D0", "W": "", "R1": "", "W2": "", "R2": "FAST"}
	checkWaited := func(got map[string]map[string]any, want map[string]string) {
		t.Helper()
		for id, driverID := range want {
			m := got[id]
			if m == nil {
				t.Errorf("%s has no outcome", id)
				continue
			}
			if driverID != "" {
				if m["event_type"] != event.TypeRideMatched || m["driver_id"] != driverID {
					t.Errorf("%s: %v, want matched to %s", id, m, driverID)
				}
				continue
			}
			if m["event_type"] != event.TypeRideUnmatched {
				t.Errorf("%s: %v, want ride_unmatched: its only driver is reserved, stale or away", id, m)
				continue
			}
			// It waited its full TTL, in the engine's time and in the wall's.
			at, _ := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
			asked := reqs[id].Time.Std()
			if waited := at.Sub(asked); waited < ttl-100*time.Millisecond || waited > ttl+5*time.Second {
				t.Errorf("%s ended unmatched %v after its request, want its TTL %v", id, waited, ttl)
			}
		}
	}
	checkWaited(got, want)
	checkTimes(t, h, wall)

	// The poisoned records are in the dead-letter topic, for their timestamps.
	reasons := map[string]string{}
	for _, r := range h.readAll(h.topics.Name(ridematch.RoleDeadLetter)) {
		for _, hd := range r.Headers {
			if hd.Key == "ridematch.reason" {
				reasons[string(r.Key)] = string(hd.Value)
			}
		}
	}
	for _, id := range []string{"EVIL-2611", "EVIL-9999", "EVIL-3000"} {
		if reasons[id] != string(event.ReasonBadTimestamp) {
			t.Errorf("%s dead-lettered as %q, want %s (all: %v)", id, reasons[id], event.ReasonBadTimestamp, reasons)
		}
	}
	if len(reasons) != 3 {
		t.Errorf("dead letters %v, want the three poisoned records", reasons)
	}

	// A restart replays the log: the poison must not come back. A new request where no
	// one is waits its full TTL, and D0, reserved a minute, is still not free.
	e.stop(t)
	e = start()
	waitReady(t, e, 20*time.Second)
	request("W3", far.Point)
	request("R3", near.Point)
	got = h.outcomesFor(reqs, 30*time.Second)
	checkWaited(got, map[string]string{"W3": "", "R3": ""})
	checkTimes(t, h, wall)
	e.stop(t)
}

// waitReady waits until every partition the engine owns is rebuilt.
func waitReady(t *testing.T, r *running, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); !r.e.Ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the engine was not ready within %v", within)
		}
	}
}

// checkTimes: every time in every record the engine wrote to ride-matches and
// surge-pricing is RFC 3339 with a four-digit year, between the test's start and now.
func checkTimes(t *testing.T, h *harness, since time.Time) {
	t.Helper()
	now := time.Now().Add(time.Minute)
	for _, topic := range []string{h.topics.Name(ridematch.RoleRideMatches), h.topics.Name(ridematch.RoleSurgePricing)} {
		for _, r := range h.readAll(topic) {
			var m map[string]any
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Fatalf("%s holds %q", topic, r.Value)
			}
			for _, k := range []string{"match_timestamp", "timestamp", "request_time", "evaluated_at"} {
				s, ok := m[k].(string)
				if !ok {
					continue
				}
				at, err := time.Parse(time.RFC3339Nano, s)
				if err != nil || len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' {
					t.Errorf("%s: %s %q is not RFC 3339 (%v)", topic, k, s, err)
					continue
				}
				// A request's own time is the rider's phone's; the rest is the engine's.
				if k != "request_time" && (at.Before(since.Add(-time.Minute)) || at.After(now)) {
					t.Errorf("%s: %s %s is outside the test's run (%s to %s): %s", topic, k, s, since.Format(time.RFC3339), now.Format(time.RFC3339), fmt.Sprint(m))
				}
			}
		}
	}
}

// TestLegacyDecisionsStopWhereTheyWereWritten: a decision an engine older than marks
// wrote at a poisoned time (year 2611) is remembered as of when it was written, so it is
// forgotten a dedup window later like any other, and does not keep every request decided
// after it from being forgotten.
func TestLegacyDecisionsStopWhereTheyWereWritten(t *testing.T) {
	cfg := DefaultConfig()
	m, err := newMatcherProcessor(Env{Config: &cfg, Stats: &Stats{}, Log: testLogger(t)}, matcher.NewShared())
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Open(tp{"rl", 0})
	if err != nil {
		t.Fatal(err)
	}
	written := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	poison := event.TimeOf(time.Date(2611, 2, 17, 0, 0, 0, 0, time.UTC))
	s.StartReplay(1)
	d := event.LogRecord{Kind: event.LogDecision, Legacy: true, Time: poison, RequestID: "R1", CustomerID: "C1", Outcome: event.OutcomeUnmatched, RequestPosition: 0}
	s.Preload(&kgo.Record{Value: event.AppendLog(nil, &d), Timestamp: written})
	// Requests come well past the dedup window: R1 is a new request again, and gets an
	// outcome; with the poisoned time it would be a duplicate forever.
	later := event.TimeOf(written).Add(cfg.Matcher.DedupWindow + time.Minute)
	req := event.RideRequest{RequestID: "R1", CustomerID: "C1", Pickup: geo.Point{Lat: 19.05, Lng: 72.84}, Drop: geo.Point{Lat: 19.1, Lng: 72.85}, Time: later, RideType: event.Mini}
	for i, r := range []*event.LogRecord{{Kind: event.LogTick, Time: later}, {Kind: event.LogRequest, Time: later, Request: req}} {
		s.p.Apply(r, event.PositionOf(int64(10+i), 0))
	}
	if got := s.p.Stats(); got.Duplicates != 0 || got.Requests != 1 {
		t.Fatalf("R1 a dedup window after a legacy decision: %+v, want a new request", got)
	}
}
