package simulator

import (
	"errors"
	"testing"

	"ridematch/event"
	"ridematch/geo"
)

func TestParseOutcome(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    Outcome
		wantErr bool
	}{
		{
			name: "ride_matched",
			give: `{"event_type":"ride_matched","match_id":"M1","request_id":"R1","customer_id":"C1","driver_id":"D1","pickup_coordinates":{"lat":19.05,"lng":72.84},"drop_coordinates":{"lat":19.1,"lng":72.85},"score":99.5}`,
			want: Outcome{Type: event.TypeRideMatched, RequestID: "R1", DriverID: "D1", Pickup: geo.Point{Lat: 19.05, Lng: 72.84}, Drop: geo.Point{Lat: 19.1, Lng: 72.85}},
		},
		{name: "ride_unmatched", give: `{"event_type":"ride_unmatched","request_id":"R2","reason":"no_compatible_driver_within_range"}`, want: Outcome{Type: event.TypeRideUnmatched, RequestID: "R2"}},
		{name: "ride_cancelled", give: `{"event_type":"ride_cancelled","request_id":"R3"}`, want: Outcome{Type: event.TypeRideCancelled, RequestID: "R3"}},
		{name: "match_cancelled", give: `{"event_type":"match_cancelled","request_id":"R4","driver_id":"D4"}`, want: Outcome{Type: event.TypeMatchCancelled, RequestID: "R4", DriverID: "D4"}},
		{name: "surge", give: `{"event_type":"surge_updated","h3_cell":"872830828ffffff"}`, wantErr: true},
		{name: "no request", give: `{"event_type":"ride_unmatched"}`, wantErr: true},
		{name: "not json", give: `ride_matched`, wantErr: true},
		{name: "wrong type", give: `{"event_type":"ride_matched","request_id":7}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOutcome([]byte(tt.give))
			if tt.wantErr {
				if !errors.Is(err, ErrNotOutcome) {
					t.Errorf("err = %v, want ErrNotOutcome", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if got.Final() != (tt.want.Type != event.TypeMatchCancelled) {
				t.Errorf("Final() = %v", got.Final())
			}
		})
	}
}

func FuzzParseOutcome(f *testing.F) {
	f.Add([]byte(`{"event_type":"ride_matched","request_id":"R1","driver_id":"D1","pickup_coordinates":{"lat":19.05,"lng":72.84}}`))
	f.Add([]byte(`{"event_type":"match_cancelled","request_id":"R4","driver_id":"D4"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOutcome(b)
		if err != nil {
			return
		}
		// Whatever parses is safe to apply.
		w, werr := NewWorld(testConfig("mumbai", 3, 1), testStart)
		if werr != nil {
			t.Fatal(werr)
		}
		o.DriverID = w.DriverIDs()[0]
		w.Apply(o)
		w.Step(testStart.Add(10*60e9), func(*event.Input) {})
	})
}
