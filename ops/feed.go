package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/fnv"
)

// cityRadiusKM is how far from a city's centre a point still belongs to the city's map.
const cityRadiusKM = 100

// feed reads the committed public topics and keeps what the live map shows: where the
// drivers are, which of them hold an offer, the requests still waiting, recent matches,
// and each cell's surge multiplier. From the same records it measures match latency.
// Everything it holds is bounded (Config.MaxDrivers, MaxPending, RecentMatches,
// RecentWindow).
//
// Its reader goroutines apply records under mu, and a ticker publishes a new generation
// every SnapshotInterval; the HTTP handlers build a city's snapshot of the current
// generation on demand, under the same lock, and cache it until the next.
type feed struct {
	cfg     Config
	log     zerolog.Logger
	latency *prometheus.HistogramVec
	cities  []geo.City
	centers []geo.Point
	// partitions is the region log's partition count, to show which partition owns a region.
	partitions int32
	// start: outcomes stamped before it were read back from history, and their latency
	// is not measured again.
	start time.Time

	drivers, requests, matches, surge, offers string

	// watchedAt is when someone last asked for a snapshot; wake wakes the drivers' reader.
	watchedAt atomic.Int64
	wake      chan struct{}

	mu      sync.Mutex
	seq     uint64
	changed chan struct{}
	status  string // what the reader is doing, for the page
	follow  map[string]*driverPos
	sample  uint32 // drivers followed are those whose id hash is 0 modulo sample, a power of two
	waiting map[string]*pendingRequest
	decided map[string]decidedOutcome // outcomes read before their request
	// offered holds the open driver offers by driver id, offerOf the same by request id:
	// read on driver-offers and not yet ended by the request's outcome, a withdrawal, the
	// request's next offer or the offer's expiry. settled holds the outcomes of offered
	// requests read while none of their offers was open, so that an offer read after its
	// outcome does not open.
	offered map[string]*openOffer
	offerOf map[string]*openOffer
	settled map[string]decidedOutcome
	cells   map[geo.Cell]*surgeCell
	lines   []matchLine   // newest last
	marks   []outcomeMark // newest last
	locator *geo.Locator
	bounds  map[geo.Cell][][2]float64
	cache   map[string][]byte // snapshots of the current generation, by city
}

type driverPos struct {
	hash      uint32
	city      int
	p         geo.Point
	fix       geo.Fix // its cell at the surge resolution
	available bool
	at, moved time.Time // last update, last change of position (wall clock)
	eventTime event.Time
}

type pendingRequest struct {
	city int
	p    geo.Point
	cell geo.Cell
	ts   time.Time // the record's timestamp
	at   time.Time // when it happened, as far as this clock can tell
}

// openOffer is a ride_offered the map has read and not seen end.
type openOffer struct {
	id, request, driver string
	attempt             int
	// expires is its expires_at on the feed's clock: the record's time plus the time the
	// driver was given (expires_at less offer_timestamp, both the engine's log time).
	expires time.Time
}

type decidedOutcome struct {
	kind string
	ts   time.Time
	at   time.Time
}

type surgeCell struct {
	city           int
	multiplier     float64
	demand, supply int
}

type matchLine struct {
	city           int
	driver, pickup geo.Point
	at             time.Time
}

type outcomeMark struct {
	city   int
	region geo.Cell
	kind   string
	at     time.Time
}

func newFeed(cfg Config, log zerolog.Logger, latency *prometheus.HistogramVec) *feed {
	f := &feed{
		cfg:        cfg,
		log:        log,
		latency:    latency,
		cities:     geo.Cities(),
		partitions: cfg.Topics.Get(ridematch.RoleRegionLog).Partitions,
		start:      time.Now(),
		drivers:    cfg.Topics.Name(ridematch.RoleDriverLocations),
		requests:   cfg.Topics.Name(ridematch.RoleRideRequests),
		matches:    cfg.Topics.Name(ridematch.RoleRideMatches),
		surge:      cfg.Topics.Name(ridematch.RoleSurgePricing),
		offers:     cfg.Topics.Name(ridematch.RoleDriverOffers),
		wake:       make(chan struct{}, 1),
		seq:        1,
		changed:    make(chan struct{}),
		status:     "connecting to Kafka",
		follow:     map[string]*driverPos{},
		sample:     1,
		waiting:    map[string]*pendingRequest{},
		decided:    map[string]decidedOutcome{},
		offered:    map[string]*openOffer{},
		offerOf:    map[string]*openOffer{},
		settled:    map[string]decidedOutcome{},
		cells:      map[geo.Cell]*surgeCell{},
		locator:    geo.NewLocator(cfg.Resolutions.Surge),
		bounds:     map[geo.Cell][][2]float64{},
		cache:      map[string][]byte{},
	}
	for _, c := range f.cities {
		f.centers = append(f.centers, c.Center())
	}
	return f
}

// cityOf returns the index of the city p is in, or -1.
func (f *feed) cityOf(p geo.Point) int {
	best, bestKM := -1, float64(cityRadiusKM)
	for i, c := range f.centers {
		if d := geo.DistanceKM(p, c); d < bestKM {
			best, bestKM = i, d
		}
	}
	return best
}

// run reads the topics until ctx is done, and publishes a generation every
// SnapshotInterval. Requests, outcomes and offers are read from PendingTimeout or
// RecentWindow back, surge from SurgeLookback back, always: the match latency is measured
// from them, and offers end on outcomes, read by the same reader.
// Drivers, by far the busiest topic, are read only while someone watches the map (and
// MapIdle after), from DriverTTL back.
func (f *feed) run(ctx context.Context, adm *kadm.Client, opts []kgo.Opt) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		t := time.NewTicker(f.cfg.SnapshotInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				f.tick(now)
			}
		}
	})
	wg.Go(func() {
		now := time.Now()
		back := max(f.cfg.PendingTimeout, f.cfg.RecentWindow)
		f.consume(ctx, adm, opts, true, nil, map[string]time.Time{
			f.requests: now.Add(-back),
			f.matches:  now.Add(-back),
			f.offers:   now.Add(-back),
			f.surge:    now.Add(-f.cfg.SurgeLookback),
		})
	})
	wg.Go(func() {
		for {
			if !f.watched() {
				select {
				case <-ctx.Done():
					return
				case <-f.wake:
				}
				continue
			}
			f.consume(ctx, adm, opts, false, f.watched, map[string]time.Time{f.drivers: time.Now().Add(-f.cfg.DriverTTL)})
			if ctx.Err() != nil {
				return
			}
			// Nobody watches: forget the drivers rather than show stale ones later.
			f.mu.Lock()
			clear(f.follow)
			f.sample = 1
			f.mu.Unlock()
		}
	})
}

// watch notes that someone looks at the map, waking the drivers' reader if it sleeps.
func (f *feed) watch() {
	if !f.watched() {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	f.watchedAt.Store(time.Now().UnixNano())
}

func (f *feed) watched() bool {
	return time.Since(time.Unix(0, f.watchedAt.Load())) < f.cfg.MapIdle
}

// consume reads topics, each from the first record stamped at or after its time, until
// ctx is done or, when while is given, while turns false. The main reader reports what it
// does in the snapshots' status.
func (f *feed) consume(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, main bool, while func() bool, from map[string]time.Time) {
	var offsets map[string]map[int32]kgo.Offset
	for attempt := 0; ; attempt++ {
		var err error
		if offsets, err = partitionsFrom(ctx, adm, from); err == nil {
			break
		}
		if main {
			f.setStatus("waiting for the topics: " + err.Error())
		}
		if attempt%30 == 0 && ctx.Err() == nil {
			f.log.Warn().Err(err).Msg("live map: cannot list the topics yet; retrying")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(offsets),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.FetchMaxBytes(8<<20),
	)...)
	if err != nil {
		f.setStatus("cannot read the topics: " + err.Error())
		f.log.Error().Err(err).Msg("live map: cannot build its reader")
		return
	}
	defer cl.Close()
	if main {
		f.setStatus("reading")
	}
	var lastWarn time.Time
	for {
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollRecords(pollCtx, 5000)
		cancel()
		if ctx.Err() != nil || while != nil && !while() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			if time.Since(lastWarn) > time.Minute {
				lastWarn = time.Now()
				f.log.Warn().Str("topic", t).Int32("partition", p).Err(err).Msg("live map: fetch error")
			}
		})
		if fetches.NumRecords() > 0 {
			wall := time.Now()
			f.mu.Lock()
			fetches.EachRecord(func(r *kgo.Record) { f.apply(r, wall) })
			f.mu.Unlock()
		}
	}
}

// partitionsFrom lists each topic's partitions and returns, for each, the offset of the
// first record stamped at or after the topic's time.
func partitionsFrom(ctx context.Context, adm *kadm.Client, from map[string]time.Time) (map[string]map[int32]kgo.Offset, error) {
	topics := make([]string, 0, len(from))
	for t := range from {
		topics = append(topics, t)
	}
	listed, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]kgo.Offset{}
	for _, t := range topics {
		d, ok := listed[t]
		switch {
		case !ok:
			return nil, fmt.Errorf("topic %s does not exist", t)
		case d.Err != nil:
			return nil, fmt.Errorf("topic %s: %w", t, d.Err)
		}
		out[t] = map[int32]kgo.Offset{}
		for p := range d.Partitions {
			out[t][p] = kgo.NewOffset().AfterMilli(from[t].UnixMilli())
		}
	}
	return out, nil
}

func (f *feed) setStatus(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = s
	clear(f.cache)
}

// apply takes one record; wall is when it was read. Called with mu held.
func (f *feed) apply(r *kgo.Record, wall time.Time) {
	at := r.Timestamp
	if at.After(wall) {
		at = wall // a producer ahead of this clock (a sped-up simulation)
	}
	switch r.Topic {
	case f.drivers:
		f.applyDriver(r, at, wall)
	case f.requests:
		in, err := event.DecodeInput(r.Value)
		if err != nil || in.Kind != event.KindRideRequest {
			return
		}
		f.applyRequest(&in.Request, r.Timestamp, at)
	case f.matches:
		f.applyOutcome(r.Value, r.Timestamp, at)
	case f.surge:
		f.applySurge(r.Value)
	case f.offers:
		f.applyOffer(r.Value, r.Timestamp, at)
	}
}

func (f *feed) applyDriver(r *kgo.Record, at, wall time.Time) {
	// The sample is chosen by the record key, before decoding, so that following a
	// fraction of a busy city costs that fraction.
	h := uint32(fnv.New32().AddBytes(r.Key))
	if len(r.Key) > 0 && h&(f.sample-1) != 0 {
		return
	}
	in, err := event.DecodeInput(r.Value)
	if err != nil || in.Kind != event.KindDriverLocation {
		return
	}
	d := &in.Driver
	if len(r.Key) == 0 {
		if h = uint32(fnv.New32().AddString(d.DriverID)); h&(f.sample-1) != 0 {
			return
		}
	}
	pos := f.follow[d.DriverID]
	if pos == nil {
		city := f.cityOf(d.Location)
		if city < 0 {
			return
		}
		for len(f.follow) >= f.cfg.MaxDrivers {
			f.resample(f.sample * 2)
			if h&(f.sample-1) != 0 {
				return
			}
		}
		pos = &driverPos{hash: h, city: city, p: d.Location, moved: wall}
		f.follow[d.DriverID] = pos
	} else if d.Time <= pos.eventTime {
		return // not newer than the one held, as the router would drop it
	}
	if pos.p != d.Location {
		pos.moved = wall
		if geo.DistanceKM(pos.p, d.Location) > 20 {
			pos.city = f.cityOf(d.Location)
		}
	}
	pos.p, pos.eventTime, pos.at = d.Location, d.Time, at
	pos.available = d.Availability == event.Available
	pos.fix = f.locator.Locate(d.Location, pos.fix)
	if pos.city < 0 {
		delete(f.follow, d.DriverID)
	}
}

// resample changes the sample and forgets the drivers no longer in it.
func (f *feed) resample(sample uint32) {
	f.sample = sample
	for id, d := range f.follow {
		if d.hash&(sample-1) != 0 {
			delete(f.follow, id)
		}
	}
}

func (f *feed) applyRequest(q *event.RideRequest, ts, at time.Time) {
	if o, ok := f.decided[q.RequestID]; ok {
		// The outcome came first: the topics are read side by side, not in order.
		delete(f.decided, q.RequestID)
		f.observe(o.kind, ts, o.ts)
		return
	}
	if _, ok := f.waiting[q.RequestID]; ok {
		return // a duplicate: the engine answers it once
	}
	city := f.cityOf(q.Pickup)
	if city < 0 {
		return
	}
	if len(f.waiting) >= f.cfg.MaxPending {
		f.dropOldest()
	}
	f.waiting[q.RequestID] = &pendingRequest{city: city, p: q.Pickup, cell: geo.CellOf(q.Pickup, f.cfg.Resolutions.Surge), ts: ts, at: at}
}

func (f *feed) dropOldest() {
	var oldest string
	var at time.Time
	for id, p := range f.waiting {
		if oldest == "" || p.at.Before(at) {
			oldest, at = id, p.at
		}
	}
	delete(f.waiting, oldest)
}

func (f *feed) applyOutcome(b []byte, ts, at time.Time) {
	o, err := event.DecodeOutcome(b)
	if err != nil || !o.Final() {
		return
	}
	if x := f.offerOf[o.RequestID]; x != nil {
		f.endOffer(x) // whatever the outcome, the request is done with offers
	} else if bytes.Contains(b, []byte(`"offer`)) { // offer_id or offers: the request was offered
		if len(f.settled) >= f.cfg.MaxPending {
			clear(f.settled)
		}
		f.settled[o.RequestID] = decidedOutcome{kind: o.Type, ts: ts, at: at}
	}
	city, region := -1, geo.Cell(0)
	if q, ok := f.waiting[o.RequestID]; ok {
		delete(f.waiting, o.RequestID)
		f.observe(o.Type, q.ts, ts)
		city, region = q.city, q.cell.Parent(f.cfg.Resolutions.Region)
	} else if _, dup := f.decided[o.RequestID]; !dup {
		if len(f.decided) >= f.cfg.MaxPending {
			clear(f.decided) // the topics are far apart; latencies resume when they are not
		}
		f.decided[o.RequestID] = decidedOutcome{kind: o.Type, ts: ts, at: at}
	}
	// Only a valid pickup places the outcome: a missing one reads as (0,0).
	pickup := o.Pickup.Valid()
	if pickup && city < 0 {
		city = f.cityOf(o.Pickup)
	}
	if c, err := geo.ParseCell(o.H3Cell); err == nil && c.Resolution() >= f.cfg.Resolutions.Region {
		region = c.Parent(f.cfg.Resolutions.Region)
	} else if pickup && region == 0 {
		region = geo.CellOf(o.Pickup, f.cfg.Resolutions.Region)
	}
	if city < 0 {
		return
	}
	f.marks = append(f.marks, outcomeMark{city: city, region: region, kind: o.Type, at: at})
	if o.Type == event.TypeRideMatched && pickup && o.DriverLocation.Valid() {
		f.lines = append(f.lines, matchLine{city: city, driver: o.DriverLocation, pickup: o.Pickup, at: at})
	}
}

// observe measures a request's latency, from its record's timestamp to its outcome's.
// Outcomes read back from before the feed started were measured by whoever ran then.
func (f *feed) observe(kind string, requested, decided time.Time) {
	if f.latency == nil || decided.Before(f.start) || decided.Before(requested) {
		return
	}
	f.latency.WithLabelValues(kind).Observe(decided.Sub(requested).Seconds())
}

func (f *feed) applySurge(b []byte) {
	var s struct {
		Cell       string  `json:"h3_cell"`
		Multiplier float64 `json:"surge_multiplier"`
		Demand     int     `json:"demand"`
		Supply     int     `json:"supply"`
	}
	if json.Unmarshal(b, &s) != nil {
		return
	}
	c, err := geo.ParseCell(s.Cell)
	if err != nil {
		return
	}
	if res := f.cfg.Resolutions.Surge; c.Resolution() > res {
		c = c.Parent(res)
	}
	sc := f.cells[c]
	if sc == nil {
		city := f.cityOf(c.Center())
		if city < 0 {
			return
		}
		sc = &surgeCell{city: city}
		f.cells[c] = sc
	}
	sc.multiplier, sc.demand, sc.supply = s.Multiplier, s.Demand, s.Supply
}

// applyOffer takes a ride_offered or an offer_withdrawn. Offers to one driver come in
// order (driver-offers is keyed by driver id); a request's offers to different drivers
// may not, and the later attempt wins.
func (f *feed) applyOffer(b []byte, ts, at time.Time) {
	var o struct {
		EventType string     `json:"event_type"`
		OfferID   string     `json:"offer_id"`
		RequestID string     `json:"request_id"`
		DriverID  string     `json:"driver_id"`
		Offered   event.Time `json:"offer_timestamp"`
		Expires   event.Time `json:"expires_at"`
		Attempt   int        `json:"attempt"`
	}
	if json.Unmarshal(b, &o) != nil || o.RequestID == "" || o.DriverID == "" {
		return
	}
	switch o.EventType {
	case event.TypeOfferWithdrawn:
		if x := f.offered[o.DriverID]; x != nil && x.id == o.OfferID {
			f.endOffer(x)
		}
	case event.TypeRideOffered:
		if s, ok := f.settled[o.RequestID]; ok && !ts.After(s.ts) {
			return // its request's outcome was read first
		}
		if x := f.offerOf[o.RequestID]; x != nil {
			if x.attempt >= o.Attempt {
				return // an earlier offer of the request, read after a later one
			}
			f.endOffer(x) // declined or expired: the request went on to this driver
		}
		if x := f.offered[o.DriverID]; x != nil {
			f.endOffer(x) // the driver's earlier offer is over
		}
		if len(f.offered) >= f.cfg.MaxPending {
			f.endFirstExpiring()
		}
		x := &openOffer{id: o.OfferID, request: o.RequestID, driver: o.DriverID, attempt: o.Attempt,
			expires: at.Add(max(o.Expires.Sub(o.Offered), 0))}
		f.offered[x.driver], f.offerOf[x.request] = x, x
	}
}

// endOffer forgets an open offer.
func (f *feed) endOffer(x *openOffer) {
	if f.offered[x.driver] == x {
		delete(f.offered, x.driver)
	}
	if f.offerOf[x.request] == x {
		delete(f.offerOf, x.request)
	}
}

// endFirstExpiring forgets the open offer that expires first, to make room.
func (f *feed) endFirstExpiring() {
	var first *openOffer
	for _, x := range f.offered {
		if first == nil || x.expires.Before(first.expires) {
			first = x
		}
	}
	f.endOffer(first)
}

// holdsOffer reports whether a driver holds an offer at now.
func (f *feed) holdsOffer(driver string, now time.Time) bool {
	x := f.offered[driver]
	return x != nil && now.Before(x.expires)
}

// tick forgets what is too old to show and publishes a new generation.
func (f *feed) tick(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, d := range f.follow {
		if now.Sub(d.at) > f.cfg.DriverTTL {
			delete(f.follow, id)
		}
	}
	if f.sample > 1 && len(f.follow) < f.cfg.MaxDrivers/4 {
		f.sample /= 2 // the drivers now in the sample come back at their next update
	}
	for id, q := range f.waiting {
		if now.Sub(q.at) > f.cfg.PendingTimeout {
			delete(f.waiting, id)
		}
	}
	for id, o := range f.decided {
		if now.Sub(o.at) > f.cfg.PendingTimeout {
			delete(f.decided, id)
		}
	}
	for _, x := range f.offered {
		if !now.Before(x.expires) {
			f.endOffer(x)
		}
	}
	for id, o := range f.settled {
		if now.Sub(o.at) > f.cfg.PendingTimeout {
			delete(f.settled, id)
		}
	}
	cut := now.Add(-f.cfg.RecentWindow)
	f.lines = trimBefore(f.lines, func(l matchLine) bool { return l.at.Before(cut) })
	f.marks = trimBefore(f.marks, func(m outcomeMark) bool { return m.at.Before(cut) })
	if len(f.bounds) > 100_000 {
		clear(f.bounds)
	}
	f.seq++
	clear(f.cache)
	close(f.changed)
	f.changed = make(chan struct{})
}

// trimBefore drops the leading elements old reports true for. s is in arrival order,
// which is nearly time order; a straggler is dropped with the next tick.
func trimBefore[T any](s []T, old func(T) bool) []T {
	i := 0
	for i < len(s) && old(s[i]) {
		i++
	}
	if i == 0 {
		return s
	}
	return slices.Clone(s[i:])
}

// wait returns the current generation once it differs from after (newer, or older after
// a restart of this process), or when ctx ends.
func (f *feed) wait(ctx context.Context, after uint64) (uint64, bool) {
	for {
		f.mu.Lock()
		seq, changed := f.seq, f.changed
		f.mu.Unlock()
		if seq != after {
			return seq, true
		}
		select {
		case <-ctx.Done():
			return seq, false
		case <-changed:
		}
	}
}
