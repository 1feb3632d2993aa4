package bench

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestConfigValidateFloats: every float setting refuses NaN, the infinities and absurd
// magnitudes with an error that names it.
func TestConfigValidateFloats(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	floats := []struct {
		name string // in the error
		set  func(*Config, float64)
	}{
		{"request rate", func(c *Config, v float64) { c.Rate = v }},
		{"latency rate", func(c *Config, v float64) { c.LatencyRate = v }},
		{"restore rate", func(c *Config, v float64) { c.RestoreRate = v }},
		{"latency curve rate", func(c *Config, v float64) { c.LatencyCurve = []float64{25_000, v} }},
	}
	for _, f := range floats {
		for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, 0} {
			c := DefaultConfig()
			f.set(&c, v)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), f.name) {
				t.Errorf("%s = %v: Validate() = %v, want ErrConfig about the %s", f.name, v, err, f.name)
			}
		}
	}
}
