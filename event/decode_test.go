package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"ridematch/geo"
)

func at(t *testing.T, s string) Time {
	t.Helper()
	v, err := ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeReferenceShapes decodes the reference's events exactly as its Python sketch
// writes them (json.dumps of its dicts), kept in testdata/reference.
func TestDecodeReferenceShapes(t *testing.T) {
	tests := []struct {
		give string // file in testdata/reference
		want Input
	}{
		{"driver_location_update.json", Input{Kind: KindDriverLocation, Driver: DriverLocation{
			DriverID: "DRV001", Location: geo.Point{Lat: 19.054712345678, Lng: 72.84102345},
			Time: at(t, "2026-11-25T19:00:00.123456Z"), SpeedKMH: 5.202857142857142, Heading: 271.23456789,
			Availability: Available, Vehicle: Sedan, Rating: 4.7,
		}}},
		{"driver_location_update_design.json", Input{Kind: KindDriverLocation, Driver: DriverLocation{
			DriverID: "DRV001", Location: geo.Point{Lat: 19.05, Lng: 72.84},
			Time: at(t, "2026-11-25T19:00:00.123456Z"), SpeedKMH: 12.5, Heading: 90,
			Availability: Available, Vehicle: Sedan, Rating: 4.7,
		}}},
		{"driver_location_update_busy_auto.json", Input{Kind: KindDriverLocation, Driver: DriverLocation{
			DriverID: "DRV003", Location: geo.Point{Lat: 28.6315, Lng: 77.2167},
			Time: at(t, "2026-11-25T19:00:07Z"), SpeedKMH: 0, Heading: 360,
			Availability: Busy, Vehicle: Auto, Rating: 5,
		}}},
		{"ride_requested.json", Input{Kind: KindRideRequest, Request: RideRequest{
			RequestID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", CustomerID: "CUST001",
			PickupName: "bandra_station", DropName: "bkc",
			Pickup: geo.Point{Lat: 19.0544, Lng: 72.8413}, Drop: geo.Point{Lat: 19.0596, Lng: 72.8656},
			Time: at(t, "2026-11-25T19:00:00.123456Z"), RideType: Mini, EstimatedKM: 2.6185852977020647,
		}}},
		{"ride_requested_peak_surge.json", Input{Kind: KindRideRequest, Request: RideRequest{
			RequestID: "f47ac10b-58cc-4372-a567-0e02b2c3d479", CustomerID: "CUST003",
			PickupName: "powai", DropName: "lower_parel",
			Pickup: geo.Point{Lat: 19.1176, Lng: 72.906}, Drop: geo.Point{Lat: 19.0134, Lng: 72.8302},
			Time: at(t, "2026-11-25T18:30:00Z"), RideType: AutoRide, EstimatedKM: 14.060870523553515,
		}}},
		{"ride_cancelled.json", Input{Kind: KindRideCancel, Cancel: RideCancel{
			RequestID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", CustomerID: "CUST001",
			Time: at(t, "2026-11-25T13:30:05.5Z"), Reason: "changed plans",
		}}},
		{"ride_cancelled_cancel_time.json", Input{Kind: KindRideCancel, Cancel: RideCancel{
			RequestID: "REQ-9", Time: at(t, "2026-11-25T19:00:05Z"),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := DecodeInput(readFixture(t, filepath.Join("reference", tt.give)))
			if err != nil {
				t.Fatalf("DecodeInput: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeInput =\n%+v\nwant\n%+v", got, tt.want)
			}
			if got.Time() != got.Driver.Time+got.Request.Time+got.Cancel.Time {
				t.Errorf("Input.Time() = %v, not the event's own time", got.Time())
			}
		})
	}
}

// drop marks a field to delete in a variation of a valid event.
type dropField struct{}

var drop = dropField{}

func baseDriver() map[string]any {
	return map[string]any{
		"event_type": "driver_location_update", "driver_id": "DRV001",
		"location":  map[string]any{"lat": 19.0544, "lng": 72.8413},
		"timestamp": "2026-11-25T19:00:00.123456", "speed": 12.5, "heading": 90.0,
		"availability": "available", "vehicle_type": "sedan", "rating": 4.7,
	}
}

func baseRequest() map[string]any {
	return map[string]any{
		"event_type": "ride_requested", "request_id": "REQ-1", "customer_id": "CUST001",
		"pickup_location": "bandra_station", "drop_location": "bkc",
		"pickup_coordinates": map[string]any{"lat": 19.0544, "lng": 72.8413},
		"drop_coordinates":   map[string]any{"lat": 19.0596, "lng": 72.8656},
		"request_time":       "2026-11-25T19:00:00.123456", "ride_type": "mini",
		"estimated_distance": 2.6, "surge_multiplier": 1.0,
	}
}

func baseCancel() map[string]any {
	return map[string]any{
		"event_type": "ride_cancelled", "request_id": "REQ-1", "customer_id": "CUST001",
		"timestamp": "2026-11-25T19:00:05", "reason": "changed plans",
	}
}

// baseAccepted and baseDeclined are a driver's answers to an offer, as in issue 21.
func baseAccepted() map[string]any {
	return map[string]any{
		"event_type": "offer_accepted", "offer_id": "o-7-1a2b3c4d5e6f7a8b", "request_id": "R1",
		"driver_id": "DRV001", "timestamp": "2026-11-25T19:00:03.5",
	}
}

func baseDeclined() map[string]any {
	return map[string]any{
		"event_type": "offer_declined", "offer_id": "o-7-1a2b3c4d5e6f7a8b", "request_id": "R1",
		"driver_id": "DRV001", "timestamp": "2026-11-25T19:00:03.5", "reason": "too_far",
	}
}

// with returns the JSON of base with fields replaced; a dotted key reaches into an
// object ("location.lat"), and the value drop deletes the field.
func with(base map[string]any, kv ...any) []byte {
	for i := 0; i < len(kv); i += 2 {
		m, key := base, kv[i].(string)
		if outer, inner, ok := strings.Cut(key, "."); ok {
			m, key = m[outer].(map[string]any), inner
		}
		if kv[i+1] == drop {
			delete(m, key)
		} else {
			m[key] = kv[i+1]
		}
	}
	b, err := json.Marshal(base)
	if err != nil {
		panic(err)
	}
	return b
}

// decodeRefusal is a record DecodeInput refuses, and why.
type decodeRefusal struct {
	name      string
	give      []byte
	wantWhy   Reason
	wantField string // checked when set
}

// decodeRefusals are the records TestDecodeInputRefuses feeds the decoder; the schema
// agreement test feeds them to the schemas too (InputCorpus).
func decodeRefusals() []decodeRefusal {
	long := strings.Repeat("x", MaxIDBytes+1)
	return []decodeRefusal{
		// Malformed JSON.
		{"empty", []byte(""), ReasonMalformedJSON, ""},
		{"only spaces", []byte(" \n\t "), ReasonMalformedJSON, ""},
		{"text", []byte("not json at all {{{"), ReasonMalformedJSON, ""},
		{"binary", []byte("\x00\x01\x02 binary"), ReasonMalformedJSON, ""},
		{"truncated object", []byte(`{"event_type": "driver_location_update", "driver_id": "DRV`), ReasonMalformedJSON, ""},
		{"trailing data", append(with(baseDriver()), `{}`...), ReasonMalformedJSON, ""},
		{"two objects", []byte(`{"event_type":"ride_requested"} {"a":1}`), ReasonMalformedJSON, ""},
		{"single quotes", []byte(`{'event_type': 'driver_location_update'}`), ReasonMalformedJSON, ""},
		{"python NaN", bytes.Replace(with(baseDriver()), []byte(`19.0544`), []byte(`NaN`), 1), ReasonMalformedJSON, ""},
		{"python Infinity", bytes.Replace(with(baseDriver()), []byte(`72.8413`), []byte(`Infinity`), 1), ReasonMalformedJSON, ""},
		{"trailing comma", []byte(`{"event_type":"ride_requested",}`), ReasonMalformedJSON, ""},
		{"bad string escape", []byte(`{"event_type":"\x"}`), ReasonMalformedJSON, ""},
		{"bare word", []byte("driver_location_update"), ReasonMalformedJSON, ""},

		// JSON, but not an object.
		{"array", []byte(`[1, 2, 3]`), ReasonNotObject, ""},
		{"array of the event", append(append([]byte("["), with(baseDriver())...), ']'), ReasonNotObject, ""},
		{"string", []byte(`"ride_requested"`), ReasonNotObject, ""},
		{"number", []byte(`42`), ReasonNotObject, ""},
		{"negative number", []byte(`-1.5e3`), ReasonNotObject, ""},
		{"null", []byte(`null`), ReasonNotObject, ""},
		{"bool", []byte(` true `), ReasonNotObject, ""},

		// The event type.
		{"no event_type", with(baseDriver(), "event_type", drop), ReasonMissingField, "event_type"},
		{"empty object", []byte(`{}`), ReasonMissingField, "event_type"},
		{"null event_type", with(baseDriver(), "event_type", nil), ReasonMissingField, "event_type"},
		{"numeric event_type", with(baseDriver(), "event_type", 1), ReasonWrongType, "event_type"},
		{"reference's surge_activated", with(baseDriver(), "event_type", "surge_activated"), ReasonUnknownEvent, "event_type"},
		{"our own ride_matched", with(baseRequest(), "event_type", "ride_matched"), ReasonUnknownEvent, "event_type"},
		{"empty event_type", with(baseDriver(), "event_type", ""), ReasonUnknownEvent, "event_type"},
		// The reference's own surge_activated, field for field: its "location" is a place
		// name, a string where a driver update has an object. The event is unknown; its
		// fields are no business of a decoder that does not know it.
		{"reference's surge_activated, whole", []byte(`{"event_type": "surge_activated", "location": "bkc", "surge_multiplier": 2.4, "reason": "high_demand_low_supply", "timestamp": "2026-11-25T19:00:00.123456"}`), ReasonUnknownEvent, "event_type"},
		{"event_type case", with(baseDriver(), "event_type", "Driver_Location_Update"), ReasonUnknownEvent, "event_type"},

		// Missing required fields of a driver update.
		{"driver no driver_id", with(baseDriver(), "driver_id", drop), ReasonMissingField, "driver_id"},
		{"driver no location", with(baseDriver(), "location", drop), ReasonMissingField, "location"},
		{"driver no location.lat", with(baseDriver(), "location.lat", drop), ReasonMissingField, "location.lat"},
		{"driver no location.lng", with(baseDriver(), "location.lng", drop), ReasonMissingField, "location.lng"},
		{"driver no timestamp", with(baseDriver(), "timestamp", drop), ReasonMissingField, "timestamp"},
		{"driver no availability", with(baseDriver(), "availability", drop), ReasonMissingField, "availability"},
		{"driver no vehicle_type", with(baseDriver(), "vehicle_type", drop), ReasonMissingField, "vehicle_type"},
		{"driver null driver_id", with(baseDriver(), "driver_id", nil), ReasonMissingField, "driver_id"},
		{"driver null location", with(baseDriver(), "location", nil), ReasonMissingField, "location"},
		{"driver null location.lat", with(baseDriver(), "location.lat", nil), ReasonMissingField, "location.lat"},
		{"driver null timestamp", with(baseDriver(), "timestamp", nil), ReasonMissingField, "timestamp"},
		{"driver null availability", with(baseDriver(), "availability", nil), ReasonMissingField, "availability"},
		{"driver null vehicle_type", with(baseDriver(), "vehicle_type", nil), ReasonMissingField, "vehicle_type"},
		{"driver update keyed like a request", with(baseDriver(), "driver_id", drop, "request_id", "DRV001"), ReasonMissingField, "driver_id"},

		// Missing required fields of a ride request.
		{"request no request_id", with(baseRequest(), "request_id", drop), ReasonMissingField, "request_id"},
		{"request no customer_id", with(baseRequest(), "customer_id", drop), ReasonMissingField, "customer_id"},
		{"request no pickup_coordinates", with(baseRequest(), "pickup_coordinates", drop), ReasonMissingField, "pickup_coordinates"},
		{"request no pickup lat", with(baseRequest(), "pickup_coordinates.lat", drop), ReasonMissingField, "pickup_coordinates.lat"},
		{"request no pickup lng", with(baseRequest(), "pickup_coordinates.lng", drop), ReasonMissingField, "pickup_coordinates.lng"},
		{"request no drop_coordinates", with(baseRequest(), "drop_coordinates", drop), ReasonMissingField, "drop_coordinates"},
		{"request no drop lat", with(baseRequest(), "drop_coordinates.lat", drop), ReasonMissingField, "drop_coordinates.lat"},
		{"request no drop lng", with(baseRequest(), "drop_coordinates.lng", drop), ReasonMissingField, "drop_coordinates.lng"},
		{"request no request_time", with(baseRequest(), "request_time", drop), ReasonMissingField, "request_time"},
		{"request no ride_type", with(baseRequest(), "ride_type", drop), ReasonMissingField, "ride_type"},
		{"request null request_id", with(baseRequest(), "request_id", nil), ReasonMissingField, "request_id"},
		{"request null pickup_coordinates", with(baseRequest(), "pickup_coordinates", nil), ReasonMissingField, "pickup_coordinates"},
		{"request null drop lng", with(baseRequest(), "drop_coordinates.lng", nil), ReasonMissingField, "drop_coordinates.lng"},
		{"request null request_time", with(baseRequest(), "request_time", nil), ReasonMissingField, "request_time"},
		{"request null ride_type", with(baseRequest(), "ride_type", nil), ReasonMissingField, "ride_type"},
		{"request timestamp instead of request_time", with(baseRequest(), "request_time", drop, "timestamp", "2026-11-25T19:00:00"), ReasonMissingField, "request_time"},

		// Missing required fields of a cancel.
		{"cancel no request_id", with(baseCancel(), "request_id", drop), ReasonMissingField, "request_id"},
		{"cancel null request_id", with(baseCancel(), "request_id", nil), ReasonMissingField, "request_id"},
		{"cancel no time at all", with(baseCancel(), "timestamp", drop), ReasonMissingField, ""},

		// Missing required fields of a driver's answer.
		{"accept no offer_id", with(baseAccepted(), "offer_id", drop), ReasonMissingField, "offer_id"},
		{"accept null offer_id", with(baseAccepted(), "offer_id", nil), ReasonMissingField, "offer_id"},
		{"accept no request_id", with(baseAccepted(), "request_id", drop), ReasonMissingField, "request_id"},
		{"accept no driver_id", with(baseAccepted(), "driver_id", drop), ReasonMissingField, "driver_id"},
		{"accept no timestamp", with(baseAccepted(), "timestamp", drop), ReasonMissingField, "timestamp"},
		{"decline no offer_id", with(baseDeclined(), "offer_id", drop), ReasonMissingField, "offer_id"},
		{"decline null driver_id", with(baseDeclined(), "driver_id", nil), ReasonMissingField, "driver_id"},
		{"decline null timestamp", with(baseDeclined(), "timestamp", nil), ReasonMissingField, "timestamp"},
		{"decline cancel_time for timestamp", with(baseDeclined(), "timestamp", drop, "cancel_time", "2026-11-25T19:00:03"), ReasonMissingField, "timestamp"},
		{"accept nothing but its type", []byte(`{"event_type":"offer_accepted"}`), ReasonMissingField, "offer_id"},
		// Only the two answers are inputs: the engine writes the offers themselves.
		{"ride_offered as input", with(baseAccepted(), "event_type", "ride_offered"), ReasonUnknownEvent, "event_type"},
		{"offer_withdrawn as input", with(baseAccepted(), "event_type", "offer_withdrawn"), ReasonUnknownEvent, "event_type"},
		{"offer_accepted upper case", with(baseAccepted(), "event_type", "OFFER_ACCEPTED"), ReasonUnknownEvent, "event_type"},

		// Wrongly typed fields.
		{"lat as string NaN", with(baseDriver(), "location.lat", "NaN"), ReasonWrongType, "location.lat"},
		{"lng as string", with(baseDriver(), "location.lng", "72.84"), ReasonWrongType, "location.lng"},
		{"location as array", with(baseDriver(), "location", []float64{19.05, 72.84}), ReasonWrongType, "location"},
		{"location as string", with(baseDriver(), "location", "bandra_station"), ReasonWrongType, "location"},
		{"rating as string", with(baseDriver(), "rating", "4.5"), ReasonWrongType, "rating"},
		{"driver_id as number", with(baseDriver(), "driver_id", 5), ReasonWrongType, "driver_id"},
		{"driver_id as object", with(baseDriver(), "driver_id", map[string]any{"id": "DRV001"}), ReasonWrongType, "driver_id"},
		{"timestamp as epoch number", with(baseDriver(), "timestamp", 1795633200), ReasonWrongType, "timestamp"},
		{"speed as string", with(baseDriver(), "speed", "fast"), ReasonWrongType, "speed"},
		{"heading as bool", with(baseDriver(), "heading", true), ReasonWrongType, "heading"},
		{"availability as bool", with(baseDriver(), "availability", true), ReasonWrongType, "availability"},
		{"vehicle_type as array", with(baseDriver(), "vehicle_type", []string{"sedan"}), ReasonWrongType, "vehicle_type"},
		{"lat overflows a double", bytes.Replace(with(baseDriver()), []byte(`19.0544`), []byte(`1e400`), 1), ReasonWrongType, "location.lat"},
		{"request_id as number", with(baseRequest(), "request_id", 12345), ReasonWrongType, "request_id"},
		{"customer_id as number", with(baseRequest(), "customer_id", 7), ReasonWrongType, "customer_id"},
		{"pickup lat NaN string", with(baseRequest(), "pickup_coordinates", map[string]any{"lat": "NaN", "lng": "x"}), ReasonWrongType, "pickup_coordinates.lat"},
		{"drop lng as string", with(baseRequest(), "drop_coordinates.lng", "72.86"), ReasonWrongType, "drop_coordinates.lng"},
		{"ride_type as number", with(baseRequest(), "ride_type", 2), ReasonWrongType, "ride_type"},
		{"request_time as number", with(baseRequest(), "request_time", 1.7e9), ReasonWrongType, "request_time"},
		{"estimated_distance as string", with(baseRequest(), "estimated_distance", "2.6 km"), ReasonWrongType, "estimated_distance"},
		{"pickup_location as object", with(baseRequest(), "pickup_location", map[string]any{}), ReasonWrongType, "pickup_location"},
		{"cancel reason as number", with(baseCancel(), "reason", 3), ReasonWrongType, "reason"},
		{"accept offer_id as number", with(baseAccepted(), "offer_id", 7), ReasonWrongType, "offer_id"},
		{"accept request_id as object", with(baseAccepted(), "request_id", map[string]any{"id": "R1"}), ReasonWrongType, "request_id"},
		{"accept driver_id as number", with(baseAccepted(), "driver_id", 1), ReasonWrongType, "driver_id"},
		{"accept timestamp as epoch number", with(baseAccepted(), "timestamp", 1795633203.5), ReasonWrongType, "timestamp"},
		{"decline reason as number", with(baseDeclined(), "reason", 3), ReasonWrongType, "reason"},
		{"decline offer_id as array", with(baseDeclined(), "offer_id", []string{"o-7-1a2b3c4d5e6f7a8b"}), ReasonWrongType, "offer_id"},
		// The first type error in document order is the one reported.
		{"decline driver_id before offer_id, both wrong", []byte(`{"event_type":"offer_declined","driver_id":5,"offer_id":true,"request_id":"R1","timestamp":"2026-11-25T19:00:03"}`), ReasonWrongType, "driver_id"},
		// Type errors in fields a cancel does not have, more of them than a cancel has
		// fields, before its own: its own is still the one reported.
		{"cancel request_id as number after foreign type errors", []byte(`{"event_type":"ride_cancelled","speed":"a","heading":"a","rating":"a","location":1,` +
			`"availability":2,"vehicle_type":3,"pickup_location":4,"drop_location":5,"pickup_coordinates":6,"drop_coordinates":7,` +
			`"request_time":8,"ride_type":9,"estimated_distance":"a","request_id":1,"timestamp":"2026-11-25T19:00:05"}`), ReasonWrongType, "request_id"},

		// Coordinates out of range, and (0,0).
		{"lat 999", with(baseDriver(), "location.lat", 999), ReasonBadCoordinates, "location"},
		{"lat 90.000001", with(baseDriver(), "location.lat", 90.000001), ReasonBadCoordinates, "location"},
		{"lat -91", with(baseDriver(), "location.lat", -91), ReasonBadCoordinates, "location"},
		{"lng 500", with(baseDriver(), "location", map[string]any{"lat": 12.0, "lng": 500.0}), ReasonBadCoordinates, "location"},
		{"lng -180.5", with(baseDriver(), "location.lng", -180.5), ReasonBadCoordinates, "location"},
		{"driver at (0,0)", with(baseDriver(), "location", map[string]any{"lat": 0, "lng": 0}), ReasonBadCoordinates, "location"},
		{"driver at (-0,0)", bytes.Replace(with(baseDriver(), "location", map[string]any{"lat": 0, "lng": 0}), []byte(`"lat":0`), []byte(`"lat":-0.0`), 1), ReasonBadCoordinates, "location"},
		{"pickup lat 999", with(baseRequest(), "pickup_coordinates", map[string]any{"lat": 999, "lng": 72.8}), ReasonBadCoordinates, "pickup_coordinates"},
		{"pickup at (0,0)", with(baseRequest(), "pickup_coordinates", map[string]any{"lat": 0, "lng": 0}), ReasonBadCoordinates, "pickup_coordinates"},
		{"drop lng 181", with(baseRequest(), "drop_coordinates.lng", 181), ReasonBadCoordinates, "drop_coordinates"},
		{"drop at (0,0)", with(baseRequest(), "drop_coordinates", map[string]any{"lat": 0.0, "lng": 0.0}), ReasonBadCoordinates, "drop_coordinates"},

		// Unknown enumerations.
		{"ride_type helicopter", with(baseRequest(), "ride_type", "helicopter"), ReasonUnknownRideType, "ride_type"},
		{"ride_type empty", with(baseRequest(), "ride_type", ""), ReasonUnknownRideType, "ride_type"},
		{"ride_type upper case", with(baseRequest(), "ride_type", "MINI"), ReasonUnknownRideType, "ride_type"},
		{"ride_type is a vehicle", with(baseRequest(), "ride_type", "sedan"), ReasonUnknownRideType, "ride_type"},
		{"ride_type unknown name", with(baseRequest(), "ride_type", "unknown"), ReasonUnknownRideType, "ride_type"},
		{"vehicle spaceship", with(baseDriver(), "vehicle_type", "spaceship"), ReasonUnknownVehicle, "vehicle_type"},
		{"vehicle empty", with(baseDriver(), "vehicle_type", ""), ReasonUnknownVehicle, "vehicle_type"},
		{"vehicle is a ride type", with(baseDriver(), "vehicle_type", "prime"), ReasonUnknownVehicle, "vehicle_type"},
		{"vehicle unknown name", with(baseDriver(), "vehicle_type", "unknown"), ReasonUnknownVehicle, "vehicle_type"},
		{"availability on_trip", with(baseDriver(), "availability", "on_trip"), ReasonUnknownAvailable, "availability"},
		{"availability empty", with(baseDriver(), "availability", ""), ReasonUnknownAvailable, "availability"},
		{"availability upper case", with(baseDriver(), "availability", "Available"), ReasonUnknownAvailable, "availability"},

		// Ratings outside 1-5.
		{"rating 17", with(baseDriver(), "rating", 17), ReasonBadRating, "rating"},
		{"rating 5.01", with(baseDriver(), "rating", 5.01), ReasonBadRating, "rating"},
		{"rating 0.99", with(baseDriver(), "rating", 0.99), ReasonBadRating, "rating"},
		{"rating 0", with(baseDriver(), "rating", 0), ReasonBadRating, "rating"},
		{"rating -4", with(baseDriver(), "rating", -4), ReasonBadRating, "rating"},

		// Other numbers out of range.
		{"speed negative", with(baseDriver(), "speed", -1), ReasonBadValue, "speed"},
		{"speed 401", with(baseDriver(), "speed", 401), ReasonBadValue, "speed"},
		{"heading negative", with(baseDriver(), "heading", -0.5), ReasonBadValue, "heading"},
		{"heading 361", with(baseDriver(), "heading", 361), ReasonBadValue, "heading"},
		{"estimated_distance negative", with(baseRequest(), "estimated_distance", -2), ReasonBadValue, "estimated_distance"},
		{"estimated_distance 1001", with(baseRequest(), "estimated_distance", 1001), ReasonBadValue, "estimated_distance"},
		{"pickup_location too long", with(baseRequest(), "pickup_location", strings.Repeat("a", 257)), ReasonBadValue, "pickup_location"},
		{"drop_location too long", with(baseRequest(), "drop_location", strings.Repeat("é", 129)), ReasonBadValue, "drop_location"},
		{"cancel reason too long", with(baseCancel(), "reason", strings.Repeat("r", 300)), ReasonBadValue, "reason"},
		{"decline reason too long", with(baseDeclined(), "reason", strings.Repeat("é", 129)), ReasonBadValue, "reason"},

		// Ids.
		{"driver_id empty", with(baseDriver(), "driver_id", ""), ReasonBadID, "driver_id"},
		{"driver_id too long", with(baseDriver(), "driver_id", long), ReasonBadID, "driver_id"},
		{"driver_id too long in bytes", with(baseDriver(), "driver_id", strings.Repeat("中", 43)), ReasonBadID, "driver_id"},
		{"driver_id newline", with(baseDriver(), "driver_id", "DRV\n001"), ReasonBadID, "driver_id"},
		{"driver_id NUL", with(baseDriver(), "driver_id", "DRV\x00"), ReasonBadID, "driver_id"},
		{"driver_id tab", with(baseDriver(), "driver_id", "\tDRV"), ReasonBadID, "driver_id"},
		{"driver_id DEL", with(baseDriver(), "driver_id", "DRV\x7f"), ReasonBadID, "driver_id"},
		{"driver_id escaped control", bytes.Replace(with(baseDriver()), []byte(`"DRV001"`), []byte(`"DRV\u0001"`), 1), ReasonBadID, "driver_id"},
		{"request_id empty", with(baseRequest(), "request_id", ""), ReasonBadID, "request_id"},
		{"request_id too long", with(baseRequest(), "request_id", long), ReasonBadID, "request_id"},
		{"request_id escape", with(baseRequest(), "request_id", "REQ\x1b[31m"), ReasonBadID, "request_id"},
		{"customer_id empty", with(baseRequest(), "customer_id", ""), ReasonBadID, "customer_id"},
		{"customer_id carriage return", with(baseRequest(), "customer_id", "C\r"), ReasonBadID, "customer_id"},
		{"cancel request_id empty", with(baseCancel(), "request_id", ""), ReasonBadID, "request_id"},
		{"cancel customer_id empty", with(baseCancel(), "customer_id", ""), ReasonBadID, "customer_id"},
		{"offer_id empty", with(baseAccepted(), "offer_id", ""), ReasonBadID, "offer_id"},
		{"offer_id too long", with(baseAccepted(), "offer_id", "o-7-"+long), ReasonBadID, "offer_id"},
		{"offer_id newline", with(baseDeclined(), "offer_id", "o-7-1a2b3c4d5e6f7a8b\n"), ReasonBadID, "offer_id"},
		{"accept request_id empty", with(baseAccepted(), "request_id", ""), ReasonBadID, "request_id"},
		{"decline driver_id tab", with(baseDeclined(), "driver_id", "DRV\t1"), ReasonBadID, "driver_id"},

		// Timestamps.
		{"driver timestamp words", with(baseDriver(), "timestamp", "yesterday"), ReasonBadTimestamp, "timestamp"},
		{"driver timestamp month 13", with(baseDriver(), "timestamp", "2026-13-25T19:00:00"), ReasonBadTimestamp, "timestamp"},
		{"driver timestamp Feb 30", with(baseDriver(), "timestamp", "2028-02-30T19:00:00"), ReasonBadTimestamp, "timestamp"},
		{"driver timestamp empty", with(baseDriver(), "timestamp", ""), ReasonBadTimestamp, "timestamp"},
		{"request_time hour 24", with(baseRequest(), "request_time", "2026-11-25T24:00:00"), ReasonBadTimestamp, "request_time"},
		{"request_time bad offset", with(baseRequest(), "request_time", "2026-11-25T19:00:00+5:30"), ReasonBadTimestamp, "request_time"},
		{"cancel timestamp date only", with(baseCancel(), "timestamp", "2026-11-25"), ReasonBadTimestamp, "timestamp"},
		{"cancel cancel_time bad", with(baseCancel(), "timestamp", drop, "cancel_time", "soon"), ReasonBadTimestamp, "cancel_time"},
		// Times outside the sane range: each of these poisoned a running engine's clock once.
		{"driver timestamp year 2611", with(baseDriver(), "timestamp", "2611-02-17T10:30:00.123456Z"), ReasonBadTimestamp, "timestamp"},
		{"driver timestamp year 9999", with(baseDriver(), "timestamp", "9999-12-31T23:59:59.999999"), ReasonBadTimestamp, "timestamp"},
		{"driver timestamp year 3000", with(baseDriver(), "timestamp", "3000-01-01T00:00:00"), ReasonBadTimestamp, "timestamp"},
		{"driver timestamp 2100", with(baseDriver(), "timestamp", "2100-01-01T00:00:00Z"), ReasonBadTimestamp, "timestamp"},
		{"driver timestamp the epoch", with(baseDriver(), "timestamp", "1970-01-01T00:00:00"), ReasonBadTimestamp, "timestamp"},
		{"request_time 1999 by an offset", with(baseRequest(), "request_time", "2000-01-01T01:00:00+05:30"), ReasonBadTimestamp, "request_time"},
		{"cancel timestamp year 0000", with(baseCancel(), "timestamp", "0000-01-01T00:00:00"), ReasonBadTimestamp, "timestamp"},
		{"accept timestamp words", with(baseAccepted(), "timestamp", "now"), ReasonBadTimestamp, "timestamp"},
		{"accept timestamp date only", with(baseAccepted(), "timestamp", "2026-11-25"), ReasonBadTimestamp, "timestamp"},
		{"decline timestamp year 2100", with(baseDeclined(), "timestamp", "2100-01-01T00:00:00Z"), ReasonBadTimestamp, "timestamp"},
		{"decline timestamp Feb 29 2027", with(baseDeclined(), "timestamp", "2027-02-29T10:00:00"), ReasonBadTimestamp, "timestamp"},
	}
}

func TestDecodeInputRefuses(t *testing.T) {
	for _, tt := range decodeRefusals() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeInput(tt.give)
			if err == nil {
				t.Fatalf("DecodeInput(%s) = %+v, want a %s error", tt.give, got, tt.wantWhy)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeInput(%s) error %T %v, want an *InvalidError", tt.give, err, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if ie.Reason != tt.wantWhy || ReasonOf(err) != tt.wantWhy {
				t.Errorf("DecodeInput(%s) reason %q (%v), want %q", tt.give, ie.Reason, err, tt.wantWhy)
			}
			if tt.wantField != "" && ie.Field != tt.wantField {
				t.Errorf("DecodeInput(%s) field %q (%v), want %q", tt.give, ie.Field, err, tt.wantField)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, string(ie.Reason)) || !utf8Printable(msg) {
				t.Errorf("error message %q does not start with the reason or is not printable UTF-8", msg)
			}
		})
	}
}

func utf8Printable(s string) bool {
	return strings.ToValidUTF8(s, "") == s && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 })
}

// decodeAcceptance is a record DecodeInput accepts, and a check of what it reads.
type decodeAcceptance struct {
	name  string
	give  []byte
	check func(t *testing.T, in Input)
}

// decodeAcceptances are the records TestDecodeInputAccepts feeds the decoder: the optional
// fields and the edges of the valid ranges. The schema agreement test feeds them to the
// schemas too (InputCorpus).
func decodeAcceptances() []decodeAcceptance {
	return []decodeAcceptance{
		{"no rating reads as the reference's 4.0", with(baseDriver(), "rating", drop), func(t *testing.T, in Input) {
			if in.Driver.Rating != DefaultRating || DefaultRating != 4.0 {
				t.Errorf("rating %v, want 4.0", in.Driver.Rating)
			}
		}},
		{"null rating reads as 4.0", with(baseDriver(), "rating", nil), func(t *testing.T, in Input) {
			if in.Driver.Rating != 4.0 {
				t.Errorf("rating %v, want 4.0", in.Driver.Rating)
			}
		}},
		{"no speed and heading", with(baseDriver(), "speed", drop, "heading", drop), func(t *testing.T, in Input) {
			if in.Driver.SpeedKMH != 0 || in.Driver.Heading != 0 {
				t.Errorf("speed %v heading %v, want 0", in.Driver.SpeedKMH, in.Driver.Heading)
			}
		}},
		{"first microsecond of the sane range", with(baseDriver(), "timestamp", "2000-01-01T00:00:00"), func(t *testing.T, in Input) {
			if in.Driver.Time != MinTime {
				t.Errorf("time %v, want %v", in.Driver.Time, MinTime)
			}
		}},
		{"last microsecond of the sane range", with(baseRequest(), "request_time", "2099-12-31T23:59:59.999999Z"), func(t *testing.T, in Input) {
			if in.Request.Time != MaxTime-1 {
				t.Errorf("time %v, want %v", in.Request.Time, MaxTime-1)
			}
		}},
		{"rating edges", with(baseDriver(), "rating", 1), func(t *testing.T, in Input) {
			if in.Driver.Rating != 1 {
				t.Errorf("rating %v", in.Driver.Rating)
			}
		}},
		{"rating 5", with(baseDriver(), "rating", 5), func(t *testing.T, in Input) {
			if in.Driver.Rating != 5 {
				t.Errorf("rating %v", in.Driver.Rating)
			}
		}},
		{"speed and heading edges", with(baseDriver(), "speed", 400, "heading", 360), func(t *testing.T, in Input) {
			if in.Driver.SpeedKMH != 400 || in.Driver.Heading != 360 {
				t.Errorf("speed %v heading %v", in.Driver.SpeedKMH, in.Driver.Heading)
			}
		}},
		{"corner of the map", with(baseDriver(), "location", map[string]any{"lat": -90, "lng": 180}), func(t *testing.T, in Input) {
			if in.Driver.Location != (geo.Point{Lat: -90, Lng: 180}) {
				t.Errorf("location %v", in.Driver.Location)
			}
		}},
		{"on the equator", with(baseDriver(), "location", map[string]any{"lat": 0, "lng": 32.5}), func(t *testing.T, in Input) {
			if in.Driver.Location != (geo.Point{Lat: 0, Lng: 32.5}) {
				t.Errorf("location %v", in.Driver.Location)
			}
		}},
		{"every availability and vehicle", with(baseDriver(), "availability", "offline", "vehicle_type", "hatchback"), func(t *testing.T, in Input) {
			if in.Driver.Availability != Offline || in.Driver.Vehicle != Hatchback {
				t.Errorf("availability %v vehicle %v", in.Driver.Availability, in.Driver.Vehicle)
			}
		}},
		{"longest id", with(baseDriver(), "driver_id", strings.Repeat("d", MaxIDBytes)), func(t *testing.T, in Input) {
			if len(in.Driver.DriverID) != MaxIDBytes {
				t.Errorf("id of %d bytes", len(in.Driver.DriverID))
			}
		}},
		{"unicode id with quotes", with(baseDriver(), "driver_id", `ड्राइवर "7" \ 🚕`), func(t *testing.T, in Input) {
			if in.Driver.DriverID != `ड्राइवर "7" \ 🚕` {
				t.Errorf("id %q", in.Driver.DriverID)
			}
		}},
		{"unknown fields are ignored", with(baseDriver(), "battery", 0.8, "app_version", "1.2"), func(t *testing.T, in Input) {
			if in.Kind != KindDriverLocation {
				t.Errorf("kind %v", in.Kind)
			}
		}},
		// Fields another event type uses are as foreign to this one as any unknown field:
		// a producer's epoch "timestamp" on a ride request, a place name as "location".
		{"request with an epoch timestamp", with(baseRequest(), "timestamp", 1795633200), func(t *testing.T, in Input) {
			if in.Kind != KindRideRequest || in.Request.RequestID != "REQ-1" {
				t.Errorf("decoded %+v", in)
			}
		}},
		{"request with a location name", with(baseRequest(), "location", "Bandra West"), func(t *testing.T, in Input) {
			if in.Kind != KindRideRequest {
				t.Errorf("decoded %+v", in)
			}
		}},
		{"driver update with a numeric reason code", with(baseDriver(), "reason", 3, "request_time", nil), func(t *testing.T, in Input) {
			if in.Kind != KindDriverLocation {
				t.Errorf("decoded %+v", in)
			}
		}},
		{"leading and trailing white space", append(append([]byte("\n  "), with(baseDriver())...), "\r\n"...), func(t *testing.T, in Input) {
			if in.Driver.DriverID != "DRV001" {
				t.Errorf("id %q", in.Driver.DriverID)
			}
		}},
		{"request without names, distance and surge", with(baseRequest(), "pickup_location", drop, "drop_location", drop, "estimated_distance", drop, "surge_multiplier", drop), func(t *testing.T, in Input) {
			r := in.Request
			if r.PickupName != "" || r.DropName != "" || r.EstimatedKM != 0 || r.RideType != Mini {
				t.Errorf("request %+v", r)
			}
		}},
		{"request with null names", with(baseRequest(), "pickup_location", nil, "drop_location", nil), func(t *testing.T, in Input) {
			if in.Request.PickupName != "" || in.Request.DropName != "" {
				t.Errorf("request %+v", in.Request)
			}
		}},
		{"every ride type: prime", with(baseRequest(), "ride_type", "prime"), func(t *testing.T, in Input) {
			if in.Request.RideType != Prime {
				t.Errorf("ride type %v", in.Request.RideType)
			}
		}},
		{"every ride type: micro", with(baseRequest(), "ride_type", "micro"), func(t *testing.T, in Input) {
			if in.Request.RideType != Micro {
				t.Errorf("ride type %v", in.Request.RideType)
			}
		}},
		{"every ride type: auto", with(baseRequest(), "ride_type", "auto"), func(t *testing.T, in Input) {
			if in.Request.RideType != AutoRide {
				t.Errorf("ride type %v", in.Request.RideType)
			}
		}},
		{"request_time with offset", with(baseRequest(), "request_time", "2026-11-26T00:30:00+05:30"), func(t *testing.T, in Input) {
			if want := at(t, "2026-11-25T19:00:00Z"); in.Request.Time != want {
				t.Errorf("time %v, want %v", in.Request.Time, want)
			}
		}},
		{"cancel without customer and reason", with(baseCancel(), "customer_id", drop, "reason", drop), func(t *testing.T, in Input) {
			if in.Cancel.CustomerID != "" || in.Cancel.Reason != "" || in.Cancel.RequestID != "REQ-1" {
				t.Errorf("cancel %+v", in.Cancel)
			}
		}},
		{"cancel timestamp wins over cancel_time", with(baseCancel(), "cancel_time", "2030-01-01T00:00:00"), func(t *testing.T, in Input) {
			if want := at(t, "2026-11-25T19:00:05Z"); in.Cancel.Time != want {
				t.Errorf("time %v, want %v", in.Cancel.Time, want)
			}
		}},
		{"offer_accepted", []byte(`{"event_type":"offer_accepted","offer_id":"o-7-1a2b3c4d5e6f7a8b","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:03.5"}`), func(t *testing.T, in Input) {
			want := OfferResponse{OfferID: "o-7-1a2b3c4d5e6f7a8b", RequestID: "R1", DriverID: "DRV001", Accepted: true, Time: at(t, "2026-11-25T19:00:03.5Z")}
			if in.Kind != KindOfferResponse || in.Response != want || in.Time() != want.Time {
				t.Errorf("decoded %+v, want %+v", in, want)
			}
		}},
		{"offer_declined", []byte(`{"event_type":"offer_declined","offer_id":"o-7-1a2b3c4d5e6f7a8b","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:03.5","reason":"too_far"}`), func(t *testing.T, in Input) {
			want := OfferResponse{OfferID: "o-7-1a2b3c4d5e6f7a8b", RequestID: "R1", DriverID: "DRV001", Time: at(t, "2026-11-25T19:00:03.5Z"), Reason: "too_far"}
			if in.Kind != KindOfferResponse || in.Response != want {
				t.Errorf("decoded %+v, want %+v", in, want)
			}
		}},
		{"decline without a reason", with(baseDeclined(), "reason", drop), func(t *testing.T, in Input) {
			if r := in.Response; r.Accepted || r.Reason != "" || r.OfferID != "o-7-1a2b3c4d5e6f7a8b" {
				t.Errorf("response %+v", r)
			}
		}},
		{"decline with a null reason", with(baseDeclined(), "reason", nil), func(t *testing.T, in Input) {
			if in.Response.Reason != "" {
				t.Errorf("reason %q", in.Response.Reason)
			}
		}},
		// An accept has no reason: one, of any type, is as foreign to it as any unknown
		// field, and so are a request's fields.
		{"accept with a numeric reason", with(baseAccepted(), "reason", 3, "customer_id", 7), func(t *testing.T, in Input) {
			if r := in.Response; !r.Accepted || r.Reason != "" {
				t.Errorf("response %+v", r)
			}
		}},
		{"accept with a reason", with(baseAccepted(), "reason", "on my way"), func(t *testing.T, in Input) {
			if in.Response.Reason != "" {
				t.Errorf("reason %q, want none on an accept", in.Response.Reason)
			}
		}},
		// The decoder takes any id; the router counts and drops the answers whose offer id
		// names no partition of its region log.
		{"offer id not of the engine's form", with(baseAccepted(), "offer_id", "offer-123"), func(t *testing.T, in Input) {
			if in.Response.OfferID != "offer-123" {
				t.Errorf("offer id %q", in.Response.OfferID)
			}
		}},
		{"longest offer id", with(baseDeclined(), "offer_id", strings.Repeat("o", MaxIDBytes)), func(t *testing.T, in Input) {
			if len(in.Response.OfferID) != MaxIDBytes {
				t.Errorf("offer id of %d bytes", len(in.Response.OfferID))
			}
		}},
		{"accept timestamp with offset", with(baseAccepted(), "timestamp", "2026-11-26T00:30:03.5+05:30"), func(t *testing.T, in Input) {
			if want := at(t, "2026-11-25T19:00:03.5Z"); in.Response.Time != want {
				t.Errorf("time %v, want %v", in.Response.Time, want)
			}
		}},
		{"answer keys in another order", []byte(`{"timestamp":"2026-11-25T19:00:03Z","reason":"busy","driver_id":"D1","request_id":"R1","offer_id":"o-1-0123456789abcdef","event_type":"offer_declined","surge_multiplier":1.2}`), func(t *testing.T, in Input) {
			if r := in.Response; r.DriverID != "D1" || r.Reason != "busy" || r.OfferID != "o-1-0123456789abcdef" {
				t.Errorf("response %+v", r)
			}
		}},
	}
}

// TestDecodeInputAccepts covers the optional fields and the edges of the valid ranges.
func TestDecodeInputAccepts(t *testing.T) {
	for _, tt := range decodeAcceptances() {
		t.Run(tt.name, func(t *testing.T) {
			in, err := DecodeInput(tt.give)
			if err != nil {
				t.Fatalf("DecodeInput(%s): %v", tt.give, err)
			}
			tt.check(t, in)
		})
	}
}

// TestDecodeGarbage feeds the acceptance suite's bad records (testdata/garbage_*.tsv, the
// output of acceptance/garbage.py: key<TAB>value lines, six classes per topic).
func TestDecodeGarbage(t *testing.T) {
	tests := []struct {
		give string
		// reason:field per class, by line number modulo 6; alternatives separated by |.
		want []string
	}{
		{"garbage_requests.tsv", []string{
			"malformed_json:", "not_an_object:", "bad_coordinates:pickup_coordinates", "unknown_ride_type:ride_type",
			"wrong_type:pickup_coordinates.lat", "missing_field:pickup_coordinates"}},
		// {"driver_id": 5} has no event_type and a driver_id of the wrong type: either
		// is a fair first complaint.
		{"garbage_drivers.tsv", []string{
			"malformed_json:", "wrong_type:driver_id|missing_field:event_type", "bad_coordinates:location",
			"unknown_vehicle_type:vehicle_type", "rating_out_of_range:rating", "bad_coordinates:location"}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			sc := bufio.NewScanner(bytes.NewReader(readFixture(t, tt.give)))
			n := 0
			for ; sc.Scan(); n++ {
				key, value, ok := strings.Cut(sc.Text(), "\t")
				if !ok || !strings.HasPrefix(key, "BAD-") {
					t.Fatalf("line %d: %q is not a key<TAB>value line", n+1, sc.Text())
				}
				in, err := DecodeInput([]byte(value))
				if err == nil {
					t.Errorf("%s: decoded %+v, want an error", key, in)
					continue
				}
				var ie *InvalidError
				if !errors.As(err, &ie) {
					t.Errorf("%s: error %T %v, want an *InvalidError", key, err, err)
					continue
				}
				if got := string(ie.Reason) + ":" + ie.Field; !slices.Contains(strings.Split(tt.want[n%6], "|"), got) {
					t.Errorf("%s: refused as %q (%v), want %q", key, got, err, tt.want[n%6])
				}
			}
			if n != 6 {
				t.Errorf("%d records, want one of each of the 6 classes", n)
			}
		})
	}
}

func TestInvalidError(t *testing.T) {
	tests := []struct {
		give *InvalidError
		want string
	}{
		{&InvalidError{Reason: ReasonBadRating, Field: "rating", Detail: "ratings run from 1 to 5"}, "rating_out_of_range: rating: ratings run from 1 to 5"},
		{&InvalidError{Reason: ReasonMissingField, Field: "driver_id"}, "missing_field: driver_id"},
		{&InvalidError{Reason: ReasonOversized, Detail: "20000 bytes"}, "oversized: 20000 bytes"},
		{&InvalidError{Reason: ReasonNotObject}, "not_an_object"},
	}
	for _, tt := range tests {
		if got := tt.give.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		wrapped := errors.Join(errors.New("routing"), tt.give)
		if !errors.Is(wrapped, ErrInvalid) || ReasonOf(wrapped) != tt.give.Reason {
			t.Errorf("wrapped %v: Is(ErrInvalid) or ReasonOf lost", wrapped)
		}
	}
	if ReasonOf(errors.New("other")) != "" || ReasonOf(nil) != "" {
		t.Error("ReasonOf of a non-InvalidError is not empty")
	}
}

func TestEnumNames(t *testing.T) {
	for _, v := range Vehicles() {
		if got, ok := ParseVehicle(v.String()); !ok || got != v {
			t.Errorf("ParseVehicle(%q) = %v, %v", v.String(), got, ok)
		}
	}
	for _, r := range RideTypes() {
		if got, ok := ParseRideType(r.String()); !ok || got != r {
			t.Errorf("ParseRideType(%q) = %v, %v", r.String(), got, ok)
		}
	}
	for _, a := range []Availability{Available, Busy, Offline} {
		if got, ok := ParseAvailability(a.String()); !ok || got != a {
			t.Errorf("ParseAvailability(%q) = %v, %v", a.String(), got, ok)
		}
	}
	for _, s := range []string{"", "unknown", "Sedan"} {
		if _, ok := ParseVehicle(s); ok {
			t.Errorf("ParseVehicle(%q) ok", s)
		}
		if _, ok := ParseRideType(s); ok {
			t.Errorf("ParseRideType(%q) ok", s)
		}
		if _, ok := ParseAvailability(s); ok {
			t.Errorf("ParseAvailability(%q) ok", s)
		}
	}
	if Vehicle(0).String() != "unknown" || Vehicle(200).String() != "unknown" || RideType(9).String() != "unknown" || Availability(0).String() != "unknown" {
		t.Error("out-of-range enums do not read as unknown")
	}
}

// TestCompatible is the reference's type_compatibility table, cell by cell.
func TestCompatible(t *testing.T) {
	want := map[RideType][]Vehicle{
		Micro:    {Hatchback},
		Mini:     {Hatchback, Sedan},
		Prime:    {Sedan},
		AutoRide: {Auto},
	}
	rideTypes, vehicles := RideTypes(), Vehicles()
	for _, r := range append(rideTypes[:], 0) {
		for _, v := range append(vehicles[:], 0) {
			if got, w := r.Compatible(v), contains(want[r], v); got != w {
				t.Errorf("%v.Compatible(%v) = %v, want %v", r, v, got, w)
			}
		}
	}
}

func contains(vs []Vehicle, v Vehicle) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// Time must satisfy encoding.TextUnmarshaler for the output events' consumers.
func TestTimeText(t *testing.T) {
	var v Time
	if err := v.UnmarshalText([]byte("2026-11-25T19:00:00.5+05:30")); err != nil || v.Std() != time.Date(2026, 11, 25, 13, 30, 0, 5e8, time.UTC) {
		t.Errorf("UnmarshalText = %v, %v", v, err)
	}
	if err := v.UnmarshalText([]byte("soon")); !errors.Is(err, ErrTimestamp) {
		t.Errorf("UnmarshalText(soon) error %v", err)
	}
}
