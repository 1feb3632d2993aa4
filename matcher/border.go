package matcher

import (
	"ridematch/event"
	"ridematch/geo"
	"ridematch/internal/ids"
)

// Decision is what a replay does again for a request: match it to DriverID, or, with
// Claim, claim the shadow DriverID from its owner, or, with Offer, offer it the request.
type Decision struct {
	DriverID     string
	Claim, Offer bool
}

// DecisionKey names a decision: its request, and the moment it was made. One record can
// carry the clock past several retries, windows or lapsed offers, and a decision is made
// again at the moment that made it; one request may be offered twice in one such record.
type DecisionKey struct {
	RequestID string
	At        event.Time
}

// Decisions are the recorded decisions a replay makes again, by the position of the
// record whose handling made them.
type Decisions map[event.Position]map[DecisionKey]Decision

// Add records a decision of the decision log if a replay must make it again: a match, a
// claim or an offer. Outcomes that need no choice (unmatched, cancelled, granted) follow
// from the records replayed.
func (ds Decisions) Add(d *event.LogRecord) {
	switch d.Outcome {
	case event.OutcomeMatched, event.OutcomeClaimed, event.OutcomeOffered:
	default:
		return
	}
	at := ds[d.Position]
	if at == nil {
		at = map[DecisionKey]Decision{}
		ds[d.Position] = at
	}
	at[DecisionKey{d.RequestID, d.Time}] = Decision{DriverID: d.DriverID, Claim: d.Outcome == event.OutcomeClaimed, Offer: d.Outcome == event.OutcomeOffered}
}

// recorded takes the decision a replay must make again for r now, if there is one.
func (p *Partition) recorded(requestID string) (Decision, bool) {
	k := DecisionKey{requestID, p.now}
	dec, ok := p.decided[k]
	if ok {
		delete(p.decided, k)
	}
	return dec, ok
}

// nameOf is d's driver id.
func (p *Partition) nameOf(d *driver) string {
	if d.own == ownShadow {
		return p.shadows.String(d.id)
	}
	return p.drivers.String(d.id)
}

// shadow returns the shadow of the driver with this id, or nil.
func (p *Partition) shadow(id string) *driver {
	r, ok := p.shadows.Get(id)
	if !ok {
		return nil
	}
	return p.table.at(r)
}

// shadowUpdate applies an update of a driver that partition owner owns, sent here
// because the driver is within reach of a pickup of ours. An update of availability
// offline also comes when the driver moves out of reach.
func (p *Partition) shadowUpdate(u *event.DriverLocation, at event.Time, owner int32, cell geo.Cell) {
	d := p.shadow(u.DriverID)
	if d == nil {
		r, nd := p.table.alloc()
		nd.ref, nd.slot, nd.own = r, -1, ownShadow
		nd.id = p.shadows.Set(u.DriverID, r)
		d = nd
	}
	d.seen, d.owner = p.now, owner
	if p.locate(d, u, at, cell) {
		p.stats.ShadowUpdates++
		d.passed = false
	}
	p.reindex(d)
}

// dropShadow forgets the shadow of a driver this partition now owns.
func (p *Partition) dropShadow(id string) {
	if d := p.shadow(id); d != nil {
		p.forgetShadow(d)
	}
}

func (p *Partition) forgetShadow(d *driver) {
	p.unreserve(d)
	d.own = ownGone
	p.reindex(d)
	p.shadows.Delete(p.shadows.String(d.id))
	p.free(d)
}

// forgetShadows forgets the shadows silent for ForgetAfter.
func (p *Partition) forgetShadows() {
	for _, r := range p.shadows.All() {
		if d := p.table.at(r); p.clock.Sub(d.seen) > p.cfg.ForgetAfter {
			p.forgetShadow(d)
		}
	}
	p.shadows.Compact(func(id ids.ID, r driverRef) { p.table.at(r).id = id })
}

// sendClaim claims the shadow driver id (d, nil if a replay no longer knows it) for r
// from the partition that owns it. The shadow is held meanwhile, so that no other
// request here claims it too, and r waits for the answer.
func (p *Partition) sendClaim(r *request, id string, d *driver) {
	r.claiming, r.claim = true, id
	p.stats.Claims++
	p.push(Output{Decision: &event.LogRecord{
		Kind: event.LogDecision, Time: p.now, RequestID: r.RequestID, CustomerID: r.CustomerID, DriverID: id,
		Outcome: event.OutcomeClaimed, Position: p.pos, RequestPosition: r.pos,
	}})
	if d == nil {
		return
	}
	p.reserve(d, r.RequestID, "")
	p.push(Output{To: d.owner, Handoff: &event.LogRecord{
		Kind: event.LogClaim, Time: p.now, Request: r.RideRequest, Cell: r.origin, DriverID: id,
		From: p.id, Multiplier: p.pricer.Multiplier(r.surge), Deadline: r.deadline, Attempt: r.offered + 1,
	}})
}

// claimed answers a claim for one of this partition's drivers: granted, the first
// claim in log order for a driver that is still owned here, matchable, fresh,
// compatible and within reach of the pickup; the match is made here, and written here.
// The claimant keeps the request's time: a claim out when the request's TTL runs out is
// still answered, and a grant then still matches it. A replay grants exactly the claims
// recorded as matches.
func (p *Partition) claimed(c *event.LogRecord) {
	q := &c.Request
	answer := func(o event.Outcome) {
		a := &event.LogRecord{Kind: event.LogAnswer, Time: p.now, RequestID: q.RequestID, DriverID: c.DriverID, Outcome: o}
		if d := p.driver(c.DriverID); o == event.OutcomeUnmatched && d != nil && d.own == ownOwned {
			if res := p.reservation(d); res != nil {
				a.Reservation = *res
			}
		}
		p.push(Output{To: c.From, Handoff: a})
	}
	if _, ok := p.held[q.RequestID]; ok {
		// The rider cancelled before the claim came.
		delete(p.held, q.RequestID)
		p.stats.ClaimsRefused++
		answer(event.OutcomeCancelled)
		return
	}
	if _, dup := p.requests[q.RequestID]; dup {
		p.stats.ClaimsRefused++
		answer(event.OutcomeUnmatched)
		return
	}
	origin := p.cellOf(q.Pickup, c.Cell)
	r := &request{
		RideRequest: *q, pos: p.pos, origin: origin, surge: origin.Parent(p.cfg.Resolutions.Surge),
		deadline: c.Deadline, remote: true, multiplier: c.Multiplier, claimant: c.From, claimAttempt: c.Attempt,
	}
	if p.replaying {
		dec, ok := p.recorded(q.RequestID)
		if !ok {
			return
		}
		p.requests[q.RequestID] = r
		if dec.Offer {
			p.offerRecorded(r, dec.DriverID)
			return
		}
		p.matchRecorded(r, dec.DriverID)
		return
	}
	d, dist, ok := p.grantable(r, c.DriverID)
	if !ok {
		p.stats.ClaimsRefused++
		answer(event.OutcomeUnmatched)
		return
	}
	p.stats.ClaimsGranted++
	p.requests[q.RequestID] = r
	p.match(r, d, dist, p.cfg.Weights.Score(dist, d.rating, r.RideType.Compatible(d.vehicle)))
	if r.offer == nil {
		answer(event.OutcomeMatched)
	} // else the offer's end answers (answerClaim)
}

// grantable returns the driver with this id, its pickup distance, and whether r may have it.
func (p *Partition) grantable(r *request, id string) (*driver, float64, bool) {
	d := p.driver(id)
	if d == nil || !matchable(d) || !p.fresh(d) {
		return nil, 0, false
	}
	if !r.RideType.Compatible(d.vehicle) && !p.cfg.SoftCompatibility {
		return nil, 0, false
	}
	dist := geo.DistanceKM(r.Pickup, d.pos)
	return d, dist, dist <= p.cfg.MaxPickupKM
}

// answered takes the owner's answer to a claim of ours. Granted, the request is done: the
// owner wrote its ride_matched. Refused, the shadow is held as the owner holds it, or,
// held by nothing, passed over until its next update; and the request searches again,
// unless the rider cancelled meanwhile; if its time is up, it takes the best driver a
// last search finds if that is one of this partition's own, or ends unmatched.
func (p *Partition) answered(a *event.LogRecord) {
	requestID, driverID, o := a.RequestID, a.DriverID, a.Outcome
	r := p.requests[requestID]
	if r == nil || !r.claiming || r.claim != driverID {
		p.stats.StrayAnswers++
		return
	}
	r.claiming = false
	d := p.shadow(driverID)
	if o == event.OutcomeMatched {
		// The shadow stays held, as the owner holds the driver, until its updates show it
		// busy or the hold times out.
		r.driverID = driverID
		p.finish(r, event.OutcomeGranted)
		return
	}
	offerEnded := o == event.OutcomeDeclined || o == event.OutcomeLapsed
	if offerEnded {
		// The owner offered the driver the request, and the offer ended unaccepted.
		r.offered++
		r.tried = append(r.tried, driverID)
		r.lastEnd = o
	}
	if d != nil {
		if res := p.reservation(d); res != nil && res.RequestID == requestID {
			p.unreserve(d)
		}
		if offerEnded {
			// Released by the offer's end, there as here; one that let it lapse is offered
			// nothing until its next update.
			d.passed = d.passed || o == event.OutcomeLapsed
		} else if held := a.Reservation; held.RequestID != "" && held.Until > p.clock && !d.reserved && !isOffer(&held) {
			// Held by a match there: so it is here, until the same release (its update
			// showing it busy, the rider's cancel, which every partition sees, or time).
			p.hold(d, &held)
		} else {
			// Held by nothing, or by an offer there, which may end any moment: passed
			// over until its next update.
			d.passed = true
		}
		p.reindex(d)
	}
	switch {
	case r.cancel || o == event.OutcomeCancelled:
		p.cancelWaiting(r, r.reason)
	case offerEnded:
		p.next(r)
	case p.clock >= r.deadline:
		// Its time ran out while the claim was out: one last search, among this
		// partition's own drivers, which need no claim.
		if p.replaying {
			if !p.tryMatch(r) {
				p.unmatched(r)
			}
		} else if c, ok := p.best(r); ok && c.d.own != ownShadow {
			p.match(r, c.d, c.dist, c.score)
		} else {
			p.unmatched(r)
		}
	case !p.matchNow(r):
		p.wait(r)
	}
}
