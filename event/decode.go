package event

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"ridematch/geo"
)

// MaxIDBytes bounds driver, request and customer ids: they become Kafka keys and map keys.
const MaxIDBytes = 128

// DefaultRating is the rating of a driver whose update carries none, as in the
// reference's driver_data.get('rating', 4.0).
const DefaultRating = 4.0

type wirePoint struct {
	Lat *float64 `json:"lat"`
	Lng *float64 `json:"lng"`
}

// The wire forms of the input events. Pointers tell a missing field (or JSON null) from a
// zero value. Each event's form has only its own fields: a field another event type uses
// (a string "location" on a request, say) is as unknown, and as ignored, as any other.
type (
	wireHeader struct {
		EventType *string `json:"event_type"`
	}
	wireDriver struct {
		DriverID     *string    `json:"driver_id"`
		Location     *wirePoint `json:"location"`
		Timestamp    *string    `json:"timestamp"`
		Speed        *float64   `json:"speed"`
		Heading      *float64   `json:"heading"`
		Availability *string    `json:"availability"`
		VehicleType  *string    `json:"vehicle_type"`
		Rating       *float64   `json:"rating"`
	}
	wireRequest struct {
		RequestID         *string    `json:"request_id"`
		CustomerID        *string    `json:"customer_id"`
		PickupLocation    *string    `json:"pickup_location"`
		DropLocation      *string    `json:"drop_location"`
		PickupCoordinates *wirePoint `json:"pickup_coordinates"`
		DropCoordinates   *wirePoint `json:"drop_coordinates"`
		RequestTime       *string    `json:"request_time"`
		RideType          *string    `json:"ride_type"`
		EstimatedDistance *float64   `json:"estimated_distance"`
	}
	wireCancel struct {
		RequestID  *string `json:"request_id"`
		CustomerID *string `json:"customer_id"`
		Timestamp  *string `json:"timestamp"`
		CancelTime *string `json:"cancel_time"`
		Reason     *string `json:"reason"`
	}
)

// DecodeInput decodes and validates one input event: a driver_location_update,
// ride_requested or ride_cancelled in the reference's JSON shape. Every refusal is an
// *InvalidError naming the reason and the field.
func DecodeInput(b []byte) (Input, error) {
	var in Input
	b = trimJSONSpace(b)
	if len(b) == 0 || b[0] != '{' {
		if json.Valid(b) {
			return in, invalid(ReasonNotObject, "", "the value is JSON but not an object")
		}
		return in, invalid(ReasonMalformedJSON, "", "the value is not JSON")
	}
	var h wireHeader
	if err := unmarshal(b, &h); err != nil {
		return in, err
	}
	if h.EventType == nil {
		return in, invalid(ReasonMissingField, "event_type", "")
	}
	var err error
	switch *h.EventType {
	case "driver_location_update":
		var w wireDriver
		if err = unmarshal(b, &w); err == nil {
			in.Kind = KindDriverLocation
			in.Driver, err = w.driver()
		}
	case "ride_requested":
		var w wireRequest
		if err = unmarshal(b, &w); err == nil {
			in.Kind = KindRideRequest
			in.Request, err = w.request()
		}
	case "ride_cancelled":
		var w wireCancel
		if err = unmarshal(b, &w); err == nil {
			in.Kind = KindRideCancel
			in.Cancel, err = w.cancel()
		}
	default:
		return in, invalid(ReasonUnknownEvent, "event_type", truncate(*h.EventType))
	}
	return in, err
}

func unmarshal(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return invalid(ReasonWrongType, te.Field, "want "+te.Type.String()+", got JSON "+te.Value)
	}
	return invalid(ReasonMalformedJSON, "", err.Error())
}

// trimJSONSpace trims the whitespace JSON allows around a value, and nothing else.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func (w *wireDriver) driver() (DriverLocation, error) {
	var d DriverLocation
	var err error
	if d.DriverID, err = id("driver_id", w.DriverID); err != nil {
		return d, err
	}
	if d.Location, err = point("location", w.Location); err != nil {
		return d, err
	}
	if d.Time, err = timestamp("timestamp", w.Timestamp); err != nil {
		return d, err
	}
	if w.Availability == nil {
		return d, invalid(ReasonMissingField, "availability", "")
	}
	var ok bool
	if d.Availability, ok = ParseAvailability(*w.Availability); !ok {
		return d, invalid(ReasonUnknownAvailable, "availability", truncate(*w.Availability))
	}
	if w.VehicleType == nil {
		return d, invalid(ReasonMissingField, "vehicle_type", "")
	}
	if d.Vehicle, ok = ParseVehicle(*w.VehicleType); !ok {
		return d, invalid(ReasonUnknownVehicle, "vehicle_type", truncate(*w.VehicleType))
	}
	d.Rating = DefaultRating
	if w.Rating != nil {
		if *w.Rating < 1 || *w.Rating > 5 {
			return d, invalid(ReasonBadRating, "rating", "ratings run from 1 to 5")
		}
		d.Rating = *w.Rating
	}
	if w.Speed != nil {
		if *w.Speed < 0 || *w.Speed > 400 {
			return d, invalid(ReasonBadValue, "speed", "speed runs from 0 to 400 km/h")
		}
		d.SpeedKMH = *w.Speed
	}
	if w.Heading != nil {
		if *w.Heading < 0 || *w.Heading > 360 {
			return d, invalid(ReasonBadValue, "heading", "heading runs from 0 to 360 degrees")
		}
		d.Heading = *w.Heading
	}
	return d, nil
}

func (w *wireRequest) request() (RideRequest, error) {
	var r RideRequest
	var err error
	if r.RequestID, err = id("request_id", w.RequestID); err != nil {
		return r, err
	}
	if r.CustomerID, err = id("customer_id", w.CustomerID); err != nil {
		return r, err
	}
	if r.Pickup, err = point("pickup_coordinates", w.PickupCoordinates); err != nil {
		return r, err
	}
	if r.Drop, err = point("drop_coordinates", w.DropCoordinates); err != nil {
		return r, err
	}
	if r.Time, err = timestamp("request_time", w.RequestTime); err != nil {
		return r, err
	}
	if w.RideType == nil {
		return r, invalid(ReasonMissingField, "ride_type", "")
	}
	var ok bool
	if r.RideType, ok = ParseRideType(*w.RideType); !ok {
		return r, invalid(ReasonUnknownRideType, "ride_type", truncate(*w.RideType))
	}
	if r.PickupName, err = name("pickup_location", w.PickupLocation); err != nil {
		return r, err
	}
	if r.DropName, err = name("drop_location", w.DropLocation); err != nil {
		return r, err
	}
	if w.EstimatedDistance != nil {
		if *w.EstimatedDistance < 0 || *w.EstimatedDistance > 1000 {
			return r, invalid(ReasonBadValue, "estimated_distance", "estimated_distance runs from 0 to 1000 km")
		}
		r.EstimatedKM = *w.EstimatedDistance
	}
	return r, nil
}

func (w *wireCancel) cancel() (RideCancel, error) {
	var c RideCancel
	var err error
	if c.RequestID, err = id("request_id", w.RequestID); err != nil {
		return c, err
	}
	if w.CustomerID != nil {
		if c.CustomerID, err = id("customer_id", w.CustomerID); err != nil {
			return c, err
		}
	}
	ts, field := w.Timestamp, "timestamp"
	if ts == nil {
		ts, field = w.CancelTime, "cancel_time"
	}
	if c.Time, err = timestamp(field, ts); err != nil {
		return c, err
	}
	if c.Reason, err = name("reason", w.Reason); err != nil {
		return c, err
	}
	return c, nil
}

func id(field string, s *string) (string, error) {
	switch {
	case s == nil:
		return "", invalid(ReasonMissingField, field, "")
	case *s == "" || len(*s) > MaxIDBytes || !utf8.ValidString(*s) || strings.ContainsFunc(*s, isControl):
		return "", invalid(ReasonBadID, field, "ids are 1 to 128 bytes of printable UTF-8")
	}
	return *s, nil
}

func name(field string, s *string) (string, error) {
	switch {
	case s == nil:
		return "", nil
	case len(*s) > 256 || !utf8.ValidString(*s):
		return "", invalid(ReasonBadValue, field, "names are at most 256 bytes of UTF-8")
	}
	return *s, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func point(field string, p *wirePoint) (geo.Point, error) {
	switch {
	case p == nil:
		return geo.Point{}, invalid(ReasonMissingField, field, "")
	case p.Lat == nil:
		return geo.Point{}, invalid(ReasonMissingField, field+".lat", "")
	case p.Lng == nil:
		return geo.Point{}, invalid(ReasonMissingField, field+".lng", "")
	}
	g := geo.Point{Lat: *p.Lat, Lng: *p.Lng}
	if !g.Valid() {
		return g, invalid(ReasonBadCoordinates, field, "latitude runs from -90 to 90, longitude from -180 to 180, and (0,0) is no fix")
	}
	return g, nil
}

func timestamp(field string, s *string) (Time, error) {
	if s == nil {
		return 0, invalid(ReasonMissingField, field, "")
	}
	t, err := ParseTime(*s)
	if err != nil {
		return 0, invalid(ReasonBadTimestamp, field, truncate(*s))
	}
	return t, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
