package bench

import (
	"strings"
	"time"
)

// Preset is a named scenario of the dispatch phase: one city's demand at a local time of
// day, with drivers scarce or ample for it. For the other phases a preset means its city.
//
//   - scarce: Mumbai from 17:30 local, in the evening peak (the simulator slows traffic
//     from 17:00 to 21:00, so rides hold their drivers longer), three requests a second,
//     some 10,800 an hour, with fewer drivers than the demand needs: greedy assignment
//     matches about three requests in four.
//   - ample: the same demand, with enough drivers that greedy assignment matches at least
//     98% of it.
//
// Both were tuned on greedy assignment alone, so that neither favours a policy. How much
// an assignment can gain depends on how many requests compete in one place at once, so on
// density as well as on the ratio of supply to demand: the rate is the city's, not a
// third of it with a third of the fleet (BENCHMARKS.md, Dispatch).
type Preset struct {
	Name    string
	City    string
	Drivers int
	Rate    float64       // requests a simulated second
	Start   time.Duration // local time of day
}

// Presets returns the named scenarios.
func Presets() []Preset {
	const evening = 17*time.Hour + 30*time.Minute
	return []Preset{
		{Name: "scarce", City: "mumbai", Drivers: 6000, Rate: 3, Start: evening},
		{Name: "ample", City: "mumbai", Drivers: 18000, Rate: 3, Start: evening},
	}
}

// PresetNamed returns the preset of a name (case-insensitive).
func PresetNamed(name string) (Preset, bool) {
	for _, p := range Presets() {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return Preset{}, false
}

// UsePreset makes c the preset's scenario: its city for every phase, and its drivers,
// request rate and start for the dispatch phase.
func (c *Config) UsePreset(p Preset) {
	c.Scenario = p.City
	c.Dispatch.Preset, c.Dispatch.Drivers, c.Dispatch.Rate, c.Dispatch.Start = p.Name, p.Drivers, p.Rate, p.Start
}
