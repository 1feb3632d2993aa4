package engine

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestTopologyValidate(t *testing.T) {
	cfg := DefaultConfig()
	topics := cfg.Topics
	// change returns the default topology with one change made to a copy of its stage i.
	change := func(i int, f func(*Stage)) Topology {
		d := DefaultTopology(&cfg)
		s := d.Stages[i]
		s.Inputs = append([]Input(nil), s.Inputs...)
		s.Outputs = append([]Output(nil), s.Outputs...)
		f(&s)
		d.Stages[i] = s
		return d
	}
	fewerDecisions := topics
	fewerDecisions.Topics = append([]ridematch.Topic(nil), topics.Topics...)
	for i := range fewerDecisions.Topics {
		if fewerDecisions.Topics[i].Role == ridematch.RoleDecisionLog {
			fewerDecisions.Topics[i].Partitions = 6
		}
	}
	tests := []struct {
		name   string
		give   Topology
		topics ridematch.Topics
		want   string // in the error; empty: valid
	}{
		{"default", DefaultTopology(&cfg), topics, ""},
		{"router alone", DefaultTopology(&cfg).Only("router"), topics, ""},
		{"empty", Topology{}, topics, "no stages"},
		{"unnamed", change(0, func(s *Stage) { s.Name = "" }), topics, "has no name"},
		{"same name", change(1, func(s *Stage) { s.Name = "router" }), topics, "declared twice"},
		{"same group", change(1, func(s *Stage) { s.Group = cfg.RouterGroup }), topics, "shares its group"},
		{"no group", change(0, func(s *Stage) { s.Group = "" }), topics, "has no group"},
		{"no inputs", change(0, func(s *Stage) { s.Inputs = nil }), topics, "reads no topic"},
		{"no build", change(0, func(s *Stage) { s.Build = nil }), topics, "has no Build"},
		{"no poll wait", change(0, func(s *Stage) { s.PollWait = 0 }), topics, "poll wait"},
		{"unknown input", change(0, func(s *Stage) { s.Inputs[0].Role = "gps" }), topics, `reads "gps"`},
		{"unknown output", change(1, func(s *Stage) { s.Outputs[0].Role = "fares" }), topics, `writes "fares"`},
		{"negative history", change(0, func(s *Stage) { s.Inputs[0].History = -1 }), topics, "negative history"},
		{"preload not written", change(1, func(s *Stage) { s.Outputs = s.Outputs[:2] }), topics, "does not write"},
		{"preload without state", change(1, func(s *Stage) { s.Inputs[0].History = 0 }), topics, "rebuilds no single input"},
		{"preload history", change(1, func(s *Stage) { s.Preload.History = 0 }), topics, "positive preload history"},
		{"preload partitioned apart", DefaultTopology(&cfg), fewerDecisions, "partitioned alike"},
		{"own input not placed", change(1, func(s *Stage) { s.Outputs[3].Placed = false }), topics, "does not place"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.give.Validate(tt.topics)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v, want an error with %q", err, tt.want)
			case tt.want != "" && !errors.Is(err, ErrTopology):
				t.Fatalf("Validate: %v does not wrap ErrTopology", err)
			}
		})
	}
}

// A stage that declares a preload log needs a state that preloads: Build refuses one
// that does not, before any client is made.
func TestBuildRefusesAStateThatCannotPreload(t *testing.T) {
	cfg := DefaultConfig()
	d := DefaultTopology(&cfg).Stages[0]
	d.Preload = Preload{Role: ridematch.RoleDecisionLog, History: 1}
	if _, err := d.Build(&d, Env{Config: &cfg, Stats: &Stats{}}); err == nil || !strings.Contains(err.Error(), "does not preload") {
		t.Fatalf("Build: %v, want a refusal", err)
	}
}

// The default topology prints as testdata/topology.txt (go test -update rewrites it).
func TestTopologyPrint(t *testing.T) {
	cfg := DefaultConfig()
	var b strings.Builder
	if err := DefaultTopology(&cfg).Print(&b, cfg.Topics); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/topology.txt"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
}

// echo is a stage's processor for tests: each record it applies it writes again, to
// the topic named by to.
type echo struct{ to string }

func (e *echo) Open(TopicPartition) (*echo, error)                     { return e, nil }
func (e *echo) Idle(time.Time, map[TopicPartition]*echo, *Outbox) bool { return false }
func (e *echo) Apply(r *kgo.Record, out *Outbox) {
	out.Add(&kgo.Record{Topic: e.to, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)})
}
func (e *echo) Replay(*kgo.Record) {}
func (e *echo) Done()              {}

// TestDeclaredOutputsOnly: a stage of a declared topology runs on the same runner as the
// engine's own, and one that writes to a topic it does not declare stops the engine with
// an error that says so; nothing of its transaction is committed.
func TestDeclaredOutputsOnly(t *testing.T) {
	h := newHarness(t)
	echoTo := func(role ridematch.Role) func(*Config) Topology {
		return func(cfg *Config) Topology {
			return Topology{Stages: []Stage{{
				Name: "router", Group: "echo-" + string(role),
				Inputs:   []Input{{Role: ridematch.RoleRideRequests}},
				Outputs:  []Output{{Role: ridematch.RoleRideMatches}},
				PollWait: 50 * time.Millisecond,
				Build: Build(func(env Env) (Processor[*echo], error) {
					return &echo{to: env.Config.Topics.Name(role)}, nil
				}),
			}}}
		}
	}
	h.produce(h.topics.Name(ridematch.RoleRideRequests), "R1", []byte(`{"event_type":"ride_requested"}`))

	ok := h.start(func(c *Config) { c.Topology, c.RunMatcher = echoTo(ridematch.RoleRideMatches), false })
	if !waitFor(20*time.Second, func() bool { return len(h.readAll(h.topics.Name(ridematch.RoleRideMatches))) == 1 }) {
		t.Fatal("the declared stage wrote nothing to its output")
	}
	ok.stop(t)

	bad := h.start(func(c *Config) { c.Topology, c.RunMatcher = echoTo(ridematch.RoleSurgePricing), false })
	select {
	case <-bad.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a stage writing to an undeclared topic kept running")
	}
	if bad.err == nil || !strings.Contains(bad.err.Error(), "does not declare") {
		t.Fatalf("engine stopped with %v, want an undeclared output named", bad.err)
	}
	if n := len(h.readAll(h.topics.Name(ridematch.RoleSurgePricing))); n != 0 {
		t.Errorf("%d records reached the undeclared topic", n)
	}
}
