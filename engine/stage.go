package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch/cluster"
)

// A graceful stop leaves the group within stopBudget of the signal; the batch in hand
// gets batchBudget of it.
const (
	stopBudget  = 5 * time.Second
	batchBudget = 3 * time.Second
)

// stage runs one declared Stage: poll, apply, produce and commit in one transaction, with
// partition state rebuilt from the log whenever it may be out of date.
type stage[S State] struct {
	*Stage
	env          Env
	log          zerolog.Logger
	newProcessor func(Env) (Processor[S], error)
	topics       []string        // the inputs' names
	outputs      map[string]bool // the outputs' names
	placedTopics map[string]bool // the outputs whose partitions the stage chooses

	// Written by the group's callbacks, read by the loop.
	mu       sync.Mutex
	assigned map[tp]bool
	revoked  map[tp]bool

	// Owned by the loop goroutine.
	proc      Processor[S]
	parts     map[tp]S
	lastCheck time.Time
	// spare are the region-log frames of transactions flushed before, to write new
	// frames into; records lends the consumer its record slices.
	spare   [][]byte
	records recordPool

	// isReady: the stage has joined its group and every partition it owns is rebuilt, or
	// has nothing to rebuild.
	isReady atomic.Bool
}

func newStage[S State](d *Stage, env Env, newProcessor func(Env) (Processor[S], error)) *stage[S] {
	s := &stage[S]{
		Stage: d, env: env, newProcessor: newProcessor,
		log:          env.Log.With().Str("stage", d.Name).Logger(),
		outputs:      map[string]bool{},
		placedTopics: map[string]bool{},
		assigned:     map[tp]bool{},
		revoked:      map[tp]bool{},
		parts:        map[tp]S{},
	}
	topics := env.Config.Topics
	for _, in := range d.Inputs {
		s.topics = append(s.topics, topics.Name(in.Role))
	}
	for _, out := range d.Outputs {
		s.outputs[topics.Name(out.Role)] = true
		s.placedTopics[topics.Name(out.Role)] = out.Placed
	}
	return s
}

func (s *stage[S]) ready() bool { return s.isReady.Load() }

// run runs the stage until ctx is done. A session that fails (a fenced producer, a
// broker gone for longer than the client retries) is closed, its state dropped, and a
// new one started: the committed offsets are the truth, and state is rebuilt from them.
func (s *stage[S]) run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := s.session(ctx, attempt)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, cluster.ErrConfig) {
			return err
		}
		s.log.Error().Err(err).Msg("stage session failed; starting a new one with state rebuilt from the log")
		s.env.Stats.sessionRestarted()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// session runs one group session: a new client, a new processor, and no state.
func (s *stage[S]) session(ctx context.Context, attempt int) error {
	clear(s.parts)
	s.mu.Lock()
	clear(s.assigned)
	clear(s.revoked)
	s.mu.Unlock()
	proc, err := s.newProcessor(s.env)
	if err != nil {
		return fmt.Errorf("%w: %w", cluster.ErrConfig, err)
	}
	s.proc = proc

	sess, err := s.client(attempt)
	if err != nil {
		return err
	}
	// A graceful stop has stopBudget from the moment ctx ends: finishing the batch in
	// hand may take most of it, leaving the group the rest.
	var stopping atomic.Int64
	defer context.AfterFunc(ctx, func() { stopping.Store(time.Now().UnixNano()) })()
	defer s.leave(sess, &stopping)
	if err := s.env.Config.Cluster.Ping(ctx, sess.Client()); err != nil {
		return err
	}
	s.log.Info().Str("group", s.Group).Strs("topics", s.topics).Msg("stage started")

	adm := kadm.NewClient(sess.Client())
	for {
		fetches, stopped, err := s.poll(ctx, sess, adm)
		if err != nil || stopped {
			return err
		}
		// The batch in hand is finished and committed even if ctx ends meanwhile, within
		// a bound: that is what a graceful stop promises. Should the broker not answer,
		// the transaction is given up (uncommitted, so nothing is lost) batchBudget after
		// ctx ends, and the next owner handles the batch.
		work, cancelWork := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		stopWork := context.AfterFunc(ctx, func() { time.AfterFunc(batchBudget, cancelWork) })
		committed, touched, err := s.transact(work, sess, adm, fetches)
		stopWork()
		cancelWork()
		if ctx.Err() != nil && err != nil {
			s.log.Warn().Err(err).Msg("stopping with the batch in hand unfinished; it will be handled again")
			return nil
		}
		if err != nil {
			return err
		}
		if !committed {
			s.aborted(touched)
		}
	}
}

// client makes the session's transactional group client.
func (s *stage[S]) client(attempt int) (*kgo.GroupTransactSession, error) {
	cfg := s.env.Config
	opts, err := cfg.Cluster.Opts(s.log)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumerGroup(s.Group),
		kgo.ConsumeTopics(s.topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.TransactionalID(fmt.Sprintf("%s-%s-%d", s.Group, cfg.instance(), attempt)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.RebalanceTimeout(30*time.Second),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.FetchMaxWait(s.PollWait),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.FetchMaxPartitionBytes),
		kgo.WithPools(&s.records),
		kgo.RecordPartitioner(partitioner{placed: s.placedTopics, keyed: kgo.StickyKeyPartitioner(nil)}),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onRevoked),
	)
	if cfg.ClientHooks != nil {
		opts = append(opts, kgo.WithHooks(cfg.ClientHooks(s.Name)...))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", cluster.ErrConfig, err)
	}
	return sess, nil
}

// leave closes the session, leaving the group, so the partitions move at once rather
// than after a session timeout. If the broker does not answer, the process goes anyway:
// the group notices at its session timeout, and the open transaction is aborted at its
// own.
func (s *stage[S]) leave(sess *kgo.GroupTransactSession, stopping *atomic.Int64) {
	left := stopBudget
	if t := stopping.Load(); t != 0 {
		left = max(500*time.Millisecond, stopBudget-time.Since(time.Unix(0, t)))
	}
	closed := make(chan struct{})
	go func() { sess.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(left):
		s.log.Warn().Dur("waited", left).Msg("leaving the group took too long; stopping anyway")
	}
}

// poll waits up to PollWait for records, and brings the partitions owned up to date with
// the group's assignment. It reports whether the stage stopped while it waited: once
// records are in hand, a stop lets their transaction finish.
func (s *stage[S]) poll(ctx context.Context, sess *kgo.GroupTransactSession, adm *kadm.Client) (kgo.Fetches, bool, error) {
	pollCtx, cancel := context.WithTimeout(ctx, s.PollWait)
	fetches := sess.PollRecords(pollCtx, s.env.Config.MaxBatch)
	cancel()
	if ctx.Err() != nil {
		return nil, true, nil
	}
	if fetches.IsClientClosed() {
		return nil, false, errors.New("client closed")
	}
	fetches.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		s.log.Warn().Str("topic", t).Int32("partition", p).Err(err).Msg("fetch error")
	})
	s.env.Stats.buffered(sess.Client().BufferedFetchRecords(), 0)
	s.dropRevoked()
	s.checkReady(ctx, sess.Client(), adm)
	return fetches, false, nil
}

// aborted forgets the state an aborted transaction changed: its records will be consumed
// again from the last committed offsets, and the state that saw them is rebuilt up to
// there.
func (s *stage[S]) aborted(touched map[tp]bool) {
	for t := range touched {
		delete(s.parts, t)
	}
	if h, ok := s.proc.(Holder[S]); ok {
		h.Release(s.parts)
	}
	s.env.Stats.aborted()
	s.log.Info().Int("partitions", len(touched)).Msg("transaction aborted; rebuilding the partitions it touched")
}
