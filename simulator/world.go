package simulator

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// The random streams of a seed: one for the riders, one per driver. PCG states this far
// apart never overlap in practice.
const (
	riderStream  = 0x5249_4445_5253 // "RIDERS"
	driverStream = 1 << 48
)

// customers is how many distinct customer ids riders are drawn from.
const customers = 1_000_000

// The reference picks ride types uniformly; this mix leans to the cheaper rides, as
// demand does.
var rideMix = [...]struct {
	r     event.RideType
	share float64
}{{event.Micro, 0.30}, {event.Mini, 0.35}, {event.Prime, 0.15}, {event.AutoRide, 0.20}}

// CancelReason is the reason of every ride_cancelled a simulated rider sends.
const CancelReason = "rider_gave_up_waiting"

// World is the simulated cities: drivers moving and reporting their position, riders
// requesting rides and sometimes cancelling, all in simulated time. It holds no clock and
// does no I/O: Step advances it, Apply tells it what the engine decided. The same Config
// and start give the same events; only Apply changes what follows. A World is not safe
// for concurrent use.
type World struct {
	cfg      Config
	start    event.Time
	now      event.Time
	interval event.Time

	cities  []*city
	cityCum []float64 // city weights, cumulative, for riders

	drivers []*driver
	byID    map[string]*driver
	ring    []*driver // by phase: the order of updates within each GPS interval
	round   int64     // GPS intervals completed
	next    int       // the driver in ring due next

	riders   *rand.Rand
	arrival  float64 // seconds after start of the next request, exact
	requests uint64
	cancels  cancelQueue
	waiting  map[string]struct{} // requests due to cancel that have no outcome yet

	answers   answerQueue         // drivers' answers to offers, due
	answering map[string]struct{} // offers whose answer is due and not withdrawn
	answerSeq uint64

	replay   *Replay // the trip file whose rows are the requests; nil: Poisson arrivals
	replayed int     // its rows requested so far

	counts  Counts
	scratch []float64
	in      event.Input
}

// Counts are what a World has done so far.
type Counts struct {
	GPSUpdates     uint64 // driver_location_update events emitted
	Requests       uint64 // ride_requested events emitted
	Cancels        uint64 // ride_cancelled events emitted
	RidesStarted   uint64 // ride_matched applied to a driver of this world
	RidesCompleted uint64 // rides that reached their drop
	Released       uint64 // match_cancelled that freed a driver
	// Conflicts are ride_matched events for a driver already on another ride: the engine
	// promised never to send one.
	Conflicts uint64
	Busy      int // drivers on a ride now
	Drivers   int

	// Offers are the ride_offered events applied to drivers of this world (see Offer);
	// Accepted and Declined the answers sent, Ignored the offers left to lapse, Withdrawn
	// the answers not sent because the offer was withdrawn first, and Answering the
	// answers still due.
	Offers, Accepted, Declined, Ignored, Withdrawn uint64
	Answering                                      int
}

// NewWorld builds the world for cfg, starting at start (kept to whole milliseconds). With
// cfg.Replay it reads the trip file and builds a replay (see NewReplayWorld).
func NewWorld(cfg Config, start event.Time) (*World, error) {
	if cfg.Replay != "" {
		rp, err := LoadReplay(cfg)
		if err != nil {
			return nil, err
		}
		return NewReplayWorld(cfg, rp, start)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cs, err := cfg.cities()
	if err != nil {
		return nil, err
	}
	cities := make([]*city, len(cs))
	for i, c := range cs {
		cities[i] = newCity(c)
	}
	w := newWorld(cfg, start, cities, split(cfg.Drivers, cs), nil)
	if cfg.Rate > 0 {
		w.arrival = w.riders.ExpFloat64() / cfg.Rate
	}
	return w, nil
}

// newWorld builds a world of cities with drivers[i] drivers in cities[i], each starting
// at origin (nil: near one of its city's places).
func newWorld(cfg Config, start event.Time, cities []*city, drivers []int, origin func(*rand.Rand) geo.Point) *World {
	start -= start % 1000
	w := &World{
		cfg:       cfg,
		start:     start,
		now:       start,
		interval:  event.Time(cfg.GPSInterval / time.Millisecond * 1000),
		byID:      make(map[string]*driver, cfg.Drivers),
		riders:    rand.New(rand.NewPCG(cfg.Seed, riderStream)),
		waiting:   map[string]struct{}{},
		answering: map[string]struct{}{},
		scratch:   make([]float64, 0, 32),
		cities:    cities,
	}
	total := 0.0
	for _, c := range cities {
		total += c.Weight
		w.cityCum = append(w.cityCum, total)
	}
	i := 0
	for ci, n := range drivers {
		for range n {
			id := fmt.Sprintf("DRV-%d-%06d", cfg.Seed, i+1)
			d := newDriver(i, id, w.cities[ci], &w.cfg, start, w.scratch, origin)
			w.drivers = append(w.drivers, d)
			w.byID[id] = d
			i++
		}
	}
	w.ring = slices.Clone(w.drivers)
	slices.SortStableFunc(w.ring, func(a, b *driver) int { return cmp.Compare(a.phase, b.phase) })
	w.counts.Drivers = len(w.drivers)
	return w
}

// split shares n drivers among cities by weight, largest remainders first.
func split(n int, cs []geo.City) []int {
	if len(cs) == 1 {
		return []int{n}
	}
	total := 0.0
	for _, c := range cs {
		total += c.Weight
	}
	out := make([]int, len(cs))
	rem := make([]int, len(cs))
	left := n
	for i, c := range cs {
		out[i] = int(float64(n) * c.Weight / total)
		left -= out[i]
		rem[i] = i
	}
	frac := func(i int) float64 { q := float64(n) * cs[i].Weight / total; return q - math.Floor(q) }
	slices.SortStableFunc(rem, func(a, b int) int { return cmp.Compare(frac(b), frac(a)) })
	for i := 0; left > 0; i, left = i+1, left-1 {
		out[rem[i%len(rem)]]++
	}
	return out
}

// Now is the world's simulated time: the last Step's target.
func (w *World) Now() event.Time { return w.now }

// Start is when the world began, to the millisecond.
func (w *World) Start() event.Time { return w.start }

// Counts returns what the world has done so far.
func (w *World) Counts() Counts { return w.counts }

// DriverIDs lists the world's drivers.
func (w *World) DriverIDs() []string {
	ids := make([]string, len(w.drivers))
	for i, d := range w.drivers {
		ids[i] = d.id
	}
	return ids
}

// Step advances simulated time to to, calling emit with every event due on the way, in
// time order (at one instant: driver updates, then requests, then cancels, then answers
// to offers). The event is
// only valid during the call. Event times are whole milliseconds, so that they equal the
// Kafka record timestamps they travel with.
func (w *World) Step(to event.Time, emit func(*event.Input)) {
	for {
		td, tr, tc, ta := w.nextDriver(), w.nextRequest(), w.nextCancel(), w.nextAnswer()
		t := min(td, tr, tc, ta)
		if t > to || t == math.MaxInt64 {
			break
		}
		switch t {
		case td:
			w.driverUpdate(t, emit)
		case tr:
			w.request(t, emit)
		case tc:
			w.cancel(t, emit)
		default:
			w.answer(t, emit)
		}
	}
	w.now = max(w.now, to)
}

const never = event.Time(math.MaxInt64)

func (w *World) nextDriver() event.Time {
	if len(w.ring) == 0 {
		return never
	}
	return w.start + event.Time(w.round)*w.interval + w.ring[w.next].phase
}

func (w *World) nextRequest() event.Time {
	if w.replay != nil {
		return w.nextReplayed()
	}
	if w.cfg.Rate <= 0 || w.capped() {
		return never
	}
	return w.start + event.Time(math.Floor(w.arrival*1000))*1000
}

func (w *World) nextCancel() event.Time {
	if len(w.cancels) == 0 {
		return never
	}
	return w.cancels[0].t
}

func (w *World) driverUpdate(t event.Time, emit func(*event.Input)) {
	d := w.ring[w.next]
	if w.next++; w.next == len(w.ring) {
		w.next = 0
		w.round++
	}
	if d.advance(t, &w.cfg, w.scratch) {
		w.counts.Busy--
		w.counts.RidesCompleted++
	}
	w.in.Kind = event.KindDriverLocation
	d.update(&w.in.Driver, &w.cfg)
	w.counts.GPSUpdates++
	emit(&w.in)
}

// request emits the next rider's request and schedules the next arrival. It draws the
// same random numbers whatever the engine did, so requests never depend on outcomes.
func (w *World) request(t event.Time, emit func(*event.Input)) {
	if w.replay != nil {
		w.replayRequest(t, emit)
		return
	}
	rng := w.riders
	c := w.cities[0]
	if len(w.cities) > 1 {
		c = w.cities[drawCumulative(w.cityCum, rng)]
	}
	pi := c.place(rng)
	di := c.placeExcept(rng, pi)
	pickup := ring(c.Places[pi].Point, w.cfg.PlaceJitterMinKM, w.cfg.PlaceJitterMaxKM, rng)
	drop := ring(c.Places[di].Point, w.cfg.PlaceJitterMinKM, w.cfg.PlaceJitterMaxKM, rng)
	w.requests++
	r := event.RideRequest{
		RequestID:   fmt.Sprintf("REQ-%d-%09d", w.cfg.Seed, w.requests),
		CustomerID:  fmt.Sprintf("CUST-%d-%07d", w.cfg.Seed, rng.IntN(customers)),
		PickupName:  c.Places[pi].Name,
		DropName:    c.Places[di].Name,
		Pickup:      geo.Point{Lat: round(pickup.Lat, 1e6), Lng: round(pickup.Lng, 1e6)},
		Drop:        geo.Point{Lat: round(drop.Lat, 1e6), Lng: round(drop.Lng, 1e6)},
		Time:        t,
		RideType:    drawRideType(rng),
		EstimatedKM: round(geo.DistanceKM(pickup, drop), 100),
	}
	w.maybeCancel(rng, t, r)
	w.arrival += rng.ExpFloat64() / w.cfg.Rate
	w.in.Kind = event.KindRideRequest
	w.in.Request = r
	w.counts.Requests++
	emit(&w.in)
}

// maybeCancel decides whether the rider of r, requested at t, gives up waiting, and when.
func (w *World) maybeCancel(rng *rand.Rand, t event.Time, r event.RideRequest) {
	if rng.Float64() < w.cfg.CancelRate {
		span := int64((w.cfg.CancelMax - w.cfg.CancelMin) / time.Millisecond)
		delay := w.cfg.CancelMin.Truncate(time.Millisecond) + time.Duration(rng.Int64N(span+1))*time.Millisecond
		heap.Push(&w.cancels, pendingCancel{t: t.Add(delay), seq: w.requests, request: r.RequestID, customer: r.CustomerID})
		w.waiting[r.RequestID] = struct{}{}
	}
}

// capped reports whether the world has made its MaxRequests requests.
func (w *World) capped() bool {
	return w.cfg.MaxRequests > 0 && w.requests >= uint64(w.cfg.MaxRequests)
}

// Done reports whether the world will make no more requests: a replay has sent its last
// row, or MaxRequests have been made. Drivers go on moving.
func (w *World) Done() bool {
	if w.replay != nil {
		return w.replayed >= len(w.replay.trips)
	}
	return w.capped()
}

func drawRideType(rng *rand.Rand) event.RideType {
	x := rng.Float64()
	for _, m := range rideMix {
		if x -= m.share; x < 0 {
			return m.r
		}
	}
	return rideMix[len(rideMix)-1].r
}

// cancel sends a rider's cancel, unless an outcome came first.
func (w *World) cancel(t event.Time, emit func(*event.Input)) {
	pc := heap.Pop(&w.cancels).(pendingCancel)
	if _, ok := w.waiting[pc.request]; !ok {
		return
	}
	delete(w.waiting, pc.request)
	w.in.Kind = event.KindRideCancel
	w.in.Cancel = event.RideCancel{RequestID: pc.request, CustomerID: pc.customer, Time: t, Reason: CancelReason}
	w.counts.Cancels++
	emit(&w.in)
}

// Apply tells the world an outcome the engine sent, at the world's current time: a final
// outcome stops its rider from cancelling; ride_matched sends one of the world's drivers
// to the pickup and then the drop; match_cancelled frees it at once. Outcomes about
// drivers and requests of other worlds are ignored.
func (w *World) Apply(o event.RideOutcome) {
	if o.Final() {
		delete(w.waiting, o.RequestID)
	}
	d := w.byID[o.DriverID]
	if d == nil {
		return
	}
	switch o.Type {
	case event.TypeRideMatched:
		if !o.Pickup.Valid() {
			return
		}
		w.catchUp(d)
		if d.busy() {
			if d.request != o.RequestID {
				w.counts.Conflicts++
			}
			return
		}
		drop := o.Drop
		if !drop.Valid() {
			drop = o.Pickup
		}
		d.match(o.RequestID, o.Pickup, drop, &w.cfg)
		w.counts.Busy++
		w.counts.RidesStarted++
	case event.TypeMatchCancelled:
		w.catchUp(d)
		if !d.busy() || d.request != o.RequestID {
			return
		}
		d.cruise(&w.cfg, w.scratch)
		w.counts.Busy--
		w.counts.Released++
	}
}

// catchUp moves a driver to the world's time, so a reaction starts from where it is.
func (w *World) catchUp(d *driver) {
	if d.advance(w.now, &w.cfg, w.scratch) {
		w.counts.Busy--
		w.counts.RidesCompleted++
	}
}

type pendingCancel struct {
	t        event.Time
	seq      uint64
	request  string
	customer string
}

// cancelQueue is a min-heap of pending cancels by time, then request order.
type cancelQueue []pendingCancel

func (q cancelQueue) Len() int { return len(q) }
func (q cancelQueue) Less(i, j int) bool {
	return q[i].t < q[j].t || (q[i].t == q[j].t && q[i].seq < q[j].seq)
}
func (q cancelQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *cancelQueue) Push(x any)   { *q = append(*q, x.(pendingCancel)) }
func (q *cancelQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
