package engine

import (
	"encoding/json"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"ridematch"
	"ridematch/event"
	"ridematch/matcher"
)

// fixture produces a city's worth of reference-shaped input with bad records mixed in,
// paced over about a second, and returns the requests and how many records were bad.
func (h *harness) fixture(seed uint64, drivers, requests int, during func(i int)) (*world, map[string]event.RideRequest, int) {
	h.t.Helper()
	w := newWorld(seed)
	now := time.Now().UTC()
	dt, rt := h.topics.Name(ridematch.RoleDriverLocations), h.topics.Name(ridematch.RoleRideRequests)
	for i := 0; i < drivers; i++ {
		d := w.driver(i, now)
		h.produce(dt, d.DriverID, d.AppendJSON(nil))
	}
	reqs := map[string]event.RideRequest{}
	bad := 0
	for i := 0; i < requests; i++ {
		r := w.request(i, time.Now().UTC())
		reqs[r.RequestID] = r
		h.produce(rt, r.RequestID, r.AppendJSON(nil))
		if i%25 == 0 {
			h.produce(rt, "junk", []byte("\x00\x01 not json"))
			h.produce(dt, "DRV-bad", []byte(`{"event_type":"driver_location_update","driver_id":"DRV-bad","location":{"lat":0,"lng":0},"timestamp":"2026-11-25T10:00:00","availability":"available","vehicle_type":"sedan"}`))
			bad += 2
		}
		if during != nil {
			during(i)
		}
		time.Sleep(8 * time.Millisecond)
	}
	return w, reqs, bad
}

// holds checks every promise a run must keep, whatever happened during it.
func (h *harness) holds(w *world, reqs map[string]event.RideRequest, bad int) {
	h.t.Helper()
	out := h.outcomesFor(reqs, 60*time.Second)
	if matched := checkOutcomes(h.t, w, reqs, out, 3.0); matched < len(reqs)/3 {
		h.t.Errorf("only %d of %d requests matched", matched, len(reqs))
	}
	if dlq := len(h.readAll(h.topics.Name(ridematch.RoleDeadLetter))); dlq != bad {
		h.t.Errorf("the dead-letter topic holds %d records, want the %d bad ones exactly once", dlq, bad)
	}
	replayed := replayRegionLog(h.t, h)
	diff := 0
	for id, m := range out {
		if got, want := jsonOf(m), jsonOf(replayed[id]); got != want && diff < 5 {
			diff++
			h.t.Errorf("request %s: the engines wrote %s, a clean replay of the region log gives %s", id, got, want)
		}
	}
}

func jsonOf(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// TestFaults fails, one kind at a time, each request the engine depends on. Whatever
// fails, every request gets exactly one outcome, identical to a clean replay, and every
// bad record is dead-lettered exactly once.
func TestFaults(t *testing.T) {
	n := func(k kmsg.Key) []kmsg.Key { return []kmsg.Key{k} }
	tests := []struct {
		name   string
		faults func(h *harness) []kfake.Fault
	}{
		{"produce to the region log fails", func(h *harness) []kfake.Fault {
			return []kfake.Fault{{Keys: n(kmsg.Produce), Topic: h.topics.Name(ridematch.RoleRegionLog), Err: kerr.UnknownServerError, Count: 4}}
		}},
		{"produce of outcomes fails", func(h *harness) []kfake.Fault {
			return []kfake.Fault{{Keys: n(kmsg.Produce), Topic: h.topics.Name(ridematch.RoleRideMatches), Err: kerr.NotLeaderForPartition, Count: 4}}
		}},
		{"fetch fails", func(h *harness) []kfake.Fault {
			return []kfake.Fault{{Keys: n(kmsg.Fetch), Err: kerr.UnknownServerError, Count: 6}}
		}},
		{"offset commit fails", func(h *harness) []kfake.Fault {
			return []kfake.Fault{{Keys: n(kmsg.TxnOffsetCommit), Err: kerr.CoordinatorNotAvailable, Count: 4}}
		}},
		{"end of transaction fails", func(h *harness) []kfake.Fault {
			return []kfake.Fault{{Keys: n(kmsg.EndTxn), Err: kerr.UnknownServerError, Count: 3}}
		}},
		{"heartbeats fail", func(h *harness) []kfake.Fault {
			return []kfake.Fault{{Keys: n(kmsg.Heartbeat), Err: kerr.RebalanceInProgress, Count: 6}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.start()
			h.start()
			var handle *kfake.FaultHandle
			w, reqs, bad := h.fixture(11, 250, 150, func(i int) {
				if i == 40 {
					handle = h.broker.Cluster().Fault(tt.faults(h)...)
				}
			})
			h.holds(w, reqs, bad)
			if handle == nil || handle.Hits() == 0 {
				t.Errorf("the fault never fired: the test proved nothing")
			}
		})
	}
}

// TestConnectionsCut closes every client connection the broker has, several times, while
// the engines work.
func TestConnectionsCut(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.start()
	var cuts atomic.Int32
	w, reqs, bad := h.fixture(12, 250, 150, func(i int) {
		if i%30 == 15 {
			left := 8
			h.broker.Cluster().Control(func(kmsg.Request) (kmsg.Response, error, bool) {
				if left == 0 {
					return nil, nil, false
				}
				left--
				cuts.Add(1)
				h.broker.Cluster().KeepControl()
				return nil, errors.New("cut"), true
			})
		}
	})
	h.holds(w, reqs, bad)
	if cuts.Load() == 0 {
		t.Error("no connection was cut")
	}
}

// quitAfter stops member r once it has committed txns transactions.
func quitAfter(r *running, txns uint64) {
	go func() {
		for r.e.Stats().Transactions < txns {
			time.Sleep(time.Millisecond)
		}
		r.cancel()
	}()
}

// TestMembersComeAndGo: members that quit after zero, one and two transactions, and
// late joiners, while requests flow.
func TestMembersComeAndGo(t *testing.T) {
	for _, a := range []matcher.Assignment{matcher.Greedy, matcher.Batch, matcher.Adaptive} {
		t.Run(a.String(), func(t *testing.T) { membersComeAndGo(t, a) })
	}
}

// membersComeAndGo: batch windows in flight through rebalances close as a clean replay
// of the region log closes them.
func membersComeAndGo(t *testing.T, policy matcher.Assignment) {
	h := newHarness(t)
	h.assignment = policy
	a, b, c := h.start(), h.start(), h.start()
	quitAfter(a, 0)
	quitAfter(b, 1)
	quitAfter(c, 2)
	w, reqs, bad := h.fixture(13, 250, 150, func(i int) {
		switch i {
		case 30, 90:
			h.start()
		case 60:
			quitAfter(h.start(), 3)
		}
	})
	h.holds(w, reqs, bad)
}

// TestDecisionsBehindADeadMembersTransaction: a member that dies mid-transaction leaves it
// open until the broker aborts it at its timeout, and read_committed readers see nothing
// past its first record, not even what other members committed after it. A matcher
// partition restored meanwhile must still find every decision its previous owner
// committed: without them, its replay leaves those requests pending, and it matches
// them a second time.
func TestDecisionsBehindADeadMembersTransaction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e1 := h.start()
	decisions := h.topics.Name(ridematch.RoleDecisionLog)
	// e1 owns every partition, rebuilt, before the member dies: a driver's update starts
	// the router's clock, whose ticks reach every partition of the region log.
	w := newWorld(14)
	d := w.driver(300, time.Now().UTC())
	h.produce(h.topics.Name(ridematch.RoleDriverLocations), d.DriverID, d.AppendJSON(nil))
	if !waitFor(10*time.Second, func() bool {
		return e1.e.Stats().Restores >= 1+uint64(h.topics.Get(ridematch.RoleRegionLog).Partitions)
	}) {
		t.Fatal("the engine did not rebuild every partition")
	}

	// The dead member: its transaction holds a record in every partition of the decision
	// log, and never ends.
	dead, err := kgo.NewClient(kgo.SeedBrokers(h.broker.Addr()), kgo.TransactionalID("dead-member"),
		kgo.TransactionTimeout(10*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if err := dead.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < h.topics.Get(ridematch.RoleDecisionLog).Partitions; p++ {
		if err := dead.ProduceSync(h.ctx, &kgo.Record{Topic: decisions, Partition: p, Value: []byte("dead")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	fw, reqs, bad := h.fixture(14, 300, 100, nil)
	maps.Copy(fw.drivers, w.drivers)
	time.Sleep(time.Second) // e1 matches, and commits its decisions behind the dead transaction
	e1.stop(t)

	adm := kadm.NewClient(h.client)
	stable, err1 := adm.ListCommittedOffsets(h.ctx, decisions)
	ends, err2 := adm.ListEndOffsets(h.ctx, decisions)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	hidden := int64(0)
	ends.Each(func(e kadm.ListedOffset) {
		if s, ok := stable.Lookup(e.Topic, e.Partition); ok {
			hidden += e.Offset - s.Offset
		}
	})
	if hidden <= int64(h.topics.Get(ridematch.RoleDecisionLog).Partitions) {
		t.Fatalf("no decision is hidden behind the dead transaction (%d records are): the test proves nothing", hidden)
	}

	// The next owner restores every partition while the dead transaction is still open,
	// as soon as the region log has something new: a driver comes online.
	h.start()
	d = fw.driver(301, time.Now().UTC())
	h.produce(h.topics.Name(ridematch.RoleDriverLocations), d.DriverID, d.AppendJSON(nil))
	h.holds(fw, reqs, bad)
}
