package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/broker"
	"ridematch/engine"
)

// TestGatewayMatched runs the gateway for a few seconds against an embedded broker and an
// engine in process, sends a request at its drivers' start, and checks that one of its
// drivers got the ride, that the gateway said so, and that the driver went busy and then,
// its ride over, available again: on ride-matches, on driver-locations and in its output.
func TestGatewayMatched(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := startEngine(t, ctx, nil)

	cfg := defaultConfig()
	cfg.Brokers = []string{addr}
	cfg.Interval = 250 * time.Millisecond
	cfg.BusyFor = 1500 * time.Millisecond
	cfg.StatusEvery = 0
	var out syncBuffer
	gctx, stopGateway := context.WithCancel(ctx)
	gatewayDone := make(chan error, 1)
	go func() { gatewayDone <- run(gctx, cfg, &out) }()
	defer stopGateway()

	// The request comes once the gateway's first updates are in, as a rider's would.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	time.Sleep(time.Second)
	const requestID = "REQ-GATEWAY-1"
	produceRequest(t, ctx, cl, requestID, "bandra_station", "mini", cfg.From)

	matched := regexp.MustCompile(`(DRV-GW-\d+) matched: request ` + requestID + ` of CUST001, pickup bandra_station [0-9.]+ km away, ETA \d+ min, fare [0-9.]+, surge x[0-9.]+, assignment \w+; busy for 1.5s`)
	var driverID string
	waitFor(t, ctx, "the gateway to print its driver's match", func() bool {
		m := matched.FindStringSubmatch(out.String())
		if m != nil {
			driverID = m[1]
		}
		return m != nil
	})
	waitFor(t, ctx, "the driver's ride to end", func() bool {
		return strings.Contains(out.String(), driverID+" finished its ride; available again")
	})
	time.Sleep(2 * cfg.Interval) // an update that says so
	stopGateway()
	if err := <-gatewayDone; err != nil {
		t.Fatalf("the gateway: %v", err)
	}
	t.Logf("the gateway's output:\n%s", out.String())

	var outcome struct {
		Type     string `json:"event_type"`
		DriverID string `json:"driver_id"`
	}
	var outcomes int
	for _, r := range readCommitted(t, ctx, addr, "ride-matches") {
		if string(r.Key) == requestID {
			outcomes++
			if err := json.Unmarshal(r.Value, &outcome); err != nil {
				t.Fatal(err)
			}
		}
	}
	if outcomes != 1 || outcome.Type != "ride_matched" || outcome.DriverID != driverID {
		t.Fatalf("%d outcomes for %s, the last %+v; want one ride_matched of %s", outcomes, requestID, outcome, driverID)
	}

	// The driver's own updates: available, then busy from the match, then available.
	var said []string
	for _, r := range readCommitted(t, ctx, addr, "driver-locations") {
		if string(r.Key) != driverID {
			continue
		}
		var u locationUpdate
		if err := json.Unmarshal(r.Value, &u); err != nil {
			t.Fatal(err)
		}
		if len(said) == 0 || said[len(said)-1] != u.Availability {
			said = append(said, u.Availability)
		}
	}
	if strings.Join(said, " ") != "available busy available" {
		t.Errorf("%s said %v, want available, busy, available", driverID, said)
	}
}

// TestGatewayOffers runs the gateway, accepting offers within 1 km, against an engine with
// driver offers on. A mini ride 2 km from its drivers is offered to the two that can take
// it (the sedan and the hatchback), each declines it as too far, and the request ends
// ride_unmatched, reason declined; a prime ride at their start is offered to the sedan,
// which accepts it and is matched on the offer. The answers on driver-responses are keyed
// by driver and name the offers on driver-offers.
func TestGatewayOffers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := startEngine(t, ctx, func(c *engine.Config) {
		c.Matcher.OfferTimeout = 5 * time.Second
		c.Matcher.RequestTTL = 3 * time.Second // the declined request waits no longer
	})

	cfg := defaultConfig()
	cfg.Brokers = []string{addr}
	cfg.Interval = 250 * time.Millisecond
	cfg.StatusEvery = 0
	cfg.AcceptWithinKM = 1
	var out syncBuffer
	gctx, stopGateway := context.WithCancel(ctx)
	gatewayDone := make(chan error, 1)
	go func() { gatewayDone <- run(gctx, cfg, &out) }()
	defer stopGateway()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	time.Sleep(time.Second) // the gateway's first updates, as in TestGatewayMatched
	outcome := func(requestID string) map[string]any {
		t.Helper()
		var o map[string]any
		waitFor(t, ctx, "the outcome of "+requestID, func() bool {
			for _, r := range readCommitted(t, ctx, addr, "ride-matches") {
				if string(r.Key) == requestID {
					if o != nil {
						t.Fatalf("%s has a second outcome: %s", requestID, r.Value)
					}
					if err := json.Unmarshal(r.Value, &o); err != nil {
						t.Fatal(err)
					}
				}
			}
			return o != nil
		})
		return o
	}

	const far, near = "REQ-GATEWAY-FAR", "REQ-GATEWAY-NEAR"
	produceRequest(t, ctx, cl, far, "north_of_bandra", "mini", point{Lat: cfg.From.Lat + 0.018, Lng: cfg.From.Lng}) // 2 km
	if o := outcome(far); o["event_type"] != "ride_unmatched" || o["reason"] != "declined" || o["offers"] != 2.0 {
		t.Errorf("%s ended %v, want ride_unmatched, declined after 2 offers", far, o)
	}
	produceRequest(t, ctx, cl, near, "bandra_station", "prime", cfg.From)
	matched := outcome(near)
	stopGateway()
	if err := <-gatewayDone; err != nil {
		t.Fatalf("the gateway: %v", err)
	}
	t.Logf("the gateway's output:\n%s", out.String())

	for _, want := range []string{
		`DRV-GW-1 offered request ` + far + ` of CUST001 \(attempt [12]\): pickup north_of_bandra [12]\.\d\d km away, .*; declined: pickup_too_far`,
		`DRV-GW-2 offered request ` + far + ` of CUST001 \(attempt [12]\): pickup north_of_bandra [12]\.\d\d km away, .*; declined: pickup_too_far`,
		`DRV-GW-1 offered request ` + near + ` of CUST001 \(attempt 1\): pickup bandra_station 0\.\d\d km away, ETA \d+ min, fare [0-9.]+, surge x[0-9.]+; accepted`,
		`DRV-GW-1 matched: request ` + near,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("the gateway did not print %q", want)
		}
	}
	if strings.Contains(out.String(), "DRV-GW-3 offered") {
		t.Error("the auto-rickshaw DRV-GW-3 was offered a mini or prime ride")
	}

	// Every answer names an offer made to its driver, and is keyed by the driver.
	offered := map[string]rideEvent{}
	for _, r := range readCommitted(t, ctx, addr, "driver-offers") {
		var e rideEvent
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		offered[e.OfferID] = e
	}
	answers := map[string]string{} // request and driver: answer
	for _, r := range readCommitted(t, ctx, addr, "driver-responses") {
		var a offerAnswer
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		if o, ok := offered[a.OfferID]; !ok || o.DriverID != a.DriverID || o.RequestID != a.RequestID || string(r.Key) != a.DriverID {
			t.Errorf("answer %s (key %s) is not to an offer made to its driver: %+v", r.Value, r.Key, o)
		}
		answers[a.RequestID+" "+a.DriverID] = a.EventType + " " + a.Reason
	}
	wantAnswers := map[string]string{
		far + " DRV-GW-1":  "offer_declined pickup_too_far",
		far + " DRV-GW-2":  "offer_declined pickup_too_far",
		near + " DRV-GW-1": "offer_accepted ",
	}
	if fmt.Sprint(answers) != fmt.Sprint(wantAnswers) {
		t.Errorf("answers on driver-responses: %v, want %v", answers, wantAnswers)
	}
	if matched["event_type"] != "ride_matched" || matched["driver_id"] != "DRV-GW-1" ||
		offered[fmt.Sprint(matched["offer_id"])].RequestID != near {
		t.Errorf("%s ended %v, want ride_matched to DRV-GW-1 on its accepted offer", near, matched)
	}
}

// TestDecide: the gateway's drivers accept an offer unless they are on a ride or the
// pickup is farther than --accept-within; an offer read after it expired is not answered.
func TestDecide(t *testing.T) {
	cfg := defaultConfig()
	cfg.AcceptWithinKM = 1.5
	var out bytes.Buffer
	g := newGateway(cfg, nil, &out)
	tests := []struct {
		give       rideEvent
		onRide     bool
		wantAccept bool
		wantReason string
	}{
		{give: rideEvent{PickupDistanceKM: 0.2}, wantAccept: true},
		{give: rideEvent{PickupDistanceKM: 1.5}, wantAccept: true},
		{give: rideEvent{PickupDistanceKM: 1.51}, wantReason: "pickup_too_far"},
		{give: rideEvent{PickupDistanceKM: 0.2}, onRide: true, wantReason: "on_a_ride"},
	}
	for _, tt := range tests {
		d := &driver{id: "DRV-GW-1"}
		if tt.onRide {
			d.matchID = "m-1"
		}
		accept, reason := g.decide(d, tt.give)
		if accept != tt.wantAccept || reason != tt.wantReason {
			t.Errorf("decide(%.2f km, on a ride %v) = %v %q, want %v %q", tt.give.PickupDistanceKM, tt.onRide, accept, reason, tt.wantAccept, tt.wantReason)
		}
	}

	now := time.Date(2026, 12, 6, 19, 0, 10, 0, time.UTC)
	expired := rideEvent{EventType: "ride_offered", OfferID: "o-3-0123456789abcdef", RequestID: "R1", DriverID: "DRV-GW-1",
		ExpiresAt: "2026-12-06T19:00:09.000000Z"}
	g.handle(context.Background(), expired, now) // no client: an answer would panic
	if !strings.Contains(out.String(), "before it was read, not answered") {
		t.Errorf("an expired offer printed %q", out.String())
	}
}

// startEngine starts an embedded broker and an engine in process, configured by
// configure if not nil, waits until the engine is ready, and returns the broker's
// address. Both stop at the test's cleanup.
func startEngine(t *testing.T, ctx context.Context, configure func(*engine.Config)) string {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: ridematch.DefaultTopics()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ecfg := engine.DefaultConfig()
	ecfg.Cluster.Brokers = []string{b.Addr()}
	if configure != nil {
		configure(&ecfg)
	}
	eng, err := engine.New(ecfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ectx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ectx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	waitFor(t, ctx, "the engine to be ready", eng.Ready)
	return b.Addr()
}

// produceRequest sends a ride_requested of CUST001 from pickup to bkc, as a rider
// backend would.
func produceRequest(t *testing.T, ctx context.Context, cl *kgo.Client, requestID, pickupName, rideType string, pickup point) {
	t.Helper()
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000")
	request := fmt.Sprintf(`{"event_type": "ride_requested", "request_id": %q, "customer_id": "CUST001", "pickup_location": %q, "drop_location": "bkc", `+
		`"pickup_coordinates": {"lat": %v, "lng": %v}, "drop_coordinates": {"lat": 19.0596, "lng": 72.8656}, "request_time": %q, "ride_type": %q}`,
		requestID, pickupName, pickup.Lat, pickup.Lng, now, rideType)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ride-requests", Key: []byte(requestID), Value: []byte(request)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readCommitted reads a topic from its start until it has been quiet for half a second.
func readCommitted(t *testing.T, ctx context.Context, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { rs = append(rs, r); n++ })
		if n == 0 {
			return rs
		}
	}
}

// syncBuffer is a bytes.Buffer the gateway writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
