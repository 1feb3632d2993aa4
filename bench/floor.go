package bench

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/engine"
	"ridematch/event"
	"ridematch/internal/fnv"
)

// floorTopology is the plumbing floor: the engine's two stages, with their groups,
// transactions and topics, doing no processing. The router copies each input record to
// the region-log partition its key hashes to, marking those from the ride requests with
// their key; the matcher copies each marked record to the ride-matches topic, as the
// engine writes one outcome a request. Nothing is decoded and nothing is kept: what is
// left is fetch, produce and commit.
func floorTopology(cfg *engine.Config) engine.Topology {
	return engine.Topology{Stages: []engine.Stage{
		{
			Name:     "router",
			Group:    cfg.RouterGroup,
			Inputs:   []engine.Input{{Role: ridematch.RoleDriverLocations}, {Role: ridematch.RoleRideRequests}},
			Outputs:  []engine.Output{{Role: ridematch.RoleRegionLog, Placed: true}},
			PollWait: 100 * time.Millisecond,
			Build: engine.Build(func(env engine.Env) (engine.Processor[*floorCopy], error) {
				return &floorCopy{
					partitions: env.Partitions[ridematch.RoleRegionLog],
					requests:   env.Config.Topics.Name(ridematch.RoleRideRequests),
				}, nil
			}),
		},
		{
			Name:     "matcher",
			Group:    cfg.MatcherGroup,
			Inputs:   []engine.Input{{Role: ridematch.RoleRegionLog}},
			Outputs:  []engine.Output{{Role: ridematch.RoleRideMatches}},
			PollWait: 100 * time.Millisecond,
			Build: engine.Build(func(env engine.Env) (engine.Processor[*floorAnswer], error) {
				return &floorAnswer{matches: env.Config.Topics.Name(ridematch.RoleRideMatches)}, nil
			}),
		},
	}}
}

// A floor region-log entry is a mark, then the record's value; a marked one has its key,
// length-prefixed, in between.
const (
	floorUnmarked byte = iota
	floorMarked
)

// floorCopy is the floor's router: one state serves every partition.
type floorCopy struct {
	partitions int32
	requests   string // the topic whose records are marked
	entry      []byte // a region-log entry being made
}

func (c *floorCopy) Open(engine.TopicPartition) (*floorCopy, error) { return c, nil }

func (c *floorCopy) Idle(time.Time, map[engine.TopicPartition]*floorCopy, *engine.Outbox) bool {
	return false
}

func (c *floorCopy) Apply(r *kgo.Record, out *engine.Outbox) {
	e := append(c.entry[:0], floorUnmarked)
	if r.Topic == c.requests {
		e[0] = floorMarked
		e = append(binary.AppendUvarint(e, uint64(len(r.Key))), r.Key...)
	}
	c.entry = append(e, r.Value...)
	out.Raw(int32(uint32(fnv.New32().AddBytes(r.Key))%uint32(c.partitions)), c.entry)
}

func (c *floorCopy) Replay(*kgo.Record) {}
func (c *floorCopy) Done()              {}

// floorAnswer is the floor's matcher: one state serves every partition.
type floorAnswer struct {
	matches string
}

func (a *floorAnswer) Open(engine.TopicPartition) (*floorAnswer, error) { return a, nil }

func (a *floorAnswer) Idle(time.Time, map[engine.TopicPartition]*floorAnswer, *engine.Outbox) bool {
	return false
}

func (a *floorAnswer) Apply(r *kgo.Record, out *engine.Outbox) {
	// A frame the floor's router wrote is well formed; anything else is skipped whole.
	_ = event.EachInFrame(r.Value, func(_ int, b []byte) error {
		if len(b) == 0 || b[0] != floorMarked {
			return nil
		}
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || n > uint64(len(b)-1-k) {
			return nil
		}
		key := b[1+k : 1+k+int(n)]
		// Copies: r goes back to the consumer's pool once applied.
		out.Add(&kgo.Record{Topic: a.matches, Key: bytes.Clone(key), Value: bytes.Clone(b[1+k+int(n):])})
		return nil
	})
}

func (a *floorAnswer) Replay(*kgo.Record) {}
func (a *floorAnswer) Done()              {}
