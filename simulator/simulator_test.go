package simulator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"ridematch"
	"ridematch/broker"
	"ridematch/cluster"
	"ridematch/event"
)

func startBroker(t *testing.T, ctx context.Context, log zerolog.Logger) *broker.Broker {
	t.Helper()
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: ridematch.DefaultTopics(), RetentionCheck: time.Minute}, log)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunAgainstBroker runs the simulator on the embedded broker with a stand-in engine
// that matches one request and leaves another unmatched, then reads back what was
// produced.
func TestRunAgainstBroker(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := startBroker(t, ctx, log)
	defer b.Close()
	topics := ridematch.DefaultTopics()
	driversTopic := topics.Name(ridematch.RoleDriverLocations)
	requestsTopic := topics.Name(ridematch.RoleRideRequests)

	cfg := DefaultConfig()
	cfg.Cluster.Brokers = []string{b.Addr()}
	cfg.Drivers, cfg.Rate, cfg.CancelRate = 100, 2, 0.3
	cfg.Speedup, cfg.Duration = 30, 2500*time.Millisecond
	sim, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}

	// The stand-in engine: the first driver seen gets the first request; the second
	// request is unmatched.
	engine, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(driversTopic, requestsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	type matched struct {
		driver, request string
		err             error
	}
	engineDone := make(chan matched, 1)
	ectx, stopEngine := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopEngine()
	wg.Go(func() {
		var m matched
		var requests []event.RideRequest
		for ectx.Err() == nil && len(requests) < 2 {
			engine.PollFetches(ectx).EachRecord(func(r *kgo.Record) {
				in, err := event.DecodeInput(r.Value)
				switch {
				case err != nil:
				case in.Kind == event.KindDriverLocation && m.driver == "":
					m.driver = in.Driver.DriverID
				case in.Kind == event.KindRideRequest && m.driver != "" && len(requests) < 2:
					requests = append(requests, in.Request)
				}
			})
		}
		if len(requests) < 2 {
			engineDone <- matched{err: errors.New("the stand-in engine saw no requests")}
			return
		}
		m.request = requests[0].RequestID
		rq := requests[0]
		match := fmt.Sprintf(`{"event_type":"ride_matched","match_id":"M1","request_id":%q,"driver_id":%q,"pickup_coordinates":{"lat":%v,"lng":%v},"drop_coordinates":{"lat":%v,"lng":%v}}`,
			rq.RequestID, m.driver, rq.Pickup.Lat, rq.Pickup.Lng, rq.Drop.Lat, rq.Drop.Lng)
		unmatched := fmt.Sprintf(`{"event_type":"ride_unmatched","request_id":%q}`, requests[1].RequestID)
		res := engine.ProduceSync(ectx,
			&kgo.Record{Topic: topics.Name(ridematch.RoleRideMatches), Key: []byte(rq.RequestID), Value: []byte(match)},
			&kgo.Record{Topic: topics.Name(ridematch.RoleRideMatches), Key: []byte(requests[1].RequestID), Value: []byte(unmatched)},
		)
		m.err = res.FirstErr()
		engineDone <- m
	})

	var reports []Stats
	st, err := sim.Run(ctx, func(s Stats) { reports = append(reports, s) })
	if err != nil {
		t.Fatal(err)
	}
	m := <-engineDone
	if m.err != nil {
		t.Fatal(m.err)
	}
	t.Logf("final: %+v", st)
	switch {
	case len(reports) < 2:
		t.Errorf("%d progress reports in %v", len(reports), cfg.Duration)
	case st.Matched != 1 || st.Unmatched != 1:
		t.Errorf("saw %d matched and %d unmatched, want 1 and 1", st.Matched, st.Unmatched)
	case st.LatencyP50 <= 0 || st.LatencyP99 < st.LatencyP50:
		t.Errorf("latency p50 %v p99 %v", st.LatencyP50, st.LatencyP99)
	case st.RidesStarted != 1 || st.Busy+int(st.RidesCompleted) != 1:
		t.Errorf("rides started %d, busy %d, completed %d; want the one match", st.RidesStarted, st.Busy, st.RidesCompleted)
	case st.Undelivered != 0 || st.Delivered != st.GPSUpdates+st.Requests+st.Cancels:
		t.Errorf("delivered %d, undelivered %d, of %d events", st.Delivered, st.Undelivered, st.GPSUpdates+st.Requests+st.Cancels)
	}
	if sim := time.Duration(float64(st.Elapsed) * cfg.Speedup); st.SimElapsed < sim*9/10 || st.SimElapsed > sim*11/10 {
		t.Errorf("%v simulated in %v at speedup %v", st.SimElapsed, st.Elapsed, cfg.Speedup)
	}

	// Read back everything produced: keys, record times and the matched driver's updates.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(driversTopic, requestsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	counts := map[event.Kind]uint64{}
	busyAfterMatch, busyOthers := 0, 0
	for want := st.Delivered; counts[event.KindDriverLocation]+counts[event.KindRideRequest]+counts[event.KindRideCancel] < want; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v of %d records", counts, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			in, err := event.DecodeInput(r.Value)
			if err != nil {
				t.Fatalf("%s: %v", r.Value, err)
			}
			counts[in.Kind]++
			var key string
			var topic string
			switch in.Kind {
			case event.KindDriverLocation:
				key, topic = in.Driver.DriverID, driversTopic
				if in.Driver.Availability == event.Busy {
					if in.Driver.DriverID == m.driver {
						busyAfterMatch++
					} else {
						busyOthers++
					}
				}
			case event.KindRideRequest:
				key, topic = in.Request.RequestID, requestsTopic
			case event.KindRideCancel:
				key, topic = in.Cancel.RequestID, requestsTopic
			}
			if string(r.Key) != key || r.Topic != topic {
				t.Fatalf("%s on %s keyed %q, want %s keyed %q", r.Value, r.Topic, r.Key, topic, key)
			}
			if got := event.FromMillis(r.Timestamp.UnixMilli()); got != in.Time() {
				t.Fatalf("record time %v, event time %v", got, in.Time())
			}
		})
	}
	if counts[event.KindDriverLocation] != st.GPSUpdates || counts[event.KindRideRequest] != st.Requests || counts[event.KindRideCancel] != st.Cancels {
		t.Errorf("read %v, the run says %d GPS updates, %d requests, %d cancels", counts, st.GPSUpdates, st.Requests, st.Cancels)
	}
	if busyAfterMatch == 0 || busyOthers != 0 {
		t.Errorf("busy updates: %d from the matched driver, %d from others", busyAfterMatch, busyOthers)
	}
}

func TestRunFailsFast(t *testing.T) {
	tests := []struct {
		name    string
		give    func(*Config, string)
		wantErr error
	}{
		{"unreachable", func(c *Config, _ string) { c.Cluster.Brokers = []string{"127.0.0.1:1"} }, cluster.ErrUnreachable},
		{"missing topic", func(c *Config, addr string) {
			c.Cluster.Brokers = []string{addr}
			topics := ridematch.DefaultTopics()
			for i := range topics.Topics {
				if topics.Topics[i].Role == ridematch.RoleRideRequests {
					topics.Topics[i].Name = "no-such-topic"
				}
			}
			c.Topics = topics
		}, nil},
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := startBroker(t, ctx, log)
	defer b.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Cluster.ConnectTimeout = time.Second
			tt.give(&cfg, b.Addr())
			sim, err := New(cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = sim.Run(ctx, nil)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v to fail", took)
			}
			t.Log(err)
		})
	}
}

// Cancelling the context stops a run promptly, whatever the speedup.
func TestRunStopsOnCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := startBroker(t, ctx, log)
	defer b.Close()
	cfg := DefaultConfig()
	cfg.Cluster.Brokers = []string{b.Addr()}
	cfg.Drivers, cfg.Rate, cfg.Speedup = 2000, 50, 100
	sim, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	reports := 0
	var stoppedAt time.Time
	st, err := sim.Run(rctx, func(Stats) {
		if reports++; reports == 2 {
			stoppedAt = time.Now()
			stop()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stoppedAt); took > 3*time.Second {
		t.Errorf("took %v to stop", took)
	}
	if st.GPSUpdates == 0 {
		t.Error("nothing was simulated")
	}
	if st.Undelivered != 0 {
		t.Errorf("%d records abandoned on a healthy broker", st.Undelivered)
	}
}

// A broker slower than the load makes the simulator fall behind, with a bounded buffer,
// and report it.
func TestRunFallsBehindASlowBroker(t *testing.T) {
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := startBroker(t, ctx, log)
	defer b.Close()
	kc := b.Cluster()
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		kc.SleepControl(func() { time.Sleep(200 * time.Millisecond) })
		return nil, nil, false
	})
	cfg := DefaultConfig()
	cfg.Cluster.Brokers = []string{b.Addr()}
	cfg.Drivers, cfg.Speedup, cfg.Duration = 5000, 10, 2500*time.Millisecond
	cfg.MaxBufferedRecords = 1000
	sim, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	var last Stats
	st, err := sim.Run(ctx, func(s Stats) {
		if s.Buffered > int64(cfg.MaxBufferedRecords) {
			t.Errorf("%d records buffered, more than the %d allowed", s.Buffered, cfg.MaxBufferedRecords)
		}
		last = s
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("last report: behind %v, %.0f GPS/s; final: %d delivered, %d undelivered", last.Behind, last.GPSPerSec, st.Delivered, st.Undelivered)
	if last.Behind < 5*time.Second {
		t.Errorf("behind %v: the slow broker went unnoticed", last.Behind)
	}
	if want := float64(cfg.Drivers) / cfg.GPSInterval.Seconds() * cfg.Speedup; last.GPSPerSec > want/2 {
		t.Errorf("%.0f GPS updates/s through a broker that takes at most 5000 records/s", last.GPSPerSec)
	}
}
