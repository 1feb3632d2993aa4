package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/matcher"
)

const roleRegionLog = ridematch.RoleRegionLog

// matcherMachine is the second stage: one matcher.Partition per region-log partition.
type matcherMachine struct {
	cfg       *Config
	stats     *Stats
	log       zerolog.Logger
	shared    *matcher.Shared
	regionLog string
	decisions string
	matches   string
	surge     string
	dlq       string
}

func newMatcherMachine(cfg *Config, stats *Stats, log zerolog.Logger) *matcherMachine {
	return &matcherMachine{
		cfg:       cfg,
		stats:     stats,
		log:       log,
		shared:    matcher.NewShared(),
		regionLog: cfg.Topics.Name(ridematch.RoleRegionLog),
		decisions: cfg.Topics.Name(ridematch.RoleDecisionLog),
		matches:   cfg.Topics.Name(ridematch.RoleRideMatches),
		surge:     cfg.Topics.Name(ridematch.RoleSurgePricing),
		dlq:       cfg.Topics.Name(ridematch.RoleDeadLetter),
	}
}

func (m *matcherMachine) pollWait() time.Duration { return 250 * time.Millisecond }

func (m *matcherMachine) open(t tp) (state, time.Duration, error) {
	p, err := matcher.New(m.cfg.Matcher, t.partition, m.shared)
	if err != nil {
		return nil, 0, err
	}
	return &matcherState{m: m, p: p}, m.cfg.Matcher.History(), nil
}

func (m *matcherMachine) idle(_ time.Time, parts map[tp]state, _ *outbox) bool {
	var drivers, pending, surging int
	for _, st := range parts {
		p := st.(*matcherState).p
		drivers += p.Drivers()
		pending += p.Pending()
		surging += p.SurgeCells()
	}
	m.stats.update(func(s *Snapshot) { s.Drivers, s.Pending, s.SurgeCells = drivers, pending, surging })
	return false
}

type matcherState struct {
	m        *matcherMachine
	p        *matcher.Partition
	rec      event.LogRecord
	reported matcher.Stats // what done last added to the engine's counters

	// While restoring: where the replay starts, and the recorded matches by the position
	// of the record that made them.
	replayFrom event.Position
	decided    map[event.Position]map[string]string
}

func (s *matcherState) preloadLog() (string, time.Duration) {
	return s.m.decisions, s.m.cfg.Matcher.DecisionHistory()
}

func (s *matcherState) startReplay(offset int64) {
	s.replayFrom, s.decided = event.PositionOf(offset, 0), map[event.Position]map[string]string{}
}

// preload takes one recorded decision: about a request from before the replay, it is
// remembered; a match made during the replay is made again when its record comes.
func (s *matcherState) preload(r *kgo.Record) {
	var d event.LogRecord
	if event.DecodeLog(r.Value, &d) != nil || d.Kind != event.LogDecision {
		return
	}
	if d.Legacy {
		// An engine older than marks decided by a clock a device could move: the time of
		// a decision it wrote is no later than when it wrote it (see matcher/doc.go, Time).
		d.Time = min(d.Time, event.TimeOf(r.Timestamp))
	}
	at := d.Position
	switch {
	case d.RequestPosition < s.replayFrom:
		s.p.Remember(&d)
	case d.Outcome == event.OutcomeMatched && at >= s.replayFrom:
		if s.decided[at] == nil {
			s.decided[at] = map[string]string{}
		}
		s.decided[at][d.RequestID] = d.DriverID
	}
}

// apply applies each record of a region-log frame; with out nil it replays them.
func (s *matcherState) apply(r *kgo.Record, out *outbox) {
	s.p.Frame(event.TimeOf(r.Timestamp))
	err := event.EachInFrame(r.Value, func(i int, b []byte) error {
		if err := event.DecodeLog(b, &s.rec); err != nil {
			return err
		}
		pos := event.PositionOf(r.Offset, i)
		if out == nil {
			s.p.Replay(&s.rec, pos, s.decided[pos])
			delete(s.decided, pos)
			return nil
		}
		s.p.Apply(&s.rec, pos)
		s.emit(r.Partition, out)
		return nil
	})
	if out == nil {
		s.reported = s.p.Stats()
		return
	}
	s.decided = nil
	if err != nil {
		// Only a bug or a foreign writer puts a bad frame in the region log: set it
		// aside, whole, and go on.
		out.deadLetter(s.m.dlq, r, &event.InvalidError{Reason: event.ReasonBadInternal, Detail: err.Error()})
	}
}

// done adds what the live records of a batch did to the engine's counters.
func (s *matcherState) done() {
	now := s.p.Stats()
	s.m.stats.addMatcher(s.reported, now)
	s.reported = now
}

func (s *matcherState) emit(partition int32, out *outbox) {
	for _, o := range s.p.Outputs() {
		switch {
		case o.Decision != nil:
			out.add(&kgo.Record{Topic: s.m.decisions, Partition: partition, Value: event.AppendLog(nil, o.Decision)})
		case o.Handoff != nil:
			out.logRecord(o.To, o.Handoff)
		default:
			if r := s.m.record(o.Event); r != nil {
				out.add(r)
			}
		}
	}
}

// record is an outcome or surge event as the Kafka record it is written as, or nil if it
// does not encode. Fixed structs of strings and numbers encode unless a number is not
// finite, which validated settings rule out. Should one slip through, the event is lost,
// said so and counted, and the engine goes on: a panic here would come back on every
// restart, as the same log gives the same outputs.
func (m *matcherMachine) record(e event.Output) *kgo.Record {
	topic := m.matches
	if e.Type() == event.TypeSurgeUpdated {
		topic = m.surge
	}
	v, err := json.Marshal(e)
	if err != nil {
		m.log.Error().Err(err).Str("event", e.Type()).Str("key", e.Key()).Msg("an output does not encode as JSON; it is not written")
		m.stats.update(func(st *Snapshot) { st.Unencodable++ })
		return nil
	}
	return &kgo.Record{Topic: topic, Key: []byte(e.Key()), Value: v}
}

// noopMachine is a stage that does no processing (Config.Noop), for the plumbing floor of
// ridematch bench. With a region log to write to (the router), it copies each record there,
// to the partition its key hashes to, marking those from the ride requests with their
// key; without one (the matcher), it copies each marked record to the ride-matches topic,
// as the engine writes one outcome a request. Nothing is decoded. What is left is the
// plumbing: fetch, produce, transactions.
type noopMachine struct {
	regionLog  string // the router's: where to copy records
	partitions int32
	requests   string // the router's: the topic whose records are marked
	matches    string // the matcher's: where marked records are copied
	entry      []byte // the router's: a region-log entry being made
}

// A noop region-log entry is a mark, then the record's value; a marked one has its key,
// length-prefixed, in between.
const (
	noopUnmarked byte = iota
	noopMarked
)

func (m *noopMachine) pollWait() time.Duration { return 100 * time.Millisecond }

func (m *noopMachine) open(tp) (state, time.Duration, error) { return m, 0, nil }

func (m *noopMachine) idle(time.Time, map[tp]state, *outbox) bool { return false }

func (m *noopMachine) done() {}

func (m *noopMachine) apply(r *kgo.Record, out *outbox) {
	switch {
	case out == nil:
	case m.regionLog != "":
		h := uint32(2166136261)
		for _, c := range r.Key {
			h = (h ^ uint32(c)) * 16777619
		}
		e := append(m.entry[:0], noopUnmarked)
		if r.Topic == m.requests {
			e[0] = noopMarked
			e = append(binary.AppendUvarint(e, uint64(len(r.Key))), r.Key...)
		}
		m.entry = append(e, r.Value...)
		out.rawRecord(int32(h%uint32(m.partitions)), m.entry)
	case m.matches != "":
		// A frame the router wrote is well formed; anything else is skipped whole.
		_ = event.EachInFrame(r.Value, func(_ int, b []byte) error {
			if len(b) == 0 || b[0] != noopMarked {
				return nil
			}
			n, k := binary.Uvarint(b[1:])
			if k <= 0 || n > uint64(len(b)-1-k) {
				return nil
			}
			key := b[1+k : 1+k+int(n)]
			// Copies: r goes back to the consumer's pool once applied.
			out.add(&kgo.Record{Topic: m.matches, Key: bytes.Clone(key), Value: bytes.Clone(b[1+k+int(n):])})
			return nil
		})
	}
}
