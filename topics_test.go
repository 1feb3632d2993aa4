package ridematch

import (
	"encoding/json"
	"errors"
	"io/fs"
	"reflect"
	"strings"
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

// TestTopicsSchemas: every event of a JSON topic names an embedded schema, every embedded
// schema is named, and a topics file that gets this wrong is refused.
func TestTopicsSchemas(t *testing.T) {
	named := map[string]bool{}
	for _, tp := range DefaultTopics().Topics {
		for _, e := range tp.Events {
			if path, ok := tp.Schemas[e]; ok {
				named[path] = true
				b, err := fs.ReadFile(Schemas(), path)
				if err != nil {
					t.Fatalf("%s %s: %v", tp.Name, e, err)
				}
				var s struct {
					Schema     string `json:"$schema"`
					Properties struct {
						EventType struct {
							Const string `json:"const"`
						} `json:"event_type"`
					} `json:"properties"`
				}
				if err := json.Unmarshal(b, &s); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.Properties.EventType.Const != e {
					t.Errorf("%s: $schema %q, event_type %q: want draft 2020-12 and %s", path, s.Schema, s.Properties.EventType.Const, e)
				}
			}
		}
	}
	all, err := fs.Glob(Schemas(), "*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 12 {
		t.Errorf("%d schemas embedded (%v), want 12: one per event of each JSON topic", len(all), all)
	}
	for _, path := range all {
		if !named[path] {
			t.Errorf("schemas/%s is embedded but no topic of topics.yaml names it", path)
		}
	}

	base := string(defaultTopicsYAML)
	tests := []struct {
		name string
		old  string // replaced in the embedded topics.yaml by new
		new  string
		want string // in the error
	}{
		{"event without a schema", "      ride_cancelled: ride-requests/ride_cancelled.json\n", "", "names no schema for its event ride_cancelled"},
		{"schema of no event", "      surge_updated: surge-pricing/surge_updated.json\n", "      surge_updated: surge-pricing/surge_updated.json\n      surge_activated: surge-pricing/surge_updated.json\n", "surge_activated, which is not one of its events"},
		{"schema not embedded", "ride-matches/ride_unmatched.json", "ride-matches/ride_expired.json", "not one embedded"},
		{"schema outside schemas/", "ride-matches/ride_unmatched.json", "../topics.yaml", "not a path in schemas/"},
		{"no schemas on a JSON topic", "    schemas:\n      driver_location_update: driver-locations/driver_location_update.json\n", "", "names no schema for its event driver_location_update"},
		{"schemas on the dead-letter topic", "    role: dead_letter\n", "    role: dead_letter\n    schemas: {any: driver-locations/driver_location_update.json}\n", "does not carry JSON events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("topics.yaml has no %q", tt.old)
			}
			_, err := ParseTopics([]byte(strings.Replace(base, tt.old, tt.new, 1)))
			if !errors.Is(err, ErrTopics) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseTopics = %v, want an ErrTopics saying %q", err, tt.want)
			}
		})
	}
}
