package ops

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"ridematch"
	"ridematch/cluster"
	"ridematch/engine"
	"ridematch/geo"
)

// Config holds every setting of the operations server. FromEngine fills it from the
// engine's config; the rest are defaults.
type Config struct {
	// Addr is where to serve HTTP, host and port (default 127.0.0.1:8080; port 0 picks
	// a free one). The host must be explicit.
	Addr string
	// Cluster says how the map's readers and the lag poller reach Kafka.
	Cluster cluster.Config
	// Topics names the topics read.
	Topics ridematch.Topics
	// Groups are the consumer groups whose lag is exported (default ridematch-router and
	// ridematch-matcher).
	Groups []string
	// Resolutions are the engine's H3 resolutions: the map draws surge cells and counts
	// per region at them.
	Resolutions geo.Resolutions
	// DriverTTL is how long a driver stays on the map after its last update (default 30s,
	// the engine's).
	DriverTTL time.Duration
	// PendingTimeout is how long a request without an outcome stays on the map (default
	// 1m: twice the engine's request TTL, after which every request has an outcome).
	PendingTimeout time.Duration
	// LagInterval is how often consumer lag is refreshed (default 5s).
	LagInterval time.Duration
	// SnapshotInterval is how often the map's state is published (default 1s).
	SnapshotInterval time.Duration
	// MapIdle is how long after the last look at the map its reader keeps following
	// driver-locations, the busiest topic (default 1m). Requests, outcomes and surge are
	// always read: the match latency comes from them.
	MapIdle time.Duration
	// MaxDrivers bounds the drivers the map follows over all cities (default 20,000).
	// Beyond it the map follows a sample, chosen by driver id, and says so.
	MaxDrivers int
	// MaxPending bounds the requests without an outcome that the map holds (default
	// 50,000); the oldest go first.
	MaxPending int
	// RecentMatches is how many recent matches a city shows as pickup lines (default 300).
	RecentMatches int
	// RecentWindow is how far back the per-region outcome counters and the pickup lines
	// reach (default 5m).
	RecentWindow time.Duration
	// SurgeLookback is how far back surge-pricing is read at start (default 30m): surge
	// events are written only when a multiplier changes, so a cell's price is its last
	// event.
	SurgeLookback time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	cc := cluster.DefaultConfig()
	cc.ClientID = "ridematch-ops"
	return Config{
		Addr:             "127.0.0.1:8080",
		Cluster:          cc,
		Topics:           ridematch.DefaultTopics(),
		Groups:           []string{"ridematch-router", "ridematch-matcher"},
		Resolutions:      geo.DefaultResolutions(),
		DriverTTL:        30 * time.Second,
		PendingTimeout:   time.Minute,
		LagInterval:      5 * time.Second,
		SnapshotInterval: time.Second,
		MapIdle:          time.Minute,
		MaxDrivers:       20_000,
		MaxPending:       50_000,
		RecentMatches:    300,
		RecentWindow:     5 * time.Minute,
		SurgeLookback:    30 * time.Minute,
	}
}

// FromEngine returns the defaults with what the engine's config decides: the cluster,
// the topics, the groups, the resolutions and the TTLs.
func FromEngine(addr string, e engine.Config) Config {
	c := DefaultConfig()
	c.Addr = addr
	c.Cluster = e.Cluster
	c.Cluster.ClientID = "ridematch-ops"
	c.Topics = e.Topics
	c.Groups = nil
	if e.RunRouter {
		c.Groups = append(c.Groups, e.RouterGroup)
	}
	if e.RunMatcher {
		c.Groups = append(c.Groups, e.MatcherGroup)
	}
	c.Resolutions = e.Matcher.Resolutions
	c.DriverTTL = e.Matcher.DriverTTL
	c.PendingTimeout = 2 * e.Matcher.RequestTTL
	return c
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid --http settings")

// Validate rejects settings the server cannot run with.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("%w: %q is not host:port", ErrConfig, c.Addr)
	}
	if host == "" {
		return fmt.Errorf("%w: %q needs an explicit host; use 127.0.0.1 for this machine only", ErrConfig, c.Addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: %q has no valid port", ErrConfig, c.Addr)
	}
	switch {
	case c.DriverTTL <= 0 || c.PendingTimeout <= 0:
		return fmt.Errorf("%w: the driver TTL and pending timeout must be positive", ErrConfig)
	case c.LagInterval < 100*time.Millisecond || c.SnapshotInterval < 100*time.Millisecond:
		return fmt.Errorf("%w: the lag and snapshot intervals must be at least 100ms", ErrConfig)
	case c.MaxDrivers < 1 || c.MaxPending < 1 || c.RecentMatches < 0:
		return fmt.Errorf("%w: the map must hold at least one driver and one request", ErrConfig)
	case c.MapIdle <= 0:
		return fmt.Errorf("%w: the map's idle time must be positive", ErrConfig)
	case c.RecentWindow <= 0 || c.SurgeLookback < 0:
		return fmt.Errorf("%w: the recent window must be positive", ErrConfig)
	}
	if err := c.Resolutions.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c.Topics.Validate()
}
