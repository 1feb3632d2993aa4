package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch/broker"
)

func TestSmoke(t *testing.T) {
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.InfoLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bcfg := broker.DefaultConfig()
	bcfg.Listen = "127.0.0.1:0"
	b, err := broker.Start(ctx, bcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := DefaultConfig()
	cfg.Cluster.Brokers = []string{b.Addr()}
	e, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ectx, ecancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(ectx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("ride-matches"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().UTC()
	ts := now.Format("2006-01-02T15:04:05.000000")
	for i := 0; i < 5; i++ {
		v := fmt.Sprintf(`{"event_type":"driver_location_update","driver_id":"DRV%03d","location":{"lat":19.05%d,"lng":72.84},"timestamp":%q,"speed":12.5,"heading":90,"availability":"available","vehicle_type":"sedan","rating":4.%d}`, i, i, ts, i)
		cl.ProduceSync(ctx, &kgo.Record{Topic: "driver-locations", Key: []byte(fmt.Sprintf("DRV%03d", i)), Value: []byte(v)})
	}
	v := fmt.Sprintf(`{"event_type":"ride_requested","request_id":"R1","customer_id":"C1","pickup_location":"bandra_station","drop_location":"bkc","pickup_coordinates":{"lat":19.0544,"lng":72.8413},"drop_coordinates":{"lat":19.0596,"lng":72.8656},"request_time":%q,"ride_type":"mini"}`, ts)
	cl.ProduceSync(ctx, &kgo.Record{Topic: "ride-requests", Key: []byte("R1"), Value: []byte(v)})
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no outcome")
		}
		var got map[string]any
		fs.EachRecord(func(r *kgo.Record) {
			t.Logf("%s", r.Value)
			_ = json.Unmarshal(r.Value, &got)
		})
		if got != nil {
			break
		}
	}
	ecancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", e.Stats())
}
