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
