package matcher

import (
	"container/heap"

	"ridematch/event"
)

// offerState is where an offer stands.
type offerState uint8

const (
	offerOpen offerState = iota
	offerAccepted
	offerDeclined
	offerLapsed
	offerWithdrawn
)

// offer is a request offered to a driver, held by the partition that made it: the
// driver's owner (doc.go, Offers). It keeps the terms the driver was shown, which an
// accept makes the match.
type offer struct {
	id       string
	req      *request
	driverID string
	at       event.Time // when it was made
	expires  event.Time // when it lapses, unanswered
	ended    event.Time
	seq      uint64 // its place among the offers made here
	state    offerState
	terms    *event.RideMatched // the match an accept makes, but its id and time
}

// makeOffer offers r to d: d is held for r until it answers or the offer lapses, and
// the request waits for the answer.
func (p *Partition) makeOffer(r *request, d *driver, dist, score float64) {
	driverID := p.nameOf(d)
	o := &offer{
		id:       event.OfferID(p.id, r.RequestID, driverID, p.now),
		req:      r,
		driverID: driverID,
		at:       p.now,
		expires:  p.now.Add(p.cfg.OfferTimeout),
	}
	// Held past the offer's end by a reservation's length: an accepted driver stays held
	// until its own update shows it busy, even where the offer's end does not reach (a
	// driver that moved on to another partition with its reservation, doc.go).
	p.unreserve(d)
	p.hold(d, &event.Reservation{RequestID: r.RequestID, MatchID: o.id, Until: o.expires.Add(p.cfg.ReservationTimeout)})
	p.reindex(d)
	r.offer = o
	if !r.remote {
		r.offered++
	}
	p.offers[o.id] = o
	o.seq = p.offersMade
	p.offersMade++
	heap.Push(&p.open, o)
	p.stats.Offers++
	p.push(Output{Decision: &event.LogRecord{
		Kind: event.LogDecision, Time: p.now, RequestID: r.RequestID, CustomerID: r.CustomerID, DriverID: driverID,
		Outcome: event.OutcomeOffered, Position: p.pos, RequestPosition: r.pos,
	}})
	// Kept in a replay too: an accept after the replayed span writes the terms offered.
	o.terms = p.terms(r, d, dist, score)
	if p.replaying {
		return
	}
	m := o.terms
	p.emit(&event.RideOffered{
		EventType:        event.TypeRideOffered,
		OfferID:          o.id,
		RequestID:        r.RequestID,
		DriverID:         driverID,
		CustomerID:       r.CustomerID,
		PickupLocation:   r.PickupName,
		DropLocation:     r.DropName,
		PickupCoords:     r.Pickup,
		DropCoords:       r.Drop,
		PickupDistanceKM: m.PickupDistanceKM,
		EstimatedArrival: m.EstimatedArrival,
		FareEstimate:     m.FareEstimate,
		SurgeMultiplier:  m.SurgeMultiplier,
		OfferTimestamp:   p.now,
		ExpiresAt:        o.expires,
		Attempt:          r.offered + r.attempts(),
		RideType:         m.RideType,
		VehicleType:      m.VehicleType,
	})
}

// attempts is, for a remote request, the attempt its claim names (its claimant counts
// the offers; a claim of an engine before offers names none: the first); zero for one of
// this partition's, whose offers are counted here.
func (r *request) attempts() int {
	if r.remote {
		return max(1, r.claimAttempt)
	}
	return 0
}

// offerRecorded makes an offer a replayed decision recorded.
func (p *Partition) offerRecorded(r *request, id string) {
	d, dist, score := p.recordedDriver(r, id)
	p.makeOffer(r, d, dist, score)
}

// isOffer reports whether a reservation holds a driver for an offer, not a match (its
// match id is an offer id): only the offer's end releases it, never the driver's update.
func isOffer(res *event.Reservation) bool {
	_, ok := event.OfferPartition(res.MatchID)
	return ok
}

// endedOffer reports whether res holds a driver for an offer of this partition's that
// ended unaccepted: a driver back with such a hold is free.
func (p *Partition) endedOffer(res *event.Reservation) bool {
	o := p.offers[res.MatchID]
	return o != nil && o.state != offerOpen && o.state != offerAccepted
}

// offered reports whether d is held by an offer of this partition's that is still open:
// a driver silent while it decides is not forgotten, nor its hold with it.
func (p *Partition) offered(d *driver) bool {
	res := p.reservation(d)
	if res == nil {
		return false
	}
	o := p.offers[res.MatchID]
	return o != nil && o.state == offerOpen
}

// respond applies a driver's answer to an offer of this partition's.
func (p *Partition) respond(v *event.OfferResponse) {
	p.stats.Responses++
	o := p.offers[v.OfferID]
	switch {
	case o == nil:
		p.stats.Dropped[DropUnknown]++
		return
	case o.driverID != v.DriverID || o.req.RequestID != v.RequestID:
		p.stats.Dropped[DropDriver]++
		return
	case o.state == offerLapsed || o.state == offerOpen && p.now >= o.expires:
		// Late: by its own log time, if the clock has not reached expires_at yet; the
		// offer lapses when it does.
		p.stats.Dropped[DropExpired]++
		return
	case o.state == offerWithdrawn:
		p.stats.Dropped[DropWithdrawn]++
		return
	case o.state != offerOpen:
		p.stats.Dropped[DropDuplicate]++
		return
	}
	if v.Accepted {
		p.accept(o)
		return
	}
	p.stats.OffersDeclined++
	p.endOffer(o, offerDeclined)
	p.redispatch(o.req, o.driverID, event.OutcomeDeclined)
}

// accept makes an accepted offer the request's match, on the terms offered.
func (p *Partition) accept(o *offer) {
	p.stats.OffersAccepted++
	p.stats.AcceptTimes.add(p.now.Sub(o.at))
	p.endOffer(o, offerAccepted)
	r := o.req
	id := matchID(r.RequestID, o.driverID, p.now)
	// The replay of an accept makes the match it recorded.
	delete(p.decided, DecisionKey{r.RequestID, p.now})
	if d := p.driver(o.driverID); d != nil {
		if res := p.reservation(d); res != nil && res.MatchID == o.id {
			// Held now as a match is: until its own update shows it busy.
			p.unreserve(d)
			p.hold(d, &event.Reservation{RequestID: r.RequestID, MatchID: id, Until: p.now.Add(p.cfg.ReservationTimeout)})
		}
	}
	p.matched(r, o.driverID, id)
	if r.remote {
		p.answerClaim(r, o.driverID, event.OutcomeMatched)
	}
	if p.replaying {
		return
	}
	m := *o.terms
	m.MatchID, m.MatchTimestamp, m.OfferID = id, p.now, o.id
	p.emit(&m)
}

// endOffer closes o, releasing its driver unless accepted.
func (p *Partition) endOffer(o *offer, s offerState) {
	o.state, o.ended = s, p.now
	o.req.offer = nil
	p.ended = append(p.ended, o) // it leaves open when its time comes (lapse)
	if s == offerAccepted {
		return
	}
	if d := p.driver(o.driverID); d != nil {
		if res := p.reservation(d); res != nil && res.MatchID == o.id {
			p.release(d)
		}
		if s == offerLapsed && d.own == ownOwned {
			// Not offered anything until its next update.
			d.passed = true
			p.reindex(d)
		}
	}
}

// lapse ends the offers whose time is up, unanswered, in the order they were made, and
// drops the ended ones whose time has come from open.
func (p *Partition) lapse() {
	var due []*offer
	for len(p.open) > 0 && p.open[0].expires <= p.clock {
		if o := heap.Pop(&p.open).(*offer); o.state == offerOpen {
			due = append(due, o)
		}
	}
	for _, o := range due {
		p.stats.OffersExpired++
		p.endOffer(o, offerLapsed)
		p.redispatch(o.req, o.driverID, event.OutcomeLapsed)
	}
}

// withdraw ends r's open offer because its rider cancelled.
func (p *Partition) withdraw(r *request, reason string) {
	o := r.offer
	p.stats.OffersWithdrawn++
	p.endOffer(o, offerWithdrawn)
	p.emit(&event.OfferWithdrawn{
		EventType: event.TypeOfferWithdrawn,
		OfferID:   o.id,
		RequestID: r.RequestID,
		DriverID:  o.driverID,
		Reason:    reasonOr(reason, "rider_cancelled"),
		Timestamp: p.now,
	})
	if r.remote {
		delete(p.requests, r.RequestID)
		p.answerClaim(r, o.driverID, event.OutcomeCancelled)
		return
	}
	p.cancelWaiting(r, reason)
}

// redispatch goes on with a request whose offer to driverID ended unaccepted (how:
// OutcomeDeclined or OutcomeLapsed). A request another partition claimed the driver for
// goes back to it; one of this partition's is offered to its next best driver, or ends
// ride_unmatched when its offers or its time have run out.
func (p *Partition) redispatch(r *request, driverID string, how event.Outcome) {
	if r.remote {
		delete(p.requests, r.RequestID)
		p.answerClaim(r, driverID, how)
		return
	}
	r.tried = append(r.tried, driverID)
	r.lastEnd = how
	p.next(r)
}

// next searches for a request whose offer ended, or ends it.
func (p *Partition) next(r *request) {
	switch {
	case r.offered >= p.cfg.MaxOffers || p.clock >= r.deadline:
		p.unmatched(r)
	case !p.matchNow(r):
		p.wait(r)
	}
}

// answerClaim tells a claimant how the offer made on its claim for r ended.
func (p *Partition) answerClaim(r *request, driverID string, o event.Outcome) {
	p.push(Output{To: r.claimant, Handoff: &event.LogRecord{
		Kind: event.LogAnswer, Time: p.now, RequestID: r.RequestID, DriverID: driverID, Outcome: o,
	}})
}

// forgetOffers forgets the offers that ended a dedup window ago: an answer to one then
// counts as unknown.
func (p *Partition) forgetOffers() {
	n := 0
	for _, o := range p.ended {
		if p.clock.Sub(o.ended) <= p.cfg.DedupWindow {
			break
		}
		delete(p.offers, o.id)
		n++
	}
	clear(p.ended[:n])
	p.ended = p.ended[n:]
}

// offerQueue holds offers by when they lapse, then in the order they were made: the
// first is the next to lapse. An offer that ends otherwise stays until its time comes.
type offerQueue []*offer

func (q offerQueue) Len() int { return len(q) }
func (q offerQueue) Less(i, j int) bool {
	if q[i].expires != q[j].expires {
		return q[i].expires < q[j].expires
	}
	return q[i].seq < q[j].seq
}
func (q offerQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *offerQueue) Push(x any)   { *q = append(*q, x.(*offer)) }
func (q *offerQueue) Pop() any {
	old := *q
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return o
}
