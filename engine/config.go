package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/cluster"
	"ridematch/matcher"
	"ridematch/router"
)

// Clock says whose timestamps make the engine's clock (see matcher/doc.go, Time).
type Clock string

const (
	// ClockBroker (the default) times each input record by the broker: its timestamp
	// when the broker set it (topics with message.timestamp.type=LogAppendTime, as
	// ridematch topics creates them), else when the router received it. No producer can
	// move the engine's clock.
	ClockBroker Clock = "broker"
	// ClockProducer times each input record by the timestamp its producer gave it: for
	// trusted producers that run simulated time, such as the simulator sped up, the demo,
	// the bench and trip replays, on topics that keep producer timestamps (CreateTime).
	ClockProducer Clock = "producer"
)

// Config holds every engine setting: the connection, the topics, both stages' logic, and
// the plumbing. DefaultConfig gives the defaults; `ridematch match` maps its flags onto it.
type Config struct {
	Cluster cluster.Config
	Topics  ridematch.Topics
	Router  router.Config
	Matcher matcher.Config

	// Clock says whose timestamps time the input records (default ClockBroker).
	Clock Clock
	// RunRouter and RunMatcher choose the stages this instance runs (default both).
	RunRouter, RunMatcher bool
	// RouterGroup and MatcherGroup are the consumer groups (defaults ridematch-router and
	// ridematch-matcher).
	RouterGroup, MatcherGroup string
	// TickInterval is how often a router writes its clock into every region-log partition
	// (default 100ms). It bounds how late a request can expire.
	TickInterval time.Duration
	// MaxBatch bounds the records one transaction consumes (default 4096).
	MaxBatch int
	// FetchMaxBytes bounds what a stage's consumer buffers from one broker (default
	// 16 MiB): with MaxBatch and the producer's bounded buffer, it is what keeps an
	// engine's memory flat however far behind it falls.
	FetchMaxBytes int32
	// FetchMaxPartitionBytes bounds what one fetch returns of each partition (default
	// 64 KiB; Kafka's consumers default to 1 MiB). A consumer fetches again only when it
	// has handed out everything the last fetch returned, so a stage that fell behind, if
	// only for a garbage collection, takes in a megabyte a partition (some 5,000 driver
	// updates) and handles all of it before it sees the requests that came meanwhile.
	// Small fetches keep that wait to about one transaction (BENCHMARKS.md, "Settings
	// behind the figures").
	FetchMaxPartitionBytes int32
	// CatchUpLag is how old a record's log time must be, against the router's wall clock,
	// for the router to route it strictly in log-time order across its input partitions,
	// waiting for a partition that has records still to come (default 10s). A backlog is
	// older than that, and is read as it happened, the same on every run; live traffic is
	// younger, and goes at once: waiting for every partition's next fetch would cost each
	// record the slowest partition's fetch delay. Records a producer stamps ahead of the
	// wall clock (sped-up simulations) are live.
	CatchUpLag time.Duration
	// RestoreSlack is added to the state's history when replaying a partition on
	// assignment (default 30s): record timestamps come from producer clocks.
	RestoreSlack time.Duration
	// SessionTimeout and HeartbeatInterval govern how fast the group notices a member
	// joining or dying (defaults 6s and 500ms; 6s is the least a stock Kafka accepts).
	SessionTimeout, HeartbeatInterval time.Duration
	// TransactionTimeout is how long the broker lets a transaction stay open before it
	// aborts it (default 10s). A member killed mid-transaction holds back read_committed
	// readers of the partitions it wrote to for this long.
	TransactionTimeout time.Duration
	// InstanceID names this process in transactional ids (default host-pid-random).
	InstanceID string
	// Topology, when set, gives the stages to run instead of DefaultTopology; RunRouter
	// and RunMatcher still pick those named router and matcher. The bench's plumbing
	// floor declares one (default none).
	Topology func(*Config) Topology
	// ClientHooks, when set, gives the franz-go hooks of the client each stage session
	// builds, by stage name ("router" or "matcher"); a new session asks again for its new
	// client. `ridematch match --http` hangs the kprom plugin's client metrics here, which it
	// keeps per client (default none).
	ClientHooks func(stage string) []kgo.Hook
	// OnTransaction, when set, is told how each transaction that wrote something spent its
	// time, step by step; it is called on the stage's goroutine, so it must be quick
	// (default none). `ridematch match --http` makes histograms of it.
	OnTransaction func(TransactionTiming)
}

// TransactionTiming is how one transaction of a stage spent its time.
type TransactionTiming struct {
	Stage     string        // "router" or "matcher"
	Records   int           // input records it consumed
	Process   time.Duration // applying them to the partitions' state, restores included
	Produce   time.Duration // producing the outputs until the broker acknowledged them all
	Commit    time.Duration // committing the offsets and ending the transaction
	Committed bool          // whether it committed (else it aborted)
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Cluster:                cluster.DefaultConfig(),
		Topics:                 ridematch.DefaultTopics(),
		Router:                 router.DefaultConfig(),
		Matcher:                matcher.DefaultConfig(),
		Clock:                  ClockBroker,
		RunRouter:              true,
		RunMatcher:             true,
		RouterGroup:            "ridematch-router",
		MatcherGroup:           "ridematch-matcher",
		TickInterval:           100 * time.Millisecond,
		MaxBatch:               4096,
		FetchMaxBytes:          16 << 20,
		FetchMaxPartitionBytes: 64 << 10,
		CatchUpLag:             10 * time.Second,
		RestoreSlack:           30 * time.Second,
		SessionTimeout:         6 * time.Second,
		HeartbeatInterval:      500 * time.Millisecond,
		TransactionTimeout:     10 * time.Second,
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid engine config")

// Validate rejects settings that cannot work together.
func (c Config) Validate() error {
	switch {
	case !c.RunRouter && !c.RunMatcher:
		return fmt.Errorf("%w: run at least one stage", ErrConfig)
	case c.Clock != ClockBroker && c.Clock != ClockProducer:
		return fmt.Errorf("%w: the clock %q is neither %q nor %q", ErrConfig, c.Clock, ClockBroker, ClockProducer)
	case c.CatchUpLag < 0:
		return fmt.Errorf("%w: the catch-up lag must not be negative", ErrConfig)
	case c.TickInterval < time.Millisecond:
		return fmt.Errorf("%w: the tick interval must be at least 1ms", ErrConfig)
	case c.MaxBatch < 1:
		return fmt.Errorf("%w: the batch must hold at least one record", ErrConfig)
	case c.FetchMaxBytes < 1<<20:
		return fmt.Errorf("%w: the fetch buffer must be at least 1 MiB", ErrConfig)
	case c.FetchMaxPartitionBytes < 1<<10 || c.FetchMaxPartitionBytes > c.FetchMaxBytes:
		return fmt.Errorf("%w: a fetch's bytes a partition must be at least 1 KiB and at most the fetch buffer", ErrConfig)
	case c.TransactionTimeout < time.Second:
		return fmt.Errorf("%w: the transaction timeout must be at least 1s", ErrConfig)
	case c.HeartbeatInterval <= 0 || c.SessionTimeout < 3*c.HeartbeatInterval:
		return fmt.Errorf("%w: the session timeout must be at least three heartbeats", ErrConfig)
	case c.Router.DriverTTL != c.Matcher.DriverTTL:
		return fmt.Errorf("%w: the router's and matcher's driver TTLs differ", ErrConfig)
	case c.Router.Resolutions != c.Matcher.Resolutions:
		return fmt.Errorf("%w: the router's and matcher's H3 resolutions differ", ErrConfig)
	case c.Router.ReachKM != 0 && c.Router.ReachKM < c.Matcher.MaxPickupKM:
		return fmt.Errorf("%w: the router's reach (%g km) is short of the matcher's pickup distance (%g km): drivers across a border would be missed", ErrConfig, c.Router.ReachKM, c.Matcher.MaxPickupKM)
	case c.RouterGroup == "" || c.MatcherGroup == "" || c.RouterGroup == c.MatcherGroup:
		return fmt.Errorf("%w: the two stages need two distinct group names", ErrConfig)
	}
	if err := c.Topics.Validate(); err != nil {
		return err
	}
	if err := c.Router.Validate(); err != nil {
		return err
	}
	return c.Matcher.Validate()
}

func (c *Config) instance() string {
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.InstanceID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return c.InstanceID
}
