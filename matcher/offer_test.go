package matcher

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

func offers(d time.Duration) func(*Config) { return func(c *Config) { c.OfferTimeout = d } }

// offersIn returns the ride_offered events of out, in order.
func offersIn(out []Output) []*event.RideOffered {
	var got []*event.RideOffered
	for _, o := range out {
		if e, ok := o.Event.(*event.RideOffered); ok {
			got = append(got, e)
		}
	}
	return got
}

func onlyOffer(t *testing.T, out []Output) *event.RideOffered {
	t.Helper()
	got := offersIn(out)
	if len(got) != 1 {
		t.Fatalf("want one offer, got %d: %s", len(got), describe(outcomes(out)))
	}
	return got[0]
}

func answer(o *event.RideOffered, accept bool, at event.Time) *event.LogRecord {
	return &event.LogRecord{Kind: event.LogResponse, Time: at, Response: event.OfferResponse{
		OfferID: o.OfferID, RequestID: o.RequestID, DriverID: o.DriverID, Accepted: accept, Time: at,
	}}
}

// finals returns the final outcomes of out (ride_matched, ride_unmatched, ride_cancelled).
func finals(out []Output) []event.Output {
	var got []event.Output
	for _, e := range outcomes(out) {
		if isFinal(e.Type()) {
			got = append(got, e)
		}
	}
	return got
}

func isFinal(typ string) bool {
	return typ == event.TypeRideMatched || typ == event.TypeRideUnmatched || typ == event.TypeRideCancelled
}

// Three drivers around Bandra, best first for a mini ride at bandra: X, then Y, then Z.
func offerCity() []*event.LogRecord {
	return []*event.LogRecord{
		driverAt("X", geo.Offset(bandra, 0.3, 0), t0),
		driverAt("Y", geo.Offset(bandra, 0.8, 0), t0),
		driverAt("Z", geo.Offset(bandra, 1.5, 0), t0),
	}
}

// TestOfferAcceptDeclineLapse walks a request through each way an offer ends, under
// every assignment policy: the best driver is offered it, held while it decides; an accept
// makes the match on the terms offered; a decline or silence offers the next best driver,
// and no driver is offered the request twice.
func TestOfferAcceptDeclineLapse(t *testing.T) {
	for _, a := range []Assignment{Greedy, Batch, Adaptive} {
		t.Run(a.String(), func(t *testing.T) {
			p := newPartition(t, offers(15*time.Second), assignment(a))
			out := apply(p, offerCity()...)
			out = append(out, apply(p, requestAt("R1", bandra, event.Mini, t0.Add(sec(1))), tickAt(t0.Add(sec(2))))...)
			first := onlyOffer(t, out)
			if first.DriverID != "X" || first.Attempt != 1 || first.ExpiresAt != first.OfferTimestamp.Add(15*time.Second) {
				t.Fatalf("first offer %+v, want X, attempt 1, 15 s to answer", first)
			}
			if part, ok := event.OfferPartition(first.OfferID); !ok || part != p.ID() {
				t.Fatalf("offer id %q does not name partition %d", first.OfferID, p.ID())
			}
			if len(finals(out)) != 0 {
				t.Fatalf("an offer is not final: %s", describe(finals(out)))
			}
			// X is held: another request nearby is offered Y, not X.
			other := onlyOffer(t, apply(p, requestAt("R2", bandra, event.Mini, t0.Add(sec(2.5))), tickAt(t0.Add(sec(4)))))
			if other.DriverID == "X" {
				t.Fatal("X was offered a second request while its first offer was open")
			}
			// X declines R1: R1 goes to the best driver left, Z (Y holds R2's offer).
			out = apply(p, answer(first, false, t0.Add(sec(5))), tickAt(t0.Add(sec(6))))
			second := onlyOffer(t, out)
			if second.DriverID != "Z" || second.RequestID != "R1" || second.Attempt != 2 {
				t.Fatalf("after X declined, offered %s %s attempt %d, want R1 to Z, attempt 2", second.RequestID, second.DriverID, second.Attempt)
			}
			// Z is silent: its offer lapses at expires_at and R1 is offered again, but never
			// to X, who declined it, nor to Z, who let it lapse; R2's Y is still held. Out of
			// drivers, R1 waits for its TTL and ends unmatched, having been declined... by Z's
			// silence last: offer_timeout.
			out = apply(p, tickAt(second.ExpiresAt.Add(sec(0.1))), tickAt(t0.Add(sec(40))))
			for _, o := range offersIn(out) {
				if o.RequestID == "R1" {
					t.Fatalf("R1 offered again to %s", o.DriverID)
				}
			}
			var un *event.RideUnmatched
			for _, e := range finals(out) {
				if u, ok := e.(*event.RideUnmatched); ok && u.RequestID == "R1" {
					un = u
				}
			}
			if un == nil || un.Reason != event.UnmatchedOfferTimeout || un.Offers != 2 {
				t.Fatalf("R1 ended %s, want ride_unmatched offer_timeout after 2 offers", describe(finals(out)))
			}
		})
	}
}

// TestAcceptMakesTheMatchOffered: an accept before expires_at makes the ride_matched, with
// the offer's fare and surge, at the accept's time, and the driver stays held; the same
// accept again, or an accept after the match, changes nothing.
func TestAcceptMakesTheMatchOffered(t *testing.T) {
	p := newPartition(t, offers(15*time.Second), assignment(Greedy))
	apply(p, offerCity()...)
	o := onlyOffer(t, apply(p, requestAt("R1", bandra, event.Mini, t0.Add(sec(1)))))
	m := onlyMatch(t, apply(p, answer(o, true, t0.Add(sec(4)))))
	if m.DriverID != "X" || m.OfferID != o.OfferID || m.FareEstimate != o.FareEstimate || m.SurgeMultiplier != o.SurgeMultiplier ||
		m.MatchTimestamp != t0.Add(sec(4)) || m.PickupDistanceKM != o.PickupDistanceKM {
		t.Fatalf("ride_matched %+v does not make offer %+v", m, o)
	}
	if got := outcomes(apply(p, answer(o, true, t0.Add(sec(5))), answer(o, false, t0.Add(sec(5))))); len(got) != 0 {
		t.Fatalf("a repeated answer wrote %s", describe(got))
	}
	if p.stats.Dropped[DropDuplicate] != 2 || p.stats.OffersAccepted != 1 || p.stats.AcceptTimes.Counts[3] != 1 {
		t.Fatalf("stats %+v: want 2 duplicates dropped, 1 accept within 3 s", p.stats)
	}
	// X is held for R1: R2 gets Y.
	if o2 := onlyOffer(t, apply(p, requestAt("R2", bandra, event.Mini, t0.Add(sec(6))))); o2.DriverID != "Y" {
		t.Fatalf("R2 offered %s, who is matched to R1", o2.DriverID)
	}
}

// TestBadAnswersAreDropped: an answer to an unknown offer, another driver's answer, an
// accept after the offer lapsed and one after it was withdrawn are counted and dropped.
func TestBadAnswersAreDropped(t *testing.T) {
	p := newPartition(t, offers(10*time.Second), assignment(Greedy))
	apply(p, offerCity()...)
	o := onlyOffer(t, apply(p, requestAt("R1", bandra, event.Mini, t0.Add(sec(1)))))
	forged := *o
	forged.DriverID = "Y"
	unknown := *o
	unknown.OfferID = event.OfferID(0, "R9", "X", t0)
	got := outcomes(apply(p, answer(&forged, true, t0.Add(sec(2))), answer(&unknown, true, t0.Add(sec(2)))))
	if len(got) != 0 || p.stats.Dropped[DropDriver] != 1 || p.stats.Dropped[DropUnknown] != 1 {
		t.Fatalf("wrote %s, dropped %v", describe(got), p.stats.Dropped)
	}
	// The offer lapses at 11 s; Y is offered R1. X's accept at 11 s is too late.
	out := apply(p, answer(o, true, o.ExpiresAt))
	if len(finals(out)) != 0 || p.stats.Dropped[DropExpired] != 1 {
		t.Fatalf("an accept at expires_at wrote %s, dropped %v", describe(finals(out)), p.stats.Dropped)
	}
	next := onlyOffer(t, out)
	if next.DriverID != "Y" {
		t.Fatalf("after X's offer lapsed, offered %s", next.DriverID)
	}
	// The rider cancels: Y's offer is withdrawn, R1 ends ride_cancelled, and Y's accept
	// after that is dropped.
	out = apply(p, cancelAt("R1", t0.Add(sec(12))), answer(next, true, t0.Add(sec(12.5))))
	evs := outcomes(out)
	if len(evs) != 2 || evs[0].Type() != event.TypeOfferWithdrawn || evs[1].Type() != event.TypeRideCancelled {
		t.Fatalf("cancel during an offer wrote %s, want offer_withdrawn then ride_cancelled", describe(evs))
	}
	if w := evs[0].(*event.OfferWithdrawn); w.DriverID != "Y" || w.OfferID != next.OfferID {
		t.Fatalf("withdrew %+v", w)
	}
	if p.stats.Dropped[DropWithdrawn] != 1 {
		t.Fatalf("dropped %v, want the accept after the withdrawal", p.stats.Dropped)
	}
	// Y is free again; X, who let its offer lapse, is offered nothing until it reports.
	if o3 := onlyOffer(t, apply(p, requestAt("R3", bandra, event.Mini, t0.Add(sec(13))))); o3.DriverID != "Y" {
		t.Fatalf("R3 offered %s, want Y: X lapsed and has not reported since", o3.DriverID)
	}
	apply(p, driverAt("X", geo.Offset(bandra, 0.3, 0), t0.Add(sec(14)), route(event.RouteStay, 0)))
	if o4 := onlyOffer(t, apply(p, requestAt("R4", bandra, event.Mini, t0.Add(sec(15))))); o4.DriverID != "X" {
		t.Fatalf("R4 offered %s, want X, whose update made it matchable again", o4.DriverID)
	}
}

// TestMaxOffers: a request declined by MaxOffers drivers ends ride_unmatched, declined,
// while its TTL still runs.
func TestMaxOffers(t *testing.T) {
	p := newPartition(t, offers(15*time.Second), assignment(Greedy), func(c *Config) { c.MaxOffers = 2 })
	apply(p, offerCity()...)
	o := onlyOffer(t, apply(p, requestAt("R1", bandra, event.Mini, t0.Add(sec(1)))))
	o = onlyOffer(t, apply(p, answer(o, false, t0.Add(sec(2)))))
	out := apply(p, answer(o, false, t0.Add(sec(3))))
	if len(offersIn(out)) != 0 {
		t.Fatalf("a third offer after MaxOffers 2: %s", describe(outcomes(out)))
	}
	u, ok := finals(out)[0].(*event.RideUnmatched)
	if !ok || u.Reason != event.UnmatchedDeclined || u.Offers != 2 || u.Timestamp != t0.Add(sec(3)) {
		t.Fatalf("ended %s, want ride_unmatched declined after 2 offers at 3 s", describe(finals(out)))
	}
}

// TestBusyUpdateKeepsTheOffer: a driver's busy update during an open offer does not free
// it for another request: the offer holds it until it ends.
func TestBusyUpdateKeepsTheOffer(t *testing.T) {
	p := newPartition(t, offers(15*time.Second), assignment(Greedy))
	apply(p, offerCity()...)
	o := onlyOffer(t, apply(p, requestAt("R1", bandra, event.Mini, t0.Add(sec(1)))))
	apply(p, driverAt("X", geo.Offset(bandra, 0.3, 0), t0.Add(sec(2)), route(event.RouteStay, 0), busy),
		driverAt("X", geo.Offset(bandra, 0.3, 0), t0.Add(sec(3)), route(event.RouteStay, 0)))
	if o2 := onlyOffer(t, apply(p, requestAt("R2", bandra, event.Mini, t0.Add(sec(4))))); o2.DriverID == "X" {
		t.Fatal("X offered R2 while R1's offer to it was open")
	}
	onlyMatch(t, apply(p, answer(o, true, t0.Add(sec(5)))))
}

// offerLog adds drivers' answers to log: it runs a partition over it, and answers each
// offer it makes after a delay, accepting with probability accept, declining with
// probability decline, else silent; a tenth of the answers come twice. The partition is
// deterministic, so the log gives these offers wherever it is applied.
func offerLog(t *testing.T, seed uint64, log []*event.LogRecord, accept, decline float64, mutate ...func(*Config)) []*event.LogRecord {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	p := newPartition(t, mutate...)
	var due []*event.LogRecord // answers to come, in time order
	var out []*event.LogRecord
	push := func(r *event.LogRecord) {
		i := len(due)
		for i > 0 && due[i-1].Time > r.Time {
			i--
		}
		due = append(due, nil)
		copy(due[i+1:], due[i:])
		due[i] = r
	}
	// A driver's token, back from the other partition, carries the hold it left with, as
	// the other partition would send it.
	held := map[string]event.Reservation{}
	feed := func(r *event.LogRecord) {
		if r.Kind == event.LogToken {
			r.Reservation = held[r.DriverID]
		}
		out = append(out, r)
		p.Apply(r, event.Position(len(out)-1))
		outputs := p.Outputs()
		for _, o := range outputs {
			if o.Handoff != nil && o.Handoff.Kind == event.LogToken {
				held[o.Handoff.DriverID] = o.Handoff.Reservation
			}
		}
		for _, o := range offersIn(outputs) {
			at := o.OfferTimestamp.Add(time.Duration(rng.Int64N(int64(20 * time.Second))))
			switch x := rng.Float64(); {
			case x < accept:
				push(answer(o, true, at))
			case x < accept+decline:
				push(answer(o, false, at))
			default:
				continue
			}
			if rng.Float64() < 0.1 {
				push(answer(o, rng.Float64() < 0.5, at.Add(sec(1))))
			}
		}
	}
	for _, r := range log {
		for len(due) > 0 && due[0].Time <= r.Time {
			a := due[0]
			due = due[1:]
			feed(a)
		}
		feed(r)
	}
	return out
}

// TestOffersRestore: a partition rebuilt from the log with offers open, declined, lapsed,
// accepted and withdrawn at the cut writes what the partition that saw it all writes,
// under every policy.
func TestOffersRestore(t *testing.T) {
	for _, a := range []Assignment{Greedy, Batch, Adaptive} {
		t.Run(a.String(), func(t *testing.T) {
			mutate := []func(*Config){offers(8 * time.Second), assignment(a)}
			log := offerLog(t, 3, randomLog(5, 2*time.Minute, 300, 4), 0.6, 0.25, mutate...)
			var answers int
			for _, r := range log {
				if r.Kind == event.LogResponse {
					answers++
				}
			}
			if answers < 100 {
				t.Fatalf("only %d answers in the log", answers)
			}
			checkRestore(t, log, []int{len(log) / 3, len(log) / 2, len(log) * 3 / 4, len(log) - 300}, mutate...)
		})
	}
	// Longer than History: the restores replay part of the log and remember the rest
	// from the decision log.
	t.Run("past history", func(t *testing.T) {
		mutate := []func(*Config){offers(8 * time.Second), assignment(Adaptive)}
		log := offerLog(t, 4, randomLog(6, 9*time.Minute, 200, 3), 0.6, 0.25, mutate...)
		checkRestore(t, log, []int{len(log) * 3 / 4, len(log) - 300}, mutate...)
	})
}

// TestOffersEveryRequestOneOutcome: over a random log with answers, every request gets
// exactly one final outcome, no driver is offered a request twice, and no driver holds
// two open offers or an offer and a match at once.
func TestOffersEveryRequestOneOutcome(t *testing.T) {
	mutate := []func(*Config){offers(8 * time.Second), assignment(Adaptive)}
	log := offerLog(t, 9, randomLog(11, 2*time.Minute, 300, 4), 0.5, 0.3, mutate...)
	log = append(log, tickAt(log[len(log)-1].Time.Add(2*time.Minute)))
	p := newPartition(t, mutate...)
	final := map[string]int{}
	offered := map[string]bool{} // request/driver
	requests := map[string]bool{}
	for i, r := range log {
		if r.Kind == event.LogRequest {
			requests[r.Request.RequestID] = true
		}
		p.Apply(r, event.Position(i))
		open := map[string]bool{}
		for _, o := range p.open {
			if o.state != offerOpen {
				continue
			}
			if open[o.driverID] {
				t.Fatalf("%s holds two open offers", o.driverID)
			}
			open[o.driverID] = true
		}
		for _, o := range p.Outputs() {
			switch e := o.Event.(type) {
			case *event.RideOffered:
				k := e.RequestID + "/" + e.DriverID
				if offered[k] {
					t.Fatalf("%s offered twice", k)
				}
				offered[k] = true
			case event.Output:
				if isFinal(e.Type()) {
					final[e.Key()]++
				}
			}
		}
	}
	for id := range requests {
		if final[id] != 1 {
			t.Fatalf("request %s has %d final outcomes", id, final[id])
		}
	}
	s := p.Stats()
	if s.OffersAccepted == 0 || s.OffersDeclined == 0 || s.OffersExpired == 0 || s.OffersWithdrawn == 0 {
		t.Fatalf("the log does not end offers every way: %+v", s)
	}
	if got := s.OffersAccepted + s.OffersDeclined + s.OffersExpired + s.OffersWithdrawn; got != s.Offers {
		t.Fatalf("%d offers made, %d ended", s.Offers, got)
	}
	t.Log(fmt.Sprintf("offers %d: accepted %d declined %d expired %d withdrawn %d; dropped %v", s.Offers, s.OffersAccepted, s.OffersDeclined, s.OffersExpired, s.OffersWithdrawn, s.Dropped))
}

// TestRemoteOfferNotRemembered: an owner's offer for a claimant's request, declined, is
// all the owner records of it; a partition restored long after writes nothing for the
// request's late cancel, as the one that saw the whole log writes nothing.
func TestRemoteOfferNotRemembered(t *testing.T) {
	with := []func(*Config){offers(15 * time.Second), assignment(Greedy)}
	pr := newPair(t, with...)
	d1 := driverAt("D1", across, t0)
	pr.to(1, d1)
	pr.to(0, shadowOf(d1, 1), requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
	o := pr.out[len(pr.out)-1].(*event.RideOffered)
	pr.to(1, answer(o, false, t0.Add(sec(3))))
	for s := 4.0; s < 420; s++ {
		at := t0.Add(sec(s))
		pr.to(0, tickAt(at))
		pr.to(1, tickAt(at), driverAt("D1", geo.Offset(across, 0, s*0.001), at, route(event.RouteStay, 0)))
	}
	cut := len(pr.logs[1])
	c := cancelAt("R1", t0.Add(sec(420)))
	pr.to(0, c)
	pr.to(1, c)
	pr.to(1, requestAt("R2", across, event.Mini, t0.Add(sec(421))))
	for s := 421.0; s < 430; s++ {
		pr.to(1, tickAt(t0.Add(sec(s))))
	}
	pr.matched()
	checkRestore(t, pr.logs[1], []int{cut}, with...)
}

// TestSilentOfferedDriverKept: a driver silent while it decides is not forgotten with its
// hold: reporting again before its offer lapses, it is offered nothing else.
func TestSilentOfferedDriverKept(t *testing.T) {
	p := newPartition(t, offers(20*time.Second), assignment(Greedy), func(c *Config) { c.ForgetAfter = c.DriverTTL })
	apply(p, driverAt("X", geo.Offset(bandra, 0.3, 0), t0), driverAt("Y", geo.Offset(bandra, 1.5, 0), t0.Add(sec(28))))
	o := onlyOffer(t, apply(p, requestAt("R1", bandra, event.Mini, t0.Add(sec(29)))))
	if o.DriverID != "X" {
		t.Fatalf("R1 offered %s", o.DriverID)
	}
	for s := 30.0; s < 45; s++ {
		apply(p, tickAt(t0.Add(sec(s))))
	}
	apply(p, driverAt("X", geo.Offset(bandra, 0.3, 0), t0.Add(sec(45)), route(event.RouteStay, 0)),
		driverAt("Y", geo.Offset(bandra, 1.5, 0), t0.Add(sec(45)), route(event.RouteStay, 0)))
	if o2 := onlyOffer(t, apply(p, requestAt("R2", bandra, event.Mini, t0.Add(sec(46))))); o2.DriverID == "X" {
		t.Fatal("X, silent while R1's offer was open, was forgotten and offered R2 too")
	}
}

// TestShadowOfAnOfferedDriver: a claim refused because the owner's driver holds an offer
// passes the shadow over until its next update, not for the offer's whole hold: once the
// driver declines and reports, the claimant's rider is offered it.
func TestShadowOfAnOfferedDriver(t *testing.T) {
	pr := newPair(t, offers(15*time.Second), assignment(Greedy))
	d1 := driverAt("D1", across, t0)
	pr.to(1, d1)
	pr.to(0, shadowOf(d1, 1))
	pr.to(1, requestAt("R2", geo.Offset(across, 0, 0.2), event.Mini, t0.Add(sec(0.5))))
	o := pr.out[len(pr.out)-1].(*event.RideOffered)
	pr.to(0, requestAt("R1", bandra, event.Mini, t0.Add(sec(1))))
	pr.to(1, answer(o, false, t0.Add(sec(2))))
	for s := 2.5; s < 6; s += 0.5 {
		at := t0.Add(sec(s))
		u := driverAt("D1", across, at, route(event.RouteStay, 0))
		pr.to(1, tickAt(at), u)
		pr.to(0, tickAt(at), shadowOf(u, 1))
	}
	for _, e := range pr.out {
		if o, ok := e.(*event.RideOffered); ok && o.RequestID == "R1" && o.DriverID == "D1" {
			return
		}
	}
	t.Fatalf("R1 was never offered D1, free from 2 s on: %s", describe(pr.out))
}

// TestLateByItsOwnTime: an accept whose log time is expires_at or later is late, even
// while the clock, held back by a slower input, has not reached it; the offer lapses
// when the clock does.
func TestLateByItsOwnTime(t *testing.T) {
	p := newPartition(t, offers(10*time.Second), assignment(Greedy))
	frame(p, t0, append([]*event.LogRecord{markAt(event.Unbounded, claim(drivers0, t0), claim(requests0, t0))}, offerCity()...)...)
	at := t0.Add(sec(1))
	o := onlyOffer(t, frame(p, t0, markAt(event.Unbounded, claim(drivers0, at), claim(requests0, at)), requestAt("R1", bandra, event.Mini, at)))
	// The driver-responses partition runs ahead of the others: the clock stays at 1 s.
	late := o.ExpiresAt.Add(sec(1))
	out := frame(p, t0, markAt(event.Unbounded, claim(event.ResponseSource(0), late)), answer(o, true, late))
	if got := finals(out); len(got) != 0 || p.Clock() >= o.ExpiresAt {
		t.Fatalf("a late accept wrote %s at clock %v", describe(got), p.Clock())
	}
	if p.stats.Dropped[DropExpired] != 1 {
		t.Fatalf("dropped %v, want the late accept", p.stats.Dropped)
	}
	// The others reach expires_at: the offer lapses, and Y is offered R1.
	out = frame(p, t0, markAt(event.Unbounded, claim(drivers0, late), claim(requests0, late)))
	if next := onlyOffer(t, out); next.DriverID != "Y" || next.OfferTimestamp != o.ExpiresAt {
		t.Fatalf("after the lapse: %+v", next)
	}
}
