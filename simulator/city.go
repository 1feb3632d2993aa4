package simulator

import (
	"math"
	"math/rand/v2"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// city is a simulated city: its places with cumulative weights for drawing them, and its
// zone, for the local peak hours.
type city struct {
	geo.City
	cum []float64 // cumulative place weights
	loc *time.Location

	// The peak state of the local hour last asked about: drivers ask once an update, and
	// the answer changes once an hour.
	hourFrom, hourTo event.Time
	peak             bool
}

func newCity(c geo.City) *city { return newCityIn(c, c.Location()) }

// newCityIn builds a city whose local time is loc's.
func newCityIn(c geo.City, loc *time.Location) *city {
	cs := &city{City: c, loc: loc}
	total := 0.0
	for _, p := range c.Places {
		total += max(p.Weight, 0)
		cs.cum = append(cs.cum, total)
	}
	return cs
}

// place draws a place by weight.
func (c *city) place(rng *rand.Rand) int { return drawCumulative(c.cum, rng) }

// placeExcept draws a place by weight other than skip, when the city has another.
func (c *city) placeExcept(rng *rand.Rand, skip int) int {
	if len(c.Places) < 2 {
		return c.place(rng)
	}
	x := rng.Float64() * (c.cum[len(c.cum)-1] - max(c.Places[skip].Weight, 0))
	last := -1
	for i, p := range c.Places {
		if i == skip {
			continue
		}
		last = i
		if x -= max(p.Weight, 0); x < 0 {
			return i
		}
	}
	return last
}

// nearPlace draws a place by weight, discounted by distance from p: drivers cruise
// towards nearby hot spots more often than across the city.
func (c *city) nearPlace(rng *rand.Rand, p geo.Point, scratch []float64) int {
	const decayKM = 8.0
	scratch = scratch[:0]
	total := 0.0
	for _, pl := range c.Places {
		total += max(pl.Weight, 0) * math.Exp(-geo.DistanceKM(p, pl.Point)/decayKM)
		scratch = append(scratch, total)
	}
	if total <= 0 {
		return c.place(rng)
	}
	return drawCumulative(scratch, rng)
}

// isPeak reports whether t falls in the city's local peak hours, 8-11 and 17-21 inclusive
// as in the reference.
func (c *city) isPeak(t event.Time) bool {
	if t >= c.hourFrom && t < c.hourTo {
		return c.peak
	}
	local := t.Std().In(c.loc)
	h := local.Hour()
	c.peak = (h >= 8 && h <= 11) || (h >= 17 && h <= 21)
	// Cache until the local hour ends: computed from the local clock, so that zones with
	// half-hour offsets are right too.
	intoHour := time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second + time.Duration(local.Nanosecond())
	c.hourFrom, c.hourTo = t, t.Add(time.Hour-intoHour)
	return c.peak
}

func drawCumulative(cum []float64, rng *rand.Rand) int {
	x := rng.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

// jitter returns p moved by a gaussian offset of sigma km, clipped at 2 sigma so that
// drivers stay near the places, which are on land.
func jitter(p geo.Point, sigmaKM float64, rng *rand.Rand) geo.Point {
	n, e := rng.NormFloat64()*sigmaKM, rng.NormFloat64()*sigmaKM
	if d := math.Hypot(n, e); d > 2*sigmaKM {
		n, e = n*2*sigmaKM/d, e*2*sigmaKM/d
	}
	return geo.Offset(p, n, e)
}

// ring returns p moved between minKM and maxKM in a uniform direction.
func ring(p geo.Point, minKM, maxKM float64, rng *rand.Rand) geo.Point {
	d := minKM + rng.Float64()*(maxKM-minKM)
	a := rng.Float64() * 2 * math.Pi
	return geo.Offset(p, d*math.Cos(a), d*math.Sin(a))
}
