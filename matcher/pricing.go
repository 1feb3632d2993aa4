package matcher

import (
	"math"
	"time"

	"ridematch/event"
	"ridematch/internal/fnv"
)

// Score is the reference's calculate_suitability_score: closer, better rated and
// compatible drivers score higher; never below zero.
func (w Weights) Score(distanceKM, rating float64, compatible bool) float64 {
	s := w.Base - w.DistancePerKM*distanceKM + w.Rating*(rating-w.RatingPivot)
	if compatible {
		s += w.Compatible
	}
	return max(0, s)
}

// Peak reports whether a local time falls in the reference's peak hours:
// 8 <= hour <= 11 or 17 <= hour <= 21.
func Peak(local time.Time) bool {
	h := local.Hour()
	return (h >= 8 && h <= 11) || (h >= 17 && h <= 21)
}

// ETAMinutes is the reference's calculate_eta without its randomness: whole minutes to
// cover the distance at the city speed (slower in peak hours), plus the pickup buffer.
func (c *Config) ETAMinutes(distanceKM float64, peak bool) int {
	speed := c.SpeedKMH
	if peak {
		speed *= c.PeakFactor
	}
	return int(distanceKM/speed*60) + c.PickupBufferMin
}

// Fare is the reference's calculate_fare: (base + per-km x trip km) x surge, rounded to
// two decimals.
func (c *Config) Fare(tripKM, surge float64) float64 {
	return math.Round((c.BaseFare+c.PerKM*tripKM)*surge*100) / 100
}

// matchID derives a match id from what was matched, so a replay gives the same id.
func matchID(requestID, driverID string, at event.Time) string {
	// 0xff, which no id holds (ids are valid UTF-8), ends each id: no two pairs run together.
	h := fnv.New64().AddString(requestID).AddByte(0xff).AddString(driverID).AddByte(0xff).AddUint64(uint64(at))
	const hex = "0123456789abcdef"
	b := []byte("m-0000000000000000")
	for i := 0; i < 16; i++ {
		b[len(b)-1-i] = hex[h>>(4*i)&0xf]
	}
	return string(b)
}
