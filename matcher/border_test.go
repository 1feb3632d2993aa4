package matcher

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// pair is two partitions, 0 and 1, whose hand-offs (claims, answers, tokens) go through
// a queue as through the log: delivered after the record that made them, in order.
type pair struct {
	t     *testing.T
	parts [2]*Partition
	next  [2]event.Position
	queue []queued
	out   []event.Output // every event either wrote, in order
	logs  [2][]*event.LogRecord
	// With answers set, drivers answer offers: each accepts with probability accept,
	// declines with decline, else is silent, after up to 12 s; due are the answers to come.
	answers         *rand.Rand
	accept, decline float64
	due             []*event.LogRecord
}

// deliver applies the drivers' answers due by now, each to the partition that made the
// offer.
func (pr *pair) deliver(now event.Time) {
	for len(pr.due) > 0 && pr.due[0].Time <= now {
		a := pr.due[0]
		pr.due = pr.due[1:]
		to, ok := event.OfferPartition(a.Response.OfferID)
		if !ok {
			pr.t.Fatalf("offer id %q names no partition", a.Response.OfferID)
		}
		pr.to(to, a)
	}
}

// answer schedules a driver's answer to o, if it gives one.
func (pr *pair) answer(o *event.RideOffered) {
	at := o.OfferTimestamp.Add(time.Duration(pr.answers.Int64N(int64(12 * time.Second))))
	var rec *event.LogRecord
	switch x := pr.answers.Float64(); {
	case x < pr.accept:
		rec = answer(o, true, at)
	case x < pr.accept+pr.decline:
		rec = answer(o, false, at)
	default:
		return
	}
	i := len(pr.due)
	for i > 0 && pr.due[i-1].Time > at {
		i--
	}
	pr.due = append(pr.due, nil)
	copy(pr.due[i+1:], pr.due[i:])
	pr.due[i] = rec
}

type queued struct {
	to  int32
	rec event.LogRecord
}

func newPair(t *testing.T, mutate ...func(*Config)) *pair {
	pr := &pair{t: t}
	cfg := DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	for i := range pr.parts {
		p, err := New(cfg, int32(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		pr.parts[i] = p
	}
	return pr
}

// to applies records to partition i, then delivers the hand-offs until none are left.
func (pr *pair) to(i int32, recs ...*event.LogRecord) {
	for _, r := range recs {
		pr.apply(i, r)
	}
	for len(pr.queue) > 0 {
		q := pr.queue[0]
		pr.queue = pr.queue[1:]
		pr.apply(q.to, &q.rec)
	}
}

func (pr *pair) apply(i int32, r *event.LogRecord) {
	p := pr.parts[i]
	pr.next[i]++
	rec := *r
	pr.logs[i] = append(pr.logs[i], &rec)
	p.Apply(r, pr.next[i])
	for _, o := range p.Outputs() {
		switch {
		case o.Handoff != nil:
			pr.queue = append(pr.queue, queued{o.To, *o.Handoff})
		case o.Event != nil:
			pr.out = append(pr.out, o.Event)
			if e, ok := o.Event.(*event.RideOffered); ok && pr.answers != nil {
				pr.answer(e)
			}
		}
	}
}

// shadowOf is driver record r as a shadow owned by partition owner.
func shadowOf(r *event.LogRecord, owner int32) *event.LogRecord {
	s := *r
	s.Route, s.From = event.RouteShadow, owner
	return &s
}

// matched returns the driver each request was matched to, failing on a second outcome.
func (pr *pair) matched() map[string]string {
	got := map[string]string{}
	final := map[string]int{}
	for _, e := range pr.out {
		switch m := e.(type) {
		case *event.RideMatched:
			got[m.RequestID] = m.DriverID
			final[m.RequestID]++
		case *event.RideUnmatched:
			final[m.RequestID]++
		case *event.RideCancelled:
			final[m.RequestID]++
		}
	}
	for id, n := range final {
		if n != 1 {
			pr.t.Fatalf("request %s has %d final outcomes: %s", id, n, describe(pr.out))
		}
	}
	return got
}

var across = geo.Offset(bandra, 0, 1.2) // 1.2 km east of the pickup

// TestClaimGranted: a request whose best driver is a shadow claims it; the owner grants,
// writes ride_matched at the price the claimant quoted, and the claimant writes nothing.
func TestClaimGranted(t *testing.T) {
	pr := newPair(t)
	d := driverAt("D1", across, t0)
	pr.to(1, d)
	pr.to(0, shadowOf(d, 1), requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
	if got := pr.matched(); got["R1"] != "D1" {
		t.Fatalf("R1 got %q: %s", got["R1"], describe(pr.out))
	}
	m := pr.out[len(pr.out)-1].(*event.RideMatched)
	if m.PickupDistanceKM < 1.19 || m.PickupDistanceKM > 1.21 || m.H3Cell != geo.CellOf(bandra, 9).Parent(7) {
		t.Errorf("match %+v", m)
	}
	a, b := pr.parts[0].Stats(), pr.parts[1].Stats()
	if a.Claims != 1 || b.ClaimsGranted != 1 || a.Matched != 0 || b.Matched != 1 {
		t.Errorf("claimant %+v, owner %+v", a, b)
	}
	// The owner holds the driver: a second request on its side finds no one.
	pr.to(1, requestAt("R2", across, event.Mini, t0.Add(sec(2))))
	if got := pr.matched(); got["R2"] != "" {
		t.Fatalf("R2 got the reserved driver")
	}
}

// TestClaimRefusedSearchesAgain: one driver between two riders on either side of a
// border. The owner's own rider takes it first; the claim is refused and the claimant's
// rider gets its next best driver.
func TestClaimRefusedSearchesAgain(t *testing.T) {
	pr := newPair(t)
	d := driverAt("D1", across, t0)
	near := driverAt("D2", geo.Offset(bandra, 0, -2), t0, route(event.RouteGenesis, 0))
	pr.to(1, d)
	pr.to(0, shadowOf(d, 1), near)
	// The claim is queued behind the owner's own request in its log.
	pr.apply(0, requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
	pr.apply(1, requestAt("R2", geo.Offset(across, 0, 0.5), event.Mini, t0.Add(sec(1))))
	pr.to(0)
	got := pr.matched()
	if got["R2"] != "D1" || got["R1"] != "D2" {
		t.Fatalf("got %v: %s", got, describe(pr.out))
	}
	if s := pr.parts[1].Stats(); s.ClaimsRefused != 1 {
		t.Errorf("owner %+v", s)
	}
}

// TestCancelDuringClaim: the rider cancels while the claim is out. Refused, the request
// ends ride_cancelled; granted, the owner, which sees every cancel, writes
// match_cancelled and frees the driver; a cancel the owner sees before the claim makes
// it refuse.
func TestCancelDuringClaim(t *testing.T) {
	for _, c := range []struct {
		name               string
		taken, cancelFirst bool
		want               string
	}{
		{"refused", true, false, event.TypeRideCancelled},
		{"granted", false, false, event.TypeMatchCancelled},
		{"owner saw the cancel first", false, true, event.TypeRideCancelled},
	} {
		pr := newPair(t)
		d := driverAt("D1", across, t0)
		pr.to(1, d)
		if c.taken {
			pr.to(1, requestAt("R0", across, event.Mini, t0.Add(sec(0.5))))
		}
		cancel := cancelAt("R1", t0.Add(sec(1.1)))
		pr.apply(0, shadowOf(d, 1))
		pr.apply(0, requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
		pr.apply(0, cancel)
		if c.cancelFirst {
			pr.apply(1, cancel)
		}
		claim := pr.queue[0]
		pr.queue = pr.queue[1:]
		pr.apply(claim.to, &claim.rec) // the owner answers
		if !c.cancelFirst {
			pr.apply(1, cancel)
		}
		pr.to(0) // the answer
		final := map[string]string{}
		for _, e := range pr.out {
			final[e.Key()] = e.Type()
		}
		if final["R1"] != c.want {
			t.Errorf("%s: R1 ended %q, want %q: %s", c.name, final["R1"], c.want, describe(pr.out))
		}
		if c.want == event.TypeMatchCancelled && pr.parts[1].driver("D1").reserved {
			t.Errorf("%s: the driver is still held", c.name)
		}
	}
}

// TestClaimPastDeadline: a claim still out when the request's TTL runs out is answered,
// and the request is matched or, refused, ends unmatched at once.
func TestClaimPastDeadline(t *testing.T) {
	for _, taken := range []bool{false, true} {
		pr := newPair(t)
		d := driverAt("D1", across, t0)
		pr.apply(0, shadowOf(d, 1))
		pr.apply(0, requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
		pr.apply(1, d)
		if taken {
			pr.apply(1, requestAt("R0", across, event.Mini, t0.Add(sec(1.5))))
		}
		pr.apply(0, tickAt(t0.Add(sec(40)))) // the claimant's clock passes the TTL
		pr.to(1, tickAt(t0.Add(sec(5))))     // the owner's lags
		want := event.TypeRideMatched
		if taken {
			want = event.TypeRideUnmatched
		}
		if last := pr.out[len(pr.out)-1]; last.Key() != "R1" || last.Type() != want {
			t.Fatalf("taken %v: got %s", taken, describe(pr.out))
		}
		pr.matched()
	}
}

// TestShadowWithdrawn: a withdrawn shadow (offline) is not claimed, and no shadow counts
// among this partition's drivers or in its surge supply.
func TestShadowWithdrawn(t *testing.T) {
	pr := newPair(t)
	d := driverAt("D1", across, t0)
	gone := shadowOf(driverAt("D1", across, t0.Add(sec(0.5))), 1)
	gone.Driver.Availability = event.Offline
	pr.to(1, d)
	pr.to(0, shadowOf(d, 1), gone, requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
	if s := pr.parts[0].Stats(); s.Claims != 0 || pr.parts[0].Drivers() != 0 {
		t.Fatalf("claimed a withdrawn shadow, or counted it as a driver: %+v", s)
	}
	if len(pr.parts[0].supply()) != 0 {
		t.Fatal("a shadow counted as supply")
	}
}

// borderTraffic runs a pair over random traffic about a border 1 km east of Bandra:
// drivers west of it are partition 0's, east of it partition 1's; they cross it (Left,
// arrival, token), and within 3 km of it they are shadowed to the other partition, as
// the router does; riders on both sides claim each other's drivers, and cancel.
func borderTraffic(t *testing.T, seed uint64, span time.Duration, mutate ...func(*Config)) *pair {
	return borderTrafficAnswered(t, seed, span, nil, mutate...)
}

// borderTrafficAnswered is borderTraffic with drivers answering offers, if answers is
// set (see pair).
func borderTrafficAnswered(t *testing.T, seed uint64, span time.Duration, answers func(*pair), mutate ...func(*Config)) *pair {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	pr := newPair(t, mutate...)
	if answers != nil {
		answers(pr)
	}
	border := geo.Offset(bandra, 0, 1).Lng
	side := func(p geo.Point) int32 {
		if p.Lng < border {
			return 0
		}
		return 1
	}
	type sim struct {
		pos   geo.Point
		owner int32
		avail event.Availability
	}
	ds := make([]*sim, 120)
	for i := range ds {
		pos := geo.Offset(bandra, rng.NormFloat64()*2, 1+rng.NormFloat64()*2)
		ds[i] = &sim{pos: pos, owner: -1, avail: event.Available}
	}
	rides := []event.RideType{event.Micro, event.Mini, event.Prime}
	n := 0
	for now := t0; now < t0.Add(span); now = now.Add(500 * time.Millisecond) {
		pr.to(0, tickAt(now))
		pr.to(1, tickAt(now))
		pr.deliver(now)
		for i, d := range ds {
			if rng.Float64() < 0.5 {
				continue
			}
			d.pos = geo.Offset(d.pos, rng.NormFloat64()*0.15, rng.NormFloat64()*0.15)
			if r := rng.Float64(); r < 0.03 {
				d.avail = event.Busy
			} else if r < 0.1 {
				d.avail = event.Available
			}
			to := side(d.pos)
			rec := driverAt(fmt.Sprintf("D%03d", i), d.pos, now, vehicle([]event.Vehicle{event.Hatchback, event.Sedan}[i%2]))
			rec.Driver.Availability = d.avail
			switch {
			case d.owner < 0:
			case d.owner != to:
				// The token follows the arrival, as the router's Left and arrival precede it.
				pr.apply(d.owner, &event.LogRecord{Kind: event.LogLeft, Time: now, DriverID: rec.Driver.DriverID, To: to})
				rec.Route, rec.From = event.RouteArrival, d.owner
			default:
				rec.Route = event.RouteStay
			}
			d.owner = to
			pr.to(to, rec)
			if km := geo.DistanceKM(d.pos, geo.Point{Lat: d.pos.Lat, Lng: border}); km < 3.2 {
				pr.to(1-to, shadowOf(rec, to))
			}
		}
		for range rng.IntN(3) {
			pickup := geo.Offset(bandra, rng.NormFloat64()*1.5, 1+rng.NormFloat64()*1.5)
			id := fmt.Sprintf("R%05d", n)
			n++
			pr.to(side(pickup), requestAt(id, pickup, rides[rng.IntN(len(rides))], now))
			if rng.Float64() < 0.1 {
				c := cancelAt(id, now.Add(200*time.Millisecond))
				pr.apply(0, c)
				pr.apply(1, c)
			}
		}
	}
	return pr
}

// TestBorderTraffic: every request gets one final outcome, no driver is given two rides
// at once, claims are granted and refused, and each partition's log, claims and answers
// in it, rebuilds from History() to the same outputs.
func TestBorderTraffic(t *testing.T) {
	for _, a := range []Assignment{Greedy, Batch, Adaptive} {
		t.Run(a.String(), func(t *testing.T) {
			with := func(c *Config) { c.Assignment = a }
			pr := borderTraffic(t, 3, 12*time.Minute, with)
			got := pr.matched()
			a, b := pr.parts[0].Stats(), pr.parts[1].Stats()
			t.Logf("%d matched; partition 0 %+v; partition 1 %+v", len(got), a, b)
			if a.Claims+b.Claims == 0 || a.ClaimsGranted+b.ClaimsGranted == 0 || a.ClaimsRefused+b.ClaimsRefused == 0 || a.StrayAnswers+b.StrayAnswers != 0 {
				t.Fatal("the traffic should make claims, grant and refuse some, and answer only open ones")
			}
			for i := range pr.logs {
				log := pr.logs[i]
				checkRestore(t, log, []int{len(log) / 2, len(log) - 300}, with)
			}
		})
	}
}

// TestBorderOffers: border traffic with drivers answering offers, under every policy.
// Owners offer their drivers to claimants' requests and answer the claims when the offers
// end; every request gets one final outcome, and each partition's log rebuilds.
func TestBorderOffers(t *testing.T) {
	for _, a := range []Assignment{Greedy, Batch, Adaptive} {
		t.Run(a.String(), func(t *testing.T) {
			with := []func(*Config){assignment(a), offers(6 * time.Second)}
			pr := borderTrafficAnswered(t, 5, 8*time.Minute, func(pr *pair) {
				pr.answers, pr.accept, pr.decline = rand.New(rand.NewPCG(9, 9)), 0.5, 0.3
			}, with...)
			pr.matched()
			a, b := pr.parts[0].Stats(), pr.parts[1].Stats()
			if a.ClaimsGranted+b.ClaimsGranted == 0 || a.OffersAccepted+b.OffersAccepted == 0 || a.OffersDeclined+b.OffersDeclined == 0 ||
				a.OffersExpired+b.OffersExpired == 0 || a.StrayAnswers+b.StrayAnswers != 0 {
				t.Fatalf("the traffic should offer claimed drivers and end offers each way: %+v %+v", a, b)
			}
			for i := range pr.logs {
				log := pr.logs[i]
				checkRestore(t, log, []int{len(log) / 2, len(log) - 300}, with...)
			}
		})
	}
}

// TestClaimOffered: a request whose best driver is across the border is offered it by
// the owner. The driver declines; the claimant is told, and offers its own next driver,
// whose accept makes the match. A second request's offer across the border is withdrawn
// when its rider cancels, and the claimant ends it ride_cancelled.
func TestClaimOffered(t *testing.T) {
	pr := newPair(t, offers(15*time.Second), assignment(Greedy))
	d1 := driverAt("D1", across, t0)
	d2 := driverAt("D2", geo.Offset(bandra, 0, -2), t0)
	pr.to(1, d1)
	pr.to(0, shadowOf(d1, 1), d2, requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
	o := pr.out[len(pr.out)-1].(*event.RideOffered)
	if part, _ := event.OfferPartition(o.OfferID); o.DriverID != "D1" || part != 1 || o.Attempt != 1 {
		t.Fatalf("offer %+v, want D1's, by partition 1, attempt 1", o)
	}
	pr.to(1, answer(o, false, t0.Add(sec(3))))
	o2 := pr.out[len(pr.out)-1].(*event.RideOffered)
	if part, _ := event.OfferPartition(o2.OfferID); o2.DriverID != "D2" || part != 0 || o2.Attempt != 2 {
		t.Fatalf("after D1 declined: %+v, want D2's, by partition 0, attempt 2", o2)
	}
	pr.to(0, answer(o2, true, t0.Add(sec(4))))
	if got := pr.matched(); got["R1"] != "D2" {
		t.Fatalf("R1 matched to %q: %s", got["R1"], describe(pr.out))
	}
	// D1 was released by its decline: R2, across, is offered it by its owner... and R3
	// on the claimant's side, whose best is D1 too, is offered it only after R2's ends.
	pr.to(0, requestAt("R3", bandra, event.Mini, t0.Add(sec(5))))
	o3 := pr.out[len(pr.out)-1].(*event.RideOffered)
	if o3.DriverID != "D1" || o3.RequestID != "R3" {
		t.Fatalf("R3: %+v", o3)
	}
	c := cancelAt("R3", t0.Add(sec(6)))
	pr.to(0, c)
	pr.to(1, c)
	n := len(pr.out)
	if w, ok := pr.out[n-2].(*event.OfferWithdrawn); !ok || w.OfferID != o3.OfferID {
		t.Fatalf("cancel wrote %s, want offer_withdrawn then ride_cancelled", describe(pr.out[n-2:]))
	}
	if rc, ok := pr.out[n-1].(*event.RideCancelled); !ok || rc.RequestID != "R3" {
		t.Fatalf("cancel wrote %s, want ride_cancelled last", describe(pr.out[n-2:]))
	}
	pr.matched()
}
