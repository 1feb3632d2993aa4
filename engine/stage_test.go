package engine

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
)

// A partition's state is rebuilt whenever the partition is assigned, whether or not its
// revoke was heard: another member may have handled it meanwhile.
func TestAssignedStateIsRebuilt(t *testing.T) {
	cfg := DefaultConfig()
	s := newStage("router", "g", []string{"in"}, &cfg, zerolog.Nop(), nil, &Stats{})
	kept, regained, revoked := tp{"in", 0}, tp{"in", 1}, tp{"in", 2}
	for _, p := range []tp{kept, regained, revoked} {
		s.parts[p] = &noopMachine{}
	}

	s.onRevoked(context.Background(), nil, map[string][]int32{"in": {2}})
	// Partition 1 comes back without its revoke having been heard.
	s.onAssigned(context.Background(), nil, map[string][]int32{"in": {1}})
	s.dropRevoked()

	for _, tt := range []struct {
		give tp
		want bool
	}{
		{kept, true},
		{regained, false},
		{revoked, false},
	} {
		if _, ok := s.parts[tt.give]; ok != tt.want {
			t.Errorf("partition %d: state kept %v, want %v", tt.give.partition, ok, tt.want)
		}
	}
	if !s.assigned[regained] || s.assigned[revoked] {
		t.Errorf("assigned = %v, want partition 1 and not 2", s.assigned)
	}
}
