// Package ridematch holds the topic declarations every part of ridematch shares: the
// embedded topics.yaml and its parser, and the JSON Schemas of the events on the JSON
// topics. The engine lives in the sub-packages (see README.md).
package ridematch

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed topics.yaml
var defaultTopicsYAML []byte

//go:embed schemas/*/*.json
var schemaFiles embed.FS

// Schemas returns the JSON Schema files embedded in the binary, the schemas/ directory of
// the source tree: the paths a topic's Schemas names are paths in it.
func Schemas() fs.FS {
	sub, err := fs.Sub(schemaFiles, "schemas")
	if err != nil {
		panic("embedded schemas: " + err.Error()) // fs.Sub fails only on an invalid name
	}
	return sub
}

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
	RoleDriverOffers    Role = "driver_offers"
	RoleDriverResponses Role = "driver_responses"
)

var roles = []Role{RoleDriverLocations, RoleRideRequests, RoleRideMatches, RoleSurgePricing, RoleDeadLetter, RoleRegionLog, RoleDecisionLog, RoleDriverOffers, RoleDriverResponses}

// JSON reports whether the topics of role r carry JSON events, each with a schema. The
// dead-letter topic carries records as they came, JSON or not, and the internal logs carry
// binary records: they have none.
func (r Role) JSON() bool {
	switch r {
	case RoleDriverLocations, RoleRideRequests, RoleRideMatches, RoleSurgePricing, RoleDriverOffers, RoleDriverResponses:
		return true
	}
	return false
}

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
	// Schemas names, for each event of a JSON topic, its JSON Schema: a path in Schemas().
	// Two topics may carry events of the same name and different shapes (ride_cancelled),
	// so the schemas are per topic.
	Schemas map[string]string `yaml:"schemas"`
}

// BrokerTimestamps is the Timestamps of a topic whose broker stamps its records.
const BrokerTimestamps = "broker"

// WithProducerTimestamps returns the topics with none stamped by the broker: for a broker
// that cannot (the embedded one), or a load in simulated time.
func (t Topics) WithProducerTimestamps() Topics {
	out := Topics{Topics: make([]Topic, len(t.Topics))}
	copy(out.Topics, t.Topics) // Events and Schemas are shared, and never changed
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

// Validate checks that names are legal Kafka topic names, partitions are positive, every
// role is declared exactly once, and every event of a JSON topic has an embedded schema.
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
		if err := tp.validateSchemas(); err != nil {
			return err
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

// validateSchemas checks that a JSON topic names an embedded schema for each of its
// events and for nothing else, and that any other topic names none.
func (tp Topic) validateSchemas() error {
	if !tp.Role.JSON() {
		if len(tp.Schemas) > 0 {
			return fmt.Errorf("%w: topic %q (role %s) does not carry JSON events: it has no schemas", ErrTopics, tp.Name, tp.Role)
		}
		return nil
	}
	events := map[string]bool{}
	for _, e := range tp.Events {
		path, ok := tp.Schemas[e]
		if !ok {
			return fmt.Errorf("%w: topic %q names no schema for its event %s", ErrTopics, tp.Name, e)
		}
		if !fs.ValidPath(path) {
			return fmt.Errorf("%w: topic %q: schema %q of %s is not a path in schemas/", ErrTopics, tp.Name, path, e)
		}
		if _, err := fs.Stat(Schemas(), path); err != nil {
			return fmt.Errorf("%w: topic %q: schema %q of %s is not one embedded in the binary (schemas/)", ErrTopics, tp.Name, path, e)
		}
		events[e] = true
	}
	for e := range tp.Schemas {
		if !events[e] {
			return fmt.Errorf("%w: topic %q has a schema for %s, which is not one of its events", ErrTopics, tp.Name, e)
		}
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
