package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/router"
)

// mergeRig is a router processor in producer mode with its states and a region-log outbox,
// fed polls by hand.
type mergeRig struct {
	t        *testing.T
	m        *routerProcessor
	parts    map[tp]*routerState
	assigned map[tp]bool
	topics   ridematch.Topics
	base     time.Time
	next     map[tp]int64
}

func newMergeRig(t *testing.T, inputs ...tp) *mergeRig {
	cfg := DefaultConfig()
	cfg.Clock = ClockProducer
	p, err := newRouterProcessor(Env{Config: &cfg, Partitions: map[ridematch.Role]int32{ridematch.RoleRegionLog: 4}, Stats: &Stats{}}, router.NewShared(cfg.Router))
	if err != nil {
		t.Fatal(err)
	}
	r := &mergeRig{t: t, m: p.(*routerProcessor), parts: map[tp]*routerState{}, assigned: map[tp]bool{},
		topics: cfg.Topics, base: time.Now().Add(-time.Hour).Truncate(time.Second), next: map[tp]int64{}}
	for _, in := range inputs {
		st, err := r.m.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		r.parts[in], r.assigned[in] = st, true
	}
	return r
}

// driversAt is partition p of the default driver-locations topic.
func driversAt(p int32) tp {
	return tp{ridematch.DefaultTopics().Name(ridematch.RoleDriverLocations), p}
}

// responsesAt and requestsAt are partition p of the default driver-responses and
// ride-requests topics.
func responsesAt(p int32) tp {
	return tp{ridematch.DefaultTopics().Name(ridematch.RoleDriverResponses), p}
}

func requestsAt(p int32) tp {
	return tp{ridematch.DefaultTopics().Name(ridematch.RoleRideRequests), p}
}

// rigPoint is where the rig's drivers are.
var rigPoint = geo.Point{Lat: 19.05, Lng: 72.84}

// rigPartition is the region-log partition of the rig's drivers, and of the offers its
// drivers answer: all of them in one frame, in the order they were routed.
func rigPartition() int32 {
	_, _, region := geo.DefaultResolutions().Cells(rigPoint)
	return router.PartitionOf(region, 4)
}

// record is a driver update of input t made ms milliseconds after base or, on
// driver-responses, a driver's accept of an offer made by the drivers' partition.
func (r *mergeRig) record(t tp, ms int64) *kgo.Record {
	at := r.base.Add(time.Duration(ms) * time.Millisecond)
	d := event.DriverLocation{DriverID: fmt.Sprintf("D%d-%d", t.Partition, ms), Location: rigPoint, Time: event.TimeOf(at),
		Availability: event.Available, Vehicle: event.Sedan, Rating: 4.5}
	value := d.AppendJSON(nil)
	if t.Topic == r.m.responses {
		a := event.OfferResponse{OfferID: event.OfferID(rigPartition(), "R", d.DriverID, event.TimeOf(r.base)), RequestID: "R", DriverID: d.DriverID, Accepted: true, Time: d.Time}
		value = a.AppendJSON(nil)
	}
	rec := &kgo.Record{Topic: t.Topic, Partition: t.Partition, Offset: r.next[t], Timestamp: at, Value: value}
	r.next[t]++
	return rec
}

// poll routes a poll of the given records, each partition's end being end[t] (its last
// offset + 1 when absent), and returns the milliseconds of the records routed, in order:
// driver updates, and drivers' answers (checked to go where their offer ids say).
func (r *mergeRig) poll(recs map[tp][]int64, end map[tp]int64) []int64 {
	var f kgo.Fetch
	for t, mss := range recs {
		p := kgo.FetchPartition{Partition: t.Partition, LastStableOffset: -1}
		for _, ms := range mss {
			p.Records = append(p.Records, r.record(t, ms))
		}
		p.HighWatermark = r.next[t]
		if e, ok := end[t]; ok {
			p.HighWatermark = e
		}
		f.Topics = append(f.Topics, kgo.FetchTopic{Topic: t.Topic, Partitions: []kgo.FetchPartition{p}})
	}
	out := newOutbox("router", "rl", "dlq", &Stats{})
	r.m.Merge(context.Background(), &Poll[*routerState]{Fetches: kgo.Fetches{f}, Parts: r.parts, Assigned: r.assigned, Out: out})
	out.closeFrames()
	var got []int64
	for _, rec := range out.records {
		_ = event.EachInFrame(rec.Value, func(_ int, b []byte) error {
			var lr event.LogRecord
			if err := event.DecodeLog(b, &lr); err != nil {
				r.t.Fatal(err)
			}
			ms := lr.Time.Std().Sub(r.base).Milliseconds()
			switch lr.Kind {
			case event.LogDriver:
				got = append(got, ms)
			case event.LogResponse:
				if p, _ := event.OfferPartition(lr.Response.OfferID); rec.Partition != p || p != rigPartition() {
					r.t.Errorf("the answer of %d ms went to p%d, its offer id %s", ms, rec.Partition, lr.Response.OfferID)
				}
				got = append(got, ms)
			}
			return nil
		})
	}
	return got
}

// TestRouterMerges: the router routes the records of a backlog (older than CatchUpLag)
// in log-time order across its input partitions, routes nothing past what a partition
// with records still to come may yet precede, holds the rest for the next poll, and
// commits short of what it holds. Live records go at once.
func TestRouterMerges(t *testing.T) {
	d0, d1, d2 := driversAt(0), driversAt(1), driversAt(2)
	r := newMergeRig(t, d0, d1, d2)
	r.m.assign(r.assigned)
	for _, in := range []tp{d0, d1, d2} {
		r.m.inputs[in].known, r.m.inputs[in].end = true, 1
	}
	// Before anything is routed there is nothing to claim: no claim of time zero.
	if h := r.m.header(r.parts, time.Now()); h != nil {
		t.Fatalf("a mark before any record: %+v", h.Mark)
	}
	for _, in := range []tp{d0, d1, d2} {
		r.m.inputs[in].end = 0
	}
	// d2 is caught up and empty; d0 and d1 interleave, and d1 has more on the broker.
	got := r.poll(map[tp][]int64{d0: {10, 30, 50, 70}, d1: {20, 40}}, map[tp]int64{d1: 5})
	if fmt.Sprint(got) != "[10 20 30 40]" {
		t.Fatalf("routed %v, want [10 20 30 40]: merged, and nothing past d1's last until its next comes", got)
	}
	if at := r.m.Held(r.parts)[d0]; at.Offset != 2 {
		t.Errorf("d0 commits at %d, want 2, its first record held", at.Offset)
	}
	if _, ok := r.m.Held(r.parts)[d1]; ok {
		t.Errorf("d1 holds nothing, yet commits short")
	}
	// The session would commit where the consumer has read to: d0's 4, d1's 2.
	req := &kmsg.TxnOffsetCommitRequest{Topics: []kmsg.TxnOffsetCommitRequestTopic{{Topic: d0.Topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{
		{Partition: 0, Offset: 4}, {Partition: 1, Offset: 2}}}}}
	if err := commitShort(r.m.Held(r.parts))(req); err != nil || req.Topics[0].Partitions[0].Offset != 2 || req.Topics[0].Partitions[1].Offset != 2 {
		t.Errorf("the commit after lowering: %+v, %v; want d0 at 2 and d1 at 2", req.Topics[0].Partitions, err)
	}
	// d1's next records come: the held ones go out in order with them.
	got = r.poll(map[tp][]int64{d1: {45, 60, 80}}, nil)
	if fmt.Sprint(got) != "[45 50 60 70 80]" {
		t.Fatalf("routed %v, want [45 50 60 70 80]", got)
	}
	if len(r.m.Held(r.parts)) != 0 {
		t.Errorf("still holding: %v", r.m.Held(r.parts))
	}
	// A partition known to have records, none of them polled yet, holds everything
	// back, but not beyond idleWait.
	r.m.inputs[d2].end = 3
	if got = r.poll(map[tp][]int64{d0: {90}}, nil); len(got) != 0 {
		t.Fatalf("routed %v while d2 had records to come", got)
	}
	r.m.inputs[d2].waiting = time.Now().Add(-2 * idleWait)
	if got = r.poll(nil, nil); fmt.Sprint(got) != "[90]" {
		t.Fatalf("routed %v after waiting for d2 longer than idleWait, want [90]", got)
	}
	// Live records, younger than CatchUpLag, wait for no partition.
	r.m.inputs[d2].waiting = time.Time{}
	live := time.Since(r.base).Milliseconds()
	if got = r.poll(map[tp][]int64{d0: {live}}, nil); fmt.Sprint(got) != fmt.Sprint([]int64{live}) {
		t.Fatalf("routed %v of a live record while d2 had records to come, want it at once", got)
	}
}

// TestProducerModeRefusesInsaneRecordTimes: in producer mode a record timestamp is the
// log time, so one outside 2000-2099 is dead-lettered, even after valid records have
// moved its partition's log time past it.
func TestProducerModeRefusesInsaneRecordTimes(t *testing.T) {
	d0 := driversAt(0)
	r := newMergeRig(t, d0)
	r.m.assign(r.assigned)
	r.m.inputs[d0].known = true
	ok := r.record(d0, 10)
	zero := r.record(d0, 20)
	zero.Timestamp = time.UnixMilli(0)
	var f kgo.Fetch
	f.Topics = []kgo.FetchTopic{{Topic: d0.Topic, Partitions: []kgo.FetchPartition{{Partition: 0, HighWatermark: 2, LastStableOffset: -1, Records: []*kgo.Record{ok, zero}}}}}
	out := newOutbox("router", "rl", "dlq", &Stats{})
	if n, _ := r.m.Merge(context.Background(), &Poll[*routerState]{Fetches: kgo.Fetches{f}, Parts: r.parts, Assigned: r.assigned, Out: out}); n != 2 {
		t.Fatalf("handled %d records, want 2", n)
	}
	var reasons []string
	for _, rec := range out.records {
		for _, h := range rec.Headers {
			if h.Key == "ridematch.reason" {
				reasons = append(reasons, string(h.Value))
			}
		}
	}
	if fmt.Sprint(reasons) != "[bad_record_timestamp]" {
		t.Fatalf("dead letters %v, want the record of timestamp 0", reasons)
	}
}

// TestRouterMergesResponses: driver-responses partitions are sources of their own, merged
// in log-time order with the others; and an idle one, as offers off leaves it, holds
// nothing back, exactly as an idle ride-requests partition does.
func TestRouterMergesResponses(t *testing.T) {
	d0, q0, a0, a1 := driversAt(0), requestsAt(0), responsesAt(0), responsesAt(1)
	r := newMergeRig(t, d0, q0, a0, a1)
	r.m.assign(r.assigned)
	ids := map[event.SourceID]tp{}
	for t2, want := range map[tp]event.SourceID{d0: event.SourceOf(false, 0), q0: event.SourceOf(true, 0), a0: event.ResponseSource(0), a1: event.ResponseSource(1)} {
		if got := r.m.inputs[t2].id; got != want {
			t.Errorf("%v is source %#x, want %#x", t2, got, want)
		}
		ids[r.m.inputs[t2].id] = t2
	}
	if len(ids) != 4 {
		t.Fatalf("the four inputs share source ids: %v", ids)
	}
	if st := r.parts[a0]; st.src != router.DriverResponses {
		t.Fatalf("a driver-responses partition's router reads topic %v", st.src)
	}
	// As lookUp leaves empty topics: known, caught up.
	for _, in := range r.m.inputs {
		in.known, in.end = true, 0
	}
	// A backlog: d0 and a0 interleave, a0 has one more on the broker, q0 and a1 are idle.
	got := r.poll(map[tp][]int64{d0: {10, 30, 50}, a0: {21, 42}}, map[tp]int64{a0: 3})
	if fmt.Sprint(got) != "[10 21 30 42]" {
		t.Fatalf("routed %v, want [10 21 30 42]: merged, and nothing past a0's last until its next comes", got)
	}
	if at := r.m.Held(r.parts)[d0]; at.Offset != 2 {
		t.Errorf("d0 commits at %d, want 2, its first record held", at.Offset)
	}
	if got = r.poll(map[tp][]int64{a0: {47}}, nil); fmt.Sprint(got) != "[47 50]" {
		t.Fatalf("routed %v, want [47 50]", got)
	}
	if st := r.parts[a0].rt.Stats(); st.Responses != 3 || st.Routed != 3 || st.DeadLettered != 0 {
		t.Errorf("a0's router: %+v, want 3 answers routed", st)
	}
	// The marks name the partitions that routed something; the idle ones claim nothing
	// that could hold a clock back.
	h := r.m.header(r.parts, time.Now())
	var named []event.SourceID
	for _, s := range h.Mark.Sources {
		named = append(named, s.Source)
	}
	if want := []event.SourceID{event.SourceOf(false, 0), event.ResponseSource(0)}; fmt.Sprint(named) != fmt.Sprint(want) {
		t.Errorf("the mark names %v, want d0 and a0: %v", named, want)
	}

	// An idle requests partition and an idle responses partition are alike: caught up,
	// neither holds the backlog back; with records to come, each does, up to idleWait;
	// timed as received (broker mode), each claims the present.
	for i, idle := range []tp{q0, a1} {
		in := r.m.inputs[idle]
		ms := int64(100 * (i + 1)) // each its own drivers: a driver's update no newer is dropped
		t.Run(idle.Topic, func(t *testing.T) {
			in.known, in.end, in.next = true, 0, 0
			if got := r.poll(map[tp][]int64{d0: {ms}}, nil); fmt.Sprint(got) != fmt.Sprint([]int64{ms}) {
				t.Errorf("routed %v with %v idle and caught up, want [%d]", got, idle, ms)
			}
			in.end = 1
			if got := r.poll(map[tp][]int64{d0: {ms + 10}}, nil); len(got) != 0 {
				t.Errorf("routed %v while %v had records to come", got, idle)
			}
			in.waiting = time.Now().Add(-2 * idleWait)
			if got := r.poll(nil, nil); fmt.Sprint(got) != fmt.Sprint([]int64{ms + 10}) {
				t.Errorf("routed %v after waiting for %v longer than idleWait, want [%d]", got, idle, ms+10)
			}
			in.end, in.waiting, in.received = 0, time.Time{}, true
			now := time.Now()
			for _, s := range r.m.header(r.parts, now).Mark.Sources {
				if s.Source == in.id && s.Claim < event.TimeOf(now) {
					t.Errorf("%v, timed as received, claims %v, before the present", idle, s.Claim)
				}
			}
			in.received = false
		})
	}
}
