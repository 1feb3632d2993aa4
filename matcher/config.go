package matcher

import (
	"errors"
	"fmt"
	"time"

	"ridematch/geo"
	"ridematch/surge"
)

// Weights are the reference's scoring weights:
// score = Base - DistancePerKM*km + Rating*(rating-RatingPivot) + Compatible*[compatible].
type Weights struct {
	Base          float64 // default 100
	DistancePerKM float64 // default 10
	Rating        float64 // default 20
	RatingPivot   float64 // default 4.0
	Compatible    float64 // default 15
}

// Config holds every setting of a partition's state machine. DefaultConfig gives the
// defaults; the flags of `ridematch match` map onto these fields one to one.
type Config struct {
	// MaxPickupKM is how far a driver may be from the pickup (default 3.0).
	MaxPickupKM float64
	// DriverTTL is how long a driver's last update keeps it matchable (default 30s).
	DriverTTL time.Duration
	// RequestTTL is how long an unmatched request waits for a driver, in log time from
	// when the engine received it (never from the device's request_time), before it ends
	// ride_unmatched (default 30s).
	RequestTTL time.Duration
	// ReservationTimeout releases a matched driver whose own updates never showed it busy
	// (default 60s).
	ReservationTimeout time.Duration
	// SoftCompatibility makes vehicle compatibility the reference's +15 bonus instead of a
	// hard filter (default false: a prime ride never gets a hatchback).
	SoftCompatibility bool
	// Weights are the scoring weights.
	Weights Weights
	// SpeedKMH is the ETA's average city speed (default 25, the reference's Mumbai speed).
	SpeedKMH float64
	// PeakFactor scales the speed in the pickup's local peak hours, 8-11 and 17-21
	// inclusive as in the reference (default 0.6).
	PeakFactor float64
	// PickupBufferMin is added to every ETA (default 5: the middle of the reference's
	// random 2-8 minutes, made fixed so the same input gives the same ETA).
	PickupBufferMin int
	// BaseFare and PerKM price a trip before surge (defaults 50 and 12).
	BaseFare, PerKM float64
	// RetryInterval is how often waiting requests are searched for again, on event-time
	// boundaries (default 250ms).
	RetryInterval time.Duration
	// SweepInterval is how often expired reservations are released and silent drivers
	// forgotten (default 1s).
	SweepInterval time.Duration
	// ForgetAfter drops a driver silent for this long (default 2m).
	ForgetAfter time.Duration
	// DedupWindow is how long request ids are remembered, so a duplicate request gets no
	// second outcome (default 10m).
	DedupWindow time.Duration
	// CancelHold is how long a cancel for a request not seen yet is kept, in log time, so
	// that the request, should it come after its cancel, ends ride_cancelled (default 10s;
	// 0 keeps none).
	CancelHold time.Duration
	// Resolutions are the H3 resolutions of the index, surge cells and regions.
	Resolutions geo.Resolutions
	// Surge configures pricing.
	Surge surge.Config
	// Assignment is how waiting requests get drivers (default Adaptive: matched at once
	// unless contested, so as fast as Greedy where drivers are ample and as Batch where
	// requests compete; see doc.go, Assignment).
	Assignment Assignment
	// BatchWindow is how often, in event time, Batch and Adaptive solve the assignment of
	// the requests waiting to the drivers within their reach (default 2s).
	BatchWindow time.Duration
	// BatchRequests caps the requests one window's assignment takes, oldest first; the rest
	// wait for the next (default 2,000). BatchCandidates caps the drivers each request
	// brings to it, its best by score (default 8). Together they bound a window's memory
	// and time.
	BatchRequests, BatchCandidates int
	// OfferTimeout turns driver offers on when positive (default 0, off: a match is final
	// when it is made, as in the reference). The chosen driver is offered the request, held
	// for it, and has OfferTimeout of log time to accept; a decline or silence offers the
	// request to the next best driver (see doc.go, Offers).
	OfferTimeout time.Duration
	// MaxOffers is how many drivers one request is offered to before it ends
	// ride_unmatched (default 3).
	MaxOffers int
}

// Assignment is how waiting requests get drivers.
type Assignment uint8

const (
	// Greedy matches each request to its best driver the moment it is applied, first
	// come, first served; a request with none is searched for again as drivers free up.
	Greedy Assignment = iota
	// Batch lets requests wait for the end of the current window of event time, then
	// gives the window's requests the drivers that make the highest total score.
	Batch
	// Adaptive matches a request at once unless a waiting request could take the driver
	// it would get (it is contested), and lets contested requests wait for the window,
	// as Batch.
	Adaptive
)

var assignmentNames = [...]string{Greedy: "greedy", Batch: "batch", Adaptive: "adaptive"}

func (a Assignment) String() string {
	if int(a) < len(assignmentNames) {
		return assignmentNames[a]
	}
	return fmt.Sprintf("Assignment(%d)", a)
}

// ParseAssignment reads greedy, batch or adaptive.
func ParseAssignment(s string) (Assignment, error) {
	for a, name := range assignmentNames {
		if s == name {
			return Assignment(a), nil
		}
	}
	return 0, fmt.Errorf("unknown assignment %q: use greedy, batch or adaptive", s)
}

// Set, Type and String make an Assignment a command-line flag.
func (a *Assignment) Set(s string) error {
	v, err := ParseAssignment(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

func (a *Assignment) Type() string { return "greedy|batch|adaptive" }

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		MaxPickupKM:        3.0,
		DriverTTL:          30 * time.Second,
		RequestTTL:         30 * time.Second,
		ReservationTimeout: 60 * time.Second,
		Weights:            Weights{Base: 100, DistancePerKM: 10, Rating: 20, RatingPivot: 4.0, Compatible: 15},
		SpeedKMH:           25,
		PeakFactor:         0.6,
		PickupBufferMin:    5,
		BaseFare:           50,
		PerKM:              12,
		RetryInterval:      250 * time.Millisecond,
		SweepInterval:      time.Second,
		ForgetAfter:        2 * time.Minute,
		DedupWindow:        10 * time.Minute,
		CancelHold:         10 * time.Second,
		Resolutions:        geo.DefaultResolutions(),
		Surge:              surge.DefaultConfig(),
		Assignment:         Adaptive,
		BatchWindow:        2 * time.Second,
		BatchRequests:      2000,
		BatchCandidates:    8,
		MaxOffers:          3,
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid matcher config")

// The largest weight and fare Validate takes: far beyond any real setting, small enough
// that a score or a fare of a trip across the globe at the surge cap stays finite.
const (
	maxWeight = 1e6
	maxFare   = 1e6
)

// Validate rejects settings that cannot work together.
func (c Config) Validate() error {
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"driver TTL", c.DriverTTL}, {"request TTL", c.RequestTTL}, {"reservation timeout", c.ReservationTimeout},
		{"retry interval", c.RetryInterval}, {"sweep interval", c.SweepInterval},
		{"forget-after", c.ForgetAfter}, {"dedup window", c.DedupWindow},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return fmt.Errorf("%w: the %s must be positive", ErrConfig, p.name)
		}
	}
	if c.RetryInterval < time.Millisecond || c.SweepInterval < time.Millisecond {
		return fmt.Errorf("%w: the retry and sweep intervals must be at least 1ms", ErrConfig)
	}
	// Every float lands in a score, an ETA or a fare that is written as JSON: each must be
	// finite and of a size that keeps those finite. The search's pruning bound takes the
	// most rating and compatibility can add to be at least zero, so those weights are.
	floats := []struct {
		name   string
		v      float64
		lo, hi float64
	}{
		{"max pickup distance (km)", c.MaxPickupKM, 0.1, 50},
		{"base score", c.Weights.Base, 0, maxWeight},
		{"distance weight (score a km)", c.Weights.DistancePerKM, 0, maxWeight},
		{"rating weight (score a rating point)", c.Weights.Rating, 0, maxWeight},
		{"rating pivot", c.Weights.RatingPivot, 1, 5},
		{"compatible vehicle weight", c.Weights.Compatible, 0, maxWeight},
		{"ETA speed (km/h)", c.SpeedKMH, 1, 300},
		{"peak factor", c.PeakFactor, 0.1, 1},
		{"base fare", c.BaseFare, 0, maxFare},
		{"per-km fare", c.PerKM, 0, maxFare},
	}
	for _, f := range floats {
		if err := geo.InRange(f.name, f.v, f.lo, f.hi); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	switch {
	case c.ForgetAfter < c.DriverTTL:
		return fmt.Errorf("%w: forget-after (%v) must be at least the driver TTL (%v)", ErrConfig, c.ForgetAfter, c.DriverTTL)
	case c.CancelHold < 0 || c.CancelHold > c.DedupWindow:
		return fmt.Errorf("%w: the cancel hold (%v) must be between 0 and the dedup window (%v)", ErrConfig, c.CancelHold, c.DedupWindow)
	case c.DedupWindow < c.RequestTTL:
		return fmt.Errorf("%w: the dedup window (%v) must be at least the request TTL (%v)", ErrConfig, c.DedupWindow, c.RequestTTL)
	case c.PickupBufferMin < 0:
		return fmt.Errorf("%w: the pickup buffer must not be negative", ErrConfig)
	case int(c.Assignment) >= len(assignmentNames):
		return fmt.Errorf("%w: unknown assignment %v", ErrConfig, c.Assignment)
	case c.BatchWindow < 10*time.Millisecond || c.Assignment != Greedy && c.BatchWindow > c.RequestTTL:
		return fmt.Errorf("%w: the batch window (%v) must be between 10ms and the request TTL (%v)", ErrConfig, c.BatchWindow, c.RequestTTL)
	case c.BatchRequests < 1 || c.BatchRequests > 100_000 || c.BatchCandidates < 1 || c.BatchCandidates > 1000:
		return fmt.Errorf("%w: a window takes 1 to 100,000 requests and 1 to 1,000 candidates each", ErrConfig)
	case c.OfferTimeout < 0 || c.OfferTimeout > 0 && (c.OfferTimeout < 100*time.Millisecond || c.OfferTimeout >= c.DriverTTL):
		// A driver silent for the driver TTL starts afresh wherever it reports next, and
		// another partition may own it: no offer may outlast that.
		return fmt.Errorf("%w: the offer timeout (%v) must be 0 (offers off) or at least 100ms and below the driver TTL (%v)", ErrConfig, c.OfferTimeout, c.DriverTTL)
	case c.MaxOffers < 1 || c.MaxOffers > 100:
		return fmt.Errorf("%w: max offers (%d) must be between 1 and 100", ErrConfig, c.MaxOffers)
	}
	if err := c.Resolutions.Validate(); err != nil {
		return err
	}
	return c.Surge.Validate()
}

// History is how much of a partition's region log Replay needs, before the committed
// offset, to rebuild its state: drivers are forgotten ForgetAfter after their last record,
// reservations expire, requests wait at most RequestTTL, and surge depends on its window
// and smoothing. Everything older is in the decision log (see DecisionHistory).
func (c Config) History() time.Duration {
	// A silent driver is forgotten at the first forget boundary after ForgetAfter.
	return max(c.ForgetAfter+forgetEvery*c.SweepInterval, c.ReservationTimeout+c.OfferTimeout, c.RequestTTL+c.OfferTimeout, c.CancelHold+c.SweepInterval, c.Surge.History())
}

// DecisionHistory is how much of the decision log a rebuild reads: History plus the
// DedupWindow, for the requests a duplicate could still name.
func (c Config) DecisionHistory() time.Duration { return c.History() + c.DedupWindow }
