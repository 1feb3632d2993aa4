package matcher

import (
	"math"
	"time"

	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/ids"
	"ridematch/surge"
)

// Output is something a partition writes: an event for ride-matches or surge-pricing, a
// hand-off record for another partition of the region log, or a decision to record.
type Output struct {
	Event   event.Output     // ride_matched, ride_unmatched, ride_cancelled, match_cancelled, surge_updated
	Handoff *event.LogRecord // a LogToken for partition To
	To      int32
	// Decision is a request's outcome, a LogDecision for the decision log, so that a
	// partition rebuilt from the log can make the same decisions.
	Decision *event.LogRecord
}

// Stats counts what a partition has done. Counters only grow; they are not part of the
// state that determines outputs.
type Stats struct {
	DriverUpdates   uint64 // driver updates applied
	StaleUpdates    uint64 // driver updates older than the one held, ignored
	Requests        uint64 // distinct requests received
	Duplicates      uint64 // requests whose id was already seen, ignored
	Matched         uint64
	Unmatched       uint64
	Cancelled       uint64 // requests cancelled before a match
	MatchCancelled  uint64 // matches cancelled by the rider
	CancelsIgnored  uint64 // cancels for requests this partition does not hold
	Retries         uint64 // searches for waiting requests
	RetriesSkipped  uint64 // retries skipped: no driver written within reach since the last
	TokensSent      uint64
	TokensReceived  uint64
	StrayTokens     uint64 // tokens for a driver arrival this partition was not waiting for
	SurgeUpdates    uint64
	Ticks           uint64 // marks and legacy ticks applied
	ForgotDrivers   uint64
	ReleasedExpired uint64 // reservations released by timeout
	// Late counts router records whose log time had already passed when they came: the
	// partition's clock had moved on with the other input partitions (see doc.go, Time).
	Late uint64
	// HeldCancels counts cancels held for a request not yet seen; CancelledOnArrival the
	// requests such a cancel ended as they came.
	HeldCancels        uint64
	CancelledOnArrival uint64
	// Borders (doc.go): ShadowUpdates counts shadow driver updates applied, Claims the
	// claims this partition sent, StrayAnswers answers to no claim it has open. As the
	// owner, ClaimsGranted and ClaimsRefused count its answers.
	ShadowUpdates uint64
	Claims        uint64
	StrayAnswers  uint64
	ClaimsGranted uint64
	ClaimsRefused uint64
	// Batch windows (doc.go, Assignment): Windows counts the windows closed with requests
	// waiting, Batched the requests a window's assignment matched or claimed, and
	// Contested the requests Adaptive let wait for a window.
	Windows   uint64
	Batched   uint64
	Contested uint64
	// Driver offers (doc.go, Offers): Offers counts the offers this partition made, and
	// OffersAccepted, OffersDeclined, OffersExpired and OffersWithdrawn how they ended;
	// AcceptTimes how long the accepted ones took. Responses counts the drivers' answers
	// applied, and Dropped the answers that changed nothing, by why.
	Offers          uint64
	OffersAccepted  uint64
	OffersDeclined  uint64
	OffersExpired   uint64
	OffersWithdrawn uint64
	AcceptTimes     AcceptTimes
	Responses       uint64
	Dropped         [NDrops]uint64
}

// Drop is why a driver's answer to an offer changed nothing.
type Drop uint8

// Why answers are dropped.
const (
	DropUnknown   Drop = iota // no offer of this partition has the id (or it is long forgotten)
	DropDriver                // the offer is another driver's, or for another request
	DropExpired               // the offer had expired
	DropWithdrawn             // the rider had cancelled: the offer was withdrawn
	DropDuplicate             // the offer was already answered
	NDrops
)

var dropNames = [...]string{DropUnknown: "unknown_offer", DropDriver: "wrong_driver", DropExpired: "expired", DropWithdrawn: "withdrawn", DropDuplicate: "duplicate"}

func (d Drop) String() string { return dropNames[d] }

// AcceptBuckets are the upper bounds of AcceptTimes' buckets.
var AcceptBuckets = [...]time.Duration{
	500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second,
	8 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second,
}

// AcceptTimes is a histogram of the log time from an offer to its accept: Counts[i] the
// accepts within AcceptBuckets[i] and above the bucket before (the last, above them all).
type AcceptTimes struct {
	Counts [len(AcceptBuckets) + 1]uint64
	Sum    time.Duration
}

func (h *AcceptTimes) add(d time.Duration) {
	i := 0
	for i < len(AcceptBuckets) && d > AcceptBuckets[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += d
}

type ownership uint8

const (
	ownUnknown  ownership = iota // created by a token or left record, no position yet
	ownOwned                     // this partition may match the driver
	ownIncoming                  // arrived from another partition; waiting for its token
	ownGone                      // left for another partition with its token
	ownShadow                    // owned by partition owner: may be claimed, never matched here
)

type forward struct {
	at event.Time // when the driver left this partition
	to int32
}

// driver is what a partition knows of a driver. It holds no pointer, so its slabs are not
// scanned by the garbage collector: its id is an ids.ID, and the rare reservation and
// forwards are in maps of the partition's.
type driver struct {
	id       ids.ID
	pos      geo.Point
	cell     geo.Cell      // index cell of pos
	ibucket  bucketRef     // the bucket it is indexed in, when slot >= 0
	ivehicle event.Vehicle // and the vehicle list there
	slot     int32         // its position in that list, -1 when not indexed
	ref      driverRef     // its place in the table
	ts       event.Time
	seen     event.Time // last time any record touched it
	arrival  event.Time // ownIncoming: the arrival whose token we wait for
	owner    int32      // ownShadow: the partition that owns it
	rating   float64
	vehicle  event.Vehicle
	avail    event.Availability
	own      ownership
	located  bool
	queued   bool // in Partition.unindexed
	dropped  bool // forgotten while queued: its place is freed once the queue is done
	reserved bool // holds Partition.reservations[ref]
	// passed: not matched until its next update: a shadow whose owner refused a claim, or
	// a driver that let an offer lapse.
	passed bool
}

type request struct {
	event.RideRequest
	pos      event.Position // of the request's record
	origin   geo.Cell       // index cell of the pickup
	surge    geo.Cell
	deadline event.Time
	finished event.Time
	state    event.Outcome // zero while waiting
	driverID string
	matchID  string
	// A request that claimed a shadow driver waits for the answer (claiming, claim the
	// driver's id), and a cancel meanwhile waits with it (cancel, reason). A request
	// another partition claimed a driver of ours for is remote, priced by its multiplier.
	claiming, cancel, remote bool
	claim, reason            string
	multiplier               float64
	// A remote request's claimant partition, and the offer its claim would make.
	claimant     int32
	claimAttempt int
	// After a search that found no one outside a replay: the index's write count then
	// (zero before), and the areas the search reaches, found at the first retry.
	reach    []areaRef
	searched uint64
	// With driver offers on: the open offer, if any; how many drivers the request has been
	// offered to here (or, for a claimant, through its claims), who they were, none of whom
	// is offered it again, and how the last offer ended (OutcomeDeclined or OutcomeLapsed).
	offer   *offer
	offered int
	tried   []string
	lastEnd event.Outcome
}

// hasTried reports whether the request was offered to the driver with this id.
func (r *request) hasTried(id string) bool {
	for _, t := range r.tried {
		if t == id {
			return true
		}
	}
	return false
}

// Partition is the state machine of one region-log partition. Apply it to the
// partition's records in log order; it reads no clock and no randomness, so the same
// records give the same outputs. It is not safe for concurrent use.
type Partition struct {
	cfg    Config
	id     int32
	shared *Shared

	// clock is the partition's watermark: how far every input partition the routers read
	// is known to have got, in log time. Everything timed happens when the clock passes
	// its moment, at that moment. now is the time of what is being handled: a record's own
	// log time, if later than the clock, or the moment something fell due.
	clock, now event.Time
	// sources are the input partitions the routers' marks name, with their watermarks;
	// group is the router frame being applied, if any, and limit the time its Kafka record
	// says it was written, which bounds the clock of a frame without a mark (see Frame).
	sources map[event.SourceID]*source
	group   group
	limit   event.Time
	marks   uint64 // marks applied: the age of a source silent since its last
	// held are cancels for requests not seen yet, by request id, until they lapse.
	held map[string]heldCancel

	drivers    ids.Map[driverRef] // by id
	shadows    ids.Map[driverRef] // shadows of other partitions' drivers, by id
	index      index
	requests   map[string]*request
	pending    []*request // waiting for a driver, oldest first
	done       []*request // finished, oldest first, remembered for DedupWindow
	reservedBy map[string]*driver
	// offers are the offers made here (doc.go, Offers), open or ended, by id; open holds
	// them until their time to lapse, the next first; ended are the ended ones, remembered
	// for DedupWindow to tell a late or repeated answer; offersMade counts them all.
	offers     map[string]*offer
	open       offerQueue
	ended      []*offer
	offersMade uint64
	// reservations are the reserved drivers', and forwards the lefts recorded for a driver
	// while its token had not arrived yet, by driver.
	reservations map[driverRef]*event.Reservation
	forwards     map[driverRef][]forward
	pricer       *surge.Pricer

	// Housekeeping runs when the clock crosses fixed event-time boundaries, never at times
	// that depend on when it last ran: a state rebuilt from part of the log must run it at
	// the same moments as the state it replaces.
	nextSweep  event.Time
	nextForget event.Time
	nextRetry  event.Time
	nextWindow event.Time // the end of the batch window, unless Greedy
	nextExpiry event.Time // earliest pending deadline, a lower bound

	pos event.Position // of the record being applied

	// replaying is set by Replay: matches come from decided, not from the search.
	replaying bool
	decided   map[DecisionKey]Decision
	// unindexed are the drivers a replay found matchable at some point and left out of
	// the index, which nothing reads while replaying: the first Apply after it indexes
	// them as they then stand, once, rather than on every update replayed.
	unindexed []*driver

	// retryAll searches on every retry, skipping none (the tests compare).
	retryAll bool

	// ranking is the search's scratch space, window a batch window's; batching is set
	// while a window's matches are made.
	ranking  ranking
	window   window
	batching bool

	// Drivers live in table, a slab at a time, forgotten ones' places reused, and their
	// ids in drivers: a few objects per thousand drivers for the garbage collector to
	// mark at each cycle, not two per driver, and no pointer to each (ids.Map).
	table table[driver, driverRef]

	out   []Output
	stats Stats
}

// New returns an empty partition state machine for partition id. The partitions of a
// process should share one Shared; nil makes one for this partition.
func New(cfg Config, id int32, shared *Shared) (*Partition, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pricer, err := surge.New(cfg.Surge)
	if err != nil {
		return nil, err
	}
	if shared == nil {
		shared = NewShared()
	}
	p := &Partition{
		cfg:          cfg,
		id:           id,
		shared:       shared,
		index:        newIndex(shared, cfg.Resolutions.Index),
		requests:     make(map[string]*request),
		reservedBy:   make(map[string]*driver),
		offers:       make(map[string]*offer),
		reservations: make(map[driverRef]*event.Reservation),
		forwards:     make(map[driverRef][]forward),
		pricer:       pricer,
		sources:      make(map[event.SourceID]*source),
		held:         make(map[string]heldCancel),
	}
	p.index.drivers = &p.table
	return p, nil
}

// ID is the partition number.
func (p *Partition) ID() int32 { return p.id }

// Clock is the partition's watermark: the log time up to which it has heard from every
// input partition, and the time up to which everything timed has happened.
func (p *Partition) Clock() event.Time { return p.clock }

// Stats returns the partition's counters.
func (p *Partition) Stats() Stats { return p.stats }

// Drivers is how many drivers the partition holds; Pending how many requests wait.
func (p *Partition) Drivers() int { return p.drivers.Len() }

// Pending is how many requests wait for a driver.
func (p *Partition) Pending() int { return len(p.pending) }

// SurgeCells is how many cells have a multiplier above 1.
func (p *Partition) SurgeCells() int { return p.pricer.Surging() }

// Outputs returns what the records applied since the last call wrote, and forgets them.
// The slice is reused by the next Apply.
func (p *Partition) Outputs() []Output {
	out := p.out
	p.out = p.out[:0]
	return out
}

// Apply applies the region-log record at pos.
func (p *Partition) Apply(r *event.LogRecord, pos event.Position) {
	p.indexReplayed()
	p.pos = pos
	p.apply(r)
}

// indexReplayed indexes the drivers a replay left out of the index.
func (p *Partition) indexReplayed() {
	for _, d := range p.unindexed {
		if d.dropped {
			p.table.release(d.ref)
			continue
		}
		d.queued = false
		p.reindex(d)
	}
	clear(p.unindexed)
	p.unindexed = p.unindexed[:0]
}

// Replay applies a record as Apply did when it was first applied, but makes no choice of
// its own: it makes exactly the matches and claims in decided, by request id, which are
// the Decisions Apply output for this record (Decisions.Add), and writes nothing. The search's
// results depend, through reservations, on all of history; recorded decisions do not, so
// a partition rebuilt by Replay from a bounded span of the log is the one it replaces.
func (p *Partition) Replay(r *event.LogRecord, pos event.Position, decided map[DecisionKey]Decision) {
	p.pos, p.replaying, p.decided = pos, true, decided
	p.apply(r)
	// A match of a request from before the replayed span still reserved its driver.
	for k, dec := range p.decided {
		if d := p.driver(dec.DriverID); d != nil && !d.reserved && !dec.Claim && !dec.Offer {
			p.reserve(d, k.RequestID, matchID(k.RequestID, dec.DriverID, k.At))
		}
	}
	p.replaying, p.decided = false, nil
}

// Remember restores what a decision recorded about a request whose own record comes
// before the replayed span: that it was matched (to whom), unmatched or cancelled, so
// that a duplicate of it gets no outcome and a late cancel finds it. Call it in decision
// log order, before any Replay.
func (p *Partition) Remember(d *event.LogRecord) {
	if d.Outcome == event.OutcomeOffered {
		// Not an outcome: the offer's end, and the request's, are in the replayed span, or
		// were recorded after it. An owner's offer for a claimant records nothing else.
		return
	}
	r := p.requests[d.RequestID]
	if r == nil {
		r = &request{RideRequest: event.RideRequest{RequestID: d.RequestID, CustomerID: d.CustomerID}, pos: d.RequestPosition, finished: d.Time}
		p.requests[d.RequestID] = r
		p.done = append(p.done, r)
	}
	switch d.Outcome {
	case event.OutcomeClaimed:
		// Its answer may still come: it waits for it, as it did.
		r.claiming, r.claim = true, d.DriverID
		return
	}
	r.state, r.claiming = d.Outcome, false
	if r.driverID == "" && (d.Outcome == event.OutcomeMatched || d.Outcome == event.OutcomeMatchCancelled) {
		r.driverID, r.matchID = d.DriverID, matchID(d.RequestID, d.DriverID, d.Time)
	}
}

func (p *Partition) apply(r *event.LogRecord) {
	switch r.Kind {
	case event.LogMark:
		p.mark(r)
		return
	case event.LogToken, event.LogClaim, event.LogAnswer:
		// What another partition wrote: its time is that partition's, which says nothing
		// of how far the routers have got.
		p.now = p.clock
	default:
		p.arrive(r.Time)
	}
	switch r.Kind {
	case event.LogDriver:
		if r.Route == event.RouteShadow {
			p.shadowUpdate(&r.Driver, r.Time, r.From, r.Cell)
			break
		}
		p.driverUpdate(&r.Driver, r.Time, r.Route, r.Cell)
	case event.LogRequest:
		p.request(&r.Request, r.Time, r.Cell)
	case event.LogCancel:
		p.cancel(&r.Cancel)
	case event.LogTick:
		p.stats.Ticks++
	case event.LogLeft:
		p.left(r.DriverID, r.Time, r.To)
	case event.LogToken:
		p.token(r.DriverID, r.Time, r.Reservation)
	case event.LogClaim:
		p.claimed(r)
	case event.LogAnswer:
		p.answered(r)
	case event.LogResponse:
		p.respond(&r.Response)
	}
}

// Frame starts a frame of the region log: the records of one Kafka record, which one
// router (or one matcher, for hand-offs) wrote at written, by its own clock. A router's
// frame opens with a mark; a frame without one is from a matcher, from an engine older
// than marks (Legacy records), or from a caller that applies records one by one. Such a
// frame's router records move the clock to their own time, but never past written: a log
// that an earlier engine wrote with a producer's clock cannot carry a restore past the
// time it was written (see doc.go, Time). Zero written (no frame) bounds nothing.
func (p *Partition) Frame(written event.Time) {
	p.endGroup()
	p.limit = written
}

// source is an input partition as a partition knows it.
type source struct {
	claim    event.Time // its watermark, as marks and merged records have moved it
	lastMark uint64     // the last mark that named it
}

// sourceSilence is how many marks may pass without naming a source before the partition
// stops waiting for it: an input partition no router has named for that long is gone,
// not slow. Counting marks, not time, keeps the rule deterministic and out of reach of
// any clock; routers mark every partition at least every tick, so it is tens of seconds.
const sourceSilence = 1000

// group is the state of a router frame being applied: the records after its mark are in
// log-time order across the sources the mark names (the router merged them), so each one
// moves them all, by at most the mark's slack (see event.LogMark).
type group struct {
	active bool
	slack  time.Duration
	// named is the least claim of the sources the mark named, other the least of the
	// sources it did not, and front the latest log time of the group's records so far.
	named, other, front event.Time
	members             []event.SourceID
}

const never = event.Time(math.MaxInt64)

// low is how far every source is known to have got at the group's front.
func (g *group) low() event.Time { return min(g.other, g.follow(g.named)) }

// follow is where a source of the group that claimed claim stands at the group's front.
func (g *group) follow(claim event.Time) event.Time {
	if claim == never {
		return never
	}
	reach := never // Unbounded
	if g.slack >= 0 {
		reach = claim.Add(g.slack)
	}
	return max(claim, min(g.front, reach))
}

// mark starts a router's group: the mark's claims raise its sources' watermarks, and the
// clock moves to the least watermark of every source.
func (p *Partition) mark(r *event.LogRecord) {
	p.endGroup()
	p.stats.Ticks++
	p.marks++
	g := &p.group
	*g = group{active: true, slack: r.Mark.Slack, named: never, other: never, front: math.MinInt64, members: g.members[:0]}
	for _, m := range r.Mark.Sources {
		if !m.Claim.Valid() {
			continue // no router writes such a claim; it would drag the clock to it
		}
		s := p.sources[m.Source]
		if s == nil {
			s = &source{claim: m.Claim}
			p.sources[m.Source] = s
		}
		s.claim = max(s.claim, m.Claim)
		s.lastMark = p.marks
		g.named = min(g.named, s.claim)
		g.members = append(g.members, m.Source)
	}
	// The order of a map's range reaches nothing here: a minimum, and deletions.
	for id, s := range p.sources {
		switch {
		case s.lastMark == p.marks:
		case p.marks-s.lastMark > sourceSilence:
			delete(p.sources, id)
		default:
			g.other = min(g.other, s.claim)
		}
	}
	if low := g.low(); low != never {
		p.advance(low)
	}
	p.now = p.clock
}

// endGroup folds the group's records into its sources' watermarks.
func (p *Partition) endGroup() {
	g := &p.group
	if !g.active {
		return
	}
	g.active = false
	if g.front == math.MinInt64 {
		return
	}
	for _, id := range g.members {
		if s := p.sources[id]; s != nil {
			s.claim = g.follow(s.claim)
		}
	}
}

// arrive moves the clock for a router record of log time t: in a group, to where every
// source is known to be once t is; outside one, to t itself, bounded by the frame's limit.
// The record is then handled at t, or at the clock if that has passed t.
func (p *Partition) arrive(t event.Time) {
	if g := &p.group; g.active {
		g.front = max(g.front, t)
		if low := g.low(); low != never {
			p.advance(low)
		}
		if t < p.clock {
			p.stats.Late++
		}
		p.now = max(p.clock, t)
		return
	}
	if p.limit != 0 {
		t = min(t, p.limit)
	}
	p.advance(t)
	p.now = p.clock
}

// advance moves the clock to t (never back), doing what falls due on the way at the
// moment it falls due, in a fixed order at each moment: surge boundaries, reservations and
// forgetting, retries, expiry. So what happens depends only on when things were due and on
// the records applied before, never on how the clock was carried there: ticks that come
// often or seldom give the same outputs.
func (p *Partition) advance(t event.Time) {
	if t <= p.clock {
		return
	}
	if p.clock == 0 {
		// The first record: nothing is due before it.
		p.clock, p.now = t, t
		p.due()
		return
	}
	// Past History of silence nothing the partition held is still timed (doc.go,
	// Restore): step through that much, then jump.
	if maxStep := p.cfg.History(); t.Sub(p.clock) > maxStep {
		p.advance(p.clock.Add(maxStep))
		p.clock, p.now = t, t
		p.nextSweep, p.nextForget, p.nextRetry, p.nextWindow = t, t, t, t
		p.due()
		return
	}
	for {
		at := max(p.clock, p.nextDue())
		if at > t {
			break
		}
		p.clock, p.now = at, at
		p.due()
	}
	p.clock, p.now = t, t
}

// nextDue is the next moment something falls due.
func (p *Partition) nextDue() event.Time {
	next := min(p.pricer.Next(), p.nextSweep, p.nextRetry)
	if p.cfg.Assignment != Greedy {
		// Every window boundary, waiting requests or not: a boundary passed by unseen
		// would close the next window at a moment that depends on when requests came.
		next = min(next, p.nextWindow)
	}
	if len(p.pending) > 0 {
		next = min(next, p.nextExpiry)
	}
	if len(p.open) > 0 {
		next = min(next, p.open[0].expires)
	}
	return next
}

// due does what is due at the clock.
func (p *Partition) due() {
	if p.pricer.Due(p.clock) {
		supply := p.supply()
		p.pricer.Evaluate(p.clock, func(c geo.Cell) int { return supply[c] }, p.emitSurge)
	}
	if p.clock >= p.nextSweep {
		p.nextSweep = boundaryAfter(p.clock, p.cfg.SweepInterval)
		p.sweep()
	}
	if p.clock >= p.nextRetry {
		p.nextRetry = boundaryAfter(p.clock, p.cfg.RetryInterval)
		if p.cfg.Assignment == Greedy {
			p.retry()
		}
	}
	if p.cfg.Assignment != Greedy && p.clock >= p.nextWindow {
		p.nextWindow = boundaryAfter(p.clock, p.cfg.BatchWindow)
		p.assignWindow()
	}
	// Offers lapse after the retries and the window of their moment: a request whose offer
	// lapses is searched for again at once, or waits for the next window, so no two steps
	// of one moment decide for it, and a replay makes each decision at its step.
	if len(p.open) > 0 && p.clock >= p.open[0].expires {
		p.lapse()
	}
	if len(p.pending) > 0 && p.clock >= p.nextExpiry {
		p.expire()
	}
}

// push queues an output; a replay's outputs were written when the records were first
// applied, so a replay queues nothing.
func (p *Partition) push(o Output) {
	if !p.replaying {
		p.out = append(p.out, o)
	}
}

func (p *Partition) emit(e event.Output) { p.push(Output{Event: e}) }

func (p *Partition) emitSurge(u surge.Update) {
	p.stats.SurgeUpdates++
	if p.replaying {
		return
	}
	p.emit(&event.SurgeUpdated{
		EventType:       event.TypeSurgeUpdated,
		H3Cell:          u.Cell,
		Resolution:      p.cfg.Resolutions.Surge,
		SurgeMultiplier: u.Current,
		Previous:        u.Previous,
		Demand:          u.Demand,
		Supply:          u.Supply,
		WindowSeconds:   int(p.cfg.Surge.Window.Seconds()),
		Timestamp:       u.Evaluated,
		Center:          u.Cell.Center(),
	})
}

// supply counts matchable fresh drivers per surge cell: those in the index, or in a
// replay those that would be.
func (p *Partition) supply() map[geo.Cell]int {
	counts := make(map[geo.Cell]int)
	for _, r := range p.drivers.All() {
		if d := p.table.at(r); matchable(d) && p.fresh(d) {
			counts[d.cell.Parent(p.cfg.Resolutions.Surge)]++
		}
	}
	return counts
}

// matchable is whether d belongs in the index: the search then checks freshness.
func matchable(d *driver) bool {
	return (d.own == ownOwned || d.own == ownShadow) && !d.passed && d.avail == event.Available && !d.reserved && d.located
}

func (p *Partition) fresh(d *driver) bool { return p.clock.Sub(d.ts) <= p.cfg.DriverTTL }

// reindex puts d in the index exactly when it may be matched, apart from freshness,
// which changes with the clock and is checked by the search.
func (p *Partition) reindex(d *driver) {
	want := matchable(d)
	if p.replaying && d.slot < 0 {
		if want && !d.queued {
			d.queued = true
			p.unindexed = append(p.unindexed, d)
		}
		return
	}
	switch {
	case d.slot >= 0 && want && p.index.buckets.at(d.ibucket).cell == d.cell && d.ivehicle == d.vehicle:
		p.index.update(d)
	case d.slot >= 0:
		p.index.remove(d)
	}
	if want && d.slot < 0 {
		p.index.add(d)
	}
}

// driverRef is a driver's place in its partition's table.
type driverRef int32

// driver returns the driver with this id, or nil.
func (p *Partition) driver(id string) *driver {
	r, ok := p.drivers.Get(id)
	if !ok {
		return nil
	}
	return p.table.at(r)
}

// newDriver adds a driver with this id.
func (p *Partition) newDriver(id string) *driver {
	r, d := p.table.alloc()
	d.ref, d.slot = r, -1
	d.id = p.drivers.Set(id, d.ref)
	return d
}

// dropDriver forgets d, which holds no reservation and is in no index. Nothing else
// points at it but the queue of drivers a replay left unindexed: its place is reused at
// once, or, if it is queued there, once the queue is done.
func (p *Partition) dropDriver(d *driver) {
	p.drivers.Delete(p.drivers.String(d.id))
	delete(p.forwards, d.ref)
	p.free(d)
}

// free gives a forgotten driver's place back: at once, or, if a replay queued it for
// indexing, once the queue is done.
func (p *Partition) free(d *driver) {
	if d.queued {
		d.dropped = true
	} else {
		p.table.release(d.ref)
	}
}

// cellOf is the index cell the router found, or, from a record without one, H3's answer.
func (p *Partition) cellOf(pt geo.Point, routed geo.Cell) geo.Cell {
	if routed != 0 && routed.Resolution() == p.cfg.Resolutions.Index {
		return routed
	}
	return geo.CellOf(pt, p.cfg.Resolutions.Index)
}

// driverUpdate applies a driver's update of log time at. Its position dates from the
// device's stamp or the log time, whichever is earlier: a phone whose clock runs ahead
// does not keep its driver fresh for longer.
func (p *Partition) driverUpdate(u *event.DriverLocation, at event.Time, route event.Route, cell geo.Cell) {
	d := p.driver(u.DriverID)
	if d == nil {
		d = p.newDriver(u.DriverID)
	}
	d.seen = p.now
	switch route {
	case event.RouteGenesis:
		d.own = ownOwned
		delete(p.forwards, d.ref)
		p.dropShadow(u.DriverID)
	case event.RouteArrival:
		if d.own != ownOwned {
			d.own, d.arrival = ownIncoming, at
		}
	case event.RouteStay:
		// A driver first seen with a plain update was owned here before the replayed
		// part of the log began.
		if d.own == ownUnknown {
			d.own = ownOwned
			p.dropShadow(u.DriverID)
		}
	}
	if p.locate(d, u, at, cell) {
		p.stats.DriverUpdates++
		d.passed = false
	}
	p.reindex(d)
}

// locate takes a driver's update of log time at, unless it is older than the one held,
// which it counts and reports.
func (p *Partition) locate(d *driver, u *event.DriverLocation, at event.Time, cell geo.Cell) bool {
	// The router drops an update stamped no later than the driver's last; what is left
	// can only tie here, where the position's time is capped by the log time.
	ts := min(u.Time, at)
	if d.located && ts < d.ts {
		p.stats.StaleUpdates++
		return false
	}
	if !d.located || u.Location != d.pos {
		d.pos = u.Location
		d.cell = p.cellOf(u.Location, cell)
	}
	d.located = true
	d.ts = ts
	d.rating = u.Rating
	d.vehicle = u.Vehicle
	d.avail = u.Availability
	if d.avail != event.Available && d.reserved && !isOffer(p.reservations[d.ref]) {
		// The driver's own update shows it took the ride (or went offline). An offer holds
		// the driver until it ends, whatever the driver does meanwhile.
		p.unreserve(d)
	}
	return true
}

func (p *Partition) release(d *driver) {
	if !d.reserved {
		return
	}
	p.unreserve(d)
	p.reindex(d)
}

// unreserve drops d's reservation, if any, and its entry in reservedBy: reservedBy holds a
// driver only for the reservation it holds (drivers are reused once forgotten).
func (p *Partition) unreserve(d *driver) {
	if !d.reserved {
		return
	}
	if res := p.reservations[d.ref]; p.reservedBy[res.RequestID] == d {
		delete(p.reservedBy, res.RequestID)
	}
	delete(p.reservations, d.ref)
	d.reserved = false
}

// hold gives d, which holds no reservation, res.
func (p *Partition) hold(d *driver, res *event.Reservation) {
	p.reservations[d.ref], d.reserved = res, true
	p.reservedBy[res.RequestID] = d
}

// reservation is d's reservation, nil if none.
func (p *Partition) reservation(d *driver) *event.Reservation {
	if !d.reserved {
		return nil
	}
	return p.reservations[d.ref]
}

// request applies a ride request of log time at. It waits up to RequestTTL from then:
// from when the engine got it, whatever the rider's phone stamped on it.
func (p *Partition) request(q *event.RideRequest, at event.Time, cell geo.Cell) {
	if _, dup := p.requests[q.RequestID]; dup {
		p.stats.Duplicates++
		return
	}
	p.stats.Requests++
	origin := p.cellOf(q.Pickup, cell)
	r := &request{
		RideRequest: *q,
		pos:         p.pos,
		origin:      origin,
		surge:       origin.Parent(p.cfg.Resolutions.Surge),
		deadline:    at.Add(p.cfg.RequestTTL),
	}
	p.requests[q.RequestID] = r
	if c, ok := p.held[q.RequestID]; ok {
		// Its cancel came first.
		delete(p.held, q.RequestID)
		p.stats.CancelledOnArrival++
		p.cancelWaiting(r, c.reason)
		return
	}
	p.pricer.AddDemand(r.surge, p.clock)
	if p.matchNow(r) {
		return
	}
	if p.clock >= r.deadline {
		p.unmatched(r)
		return
	}
	p.wait(r)
}

// wait adds r to the requests waiting for a driver.
func (p *Partition) wait(r *request) {
	if len(p.pending) == 0 || r.deadline < p.nextExpiry {
		p.nextExpiry = r.deadline
	}
	p.pending = append(p.pending, r)
}

func (p *Partition) tryMatch(r *request) bool {
	if p.replaying {
		dec, ok := p.recorded(r.RequestID)
		if !ok {
			return false
		}
		switch {
		case dec.Claim:
			p.sendClaim(r, dec.DriverID, p.shadow(dec.DriverID))
			return true
		case dec.Offer:
			p.offerRecorded(r, dec.DriverID)
			return true
		}
		p.matchRecorded(r, dec.DriverID)
		return true
	}
	c, ok := p.best(r)
	if !ok {
		p.searchedInVain(r)
		return false
	}
	p.take(r, c)
	return true
}

// take gives r the candidate a search chose: matched, or claimed from its owner.
func (p *Partition) take(r *request, c candidate) {
	if c.d.own == ownShadow {
		p.sendClaim(r, p.shadows.String(c.d.id), c.d)
		return
	}
	p.match(r, c.d, c.dist, c.score)
}

// matchRecorded makes a match a replayed decision recorded.
func (p *Partition) matchRecorded(r *request, id string) {
	d, dist, score := p.recordedDriver(r, id)
	p.matchFinal(r, d, dist, score)
}

// recordedDriver is the driver a replayed decision for r names, with its pickup distance
// and score: forgotten or never known here, it is made, as the record still holds.
func (p *Partition) recordedDriver(r *request, id string) (*driver, float64, float64) {
	d := p.driver(id)
	if d == nil {
		d = p.newDriver(id)
		d.seen = p.now
	}
	dist := geo.DistanceKM(r.Pickup, d.pos)
	return d, dist, p.cfg.Weights.Score(dist, d.rating, r.RideType.Compatible(d.vehicle))
}

// match gives r the driver d: with driver offers on, it offers d the request; otherwise
// the match is final.
func (p *Partition) match(r *request, d *driver, dist, score float64) {
	if p.cfg.OfferTimeout > 0 {
		p.makeOffer(r, d, dist, score)
		return
	}
	p.matchFinal(r, d, dist, score)
}

// matchFinal matches r to d, final at once.
func (p *Partition) matchFinal(r *request, d *driver, dist, score float64) {
	driverID := p.drivers.String(d.id)
	id := matchID(r.RequestID, driverID, p.now)
	p.reserve(d, r.RequestID, id)
	p.matched(r, driverID, id)
	if p.replaying {
		return
	}
	m := p.terms(r, d, dist, score)
	m.MatchID, m.MatchTimestamp = id, p.now
	p.emit(m)
}

// matched records r's match to driverID.
func (p *Partition) matched(r *request, driverID, id string) {
	r.driverID, r.matchID = driverID, id
	p.finish(r, event.OutcomeMatched)
	p.stats.Matched++
}

// terms are what a match of r to d says, but its id and time: distances, score, ETA and
// fare at the moment, and how the match was made.
func (p *Partition) terms(r *request, d *driver, dist, score float64) *event.RideMatched {
	multiplier := p.pricer.Multiplier(r.surge)
	if r.remote {
		multiplier = r.multiplier // the price its own partition quoted
	}
	tripKM := r.EstimatedKM
	if tripKM <= 0 {
		tripKM = geo.DistanceKM(r.Pickup, r.Drop)
	}
	peak := Peak(p.now.Std().In(p.shared.location(r.surge, r.Pickup)))
	return &event.RideMatched{
		EventType:        event.TypeRideMatched,
		RequestID:        r.RequestID,
		CustomerID:       r.CustomerID,
		DriverID:         p.nameOf(d),
		PickupLocation:   r.PickupName,
		DropLocation:     r.DropName,
		EstimatedArrival: p.cfg.ETAMinutes(dist, peak),
		FareEstimate:     p.cfg.Fare(tripKM, multiplier),
		DriverRating:     d.rating,
		PickupDistanceKM: round3(dist),
		TripDistanceKM:   round3(tripKM),
		Score:            round3(score),
		SurgeMultiplier:  multiplier,
		H3Cell:           r.surge,
		Assignment:       p.cfg.Assignment.String(),
		Batched:          p.batching,
		RideType:         r.RideType.String(),
		VehicleType:      d.vehicle.String(),
		PickupCoords:     r.Pickup,
		DropCoords:       r.Drop,
		DriverLocation:   d.pos,
		RequestTime:      r.Time,
	}
}

func round3(f float64) float64 {
	const k = 1000
	if f < 0 {
		return -float64(int64(-f*k+0.5)) / k
	}
	return float64(int64(f*k+0.5)) / k
}

func (p *Partition) reserve(d *driver, requestID, matchID string) {
	p.unreserve(d) // a replay makes the recorded match whatever d held
	p.hold(d, &event.Reservation{RequestID: requestID, MatchID: matchID, Until: p.now.Add(p.cfg.ReservationTimeout)})
	p.reindex(d)
}

func (p *Partition) unmatched(r *request) {
	p.finish(r, event.OutcomeUnmatched)
	p.stats.Unmatched++
	reason := event.UnmatchedNoDriver
	switch {
	case r.offered == 0:
	case r.lastEnd == event.OutcomeLapsed:
		reason = event.UnmatchedOfferTimeout
	default:
		reason = event.UnmatchedDeclined
	}
	p.emit(&event.RideUnmatched{
		EventType:      event.TypeRideUnmatched,
		RequestID:      r.RequestID,
		CustomerID:     r.CustomerID,
		PickupLocation: r.PickupName,
		PickupCoords:   r.Pickup,
		RideType:       r.RideType.String(),
		Reason:         reason,
		MaxPickupKM:    p.cfg.MaxPickupKM,
		RequestTime:    r.Time,
		Timestamp:      p.now,
		H3Cell:         r.surge,
		Offers:         r.offered,
	})
}

// searchedInVain notes when r's search found no one.
func (p *Partition) searchedInVain(r *request) { r.searched = p.index.writes }

// reachOf returns the areas r's search reaches, every cell of its full disk; they are
// found at r's first retry, as most requests never wait that long.
func (p *Partition) reachOf(r *request) []areaRef {
	if r.reach != nil {
		return r.reach
	}
	dk := p.shared.diskAround(r.origin, p.cfg.MaxPickupKM, math.MaxInt)
	seen := map[areaRef]bool{}
	for _, ring := range dk.cells {
		for _, c := range ring {
			if a := p.index.areaOf(c); !seen[a] {
				seen[a] = true
				r.reach = append(r.reach, a)
			}
		}
	}
	return r.reach
}

// vehiclesFor is the vehicles r's search considers.
func (p *Partition) vehiclesFor(r *request) [nVehicles]bool {
	var vs [nVehicles]bool
	for v := 1; v < nVehicles; v++ {
		vs[v] = r.RideType.Compatible(event.Vehicle(v)) || p.cfg.SoftCompatibility
	}
	return vs
}

// finish records a request's final outcome, to be forgotten a dedup window later, and
// writes the decision. A request finished by a record of a router ahead of the clock may
// be finished later than one the clock finishes after it: done is in forgetting order but
// for such, which are then forgotten no sooner than those before them.
func (p *Partition) finish(r *request, o event.Outcome) {
	r.reach = nil
	r.state, r.finished = o, p.now
	p.done = append(p.done, r)
	p.decide(r)
}

func (p *Partition) decide(r *request) {
	p.push(Output{Decision: &event.LogRecord{
		Kind: event.LogDecision, Time: p.now, RequestID: r.RequestID, CustomerID: r.CustomerID, DriverID: r.driverID,
		Outcome: r.state, Position: p.pos, RequestPosition: r.pos,
	}})
}

func (p *Partition) retry() {
	kept := p.pending[:0]
	for _, r := range p.pending {
		if !p.replaying && !p.retryAll && r.searched != 0 && !p.index.writtenSince(p.reachOf(r), p.vehiclesFor(r), r.searched) {
			p.stats.RetriesSkipped++
			kept = append(kept, r)
			continue
		}
		p.stats.Retries++
		if !p.tryMatch(r) {
			kept = append(kept, r)
		}
	}
	clear(p.pending[len(kept):])
	p.pending = kept
}

func (p *Partition) expire() {
	kept := p.pending[:0]
	next := event.Time(0)
	for _, r := range p.pending {
		if r.deadline <= p.clock {
			p.unmatched(r)
			continue
		}
		if len(kept) == 0 || r.deadline < next {
			next = r.deadline
		}
		kept = append(kept, r)
	}
	clear(p.pending[len(kept):])
	p.pending, p.nextExpiry = kept, next
}

// heldCancel is a cancel for a request not seen yet: a rider app may send the two on
// different connections, and the cancel win the race.
type heldCancel struct {
	until  event.Time
	reason string
}

func (p *Partition) cancel(c *event.RideCancel) {
	if d := p.reservedBy[c.RequestID]; d != nil {
		p.release(d)
	}
	r := p.requests[c.RequestID]
	if r == nil {
		// Every partition but the request's sees every cancel; each holds it a short while.
		p.stats.CancelsIgnored++
		if _, ok := p.held[c.RequestID]; !ok {
			p.stats.HeldCancels++
		}
		p.held[c.RequestID] = heldCancel{until: p.now.Add(p.cfg.CancelHold), reason: c.Reason}
		return
	}
	switch {
	case r.offer != nil:
		p.withdraw(r, c.Reason)
	case r.state == 0 && r.claiming:
		// The owner may grant the claim, or has: the answer decides (answered).
		r.cancel, r.reason = true, c.Reason
	case r.state == 0:
		for i, q := range p.pending {
			if q == r {
				p.pending = append(p.pending[:i], p.pending[i+1:]...)
				break
			}
		}
		p.cancelWaiting(r, c.Reason)
	case r.state == event.OutcomeMatched:
		r.state = event.OutcomeMatchCancelled
		p.decide(r)
		p.stats.MatchCancelled++
		p.emit(&event.MatchCancelled{
			EventType:  event.TypeMatchCancelled,
			MatchID:    r.matchID,
			RequestID:  r.RequestID,
			CustomerID: r.CustomerID,
			DriverID:   r.driverID,
			Reason:     reasonOr(c.Reason, "rider_cancelled"),
			Timestamp:  p.now,
		})
	default:
		p.stats.CancelsIgnored++
	}
}

// cancelWaiting ends a request that has no driver with ride_cancelled.
func (p *Partition) cancelWaiting(r *request, reason string) {
	p.finish(r, event.OutcomeCancelled)
	p.stats.Cancelled++
	p.emit(&event.RideCancelled{
		EventType:   event.TypeRideCancelled,
		RequestID:   r.RequestID,
		CustomerID:  r.CustomerID,
		Reason:      reasonOr(reason, "rider_cancelled"),
		RequestTime: r.Time,
		Timestamp:   p.now,
	})
}

func reasonOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// left: the router saw the driver move to partition to at time at. Whoever holds the
// driver's token passes it on; if the token is still on its way here, it is forwarded
// when it comes.
func (p *Partition) left(id string, at event.Time, to int32) {
	d := p.driver(id)
	if d == nil {
		// Never seen, or forgotten long ago: nothing here holds the driver.
		p.sendToken(id, at, to, event.Reservation{})
		return
	}
	d.seen = p.now
	switch d.own {
	case ownIncoming:
		p.forwards[d.ref] = append(p.forwards[d.ref], forward{at: at, to: to})
	case ownOwned:
		var res event.Reservation
		if held := p.reservation(d); held != nil {
			res = *held
			p.unreserve(d)
		}
		d.own = ownGone
		p.reindex(d)
		p.sendToken(id, at, to, res)
	default:
		p.sendToken(id, at, to, event.Reservation{})
	}
}

func (p *Partition) sendToken(id string, arrival event.Time, to int32, res event.Reservation) {
	p.stats.TokensSent++
	p.push(Output{
		To:      to,
		Handoff: &event.LogRecord{Kind: event.LogToken, Time: arrival, DriverID: id, Reservation: res},
	})
}

// token: the driver's ownership for its arrival here at time arrival.
func (p *Partition) token(id string, arrival event.Time, res event.Reservation) {
	p.stats.TokensReceived++
	d := p.driver(id)
	if d == nil {
		d = p.newDriver(id)
	}
	d.seen = p.now
	// If the driver left again after this arrival, the token follows it.
	next := -1
	fw := p.forwards[d.ref]
	for i, f := range fw {
		if f.at > arrival && (next < 0 || f.at < fw[next].at) {
			next = i
		}
	}
	if next >= 0 {
		f := fw[next]
		if fw = append(fw[:next], fw[next+1:]...); len(fw) > 0 {
			p.forwards[d.ref] = fw
		} else {
			delete(p.forwards, d.ref)
		}
		p.sendToken(id, f.at, f.to, res)
		return
	}
	if d.own != ownIncoming || d.arrival != arrival {
		p.stats.StrayTokens++
		return
	}
	d.own = ownOwned
	delete(p.forwards, d.ref)
	p.dropShadow(id)
	if res.RequestID != "" && res.Until > p.clock && !p.endedOffer(&res) {
		r := res
		p.unreserve(d)
		p.hold(d, &r)
	}
	p.reindex(d)
}

// sweep releases expired reservations and forgets old requests; every forgetEvery
// sweeps it also forgets silent drivers, which means looking at them all. Its effects do
// not depend on the order it visits drivers in.
func (p *Partition) sweep() {
	// Every reservation, not only those reservedBy names: a shadow may be held for a
	// request that holds a driver of its own too (doc.go, Offers).
	for ref, res := range p.reservations {
		if res.Until <= p.clock {
			p.stats.ReleasedExpired++
			p.release(p.table.at(ref))
		}
	}
	if p.clock >= p.nextForget {
		p.nextForget = boundaryAfter(p.clock, forgetEvery*p.cfg.SweepInterval)
		history := p.cfg.History()
		for _, r := range p.drivers.All() {
			d := p.table.at(r)
			silent := p.clock.Sub(d.seen)
			if silent > p.cfg.ForgetAfter && (d.own != ownIncoming || silent > history) && !p.offered(d) {
				d.own = ownGone
				p.release(d)
				p.reindex(d)
				p.dropDriver(d)
				p.stats.ForgotDrivers++
			}
		}
		p.drivers.Compact(func(id ids.ID, r driverRef) { p.table.at(r).id = id })
		p.forgetShadows()
	}
	n := 0
	for _, r := range p.done {
		if p.clock.Sub(r.finished) <= p.cfg.DedupWindow {
			break
		}
		n++
		delete(p.requests, r.RequestID)
	}
	clear(p.done[:n])
	p.done = p.done[n:]
	p.forgetOffers()
	for id, c := range p.held {
		if c.until <= p.clock {
			delete(p.held, id)
		}
	}
}

// forgetEvery is how many sweeps apart silent drivers are looked for.
const forgetEvery = 10

// boundaryAfter is the first multiple of every strictly after t.
func boundaryAfter(t event.Time, every time.Duration) event.Time {
	n := int64(every / time.Microsecond)
	q := int64(t) / n
	if int64(t)%n < 0 {
		q--
	}
	return event.Time((q + 1) * n)
}
