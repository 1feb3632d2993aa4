package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
)

// junk is one record no engine may let through, with the reason it must be refused for.
type junk struct {
	key, value string
	reason     event.Reason
}

// junkFor makes the i-th bad record for a topic: every class of bad input docs/design.md lists (Guarantees).
func junkFor(topic ridematch.Role, i int, now time.Time) junk {
	ts := now.UTC().Format("2006-01-02T15:04:05.000000")
	drv := func(over string) string {
		base := fmt.Sprintf(`"event_type":"driver_location_update","driver_id":"BAD-DRV-%d","location":{"lat":19.05,"lng":72.84},"timestamp":%q,"availability":"available","vehicle_type":"sedan","rating":4.5`, i, ts)
		return "{" + base + over + "}"
	}
	req := func(over string) string {
		base := fmt.Sprintf(`"event_type":"ride_requested","request_id":"BAD-REQ-%d","customer_id":"C","pickup_coordinates":{"lat":19.05,"lng":72.84},"drop_coordinates":{"lat":19.1,"lng":72.85},"request_time":%q,"ride_type":"mini"`, i, ts)
		return "{" + base + over + "}"
	}
	future := now.Add(time.Hour).UTC().Format("2006-01-02T15:04:05")
	if topic == ridematch.RoleDriverLocations {
		key := fmt.Sprintf("BAD-DRV-%d", i)
		classes := []junk{
			{key, "\x00\x01\x02\xff binary", event.ReasonMalformedJSON},
			{key, `{"driver_id": 5}`, event.ReasonMissingField},
			{key, strings.Replace(drv(""), `"lng":72.84`, `"lng":500`, 1), event.ReasonBadCoordinates},
			{key, strings.Replace(drv(""), `{"lat":19.05,"lng":72.84}`, `{"lat":0,"lng":0}`, 1), event.ReasonBadCoordinates},
			{key, strings.Replace(drv(""), `"sedan"`, `"spaceship"`, 1), event.ReasonUnknownVehicle},
			{key, strings.Replace(drv(""), `"rating":4.5`, `"rating":17`, 1), event.ReasonBadRating},
			{key, strings.Replace(drv(""), ts, future, 1), event.ReasonFutureTimestamp},
			{key, strings.Replace(drv(""), `"lat":19.05`, `"lat":"NaN"`, 1), event.ReasonWrongType},
			{key, drv(`,"pad":"` + strings.Repeat("x", 20<<10) + `"`), event.ReasonOversized},
			{key, strings.Replace(drv(""), `"available"`, `"sleeping"`, 1), event.ReasonUnknownAvailable},
		}
		return classes[i%len(classes)]
	}
	key := fmt.Sprintf("BAD-REQ-%d", i)
	classes := []junk{
		{key, "not json at all {{{", event.ReasonMalformedJSON},
		{key, `[1,2,3]`, event.ReasonNotObject},
		{key, strings.Replace(req(""), `"lat":19.05`, `"lat":999`, 1), event.ReasonBadCoordinates},
		{key, strings.Replace(req(""), `"mini"`, `"helicopter"`, 1), event.ReasonUnknownRideType},
		{key, strings.Replace(req(""), `{"lat":19.05,"lng":72.84}`, `{"lat":"NaN","lng":"x"}`, 1), event.ReasonWrongType},
		{key, strings.Replace(req(""), `"pickup_coordinates":{"lat":19.05,"lng":72.84},`, ``, 1), event.ReasonMissingField},
		{key, strings.Replace(req(""), ts, "yesterday", 1), event.ReasonBadTimestamp},
		{key, `{"event_type":"surge_activated","location":"bkc"}`, event.ReasonUnknownEvent},
		{key, drv(""), event.ReasonWrongTopic},
		{key, strings.Replace(req(""), `"customer_id":"C"`, `"customer_id":""`, 1), event.ReasonBadID},
	}
	return classes[i%len(classes)]
}

// TestHostileInput runs the same valid input twice, once clean and once with a tenth of
// the records junk, plus duplicate requests, stale driver updates and cancels of unknown
// requests. The engine must not crash or stall, every junk record must be dead-lettered
// exactly once with its reason and origin in headers, and the valid requests' outcomes
// must be exactly those of the clean run.
//
// For the two runs to be comparable, their valid events must reach the matcher in one
// order at the same event times: both runs stamp the same times, every driver is routed
// before the first request is produced (else the bytes of the junk move the fetch's
// boundary between the two input partitions), and the times start at a surge boundary
// with an interval longer than the test, so that no surge evaluation, which the routers'
// wall-clock ticks can bring, falls between two matches in one run and not the other.
func TestHostileInput(t *testing.T) {
	topics := ridematch.DefaultTopics()
	for i := range topics.Topics {
		// One input partition each: both runs then route the valid events in one order.
		if r := topics.Topics[i].Role; r == ridematch.RoleDriverLocations || r == ridematch.RoleRideRequests {
			topics.Topics[i].Partitions = 1
		}
	}
	const surgeInterval = time.Minute
	now := time.Now().UTC().Truncate(surgeInterval)
	run := func(hostile bool) (map[string]string, map[string]junk, []*kgo.Record, Snapshot) {
		h := newHarnessWith(t, topics)
		w := newWorld(5)
		rng := rand.New(rand.NewPCG(5, 5))
		dt, rt := topics.Name(ridematch.RoleDriverLocations), topics.Name(ridematch.RoleRideRequests)
		var recs []*kgo.Record
		sent := map[string]junk{}
		add := func(topic, key, value string) {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)})
		}
		produce := func() {
			if err := h.client.ProduceSync(h.ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
		for i := 0; i < 400; i++ {
			d := w.driver(i, now)
			add(dt, d.DriverID, string(d.AppendJSON(nil)))
			if hostile && i%10 == 0 {
				j := junkFor(ridematch.RoleDriverLocations, i/10, now)
				add(dt, j.key, j.value)
				sent[j.key] = j
				// A stale update: older than the one just sent, so it changes nothing.
				old := d
				old.Time = d.Time.Add(-time.Second)
				old.Location.Lat += 0.01
				add(dt, old.DriverID, string(old.AppendJSON(nil)))
			}
		}
		produce()
		e := h.start(func(c *Config) {
			c.Matcher.Surge.Interval = surgeInterval
			// The devices' times start at the minute, up to a minute before the engine
			// receives them, and a driver's freshness runs from the earlier of the two:
			// the TTL must outlast that minute, or a run late in the minute finds every
			// driver stale.
			c.Router.DriverTTL, c.Matcher.DriverTTL = 2*time.Minute, 2*time.Minute
		})
		if !waitFor(30*time.Second, func() bool { return e.e.Stats().DriverUpdates >= 400 }) {
			t.Fatalf("the router routed %d of the 400 drivers", e.e.Stats().DriverUpdates)
		}
		reqs := map[string]event.RideRequest{}
		for i := 0; i < 150; i++ {
			r := w.request(i, now.Add(time.Duration(i)*time.Millisecond))
			reqs[r.RequestID] = r
			add(rt, r.RequestID, string(r.AppendJSON(nil)))
			if hostile && i%10 == 0 {
				j := junkFor(ridematch.RoleRideRequests, i/10, now)
				add(rt, j.key, j.value)
				sent[j.key] = j
				add(rt, r.RequestID, string(r.AppendJSON(nil))) // a duplicate
				c := event.RideCancel{RequestID: fmt.Sprintf("NOBODY-%d", rng.IntN(1000)), Time: r.Time}
				add(rt, c.RequestID, string(c.AppendJSON(nil)))
			}
		}
		produce()
		out := h.outcomesFor(reqs, 30*time.Second)
		if n := len(out); n != len(reqs) {
			t.Fatalf("%d of %d requests have an outcome", n, len(reqs))
		}
		got := map[string]string{}
		for id, m := range out {
			got[id] = fmt.Sprint(m["event_type"], " ", m["driver_id"], " ", m["fare_estimate"], " ", m["estimated_arrival"])
		}
		dlq := h.readAll(topics.Name(ridematch.RoleDeadLetter))
		e.stop(t)
		return got, sent, dlq, e.e.Stats()
	}
	clean, _, cleanDLQ, _ := run(false)
	hostile, sent, dlq, stats := run(true)
	if len(cleanDLQ) != 0 {
		t.Fatalf("the clean run dead-lettered %d records", len(cleanDLQ))
	}
	matched := 0
	for _, o := range clean {
		if strings.HasPrefix(o, event.TypeRideMatched+" ") {
			matched++
		}
	}
	if matched < len(clean)*9/10 {
		t.Fatalf("the clean run matched %d of %d requests: the comparison would prove little", matched, len(clean))
	}
	for id, want := range clean {
		if hostile[id] != want {
			t.Errorf("%s: clean run %q, hostile run %q", id, want, hostile[id])
		}
	}
	if len(dlq) != len(sent) {
		t.Fatalf("the dead-letter topic holds %d records, want the %d bad ones exactly once", len(dlq), len(sent))
	}
	seen := map[string]bool{}
	reasons := map[event.Reason]bool{}
	for _, r := range dlq {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		for _, k := range []string{"ridematch.reason", "ridematch.error", "ridematch.source.topic", "ridematch.source.partition", "ridematch.source.offset", "ridematch.source.timestamp"} {
			if h[k] == "" {
				t.Errorf("dead letter %q lacks header %s", r.Key, k)
			}
		}
		key := string(r.Key)
		topic := ridematch.RoleRideRequests
		if strings.HasPrefix(key, "BAD-DRV-") {
			topic = ridematch.RoleDriverLocations
		}
		want := sent[key]
		reasons[want.reason] = true
		if h["ridematch.reason"] != string(want.reason) {
			t.Errorf("dead letter %s: reason %s, want %s (%s)", key, h["ridematch.reason"], want.reason, h["ridematch.error"])
		}
		if h["ridematch.source.topic"] != topics.Name(topic) {
			t.Errorf("dead letter %s names source topic %s", key, h["ridematch.source.topic"])
		}
		if !bytes.Equal(r.Value, []byte(want.value)) {
			t.Errorf("dead letter %s: the original bytes were not kept", key)
		}
		if seen[key] {
			t.Errorf("%s dead-lettered twice", key)
		}
		seen[key] = true
	}
	if len(reasons) < 15 {
		t.Errorf("only %d classes of bad input were tried: %v", len(reasons), reasons)
	}
	if stats.StaleDrivers == 0 || stats.Duplicates == 0 {
		t.Errorf("stale updates (%d) and duplicate requests (%d) should have been counted", stats.StaleDrivers, stats.Duplicates)
	}
}
