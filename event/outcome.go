package event

import (
	"encoding/json"
	"errors"
	"fmt"

	"ridematch/geo"
)

// RideOutcome is what readers of ride-matches take from an outcome, whichever of the four
// it is: the simulator, the live map, and tail.
type RideOutcome struct {
	Type      string // TypeRideMatched, TypeRideUnmatched, TypeRideCancelled or TypeMatchCancelled
	RequestID string
	DriverID  string // ride_matched and match_cancelled
	// Pickup, Drop and DriverLocation are zero when the outcome has none: Pickup is a
	// ride_matched's or a ride_unmatched's, the others a ride_matched's.
	Pickup, Drop, DriverLocation geo.Point
	H3Cell                       string // as written; geo.ParseCell reads it
	// Decided is when the engine decided: a ride_matched's match_timestamp, any other's
	// timestamp; zero when that is absent or not a time ParseTime reads.
	Decided Time
}

// Final reports whether o is its request's final outcome: ride_matched, ride_unmatched or
// ride_cancelled, exactly one of which each request gets. A match_cancelled is not: it
// follows a ride_matched, which stays the request's outcome.
func (o RideOutcome) Final() bool {
	switch o.Type {
	case TypeRideMatched, TypeRideUnmatched, TypeRideCancelled:
		return true
	}
	return false
}

// ErrNotOutcome is wrapped by every DecodeOutcome error.
var ErrNotOutcome = errors.New("not a ride outcome")

// DecodeOutcome reads an outcome from ride-matches. It refuses a record that is not a JSON
// object, that holds one of RideOutcome's fields as the wrong JSON type (not a string, or
// not a {lat, lng} object), whose event_type is not one of the four, or that names no
// request. It checks no other value: an unreadable time leaves Decided zero.
func DecodeOutcome(b []byte) (RideOutcome, error) {
	var w struct {
		EventType      string    `json:"event_type"`
		RequestID      string    `json:"request_id"`
		DriverID       string    `json:"driver_id"`
		Pickup         geo.Point `json:"pickup_coordinates"`
		Drop           geo.Point `json:"drop_coordinates"`
		DriverLocation geo.Point `json:"driver_location"`
		H3Cell         string    `json:"h3_cell"`
		MatchTimestamp string    `json:"match_timestamp"`
		Timestamp      string    `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return RideOutcome{}, fmt.Errorf("%w: %w", ErrNotOutcome, err)
	}
	o := RideOutcome{
		Type: w.EventType, RequestID: w.RequestID, DriverID: w.DriverID,
		Pickup: w.Pickup, Drop: w.Drop, DriverLocation: w.DriverLocation, H3Cell: w.H3Cell,
	}
	switch {
	case o.Type != TypeMatchCancelled && !o.Final():
		return RideOutcome{}, fmt.Errorf("%w: event_type %q", ErrNotOutcome, o.Type)
	case o.RequestID == "":
		return RideOutcome{}, fmt.Errorf("%w: no request_id", ErrNotOutcome)
	}
	decided := w.Timestamp
	if o.Type == TypeRideMatched {
		decided = w.MatchTimestamp
	}
	o.Decided, _ = ParseTime(decided)
	return o, nil
}
