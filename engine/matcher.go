package engine

import (
	"encoding/json"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/matcher"
)

// matcherProcessor is the matcher stage: one matcher.Partition per region-log partition.
type matcherProcessor struct {
	cfg       *Config
	stats     *Stats
	log       zerolog.Logger
	shared    *matcher.Shared
	decisions string
	matches   string
	surge     string
	offers    string
}

// newMatcherProcessor makes the matcher stage's processor for a session; shared holds
// what the partitions of an engine share, kept across sessions.
func newMatcherProcessor(env Env, shared *matcher.Shared) (Processor[*matcherState], error) {
	cfg := env.Config
	return &matcherProcessor{
		cfg:       cfg,
		stats:     env.Stats,
		log:       env.Log.With().Str("stage", "matcher").Logger(),
		shared:    shared,
		decisions: cfg.Topics.Name(ridematch.RoleDecisionLog),
		matches:   cfg.Topics.Name(ridematch.RoleRideMatches),
		surge:     cfg.Topics.Name(ridematch.RoleSurgePricing),
		offers:    cfg.Topics.Name(ridematch.RoleDriverOffers),
	}, nil
}

func (m *matcherProcessor) Open(t TopicPartition) (*matcherState, error) {
	p, err := matcher.New(m.cfg.Matcher, t.Partition, m.shared)
	if err != nil {
		return nil, err
	}
	return &matcherState{m: m, p: p}, nil
}

// Idle publishes the partitions' sizes.
func (m *matcherProcessor) Idle(_ time.Time, parts map[TopicPartition]*matcherState, _ *Outbox) bool {
	var drivers, pending, surging int
	for _, st := range parts {
		p := st.p
		drivers += p.Drivers()
		pending += p.Pending()
		surging += p.SurgeCells()
	}
	m.stats.update(func(s *Snapshot) { s.Drivers, s.Pending, s.SurgeCells = drivers, pending, surging })
	return false
}

// matcherState is the state machine of one region-log partition.
type matcherState struct {
	m        *matcherProcessor
	p        *matcher.Partition
	rec      event.LogRecord
	reported matcher.Stats // what done last added to the engine's counters

	// While restoring: where the replay starts, and the recorded matches and claims by
	// the position of the record that made them.
	replayFrom event.Position
	decided    matcher.Decisions
}

func (s *matcherState) StartReplay(offset int64) {
	s.replayFrom, s.decided = event.PositionOf(offset, 0), matcher.Decisions{}
}

// Preload takes one recorded decision: about a request from before the replay, it is
// remembered; a match or claim made during the replay is made again when its record
// comes.
func (s *matcherState) Preload(r *kgo.Record) {
	var d event.LogRecord
	if event.DecodeLog(r.Value, &d) != nil || d.Kind != event.LogDecision {
		return
	}
	if d.Legacy {
		// An engine older than marks decided by a clock a device could move: the time of
		// a decision it wrote is no later than when it wrote it (see matcher/doc.go, Time).
		d.Time = min(d.Time, event.TimeOf(r.Timestamp))
	}
	switch {
	case d.RequestPosition < s.replayFrom:
		s.p.Remember(&d)
	case d.Position >= s.replayFrom:
		s.decided.Add(&d)
	}
}

// Apply applies each record of a region-log frame and writes what they output.
func (s *matcherState) Apply(r *kgo.Record, out *Outbox) {
	s.p.Frame(event.TimeOf(r.Timestamp))
	err := event.EachInFrame(r.Value, func(i int, b []byte) error {
		if err := event.DecodeLog(b, &s.rec); err != nil {
			return err
		}
		s.p.Apply(&s.rec, event.PositionOf(r.Offset, i))
		s.emit(r.Partition, out)
		return nil
	})
	s.decided = nil
	if err != nil {
		// Only a bug or a foreign writer puts a bad frame in the region log: set it
		// aside, whole, and go on.
		out.DeadLetter(r, &event.InvalidError{Reason: event.ReasonBadInternal, Detail: err.Error()})
	}
}

// Replay applies each record of a region-log frame again, making the matches the
// decision log recorded for it.
func (s *matcherState) Replay(r *kgo.Record) {
	s.p.Frame(event.TimeOf(r.Timestamp))
	// A bad frame was dead-lettered when first applied.
	_ = event.EachInFrame(r.Value, func(i int, b []byte) error {
		if err := event.DecodeLog(b, &s.rec); err != nil {
			return err
		}
		pos := event.PositionOf(r.Offset, i)
		s.p.Replay(&s.rec, pos, s.decided[pos])
		delete(s.decided, pos)
		return nil
	})
	s.reported = s.p.Stats()
}

// done adds what the live records of a batch did to the engine's counters.
func (s *matcherState) Done() {
	now := s.p.Stats()
	s.m.stats.addMatcher(s.reported, now)
	s.reported = now
}

func (s *matcherState) emit(partition int32, out *Outbox) {
	for _, o := range s.p.Outputs() {
		switch {
		case o.Decision != nil:
			out.Add(&kgo.Record{Topic: s.m.decisions, Partition: partition, Value: event.AppendLog(nil, o.Decision)})
		case o.Handoff != nil:
			out.LogRecord(o.To, o.Handoff)
		default:
			if r := s.m.record(o.Event); r != nil {
				out.Add(r)
			}
		}
	}
}

// record is an outcome or surge event as the Kafka record it is written as, or nil if it
// does not encode. Fixed structs of strings and numbers encode unless a number is not
// finite, which validated settings rule out. Should one slip through, the event is lost,
// said so and counted, and the engine goes on: a panic here would come back on every
// restart, as the same log gives the same outputs.
func (m *matcherProcessor) record(e event.Output) *kgo.Record {
	topic := m.matches
	switch e.Type() {
	case event.TypeSurgeUpdated:
		topic = m.surge
	case event.TypeRideOffered, event.TypeOfferWithdrawn:
		topic = m.offers
	}
	v, err := json.Marshal(e)
	if err != nil {
		m.log.Error().Err(err).Str("event", e.Type()).Str("key", e.Key()).Msg("an output does not encode as JSON; it is not written")
		m.stats.update(func(st *Snapshot) { st.Unencodable++ })
		return nil
	}
	return &kgo.Record{Topic: topic, Key: []byte(e.Key()), Value: v}
}
