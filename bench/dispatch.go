package bench

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
)

// Dispatch is what the dispatch phase measured: one demand served by each assignment
// policy, and by the hindsight bound, in a closed loop where matched drivers drive their
// riders and come free again at the drop.
type Dispatch struct {
	// Scenario is the preset's name, or the Scenario when no preset was used; City is
	// the city (or trip file) it runs in.
	Scenario    string  `json:"scenario"`
	City        string  `json:"city"`
	Drivers     int     `json:"drivers"`
	Rate        float64 `json:"rate"`
	Span        string  `json:"span"`
	Window      string  `json:"window"`
	GPSInterval string  `json:"gps_interval"`
	// Start is when the world started, in the city's local time.
	Start string `json:"start"`
	// Offers is how drivers were offered rides, when offers were on; nil when off.
	Offers *DispatchOfferSetup `json:"offers,omitempty"`
	// Policies holds the figures of greedy, batch and adaptive, by name.
	Policies map[string]DispatchFigures `json:"policies"`
	// Bound is batch assignment knowing the next window's requests: every request is fed
	// one window before its rider asks, and waits are measured from when the rider asked.
	// No policy that sees only the past can do much better. With offers on, its offers
	// are made a window early too, so a driver's answer may come before the rider asked,
	// and its offers' ids, hence the answers drawn for them, are not the policies': each
	// answer is drawn from the seed and its offer id alone, at the same rates.
	Bound DispatchFigures `json:"bound"`
}

// DispatchOfferSetup is how the dispatch phase offered rides: the engine's offer timeout,
// and the share of the offers the loop's drivers accept.
type DispatchOfferSetup struct {
	Timeout    string  `json:"timeout"`
	AcceptRate float64 `json:"accept_rate"`
}

// Name is the scenario, with its city when it is a preset's.
func (d *Dispatch) Name() string {
	if d.Scenario == d.City {
		return d.Scenario
	}
	return d.Scenario + " (" + d.City + ")"
}

// DispatchFigures are how one policy served the demand.
type DispatchFigures struct {
	Requests int `json:"requests"`
	// MatchRate is ride_matched over requests; the rest left unmatched at the request TTL
	// (riders do not cancel), or were still waiting when the span ended.
	MatchRate float64 `json:"match_rate"`
	// CompletedRides are the rides that reached their drop within the span.
	CompletedRides uint64 `json:"completed_rides"`
	// The pickup distances of the matches.
	MeanPickupKM float64 `json:"mean_pickup_km"`
	P95PickupKM  float64 `json:"p95_pickup_km"`
	// The waits of the matched requests, from the request to the match, in event time.
	MeanWaitS float64 `json:"mean_wait_s"`
	P95WaitS  float64 `json:"p95_wait_s"`
	P99WaitS  float64 `json:"p99_wait_s"`
	// DriverUtilization is the share of driver-time on a ride (to the pickup, boarding or
	// to the drop), sampled every step.
	DriverUtilization float64 `json:"driver_utilization"`
	// What the policy could work with. MatchedAtOnce is the share of the matches made the
	// moment their request came (wait zero); Contested the share of requests that came
	// while a waiting request could take the driver greedy would give them (counted by
	// adaptive, which acts on it; zero for the others); Batched the share of the matches
	// a batch window made (ride_matched says batched).
	MatchedAtOnce float64 `json:"matched_at_once"`
	Contested     float64 `json:"contested"`
	Batched       float64 `json:"batched"`
	// PickupHistogram counts the matches by pickup distance, in bins of PickupBinKM:
	// up to 0.5 km, over 0.5 up to 1, and so on.
	PickupHistogram []int `json:"pickup_km_histogram"`
	// Conflicts are matches of a driver already on another ride: the engine promises none.
	Conflicts uint64 `json:"conflicts,omitempty"`
	// Offers is how driver offers went; nil when offers were off. With offers on, a wait
	// includes the drivers' answers: the matches are the accepts.
	Offers *OfferFigures `json:"offers,omitempty"`
}

// OfferFigures are how the driver offers of one dispatch run went.
type OfferFigures struct {
	// Made are the ride_offered events; PerRequest them over the requests, those never
	// offered to anyone included.
	Made       int     `json:"made"`
	PerRequest float64 `json:"per_request"`
	// AcceptRate is the offers accepted (a ride_matched naming its offer) over the offers
	// made; the others were declined, lapsed, or were still open when the span ended.
	AcceptRate float64 `json:"accept_rate"`
	// RanOut is the share of the requests that ended ride_unmatched because their offers
	// ran out (MaxOffers drivers offered, or the TTL passed while one was): Declined
	// those whose last offer was declined, TimedOut those whose last lapsed.
	RanOut   float64 `json:"ran_out"`
	Declined int     `json:"declined"`
	TimedOut int     `json:"offer_timeout"`
}

// PickupBinKM is the width of a bin of DispatchFigures.PickupHistogram.
const PickupBinKM = 0.5

// dispatchPolicies returns the assignment policies the dispatch phase compares, in its order.
func dispatchPolicies() []matcher.Assignment {
	return []matcher.Assignment{matcher.Greedy, matcher.Batch, matcher.Adaptive}
}

// dispatchStep is how far the world moves between ticks.
const dispatchStep = 100 * time.Millisecond

// dispatchStart is when the dispatch phase's world starts: cfg.Dispatch.Start, local to
// the scenario's city, on a Wednesday, a working day with its peaks.
func dispatchStart(cfg Config) time.Time {
	day := time.Date(2026, time.November, 25, 0, 0, 0, 0, scenarioZone(cfg))
	return day.Add(cfg.Dispatch.Start)
}

// scenarioZone is the local time of the scenario: its city's, a trip file's where its
// pickups are, and, for the national load, India's, whose cities share one zone.
func scenarioZone(cfg Config) *time.Location {
	if rp := cfg.replay; rp != nil {
		if ps := rp.Places(); len(ps) > 0 {
			return geo.NewZones().At(ps[0].Point)
		}
	}
	if c, err := geo.CityNamed(cfg.Scenario); err == nil {
		return c.Location()
	}
	for _, c := range geo.Cities() {
		if c.National {
			return c.Location()
		}
	}
	return time.UTC
}

// dispatchLoop is one closed-loop run of the dispatch phase.
type dispatchLoop struct {
	cfg   Config // the engine's matcher set for this run
	start time.Time
	// early, when positive, makes this the hindsight run: the world's own requests are
	// dropped and feed's are applied early instead, each at its time minus early, with its
	// time set to that, and the request TTL lengthened by early so that riders leave at
	// the same true time.
	early time.Duration
	feed  []event.RideRequest
	// record, when set, receives every request the world made.
	record *[]event.RideRequest
	// observe, when set, sees every event the engine emits, before the world does.
	observe func(event.Output)
}

// run steps the world through the span, dispatchStep at a time with a tick each step,
// and feeds the engine's outcomes back into it. With offers on, the world's drivers are
// told of the offers made to them, and their answers come back in its later steps, at
// their due time in event time: an offer made while a step's inputs are applied is timed
// from the step's start, so its answer may come up to a step early.
func (l dispatchLoop) run() (DispatchFigures, error) {
	cfg := l.cfg
	cfg.GPSInterval = cfg.Dispatch.GPSInterval
	cfg.Engine.Matcher.RequestTTL += l.early
	cfg.Engine.Matcher.OfferTimeout = cfg.Dispatch.OfferTimeout
	if err := cfg.Engine.Matcher.Validate(); err != nil {
		return DispatchFigures{}, err
	}
	// The simulator's riders do not cancel by default: they leave at the request TTL.
	w, err := world(cfg, cfg.Dispatch.Drivers, cfg.Dispatch.Rate, l.start)
	if err != nil {
		return DispatchFigures{}, err
	}
	asked := map[string]event.Time{} // each request's true time
	var waitS, pickupKM []float64
	batched := 0
	var offers OfferFigures
	accepted := 0
	eng, err := newPipeline(cfg, cfg.Engine.Topics.Get(ridematch.RoleRegionLog).Partitions, func(_ int32, e event.Output) {
		if l.observe != nil {
			l.observe(e)
		}
		o := event.RideOutcome{Type: e.Type(), RequestID: e.Key()}
		switch m := e.(type) {
		case *event.RideOffered:
			offers.Made++
			w.Offer(m)
			return
		case *event.OfferWithdrawn:
			w.Withdraw(m)
			return
		case *event.RideMatched:
			o.DriverID, o.Pickup, o.Drop = m.DriverID, m.PickupCoords, m.DropCoords
			pickupKM = append(pickupKM, m.PickupDistanceKM)
			if m.Batched {
				batched++
			}
			if m.OfferID != "" {
				accepted++
			}
			if at, ok := asked[m.RequestID]; ok {
				waitS = append(waitS, max(0, m.MatchTimestamp.Sub(at).Seconds()))
			}
		case *event.RideUnmatched:
			switch m.Reason {
			case event.UnmatchedDeclined:
				offers.Declined++
			case event.UnmatchedOfferTimeout:
				offers.TimedOut++
			}
		case *event.MatchCancelled:
			o.DriverID = m.DriverID
		}
		w.Apply(o)
	})
	if err != nil {
		return DispatchFigures{}, err
	}
	next := 0 // the next of feed
	feedBefore := func(t event.Time, inclusive bool) {
		for ; next < len(l.feed); next++ {
			r := l.feed[next]
			at := r.Time.Add(-l.early)
			if at > t || at == t && !inclusive {
				return
			}
			asked[r.RequestID] = r.Time
			r.Time = at
			eng.input(&event.Input{Kind: event.KindRideRequest, Request: r})
		}
	}
	var busy float64
	steps := 0
	end := w.Start().Add(cfg.Dispatch.Span)
	for t := w.Start(); t < end; {
		t = t.Add(dispatchStep)
		w.Step(t, func(in *event.Input) {
			switch {
			case in.Kind == event.KindRideRequest && l.feed != nil:
				return // the hindsight run applies the recorded requests instead
			case in.Kind == event.KindRideRequest:
				asked[in.Request.RequestID] = in.Request.Time
				if l.record != nil {
					*l.record = append(*l.record, in.Request)
				}
			case l.feed != nil:
				// At one instant the world emits driver updates before requests.
				feedBefore(in.Time(), false)
			}
			eng.input(in)
		})
		feedBefore(t, true)
		eng.tick(t)
		busy += float64(w.Counts().Busy)
		steps++
	}
	c := w.Counts()
	pk, ws := percentiles(pickupKM), percentiles(waitS)
	var stats matcher.Stats
	for _, p := range eng.parts {
		s := p.Stats()
		stats.Contested += s.Contested
	}
	atOnce := 0
	for _, x := range waitS {
		if x == 0 {
			atOnce++
		}
	}
	var hist []int
	for _, km := range pickupKM {
		bin := max(0, int(math.Ceil(km/PickupBinKM))-1) // (0, 0.5], (0.5, 1], ...
		for len(hist) <= bin {
			hist = append(hist, 0)
		}
		hist[bin]++
	}
	var offerFigures *OfferFigures
	if cfg.Engine.Matcher.OfferTimeout > 0 {
		offers.PerRequest = float64(offers.Made) / float64(max(len(asked), 1))
		offers.AcceptRate = float64(accepted) / float64(max(offers.Made, 1))
		offers.RanOut = float64(offers.Declined+offers.TimedOut) / float64(max(len(asked), 1))
		offerFigures = &offers
	}
	return DispatchFigures{
		MatchedAtOnce:     float64(atOnce) / float64(max(len(waitS), 1)),
		Contested:         float64(stats.Contested) / float64(max(len(asked), 1)),
		Batched:           float64(batched) / float64(max(len(pickupKM), 1)),
		PickupHistogram:   hist,
		Requests:          len(asked),
		MatchRate:         float64(len(pickupKM)) / float64(max(len(asked), 1)),
		CompletedRides:    c.RidesCompleted,
		MeanPickupKM:      mean(pickupKM),
		P95PickupKM:       pk.P95,
		MeanWaitS:         mean(waitS),
		P95WaitS:          ws.P95,
		P99WaitS:          ws.P99,
		DriverUtilization: busy / float64(max(steps, 1)) / float64(max(c.Drivers, 1)),
		Conflicts:         c.Conflicts,
		Offers:            offerFigures,
	}, nil
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(max(len(xs), 1))
}

// runDispatch runs the dispatch phase: the scenario's demand under each assignment policy,
// then under the hindsight bound, with the same seed, drivers and requests.
func runDispatch(cfg Config, res *Result, progress progressFunc) error {
	d := cfg.Dispatch
	start := dispatchStart(cfg)
	window := cfg.Engine.Matcher.BatchWindow
	out := &Dispatch{
		Scenario: cmp.Or(d.Preset, cfg.Scenario), City: cfg.Scenario,
		Drivers: d.Drivers, Rate: d.Rate, Span: d.Span.String(), Window: window.String(), GPSInterval: d.GPSInterval.String(),
		Start:    start.Format(time.RFC3339),
		Policies: map[string]DispatchFigures{},
	}
	offering := ""
	if d.OfferTimeout > 0 {
		out.Offers = &DispatchOfferSetup{Timeout: d.OfferTimeout.String(), AcceptRate: d.AcceptRate}
		offering = fmt.Sprintf(", driver offers of %s accepted at %.2f", d.OfferTimeout, d.AcceptRate)
	}
	progress("dispatch: %s, %d drivers, %.2f requests a simulated second, %s from %s local, batch window %s%s",
		out.Name(), d.Drivers, d.Rate, d.Span, start.Format("15:04 MST"), window, offering)
	var asked []event.RideRequest
	report := func(name string, f DispatchFigures, took time.Duration) {
		offered := ""
		if o := f.Offers; o != nil {
			offered = fmt.Sprintf(", %.2f offers a request, %.3f accepted, %.3f ran out of offers", o.PerRequest, o.AcceptRate, o.RanOut)
		}
		progress("  %s: match rate %.3f of %d requests, wait mean %.1fs p95 %.1fs, pickup mean %.2f km p95 %.2f km, %d rides completed, utilization %.3f%s (%.1fs)",
			name, f.MatchRate, f.Requests, f.MeanWaitS, f.P95WaitS, f.MeanPickupKM, f.P95PickupKM, f.CompletedRides, f.DriverUtilization, offered, took.Seconds())
		if f.Conflicts > 0 {
			progress("  warning: %s gave %d drivers a second ride while on one", name, f.Conflicts)
		}
	}
	for _, a := range dispatchPolicies() {
		l := dispatchLoop{cfg: cfg, start: start}
		l.cfg.Engine.Matcher.Assignment = a
		if a == matcher.Greedy {
			l.record = &asked // requests never depend on outcomes: any run's will do
		}
		began := time.Now()
		f, err := l.run()
		if err != nil {
			return fmt.Errorf("dispatch, %s: %w", a, err)
		}
		out.Policies[a.String()] = f
		report(a.String(), f, time.Since(began))
	}
	l := dispatchLoop{cfg: cfg, start: start, early: window, feed: slices.Clip(asked)}
	l.cfg.Engine.Matcher.Assignment = matcher.Batch
	began := time.Now()
	f, err := l.run()
	if err != nil {
		return fmt.Errorf("dispatch, the bound: %w", err)
	}
	out.Bound = f
	report("bound", f, time.Since(began))
	res.Dispatch = out
	return nil
}
