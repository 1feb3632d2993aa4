// Package ridematch holds the topic declarations every part of ridematch shares: the
// embedded topics.yaml and its parser. The engine lives in the sub-packages (see README.md).
package ridematch

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed topics.yaml
var defaultTopicsYAML []byte

// Role is what the engine uses a topic for. Each role is declared exactly once.
type Role string

// The roles of topics.yaml.
const (
	RoleDriverLocations Role = "driver_locations"
	RoleRideRequests    Role = "ride_requests"
	RoleRideMatches     Role = "ride_matches"
	RoleSurgePricing    Role = "surge_pricing"
	RoleDeadLetter      Role = "dead_letter"
	RoleRegionLog       Role = "region_log"
	RoleDecisionLog     Role = "decision_log"
)

var roles = []Role{RoleDriverLocations, RoleRideRequests, RoleRideMatches, RoleSurgePricing, RoleDeadLetter, RoleRegionLog, RoleDecisionLog}

// Topic is one topic of topics.yaml.
type Topic struct {
	Name       string        `yaml:"name"`
	Role       Role          `yaml:"role"`
	Partitions int32         `yaml:"partitions"`
	Retention  time.Duration `yaml:"retention"`
	Key        string        `yaml:"key"`
	// Timestamps is who stamps the topic's records: "broker" (LogAppendTime) or, empty,
	// the producer (CreateTime).
	Timestamps string   `yaml:"timestamps"`
	Events     []string `yaml:"events"`
}

// BrokerTimestamps is the Timestamps of a topic whose broker stamps its records.
const BrokerTimestamps = "broker"

// WithProducerTimestamps returns the topics with none stamped by the broker: for a broker
// that cannot (the embedded one), or a load in simulated time.
func (t Topics) WithProducerTimestamps() Topics {
	out := Topics{Topics: make([]Topic, len(t.Topics))}
	copy(out.Topics, t.Topics)
	for i := range out.Topics {
		out.Topics[i].Timestamps = ""
	}
	return out
}

// Topics is the parsed topics.yaml.
type Topics struct {
	Topics []Topic `yaml:"topics"`
}

// ErrTopics is wrapped by every error about a topics file.
var ErrTopics = errors.New("invalid topics file")

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// DefaultTopics returns the topics.yaml embedded in the binary.
func DefaultTopics() Topics {
	t, err := ParseTopics(defaultTopicsYAML)
	if err != nil {
		panic("embedded topics.yaml: " + err.Error()) // caught by TestDefaultTopics
	}
	return t
}

// LoadTopics reads a topics file, or returns the embedded one when path is empty.
func LoadTopics(path string) (Topics, error) {
	if path == "" {
		return DefaultTopics(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Topics{}, fmt.Errorf("%w: %w", ErrTopics, err)
	}
	t, err := ParseTopics(b)
	if err != nil {
		return Topics{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTopics parses and validates a topics file. Unknown fields are errors, so a typo
// does not silently fall back to a default.
func ParseTopics(b []byte) (Topics, error) {
	var t Topics
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return Topics{}, fmt.Errorf("%w: %w", ErrTopics, err)
	}
	return t, t.Validate()
}

// Validate checks that names are legal Kafka topic names, partitions are positive, and
// every role is declared exactly once.
func (t Topics) Validate() error {
	seenRole := map[Role]bool{}
	seenName := map[string]bool{}
	for _, tp := range t.Topics {
		switch {
		case !topicName.MatchString(tp.Name):
			return fmt.Errorf("%w: topic name %q is not a legal Kafka topic name", ErrTopics, tp.Name)
		case seenName[tp.Name]:
			return fmt.Errorf("%w: topic %q is declared twice", ErrTopics, tp.Name)
		case tp.Partitions < 1:
			return fmt.Errorf("%w: topic %q needs at least one partition", ErrTopics, tp.Name)
		case tp.Retention < 0:
			return fmt.Errorf("%w: topic %q has a negative retention", ErrTopics, tp.Name)
		case seenRole[tp.Role]:
			return fmt.Errorf("%w: role %q is declared twice", ErrTopics, tp.Role)
		case tp.Timestamps != "" && tp.Timestamps != BrokerTimestamps:
			return fmt.Errorf("%w: topic %q has timestamps %q: use broker, or leave it out for the producer's", ErrTopics, tp.Name, tp.Timestamps)
		}
		known := false
		for _, r := range roles {
			known = known || r == tp.Role
		}
		if !known {
			return fmt.Errorf("%w: topic %q has unknown role %q", ErrTopics, tp.Name, tp.Role)
		}
		seenRole[tp.Role] = true
		seenName[tp.Name] = true
	}
	for _, r := range roles {
		if !seenRole[r] {
			return fmt.Errorf("%w: no topic has role %q", ErrTopics, r)
		}
	}
	if rl, dl := t.Get(RoleRegionLog), t.Get(RoleDecisionLog); rl.Partitions != dl.Partitions {
		return fmt.Errorf("%w: the decision log (%s) needs as many partitions as the region log (%s)", ErrTopics, dl.Name, rl.Name)
	}
	return nil
}

// Get returns the topic with a role. Validate guarantees there is one.
func (t Topics) Get(r Role) Topic {
	for _, tp := range t.Topics {
		if tp.Role == r {
			return tp
		}
	}
	return Topic{}
}

// Name returns the name of the topic with a role.
func (t Topics) Name(r Role) string { return t.Get(r).Name }
