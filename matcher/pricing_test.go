package matcher

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestScore(t *testing.T) {
	w := DefaultConfig().Weights
	tests := []struct {
		name       string
		km, rating float64
		compatible bool
		want       float64
	}{
		{"reference example: 1 km, 4.5, compatible", 1, 4.5, true, 100 - 10 + 10 + 15},
		{"at the pickup, top rating", 0, 5, true, 135},
		{"incompatible gets no bonus", 1, 4.5, false, 100},
		{"rating below the pivot costs", 2, 3.0, true, 100 - 20 - 20 + 15},
		{"never below zero", 20, 1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.Score(tt.km, tt.rating, tt.compatible); got != tt.want {
				t.Errorf("Score(%v, %v, %v) = %v, want %v", tt.km, tt.rating, tt.compatible, got, tt.want)
			}
		})
	}
}

func TestPeak(t *testing.T) {
	tests := []struct {
		hour int
		want bool
	}{
		{7, false}, {8, true}, {11, true}, {12, false}, {16, false}, {17, true}, {21, true}, {22, false}, {0, false},
	}
	for _, tt := range tests {
		local := time.Date(2026, 11, 25, tt.hour, 59, 0, 0, time.UTC)
		if got := Peak(local); got != tt.want {
			t.Errorf("Peak(%02d:59) = %v, want %v (the reference's 8 <= hour <= 11 or 17 <= hour <= 21)", tt.hour, got, tt.want)
		}
	}
}

func TestETAMinutes(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name string
		km   float64
		peak bool
		want int
	}{
		{"zero distance is the buffer", 0, false, 5},
		{"2.5 km at 25 km/h is 6 min", 2.5, false, 6 + 5},
		{"2.5 km at 15 km/h in peak is 10 min", 2.5, true, 10 + 5},
		{"whole minutes are truncated like int()", 1, false, 2 + 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cfg.ETAMinutes(tt.km, tt.peak); got != tt.want {
				t.Errorf("ETAMinutes(%v, %v) = %v, want %v", tt.km, tt.peak, got, tt.want)
			}
		})
	}
}

func TestFare(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		km, surge, want float64
	}{
		{0, 1, 50},
		{10, 1, 170},
		{10, 1.5, 255},
		{2.619, 1, 81.43},
		{3.333, 2.3, 206.99},
	}
	for _, tt := range tests {
		if got := cfg.Fare(tt.km, tt.surge); got != tt.want {
			t.Errorf("Fare(%v km, x%v) = %v, want %v", tt.km, tt.surge, got, tt.want)
		}
	}
}

func TestMatchIDIsStable(t *testing.T) {
	a := matchID("R1", "DRV001", 1_700_000_000_000_000)
	if a != matchID("R1", "DRV001", 1_700_000_000_000_000) {
		t.Fatal("match ids differ for the same input")
	}
	if a == matchID("R1", "DRV002", 1_700_000_000_000_000) || a == matchID("R2", "DRV001", 1_700_000_000_000_000) {
		t.Fatal("match ids collide for different inputs")
	}
	if len(a) != 18 || a[:2] != "m-" {
		t.Fatalf("match id %q is not m- and 16 hex digits", a)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"zero pickup distance", func(c *Config) { c.MaxPickupKM = 0 }},
		{"huge pickup distance", func(c *Config) { c.MaxPickupKM = 500 }},
		{"NaN pickup distance", func(c *Config) { c.MaxPickupKM = math.NaN() }},
		{"negative rating weight", func(c *Config) { c.Weights.Rating = -1 }},
		{"negative compatible weight", func(c *Config) { c.Weights.Compatible = -15 }},
		{"rating pivot above 5", func(c *Config) { c.Weights.RatingPivot = 6 }},
		{"zero peak factor", func(c *Config) { c.PeakFactor = 0 }},
		{"negative pickup buffer", func(c *Config) { c.PickupBufferMin = -1 }},
		{"negative request TTL", func(c *Config) { c.RequestTTL = -time.Second }},
		{"forget before TTL", func(c *Config) { c.ForgetAfter = time.Second }},
		{"dedup shorter than TTL", func(c *Config) { c.DedupWindow = time.Second }},
		{"sub-millisecond retry", func(c *Config) { c.RetryInterval = time.Microsecond }},
		{"resolutions out of order", func(c *Config) { c.Resolutions.Region = 10 }},
		{"zero speed", func(c *Config) { c.SpeedKMH = 0 }},
		{"bad surge", func(c *Config) { c.Surge.Cap = 0.5 }},
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if c.Validate() == nil {
				t.Error("Validate accepted it")
			}
		})
	}
}

// TestConfigValidateFloats: every float setting refuses NaN, the infinities and absurd
// magnitudes with an error that names it (issue 24: --base-fare NaN panicked the engine
// when it wrote its first match).
func TestConfigValidateFloats(t *testing.T) {
	floats := []struct {
		name string // in the error
		set  func(*Config, float64)
	}{
		{"max pickup distance", func(c *Config, v float64) { c.MaxPickupKM = v }},
		{"base score", func(c *Config, v float64) { c.Weights.Base = v }},
		{"distance weight", func(c *Config, v float64) { c.Weights.DistancePerKM = v }},
		{"rating weight", func(c *Config, v float64) { c.Weights.Rating = v }},
		{"rating pivot", func(c *Config, v float64) { c.Weights.RatingPivot = v }},
		{"compatible vehicle weight", func(c *Config, v float64) { c.Weights.Compatible = v }},
		{"ETA speed", func(c *Config, v float64) { c.SpeedKMH = v }},
		{"peak factor", func(c *Config, v float64) { c.PeakFactor = v }},
		{"base fare", func(c *Config, v float64) { c.BaseFare = v }},
		{"per-km fare", func(c *Config, v float64) { c.PerKM = v }},
		{"surge cap", func(c *Config, v float64) { c.Surge.Cap = v }},
		{"surge step", func(c *Config, v float64) { c.Surge.Step = v }},
		{"surge threshold", func(c *Config, v float64) { c.Surge.Threshold = v }},
		{"surge sensitivity", func(c *Config, v float64) { c.Surge.Sensitivity = v }},
	}
	for _, f := range floats {
		for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308} {
			c := DefaultConfig()
			f.set(&c, v)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), f.name) {
				t.Errorf("%s = %v: Validate() = %v, want an error about the %s", f.name, v, err, f.name)
			}
		}
	}
}
