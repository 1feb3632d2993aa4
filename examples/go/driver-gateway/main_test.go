package main

import (
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		give    []string
		want    func(config) bool
		wantErr bool
	}{
		{give: nil, want: func(c config) bool {
			return c.Drivers == 3 && c.Interval == 2*time.Second && c.From == point{19.0544, 72.8413}
		}},
		{give: []string{"--brokers", "a:1,b:2", "--drivers", "5", "--from", "19.1, 72.9"},
			want: func(c config) bool {
				return len(c.Brokers) == 2 && c.Brokers[1] == "b:2" && c.Drivers == 5 && c.From == point{19.1, 72.9}
			}},
		{give: []string{"--drivers", "0"}, wantErr: true},
		{give: []string{"--interval", "0s"}, wantErr: true},
		{give: []string{"--to", "91,0"}, wantErr: true},
		{give: []string{"--to", "19.1"}, wantErr: true},
		{give: []string{"--brokers", ""}, wantErr: true},
		{give: []string{"--accept-within", "0.5"}, want: func(c config) bool { return c.AcceptWithinKM == 0.5 }},
		{give: []string{"--accept-within", "-1"}, wantErr: true},
		{give: []string{"--accept-within", "NaN"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseFlags(tt.give, io.Discard)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q) error %v, want an error: %v", tt.give, err, tt.wantErr)
			continue
		}
		if err == nil && !tt.want(got) {
			t.Errorf("parseFlags(%q) = %+v", tt.give, got)
		}
	}
	if _, err := parseFlags([]string{"--bogus"}, io.Discard); !errors.As(err, new(usageError)) {
		t.Errorf("an unknown flag gives %v, want a usageError", err)
	}
}

// TestMove: drivers go to the end of the line and back, never past either end.
func TestMove(t *testing.T) {
	cfg := defaultConfig()
	cfg.Drivers = 2
	cfg.SpeedKMH = 360 // 0.2 km an update on a 2.6 km line
	g := newGateway(cfg, nil, io.Discard)
	turned := false
	for range 40 {
		g.move()
		for _, d := range g.drivers {
			if d.along < 0 || d.along > 1 {
				t.Fatalf("%s is %v along the line", d.id, d.along)
			}
			turned = turned || d.dir < 0
		}
	}
	if !turned {
		t.Error("no driver turned back at the end of the line")
	}
	if km := distanceKM(cfg.From, cfg.To); math.Abs(km-2.62) > 0.01 {
		t.Errorf("bandra_station to bkc is %.3f km, want 2.62", km)
	}
}
