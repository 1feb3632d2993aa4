package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
)

// TestEnsureTopicsTimestamps: the topics topics.yaml says the broker stamps are created
// with message.timestamp.type=LogAppendTime, the others keep producers' timestamps, and a
// second run changes nothing.
func TestEnsureTopicsTimestamps(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics := ridematch.DefaultTopics()
	for range 2 {
		if _, err := EnsureTopics(ctx, cl, topics, 1); err != nil {
			t.Fatal(err)
		}
	}
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topics.Name(ridematch.RoleDriverLocations), topics.Name(ridematch.RoleRideRequests), topics.Name(ridematch.RoleRideMatches))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		topics.Name(ridematch.RoleDriverLocations): "LogAppendTime",
		topics.Name(ridematch.RoleRideRequests):    "LogAppendTime",
		topics.Name(ridematch.RoleRideMatches):     "CreateTime",
	}
	for _, rc := range rcs {
		got := ""
		for _, c := range rc.Configs {
			if c.Key == "message.timestamp.type" && c.Value != nil {
				got = *c.Value
			}
		}
		if got != want[rc.Name] {
			t.Errorf("%s: message.timestamp.type %q, want %q", rc.Name, got, want[rc.Name])
		}
	}
	if got := topics.WithProducerTimestamps().Get(ridematch.RoleDriverLocations).Timestamps; got != "" || topics.Get(ridematch.RoleDriverLocations).Timestamps != ridematch.BrokerTimestamps {
		t.Errorf("WithProducerTimestamps changed the original or kept %q", got)
	}
}
