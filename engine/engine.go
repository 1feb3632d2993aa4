package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"

	"ridematch"
	"ridematch/cluster"
)

// Engine is one ridematch instance: it runs the stages of its topology (by default the
// router, the matcher, or both), each as a member of its consumer group.
type Engine struct {
	cfg      Config
	topology Topology
	log      zerolog.Logger
	stats    Stats

	mu      sync.Mutex
	runners []Runner
}

// New validates the config and the topology and returns an engine ready to Run.
func New(cfg Config, log zerolog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.instance()
	e := &Engine{cfg: cfg, log: log}
	e.topology = DefaultTopology(&e.cfg)
	if cfg.Topology != nil {
		e.topology = cfg.Topology(&e.cfg)
	}
	var names []string
	if cfg.RunRouter {
		names = append(names, "router")
	}
	if cfg.RunMatcher {
		names = append(names, "matcher")
	}
	e.topology = e.topology.Only(names...)
	if err := e.topology.Validate(cfg.Topics); err != nil {
		return nil, err
	}
	return e, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Snapshot { return e.stats.Snapshot() }

// Ready reports whether every stage has joined its group and rebuilt the partitions it
// owns: until then, what it answers may wait on a restore.
func (e *Engine) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.runners) == 0 {
		return false
	}
	for _, r := range e.runners {
		if !r.ready() {
			return false
		}
	}
	return true
}

// Run connects, checks the topics, and runs the stages until ctx is done or one fails in
// a way a new session cannot mend (bad settings). It returns nil after a clean stop.
func (e *Engine) Run(ctx context.Context) error {
	counts, err := e.checkTopics(ctx)
	if err != nil {
		return err
	}
	regionLog := e.cfg.Topics.Get(ridematch.RoleRegionLog)
	if n := counts[ridematch.RoleRegionLog]; n != regionLog.Partitions {
		e.log.Warn().Int32("cluster", n).Int32("topics_yaml", regionLog.Partitions).Msg("the region log's partition count differs from topics.yaml; routing by the cluster's")
	}
	env := Env{Config: &e.cfg, Partitions: counts, Stats: &e.stats, Log: e.log}
	var runners []Runner
	for i := range e.topology.Stages {
		d := &e.topology.Stages[i]
		r, err := d.Build(d, env)
		if err != nil {
			return err
		}
		runners = append(runners, r)
	}
	e.mu.Lock()
	e.runners = runners
	e.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.run(ctx); err != nil {
				once.Do(func() { first = fmt.Errorf("%s stage: %w", e.topology.Stages[i].Name, err) })
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}

// checkTopics checks that every topic exists and that each preload log is partitioned
// like the input it rebuilds, and returns each topic's partition count.
func (e *Engine) checkTopics(ctx context.Context) (map[ridematch.Role]int32, error) {
	cl, err := cluster.Connect(ctx, e.cfg.Cluster, e.log)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	counts := map[ridematch.Role]int32{}
	for _, t := range e.cfg.Topics.Topics {
		if counts[t.Role], err = cluster.Partitions(ctx, cl, t.Name); err != nil {
			return nil, err
		}
	}
	for _, s := range e.topology.Stages {
		if s.Preload.Role == "" {
			continue
		}
		for _, in := range s.Inputs {
			if in.History > 0 && counts[in.Role] != counts[s.Preload.Role] {
				return nil, fmt.Errorf("%s has %d partitions and %s %d: they must match",
					e.cfg.Topics.Name(s.Preload.Role), counts[s.Preload.Role], e.cfg.Topics.Name(in.Role), counts[in.Role])
			}
		}
	}
	return counts, nil
}
