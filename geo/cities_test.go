package geo

import (
	"strings"
	"testing"
	"time"
)

func TestZonesAt(t *testing.T) {
	z := NewZones()
	// A winter and a summer instant, so daylight saving shows where there is any.
	winter := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		give       Point
		wantZone   string // the location's name
		wantWinter int    // UTC offsets in seconds
		wantSummer int
	}{
		{"Bandra", bandraStation, "Asia/Kolkata", 19800, 19800},
		{"Churchgate", churchgate, "Asia/Kolkata", 19800, 19800},
		{"Thane, at the edge of Mumbai", Point{19.186, 72.9756}, "Asia/Kolkata", 19800, 19800},
		{"Connaught Place", connaughtPlace, "Asia/Kolkata", 19800, 19800},
		{"Noida", Point{28.5708, 77.3260}, "Asia/Kolkata", 19800, 19800},
		{"Bengaluru", Point{12.9716, 77.5946}, "Asia/Kolkata", 19800, 19800},
		{"Times Square", timesSquare, "America/New_York", -5 * 3600, -4 * 3600},
		{"JFK", Point{40.6413, -73.7781}, "America/New_York", -5 * 3600, -4 * 3600},
		{"Newark, 20 km from Manhattan", Point{40.7357, -74.1724}, "America/New_York", -5 * 3600, -4 * 3600},
		{"South Atlantic", Point{-30, -30}, "UTC-2", -2 * 3600, -2 * 3600},
		{"Pacific near the date line", Point{10, 170}, "UTC+11", 11 * 3600, 11 * 3600},
		{"Pacific east of the date line", Point{10, -170}, "UTC-11", -11 * 3600, -11 * 3600},
		{"Arabian Sea, 300 km west of Mumbai", Point{19.05, 70.0}, "UTC+5", 5 * 3600, 5 * 3600},
		{"Gulf of Guinea", Point{-1, 1}, "UTC+0", 0, 0},
		{"Paris, a city ridematch does not know", Point{48.8566, 2.3522}, "UTC+0", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := z.At(tt.give)
			if loc.String() != tt.wantZone {
				t.Errorf("At(%v) = %q, want %q", tt.give, loc, tt.wantZone)
			}
			if _, off := winter.In(loc).Zone(); off != tt.wantWinter {
				t.Errorf("At(%v) winter offset %d, want %d", tt.give, off, tt.wantWinter)
			}
			if _, off := summer.In(loc).Zone(); off != tt.wantSummer {
				t.Errorf("At(%v) summer offset %d, want %d", tt.give, off, tt.wantSummer)
			}
		})
	}
}

// TestZonesRadius: a known city's zone reaches 150 km from its centre, no further.
func TestZonesRadius(t *testing.T) {
	z := NewZones()
	mumbai, err := CityNamed("mumbai")
	if err != nil {
		t.Fatal(err)
	}
	c := mumbai.Center()
	// West of Mumbai is open sea, far from every other city.
	if got := z.At(destination(c, 270, 149)); got.String() != "Asia/Kolkata" {
		t.Errorf("149 km west of Mumbai: %v, want Asia/Kolkata", got)
	}
	if got := z.At(destination(c, 270, 151)); got.String() == "Asia/Kolkata" {
		t.Errorf("151 km west of Mumbai: %v, want a solar offset", got)
	}
}

func TestCities(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cities() {
		if seen[c.Name] {
			t.Errorf("city %q twice", c.Name)
		}
		seen[c.Name] = true
		if c.Location() == nil || len(c.Places) == 0 {
			t.Errorf("%s: no zone or places", c.Name)
		}
		for _, p := range c.Places {
			if !p.Point.Valid() || p.Weight <= 0 {
				t.Errorf("%s/%s: point %v weight %v", c.Name, p.Name, p.Point, p.Weight)
			}
			if d := DistanceKM(p.Point, c.Center()); d > 60 {
				t.Errorf("%s/%s is %.0f km from the city centre", c.Name, p.Name, d)
			}
		}
	}
	// Mumbai comes first with the reference's six places, at the reference's coordinates.
	mumbai := Cities()[0]
	ref := map[string]Point{"bandra_station": bandraStation, "andheri_station": andheriStation, "churchgate": churchgate, "powai": powai, "bkc": bkc, "lower_parel": lowerParel}
	for i, p := range mumbai.Places[:6] {
		if want, ok := ref[p.Name]; !ok || p.Point != want {
			t.Errorf("Mumbai place %d = %s %v, want one of the reference's six", i, p.Name, p.Point)
		}
	}
	if c, err := CityNamed("DELHI"); err != nil || c.Name != "delhi" {
		t.Errorf("CityNamed(DELHI) = %v, %v", c.Name, err)
	}
	if _, err := CityNamed("atlantis"); err == nil || !strings.Contains(err.Error(), "mumbai") {
		t.Errorf("CityNamed(atlantis) error %v, want one naming the choices", err)
	}
}

// What Cities and CityNamed return is the caller's: changing it changes no one else's.
func TestCitiesAreCopies(t *testing.T) {
	cs := Cities()
	cs[0].Name = "changed"
	cs[0].Places[0].Point = Point{Lat: 1, Lng: 1}
	delhi, err := CityNamed("delhi")
	if err != nil {
		t.Fatal(err)
	}
	delhi.Places[0].Name = "changed"
	if c := Cities()[0]; c.Name != "mumbai" || c.Places[0].Point != bandraStation {
		t.Errorf("a change to one caller's copy reached the table: %s, %v", c.Name, c.Places[0].Point)
	}
	if c, _ := CityNamed("delhi"); c.Places[0].Name != "connaught_place" {
		t.Errorf("a change to CityNamed's copy reached the table: %s", c.Places[0].Name)
	}
}
