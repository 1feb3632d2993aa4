package engine

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/matcher"
	"ridematch/router"
)

// routerProcessor is the router stage: one router.Router per input partition. It decides
// each input record's log time (Config.Clock), routes the records of a poll in log-time
// order across its input partitions, holding back those that other partitions' records
// may still precede, and marks every region-log frame with how far each of its input
// partitions has got, so that time in a region-log partition moves with the slowest of
// them (see matcher/doc.go, Time).
type routerProcessor struct {
	cfg        *Config
	partitions int32 // of the region log
	stats      *Stats
	group      string
	// drivers and responses are the names of the driver-locations and driver-responses
	// topics; every other input is a ride-requests partition.
	drivers, responses string
	// shared is what the routers of the stage share: the cell outlines that locate
	// drivers, and the halos that find their shadows.
	shared *router.Shared

	// inputs are the input partitions this member has been assigned, as far as the merge
	// needs to know them; checked is when those of unknown lag were last looked up.
	inputs   map[tp]*input
	checked  time.Time
	nextTick time.Time
	// slack is what the marks say a merged record may move a caught-up partition by.
	slack time.Duration
}

// input is what the merge knows of one assigned input partition.
type input struct {
	id event.SourceID
	// end is the offset after the last record the broker had for it, as of the last
	// fetch or lookup, and next the offset of the next record to route; known once
	// either came.
	end, next int64
	known     bool
	// paused: not fetched while the merge holds many of its records.
	paused bool
	// received: its records are timed when the router received them (no broker time,
	// in broker mode), so a record not fetched yet cannot precede one fetched.
	received bool
	// waiting is when the merge began to wait for this partition's records.
	waiting time.Time
	// reached is when its watermark last moved (to claimFrom), for its claims while it is
	// caught up, and claim the last claim a mark wrote for it: claims never go back.
	reached          time.Time
	claimFrom, claim event.Time
}

// idleWait bounds how long the merge waits for the records of an input partition that
// has some and does not deliver them: a fetch that slow is a broker's trouble, and
// routing the others on is better than stopping (Kafka Streams' max.task.idle.ms). It
// applies to records older than CatchUpLag only: younger ones never wait.
const idleWait = 5 * time.Second

// newRouterProcessor makes the router stage's processor for a session; shared is the
// engine's, kept across sessions.
func newRouterProcessor(env Env, shared *router.Shared) (Processor[*routerState], error) {
	cfg := env.Config
	m := &routerProcessor{
		cfg:        cfg,
		partitions: env.Partitions[ridematch.RoleRegionLog],
		stats:      env.Stats,
		group:      cfg.RouterGroup,
		shared:     shared,
		drivers:    cfg.Topics.Name(ridematch.RoleDriverLocations),
		responses:  cfg.Topics.Name(ridematch.RoleDriverResponses),
		inputs:     map[tp]*input{},
		slack:      event.Unbounded,
	}
	if cfg.Clock == ClockProducer {
		m.slack = cfg.Router.MaxFutureSkew
	}
	return m, nil
}

// Open returns the router of an input partition. Only driver-locations partitions carry
// state, rebuilt from their history: where each driver was sent.
func (m *routerProcessor) Open(t TopicPartition) (*routerState, error) {
	rt, err := router.New(m.cfg.Router, m.partitions, m.shared)
	if err != nil {
		return nil, err
	}
	st := &routerState{m: m, rt: rt, src: router.RideRequests}
	switch t.Topic {
	case m.drivers:
		st.src = router.DriverLocations
	case m.responses:
		st.src = router.DriverResponses
	}
	return st, nil
}

// logTime is an input record's log time, and whether it is the router's receive time.
// In broker mode a record's timestamp counts only if the broker set it (LogAppendTime);
// in producer mode the producer's counts, as trusted.
func (m *routerProcessor) logTime(r *kgo.Record, now time.Time) (event.Time, bool) {
	if m.cfg.Clock == ClockProducer {
		return event.TimeOf(r.Timestamp), false
	}
	if r.Attrs.TimestampType() == 1 {
		if t := event.TimeOf(r.Timestamp); t.Valid() {
			return t, false
		}
	}
	return event.TimeOf(now), true
}

// sourceOf names an input partition in marks. A driver-responses partition is a source of
// its own and, like any other, holds nothing back while it is idle (offers off): the merge
// does not wait for one that is caught up or whose records are timed as received (bound),
// and a mark names it only once it has routed a record or, timed as received, with the
// present as its claim (header).
func (m *routerProcessor) sourceOf(t tp) event.SourceID {
	if t.Topic == m.responses {
		return event.ResponseSource(t.Partition)
	}
	return event.SourceOf(t.Topic != m.drivers, t.Partition)
}

// assign brings the set of input partitions in line with the group's assignment.
func (m *routerProcessor) assign(assigned map[tp]bool) {
	for t := range m.inputs {
		if !assigned[t] {
			delete(m.inputs, t)
		}
	}
	for t := range assigned {
		if m.inputs[t] == nil {
			m.inputs[t] = &input{id: m.sourceOf(t), received: m.cfg.Clock == ClockBroker}
		}
	}
}

// lookUp learns where the partitions of unknown lag stand: the group's committed offset
// (or the log's start) against the log's stable end.
func (m *routerProcessor) lookUp(ctx context.Context, adm *kadm.Client) {
	var topics []string
	for t, in := range m.inputs {
		if !in.known && !slices.Contains(topics, t.Topic) {
			topics = append(topics, t.Topic)
		}
	}
	if len(topics) == 0 || time.Since(m.checked) < 250*time.Millisecond {
		return
	}
	m.checked = time.Now()
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return
	}
	committed, err := adm.FetchOffsets(ctx, m.group)
	if err != nil {
		return
	}
	for t, in := range m.inputs {
		if in.known {
			continue
		}
		end, ok1 := ends.Lookup(t.Topic, t.Partition)
		start, ok2 := starts.Lookup(t.Topic, t.Partition)
		if !ok1 || !ok2 || end.Err != nil || start.Err != nil {
			continue
		}
		next := start.Offset
		if c, ok := committed.Lookup(t.Topic, t.Partition); ok && c.Err == nil && c.At >= 0 {
			next = c.At
		}
		in.end, in.next, in.known = end.Offset, next, true
	}
}

// queue is an input partition's records polled and not routed yet, while the merge runs.
type queue struct {
	t  tp
	in *input
	st *routerState
	// at is the log time the first record will be routed at: its own (logged), or the
	// last one routed from its partition if that is later.
	at, logged event.Time
	routed     bool // some of its records were routed
}

// maxHeld bounds the records the merge holds for an input partition: past it, the
// partition is not fetched until the others catch up with it.
const maxHeld = 8192

// Merge routes the records polled, and those held from earlier polls, in log-time order
// across input partitions, as long as no partition with records still to come could
// have one earlier; the rest it holds for the next transaction. Every region-log frame
// it opens, ticks included, begins with its mark (header).
func (m *routerProcessor) Merge(ctx context.Context, poll *Poll[*routerState]) (int, map[tp]bool) {
	now := time.Now()
	parts, out := poll.Parts, poll.Out
	out.header = func() *event.LogRecord { return m.header(parts, now) }
	m.assign(poll.Assigned)
	if m.cfg.Clock == ClockProducer && poll.Admin != nil {
		m.lookUp(ctx, poll.Admin)
	}
	poll.Fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		t := tp{p.Topic, p.Partition}
		st := parts[t]
		in := m.inputs[t]
		if len(p.Records) == 0 {
			return
		}
		if st == nil || in == nil {
			for _, r := range p.Records {
				r.Recycle() // revoked meanwhile: they come again to the next owner
			}
			return
		}
		if end := p.LastStableOffset; end >= 0 {
			in.end = end
		} else {
			in.end = p.HighWatermark
		}
		in.known, in.waiting = true, time.Time{}
		st.held = append(st.held, p.Records...)
	})
	var qs []*queue
	for t, in := range m.inputs {
		if st := parts[t]; st != nil && len(st.held) > 0 {
			q := &queue{t: t, in: in, st: st}
			q.at = m.timeOf(q, now)
			qs = append(qs, q)
		}
	}
	all := slices.Clone(qs)

	// The merge may route up to the least bound of the partitions with nothing held; a
	// record younger than CatchUpLag goes without waiting for them (live traffic).
	settled := event.TimeOf(now.Add(-m.cfg.CatchUpLag))
	b := never
	for t, in := range m.inputs {
		if !slices.ContainsFunc(qs, func(q *queue) bool { return q.t == t }) {
			b = min(b, m.bound(t, in, parts, now))
		}
	}
	routed := 0
	for len(qs) > 0 {
		// The queue whose first record is earliest, ties by source.
		i := 0
		for j := 1; j < len(qs); j++ {
			if c := cmp.Compare(qs[j].at, qs[i].at); c < 0 || c == 0 && qs[j].in.id < qs[i].in.id {
				i = j
			}
		}
		q := qs[i]
		if q.at > b && q.at <= settled {
			break // a partition with records still to come may have earlier ones
		}
		r := q.st.held[0]
		q.st.route(r, out, q.logged)
		q.in.next = r.Offset + 1
		r.Recycle() // the record is the pool's again: nothing of it may be read after
		q.st.held[0] = nil
		q.st.held = q.st.held[1:]
		routed++
		q.routed = true
		if len(q.st.held) == 0 {
			q.st.held = nil
			qs = slices.Delete(qs, i, i+1)
			b = min(b, m.bound(q.t, q.in, parts, now))
			continue
		}
		q.at = m.timeOf(q, now)
	}
	touched := map[tp]bool{}
	for _, q := range all {
		if q.routed {
			touched[q.t] = true
			q.st.Done()
		}
	}
	if poll.Client != nil {
		m.pace(poll.Client, parts)
	}
	return routed, touched
}

// pace stops fetching an input partition while the merge holds many of its records,
// and fetches it again once it holds few: a partition far ahead of the others waits for
// them at the broker, not in memory.
func (m *routerProcessor) pace(cl *kgo.Client, parts map[tp]*routerState) {
	var pause, resume map[string][]int32
	add := func(m *map[string][]int32, t tp) {
		if *m == nil {
			*m = map[string][]int32{}
		}
		(*m)[t.Topic] = append((*m)[t.Topic], t.Partition)
	}
	for t, in := range m.inputs {
		st := parts[t]
		held := 0
		if st != nil {
			held = len(st.held)
		}
		switch {
		case !in.paused && held > maxHeld:
			in.paused = true
			add(&pause, t)
		case in.paused && held < maxHeld/2:
			in.paused = false
			add(&resume, t)
		}
	}
	if pause != nil {
		cl.PauseFetchPartitions(pause)
	}
	if resume != nil {
		cl.ResumeFetchPartitions(resume)
	}
}

// Held is where each input partition's committed offset must stay: at its first record
// held back, which the transaction does not route. The consumer has read past it; the
// commit must not.
func (m *routerProcessor) Held(parts map[tp]*routerState) map[tp]kgo.EpochOffset {
	at := map[tp]kgo.EpochOffset{}
	for t, st := range parts {
		if len(st.held) > 0 {
			r := st.held[0]
			at[t] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		}
	}
	return at
}

// Release forgets the records held, after an aborted transaction: the consumer reads
// them again from the committed offsets.
func (m *routerProcessor) Release(parts map[tp]*routerState) {
	for _, st := range parts {
		for _, r := range st.held {
			r.Recycle()
		}
		st.held = nil
	}
	for _, in := range m.inputs {
		in.known = false // its position moved back: learn it again
	}
}

// timeOf is the log time the queue's first record would be routed at; it notes the
// record's own, which the router checks.
func (m *routerProcessor) timeOf(q *queue, now time.Time) event.Time {
	at, received := m.logTime(q.st.held[0], now)
	q.logged, q.in.received = at, received
	return max(at, q.st.rt.Watermark())
}

// bound is the earliest log time a record of input partition t, which has nothing left in
// the poll, may still come with: the merge routes nothing later until it comes.
func (m *routerProcessor) bound(t tp, in *input, parts map[tp]*routerState, now time.Time) event.Time {
	var until event.Time
	switch {
	case in.received:
		return never // what is not fetched yet will be received later
	case in.known && in.next >= in.end:
		in.waiting = time.Time{}
		return never // caught up: like Kafka Streams, do not wait for an empty partition
	default:
		if st := parts[t]; st != nil {
			until = st.rt.Watermark()
		}
	}
	if in.waiting.IsZero() {
		in.waiting = now
	} else if now.Sub(in.waiting) > idleWait {
		return never
	}
	return until
}

// never is later than any time.
const never = event.Time(1<<63 - 1)

// header is the mark that opens every region-log frame this router writes: how far each
// input partition it owns has got (event.LogMark). It is nil while no partition has
// anything to claim.
func (m *routerProcessor) header(parts map[tp]*routerState, now time.Time) *event.LogRecord {
	nowT := event.TimeOf(now)
	rec := &event.LogRecord{Kind: event.LogMark, Time: never, Mark: event.Mark{Slack: m.slack}}
	for t, in := range m.inputs {
		var w event.Time
		if st := parts[t]; st != nil {
			w = st.rt.Watermark()
		}
		if w != in.claimFrom {
			in.claimFrom, in.reached = w, now
		}
		if !in.known && !in.received {
			continue // the merge waits for its records before routing anything
		}
		var claim event.Time
		switch {
		case in.received:
			// Whatever it receives from now on is timed now or later.
			claim = max(w, nowT)
		case w == 0:
			continue // nothing routed yet: nothing known of the times it will bring
		case in.next < in.end:
			claim = w // it has records to come: the merged records after the mark carry it
		default:
			// Caught up: its records would come with times from its producer's clock,
			// which moves on meanwhile.
			claim = w.Add(now.Sub(in.reached))
		}
		claim = max(claim, in.claim)
		in.claim = claim
		rec.Mark.Sources = append(rec.Mark.Sources, event.SourceMark{Source: in.id, Claim: claim})
		rec.Time = min(rec.Time, claim)
	}
	if len(rec.Mark.Sources) == 0 {
		return nil
	}
	slices.SortFunc(rec.Mark.Sources, func(a, b event.SourceMark) int { return cmp.Compare(a.Source, b.Source) })
	return rec
}

// Idle writes a tick into every region-log partition every TickInterval: a frame of a
// mark alone, so that time passes in the region log while no records do. It also lets
// each router forget drivers silent for long.
func (m *routerProcessor) Idle(now time.Time, parts map[tp]*routerState, out *Outbox) bool {
	if now.Before(m.nextTick) {
		return false
	}
	m.nextTick = now.Add(m.cfg.TickInterval)
	for _, st := range parts {
		st.rt.Forget()
	}
	wrote := 0
	for p := int32(0); p < m.partitions; p++ {
		if out.open(p) {
			wrote++
		}
	}
	m.stats.update(func(s *Snapshot) { s.Ticks += uint64(wrote) })
	return wrote > 0
}

// routerState is the router of one input partition.
type routerState struct {
	m   *routerProcessor
	rt  *router.Router
	src router.Input
	// held are the records polled and not routed yet, in offset order (see route).
	held     []*kgo.Record
	out      *Outbox // of the record being routed; nil while replaying
	emit     router.Emit
	reported router.Stats // what done last added to the engine's counters
}

// Apply routes a record at its own log time; the stage's Merge routes live records in
// log-time order instead, holding some back.
func (s *routerState) Apply(r *kgo.Record, out *Outbox) {
	at, _ := s.m.logTime(r, time.Now())
	s.route(r, out, at)
}

// Replay routes a record again while the partition is rebuilt, writing nothing.
func (s *routerState) Replay(r *kgo.Record) {
	at, _ := s.m.logTime(r, time.Now())
	s.route(r, nil, at)
	// A replay's records were counted when they were first handled.
	s.reported = s.rt.Stats()
}

// route routes one record at log time at, dead-lettering it if it is not valid.
func (s *routerState) route(r *kgo.Record, out *Outbox, at event.Time) {
	if s.emit == nil {
		s.emit = func(p int32, lr *event.LogRecord) {
			if s.out != nil {
				s.out.LogRecord(p, lr)
			}
		}
	}
	s.out = out
	err := s.rt.Route(r.Value, router.Source{Topic: s.src, Time: at}, s.emit)
	if out != nil && err != nil {
		out.DeadLetter(r, err)
	}
}

// Done adds what the live records of a batch did to the engine's counters, once a batch
// rather than once a record.
func (s *routerState) Done() {
	now := s.rt.Stats()
	before := s.reported
	s.reported = now
	s.m.stats.update(func(st *Snapshot) {
		st.StaleDrivers += now.Stale - before.Stale
		st.DriverUpdates += now.Drivers - before.Drivers
		st.Requests += now.Requests - before.Requests
		st.Cancels += now.Cancels - before.Cancels
		st.Responses += now.Responses - before.Responses
		st.DroppedResponses[matcher.DropUnknown] += now.UnknownOffers - before.UnknownOffers
	})
}
