package bench

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch/engine"
)

// The plumbing floor copies records without decoding them, and writes one outcome for each
// record of the ride requests, keyed as the request was: what the bench's reader times.
func TestFloorCopiesRequestsToMatches(t *testing.T) {
	router := &floorCopy{partitions: 3, requests: "ride-requests"}
	matcher := &floorAnswer{matches: "ride-matches"}
	in := []*kgo.Record{
		{Topic: "driver-locations", Key: []byte("DRV-1"), Value: []byte(`{"event_type":"driver_location_update"}`)},
		{Topic: "ride-requests", Key: []byte("REQ-1"), Value: []byte(`{"event_type":"ride_requested"}`)},
		{Topic: "driver-locations", Key: []byte("DRV-2"), Value: []byte("not even JSON")},
		{Topic: "ride-requests", Key: nil, Value: []byte(`{"event_type":"ride_cancelled"}`)},
		{Topic: "ride-requests", Key: []byte("REQ-2"), Value: nil},
	}
	routed := engine.NewOutbox("log", "dlq")
	for _, r := range in {
		router.Apply(r, routed)
	}
	router.Replay(in[1]) // replaying writes nothing
	frames := routed.Records()
	if got := len(frames); got == 0 || got > 3 {
		t.Fatalf("%d region-log frames for 5 records over 3 partitions", got)
	}

	matched := engine.NewOutbox("log", "dlq")
	for _, f := range frames {
		if f.Topic != "log" {
			t.Fatalf("the router wrote to %s", f.Topic)
		}
		matcher.Apply(f, matched)
	}
	matcher.Apply(&kgo.Record{Value: []byte("junk")}, matched)
	want := map[string]string{"REQ-1": `{"event_type":"ride_requested"}`, "": `{"event_type":"ride_cancelled"}`, "REQ-2": ""}
	outcomes := matched.Records()
	if len(outcomes) != len(want) {
		t.Fatalf("%d outcomes, want %d", len(outcomes), len(want))
	}
	for _, o := range outcomes {
		if v, ok := want[string(o.Key)]; o.Topic != "ride-matches" || !ok || v != string(o.Value) {
			t.Errorf("outcome %s %q = %q", o.Topic, o.Key, o.Value)
		}
	}
}

// The floor's topology is valid against the default topics: the bench runs it through
// the same checks as the engine's.
func TestFloorTopologyIsValid(t *testing.T) {
	cfg := engine.DefaultConfig()
	if err := floorTopology(&cfg).Validate(cfg.Topics); err != nil {
		t.Fatal(err)
	}
}
