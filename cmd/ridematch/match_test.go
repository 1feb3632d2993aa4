package main

import (
	"testing"
	"time"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
)

// TestMatchCommand runs `ridematch match` as a user does, against the embedded broker, and
// feeds it reference-shaped events from a plain client: a request with a compatible
// driver near gets ride_matched; one whose only compatible driver is beyond
// --max-pickup-km gets ride_unmatched once --request-ttl has passed. Cancelling the
// context, as Ctrl-C does, stops it with exit code 0 within 5 s.
func TestMatchCommand(t *testing.T) {
	b := startBroker(t, ridematch.DefaultTopics())
	topics := ridematch.DefaultTopics()
	c := startCommand(t, "match", "--brokers", b.Addr(), "--request-ttl", "3s", "--max-pickup-km", "1.5",
		"--status-interval", "0", "--log-level", "warn")

	cl := newClient(t, b.Addr())
	now := time.Now().UTC()
	bandra := geo.Point{Lat: 19.0544, Lng: 72.8413}
	drivers := []event.DriverLocation{
		// 15 m from the pickup: the match.
		{DriverID: "DRV001", Location: geo.Offset(bandra, 0.01, 0.01), Vehicle: event.Sedan, Rating: 4.7},
		// Compatible too, but 1 km further.
		{DriverID: "DRV002", Location: geo.Offset(bandra, 1, 0), Vehicle: event.Sedan, Rating: 4.9},
		// The only auto: 2 km away, beyond --max-pickup-km 1.5 (not the default 3).
		{DriverID: "DRV003", Location: geo.Offset(bandra, 0, -2), Vehicle: event.Auto, Rating: 5},
	}
	for _, d := range drivers {
		d.Time, d.SpeedKMH, d.Heading, d.Availability = event.TimeOf(now), 12.5, 90, event.Available
		produce(t, cl, topics.Name(ridematch.RoleDriverLocations), d.DriverID, d.AppendJSON(nil))
	}
	bkc := geo.Point{Lat: 19.0596, Lng: 72.8656}
	for _, r := range []event.RideRequest{
		{RequestID: "REQ-prime", CustomerID: "CUST001", PickupName: "bandra_station", DropName: "bkc", Pickup: bandra, Drop: bkc, RideType: event.Prime},
		{RequestID: "REQ-auto", CustomerID: "CUST002", PickupName: "bandra_station", DropName: "bkc", Pickup: bandra, Drop: bkc, RideType: event.AutoRide},
	} {
		r.Time = event.TimeOf(time.Now().UTC())
		produce(t, cl, topics.Name(ridematch.RoleRideRequests), r.RequestID, r.AppendJSON(nil))
	}

	matched := waitForOutcome(t, b.Addr(), "REQ-prime", 20*time.Second)
	if matched["event_type"] != event.TypeRideMatched || matched["driver_id"] != "DRV001" || matched["customer_id"] != "CUST001" {
		t.Errorf("REQ-prime: want ride_matched to DRV001, got %v", matched)
	}
	unmatched := waitForOutcome(t, b.Addr(), "REQ-auto", 20*time.Second)
	if unmatched["event_type"] != event.TypeRideUnmatched || unmatched["max_pickup_km"] != 1.5 {
		t.Errorf("REQ-auto: want ride_unmatched with max_pickup_km 1.5, got %v", unmatched)
	}
	if req, done := parseTime(t, unmatched["request_time"]), parseTime(t, unmatched["timestamp"]); done.Sub(req) < 3*time.Second || done.Sub(req) > 5*time.Second {
		t.Errorf("REQ-auto ended %v after its request, want the 3s --request-ttl", done.Sub(req))
	}
	if c.exited() {
		t.Fatalf("match exited by itself with %d: %s", c.code, c.errb.String())
	}

	code, took := c.stop(t, 5*time.Second)
	if code != 0 {
		t.Errorf("exit code %d after a stop, want 0; stderr:\n%s", code, c.errb.String())
	}
	t.Logf("stopped in %v", took)
	if dlq := readCommitted(t, b.Addr(), topics.Name(ridematch.RoleDeadLetter)); len(dlq) != 0 {
		t.Errorf("%d input events were dead-lettered, first: %s", len(dlq), dlq[0].Value)
	}
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %v: %v", v, err)
	}
	return ts
}
