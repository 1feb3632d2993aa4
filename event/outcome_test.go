package event

import (
	"encoding/json"
	"errors"
	"testing"

	"ridematch/geo"
)

func TestDecodeOutcome(t *testing.T) {
	decided := TimeOf(mustUTC(t, "2026-11-25T19:00:00.123456Z"))
	tests := []struct {
		name    string
		give    string
		want    RideOutcome
		wantErr bool
	}{
		{
			name: "ride_matched",
			give: `{"event_type":"ride_matched","match_id":"M1","request_id":"R1","customer_id":"C1","driver_id":"D1","pickup_coordinates":{"lat":19.05,"lng":72.84},"drop_coordinates":{"lat":19.1,"lng":72.85},"driver_location":{"lat":19.04,"lng":72.83},"h3_cell":"872830828ffffff","match_timestamp":"2026-11-25T19:00:00.123456Z","request_time":"2026-11-25T18:59:59.000000Z","score":99.5}`,
			want: RideOutcome{
				Type: TypeRideMatched, RequestID: "R1", DriverID: "D1", Pickup: geo.Point{Lat: 19.05, Lng: 72.84}, Drop: geo.Point{Lat: 19.1, Lng: 72.85},
				DriverLocation: geo.Point{Lat: 19.04, Lng: 72.83}, H3Cell: "872830828ffffff", Decided: decided,
			},
		},
		{
			name: "ride_unmatched",
			give: `{"event_type":"ride_unmatched","request_id":"R2","reason":"no_compatible_driver_within_range","pickup_coordinates":{"lat":19.05,"lng":72.84},"timestamp":"2026-11-25T19:00:00.123456Z"}`,
			want: RideOutcome{Type: TypeRideUnmatched, RequestID: "R2", Pickup: geo.Point{Lat: 19.05, Lng: 72.84}, Decided: decided},
		},
		{name: "ride_cancelled", give: `{"event_type":"ride_cancelled","request_id":"R3"}`, want: RideOutcome{Type: TypeRideCancelled, RequestID: "R3"}},
		{name: "match_cancelled", give: `{"event_type":"match_cancelled","request_id":"R4","driver_id":"D4","timestamp":"2026-11-25T19:00:00.123456Z"}`, want: RideOutcome{Type: TypeMatchCancelled, RequestID: "R4", DriverID: "D4", Decided: decided}},
		{name: "a match's time is its match_timestamp", give: `{"event_type":"ride_matched","request_id":"R5","timestamp":"2026-11-25T19:00:00.123456Z"}`, want: RideOutcome{Type: TypeRideMatched, RequestID: "R5"}},
		{name: "an unreadable time", give: `{"event_type":"ride_cancelled","request_id":"R6","timestamp":"yesterday"}`, want: RideOutcome{Type: TypeRideCancelled, RequestID: "R6"}},
		{name: "null coordinates", give: `{"event_type":"ride_matched","request_id":"R7","pickup_coordinates":null}`, want: RideOutcome{Type: TypeRideMatched, RequestID: "R7"}},
		{name: "surge", give: `{"event_type":"surge_updated","h3_cell":"872830828ffffff"}`, wantErr: true},
		{name: "an input event", give: `{"event_type":"ride_requested","request_id":"R8"}`, wantErr: true},
		{name: "no request", give: `{"event_type":"ride_unmatched"}`, wantErr: true},
		{name: "not json", give: `ride_matched`, wantErr: true},
		{name: "not an object", give: `["ride_matched"]`, wantErr: true},
		{name: "null", give: `null`, wantErr: true},
		{name: "a number for an id", give: `{"event_type":"ride_matched","request_id":7}`, wantErr: true},
		{name: "a number for a driver", give: `{"event_type":"ride_matched","request_id":"R9","driver_id":7}`, wantErr: true},
		{name: "a string for a point", give: `{"event_type":"ride_matched","request_id":"R9","driver_location":"here"}`, wantErr: true},
		{name: "a number for a cell", give: `{"event_type":"ride_matched","request_id":"R9","h3_cell":608533827635118079}`, wantErr: true},
		{name: "a number for a time", give: `{"event_type":"ride_cancelled","request_id":"R9","timestamp":1764097200}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOutcome([]byte(tt.give))
			if tt.wantErr {
				if !errors.Is(err, ErrNotOutcome) {
					t.Errorf("err = %v, want ErrNotOutcome", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestRideOutcomeFinal(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{TypeRideMatched, true},
		{TypeRideUnmatched, true},
		{TypeRideCancelled, true},
		{TypeMatchCancelled, false},
		{TypeSurgeUpdated, false},
		{"", false},
	}
	for _, tt := range tests {
		if got := (RideOutcome{Type: tt.give}).Final(); got != tt.want {
			t.Errorf("Final() of a %q = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// outcomeJSON writes o as the engine would, with the fields DecodeOutcome reads.
func outcomeJSON(t *testing.T, o RideOutcome) []byte {
	t.Helper()
	m := map[string]any{
		"event_type": o.Type, "request_id": o.RequestID, "driver_id": o.DriverID, "h3_cell": o.H3Cell,
		"pickup_coordinates": o.Pickup, "drop_coordinates": o.Drop, "driver_location": o.DriverLocation,
	}
	if o.Decided != 0 {
		at := "timestamp"
		if o.Type == TypeRideMatched {
			at = "match_timestamp"
		}
		m[at] = o.Decided
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("%+v does not encode: %v", o, err)
	}
	return b
}

// FuzzDecodeOutcome: DecodeOutcome never panics; it refuses with ErrNotOutcome; and what it
// accepts is one of the four outcomes of a request, which written back decodes the same.
func FuzzDecodeOutcome(f *testing.F) {
	f.Add([]byte(`{"event_type":"ride_matched","request_id":"R1","driver_id":"D1","pickup_coordinates":{"lat":19.05,"lng":72.84},"drop_coordinates":{"lat":19.1,"lng":72.85},"driver_location":{"lat":19.04,"lng":72.83},"h3_cell":"872830828ffffff","match_timestamp":"2026-11-25T19:00:00.123456Z"}`))
	f.Add([]byte(`{"event_type":"ride_unmatched","request_id":"R2","timestamp":"2026-11-25T19:00:00+05:30"}`))
	f.Add([]byte(`{"event_type":"ride_cancelled","request_id":"R3","timestamp":"2026-11-25 19:00:00"}`))
	f.Add([]byte(`{"event_type":"match_cancelled","request_id":"R4","driver_id":"D4"}`))
	f.Add([]byte(`{"event_type":"surge_updated","h3_cell":"872830828ffffff"}`))
	f.Add([]byte(`{"event_type":"ride_matched","request_id":7}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOutcome(b)
		if err != nil {
			if !errors.Is(err, ErrNotOutcome) {
				t.Fatalf("error %v does not wrap ErrNotOutcome", err)
			}
			return
		}
		if o.RequestID == "" || !o.Final() && o.Type != TypeMatchCancelled {
			t.Fatalf("accepted %+v", o)
		}
		again, err := DecodeOutcome(outcomeJSON(t, o))
		if err != nil || again != o {
			t.Fatalf("%+v written back decodes as %+v, %v", o, again, err)
		}
	})
}
