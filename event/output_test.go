package event

import (
	"encoding/json"
	"regexp"
	"testing"

	"ridematch/geo"
)

// pythonISO is what datetime.fromisoformat (3.11+) reads back exactly: six fractional
// digits and a Z.
var pythonISO = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

func marshalMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%T): %v", v, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func checkTimeField(t *testing.T, m map[string]any, field string, want Time) {
	t.Helper()
	s, ok := m[field].(string)
	if !ok {
		t.Errorf("%s = %#v, want a string", field, m[field])
		return
	}
	if !pythonISO.MatchString(s) {
		t.Errorf("%s = %q, not YYYY-MM-DDTHH:MM:SS.ffffffZ", field, s)
	}
	if got, err := ParseTime(s); err != nil || got != want {
		t.Errorf("%s = %q reads back as %v, %v; want %v", field, s, got, err, want)
	}
}

func TestRideMatchedJSON(t *testing.T) {
	bandra := geo.Point{Lat: 19.0544, Lng: 72.8413}
	cell := geo.CellOf(bandra, 7)
	matchedAt := TimeOf(mustUTC(t, "2026-11-25T19:00:00.5Z"))
	e := &RideMatched{
		EventType: TypeRideMatched, MatchID: "M1", RequestID: "R1", CustomerID: "CUST001", DriverID: "DRV001",
		PickupLocation: "bandra_station", DropLocation: "bkc", EstimatedArrival: 7, FareEstimate: 81.42,
		MatchTimestamp: matchedAt, DriverRating: 4.7, PickupDistanceKM: 1.25, TripDistanceKM: 2.6,
		Score: 101.5, SurgeMultiplier: 1.3, H3Cell: cell, RideType: "mini", VehicleType: "sedan",
		PickupCoords: bandra, DropCoords: geo.Point{Lat: 19.0596, Lng: 72.8656}, DriverLocation: geo.Point{Lat: 19.05, Lng: 72.84},
		RequestTime: matchedAt.Add(-1500000),
	}
	m := marshalMap(t, e)
	// The reference's create_ride_match fields, then how the match was made.
	for _, field := range []string{
		"event_type", "match_id", "request_id", "customer_id", "driver_id", "pickup_location", "drop_location",
		"estimated_arrival", "fare_estimate", "match_timestamp", "driver_rating",
		"pickup_distance_km", "score", "surge_multiplier", "h3_cell",
	} {
		if _, ok := m[field]; !ok {
			t.Errorf("ride_matched has no %q: %v", field, m)
		}
	}
	wantNumbers := map[string]float64{"estimated_arrival": 7, "fare_estimate": 81.42, "driver_rating": 4.7, "pickup_distance_km": 1.25, "score": 101.5, "surge_multiplier": 1.3}
	for field, want := range wantNumbers {
		if m[field] != want {
			t.Errorf("%s = %#v, want %v", field, m[field], want)
		}
	}
	wantStrings := map[string]string{"event_type": "ride_matched", "match_id": "M1", "request_id": "R1", "customer_id": "CUST001", "driver_id": "DRV001", "pickup_location": "bandra_station", "drop_location": "bkc", "h3_cell": cell.String()}
	for field, want := range wantStrings {
		if m[field] != want {
			t.Errorf("%s = %#v, want %q", field, m[field], want)
		}
	}
	if c, err := geo.ParseCell(m["h3_cell"].(string)); err != nil || c != cell {
		t.Errorf("h3_cell %v does not parse back: %v", m["h3_cell"], err)
	}
	checkTimeField(t, m, "match_timestamp", matchedAt)
	checkTimeField(t, m, "request_time", e.RequestTime)
	if p, ok := m["pickup_coordinates"].(map[string]any); !ok || p["lat"] != 19.0544 || p["lng"] != 72.8413 {
		t.Errorf("pickup_coordinates = %#v, want the reference's {lat, lng}", m["pickup_coordinates"])
	}
	if e.Key() != "R1" || e.Type() != TypeRideMatched {
		t.Errorf("Key %q Type %q", e.Key(), e.Type())
	}
}

func TestOutcomeEvents(t *testing.T) {
	ts := TimeOf(mustUTC(t, "2026-11-25T19:00:30Z"))
	cell := geo.CellOf(geo.Point{Lat: 28.6315, Lng: 77.2167}, 7)
	tests := []struct {
		name      string
		give      Output
		wantKey   string
		wantType  string
		wantTimes []string
	}{
		{"unmatched", &RideUnmatched{EventType: TypeRideUnmatched, RequestID: "R2", Reason: UnmatchedNoDriver, RequestTime: ts, Timestamp: ts, H3Cell: cell}, "R2", "ride_unmatched", []string{"request_time", "timestamp"}},
		{"cancelled", &RideCancelled{EventType: TypeRideCancelled, RequestID: "R3", RequestTime: ts, Timestamp: ts}, "R3", "ride_cancelled", []string{"request_time", "timestamp"}},
		{"match cancelled", &MatchCancelled{EventType: TypeMatchCancelled, RequestID: "R4", MatchID: "M4", Timestamp: ts}, "R4", "match_cancelled", []string{"timestamp"}},
		{"surge", &SurgeUpdated{EventType: TypeSurgeUpdated, H3Cell: cell, Resolution: 7, SurgeMultiplier: 1.5, Previous: 1.2, Demand: 9, Supply: 3, WindowSeconds: 300, Timestamp: ts}, cell.String(), "surge_updated", []string{"timestamp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.give.Key() != tt.wantKey || tt.give.Type() != tt.wantType {
				t.Errorf("Key %q Type %q, want %q %q", tt.give.Key(), tt.give.Type(), tt.wantKey, tt.wantType)
			}
			m := marshalMap(t, tt.give)
			if m["event_type"] != tt.wantType {
				t.Errorf("event_type %v, want %q", m["event_type"], tt.wantType)
			}
			for _, f := range tt.wantTimes {
				checkTimeField(t, m, f, ts)
			}
		})
	}
	// Every surge_updated explains its price.
	m := marshalMap(t, tests[3].give)
	for _, f := range []string{"h3_cell", "surge_multiplier", "previous_multiplier", "demand", "supply", "window_seconds", "timestamp"} {
		if _, ok := m[f]; !ok {
			t.Errorf("surge_updated has no %q", f)
		}
	}
}
