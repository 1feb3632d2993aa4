package simulator

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		give    func(*Config)
		wantErr string // a word the message must hold; empty: valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"national", func(c *Config) { c.City = "all" }, ""},
		{"any case", func(c *Config) { c.City = "Delhi" }, ""},
		{"no drivers, no riders", func(c *Config) { c.Drivers, c.Rate = 0, 0 }, ""},
		{"unknown city", func(c *Config) { c.City = "atlantis" }, "unknown city"},
		{"negative drivers", func(c *Config) { c.Drivers = -1 }, "drivers"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "rate"},
		{"slow clock", func(c *Config) { c.Speedup = 0.5 }, "speedup"},
		{"tiny GPS interval", func(c *Config) { c.GPSInterval = time.Millisecond }, "GPS interval"},
		{"cancel rate above 1", func(c *Config) { c.CancelRate = 1.5 }, "cancel rate"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "duration"},
		{"speeds upside down", func(c *Config) { c.MinSpeedKMH, c.MaxSpeedKMH = 40, 15 }, "speeds"},
		{"no buffer", func(c *Config) { c.MaxBufferedRecords = 0 }, "broker"},
		{"replay pace below 1", func(c *Config) { c.ReplayPace = 0.5 }, "replay pace"},
		{"place jitter upside down", func(c *Config) { c.PlaceJitterMinKM, c.PlaceJitterMaxKM = 0.8, 0.3 }, "place jitter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.give(&cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want ErrConfig about %q", err, tt.wantErr)
			}
		})
	}
}

// TestConfigValidateFloats: every float setting refuses NaN, the infinities and absurd
// magnitudes with an error that names it.
func TestConfigValidateFloats(t *testing.T) {
	floats := []struct {
		name string // in the error
		set  func(*Config, float64)
	}{
		{"request rate", func(c *Config, v float64) { c.Rate = v }},
		{"cancel rate", func(c *Config, v float64) { c.CancelRate = v }},
		{"least driving speed", func(c *Config, v float64) { c.MinSpeedKMH = v }},
		{"greatest driving speed", func(c *Config, v float64) { c.MaxSpeedKMH = v }},
		{"peak factor", func(c *Config, v float64) { c.PeakFactor = v }},
		{"waypoint jitter", func(c *Config, v float64) { c.WaypointJitterKM = v }},
		{"least place jitter", func(c *Config, v float64) { c.PlaceJitterMinKM = v }},
		{"greatest place jitter", func(c *Config, v float64) { c.PlaceJitterMaxKM = v }},
		{"speedup", func(c *Config, v float64) { c.Speedup = v }},
		{"replay pace", func(c *Config, v float64) { c.ReplayPace = v }},
	}
	for _, f := range floats {
		for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308} {
			c := DefaultConfig()
			f.set(&c, v)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), f.name) {
				t.Errorf("%s = %v: Validate() = %v, want ErrConfig about the %s", f.name, v, err, f.name)
			}
		}
	}
}
