package engine

import (
	"encoding/json"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
	"ridematch/router"
)

const roleRegionLog = ridematch.RoleRegionLog

// routerMachine is the first stage: one router.Router per input partition, and the
// router's clock, which it writes into every region-log partition as ticks.
type routerMachine struct {
	cfg        *Config
	partitions int32 // of the region log
	stats      *Stats
	drivers    string
	regionLog  string
	dlq        string

	// The clock: the latest event time routed, and the wall time it was reached. While no
	// events come, ticks carry it forward at the wall clock's pace.
	watermark   event.Time
	watermarkAt time.Time
	nextTick    time.Time
	tickBuf     []byte
}

func newRouterMachine(cfg *Config, partitions int32, stats *Stats) *routerMachine {
	return &routerMachine{
		cfg:        cfg,
		partitions: partitions,
		stats:      stats,
		drivers:    cfg.Topics.Name(ridematch.RoleDriverLocations),
		regionLog:  cfg.Topics.Name(ridematch.RoleRegionLog),
		dlq:        cfg.Topics.Name(ridematch.RoleDeadLetter),
	}
}

func (m *routerMachine) pollWait() time.Duration { return m.cfg.TickInterval }

func (m *routerMachine) open(t tp) (state, time.Duration, error) {
	rt, err := router.New(m.cfg.Router, m.partitions)
	if err != nil {
		return nil, 0, err
	}
	st := &routerState{m: m, rt: rt, src: router.RideRequests}
	if t.topic == m.drivers {
		st.src = router.DriverLocations
		// Only driver-locations partitions carry state: where each driver was sent.
		return st, m.cfg.Router.History(), nil
	}
	return st, 0, nil
}

func (m *routerMachine) idle(now time.Time, parts map[tp]state, out *outbox) bool {
	for _, st := range parts {
		if wm := st.(*routerState).rt.Watermark(); wm > m.watermark {
			m.watermark, m.watermarkAt = wm, now
		}
	}
	if m.watermark == 0 || now.Before(m.nextTick) {
		return false
	}
	m.nextTick = now.Add(m.cfg.TickInterval)
	clock := m.watermark.Add(now.Sub(m.watermarkAt))
	m.tickBuf = event.AppendLog(m.tickBuf[:0], router.Tick(clock))
	for p := int32(0); p < m.partitions; p++ {
		out.add(&kgo.Record{Topic: m.regionLog, Partition: p, Value: m.tickBuf})
	}
	m.stats.update(func(s *Snapshot) { s.Ticks += uint64(m.partitions) })
	for _, st := range parts {
		st.(*routerState).rt.Forget()
	}
	return true
}

type routerState struct {
	m   *routerMachine
	rt  *router.Router
	src router.Input
}

func (s *routerState) apply(r *kgo.Record, out *outbox) {
	src := router.Source{Topic: s.src, Time: event.TimeOf(r.Timestamp)}
	before := s.rt.Stats()
	err := s.rt.Route(r.Value, src, func(p int32, lr *event.LogRecord) {
		if out != nil {
			out.add(&kgo.Record{Topic: s.m.regionLog, Partition: p, Value: event.AppendLog(nil, lr)})
		}
	})
	if out == nil {
		return
	}
	if err != nil {
		out.deadLetter(s.m.dlq, r, err)
		return
	}
	after := s.rt.Stats()
	s.m.stats.update(func(st *Snapshot) {
		st.StaleDrivers += after.Stale - before.Stale
		st.DriverUpdates += after.Drivers - before.Drivers
		st.Requests += after.Requests - before.Requests
		st.Cancels += after.Cancels - before.Cancels
	})
}

// matcherMachine is the second stage: one matcher.Partition per region-log partition.
type matcherMachine struct {
	cfg       *Config
	stats     *Stats
	zones     *geo.Zones
	regionLog string
	decisions string
	matches   string
	surge     string
	dlq       string
}

func newMatcherMachine(cfg *Config, stats *Stats) *matcherMachine {
	return &matcherMachine{
		cfg:       cfg,
		stats:     stats,
		zones:     geo.NewZones(),
		regionLog: cfg.Topics.Name(ridematch.RoleRegionLog),
		decisions: cfg.Topics.Name(ridematch.RoleDecisionLog),
		matches:   cfg.Topics.Name(ridematch.RoleRideMatches),
		surge:     cfg.Topics.Name(ridematch.RoleSurgePricing),
		dlq:       cfg.Topics.Name(ridematch.RoleDeadLetter),
	}
}

func (m *matcherMachine) pollWait() time.Duration { return 250 * time.Millisecond }

func (m *matcherMachine) open(t tp) (state, time.Duration, error) {
	p, err := matcher.New(m.cfg.Matcher, t.partition, m.zones)
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
	m   *matcherMachine
	p   *matcher.Partition
	rec event.LogRecord

	// While restoring: where the replay starts, and the recorded matches by the offset of
	// the record that made them.
	replayFrom int64
	decided    map[int64]map[string]string
}

func (s *matcherState) preloadLog() (string, time.Duration) {
	return s.m.decisions, s.m.cfg.Matcher.DecisionHistory()
}

func (s *matcherState) startReplay(offset int64) {
	s.replayFrom, s.decided = offset, map[int64]map[string]string{}
}

// preload takes one recorded decision: about a request from before the replay, it is
// remembered; a match made during the replay is made again when its record comes.
func (s *matcherState) preload(r *kgo.Record) {
	var d event.LogRecord
	if event.DecodeLog(r.Value, &d) != nil || d.Kind != event.LogDecision {
		return
	}
	switch {
	case d.RequestOffset < s.replayFrom:
		s.p.Remember(&d)
	case d.Outcome == event.OutcomeMatched && d.Offset >= s.replayFrom:
		if s.decided[d.Offset] == nil {
			s.decided[d.Offset] = map[string]string{}
		}
		s.decided[d.Offset][d.RequestID] = d.DriverID
	}
}

func (s *matcherState) apply(r *kgo.Record, out *outbox) {
	if err := event.DecodeLog(r.Value, &s.rec); err != nil {
		if out != nil {
			out.deadLetter(s.m.dlq, r, &event.InvalidError{Reason: event.ReasonBadInternal, Detail: err.Error()})
		}
		return
	}
	if out == nil {
		s.p.Replay(&s.rec, r.Offset, s.decided[r.Offset])
		delete(s.decided, r.Offset)
		return
	}
	s.decided = nil
	before := s.p.Stats()
	s.p.Apply(&s.rec, r.Offset)
	for _, o := range s.p.Outputs() {
		if o.Decision != nil {
			out.add(&kgo.Record{Topic: s.m.decisions, Partition: r.Partition, Value: event.AppendLog(nil, o.Decision)})
			continue
		}
		if o.Handoff != nil {
			out.add(&kgo.Record{Topic: s.m.regionLog, Partition: o.To, Value: event.AppendLog(nil, o.Handoff)})
			continue
		}
		topic := s.m.matches
		if o.Event.Type() == event.TypeSurgeUpdated {
			topic = s.m.surge
		}
		v, err := json.Marshal(o.Event)
		if err != nil {
			panic("matcher output does not encode: " + err.Error()) // fixed structs of strings and numbers
		}
		out.add(&kgo.Record{Topic: topic, Key: []byte(o.Event.Key()), Value: v})
	}
	s.m.stats.addMatcher(before, s.p.Stats())
}
