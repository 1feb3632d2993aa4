package simulator

import (
	"encoding/json"
	"errors"
	"fmt"

	"ridematch/event"
	"ridematch/geo"
)

// Outcome is what the simulator needs from an event on ride-matches.
type Outcome struct {
	Type      string // event.TypeRideMatched, TypeRideUnmatched, TypeRideCancelled or TypeMatchCancelled
	RequestID string
	DriverID  string    // ride_matched and match_cancelled
	Pickup    geo.Point // ride_matched
	Drop      geo.Point // ride_matched
}

// Final reports whether o is a request's final outcome.
func (o Outcome) Final() bool {
	switch o.Type {
	case event.TypeRideMatched, event.TypeRideUnmatched, event.TypeRideCancelled:
		return true
	}
	return false
}

// ErrNotOutcome is wrapped when a record on ride-matches is not an outcome the simulator
// knows.
var ErrNotOutcome = errors.New("not a ride outcome")

// ParseOutcome reads an event from ride-matches.
func ParseOutcome(b []byte) (Outcome, error) {
	var w struct {
		EventType string     `json:"event_type"`
		RequestID string     `json:"request_id"`
		DriverID  string     `json:"driver_id"`
		Pickup    *geo.Point `json:"pickup_coordinates"`
		Drop      *geo.Point `json:"drop_coordinates"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrNotOutcome, err)
	}
	o := Outcome{Type: w.EventType, RequestID: w.RequestID, DriverID: w.DriverID}
	if w.Pickup != nil {
		o.Pickup = *w.Pickup
	}
	if w.Drop != nil {
		o.Drop = *w.Drop
	}
	switch {
	case o.Type != event.TypeMatchCancelled && !o.Final():
		return Outcome{}, fmt.Errorf("%w: event_type %q", ErrNotOutcome, o.Type)
	case o.RequestID == "":
		return Outcome{}, fmt.Errorf("%w: no request_id", ErrNotOutcome)
	}
	return o, nil
}
