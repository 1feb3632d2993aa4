package event

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"ridematch/geo"
)

// awkward runes for ids and names: JSON's specials, multi-byte UTF-8, the JavaScript line
// separators, a C1 control, the replacement character, HTML specials.
var awkward = []rune{'"', '\\', '/', '\'', '<', '>', '&', 'é', 'ß', '中', 'ड', '्', '🚕', '\u2028', '\u2029', '\u0085', '\ufffd', '\ufeff', ' ', '{', '}', ':'}

// randomText returns valid UTF-8 of at most maxBytes bytes; controls allows C0 controls.
func randomText(rnd *rand.Rand, minBytes, maxBytes int, controls bool) string {
	var b strings.Builder
	target := minBytes + rnd.IntN(maxBytes-minBytes+1)
	for b.Len() < target {
		var r rune
		switch k := rnd.IntN(10); {
		case k < 4:
			r = rune(0x21 + rnd.IntN(0x7e-0x21))
		case k < 7:
			r = awkward[rnd.IntN(len(awkward))]
		case k < 8 && controls:
			r = rune(rnd.IntN(0x20))
		case k < 9:
			r = rune(0xa0 + rnd.IntN(0xd7ff-0xa0))
		default:
			r = rune(0x10000 + rnd.IntN(0x10ffff-0x10000))
		}
		if b.Len()+utf8.RuneLen(r) > maxBytes {
			break
		}
		b.WriteRune(r)
	}
	if b.Len() < minBytes {
		b.WriteString(strings.Repeat("x", minBytes-b.Len()))
	}
	return b.String()
}

func randomID(rnd *rand.Rand) string {
	if rnd.IntN(4) == 0 {
		return "DRV" + strings.Repeat("0", rnd.IntN(3)) + string(rune('1'+rnd.IntN(9)))
	}
	return randomText(rnd, 1, MaxIDBytes, false)
}

func randomName(rnd *rand.Rand) string {
	if rnd.IntN(4) == 0 {
		return ""
	}
	return randomText(rnd, 0, 256, true)
}

// randomFloat is uniform in [lo, hi] with the edges and awkward values now and then.
func randomFloat(rnd *rand.Rand, lo, hi float64) float64 {
	switch rnd.IntN(12) {
	case 0:
		return lo
	case 1:
		return hi
	case 2:
		return math.Nextafter(hi, lo)
	case 3:
		if lo <= 0 && 0 <= hi {
			return math.SmallestNonzeroFloat64
		}
	case 4:
		return math.Round((lo+rnd.Float64()*(hi-lo))*10) / 10 // a "4.7" kind of number
	}
	return lo + rnd.Float64()*(hi-lo)
}

func randomPoint(rnd *rand.Rand) geo.Point {
	for {
		p := geo.Point{Lat: randomFloat(rnd, -90, 90), Lng: randomFloat(rnd, -180, 180)}
		if p.Valid() {
			return p
		}
	}
}

func randomDriver(rnd *rand.Rand) DriverLocation {
	return DriverLocation{
		DriverID:     randomID(rnd),
		Location:     randomPoint(rnd),
		Time:         randomEventTime(rnd),
		SpeedKMH:     randomFloat(rnd, 0, 400),
		Heading:      randomFloat(rnd, 0, 360),
		Availability: Availability(1 + rnd.IntN(3)),
		Vehicle:      Vehicles()[rnd.IntN(len(Vehicles()))],
		Rating:       randomFloat(rnd, 1, 5),
	}
}

func randomRequest(rnd *rand.Rand) RideRequest {
	r := RideRequest{
		RequestID:  randomID(rnd),
		CustomerID: randomID(rnd),
		PickupName: randomName(rnd),
		DropName:   randomName(rnd),
		Pickup:     randomPoint(rnd),
		Drop:       randomPoint(rnd),
		Time:       randomEventTime(rnd),
		RideType:   RideTypes()[rnd.IntN(len(RideTypes()))],
	}
	if rnd.IntN(3) > 0 {
		r.EstimatedKM = randomFloat(rnd, 0, 1000)
	}
	return r
}

func randomCancel(rnd *rand.Rand) RideCancel {
	c := RideCancel{RequestID: randomID(rnd), Time: randomEventTime(rnd), Reason: randomName(rnd)}
	if rnd.IntN(2) == 0 {
		c.CustomerID = randomID(rnd)
	}
	return c
}

// randomOfferID is an id as OfferID makes them now and then, else any id.
func randomOfferID(rnd *rand.Rand) string {
	if rnd.IntN(2) == 0 {
		return OfferID(rnd.Int32N(64), randomID(rnd), randomID(rnd), randomEventTime(rnd))
	}
	return randomID(rnd)
}

func randomResponse(rnd *rand.Rand) OfferResponse {
	r := OfferResponse{OfferID: randomOfferID(rnd), RequestID: randomID(rnd), DriverID: randomID(rnd), Accepted: rnd.IntN(2) == 0, Time: randomEventTime(rnd)}
	if !r.Accepted {
		r.Reason = randomName(rnd)
	}
	return r
}

// encodeInput is AppendJSON of whichever event in holds.
func encodeInput(b []byte, in *Input) []byte {
	switch in.Kind {
	case KindDriverLocation:
		return in.Driver.AppendJSON(b)
	case KindRideRequest:
		return in.Request.AppendJSON(b)
	case KindRideCancel:
		return in.Cancel.AppendJSON(b)
	case KindOfferResponse:
		return in.Response.AppendJSON(b)
	}
	panic("no event")
}

// TestAppendJSONRoundTrip: whatever valid event the encoders are given, they write JSON
// that DecodeInput turns back into the same event.
func TestAppendJSONRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		var want Input
		switch i % 4 {
		case 0:
			want = Input{Kind: KindDriverLocation, Driver: randomDriver(rnd)}
		case 1:
			want = Input{Kind: KindRideRequest, Request: randomRequest(rnd)}
		case 2:
			want = Input{Kind: KindRideCancel, Cancel: randomCancel(rnd)}
		case 3:
			want = Input{Kind: KindOfferResponse, Response: randomResponse(rnd)}
		}
		prefix := []byte("prefix")
		b := encodeInput(prefix, &want)
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendJSON overwrote its buffer: %q", b)
		}
		b = b[len("prefix"):]
		if !json.Valid(b) {
			t.Fatalf("AppendJSON(%+v) = %s: not valid JSON", want, b)
		}
		got, err := DecodeInput(b)
		if err != nil {
			t.Fatalf("DecodeInput(AppendJSON(%+v) = %s): %v", want, b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, got, want)
		}
		// And encoding/json reads the same strings (what a Python or Java consumer sees).
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		switch want.Kind {
		case KindDriverLocation:
			if m["driver_id"] != want.Driver.DriverID {
				t.Fatalf("driver_id reads as %q, want %q", m["driver_id"], want.Driver.DriverID)
			}
		case KindRideRequest:
			if m["pickup_location"] != want.Request.PickupName || m["customer_id"] != want.Request.CustomerID {
				t.Fatalf("names read as %q, %q", m["pickup_location"], m["customer_id"])
			}
		case KindRideCancel:
			if r, _ := m["reason"].(string); r != want.Cancel.Reason {
				t.Fatalf("reason reads as %q, want %q", r, want.Cancel.Reason)
			}
		case KindOfferResponse:
			if r, _ := m["reason"].(string); m["offer_id"] != want.Response.OfferID || r != want.Response.Reason {
				t.Fatalf("offer_id and reason read as %q, %q", m["offer_id"], r)
			}
		}
	}
}

// TestAppendJSONShape pins the reference's field names and the timestamp form.
func TestAppendJSONShape(t *testing.T) {
	ts := TimeOf(mustUTC(t, "2026-11-25T19:00:00.123456Z"))
	tests := []struct {
		name string
		give Input
		want string
	}{
		{"driver", Input{Kind: KindDriverLocation, Driver: DriverLocation{DriverID: "DRV001", Location: geo.Point{Lat: 19.05, Lng: 72.84}, Time: ts, SpeedKMH: 12.5, Heading: 90, Availability: Available, Vehicle: Sedan, Rating: 4.7}},
			`{"event_type":"driver_location_update","driver_id":"DRV001","location":{"lat":19.05,"lng":72.84},"timestamp":"2026-11-25T19:00:00.123456","speed":12.5,"heading":90,"availability":"available","vehicle_type":"sedan","rating":4.7}`},
		{"request", Input{Kind: KindRideRequest, Request: RideRequest{RequestID: "R\"1", CustomerID: "CUST001", PickupName: "bandra_station", DropName: "bkc", Pickup: geo.Point{Lat: 19.0544, Lng: 72.8413}, Drop: geo.Point{Lat: 19.0596, Lng: 72.8656}, Time: ts, RideType: Prime, EstimatedKM: 2.5}},
			`{"event_type":"ride_requested","request_id":"R\"1","customer_id":"CUST001","pickup_location":"bandra_station","drop_location":"bkc","pickup_coordinates":{"lat":19.0544,"lng":72.8413},"drop_coordinates":{"lat":19.0596,"lng":72.8656},"request_time":"2026-11-25T19:00:00.123456","ride_type":"prime","estimated_distance":2.5}`},
		{"request without distance", Input{Kind: KindRideRequest, Request: RideRequest{RequestID: "R", CustomerID: "C", Pickup: geo.Point{Lat: 1, Lng: 2}, Drop: geo.Point{Lat: 3, Lng: 4}, Time: 0, RideType: Micro}},
			`{"event_type":"ride_requested","request_id":"R","customer_id":"C","pickup_location":"","drop_location":"","pickup_coordinates":{"lat":1,"lng":2},"drop_coordinates":{"lat":3,"lng":4},"request_time":"1970-01-01T00:00:00.000000","ride_type":"micro"}`},
		{"cancel", Input{Kind: KindRideCancel, Cancel: RideCancel{RequestID: "R\\1", CustomerID: "C", Time: ts, Reason: "line\nbreak\t\u0001"}},
			`{"event_type":"ride_cancelled","request_id":"R\\1","customer_id":"C","timestamp":"2026-11-25T19:00:00.123456","reason":"line\u000abreak\u0009\u0001"}`},
		{"cancel, bare", Input{Kind: KindRideCancel, Cancel: RideCancel{RequestID: "R", Time: ts}},
			`{"event_type":"ride_cancelled","request_id":"R","timestamp":"2026-11-25T19:00:00.123456"}`},
		{"accept", Input{Kind: KindOfferResponse, Response: OfferResponse{OfferID: "o-7-1a2b3c4d5e6f7a8b", RequestID: "R1", DriverID: "DRV001", Accepted: true, Time: ts}},
			`{"event_type":"offer_accepted","offer_id":"o-7-1a2b3c4d5e6f7a8b","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:00.123456"}`},
		{"decline", Input{Kind: KindOfferResponse, Response: OfferResponse{OfferID: "o-7-1a2b3c4d5e6f7a8b", RequestID: "R1", DriverID: "DRV001", Time: ts, Reason: "too_far"}},
			`{"event_type":"offer_declined","offer_id":"o-7-1a2b3c4d5e6f7a8b","request_id":"R1","driver_id":"DRV001","timestamp":"2026-11-25T19:00:00.123456","reason":"too_far"}`},
		{"decline, no reason", Input{Kind: KindOfferResponse, Response: OfferResponse{OfferID: "o-0-0000000000000000", RequestID: "R1", DriverID: "D\"1", Time: ts}},
			`{"event_type":"offer_declined","offer_id":"o-0-0000000000000000","request_id":"R1","driver_id":"D\"1","timestamp":"2026-11-25T19:00:00.123456"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(encodeInput(nil, &tt.give)); got != tt.want {
				t.Errorf("AppendJSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestAppendJSONStringMatchesEncodingJSON: the hand-written string escaper reads back, with
// encoding/json, as the string it was given.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	gives := []string{"", `"`, `\`, "\x00", "\x1f", "\x7f", "\u2028", "é中🚕", `\u0041`, "</script>"}
	for i := 0; i < 3000; i++ {
		gives = append(gives, randomText(rnd, 0, 64, true))
	}
	for _, s := range gives {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("appendJSONString(%q) = %s reads back as %q, %v", s, b, got, err)
		}
	}
	// Invalid UTF-8 (which decoding never produces) becomes U+FFFD rather than bad JSON.
	b := appendJSONString(nil, "a\xffb")
	if !json.Valid(b) || string(b) != `"a\ufffdb"` {
		t.Errorf("appendJSONString(invalid UTF-8) = %s", b)
	}
}

// TestAppendJSONFloatFastPath: the integer path writes what strconv writes, for the
// values it takes and around them.
func TestAppendJSONFloatFastPath(t *testing.T) {
	rnd := rand.New(rand.NewPCG(21, 22))
	check := func(f float64) {
		got := string(appendJSONFloat(nil, f))
		want := strconv.FormatFloat(f, 'f', -1, 64)
		if got != want {
			t.Fatalf("appendJSONFloat(%v) = %s, strconv says %s", f, got, want)
		}
	}
	for _, f := range []float64{0, -0.0, 1, -1, 0.5, 19.0544, 72.8413, -73.9855, 4.7, 12.5, 359.999999, 0.000001, -0.000001, 1e-7, 123456789.123456, 9e9, 1e20, 90, -180} {
		check(f)
	}
	for i := 0; i < 200_000; i++ {
		x := float64(rnd.Int64N(400_000_000)-200_000_000) / 1e6
		check(x)
		check(math.Nextafter(x, math.Inf(1)))
		check(rnd.NormFloat64() * 100)
	}
}
