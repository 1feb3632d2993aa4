package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
)

// TopicStatus says what EnsureTopics found or did for one topic.
type TopicStatus struct {
	Topic      ridematch.Topic
	Partitions int32 // what the cluster has
	Created    bool
	// Mismatch explains why the existing topic differs from topics.yaml; empty if it
	// does not.
	Mismatch string
}

// ErrTopicMismatch is returned when an existing topic's partition count differs from
// topics.yaml: the region log's count decides where every region goes, so the engine
// refuses to guess.
var ErrTopicMismatch = errors.New("a topic differs from topics.yaml")

// EnsureTopics creates the topics of topics.yaml that are missing, with their partitions,
// replication factor (-1: the broker's default), retention and timestamp type, and
// verifies the rest.
// Running it twice changes nothing the second time.
func EnsureTopics(ctx context.Context, cl *kgo.Client, topics ridematch.Topics, replication int16) ([]TopicStatus, error) {
	adm := kadm.NewClient(cl)
	names := make([]string, len(topics.Topics))
	for i, t := range topics.Topics {
		names[i] = t.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	var out []TopicStatus
	var mismatched error
	for _, t := range topics.Topics {
		st := TopicStatus{Topic: t}
		if d, ok := existing[t.Name]; ok && d.Err == nil {
			st.Partitions = int32(len(d.Partitions))
			if st.Partitions != t.Partitions {
				st.Mismatch = fmt.Sprintf("has %d partitions, topics.yaml says %d", st.Partitions, t.Partitions)
				mismatched = ErrTopicMismatch
			}
			out = append(out, st)
			continue
		}
		cfg := map[string]*string{}
		if t.Retention > 0 {
			cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(t.Retention.Milliseconds(), 10))
		}
		if t.Timestamps == ridematch.BrokerTimestamps {
			cfg["message.timestamp.type"] = kadm.StringPtr("LogAppendTime")
		}
		resp, err := adm.CreateTopic(ctx, t.Partitions, replication, cfg, t.Name)
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists):
			// Another process created it between our list and our create.
			st.Partitions = t.Partitions
		case err != nil:
			return out, fmt.Errorf("creating topic %s: %w", t.Name, err)
		default:
			st.Partitions, st.Created = resp.NumPartitions, true
			if st.Partitions <= 0 {
				st.Partitions = t.Partitions
			}
		}
		out = append(out, st)
	}
	return out, mismatched
}

// Partitions returns a topic's partition count, or an error if it does not exist.
func Partitions(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	adm := kadm.NewClient(cl)
	d, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("looking up topic %s: %w", topic, err)
	}
	td, ok := d[topic]
	if !ok || td.Err != nil {
		return 0, fmt.Errorf("topic %s does not exist: run `ridematch topics` first", topic)
	}
	return int32(len(td.Partitions)), nil
}
