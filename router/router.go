// Package router is the first stage's pure logic: it validates input records, finds each
// event's H3 region and the region-log partition that owns it, and tracks which
// partition each driver was last sent to, so that a driver crossing between partitions
// hands its ownership over instead of being matchable in both.
package router

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/fnv"
	"ridematch/internal/ids"
)

// Config holds every router setting; DefaultConfig gives the defaults.
type Config struct {
	// Resolutions: the router partitions by the Region resolution.
	Resolutions geo.Resolutions
	// DriverTTL is the silence after which a driver's next update starts a new ownership
	// (default 30s). It must equal the matcher's driver TTL.
	DriverTTL time.Duration
	// MaxRecordBytes refuses larger input records (default 16 KiB; the reference's
	// events are under 600 bytes).
	MaxRecordBytes int
	// MaxFutureSkew refuses events stamped further ahead of their log time (default 30s).
	// Whatever a device says, it never moves the engine's clock; this only keeps out
	// positions and requests from a clock that is plainly wrong.
	MaxFutureSkew time.Duration
	// MaxAge refuses events stamped further behind their log time (default 1h).
	MaxAge time.Duration
	// ReachKM is how far a pickup may be from its driver: the matcher's MaxPickupKM
	// (default 3). A driver's update also goes, as a shadow, to every other partition
	// that owns a region within it (see Halo); 0 sends no shadows, and a request sees only
	// its own partition's drivers.
	ReachKM float64
	// ShadowEvery is how often a shadow is refreshed while the driver moves less than 50 m
	// and nothing else about it changes (default 10s): a shadow's position may be this
	// old, and a claim is checked against the owner's own. A change of availability, owner
	// or shadowing partitions goes out at once. Half the driver TTL, if that is shorter, so
	// that a shadow stays fresh.
	ShadowEvery time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Resolutions:    geo.DefaultResolutions(),
		DriverTTL:      30 * time.Second,
		MaxRecordBytes: 16 << 10,
		MaxFutureSkew:  30 * time.Second,
		MaxAge:         time.Hour,
		ReachKM:        3,
		ShadowEvery:    10 * time.Second,
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid router config")

// Validate rejects settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.DriverTTL <= 0:
		return fmt.Errorf("%w: the driver TTL must be positive", ErrConfig)
	case c.MaxRecordBytes < 256:
		return fmt.Errorf("%w: records of at least 256 bytes must be allowed", ErrConfig)
	case c.MaxFutureSkew < 0 || c.MaxAge <= 0:
		return fmt.Errorf("%w: the allowed clock skews must be positive", ErrConfig)
	case !(c.ReachKM >= 0 && c.ReachKM <= 50):
		return fmt.Errorf("%w: the reach must be between 0 and 50 km", ErrConfig)
	case c.ShadowEvery < 0:
		return fmt.Errorf("%w: the shadow refresh interval must not be negative", ErrConfig)
	}
	return c.Resolutions.Validate()
}

// History is how much of an input partition the router's state depends on, in log time:
// replaying this much before the committed offset rebuilds it.
func (c Config) History() time.Duration { return 2*c.DriverTTL + c.MaxFutureSkew }

// PartitionOf maps a region to a region-log partition: FNV-1a of the cell, modulo n. Every
// router must agree, so n is the region log's partition count, read from the cluster.
func PartitionOf(region geo.Cell, n int32) int32 {
	return int32(uint64(fnv.New64().AddUint64(uint64(region))) % uint64(n))
}

// Source says where an input record came from and when.
type Source struct {
	Topic Input
	// Time is the record's log time: when the broker, or the router itself, says it
	// arrived (or, from trusted producers, when they say it was made). It becomes the
	// region-log record's time, never earlier than the last one this router routed; the
	// event's own timestamp is checked against it. It must be Valid.
	Time event.Time
}

// Input is which input topic a record came from.
type Input uint8

// The input topics.
const (
	DriverLocations Input = iota + 1
	RideRequests
	DriverResponses
)

// inputOf is the input topic an event belongs on.
func inputOf(k event.Kind) Input {
	switch k {
	case event.KindDriverLocation:
		return DriverLocations
	case event.KindOfferResponse:
		return DriverResponses
	}
	return RideRequests
}

// String names the topic as topics.yaml does by default.
func (i Input) String() string {
	switch i {
	case DriverLocations:
		return "driver-locations"
	case RideRequests:
		return "ride-requests"
	case DriverResponses:
		return "driver-responses"
	}
	return "unknown"
}

type lastSeen struct {
	id        ids.ID // zero for a free slot
	partition int32
	at        event.Time // log time of the last update routed
	stamp     event.Time // the device's timestamp on it
	fix       geo.Fix    // the last position's index cell
	halo      HaloSet    // the partitions its shadows last went to
	shadowed  event.Time // log time of the last copy sent to them
	shadowAt  [2]float32 // and the position it gave, latitude and longitude
	avail     event.Availability
}

// Stats counts what the router did.
type Stats struct {
	Drivers      uint64 // valid driver updates
	Requests     uint64 // valid ride requests
	Cancels      uint64 // valid cancels
	Routed       uint64 // records written to the region log
	DeadLettered uint64
	Stale        uint64 // driver updates stamped no later than the last one routed, dropped
	Moves        uint64 // drivers that changed partition
	Geneses      uint64 // drivers (re)appearing after silence
	Shadows      uint64 // shadow records (withdrawals included) among those routed
	Responses    uint64 // valid answers to driver offers
	// UnknownOffers counts the answers, among Responses, whose offer id names no
	// region-log partition: no offer of this engine has it. They are dropped, not
	// dead-lettered: the record is valid.
	UnknownOffers uint64
}

// Router routes the events of one input partition to region-log partitions. For
// driver-locations it keeps where each driver was last sent; the topic is keyed by
// driver_id, so one partition holds all of a driver's updates, in order. Not safe for
// concurrent use: one goroutine owns an input partition.
type Router struct {
	cfg        Config
	partitions int32
	// drivers maps each driver id to its slot in seen; forgotten drivers' slots are
	// reused from free. No object, and no pointer, per driver: see ids.Map. next is
	// where Forget goes on from.
	drivers   ids.Map[int32]
	seen      []lastSeen
	free      []int32
	next      int32
	locator   *geo.Locator
	halo      *Halo
	watermark event.Time
	stats     Stats
	// rec and left are the records passed to emit, reused: a record is only valid during
	// the emit call.
	rec, left event.LogRecord
}

// Shared is what the routers of a process share: caches of geometry that never changes.
// It is safe for concurrent use.
type Shared struct {
	cfg     Config
	locator *geo.Locator
	mu      sync.Mutex
	halos   map[int32]*Halo // by the region log's partition count
}

// NewShared returns the caches for routers of cfg.
func NewShared(cfg Config) *Shared {
	return &Shared{cfg: cfg, locator: geo.NewLocator(cfg.Resolutions.Index), halos: map[int32]*Halo{}}
}

// halo returns the halo for a region log of n partitions.
func (s *Shared) halo(n int32) *Halo {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.halos[n]
	if h == nil {
		h = NewHalo(s.cfg.Resolutions, n, s.cfg.ReachKM)
		s.halos[n] = h
	}
	return h
}

// New returns a Router for one input partition, writing to a region log of n partitions.
// The routers of a process share one Shared, made for the same settings (nil: the router
// makes its own).
func New(cfg Config, n int32, shared *Shared) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: the region log needs at least one partition", ErrConfig)
	}
	if shared == nil {
		shared = NewShared(cfg)
	}
	if shared.cfg.Resolutions != cfg.Resolutions || shared.cfg.ReachKM != cfg.ReachKM {
		return nil, fmt.Errorf("%w: the shared caches were made for other settings", ErrConfig)
	}
	return &Router{cfg: cfg, partitions: n, locator: shared.locator, halo: shared.halo(n)}, nil
}

// Partitions is the region log's partition count.
func (r *Router) Partitions() int32 { return r.partitions }

// Stats returns the counters.
func (r *Router) Stats() Stats { return r.stats }

// Watermark is the log time of the last record routed; zero if none.
func (r *Router) Watermark() event.Time { return r.watermark }

// Drivers is how many drivers the router remembers.
func (r *Router) Drivers() int { return r.drivers.Len() }

// Emit receives the region-log records an input record becomes. rec is valid only during
// the call: the router reuses it.
type Emit func(partition int32, rec *event.LogRecord)

// Route validates one input record and passes what it becomes to emit: nothing (a stale
// driver update, an answer to an unknown offer), one record, two (a driver that changed
// partition: a Left for the old one, an Arrival for the new), or one per partition (a
// cancel). It returns an
// *event.InvalidError for a record that belongs in the dead-letter topic.
func (r *Router) Route(value []byte, src Source, emit Emit) error {
	if len(value) > r.cfg.MaxRecordBytes {
		r.stats.DeadLettered++
		return &event.InvalidError{Reason: event.ReasonOversized, Detail: fmt.Sprintf("%d bytes, more than the %d allowed", len(value), r.cfg.MaxRecordBytes)}
	}
	in, err := event.DecodeInput(value)
	if err == nil {
		err = r.check(&in, src)
	}
	if err != nil {
		r.stats.DeadLettered++
		return err
	}
	r.RouteEvent(&in, src, emit)
	return nil
}

func (r *Router) check(in *event.Input, src Source) error {
	if want := inputOf(in.Kind); want != src.Topic {
		return &event.InvalidError{Reason: event.ReasonWrongTopic, Field: "event_type", Detail: "this event belongs on " + want.String()}
	}
	if !src.Time.Valid() {
		return &event.InvalidError{Reason: event.ReasonBadRecordTime, Detail: fmt.Sprintf("record timestamp %v is outside the years 2000-2099", src.Time)}
	}
	t, log := in.Time(), src.Time
	if ahead := t.Sub(log); ahead > r.cfg.MaxFutureSkew {
		return &event.InvalidError{Reason: event.ReasonFutureTimestamp, Detail: fmt.Sprintf("stamped %v after it arrived, more than the %v allowed", ahead.Round(time.Millisecond), r.cfg.MaxFutureSkew)}
	}
	if behind := log.Sub(t); behind > r.cfg.MaxAge {
		return &event.InvalidError{Reason: event.ReasonStaleTimestamp, Detail: fmt.Sprintf("stamped %v before it arrived, more than the %v allowed", behind.Round(time.Second), r.cfg.MaxAge)}
	}
	return nil
}

// RouteEvent routes an already validated event (replay and benchmarks use it directly).
// Its log time is src.Time, or the last one routed if that is later: log times never go
// back within an input partition.
func (r *Router) RouteEvent(in *event.Input, src Source, emit Emit) {
	at := max(src.Time, r.watermark)
	r.watermark = at
	switch in.Kind {
	case event.KindDriverLocation:
		r.stats.Drivers++
		r.routeDriver(&in.Driver, at, emit)
	case event.KindRideRequest:
		r.stats.Requests++
		cell, _, region := r.cfg.Resolutions.Cells(in.Request.Pickup)
		r.stats.Routed++
		r.rec = event.LogRecord{Kind: event.LogRequest, Time: at, Request: in.Request, Cell: cell}
		emit(PartitionOf(region, r.partitions), &r.rec)
	case event.KindRideCancel:
		r.stats.Cancels++
		r.stats.Routed += uint64(r.partitions)
		for p := int32(0); p < r.partitions; p++ {
			r.rec = event.LogRecord{Kind: event.LogCancel, Time: at, Cancel: in.Cancel}
			emit(p, &r.rec)
		}
	case event.KindOfferResponse:
		// The partition that made the offer holds it, and its id says which. An answer
		// is no news of where its driver is: the driver's routing is left as it was.
		r.stats.Responses++
		p, ok := event.OfferPartition(in.Response.OfferID)
		if !ok || p >= r.partitions {
			r.stats.UnknownOffers++
			return
		}
		r.stats.Routed++
		r.rec = event.LogRecord{Kind: event.LogResponse, Time: at, Response: in.Response}
		emit(p, &r.rec)
	}
}

// routeDriver routes a driver's update, at log time at. The device's timestamps order the
// driver's own updates; silence, which decides when a driver starts afresh, is measured in
// log time, so that no device clock can make a driver new in one partition while another
// still holds it as fresh (see matcher/doc.go, Driver ownership).
func (r *Router) routeDriver(d *event.DriverLocation, at event.Time, emit Emit) {
	slot, known := r.drivers.Get(d.DriverID)
	var last lastSeen
	if known {
		last = r.seen[slot]
	}
	if known && d.Time <= last.stamp {
		r.stats.Stale++
		return
	}
	// The index cell: the matcher indexes the driver by it, and the region is its ancestor.
	fix := r.locator.Locate(d.Location, last.fix)
	cell := fix.Cell
	to := PartitionOf(cell.Parent(r.cfg.Resolutions.Region), r.partitions)
	rec := &r.rec
	*rec = event.LogRecord{Kind: event.LogDriver, Time: at, Driver: *d, Cell: cell}
	switch {
	case !known || at.Sub(last.at) > r.cfg.DriverTTL:
		r.stats.Geneses++
		rec.Route = event.RouteGenesis
	case last.partition != to:
		r.stats.Moves++
		r.stats.Routed++
		r.left = event.LogRecord{Kind: event.LogLeft, Time: at, DriverID: d.DriverID, To: to}
		emit(last.partition, &r.left)
		rec.Route, rec.From = event.RouteArrival, last.partition
	}
	if !known {
		slot = r.add(d.DriverID)
	}
	halo := last.halo
	if !known || fix.Cell != last.fix.Cell {
		halo = r.halo.Of(cell)
	}
	r.stats.Routed++
	emit(to, rec)
	if rec.Route == event.RouteGenesis {
		last = lastSeen{}
	}
	shadowed, shadowAt := last.shadowed, last.shadowAt
	if r.shadow(rec, to, halo, last, emit) {
		shadowed, shadowAt = at, [2]float32{float32(d.Location.Lat), float32(d.Location.Lng)}
	}
	r.seen[slot] = lastSeen{id: r.seen[slot].id, partition: to, at: at, stamp: d.Time, fix: fix, halo: halo, shadowed: shadowed, shadowAt: shadowAt, avail: d.Availability}
}

// shadow sends the shadows of the driver update rec, routed to partition to, and reports
// whether it sent copies: a copy to each partition of halo while the driver is available
// or was (an unavailable shadow needs no news until it is available again), when its
// availability, owner or halo changed, it moved shadowMoveKM, or its shadows are
// ShadowEvery old; and a
// withdrawal (a shadow gone offline) to each partition whose available shadow the halo
// now leaves out. last is what the router held of the driver before (zero if no partition
// can still match it).
func (r *Router) shadow(rec *event.LogRecord, to int32, halo HaloSet, last lastSeen, emit Emit) (copied bool) {
	if halo == 0 && last.halo == 0 {
		return false
	}
	rec.Route, rec.From = event.RouteShadow, to
	now := r.halo.Partitions(halo)
	avail := rec.Driver.Availability
	news := avail != last.avail || to != last.partition || halo != last.halo ||
		rec.Time.Sub(last.shadowed) >= min(r.cfg.ShadowEvery, r.cfg.DriverTTL/2) || movedKM(last.shadowAt, rec.Driver.Location) >= shadowMoveKM
	if news && (avail == event.Available || last.avail == event.Available) {
		for _, p := range now {
			r.stats.Shadows++
			r.stats.Routed++
			emit(p, rec)
		}
		copied = len(now) > 0
	}
	if halo == last.halo || last.avail != event.Available {
		return copied
	}
	rec.Driver.Availability = event.Offline
	for _, p := range r.halo.Partitions(last.halo) {
		if p != to && !slices.Contains(now, p) {
			r.stats.Shadows++
			r.stats.Routed++
			emit(p, rec)
		}
	}
	return copied
}

// shadowMoveKM is how far a driver moves before its shadows hear of it: 50 m, half a
// point of score. With ShadowEvery it keeps shadows a small share of the region log
// (bench.TestShadowShare).
const shadowMoveKM = 0.05

// movedKM is about how far p is from at, a latitude and longitude in float32s: within a
// few metres, over the short distances it is asked about.
func movedKM(at [2]float32, p geo.Point) float64 {
	dy := (p.Lat - float64(at[0])) * 111.2
	dx := (p.Lng - float64(at[1])) * 111.2 * math.Cos(p.Lat*math.Pi/180)
	return math.Sqrt(dx*dx + dy*dy)
}

// Forget drops drivers silent for longer than the router can need them: after
// 2 x DriverTTL plus the future skew, whatever their next update says, it starts a new
// ownership. Engines call it at every tick, so each call looks at a share of the drivers,
// where the last left off, and a driver is dropped within forgetRounds calls of falling
// silent: a router's loop never stops for the whole table.
func (r *Router) Forget() {
	horizon := r.watermark.Add(-r.cfg.History())
	n := min(len(r.seen), max(forgetBatch, len(r.seen)/forgetRounds))
	for range n {
		if r.next >= int32(len(r.seen)) {
			r.next = 0
		}
		s := &r.seen[r.next]
		if s.id != 0 && s.at < horizon {
			r.drivers.Delete(r.drivers.String(s.id))
			*s = lastSeen{}
			r.free = append(r.free, r.next)
		}
		r.next++
	}
	r.drivers.Compact(func(id ids.ID, slot int32) { r.seen[slot].id = id })
}

// A call of Forget looks at forgetBatch drivers, or at a forgetRounds-th of them if more.
const (
	forgetBatch  = 4096
	forgetRounds = 32
)

// add makes room for a new driver and returns its slot.
func (r *Router) add(id string) int32 {
	var slot int32
	if n := len(r.free); n > 0 {
		slot, r.free = r.free[n-1], r.free[:n-1]
	} else {
		slot = int32(len(r.seen))
		r.seen = append(r.seen, lastSeen{})
	}
	r.seen[slot].id = r.drivers.Set(id, slot)
	return slot
}
