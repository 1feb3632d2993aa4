package simulator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/engine"
	"ridematch/event"
)

// TestReplayThroughEngine replays the first 300 rows of nyc_20k.csv through a real
// engine on the embedded broker, 200 times faster than they happened, and checks that
// the run ends by itself once every replayed request has exactly one final outcome on
// ride-matches, read committed.
func TestReplayThroughEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine")
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := startBroker(t, ctx, log)
	defer b.Close()

	ecfg := engine.DefaultConfig()
	ecfg.Clock = engine.ClockProducer // the replay runs simulated time, 200 times the wall's
	ecfg.Cluster.Brokers = []string{b.Addr()}
	ecfg.Matcher.RequestTTL = 5 * time.Second
	e, err := engine.New(ecfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ectx, stopEngine := context.WithCancel(ctx)
	engineDone := make(chan error, 1)
	go func() { engineDone <- e.Run(ectx) }()
	defer func() {
		stopEngine()
		if err := <-engineDone; err != nil {
			t.Errorf("engine: %v", err)
		}
	}()
	for !e.Ready() {
		if ctx.Err() != nil {
			t.Fatal("the engine never got ready")
		}
		time.Sleep(50 * time.Millisecond)
	}

	cfg := replayConfig(nycHead, 200)
	cfg.Cluster.Brokers = []string{b.Addr()}
	cfg.GPSInterval = 10 * time.Second // 200 drivers, 4,000 updates a wall second
	cfg.Speedup = 200                  // the 17 minutes of the file in 5 seconds
	cfg.Duration = 40 * time.Second
	sim, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := st.Replay
	t.Logf("%s: %d requests in %v: %d matched, %d unmatched, %d cancelled, %d unanswered, p99 %v",
		rc.File, st.Requests, st.Elapsed.Round(time.Millisecond), st.Matched, st.Unmatched, st.Cancelled, st.Unanswered, st.LatencyP99)
	switch {
	case rc == nil || rc.Requests != 299:
		t.Fatalf("replay counts %+v, want 299 requests of 300 rows", rc)
	case st.Requests != uint64(rc.Requests):
		t.Errorf("%d of %d requests replayed", st.Requests, rc.Requests)
	case st.Elapsed >= cfg.Duration:
		t.Errorf("ran for the whole %v: the run did not end with the replay", cfg.Duration)
	case st.Matched+st.Unmatched+st.Cancelled != st.Requests || st.Unanswered != 0:
		t.Errorf("%d requests, %d outcomes seen, %d unanswered", st.Requests, st.Matched+st.Unmatched+st.Cancelled, st.Unanswered)
	case st.Matched == 0:
		t.Error("nothing matched: the drivers are not where the demand is")
	}

	topics := ridematch.DefaultTopics()
	requested := map[string]bool{}
	for _, r := range readCommitted(t, ctx, b.Addr(), topics.Name(ridematch.RoleRideRequests)) {
		in, err := event.DecodeInput(r.Value)
		if err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		if in.Kind == event.KindRideRequest {
			requested[in.Request.RequestID] = true
		}
	}
	if len(requested) != rc.Requests {
		t.Fatalf("%d requests on ride-requests, want %d", len(requested), rc.Requests)
	}
	final := map[string]int{}
	for _, r := range readCommitted(t, ctx, b.Addr(), topics.Name(ridematch.RoleRideMatches)) {
		var o struct {
			Type      string `json:"event_type"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(r.Value, &o); err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		switch o.Type {
		case event.TypeRideMatched, event.TypeRideUnmatched, event.TypeRideCancelled:
			if !requested[o.RequestID] {
				t.Errorf("an outcome for a request never made: %s", r.Value)
			}
			final[o.RequestID]++
		}
	}
	for id := range requested {
		if final[id] != 1 {
			t.Errorf("request %s has %d final outcomes", id, final[id])
		}
	}
}

// readCommitted returns a topic's committed records, up to its end as of the call.
func readCommitted(t *testing.T, ctx context.Context, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
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
	return out
}
