// Package surge prices H3 cells by supply and demand: requests in a sliding window per
// cell against the available drivers in it, turned into a capped, stepped and damped
// multiplier that changes only at fixed event-time boundaries.
package surge

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// Config holds every surge setting; DefaultConfig gives the defaults.
type Config struct {
	// Window is how far back requests count as demand (default 5m).
	Window time.Duration
	// Interval is how often multipliers are re-evaluated, on event-time boundaries
	// (default 10s). It must divide Window.
	Interval time.Duration
	// Smoothing is how many evaluations the multiplier averages, the damping that keeps a
	// price from flapping (default 6: a minute at the default interval).
	Smoothing int
	// Threshold is the demand per available driver over the window at which surge starts
	// (default 1.0).
	Threshold float64
	// Sensitivity is how much the multiplier rises per unit of demand per driver above the
	// threshold (default 0.25).
	Sensitivity float64
	// Cap is the highest multiplier (default 3.0).
	Cap float64
	// Step is the multiplier's granularity (default 0.1).
	Step float64
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Window:      5 * time.Minute,
		Interval:    10 * time.Second,
		Smoothing:   6,
		Threshold:   1.0,
		Sensitivity: 0.25,
		Cap:         3.0,
		Step:        0.1,
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid surge config")

// Validate rejects settings that cannot work together.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0 || c.Window < c.Interval || c.Window%c.Interval != 0:
		return fmt.Errorf("%w: the window (%v) must be a positive multiple of the interval (%v)", ErrConfig, c.Window, c.Interval)
	case c.Interval%time.Microsecond != 0:
		return fmt.Errorf("%w: the interval must be whole microseconds", ErrConfig)
	case c.Smoothing < 1:
		return fmt.Errorf("%w: smoothing must be at least 1", ErrConfig)
	}
	// Multipliers are prices riders see: steps of at least a hundredth, at most a hundredfold.
	floats := []struct {
		name   string
		v      float64
		lo, hi float64
	}{
		{"surge cap", c.Cap, 1, 100},
		{"surge step", c.Step, 0.01, 100},
		{"surge threshold (demand a driver)", c.Threshold, 0, 1000},
		{"surge sensitivity", c.Sensitivity, 0, 1000},
	}
	for _, f := range floats {
		if err := geo.InRange(f.name, f.v, f.lo, f.hi); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if c.Step > c.Cap {
		return fmt.Errorf("%w: the surge step (%v) must not be above the cap (%v)", ErrConfig, c.Step, c.Cap)
	}
	return nil
}

// History is how much event time a Pricer's output depends on: a state rebuilt from this
// much of the log prices exactly as one that saw all of it.
func (c Config) History() time.Duration {
	return c.Window + time.Duration(c.Smoothing+1)*c.Interval
}

// Raw is the undamped multiplier for a demand and supply: 1 up to the threshold, then
// rising linearly, capped.
func (c Config) Raw(demand, supply int) float64 {
	ratio := float64(demand) / float64(max(supply, 1))
	return min(c.Cap, 1+c.Sensitivity*max(0, ratio-c.Threshold))
}

// Round steps m to the configured granularity, never below 1 or above the cap.
func (c Config) Round(m float64) float64 {
	steps := math.Round(m/c.Step + 1e-9)
	return min(c.Cap, max(1, math.Round(steps*c.Step*1e6)/1e6))
}

type cell struct {
	demand    []uint32  // requests per interval, a ring indexed by interval number
	raws      []float64 // the last Smoothing raw multipliers, a ring
	next      int       // where the next raw multiplier goes in raws
	published float64
}

// Pricer holds one partition's surge state. It is not safe for concurrent use: one
// goroutine owns a partition.
//
// A cell without state is priced exactly like one whose window is empty and whose last
// Smoothing evaluations were all 1, so forgetting idle cells changes nothing: the state
// is a function of the last History of the log, which is what lets a restored partition
// price exactly like the one it replaces.
type Pricer struct {
	cfg      Config
	buckets  int64
	interval int64 // microseconds
	cells    map[geo.Cell]*cell
	lastEval int64 // interval number last evaluated
}

// Update is one changed multiplier.
type Update struct {
	Cell      geo.Cell
	Previous  float64
	Current   float64
	Demand    int
	Supply    int
	Evaluated event.Time
}

// New returns an empty Pricer.
func New(cfg Config) (*Pricer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Pricer{
		cfg: cfg,
		// One bucket more than the window holds: the one filling now.
		buckets:  int64(cfg.Window/cfg.Interval) + 1,
		interval: int64(cfg.Interval / time.Microsecond),
		cells:    make(map[geo.Cell]*cell),
		lastEval: math.MinInt64,
	}, nil
}

// Config returns the Pricer's configuration.
func (p *Pricer) Config() Config { return p.cfg }

// Multiplier is the cell's published multiplier (1 where nothing was published).
func (p *Pricer) Multiplier(c geo.Cell) float64 {
	if s, ok := p.cells[c]; ok {
		return s.published
	}
	return 1
}

// AddDemand counts one request in cell c at time now. Call Evaluate first whenever Due
// says a boundary has passed, so demand lands in the interval being filled.
func (p *Pricer) AddDemand(c geo.Cell, now event.Time) {
	s := p.cells[c]
	if s == nil {
		s = &cell{demand: make([]uint32, p.buckets), raws: make([]float64, p.cfg.Smoothing), published: 1}
		for i := range s.raws {
			s.raws[i] = 1
		}
		p.cells[c] = s
	}
	s.demand[mod(p.intervalOf(now), p.buckets)]++
}

func (p *Pricer) intervalOf(t event.Time) int64 { return floorDiv(int64(t), p.interval) }

// Due reports whether now has crossed an evaluation boundary since the last Evaluate.
func (p *Pricer) Due(now event.Time) bool { return p.intervalOf(now) > p.lastEval }

// Next is the next evaluation boundary: the earliest time at which Due is true (the
// smallest Time before the first Evaluate).
func (p *Pricer) Next() event.Time {
	if p.lastEval == math.MinInt64 {
		return math.MinInt64
	}
	return event.Time((p.lastEval + 1) * p.interval)
}

// Evaluate re-prices every cell with state as of each interval boundary passed since the
// last call, up to the one at or before now. supply gives a cell's available drivers now.
// Multipliers that changed are passed to emit in cell order, so output is deterministic.
func (p *Pricer) Evaluate(now event.Time, supply func(geo.Cell) int, emit func(Update)) {
	cur := p.intervalOf(now)
	if cur <= p.lastEval {
		return
	}
	first := cur
	if p.lastEval != math.MinInt64 {
		first = p.lastEval + 1
	}
	p.lastEval = cur
	// Boundaries more than Smoothing back no longer affect the average; they only age
	// demand out of the window.
	stale := max(first, cur-int64(p.cfg.Smoothing)+1) - first
	var changed []Update
	for c, s := range p.cells {
		for n := first; n < first+min(stale, p.buckets); n++ {
			s.demand[mod(n, p.buckets)] = 0
		}
		sup := supply(c)
		demand := 0
		for n := first + stale; n <= cur; n++ {
			// The bucket of the interval starting at n last held n-buckets: out of the window.
			s.demand[mod(n, p.buckets)] = 0
			demand = 0
			for _, d := range s.demand {
				demand += int(d)
			}
			s.raws[s.next] = p.cfg.Raw(demand, sup)
			s.next = (s.next + 1) % len(s.raws)
		}
		sum, ones := 0.0, true
		for _, r := range s.raws {
			sum += r
			ones = ones && r == 1
		}
		next := p.cfg.Round(sum / float64(len(s.raws)))
		if next != s.published {
			changed = append(changed, Update{Cell: c, Previous: s.published, Current: next, Demand: demand, Supply: sup, Evaluated: event.Time(cur * p.interval)})
			s.published = next
		}
		if demand == 0 && ones {
			delete(p.cells, c)
		}
	}
	slices.SortFunc(changed, func(a, b Update) int { return cmp.Compare(a.Cell, b.Cell) })
	for _, u := range changed {
		emit(u)
	}
}

// Cells is how many cells hold surge state.
func (p *Pricer) Cells() int { return len(p.cells) }

// Surging is how many cells have a multiplier above 1.
func (p *Pricer) Surging() int {
	n := 0
	for _, s := range p.cells {
		if s.published > 1 {
			n++
		}
	}
	return n
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
