package engine

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The plumbing floor copies records without decoding them, and writes one outcome for each
// record of the ride requests, keyed as the request was: what the bench's reader times.
func TestNoopCopiesRequestsToMatches(t *testing.T) {
	router := &noopMachine{regionLog: "log", partitions: 3, requests: "ride-requests"}
	matcher := &noopMachine{matches: "ride-matches"}
	newOutbox := func() *outbox {
		return &outbox{stats: &Stats{}, regionLog: "log", frames: map[int32][]byte{}, counts: map[int32]int{}}
	}
	in := []*kgo.Record{
		{Topic: "driver-locations", Key: []byte("DRV-1"), Value: []byte(`{"event_type":"driver_location_update"}`)},
		{Topic: "ride-requests", Key: []byte("REQ-1"), Value: []byte(`{"event_type":"ride_requested"}`)},
		{Topic: "driver-locations", Key: []byte("DRV-2"), Value: []byte("not even JSON")},
		{Topic: "ride-requests", Key: nil, Value: []byte(`{"event_type":"ride_cancelled"}`)},
		{Topic: "ride-requests", Key: []byte("REQ-2"), Value: nil},
	}
	routed := newOutbox()
	for _, r := range in {
		router.apply(r, routed)
	}
	router.apply(in[1], nil) // replaying writes nothing
	routed.closeFrames()
	if got := len(routed.records); got == 0 || got > 3 {
		t.Fatalf("%d region-log frames for 5 records over 3 partitions", got)
	}

	matched := newOutbox()
	for _, f := range routed.records {
		if f.Topic != "log" {
			t.Fatalf("the router wrote to %s", f.Topic)
		}
		matcher.apply(f, matched)
	}
	matcher.apply(&kgo.Record{Value: []byte("junk")}, matched)
	want := map[string]string{"REQ-1": `{"event_type":"ride_requested"}`, "": `{"event_type":"ride_cancelled"}`, "REQ-2": ""}
	if len(matched.records) != len(want) {
		t.Fatalf("%d outcomes, want %d", len(matched.records), len(want))
	}
	for _, o := range matched.records {
		if v, ok := want[string(o.Key)]; o.Topic != "ride-matches" || !ok || v != string(o.Value) {
			t.Errorf("outcome %s %q = %q", o.Topic, o.Key, o.Value)
		}
	}
}
