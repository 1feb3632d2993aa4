package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"ridematch/geo"
)

// MaxIDBytes bounds driver, request, customer and offer ids: they become Kafka keys and map keys.
const MaxIDBytes = 128

// DefaultRating is the rating of a driver whose update carries none, as in the
// reference's driver_data.get('rating', 4.0).
const DefaultRating = 4.0

// DecodeInput decodes and validates one input event: a driver_location_update,
// ride_requested or ride_cancelled in the reference's JSON shape, or a driver's
// offer_accepted or offer_declined. Every refusal is an *InvalidError naming the reason
// and the field.
func DecodeInput(b []byte) (Input, error) {
	b = trimJSONSpace(b)
	if len(b) == 0 || b[0] != '{' {
		if json.Valid(b) {
			return Input{}, invalid(ReasonNotObject, "", "the value is JSON but not an object")
		}
		return Input{}, invalid(ReasonMalformedJSON, "", "the value is not JSON")
	}
	var f fields
	if !scanFields(b, &f) {
		return Input{}, invalid(ReasonMalformedJSON, "", "the value is not valid JSON")
	}
	return f.input()
}

// input validates the decoded fields as the event their event_type names.
func (f *fields) input() (Input, error) {
	var in Input
	if err := f.firstTypeError(headerFields); err != nil {
		return in, err
	}
	if !f.has.has(fEventType) {
		return in, invalid(ReasonMissingField, "event_type", "")
	}
	var err error
	switch t := unsafeString(f.str[fEventType]); t {
	case "driver_location_update":
		if err = f.firstTypeError(driverFields); err == nil {
			in.Kind = KindDriverLocation
			in.Driver, err = f.driver()
		}
	case "ride_requested":
		if err = f.firstTypeError(requestFields); err == nil {
			in.Kind = KindRideRequest
			in.Request, err = f.request()
		}
	case "ride_cancelled":
		if err = f.firstTypeError(cancelFields); err == nil {
			in.Kind = KindRideCancel
			in.Cancel, err = f.cancel()
		}
	case TypeOfferAccepted:
		if err = f.firstTypeError(acceptFields); err == nil {
			in.Kind = KindOfferResponse
			in.Response, err = f.response(true)
		}
	case TypeOfferDeclined:
		if err = f.firstTypeError(declineFields); err == nil {
			in.Kind = KindOfferResponse
			in.Response, err = f.response(false)
		}
	default:
		return in, invalid(ReasonUnknownEvent, "event_type", truncate(string(t)))
	}
	return in, err
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

func (f *fields) driver() (DriverLocation, error) {
	var d DriverLocation
	var err error
	if d.DriverID, err = f.id(fDriverID); err != nil {
		return d, err
	}
	if d.Location, err = f.point(fLocation); err != nil {
		return d, err
	}
	if d.Time, err = f.timestamp(fTimestamp); err != nil {
		return d, err
	}
	if !f.has.has(fAvailability) {
		return d, invalid(ReasonMissingField, "availability", "")
	}
	var ok bool
	if d.Availability, ok = ParseAvailability(unsafeString(f.str[fAvailability])); !ok {
		return d, invalid(ReasonUnknownAvailable, "availability", truncate(string(f.str[fAvailability])))
	}
	if !f.has.has(fVehicleType) {
		return d, invalid(ReasonMissingField, "vehicle_type", "")
	}
	if d.Vehicle, ok = ParseVehicle(unsafeString(f.str[fVehicleType])); !ok {
		return d, invalid(ReasonUnknownVehicle, "vehicle_type", truncate(string(f.str[fVehicleType])))
	}
	d.Rating = DefaultRating
	if f.has.has(fRating) {
		if r := f.num[fRating]; !(r >= 1 && r <= 5) {
			return d, invalid(ReasonBadRating, "rating", "ratings run from 1 to 5")
		}
		d.Rating = f.num[fRating]
	}
	if f.has.has(fSpeed) {
		if v := f.num[fSpeed]; !(v >= 0 && v <= 400) {
			return d, invalid(ReasonBadValue, "speed", "speed runs from 0 to 400 km/h")
		}
		d.SpeedKMH = f.num[fSpeed]
	}
	if f.has.has(fHeading) {
		if v := f.num[fHeading]; !(v >= 0 && v <= 360) {
			return d, invalid(ReasonBadValue, "heading", "heading runs from 0 to 360 degrees")
		}
		d.Heading = f.num[fHeading]
	}
	return d, nil
}

func (f *fields) request() (RideRequest, error) {
	var r RideRequest
	var err error
	if r.RequestID, err = f.id(fRequestID); err != nil {
		return r, err
	}
	if r.CustomerID, err = f.id(fCustomerID); err != nil {
		return r, err
	}
	if r.Pickup, err = f.point(fPickupCoordinates); err != nil {
		return r, err
	}
	if r.Drop, err = f.point(fDropCoordinates); err != nil {
		return r, err
	}
	if r.Time, err = f.timestamp(fRequestTime); err != nil {
		return r, err
	}
	if !f.has.has(fRideType) {
		return r, invalid(ReasonMissingField, "ride_type", "")
	}
	var ok bool
	if r.RideType, ok = ParseRideType(unsafeString(f.str[fRideType])); !ok {
		return r, invalid(ReasonUnknownRideType, "ride_type", truncate(string(f.str[fRideType])))
	}
	if r.PickupName, err = f.name(fPickupLocation); err != nil {
		return r, err
	}
	if r.DropName, err = f.name(fDropLocation); err != nil {
		return r, err
	}
	if f.has.has(fEstimatedDistance) {
		if v := f.num[fEstimatedDistance]; !(v >= 0 && v <= 1000) {
			return r, invalid(ReasonBadValue, "estimated_distance", "estimated_distance runs from 0 to 1000 km")
		}
		r.EstimatedKM = f.num[fEstimatedDistance]
	}
	return r, nil
}

func (f *fields) cancel() (RideCancel, error) {
	var c RideCancel
	var err error
	if c.RequestID, err = f.id(fRequestID); err != nil {
		return c, err
	}
	if f.has.has(fCustomerID) {
		if c.CustomerID, err = f.id(fCustomerID); err != nil {
			return c, err
		}
	}
	ts := fTimestamp
	if !f.has.has(ts) {
		ts = fCancelTime
	}
	if c.Time, err = f.timestamp(ts); err != nil {
		return c, err
	}
	if c.Reason, err = f.name(fReason); err != nil {
		return c, err
	}
	return c, nil
}

// response reads an offer_accepted (accepted) or offer_declined; only a decline has a
// reason; an accept's is a field it does not know.
func (f *fields) response(accepted bool) (OfferResponse, error) {
	r := OfferResponse{Accepted: accepted}
	var err error
	if r.OfferID, err = f.id(fOfferID); err != nil {
		return r, err
	}
	if r.RequestID, err = f.id(fRequestID); err != nil {
		return r, err
	}
	if r.DriverID, err = f.id(fDriverID); err != nil {
		return r, err
	}
	if r.Time, err = f.timestamp(fTimestamp); err != nil {
		return r, err
	}
	if !accepted {
		if r.Reason, err = f.name(fReason); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (f *fields) id(fd field) (string, error) {
	s := f.str[fd]
	switch {
	case !f.has.has(fd):
		return "", invalid(ReasonMissingField, fieldNames[fd], "")
	case len(s) == 0 || len(s) > MaxIDBytes || !printable(s):
		return "", invalid(ReasonBadID, fieldNames[fd], "ids are 1 to 128 bytes of printable UTF-8")
	}
	return string(s), nil
}

func (f *fields) name(fd field) (string, error) {
	s := f.str[fd]
	switch {
	case !f.has.has(fd):
		return "", nil
	case len(s) > 256 || !utf8.Valid(s):
		return "", invalid(ReasonBadValue, fieldNames[fd], "names are at most 256 bytes of UTF-8")
	}
	return string(s), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// printable reports whether s is valid UTF-8 without control characters; ids are nearly
// always ASCII, checked byte by byte.
func printable(s []byte) bool {
	for i, c := range s {
		if c >= utf8.RuneSelf {
			rest := s[i:]
			return utf8.Valid(rest) && !bytes.ContainsFunc(rest, isControl)
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func (f *fields) point(fd field) (geo.Point, error) {
	p := f.ptOf(fd)
	name := fieldNames[fd]
	switch {
	case !f.has.has(fd) || !p.set:
		return geo.Point{}, invalid(ReasonMissingField, name, "")
	case !p.hasLat:
		return geo.Point{}, invalid(ReasonMissingField, name+".lat", "")
	case !p.hasLng:
		return geo.Point{}, invalid(ReasonMissingField, name+".lng", "")
	}
	g := geo.Point{Lat: p.lat, Lng: p.lng}
	if !g.Valid() {
		return g, invalid(ReasonBadCoordinates, name, "latitude runs from -90 to 90, longitude from -180 to 180, and (0,0) is no fix")
	}
	return g, nil
}

func (f *fields) timestamp(fd field) (Time, error) {
	if !f.has.has(fd) {
		return 0, invalid(ReasonMissingField, fieldNames[fd], "")
	}
	t, err := ParseTime(unsafeString(f.str[fd]))
	if err != nil {
		return 0, invalid(ReasonBadTimestamp, fieldNames[fd], truncate(string(f.str[fd])))
	}
	if !t.Valid() {
		return 0, invalid(ReasonBadTimestamp, fieldNames[fd], truncate(string(f.str[fd]))+" is outside the years 2000-2099")
	}
	return t, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
