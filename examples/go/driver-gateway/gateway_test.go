package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: ridematch.DefaultTopics()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	ecfg := engine.DefaultConfig()
	ecfg.Cluster.Brokers = []string{b.Addr()}
	eng, err := engine.New(ecfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ectx, stopEngine := context.WithCancel(ctx)
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(ectx) }()
	defer func() {
		stopEngine()
		if err := <-engineDone; err != nil {
			t.Errorf("engine: %v", err)
		}
	}()
	waitFor(t, ctx, "the engine to be ready", eng.Ready)

	cfg := defaultConfig()
	cfg.Brokers = []string{b.Addr()}
	cfg.Interval = 250 * time.Millisecond
	cfg.BusyFor = 1500 * time.Millisecond
	cfg.StatusEvery = 0
	var out syncBuffer
	gctx, stopGateway := context.WithCancel(ctx)
	gatewayDone := make(chan error, 1)
	go func() { gatewayDone <- run(gctx, cfg, &out) }()
	defer stopGateway()

	// The request comes once the gateway's first updates are in, as a rider's would.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	time.Sleep(time.Second)
	const requestID = "REQ-GATEWAY-1"
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000")
	request := `{"event_type": "ride_requested", "request_id": "` + requestID + `", "customer_id": "CUST001", "pickup_location": "bandra_station", "drop_location": "bkc", ` +
		`"pickup_coordinates": {"lat": 19.0544, "lng": 72.8413}, "drop_coordinates": {"lat": 19.0596, "lng": 72.8656}, "request_time": "` + now + `", "ride_type": "mini"}`
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ride-requests", Key: []byte(requestID), Value: []byte(request)}).FirstErr(); err != nil {
		t.Fatal(err)
	}

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
	for _, r := range readCommitted(t, ctx, b.Addr(), "ride-matches") {
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
	for _, r := range readCommitted(t, ctx, b.Addr(), "driver-locations") {
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
