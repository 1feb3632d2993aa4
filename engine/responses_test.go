package engine

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
)

// TestDriverResponsesRouted: a running engine's router reads drivers' answers from
// driver-responses and writes each to the region-log partition its offer id names; an
// answer to no offer of the engine is dropped, and a bad one is dead-lettered with
// driver-responses as its source.
func TestDriverResponsesRouted(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	waitReady(t, e, 20*time.Second)
	n := h.topics.Get(ridematch.RoleRegionLog).Partitions
	topic := h.topics.Name(ridematch.RoleDriverResponses)
	now := event.TimeOf(time.Now())
	answers := map[string]int32{} // offer id to the partition it names
	send := func(r event.OfferResponse) {
		h.produce(topic, r.DriverID, r.AppendJSON(nil))
	}
	for i, p := range []int32{2, n - 1, 0} {
		r := event.OfferResponse{OfferID: event.OfferID(p, "R1", "D1", now.Add(time.Duration(i)*time.Second)), RequestID: "R1", DriverID: "D1", Accepted: i != 1, Time: now}
		answers[r.OfferID] = p
		send(r)
	}
	send(event.OfferResponse{OfferID: event.OfferID(n, "R1", "D1", now), RequestID: "R1", DriverID: "D1", Accepted: true, Time: now})
	send(event.OfferResponse{OfferID: "offer-1", RequestID: "R1", DriverID: "D1", Time: now})
	bad := map[string]event.Reason{
		"D-NO-OFFER":  event.ReasonMissingField,
		"D-REQUESTED": event.ReasonWrongTopic,
	}
	h.produce(topic, "D-NO-OFFER", []byte(`{"event_type":"offer_accepted","request_id":"R1","driver_id":"D-NO-OFFER","timestamp":"2026-11-25T19:00:00"}`))
	req := event.RideRequest{RequestID: "R9", CustomerID: "C9", Pickup: rigPoint, Drop: rigPoint, Time: now, RideType: event.Mini}
	h.produce(topic, "D-REQUESTED", req.AppendJSON(nil))

	got := map[string]int32{}
	if !waitFor(20*time.Second, func() bool {
		clear(got)
		for _, rec := range h.readAll(h.topics.Name(ridematch.RoleRegionLog)) {
			_ = event.EachInFrame(rec.Value, func(_ int, b []byte) error {
				var lr event.LogRecord
				if err := event.DecodeLog(b, &lr); err != nil {
					t.Fatal(err)
				}
				if lr.Kind == event.LogResponse {
					got[lr.Response.OfferID] = rec.Partition
				}
				return nil
			})
		}
		return len(got) >= len(answers)
	}) {
		t.Fatalf("the region log holds answers %v, want %v", got, answers)
	}
	for id, p := range answers {
		if q, ok := got[id]; !ok || q != p {
			t.Errorf("the answer to %s went to p%d (%v), want p%d", id, q, ok, p)
		}
	}
	if len(got) != len(answers) {
		t.Errorf("the region log holds answers %v, want only %v", got, answers)
	}
	var dlq []*kgo.Record
	if !waitFor(20*time.Second, func() bool {
		dlq = h.readAll(h.topics.Name(ridematch.RoleDeadLetter))
		return len(dlq) >= len(bad)
	}) || len(dlq) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(bad))
	}
	for _, r := range dlq {
		hd := map[string]string{}
		for _, kv := range r.Headers {
			hd[kv.Key] = string(kv.Value)
		}
		if want := bad[string(r.Key)]; hd["ridematch.reason"] != string(want) || hd["ridematch.source.topic"] != topic {
			t.Errorf("dead letter %s: reason %s from %s, want %s from %s", r.Key, hd["ridematch.reason"], hd["ridematch.source.topic"], want, topic)
		}
	}
	e.stop(t)
}
