package ridematch

import (
	"reflect"
	"testing"
)

// TestDefaultTopics: the embedded topics.yaml parses and declares every role once, so
// DefaultTopics cannot panic in a binary that passed its tests.
func TestDefaultTopics(t *testing.T) {
	topics, err := ParseTopics(defaultTopicsYAML)
	if err != nil {
		t.Fatalf("the embedded topics.yaml: %v", err)
	}
	declared := map[Role]int{}
	for _, tp := range topics.Topics {
		declared[tp.Role]++
	}
	for _, r := range roles {
		if declared[r] != 1 {
			t.Errorf("role %s is declared %d times, want once", r, declared[r])
		}
	}
	if len(topics.Topics) != len(roles) {
		t.Errorf("%d topics for %d roles", len(topics.Topics), len(roles))
	}
	if got := DefaultTopics(); !reflect.DeepEqual(got, topics) {
		t.Errorf("DefaultTopics() = %+v, want the embedded file's %+v", got, topics)
	}
}
