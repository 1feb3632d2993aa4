package bench

import (
	"hash/fnv"

	"ridematch"
	"ridematch/event"
	"ridematch/matcher"
	"ridematch/router"
)

// pipeline is the engine without Kafka: the router's and the matchers' logic wired by
// function calls, in event time. Records reach their partition the moment they are
// routed, so it shows what the matching logic does, not what the plumbing costs: it
// measures match quality, and, with one partition, is the global oracle.
type pipeline struct {
	// One router per input partition of each input topic.
	drivers, requests, responses []*router.Router
	parts                        []*matcher.Partition
	next                         []int64 // the next position in each partition
	outcome                      func(partition int32, e event.Output)
	pending                      []handoff
}

type handoff struct {
	to  int32
	rec event.LogRecord
}

func newPipeline(cfg Config, partitions int32, outcome func(int32, event.Output)) (*pipeline, error) {
	p := &pipeline{outcome: outcome, next: make([]int64, partitions)}
	for i := int32(0); i < partitions; i++ {
		part, err := matcher.New(cfg.Engine.Matcher, i, nil)
		if err != nil {
			return nil, err
		}
		p.parts = append(p.parts, part)
	}
	// The routers of a process share their caches, as an engine's do.
	shared := router.NewShared(cfg.Engine.Router)
	mk := func(n int) ([]*router.Router, error) {
		rs := make([]*router.Router, n)
		for i := range rs {
			r, err := router.New(cfg.Engine.Router, partitions, shared)
			if err != nil {
				return nil, err
			}
			rs[i] = r
		}
		return rs, nil
	}
	var err error
	if p.drivers, err = mk(int(cfg.Engine.Topics.Get(ridematch.RoleDriverLocations).Partitions)); err != nil {
		return nil, err
	}
	if p.requests, err = mk(int(cfg.Engine.Topics.Get(ridematch.RoleRideRequests).Partitions)); err != nil {
		return nil, err
	}
	if p.responses, err = mk(int(cfg.Engine.Topics.Get(ridematch.RoleDriverResponses).Partitions)); err != nil {
		return nil, err
	}
	return p, nil
}

// input routes one event as the router reading its input partition would: records are
// keyed by driver or request id, so one id always reads from one input partition.
// Drivers' answers to offers are keyed by driver id, on driver-responses, as the
// simulator writes them; the router sends each to the partition its offer names.
func (p *pipeline) input(in *event.Input) {
	rs, key, topic := p.requests, "", router.RideRequests
	switch in.Kind {
	case event.KindDriverLocation:
		rs, key, topic = p.drivers, in.Driver.DriverID, router.DriverLocations
	case event.KindRideRequest:
		key = in.Request.RequestID
	case event.KindRideCancel:
		key = in.Cancel.RequestID
	case event.KindOfferResponse:
		rs, key, topic = p.responses, in.Response.DriverID, router.DriverResponses
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	r := rs[h.Sum32()%uint32(len(rs))]
	r.RouteEvent(in, router.Source{Topic: topic, Time: in.Time()}, p.deliver)
	p.drain()
}

// tick writes a router's clock into every partition.
func (p *pipeline) tick(t event.Time) {
	for i := range p.parts {
		p.deliver(int32(i), &event.LogRecord{Kind: event.LogTick, Time: t})
	}
	p.drain()
}

func (p *pipeline) deliver(to int32, rec *event.LogRecord) {
	part := p.parts[to]
	part.Apply(rec, event.Position(p.next[to]))
	p.next[to]++
	for _, o := range part.Outputs() {
		switch {
		case o.Handoff != nil:
			// Tokens go out after the record that made them, as through the log.
			p.pending = append(p.pending, handoff{to: o.To, rec: *o.Handoff})
		case o.Event != nil:
			p.outcome(to, o.Event)
		}
	}
}

func (p *pipeline) drain() {
	for len(p.pending) > 0 {
		h := p.pending[0]
		p.pending = p.pending[1:]
		p.deliver(h.to, &h.rec)
	}
}
