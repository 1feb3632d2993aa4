package event

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// decodeInputStd is DecodeInput written with encoding/json: the reference the hand-written
// scanner is held to. The structs say which fields each event has; pointers tell a missing
// field (or null) from a zero value.
func decodeInputStd(b []byte) (Input, error) {
	type wirePoint struct {
		Lat *float64 `json:"lat"`
		Lng *float64 `json:"lng"`
	}
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
		wireAccept struct {
			OfferID   *string `json:"offer_id"`
			RequestID *string `json:"request_id"`
			DriverID  *string `json:"driver_id"`
			Timestamp *string `json:"timestamp"`
		}
		wireDecline struct {
			OfferID   *string `json:"offer_id"`
			RequestID *string `json:"request_id"`
			DriverID  *string `json:"driver_id"`
			Timestamp *string `json:"timestamp"`
			Reason    *string `json:"reason"`
		}
	)
	unmarshal := func(v any) error {
		err := json.Unmarshal(b, v)
		var te *json.UnmarshalTypeError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &te):
			return invalid(ReasonWrongType, te.Field, "")
		}
		return invalid(ReasonMalformedJSON, "", err.Error())
	}
	var f fields
	str := func(fd field, s *string) {
		if s != nil {
			f.has |= 1 << fd
			f.str[fd] = []byte(*s)
		}
	}
	num := func(fd field, v *float64) {
		if v != nil {
			f.has |= 1 << fd
			f.num[fd] = *v
		}
	}
	pt := func(fd field, p *wirePoint) {
		if p != nil {
			f.has |= 1 << fd
			f.ptOf(fd).set = true
			if p.Lat != nil {
				f.ptOf(fd).lat, f.ptOf(fd).hasLat = *p.Lat, true
			}
			if p.Lng != nil {
				f.ptOf(fd).lng, f.ptOf(fd).hasLng = *p.Lng, true
			}
		}
	}

	b = trimJSONSpace(b)
	if len(b) == 0 || b[0] != '{' {
		if json.Valid(b) {
			return Input{}, invalid(ReasonNotObject, "", "")
		}
		return Input{}, invalid(ReasonMalformedJSON, "", "")
	}
	var h wireHeader
	if err := unmarshal(&h); err != nil {
		return Input{}, err
	}
	str(fEventType, h.EventType)
	if h.EventType != nil {
		var err error
		switch *h.EventType {
		case "driver_location_update":
			var w wireDriver
			err = unmarshal(&w)
			str(fDriverID, w.DriverID)
			pt(fLocation, w.Location)
			str(fTimestamp, w.Timestamp)
			num(fSpeed, w.Speed)
			num(fHeading, w.Heading)
			str(fAvailability, w.Availability)
			str(fVehicleType, w.VehicleType)
			num(fRating, w.Rating)
		case "ride_requested":
			var w wireRequest
			err = unmarshal(&w)
			str(fRequestID, w.RequestID)
			str(fCustomerID, w.CustomerID)
			str(fPickupLocation, w.PickupLocation)
			str(fDropLocation, w.DropLocation)
			pt(fPickupCoordinates, w.PickupCoordinates)
			pt(fDropCoordinates, w.DropCoordinates)
			str(fRequestTime, w.RequestTime)
			str(fRideType, w.RideType)
			num(fEstimatedDistance, w.EstimatedDistance)
		case "ride_cancelled":
			var w wireCancel
			err = unmarshal(&w)
			str(fRequestID, w.RequestID)
			str(fCustomerID, w.CustomerID)
			str(fTimestamp, w.Timestamp)
			str(fCancelTime, w.CancelTime)
			str(fReason, w.Reason)
		case "offer_accepted":
			var w wireAccept
			err = unmarshal(&w)
			str(fOfferID, w.OfferID)
			str(fRequestID, w.RequestID)
			str(fDriverID, w.DriverID)
			str(fTimestamp, w.Timestamp)
		case "offer_declined":
			var w wireDecline
			err = unmarshal(&w)
			str(fOfferID, w.OfferID)
			str(fRequestID, w.RequestID)
			str(fDriverID, w.DriverID)
			str(fTimestamp, w.Timestamp)
			str(fReason, w.Reason)
		}
		if err != nil {
			return Input{}, err
		}
	}
	return f.input()
}

// sameDecoding fails the test unless the scanner and encoding/json agree on b: the same
// event, or refusals with the same reason and field.
func sameDecoding(t *testing.T, b []byte) {
	t.Helper()
	got, gotErr := DecodeInput(b)
	want, wantErr := decodeInputStd(b)
	var g, w *InvalidError
	errors.As(gotErr, &g)
	errors.As(wantErr, &w)
	switch {
	case (g == nil) != (w == nil):
		t.Fatalf("input %q: scanner says %v, encoding/json %v", b, gotErr, wantErr)
	case g != nil && (g.Reason != w.Reason || g.Field != w.Field):
		t.Fatalf("input %q: scanner refuses %s %s, encoding/json %s %s (%v)", b, g.Reason, g.Field, w.Reason, w.Field, wantErr)
	case g == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("input %q: scanner decodes %+v, encoding/json %+v", b, got, want)
	}
}

// FuzzDecodeInputMatchesEncodingJSON holds the scanner to encoding/json, input by input.
func FuzzDecodeInputMatchesEncodingJSON(f *testing.F) {
	addInputSeeds(f)
	for _, s := range []string{
		`{"event_type":"driver_location_update","Driver_ID":"A","location":{"LAT":1,"lng":2},"timestamp":"2026-11-25T10:00:00","availability":"available","vehicle_type":"sedan"}`,
		`{"event_type":"driver_location_update","driver_id":"A","driver_id":null,"location":{"lat":1,"lng":2},"location":{"lat":3}}`,
		`{"event_type":"ride_requested","request_id":5,"customer_id":[1],"pickup_coordinates":"x"}`,
		`{"event_type":"ride_requested","pickup_coordinates":{"lat":1e400,"lng":"a"}}`,
		`{"event_type":"ride_cancelled","request_id":"R\ud83d\ude00\udc00","timestamp":"2026-11-25T10:00:00","x":[[[{"y":null}]]]}`,
		`{"event_type":"ride_cancelled","request_id":"R","timestamp":"2026-11-25T10:00:00"} x`,
		`{"event_type":"driver_location_update","cuſtomer_id":1,"\u212aey":2,"driver\u005fid":"B"}`,
		"{\"event_type\":\"ride_cancelled\",\"request_id\":\"\xff\xfe\",\"timestamp\":\"2026-11-25T10:00:00\"}",
		`{"event_type":"offer_accepted","OFFER_ID":"o-1-0123456789abcdef","request_id":"R","driver_id":"D","timestamp":"2026-11-25T10:00:00","reason":5}`,
		`{"event_type":"offer_declined","offer_id":"o-1-0123456789abcdef","offer_id":null,"request_id":"R","driver_id":"D","timestamp":"2026-11-25T10:00:00"}`,
		`{"event_type":"offer_declined","offer_id":1,"request_id":"R","driver_id":[],"timestamp":{},"reason":false}`,
		`{"event_type":"offer_accepted","offer_id":"o-1-0123456789abcdef","request_id":"R","driver_id":"D","location":"x","speed":"y","timestamp":"2026-11-25T10:00:00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(sameDecoding)
}

// TestScannerMatchesEncodingJSONOnCorpus replays FuzzDecodeInput's checked-in corpus
// through the differential check.
func TestScannerMatchesEncodingJSONOnCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeInput", "*"))
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// The corpus format: a header line, then []byte("...") with Go quoting.
		lines := strings.SplitN(string(b), "\n", 2)
		if len(lines) < 2 {
			continue
		}
		lit := strings.TrimSpace(lines[1])
		lit = strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")")
		v, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sameDecoding(t, []byte(v))
	}
}

// TestShortFloat holds the one-pass number path to the general one (longFloat: number,
// then strconv): the same value and the same cursor where it takes a number, and whole
// records decoded as encoding/json decodes them, where it takes or leaves one.
func TestShortFloat(t *testing.T) {
	texts := []string{"0", "-0", "0.0", "1", "19.0544", "72.8413", "-73.9855", "4.7", "12.5", "359.999999", "0.000001",
		"123456789012345", "1234567890123456", "0.1234567890123456789", "00", "01", "-01", "1.", ".5", "1e5", "1E-2", "-",
		"--1", "9007199254740993", "0.30000000000000004", "0.0000000000000000000001", "0.00000000000000000000001", "1.5x", "7}"}
	rnd := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 300_000; i++ {
		texts = append(texts, strconv.FormatFloat(rnd.NormFloat64()*math.Pow(10, float64(rnd.IntN(12)-4)), 'f', rnd.IntN(12), 64))
	}
	for i, text := range texts {
		b := []byte(text + ",")
		short := scanner{b: b}
		v, ok := short.shortFloat()
		general := scanner{b: b}
		want, wantOK := general.longFloat()
		if ok && (!wantOK || v != want || math.Signbit(v) != math.Signbit(want) || short.i != general.i) {
			t.Fatalf("shortFloat(%q) = %v at %d, the general path %v (%v) at %d", text, v, short.i, want, wantOK, general.i)
		}
		if !ok && short.i != 0 {
			t.Fatalf("shortFloat(%q) refused it but moved the cursor to %d", text, short.i)
		}
		if i < 2000 {
			sameDecoding(t, []byte(`{"event_type":"driver_location_update","driver_id":"D","location":{"lat":1,"lng":2},"timestamp":"2026-11-25T10:00:00","availability":"available","vehicle_type":"sedan","rating":`+text+`}`))
		}
	}
}

// TestKeyHints holds the scanner's shortcut for keys in the producers' order to the
// general path: records in that order, in Python's spacing, reordered, with a space
// before a colon (no shortcut), in other cases, and with a hinted key repeated later.
func TestKeyHints(t *testing.T) {
	for _, s := range []string{
		string(benchDriver), string(benchRequest),
		`{"event_type": "driver_location_update", "driver_id": "D1", "location": {"lat": 19.05, "lng": 72.84}, "timestamp": "2026-11-25T19:00:00", "speed": 10, "heading": 90, "availability": "available", "vehicle_type": "sedan", "rating": 4.5}`,
		`{"rating":4.5,"vehicle_type":"sedan","availability":"available","timestamp":"2026-11-25T19:00:00","location":{"lng":72.84,"lat":19.05},"driver_id":"D1","event_type":"driver_location_update"}`,
		`{"event_type" :"driver_location_update","driver_id" : "D1","location":{"lat" :19.05,"lng" :72.84},"timestamp":"2026-11-25T19:00:00","availability":"available","vehicle_type":"sedan"}`,
		`{"Event_Type":"driver_location_update","DRIVER_ID":"D1","Location":{"LAT":19.05,"Lng":72.84},"timestamp":"2026-11-25T19:00:00","availability":"available","vehicle_type":"sedan"}`,
		`{"event_type":"driver_location_update","driver_id":"D1","location":{"lat":19.05,"lng":72.84},"timestamp":"2026-11-25T19:00:00","availability":"available","vehicle_type":"sedan","driver_id":"D2","location":{"lat":null}}`,
		`{"event_type":"ride_cancelled","request_id":"R1","timestamp":"2026-11-25T19:00:00","reason":"late"}`,
		`{"event_type":"ride_cancelled","request_id":"R1","customer_id":"C1","timestamp":"2026-11-25T19:00:00"}`,
		`{"event_type":"ride_requested","request_id":"R1","customer_id":"C1","pickup_coordinates":{"lat":19.05,"lng":72.84},"drop_coordinates":{"lat":19.06,"lng":72.86},"request_time":"2026-11-25T19:00:00","ride_type":"mini","estimated_distance":"2"}`,
		`{"event_type":"offer_accepted","offer_id":"o-7-1a2b3c4d5e6f7a8b","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:03.5"}`,
		`{"event_type": "offer_declined", "offer_id": "o-7-1a2b3c4d5e6f7a8b", "request_id": "R1", "driver_id": "DRV001", "timestamp": "2026-11-25T19:00:03.5", "reason": "too_far"}`,
		`{"event_type":"offer_declined","offer_id":"o-7-1a2b3c4d5e6f7a8b","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:03.5","reason":"too_far","offer_id":"o-8-1a2b3c4d5e6f7a8b"}`,
	} {
		sameDecoding(t, []byte(s))
	}
}

// TestPointSlots: each {lat,lng} field has a slot of its own in fields.pt.
func TestPointSlots(t *testing.T) {
	seen := map[uint8]field{}
	for fd := field(1); fd < nFields; fd++ {
		if fieldKind[fd] != kindObject {
			continue
		}
		slot := pointSlot[fd]
		if prev, dup := seen[slot]; slot == 0 || dup {
			t.Errorf("%s has slot %d (also %s's)", fieldNames[fd], slot, fieldNames[prev])
		}
		seen[slot] = fd
	}
}
