package simulator

import (
	"math"
	"math/rand/v2"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// leg is what a driver is doing.
type leg uint8

const (
	cruising leg = iota // available, driving towards a waypoint
	toPickup            // matched, driving to the rider
	boarding            // waiting at the pickup
	onTrip              // driving the rider to the drop
)

// driver is one simulated driver. Each has its own random stream, so one driver's
// reactions to matches never change another's path.
type driver struct {
	id      string
	rng     *rand.Rand
	city    *city
	vehicle event.Vehicle
	rating  float64
	phase   event.Time // offset of its updates within each GPS interval
	// responseDelay is how long it takes to answer an offer, drawn from its own stream:
	// the driver's rng does not know of it.
	responseDelay time.Duration

	pos      geo.Point
	at       event.Time // when it was at pos
	target   geo.Point
	legSpeed float64 // km/h outside peak hours
	heading  float64
	leg      leg
	request  string     // the ride it is on, when not cruising
	drop     geo.Point  // where the ride ends
	boardEnd event.Time // when boarding ends
}

func (d *driver) busy() bool { return d.leg != cruising }

// speed is the driver's speed at t, km/h: slower in the city's peak hours, stopped while
// boarding.
func (d *driver) speed(t event.Time, cfg *Config) float64 {
	if d.leg == boarding {
		return 0
	}
	if d.city.isPeak(t) {
		return d.legSpeed * cfg.PeakFactor
	}
	return d.legSpeed
}

// cruise sends the driver towards a new waypoint: a place near it, jittered.
func (d *driver) cruise(cfg *Config, scratch []float64) {
	d.leg, d.request = cruising, ""
	p := d.city.Places[d.city.nearPlace(d.rng, d.pos, scratch)].Point
	d.target = jitter(p, cfg.WaypointJitterKM, d.rng)
	d.legSpeed = cfg.MinSpeedKMH + d.rng.Float64()*(cfg.MaxSpeedKMH-cfg.MinSpeedKMH)
}

// advance moves the driver along straight lines from d.at to t, turning at each waypoint
// and stepping through its ride. It reports whether a ride ended.
func (d *driver) advance(t event.Time, cfg *Config, scratch []float64) (rideEnded bool) {
	// Each turn of the loop ends a leg or reaches t; 64 legs in one update would mean
	// waypoints metres apart, so stop there rather than spin.
	for range 64 {
		if d.at >= t {
			return rideEnded
		}
		if d.leg == boarding {
			if d.boardEnd > t {
				d.at = t
				return rideEnded
			}
			d.at = d.boardEnd
			d.leg, d.target = onTrip, d.drop
			continue
		}
		v := d.speed(d.at, cfg)
		dist := geo.DistanceKM(d.pos, d.target)
		need := event.Time(math.Ceil(dist / v * 3600e6)) // µs to reach the target
		if dist > 0 {
			d.heading = math.Round(geo.Bearing(d.pos, d.target)*10) / 10
			if d.heading >= 360 {
				d.heading = 0
			}
		}
		if d.at+need > t {
			f := float64(t-d.at) / float64(need)
			d.pos = geo.Point{Lat: d.pos.Lat + f*(d.target.Lat-d.pos.Lat), Lng: d.pos.Lng + f*(d.target.Lng-d.pos.Lng)}
			d.at = t
			return rideEnded
		}
		d.pos, d.at = d.target, d.at+need
		switch d.leg {
		case cruising:
			d.cruise(cfg, scratch)
		case toPickup:
			d.leg, d.boardEnd = boarding, d.at.Add(cfg.BoardingTime)
		case onTrip:
			rideEnded = true
			d.cruise(cfg, scratch)
		}
	}
	d.at = t
	return rideEnded
}

// match puts the driver on a ride: to the pickup, then to the drop.
func (d *driver) match(request string, pickup, drop geo.Point, cfg *Config) {
	d.leg, d.request, d.target, d.drop = toPickup, request, pickup, drop
	d.legSpeed = cfg.MinSpeedKMH + d.rng.Float64()*(cfg.MaxSpeedKMH-cfg.MinSpeedKMH)
}

// update fills in the driver's GPS update at its current time.
func (d *driver) update(out *event.DriverLocation, cfg *Config) {
	avail := event.Available
	if d.busy() {
		avail = event.Busy
	}
	*out = event.DriverLocation{
		DriverID: d.id,
		// Six decimals are about 0.1 m, what a phone's GPS reports.
		Location:     geo.Point{Lat: round(d.pos.Lat, 1e6), Lng: round(d.pos.Lng, 1e6)},
		Time:         d.at,
		SpeedKMH:     round(d.speed(d.at, cfg), 10),
		Heading:      d.heading,
		Availability: avail,
		Vehicle:      d.vehicle,
		Rating:       d.rating,
	}
}

func round(f, scale float64) float64 { return math.Round(f*scale) / scale }

// The reference picks vehicle types uniformly; real fleets have more hatchbacks. Ratings
// are the reference's round(uniform(4.0, 5.0), 1), with a few drivers below 4.
var vehicleMix = [...]struct {
	v     event.Vehicle
	share float64
}{{event.Hatchback, 0.45}, {event.Sedan, 0.30}, {event.Auto, 0.25}}

const lowRatedShare = 0.05

func drawVehicle(rng *rand.Rand) event.Vehicle {
	x := rng.Float64()
	for _, m := range vehicleMix {
		if x -= m.share; x < 0 {
			return m.v
		}
	}
	return vehicleMix[len(vehicleMix)-1].v
}

func drawRating(rng *rand.Rand) float64 {
	if rng.Float64() < lowRatedShare {
		return round(3+rng.Float64(), 10)
	}
	return round(4+rng.Float64(), 10)
}

// newDriver places driver i of the fleet at origin, or, when it is nil, near one of its
// city's places.
func newDriver(i int, id string, c *city, cfg *Config, start event.Time, scratch []float64, origin func(*rand.Rand) geo.Point) *driver {
	rng := rand.New(rand.NewPCG(cfg.Seed, driverStream+uint64(i)))
	d := &driver{id: id, rng: rng, city: c, responseDelay: ResponseDelay(cfg.Seed, i, cfg.ResponseMin, cfg.ResponseMax)}
	d.vehicle = drawVehicle(rng)
	d.rating = drawRating(rng)
	intervalMS := int64(cfg.GPSInterval / time.Millisecond)
	d.phase = event.Time(rng.Int64N(intervalMS) * 1000)
	if origin != nil {
		d.pos = origin(rng)
	} else {
		d.pos = jitter(c.Places[c.place(rng)].Point, cfg.WaypointJitterKM, rng)
	}
	d.at = start
	d.cruise(cfg, scratch)
	return d
}
