package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// locationUpdate is a driver_location_update, in the shape of the Python sketch
// ridematch started from. Times are naive ISO 8601 in UTC, as Python's isoformat writes.
type locationUpdate struct {
	EventType    string  `json:"event_type"`
	DriverID     string  `json:"driver_id"`
	Location     point   `json:"location"`
	Timestamp    string  `json:"timestamp"`
	Speed        float64 `json:"speed"`   // km/h
	Heading      float64 `json:"heading"` // degrees clockwise from north
	Availability string  `json:"availability"`
	VehicleType  string  `json:"vehicle_type"`
	Rating       float64 `json:"rating"`
}

// rideEvent holds the fields of a ride-matches or driver-offers event that a driver app
// reads.
type rideEvent struct {
	EventType        string  `json:"event_type"`
	RequestID        string  `json:"request_id"`
	MatchID          string  `json:"match_id"`
	OfferID          string  `json:"offer_id"`
	CustomerID       string  `json:"customer_id"`
	DriverID         string  `json:"driver_id"`
	PickupLocation   string  `json:"pickup_location"`
	DropLocation     string  `json:"drop_location"`
	PickupDistanceKM float64 `json:"pickup_distance_km"`
	EstimatedArrival int     `json:"estimated_arrival"` // minutes
	FareEstimate     float64 `json:"fare_estimate"`
	SurgeMultiplier  float64 `json:"surge_multiplier"`
	Assignment       string  `json:"assignment"`
	Reason           string  `json:"reason"`
	Attempt          int     `json:"attempt"`    // of a ride_offered: the drivers offered the ride, this one included
	ExpiresAt        string  `json:"expires_at"` // of a ride_offered: answer before this, RFC 3339
}

// offerAnswer is a driver's answer to a ride_offered, on driver-responses: offer_accepted,
// or offer_declined with a reason.
type offerAnswer struct {
	EventType string `json:"event_type"`
	OfferID   string `json:"offer_id"`
	RequestID string `json:"request_id"`
	DriverID  string `json:"driver_id"`
	Timestamp string `json:"timestamp"`
	Reason    string `json:"reason,omitempty"`
}

// driver is one driver the gateway speaks for.
type driver struct {
	id      string
	vehicle string
	rating  float64
	along   float64 // how far along the line, 0 to 1
	dir     float64 // +1 towards To, -1 back towards From
	matchID string  // the ride it is on, if any
	freeAt  time.Time
}

// gateway owns its drivers: only run's loop reads or changes them.
type gateway struct {
	cfg     config
	cl      *kgo.Client
	out     io.Writer
	drivers []*driver
	byID    map[string]*driver
	lineKM  float64
	sent    int
}

// run streams the drivers' updates, answers their offers and handles ride-matches until
// ctx is done or cfg.Duration has passed.
func run(ctx context.Context, cfg config, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(cfg.MatchesTopic, cfg.OffersTopic),
		// Only what is decided from now on concerns this gateway's drivers.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		// The engine writes outcomes and offers in transactions: read only the committed ones.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ProducerLinger(0), // a location or an answer is news only while it is fresh
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	out = &lockedWriter{w: out} // the loop, the reader and produce callbacks all write to it
	g := newGateway(cfg, cl, out)
	fmt.Fprintf(out, "driver gateway: %d drivers (%s-1..%d) from %s towards %s at %g km/h, an update every %v, accepting offers within %g km, brokers %s\n",
		cfg.Drivers, cfg.Prefix, cfg.Drivers, &cfg.From, &cfg.To, cfg.SpeedKMH, cfg.Interval, cfg.AcceptWithinKM, cfg.Brokers[0])

	// One goroutine reads ride-matches and driver-offers and hands each event to the loop
	// below, which owns the drivers; it stops when ctx is done, and the loop waits for it.
	events := make(chan rideEvent)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		consume(ctx, cl, events, out)
	}()
	defer wg.Wait()

	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	var status <-chan time.Time
	if cfg.StatusEvery > 0 {
		t := time.NewTicker(cfg.StatusEvery)
		defer t.Stop()
		status = t.C
	}
	g.sendUpdates(ctx, time.Now())
	for {
		select {
		case <-ctx.Done():
			// Updates still buffered are dropped with the context: a location is stale
			// by the time anyone could read it.
			return nil
		case now := <-tick.C:
			g.release(now)
			g.move()
			g.sendUpdates(ctx, now)
		case e := <-events:
			g.handle(ctx, e, time.Now())
		case now := <-status:
			g.printStatus(now)
		}
	}
}

func newGateway(cfg config, cl *kgo.Client, out io.Writer) *gateway {
	g := &gateway{cfg: cfg, cl: cl, out: out, byID: map[string]*driver{}, lineKM: distanceKM(cfg.From, cfg.To)}
	vehicles := []string{"sedan", "hatchback", "auto"}
	for i := range cfg.Drivers {
		d := &driver{
			id:      cfg.Prefix + "-" + strconv.Itoa(i+1),
			vehicle: vehicles[i%len(vehicles)],
			rating:  4.9 - 0.1*float64(i%4),
			along:   math.Mod(0.05*float64(i), 1), // spread out near From
			dir:     1,
		}
		g.drivers = append(g.drivers, d)
		g.byID[d.id] = d
	}
	return g
}

// consume reads ride-matches and driver-offers until ctx is done and sends each decoded
// event on to.
func consume(ctx context.Context, cl *kgo.Client, to chan<- rideEvent, out io.Writer) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			// kgo retries what can be retried; what reaches here is worth a line.
			fmt.Fprintf(out, "reading %s[%d]: %v\n", topic, p, err)
		})
		for it := fs.RecordIter(); !it.Done(); {
			var e rideEvent
			if err := json.Unmarshal(it.Next().Value, &e); err != nil {
				continue // not an event this gateway knows
			}
			select {
			case to <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

// handle is what an event means to the drivers: an offer gets the driver's answer, a
// match makes the driver busy, a cancel of the match frees it.
func (g *gateway) handle(ctx context.Context, e rideEvent, now time.Time) {
	d := g.byID[e.DriverID]
	if d == nil {
		return // another gateway's driver, or no driver at all
	}
	switch e.EventType {
	case "ride_offered":
		g.answer(ctx, d, e, now)
	case "offer_withdrawn":
		fmt.Fprintf(g.out, "%s %s: offer %s withdrawn, the rider cancelled (%s)\n", now.Format("15:04:05"), d.id, e.OfferID, e.Reason)
	case "ride_matched":
		d.matchID = e.MatchID
		d.freeAt = now.Add(g.cfg.BusyFor)
		fmt.Fprintf(g.out, "%s %s matched: request %s of %s, pickup %s %.2f km away, ETA %d min, fare %.2f, surge x%g, assignment %s; busy for %v\n",
			now.Format("15:04:05"), d.id, e.RequestID, e.CustomerID, e.PickupLocation, e.PickupDistanceKM,
			e.EstimatedArrival, e.FareEstimate, e.SurgeMultiplier, e.Assignment, g.cfg.BusyFor)
		g.send(ctx, d, now) // the app says busy at once, not at the next tick
	case "match_cancelled":
		if e.MatchID != d.matchID {
			return
		}
		d.matchID = ""
		fmt.Fprintf(g.out, "%s %s: rider cancelled (%s); available again\n", now.Format("15:04:05"), d.id, e.Reason)
		g.send(ctx, d, now)
	}
}

// decide is the driver's answer to an offer: accept unless it is on a ride or the pickup
// is farther than cfg.AcceptWithinKM; a declined offer says why.
func (g *gateway) decide(d *driver, offer rideEvent) (accept bool, reason string) {
	switch {
	case d.matchID != "":
		return false, "on_a_ride"
	case offer.PickupDistanceKM > g.cfg.AcceptWithinKM:
		return false, "pickup_too_far"
	}
	return true, ""
}

// answer produces d's answer to an offer on driver-responses, keyed by the driver as the
// offer is. An offer read after its expires_at gets none: the engine has moved on.
func (g *gateway) answer(ctx context.Context, d *driver, offer rideEvent, now time.Time) {
	prefix := fmt.Sprintf("%s %s offered request %s of %s (attempt %d): pickup %s %.2f km away, ETA %d min, fare %.2f, surge x%g",
		now.Format("15:04:05"), d.id, offer.RequestID, offer.CustomerID, offer.Attempt, offer.PickupLocation,
		offer.PickupDistanceKM, offer.EstimatedArrival, offer.FareEstimate, offer.SurgeMultiplier)
	if expires, err := time.Parse(time.RFC3339Nano, offer.ExpiresAt); err == nil && !now.Before(expires) {
		fmt.Fprintf(g.out, "%s; expired at %s before it was read, not answered\n", prefix, expires.Local().Format("15:04:05"))
		return
	}
	a := offerAnswer{
		EventType: "offer_accepted",
		OfferID:   offer.OfferID,
		RequestID: offer.RequestID,
		DriverID:  d.id,
		Timestamp: now.UTC().Format("2006-01-02T15:04:05.000000"),
	}
	accept, reason := g.decide(d, offer)
	if accept {
		fmt.Fprintf(g.out, "%s; accepted\n", prefix)
	} else {
		a.EventType, a.Reason = "offer_declined", reason
		fmt.Fprintf(g.out, "%s; declined: %s\n", prefix, reason)
	}
	value, err := json.Marshal(a)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	g.cl.Produce(ctx, &kgo.Record{Topic: g.cfg.ResponsesTopic, Key: []byte(d.id), Value: value}, func(_ *kgo.Record, err error) {
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(g.out, "sending %s's answer to %s: %v\n", d.id, offer.OfferID, err)
		}
	})
}

// release ends the rides that are over.
func (g *gateway) release(now time.Time) {
	for _, d := range g.drivers {
		if d.matchID != "" && !now.Before(d.freeAt) {
			d.matchID = ""
			fmt.Fprintf(g.out, "%s %s finished its ride; available again\n", now.Format("15:04:05"), d.id)
		}
	}
}

// move drives each driver one interval along the line, turning back at its ends.
func (g *gateway) move() {
	if g.lineKM == 0 {
		return
	}
	step := g.cfg.SpeedKMH * g.cfg.Interval.Hours() / g.lineKM
	for _, d := range g.drivers {
		d.along += d.dir * step
		if d.along >= 1 || d.along <= 0 {
			d.dir = -d.dir
			d.along = math.Max(0, math.Min(1, d.along))
		}
	}
}

func (g *gateway) sendUpdates(ctx context.Context, now time.Time) {
	for _, d := range g.drivers {
		g.send(ctx, d, now)
	}
}

// send produces d's location update, keyed by its id so that its updates stay in order.
func (g *gateway) send(ctx context.Context, d *driver, now time.Time) {
	from, to := g.cfg.From, g.cfg.To
	if d.dir < 0 {
		from, to = to, from
	}
	u := locationUpdate{
		EventType: "driver_location_update",
		DriverID:  d.id,
		Location: point{
			Lat: round6(g.cfg.From.Lat + d.along*(g.cfg.To.Lat-g.cfg.From.Lat)),
			Lng: round6(g.cfg.From.Lng + d.along*(g.cfg.To.Lng-g.cfg.From.Lng)),
		},
		Timestamp:    now.UTC().Format("2006-01-02T15:04:05.000000"),
		Speed:        g.cfg.SpeedKMH,
		Heading:      math.Round(bearing(from, to)*10) / 10,
		Availability: "available",
		VehicleType:  d.vehicle,
		Rating:       d.rating,
	}
	if d.matchID != "" {
		u.Availability = "busy"
	}
	value, err := json.Marshal(u)
	if err != nil {
		panic(err) // a struct of strings and floats always marshals
	}
	g.cl.Produce(ctx, &kgo.Record{Topic: g.cfg.LocationsTopic, Key: []byte(d.id), Value: value}, func(_ *kgo.Record, err error) {
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(g.out, "sending %s's location: %v\n", d.id, err)
		}
	})
	g.sent++
}

func (g *gateway) printStatus(now time.Time) {
	busy := 0
	for _, d := range g.drivers {
		if d.matchID != "" {
			busy++
		}
	}
	fmt.Fprintf(g.out, "%s sent %d location updates; %d of %d drivers busy\n", now.Format("15:04:05"), g.sent, busy, len(g.drivers))
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// distanceKM is the haversine distance between a and b.
func distanceKM(a, b point) float64 {
	const earthKM = 6371
	la1, la2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dLat, dLng := la2-la1, (b.Lng-a.Lng)*math.Pi/180
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthKM * math.Asin(math.Sqrt(h))
}

// bearing is the initial heading from a to b, in degrees clockwise from north.
func bearing(a, b point) float64 {
	la1, la2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dLng := (b.Lng - a.Lng) * math.Pi / 180
	y := math.Sin(dLng) * math.Cos(la2)
	x := math.Cos(la1)*math.Sin(la2) - math.Sin(la1)*math.Cos(la2)*math.Cos(dLng)
	return math.Mod(math.Atan2(y, x)*180/math.Pi+360, 360)
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
