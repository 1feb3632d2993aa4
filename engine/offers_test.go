package engine

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
	"ridematch/internal/fnv"
	"ridematch/matcher"
)

// answerOffers runs drivers that answer the engine's offers until the test ends: each
// offer, by a hash of its id, is accepted (3 in 5), declined (1 in 4) or left to lapse,
// after up to 800 ms. It returns how many offers it saw, read when the test is done.
func (h *harness) answerOffers() *atomic.Int64 {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.broker.Addr()), kgo.ConsumeTopics(h.topics.Name(ridematch.RoleDriverOffers)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ProducerLinger(0))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	seen := new(atomic.Int64)
	h.t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	responses := h.topics.Name(ridematch.RoleDriverResponses)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				var o event.RideOffered
				if json.Unmarshal(r.Value, &o) != nil || o.EventType != event.TypeRideOffered {
					return
				}
				seen.Add(1)
				x := uint64(fnv.New64().AddString(o.OfferID))
				a := event.OfferResponse{OfferID: o.OfferID, RequestID: o.RequestID, DriverID: o.DriverID}
				switch x % 20 {
				case 0, 1, 2:
					return // silence: the offer lapses
				case 3, 4, 5, 6, 7:
				default:
					a.Accepted = true
				}
				delay := time.Duration(x>>8%800) * time.Millisecond
				time.AfterFunc(delay, func() {
					a.Time = event.TimeOf(time.Now())
					cl.Produce(ctx, &kgo.Record{Topic: responses, Key: []byte(a.DriverID), Value: a.AppendJSON(nil)}, nil)
				})
			})
		}
	}()
	return seen
}

// TestOffersMembersComeAndGo is TestMembersComeAndGo with driver offers on and drivers
// answering, declining and lapsing: offers open through rebalances end as a clean replay
// of the region log ends them, and every request still gets one final outcome.
func TestOffersMembersComeAndGo(t *testing.T) {
	for _, a := range []matcher.Assignment{matcher.Greedy, matcher.Adaptive} {
		t.Run(a.String(), func(t *testing.T) {
			h := newHarness(t)
			h.assignment, h.offerTimeout = a, 2*time.Second
			seen := h.answerOffers()
			x, y := h.start(), h.start()
			quitAfter(x, 1)
			quitAfter(y, 3)
			w, reqs, bad := h.fixture(17, 250, 150, func(i int) {
				switch i {
				case 20, 80:
					h.start()
				case 50:
					quitAfter(h.start(), 2)
				}
			})
			h.holds(w, reqs, bad)
			got, want := written(t, h), replayed(t, h)
			offers := h.topics.Name(ridematch.RoleDriverOffers) + "/"
			n := 0
			for k, vs := range want.keyed {
				if len(k) > len(offers) && k[:len(offers)] == offers {
					n += len(vs)
					if g := got.keyed[k]; jsonOf(map[string]any{"v": g}) != jsonOf(map[string]any{"v": vs}) {
						t.Errorf("%s: the engines wrote %v, a clean replay %v", k, g, vs)
					}
				}
			}
			if n == 0 || seen.Load() == 0 {
				t.Fatalf("no offers: %d replayed, %d seen", n, seen.Load())
			}
			t.Logf("%d offers", n)
		})
	}
}
