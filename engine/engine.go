package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"

	"ridematch"
	"ridematch/cluster"
)

// Engine is one ridematch instance: the router stage, the matcher stage, or both.
type Engine struct {
	cfg   Config
	log   zerolog.Logger
	stats Stats

	mu     sync.Mutex
	stages []*stage
}

// New validates the config and returns an engine ready to Run.
func New(cfg Config, log zerolog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.instance()
	return &Engine{cfg: cfg, log: log}, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Snapshot { return e.stats.Snapshot() }

// Ready reports whether every stage has joined its group and rebuilt the partitions it
// owns: until then, what it answers may wait on a restore.
func (e *Engine) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.stages) == 0 {
		return false
	}
	for _, s := range e.stages {
		if !s.ready.Load() {
			return false
		}
	}
	return true
}

// Run connects, checks the topics, and runs the stages until ctx is done or one fails in
// a way a new session cannot mend (bad settings). It returns nil after a clean stop.
func (e *Engine) Run(ctx context.Context) error {
	n, err := e.checkTopics(ctx)
	if err != nil {
		return err
	}
	regionLog := e.cfg.Topics.Get(ridematch.RoleRegionLog)
	if n != regionLog.Partitions {
		e.log.Warn().Int32("cluster", n).Int32("topics_yaml", regionLog.Partitions).Msg("the region log's partition count differs from topics.yaml; routing by the cluster's")
	}

	var stages []*stage
	if e.cfg.RunRouter {
		inputs := []string{e.cfg.Topics.Name(ridematch.RoleDriverLocations), e.cfg.Topics.Name(ridematch.RoleRideRequests)}
		var m machine = newRouterMachine(&e.cfg, n, &e.stats)
		if e.cfg.Noop {
			m = &noopMachine{regionLog: regionLog.Name, partitions: n, requests: e.cfg.Topics.Name(ridematch.RoleRideRequests)}
		}
		stages = append(stages, newStage("router", e.cfg.RouterGroup, inputs, &e.cfg, e.log, m, &e.stats))
	}
	if e.cfg.RunMatcher {
		var m machine = newMatcherMachine(&e.cfg, &e.stats, e.log.With().Str("stage", "matcher").Logger())
		if e.cfg.Noop {
			m = &noopMachine{matches: e.cfg.Topics.Name(ridematch.RoleRideMatches)}
		}
		stages = append(stages, newStage("matcher", e.cfg.MatcherGroup, []string{regionLog.Name}, &e.cfg, e.log, m, &e.stats))
	}
	e.mu.Lock()
	e.stages = stages
	e.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, s := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.run(ctx); err != nil {
				once.Do(func() { first = fmt.Errorf("%s stage: %w", s.name, err) })
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}

// checkTopics checks that every topic exists and that the decision log is partitioned like
// the region log, and returns the region log's partition count.
func (e *Engine) checkTopics(ctx context.Context) (int32, error) {
	cl, err := cluster.Connect(ctx, e.cfg.Cluster, e.log)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	counts := map[ridematch.Role]int32{}
	for _, t := range e.cfg.Topics.Topics {
		if counts[t.Role], err = cluster.Partitions(ctx, cl, t.Name); err != nil {
			return 0, err
		}
	}
	n, d := counts[ridematch.RoleRegionLog], counts[ridematch.RoleDecisionLog]
	if n != d {
		return 0, fmt.Errorf("the decision log has %d partitions and the region log %d: they must match", d, n)
	}
	return n, nil
}
