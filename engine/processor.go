package engine

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
)

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

type tp = TopicPartition

// State is one input partition's state machine, as a stage runs it. The stage's
// goroutine owns it: no method is called concurrently.
type State interface {
	// Apply handles one live record, writing what it outputs to out. The record goes back
	// to the consumer's pool after: a state keeps none of it but copies.
	Apply(r *kgo.Record, out *Outbox)
	// Replay handles one record again while the partition is rebuilt: the record's
	// outputs were written when it was first applied, so it writes none.
	Replay(r *kgo.Record)
	// Done is called after each batch of live records.
	Done()
}

// Processor is what a stage does with its partitions' states: it opens the state of each
// partition assigned, and acts on them all between polls. A stage's Build makes a new
// one for every session, so a processor starts with nothing paused and nothing held.
type Processor[S State] interface {
	// Open returns the state of a newly assigned input partition, empty: the stage
	// replays the partition's history into it if its input declares one.
	Open(t TopicPartition) (S, error)
	// Idle is called once a loop, in the transaction, with the wall clock: the router
	// writes its ticks here. It reports whether it wrote anything.
	Idle(now time.Time, parts map[TopicPartition]S, out *Outbox) bool
}

// A Merger is a processor that handles a whole poll itself instead of applying each
// partition's records in turn: the router, which routes its inputs in log-time order
// across partitions.
type Merger[S State] interface {
	// Merge applies the poll's records, or holds some back (see Holder). It returns how
	// many it applied and the partitions whose state it changed.
	Merge(ctx context.Context, p *Poll[S]) (applied int, touched map[TopicPartition]bool)
}

// A Holder is a merger that may hold back records it has consumed: the transaction's
// offsets commit short of them, and an aborted transaction forgets them.
type Holder[S State] interface {
	// Held is, for each partition with records held, the first of them: where its
	// committed offset must stay.
	Held(parts map[TopicPartition]S) map[TopicPartition]kgo.EpochOffset
	// Release forgets the records held, after an aborted transaction: the consumer reads
	// them again from the committed offsets.
	Release(parts map[TopicPartition]S)
}

// A Preloader is a state rebuilt from two logs: before replaying its own input, it reads
// the log its stage declares as Preload (the matcher: its partition of the decision log).
type Preloader interface {
	// StartReplay says at which offset of the state's own input the replay starts.
	StartReplay(offset int64)
	// Preload takes one record of the preload log, in offset order.
	Preload(r *kgo.Record)
}

// Poll is one poll's records as a Merger sees them.
type Poll[S State] struct {
	Fetches kgo.Fetches
	// Parts are the states of the partitions owned, and Assigned the partitions the
	// group has assigned: some may have no state yet.
	Parts    map[TopicPartition]S
	Assigned map[TopicPartition]bool
	// Client and Admin are the session's; Admin is nil in tests without a broker.
	Client *kgo.Client
	Admin  *kadm.Client
	Out    *Outbox
}

// Env is what a stage's processor is built with.
type Env struct {
	Config *Config
	// Partitions is each topic's partition count, as the cluster has it.
	Partitions map[ridematch.Role]int32
	Stats      *Stats
	Log        zerolog.Logger
}

// Build makes a stage's Build from a constructor of its processor, which each session
// calls: the stage then runs states of type S, with no conversions in between.
func Build[S State](newProcessor func(Env) (Processor[S], error)) func(*Stage, Env) (Runner, error) {
	return func(d *Stage, env Env) (Runner, error) {
		if d.Preload.Role != "" {
			var s S
			if _, ok := any(s).(Preloader); !ok {
				return nil, errStage(d.Name, "declares a preload log, but its state does not preload")
			}
		}
		return newStage(d, env, newProcessor), nil
	}
}

// The router merges and holds; the matcher preloads. Checked here, as the stage finds
// these by assertion.
var (
	_ Merger[*routerState] = (*routerProcessor)(nil)
	_ Holder[*routerState] = (*routerProcessor)(nil)
	_ Preloader            = (*matcherState)(nil)
)

// Runner runs a stage built for a session of the engine.
type Runner interface {
	run(ctx context.Context) error
	ready() bool
}
