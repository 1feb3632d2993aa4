package simulator

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"ridematch/event"
	"ridematch/internal/fnv"
)

// DeclineShare is the share of the offers a driver does not accept that it declines; it
// leaves the others to lapse. Most drivers who turn a ride down tap decline; a few are
// away from the phone.
const DeclineShare = 0.75

// Answer is what a simulated driver does with an offer.
type Answer uint8

// What drivers do with offers.
const (
	Accept  Answer = iota // offer_accepted after the driver's response delay
	Decline               // offer_declined after the driver's response delay, with a reason
	Lapse                 // nothing: the offer expires
)

var answerNames = [...]string{Accept: "accept", Decline: "decline", Lapse: "lapse"}

func (a Answer) String() string { return answerNames[a] }

// declineReasons are the reasons a simulated driver gives for a decline.
var declineReasons = [...]string{"pickup_too_far", "fare_too_low", "going_offline"}

// The random streams of answers, apart from riderStream and driverStream: answerStream
// mixed with a hash of the offer id for each offer, delayStream plus the driver's index
// for each driver's response delay.
const (
	answerStream = 0x414e_5357_4552 // "ANSWER"
	delayStream  = 2 << 48
)

// Decide returns what a driver of a fleet with seed and acceptRate does with offer
// offerID, and a decline's reason. It depends on nothing else: the same offer gets the
// same answer whenever it arrives.
func Decide(seed uint64, acceptRate float64, offerID string) (Answer, string) {
	if acceptRate <= 0 {
		return Lapse, ""
	}
	h := fnv.New64().AddString(offerID)
	rng := rand.New(rand.NewPCG(seed, answerStream^uint64(h)))
	x := rng.Float64()
	if x < acceptRate {
		return Accept, ""
	}
	if (x-acceptRate)/(1-acceptRate) >= DeclineShare {
		return Lapse, ""
	}
	return Decline, declineReasons[rng.IntN(len(declineReasons))]
}

// ResponseDelay is the response delay of driver i of a fleet with seed: between lo and
// hi, in whole milliseconds.
func ResponseDelay(seed uint64, i int, lo, hi time.Duration) time.Duration {
	lo, hi = lo.Truncate(time.Millisecond), hi.Truncate(time.Millisecond)
	span := int64((hi - lo) / time.Millisecond)
	rng := rand.New(rand.NewPCG(seed, delayStream+uint64(i)))
	return lo + time.Duration(rng.Int64N(span+1))*time.Millisecond
}

// Offer tells the world the engine offered a request to one of its drivers, at the world's
// current time: the driver decides (Decide) and, unless it lets the offer lapse, answers
// after its response delay, at a whole millisecond, in a later Step. Offers to drivers of
// other worlds, and an offer id already pending, are ignored.
func (w *World) Offer(o *event.RideOffered) {
	d := w.byID[o.DriverID]
	if d == nil || o.OfferID == "" {
		return
	}
	if _, ok := w.answering[o.OfferID]; ok {
		return
	}
	w.counts.Offers++
	a, reason := Decide(w.cfg.Seed, w.cfg.AcceptRate, o.OfferID)
	if a == Lapse {
		w.counts.Ignored++
		return
	}
	due := w.now.Add(d.responseDelay)
	if ms := due % 1000; ms != 0 {
		due += 1000 - ms
	}
	w.answerSeq++
	heap.Push(&w.answers, pendingAnswer{t: due, seq: w.answerSeq, answer: event.OfferResponse{
		OfferID: o.OfferID, RequestID: o.RequestID, DriverID: o.DriverID, Accepted: a == Accept, Reason: reason,
	}})
	w.answering[o.OfferID] = struct{}{}
	w.counts.Answering++
}

// Withdraw tells the world the engine withdrew an offer (the rider cancelled): its
// driver's answer, if one is still due, is not sent.
func (w *World) Withdraw(o *event.OfferWithdrawn) {
	if _, ok := w.answering[o.OfferID]; !ok {
		return
	}
	delete(w.answering, o.OfferID)
	w.counts.Answering--
	w.counts.Withdrawn++
}

func (w *World) nextAnswer() event.Time {
	if len(w.answers) == 0 {
		return never
	}
	return w.answers[0].t
}

// answer sends a driver's answer, unless its offer was withdrawn.
func (w *World) answer(t event.Time, emit func(*event.Input)) {
	pa := heap.Pop(&w.answers).(pendingAnswer)
	if _, ok := w.answering[pa.answer.OfferID]; !ok {
		return
	}
	delete(w.answering, pa.answer.OfferID)
	w.counts.Answering--
	if pa.answer.Accepted {
		w.counts.Accepted++
	} else {
		w.counts.Declined++
	}
	w.in.Kind = event.KindOfferResponse
	w.in.Response = pa.answer
	w.in.Response.Time = t
	emit(&w.in)
}

type pendingAnswer struct {
	t      event.Time
	seq    uint64
	answer event.OfferResponse
}

// answerQueue is a min-heap of answers by time, then by the order of their offers.
type answerQueue []pendingAnswer

func (q answerQueue) Len() int { return len(q) }
func (q answerQueue) Less(i, j int) bool {
	return q[i].t < q[j].t || (q[i].t == q[j].t && q[i].seq < q[j].seq)
}
func (q answerQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *answerQueue) Push(x any)   { *q = append(*q, x.(pendingAnswer)) }
func (q *answerQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// offerResponseJSON is an answer as it goes on driver-responses.
type offerResponseJSON struct {
	EventType string     `json:"event_type"`
	OfferID   string     `json:"offer_id"`
	RequestID string     `json:"request_id"`
	DriverID  string     `json:"driver_id"`
	Timestamp event.Time `json:"timestamp"`
	Reason    string     `json:"reason,omitempty"`
}

// appendResponseJSON appends r as an offer_accepted or offer_declined event.
func appendResponseJSON(b []byte, r *event.OfferResponse) []byte {
	v := offerResponseJSON{EventType: event.TypeOfferDeclined, OfferID: r.OfferID, RequestID: r.RequestID, DriverID: r.DriverID, Timestamp: r.Time, Reason: r.Reason}
	if r.Accepted {
		v.EventType, v.Reason = event.TypeOfferAccepted, ""
	}
	j, _ := json.Marshal(v) // strings and a Time: it cannot fail
	return append(b, j...)
}

// offerNotice is a record of driver-offers: a ride_offered or an offer_withdrawn.
type offerNotice struct {
	offered   *event.RideOffered    // nil for a withdrawal
	withdrawn *event.OfferWithdrawn // nil for an offer
}

// errNotOffer is wrapped by every decodeOfferNotice error.
var errNotOffer = errors.New("not a driver offer")

// decodeOfferNotice reads a record of driver-offers. It refuses one that is not a JSON
// object of the two event types, with an offer id and a driver id, whose fields are of
// the wrong JSON type, or whose times do not parse.
func decodeOfferNotice(b []byte) (offerNotice, error) {
	var head struct {
		EventType string `json:"event_type"`
		OfferID   string `json:"offer_id"`
		DriverID  string `json:"driver_id"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return offerNotice{}, fmt.Errorf("%w: %w", errNotOffer, err)
	}
	if head.OfferID == "" || head.DriverID == "" {
		return offerNotice{}, fmt.Errorf("%w: no offer_id or driver_id", errNotOffer)
	}
	var n offerNotice
	var v any
	switch head.EventType {
	case event.TypeRideOffered:
		n.offered = &event.RideOffered{}
		v = n.offered
	case event.TypeOfferWithdrawn:
		n.withdrawn = &event.OfferWithdrawn{}
		v = n.withdrawn
	default:
		return offerNotice{}, fmt.Errorf("%w: event_type %q", errNotOffer, head.EventType)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return offerNotice{}, fmt.Errorf("%w: %w", errNotOffer, err)
	}
	return n, nil
}
