package engine

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"ridematch"
	"ridematch/matcher"
	"ridematch/router"
)

// Topology is the stages an engine runs: which group each is, which topics it reads and
// writes, and how its partitions' state is rebuilt. It is data: Validate checks it
// against the topics, and `ridematch topics --topology` prints it.
type Topology struct {
	Stages []Stage
}

// Stage declares one stage: a consumer group whose members each run the states of the
// input partitions assigned to them, in transactions that consume, produce and commit
// together.
type Stage struct {
	Name  string
	Group string
	// Inputs are the topics the group consumes.
	Inputs []Input
	// Outputs are the topics the stage writes; writing to any other is a bug, and stops
	// the engine.
	Outputs []Output
	// Preload, if set, is a log of the stage's own that a partition being rebuilt reads
	// before its replay: its partition of the same number as the input's.
	Preload Preload
	// PollWait bounds how long a poll waits for records before Idle must run.
	PollWait time.Duration
	// Build makes the stage's runner (see Build).
	Build func(*Stage, Env) (Runner, error)
}

// Input is a topic a stage consumes.
type Input struct {
	Role ridematch.Role
	// History is how much of a partition's log, before the first record to handle, a
	// newly assigned partition's state is rebuilt from (0: it keeps no state).
	History time.Duration
}

// Output is a topic a stage writes.
type Output struct {
	Role ridematch.Role
	// Placed: the stage chooses each record's partition (the region and decision logs).
	// Otherwise records are placed by key, as Kafka's default partitioner places them.
	Placed bool
}

// Preload is a log read before a replay (see Preloader).
type Preload struct {
	Role ridematch.Role
	// History is how much of it to read, back from the first record to handle.
	History time.Duration
}

// DefaultTopology is ridematch's dispatch: the router reads the driver locations and
// ride requests and writes each event, timed, into the region log, partitioned by H3
// region; the matcher runs one state machine per region-log partition and writes the
// outcomes, surge prices and its decisions.
func DefaultTopology(cfg *Config) Topology {
	// Caches a new session keeps: the cell outlines the routers make, and what the
	// matcher's partitions share.
	routers, shared := router.NewShared(cfg.Router), matcher.NewShared()
	return Topology{Stages: []Stage{
		{
			Name:  "router",
			Group: cfg.RouterGroup,
			Inputs: []Input{
				{Role: ridematch.RoleDriverLocations, History: cfg.Router.History()},
				{Role: ridematch.RoleRideRequests},
				{Role: ridematch.RoleDriverResponses},
			},
			Outputs:  []Output{{Role: ridematch.RoleRegionLog, Placed: true}, {Role: ridematch.RoleDeadLetter}},
			PollWait: cfg.TickInterval,
			Build: Build(func(env Env) (Processor[*routerState], error) {
				return newRouterProcessor(env, routers)
			}),
		},
		{
			Name:   "matcher",
			Group:  cfg.MatcherGroup,
			Inputs: []Input{{Role: ridematch.RoleRegionLog, History: cfg.Matcher.History()}},
			Outputs: []Output{
				{Role: ridematch.RoleRideMatches}, {Role: ridematch.RoleSurgePricing},
				{Role: ridematch.RoleDecisionLog, Placed: true}, {Role: ridematch.RoleRegionLog, Placed: true},
				{Role: ridematch.RoleDeadLetter}, {Role: ridematch.RoleDriverOffers},
			},
			Preload:  Preload{Role: ridematch.RoleDecisionLog, History: cfg.Matcher.DecisionHistory()},
			PollWait: 250 * time.Millisecond,
			Build: Build(func(env Env) (Processor[*matcherState], error) {
				return newMatcherProcessor(env, shared)
			}),
		},
	}}
}

// ErrTopology is wrapped by every error about a topology.
var ErrTopology = errors.New("invalid topology")

func errStage(name, format string, args ...any) error {
	return fmt.Errorf("%w: stage %q %s", ErrTopology, name, fmt.Sprintf(format, args...))
}

// Validate checks the topology against the topics: every stage named and grouped apart,
// every role it uses declared, its state rebuilt from an input it reads, and a preload
// log that it writes itself, partitioned like the input whose state it rebuilds.
func (t Topology) Validate(topics ridematch.Topics) error {
	if len(t.Stages) == 0 {
		return fmt.Errorf("%w: no stages", ErrTopology)
	}
	names, groups := map[string]bool{}, map[string]bool{}
	declared := func(r ridematch.Role) bool { return topics.Get(r).Name != "" }
	for i := range t.Stages {
		s := &t.Stages[i]
		switch {
		case s.Name == "":
			return fmt.Errorf("%w: stage %d has no name", ErrTopology, i+1)
		case names[s.Name]:
			return errStage(s.Name, "is declared twice")
		case s.Group == "":
			return errStage(s.Name, "has no group")
		case groups[s.Group]:
			return errStage(s.Name, "shares its group %q with another stage", s.Group)
		case len(s.Inputs) == 0:
			return errStage(s.Name, "reads no topic")
		case s.PollWait <= 0:
			return errStage(s.Name, "needs a positive poll wait")
		case s.Build == nil:
			return errStage(s.Name, "has no Build")
		}
		names[s.Name], groups[s.Group] = true, true
		stateful := ridematch.Role("")
		for _, in := range s.Inputs {
			switch {
			case !declared(in.Role):
				return errStage(s.Name, "reads %q, which no topic has as its role", in.Role)
			case in.History < 0:
				return errStage(s.Name, "has a negative history for %q", in.Role)
			case s.writes(in.Role) && !s.placed(in.Role):
				return errStage(s.Name, "reads and writes %q but does not place what it writes", in.Role)
			}
			if in.History > 0 {
				stateful = in.Role
			}
		}
		for _, out := range s.Outputs {
			if !declared(out.Role) {
				return errStage(s.Name, "writes %q, which no topic has as its role", out.Role)
			}
		}
		if p := s.Preload; p.Role != "" {
			switch {
			case !s.writes(p.Role) || !s.placed(p.Role):
				return errStage(s.Name, "preloads %q, which it does not write to partitions of its own choosing", p.Role)
			case stateful == "" || len(s.Inputs) != 1:
				return errStage(s.Name, "preloads %q but rebuilds no single input's state", p.Role)
			case topics.Get(p.Role).Partitions != topics.Get(stateful).Partitions:
				return errStage(s.Name, "preloads %s (%d partitions) for %s (%d): they must be partitioned alike",
					topics.Name(p.Role), topics.Get(p.Role).Partitions, topics.Name(stateful), topics.Get(stateful).Partitions)
			case p.History <= 0:
				return errStage(s.Name, "needs a positive preload history")
			}
		}
	}
	return nil
}

func (s *Stage) writes(r ridematch.Role) bool {
	return slices.ContainsFunc(s.Outputs, func(o Output) bool { return o.Role == r })
}

func (s *Stage) placed(r ridematch.Role) bool {
	return slices.ContainsFunc(s.Outputs, func(o Output) bool { return o.Role == r && o.Placed })
}

// input returns the declaration of the input topic named topic.
func (s *Stage) input(topics ridematch.Topics, topic string) Input {
	for _, in := range s.Inputs {
		if topics.Name(in.Role) == topic {
			return in
		}
	}
	return Input{}
}

// Only returns the topology with only the named stages, in their order.
func (t Topology) Only(names ...string) Topology {
	var out Topology
	for _, s := range t.Stages {
		if slices.Contains(names, s.Name) {
			out.Stages = append(out.Stages, s)
		}
	}
	return out
}

// Print writes the topology as a reader would draw it: each stage, its group, what it
// reads and writes, and how its state is rebuilt.
func (t Topology) Print(w io.Writer, topics ridematch.Topics) error {
	var b strings.Builder
	topic := func(r ridematch.Role) string {
		tp := topics.Get(r)
		return fmt.Sprintf("%s (%s, %d partitions)", tp.Name, r, tp.Partitions)
	}
	for i, s := range t.Stages {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "stage %s, group %s\n", s.Name, s.Group)
		for _, in := range s.Inputs {
			fmt.Fprintf(&b, "  reads    %s", topic(in.Role))
			if in.History > 0 {
				fmt.Fprintf(&b, ": state rebuilt from its last %s", in.History)
			}
			b.WriteByte('\n')
		}
		if p := s.Preload; p.Role != "" {
			fmt.Fprintf(&b, "  preloads %s: its last %s, before a rebuild\n", topic(p.Role), p.History)
		}
		for _, out := range s.Outputs {
			fmt.Fprintf(&b, "  writes   %s", topic(out.Role))
			if out.Placed {
				b.WriteString(", partition chosen by the stage")
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
