package router

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uber/h3-go/v4"

	"ridematch/event"
	"ridematch/geo"
)

var (
	bandra    = geo.Point{Lat: 19.0544, Lng: 72.8413}
	bkc       = geo.Point{Lat: 19.0596, Lng: 72.8656}
	connaught = geo.Point{Lat: 28.6315, Lng: 77.2167}
	// t0 is a record time; events are stamped around it.
	t0 = event.TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC))
)

// regionOf is the region of p by H3 directly: the index cell's ancestor.
func regionOf(p geo.Point) geo.Cell {
	return geo.Cell(h3.LatLngToCell(h3.LatLng{Lat: p.Lat, Lng: p.Lng}, 9).Parent(4))
}

func TestConfigValidate(t *testing.T) {
	d := DefaultConfig()
	if d.DriverTTL != 30*time.Second || d.MaxRecordBytes != 16<<10 || d.MaxFutureSkew != 30*time.Second || d.MaxAge != time.Hour || d.Resolutions != geo.DefaultResolutions() {
		t.Errorf("DefaultConfig() = %+v, not the documented defaults", d)
	}
	if d.History() != 90*time.Second {
		t.Errorf("History() = %v, want 2 x 30s + 30s", d.History())
	}
	tests := []struct {
		name string
		give func(c *Config)
		n    int32
		want bool
	}{
		{"defaults", func(c *Config) {}, 6, true},
		{"one partition", func(c *Config) {}, 1, true},
		{"no future skew", func(c *Config) { c.MaxFutureSkew = 0 }, 6, true},
		{"smallest record limit", func(c *Config) { c.MaxRecordBytes = 256 }, 6, true},
		{"no partitions", func(c *Config) {}, 0, false},
		{"negative partitions", func(c *Config) {}, -3, false},
		{"zero TTL", func(c *Config) { c.DriverTTL = 0 }, 6, false},
		{"negative TTL", func(c *Config) { c.DriverTTL = -time.Second }, 6, false},
		{"tiny records", func(c *Config) { c.MaxRecordBytes = 255 }, 6, false},
		{"negative skew", func(c *Config) { c.MaxFutureSkew = -time.Second }, 6, false},
		{"zero age", func(c *Config) { c.MaxAge = 0 }, 6, false},
		{"bad resolutions", func(c *Config) { c.Resolutions.Region = 8 }, 6, false},
		{"no shadows", func(c *Config) { c.ReachKM = 0 }, 6, true},
		{"shadows refreshed with every update", func(c *Config) { c.ShadowEvery = 0 }, 6, true},
		{"NaN reach", func(c *Config) { c.ReachKM = math.NaN() }, 6, false},
		{"negative shadow refresh", func(c *Config) { c.ShadowEvery = -time.Second }, 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.give(&c)
			r, err := New(c, tt.n, nil)
			if (err == nil) != tt.want {
				t.Fatalf("New(%+v, %d) = %v, want valid %v", c, tt.n, err, tt.want)
			}
			if err != nil {
				if !errors.Is(err, ErrConfig) && !errors.Is(err, geo.ErrResolution) {
					t.Errorf("error %v wraps neither ErrConfig nor geo.ErrResolution", err)
				}
				return
			}
			if r.Partitions() != tt.n || r.Drivers() != 0 || r.Watermark() != 0 || r.Stats() != (Stats{}) {
				t.Errorf("a new Router is not empty: %d partitions, %d drivers", r.Partitions(), r.Drivers())
			}
		})
	}
}

// fnvPartition is PartitionOf's contract written with the standard library: FNV-1a over
// the cell's eight little-endian bytes, modulo n.
func fnvPartition(c geo.Cell, n int32) int32 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(c))
	h.Write(b[:])
	return int32(h.Sum64() % uint64(n))
}

func TestPartitionOfGolden(t *testing.T) {
	// Every router of every version must agree: these values are the region log's layout.
	tests := []struct {
		give geo.Cell
		n    int32
		want int32
	}{
		{regionOf(bandra), 1, 0},
		{regionOf(bandra), 2, 0},
		{regionOf(bandra), 3, 0},
		{regionOf(bandra), 6, 0},
		{regionOf(bandra), 12, 6},
		{regionOf(connaught), 6, 5},
		{regionOf(connaught), 12, 5},
		{0x8460145ffffffff, 6, 5},
		{0x8460145ffffffff, 32, 1},
	}
	for _, tt := range tests {
		if got := PartitionOf(tt.give, tt.n); got != tt.want {
			t.Errorf("PartitionOf(%v, %d) = %d, want %d", tt.give, tt.n, got, tt.want)
		}
	}
	if regionOf(bandra) != 0x84608b1ffffffff || regionOf(connaught) != 0x843da11ffffffff {
		t.Errorf("Bandra's region is %v, Connaught Place's %v", regionOf(bandra), regionOf(connaught))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		c := geo.Cell(rnd.Uint64())
		if i%2 == 0 {
			c = geo.CellOf(geo.Point{Lat: rnd.Float64()*170 - 85, Lng: rnd.Float64()*360 - 180}, 4)
		}
		n := int32(1 + rnd.IntN(64))
		if got, want := PartitionOf(c, n), fnvPartition(c, n); got != want {
			t.Fatalf("PartitionOf(%v, %d) = %d, FNV-1a says %d", c, n, got, want)
		}
		if again := PartitionOf(c, n); again != PartitionOf(c, n) || again < 0 || again >= n {
			t.Fatalf("PartitionOf(%v, %d) = %d", c, n, again)
		}
	}
}

// TestPartitionOfSpread: the world's regions, and the regions around one city, spread
// evenly over the partitions.
func TestPartitionOfSpread(t *testing.T) {
	var world []geo.Cell
	for _, base := range h3.Res0Cells() {
		for _, c := range base.Children(4) {
			world = append(world, geo.Cell(c))
		}
	}
	var mumbai []geo.Cell
	for _, c := range h3.GridDisk(h3.Cell(regionOf(bandra)), 6) {
		mumbai = append(mumbai, geo.Cell(c))
	}
	tests := []struct {
		name  string
		cells []geo.Cell
		slack float64 // allowed relative deviation of any partition from the mean
	}{
		{"world", world, 0.03},
		{"around Mumbai", mumbai, 0.5},
	}
	for _, tt := range tests {
		for _, n := range []int32{2, 3, 4, 6, 12, 32} {
			if tt.name == "around Mumbai" && n > 6 {
				continue
			}
			counts := make([]int, n)
			for _, c := range tt.cells {
				counts[PartitionOf(c, n)]++
			}
			mean := float64(len(tt.cells)) / float64(n)
			for p, k := range counts {
				if dev := (float64(k) - mean) / mean; dev > tt.slack || dev < -tt.slack {
					t.Errorf("%s, %d partitions: partition %d has %d of %d regions (mean %.0f)", tt.name, n, p, k, len(tt.cells), mean)
				}
			}
		}
	}
}

// routed is one region-log record the router emitted, copied.
type routed struct {
	p   int32
	rec event.LogRecord
}

func (r routed) String() string { return fmt.Sprintf("p%d %+v", r.p, r.rec) }

type sink struct{ out []routed }

func (s *sink) emit(p int32, rec *event.LogRecord) { s.out = append(s.out, routed{p, *rec}) }
func (s *sink) take() []routed {
	o := s.out
	s.out = nil
	return o
}

func newRouter(t *testing.T, cfg Config, n int32) *Router {
	t.Helper()
	r, err := New(cfg, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func driverJSON(id string, p geo.Point, at event.Time, a event.Availability) []byte {
	d := event.DriverLocation{DriverID: id, Location: p, Time: at, SpeedKMH: 20, Heading: 90, Availability: a, Vehicle: event.Sedan, Rating: 4.7}
	return d.AppendJSON(nil)
}

func requestJSON(id string, pickup geo.Point, at event.Time) []byte {
	r := event.RideRequest{RequestID: id, CustomerID: "CUST001", PickupName: "bandra_station", DropName: "bkc", Pickup: pickup, Drop: bkc, Time: at, RideType: event.Mini}
	return r.AppendJSON(nil)
}

func cancelJSON(id string, at event.Time) []byte {
	c := event.RideCancel{RequestID: id, CustomerID: "CUST001", Time: at, Reason: "changed plans"}
	return c.AppendJSON(nil)
}

// offerOf is an offer id the matcher of region-log partition p would make.
func offerOf(p int32) string { return event.OfferID(p, "R1", "D1", t0) }

func responseJSON(offerID string, at event.Time, accepted bool) []byte {
	r := event.OfferResponse{OfferID: offerID, RequestID: "R1", DriverID: "D1", Accepted: accepted, Time: at}
	if !accepted {
		r.Reason = "too_far"
	}
	return r.AppendJSON(nil)
}

func drivers(at event.Time) Source   { return Source{Topic: DriverLocations, Time: at} }
func requests(at event.Time) Source  { return Source{Topic: RideRequests, Time: at} }
func responses(at event.Time) Source { return Source{Topic: DriverResponses, Time: at} }

// TestRouteRefuses: every class of bad input is refused with its reason, counted, and
// emits nothing.
func TestRouteRefuses(t *testing.T) {
	garbageReq := func(kv string) []byte {
		return []byte(`{"event_type": "ride_requested", "request_id": "BAD-requests-1", "customer_id": "C", "pickup_location": "x", "drop_location": "y", ` + kv + `"request_time": "2026-11-25T19:00:00", "ride_type": "mini"}`)
	}
	garbageDrv := func(kv string) []byte {
		return []byte(`{"event_type": "driver_location_update", "driver_id": "BAD-DRV-1", "timestamp": "2026-11-25T19:00:00", "speed": 10, "heading": 0, "availability": "available", ` + kv + `}`)
	}
	okPickup := `"pickup_coordinates": {"lat": 19.05, "lng": 72.84}, "drop_coordinates": {"lat": 19.10, "lng": 72.85}, `
	tests := []struct {
		name    string
		give    []byte
		src     Source
		wantWhy event.Reason // alternatives separated by |
	}{
		// acceptance/garbage.py, requests.
		{"not json", []byte("not json at all {{{"), requests(t0), event.ReasonMalformedJSON},
		{"array", []byte("[1, 2, 3]"), requests(t0), event.ReasonNotObject},
		{"lat 999", garbageReq(`"pickup_coordinates": {"lat": 999, "lng": 72.8}, "drop_coordinates": {"lat": 19.10, "lng": 72.85}, `), requests(t0), event.ReasonBadCoordinates},
		{"helicopter", bytes.Replace(garbageReq(okPickup), []byte(`"mini"`), []byte(`"helicopter"`), 1), requests(t0), event.ReasonUnknownRideType},
		{"lat NaN string", garbageReq(`"pickup_coordinates": {"lat": "NaN", "lng": "x"}, "drop_coordinates": {"lat": 19.10, "lng": 72.85}, `), requests(t0), event.ReasonWrongType},
		{"no pickup", garbageReq(`"drop_coordinates": {"lat": 19.10, "lng": 72.85}, `), requests(t0), event.ReasonMissingField},
		// acceptance/garbage.py, drivers.
		{"binary", []byte("\x00\x01\x02 binary"), drivers(t0), event.ReasonMalformedJSON},
		{"numeric driver_id only", []byte(`{"driver_id": 5}`), drivers(t0), event.ReasonWrongType + "|" + event.ReasonMissingField},
		{"lng 500", garbageDrv(`"location": {"lat": 12.0, "lng": 500.0}, "vehicle_type": "sedan", "rating": 4.5`), drivers(t0), event.ReasonBadCoordinates},
		{"spaceship", garbageDrv(`"location": {"lat": 19.05, "lng": 72.84}, "vehicle_type": "spaceship", "rating": 4.5`), drivers(t0), event.ReasonUnknownVehicle},
		{"rating 17", garbageDrv(`"location": {"lat": 19.05, "lng": 72.84}, "vehicle_type": "sedan", "rating": 17`), drivers(t0), event.ReasonBadRating},
		{"null island", garbageDrv(`"location": {"lat": 0, "lng": 0}, "vehicle_type": "sedan", "rating": 4.5`), drivers(t0), event.ReasonBadCoordinates},
		// More classes.
		{"empty", nil, drivers(t0), event.ReasonMalformedJSON},
		{"unknown event", []byte(`{"event_type": "trip_updated", "trip_id": "T1"}`), requests(t0), event.ReasonUnknownEvent},
		{"bad availability", bytes.Replace(driverJSON("D1", bandra, t0, event.Available), []byte(`"available"`), []byte(`"napping"`), 1), drivers(t0), event.ReasonUnknownAvailable},
		{"id with a newline", driverJSON("D\n1", bandra, t0, event.Available), drivers(t0), event.ReasonBadID},
		{"bad timestamp", bytes.Replace(driverJSON("D1", bandra, t0, event.Available), []byte(`2026-11-25T19`), []byte(`2026-11-25T25`), 1), drivers(t0), event.ReasonBadTimestamp},
		// The wrong topic.
		{"request on driver-locations", requestJSON("R1", bandra, t0), drivers(t0), event.ReasonWrongTopic},
		{"cancel on driver-locations", cancelJSON("R1", t0), drivers(t0), event.ReasonWrongTopic},
		{"driver update on ride-requests", driverJSON("D1", bandra, t0, event.Available), requests(t0), event.ReasonWrongTopic},
		{"unknown topic", driverJSON("D1", bandra, t0, event.Available), Source{Topic: 0, Time: t0}, event.ReasonWrongTopic},
		{"accept on ride-requests", responseJSON(offerOf(1), t0, true), requests(t0), event.ReasonWrongTopic},
		{"decline on driver-locations", responseJSON(offerOf(1), t0, false), drivers(t0), event.ReasonWrongTopic},
		{"request on driver-responses", requestJSON("R1", bandra, t0), responses(t0), event.ReasonWrongTopic},
		{"cancel on driver-responses", cancelJSON("R1", t0), responses(t0), event.ReasonWrongTopic},
		{"driver update on driver-responses", driverJSON("D1", bandra, t0, event.Available), responses(t0), event.ReasonWrongTopic},
		// A driver's answer is refused as any input is.
		{"answer with an empty offer id", responseJSON("", t0, true), responses(t0), event.ReasonBadID},
		{"answer with no offer id", []byte(`{"event_type":"offer_declined","request_id":"R1","driver_id":"D1","timestamp":"2026-11-25T19:00:00"}`), responses(t0), event.ReasonMissingField},
		{"answer with a bad timestamp", bytes.Replace(responseJSON(offerOf(1), t0, true), []byte(`2026-11-25T19`), []byte(`2026-11-25T25`), 1), responses(t0), event.ReasonBadTimestamp},
		{"answer from the future", responseJSON(offerOf(1), t0.Add(31*time.Second), true), responses(t0), event.ReasonFutureTimestamp},
		{"answer an hour old", responseJSON(offerOf(1), t0.Add(-time.Hour-time.Microsecond), false), responses(t0), event.ReasonStaleTimestamp},
		{"answer in a record of timestamp 0", responseJSON(offerOf(1), t0, true), responses(0), event.ReasonBadRecordTime},
		// Validity comes first: an unknown offer's answer that is not valid is refused.
		{"answer to an unknown offer from the future", responseJSON("o-99-0123456789abcdef", t0.Add(time.Minute), true), responses(t0), event.ReasonFutureTimestamp},
		// Event time against record time.
		{"driver from the future", driverJSON("D1", bandra, t0.Add(30*time.Second+time.Microsecond), event.Available), drivers(t0), event.ReasonFutureTimestamp},
		{"request from tomorrow", requestJSON("R1", bandra, t0.Add(24*time.Hour)), requests(t0), event.ReasonFutureTimestamp},
		{"cancel from the future", cancelJSON("R1", t0.Add(time.Minute)), requests(t0), event.ReasonFutureTimestamp},
		{"driver an hour old", driverJSON("D1", bandra, t0.Add(-time.Hour-time.Microsecond), event.Available), drivers(t0), event.ReasonStaleTimestamp},
		{"request from last year", requestJSON("R1", bandra, t0.Add(-365*24*time.Hour)), requests(t0), event.ReasonStaleTimestamp},
		{"cancel from the epoch", cancelJSON("R1", 0), requests(t0), event.ReasonBadTimestamp},
		// The attacks that once moved a running engine's clock (issue 24).
		{"driver stamped in 2611", driverJSON("D1", bandra, event.TimeOf(time.Date(2611, 2, 17, 0, 0, 0, 0, time.UTC)), event.Available), drivers(t0), event.ReasonBadTimestamp},
		{"driver stamped 9999, record timestamp 0", driverJSON("D1", bandra, event.TimeOf(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)), event.Available), drivers(0), event.ReasonBadTimestamp},
		{"both stamps in 3000", requestJSON("R1", bandra, event.TimeOf(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))), requests(event.TimeOf(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))), event.ReasonBadTimestamp},
		{"a valid event in a record of timestamp 0", driverJSON("D1", bandra, t0, event.Available), drivers(0), event.ReasonBadRecordTime},
		{"a valid event in a record of 3000", driverJSON("D1", bandra, t0, event.Available), drivers(event.TimeOf(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))), event.ReasonBadRecordTime},
		{"a valid event in a record of the largest time", driverJSON("D1", bandra, t0, event.Available), drivers(math.MaxInt64), event.ReasonBadRecordTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, DefaultConfig(), 6)
			var s sink
			err := r.Route(tt.give, tt.src, s.emit)
			if got := event.ReasonOf(err); got == "" || !slices.Contains(strings.Split(string(tt.wantWhy), "|"), string(got)) {
				t.Fatalf("Route(%s) = %v, want reason %q", tt.give, err, tt.wantWhy)
			}
			if !errors.Is(err, event.ErrInvalid) {
				t.Errorf("error %v does not match event.ErrInvalid", err)
			}
			if len(s.out) != 0 {
				t.Errorf("a refused record emitted %v", s.out)
			}
			if st := r.Stats(); st != (Stats{DeadLettered: 1}) {
				t.Errorf("Stats = %+v, want one dead letter and nothing else", st)
			}
			if r.Drivers() != 0 || r.Watermark() != 0 {
				t.Errorf("a refused record changed the state: %d drivers, watermark %v", r.Drivers(), r.Watermark())
			}
		})
	}
}

// TestRouteBoundaries: the limits themselves are allowed.
func TestRouteBoundaries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecordBytes = 512
	valid := driverJSON("D1", bandra, t0, event.Available)
	pad := func(n int) []byte { return append(bytes.Clone(valid), bytes.Repeat([]byte(" "), n-len(valid))...) }
	tests := []struct {
		name    string
		give    []byte
		src     Source
		wantWhy event.Reason
	}{
		{"exactly the size limit", pad(512), drivers(t0), ""},
		{"a byte over", pad(513), drivers(t0), event.ReasonOversized},
		{"far over", pad(1 << 20), drivers(t0), event.ReasonOversized},
		{"oversized garbage is oversized first", bytes.Repeat([]byte("{"), 513), drivers(t0), event.ReasonOversized},
		{"oversized and on the wrong topic", pad(600), requests(t0), event.ReasonOversized},
		{"exactly the future skew", driverJSON("D1", bandra, t0.Add(30*time.Second), event.Available), drivers(t0), ""},
		{"exactly the max age", driverJSON("D1", bandra, t0.Add(-time.Hour), event.Available), drivers(t0), ""},
		{"the first log time of the sane range", driverJSON("D1", bandra, event.MinTime, event.Available), drivers(event.MinTime), ""},
		{"the last log time of the sane range", driverJSON("D1", bandra, event.MaxTime-1, event.Available), drivers(event.MaxTime - 1), ""},
		{"a log time past it", driverJSON("D1", bandra, event.MaxTime-1, event.Available), drivers(event.MaxTime), event.ReasonBadRecordTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, cfg, 6)
			var s sink
			err := r.Route(tt.give, tt.src, s.emit)
			if got := event.ReasonOf(err); got != tt.wantWhy || (tt.wantWhy == "" && err != nil) {
				t.Fatalf("Route of %d bytes = %v, want reason %q", len(tt.give), err, tt.wantWhy)
			}
			if tt.wantWhy == "" && len(s.out) != 1 {
				t.Errorf("accepted record emitted %v", s.out)
			}
		})
	}
	// MaxFutureSkew 0 allows exactly the record time, nothing later.
	cfg = DefaultConfig()
	cfg.MaxFutureSkew = 0
	r := newRouter(t, cfg, 6)
	if err := r.Route(driverJSON("D1", bandra, t0, event.Available), drivers(t0), func(int32, *event.LogRecord) {}); err != nil {
		t.Errorf("skew 0, same time: %v", err)
	}
	if err := r.Route(driverJSON("D1", bandra, t0.Add(time.Microsecond), event.Available), drivers(t0), func(int32, *event.LogRecord) {}); event.ReasonOf(err) != event.ReasonFutureTimestamp {
		t.Errorf("skew 0, a microsecond ahead: %v", err)
	}
}

// place is a point with its region and partition.
type place struct {
	p      geo.Point
	region geo.Cell
	part   int32
}

// placesAround returns points on a 5 km grid within 150 km of center, nearest first,
// with their regions and partitions among n.
func placesAround(center geo.Point, n int32) []place {
	var out []place
	for r := 0.0; r <= 150; r += 5 {
		steps := max(1, int(2*math.Pi*r/5))
		for i := 0; i < steps; i++ {
			a := 2 * math.Pi * float64(i) / float64(steps)
			p := geo.Offset(center, r*math.Cos(a), r*math.Sin(a))
			_, _, region := geo.DefaultResolutions().Cells(p)
			out = append(out, place{p, region, PartitionOf(region, n)})
		}
	}
	return out
}

// find returns the nearest place satisfying ok.
func find(t *testing.T, places []place, what string, ok func(place) bool) place {
	t.Helper()
	for _, pl := range places {
		if ok(pl) {
			return pl
		}
	}
	t.Fatalf("no place %s", what)
	return place{}
}

// TestDriverRouting walks one driver through each way an update is routed.
func TestDriverRouting(t *testing.T) {
	const n = 4
	cfg := DefaultConfig()
	cfg.ReachKM = 0 // ownership alone: TestShadows has the shadows
	places := placesAround(bandra, n)
	home := places[0]
	if home.region != regionOf(bandra) || home.part != PartitionOf(regionOf(bandra), n) {
		t.Fatalf("Bandra's region %v, partition %d", home.region, home.part)
	}
	sameRegion := find(t, places, "in Bandra's region", func(pl place) bool { return pl.region == home.region && pl.p != home.p })
	samePart := find(t, places, "in another region of Bandra's partition", func(pl place) bool { return pl.region != home.region && pl.part == home.part })
	away := find(t, places, "in another partition", func(pl place) bool { return pl.part != home.part })
	further := find(t, places, "in a third partition", func(pl place) bool { return pl.part != home.part && pl.part != away.part })
	t.Logf("home p%d %v, same partition %v (%.0f km), away p%d %v (%.0f km), further p%d %v",
		home.part, home.region, samePart.region, geo.DistanceKM(bandra, samePart.p), away.part, away.region, geo.DistanceKM(bandra, away.p), further.part, further.region)

	r := newRouter(t, cfg, n)
	var s sink
	type want struct {
		p    int32
		kind event.LogKind
		rt   event.Route
		from int32
		to   int32
	}
	ttl := cfg.DriverTTL
	steps := []struct {
		name  string
		at    time.Duration // after t0
		where place
		avail event.Availability
		want  []want
		stats Stats // cumulative
	}{
		{"first update: genesis", 0, home, event.Available, []want{{home.part, event.LogDriver, event.RouteGenesis, 0, 0}},
			Stats{Drivers: 1, Routed: 1, Geneses: 1}},
		{"same region: stay", 2 * time.Second, sameRegion, event.Available, []want{{home.part, event.LogDriver, event.RouteStay, 0, 0}},
			Stats{Drivers: 2, Routed: 2, Geneses: 1}},
		{"another region of the same partition: stay", 4 * time.Second, samePart, event.Busy, []want{{home.part, event.LogDriver, event.RouteStay, 0, 0}},
			Stats{Drivers: 3, Routed: 3, Geneses: 1}},
		{"another partition: left to the old, arrival at the new", 6 * time.Second, away, event.Available, []want{
			{home.part, event.LogLeft, 0, 0, away.part},
			{away.part, event.LogDriver, event.RouteArrival, home.part, 0}},
			Stats{Drivers: 4, Routed: 5, Geneses: 1, Moves: 1}},
		{"stays away", 7 * time.Second, away, event.Available, []want{{away.part, event.LogDriver, event.RouteStay, 0, 0}},
			Stats{Drivers: 5, Routed: 6, Geneses: 1, Moves: 1}},
		{"same time as the last: stale", 7 * time.Second, home, event.Available, nil,
			Stats{Drivers: 6, Routed: 6, Geneses: 1, Moves: 1, Stale: 1}},
		{"older than the last: stale", 6 * time.Second, further, event.Offline, nil,
			Stats{Drivers: 7, Routed: 6, Geneses: 1, Moves: 1, Stale: 2}},
		{"exactly a TTL after the last: still a move", 7*time.Second + ttl, home, event.Available, []want{
			{away.part, event.LogLeft, 0, 0, home.part},
			{home.part, event.LogDriver, event.RouteArrival, away.part, 0}},
			Stats{Drivers: 8, Routed: 8, Geneses: 1, Moves: 2, Stale: 2}},
		{"silent for longer than the TTL, then elsewhere: genesis, no left", 7*time.Second + 2*ttl + time.Microsecond, further, event.Available, []want{{further.part, event.LogDriver, event.RouteGenesis, 0, 0}},
			Stats{Drivers: 9, Routed: 9, Geneses: 2, Moves: 2, Stale: 2}},
		{"an hour later, same place: genesis again", time.Hour, further, event.Available, []want{{further.part, event.LogDriver, event.RouteGenesis, 0, 0}},
			Stats{Drivers: 10, Routed: 10, Geneses: 3, Moves: 2, Stale: 2}},
	}
	for _, st := range steps {
		at := t0.Add(st.at)
		err := r.Route(driverJSON("DRV001", st.where.p, at, st.avail), drivers(at), s.emit)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := s.take()
		if len(got) != len(st.want) {
			t.Fatalf("%s: emitted %v, want %d records", st.name, got, len(st.want))
		}
		for i, w := range st.want {
			g := got[i]
			if g.p != w.p || g.rec.Kind != w.kind || g.rec.Time != at {
				t.Fatalf("%s: record %d is %v, want kind %d to p%d at %v", st.name, i, g, w.kind, w.p, at)
			}
			switch w.kind {
			case event.LogDriver:
				wantDriver := event.DriverLocation{DriverID: "DRV001", Location: st.where.p, Time: at, SpeedKMH: 20, Heading: 90, Availability: st.avail, Vehicle: event.Sedan, Rating: 4.7}
				if g.rec.Route != w.rt || g.rec.From != w.from || g.rec.Driver != wantDriver {
					t.Fatalf("%s: record %v, want route %d from p%d, driver %+v", st.name, g, w.rt, w.from, wantDriver)
				}
			case event.LogLeft:
				if g.rec.DriverID != "DRV001" || g.rec.To != w.to {
					t.Fatalf("%s: record %v, want a Left for DRV001 to p%d", st.name, g, w.to)
				}
			}
			checkWire(t, g.rec)
		}
		if got := r.Stats(); got != st.stats {
			t.Fatalf("%s: Stats = %+v, want %+v", st.name, got, st.stats)
		}
	}
	if r.Drivers() != 1 || r.Watermark() != t0.Add(time.Hour) {
		t.Errorf("Drivers() = %d, Watermark() = %v", r.Drivers(), r.Watermark())
	}
}

// checkWire: what the router emits survives the region log's binary form.
func checkWire(t *testing.T, rec event.LogRecord) {
	t.Helper()
	var back event.LogRecord
	if err := event.DecodeLog(event.AppendLog(nil, &rec), &back); err != nil || !reflect.DeepEqual(back, rec) {
		t.Fatalf("record %+v does not survive the region log: %+v, %v", rec, back, err)
	}
}

func TestRequestsAndCancels(t *testing.T) {
	for _, n := range []int32{1, 4, 7} {
		t.Run(fmt.Sprintf("%d partitions", n), func(t *testing.T) {
			r := newRouter(t, DefaultConfig(), n)
			var s sink
			for i, pickup := range []geo.Point{bandra, bkc, connaught, {Lat: 40.7580, Lng: -73.9855}} {
				at := t0.Add(time.Duration(i) * time.Second)
				id := fmt.Sprintf("REQ-%d", i)
				if err := r.Route(requestJSON(id, pickup, at), requests(at), s.emit); err != nil {
					t.Fatal(err)
				}
				got := s.take()
				if want := PartitionOf(regionOf(pickup), n); len(got) != 1 || got[0].p != want {
					t.Fatalf("request at %v went to %v, want p%d (its pickup's region %v)", pickup, got, want, regionOf(pickup))
				}
				rec := got[0].rec
				if rec.Kind != event.LogRequest || rec.Time != at || rec.Request.RequestID != id || rec.Request.Pickup != pickup || rec.Request.RideType != event.Mini {
					t.Fatalf("request record %+v", rec)
				}
				checkWire(t, rec)
			}
			at := t0.Add(time.Minute)
			if err := r.Route(cancelJSON("REQ-2", at), requests(at), s.emit); err != nil {
				t.Fatal(err)
			}
			got := s.take()
			if len(got) != int(n) {
				t.Fatalf("a cancel went to %d partitions, want all %d", len(got), n)
			}
			seen := map[int32]bool{}
			for _, g := range got {
				if g.rec.Kind != event.LogCancel || g.rec.Cancel.RequestID != "REQ-2" || g.rec.Time != at || seen[g.p] {
					t.Fatalf("cancel records %v", got)
				}
				seen[g.p] = true
				checkWire(t, g.rec)
			}
			// A cancel of a request the router never saw is routed all the same: only the
			// matcher knows requests.
			if err := r.Route(cancelJSON("REQ-unknown", at), requests(at), s.emit); err != nil || len(s.take()) != int(n) {
				t.Fatalf("cancel of an unknown request: %v", err)
			}
			st := r.Stats()
			if st.Requests != 4 || st.Cancels != 2 || st.Drivers != 0 || st.DeadLettered != 0 {
				t.Errorf("Stats = %+v", st)
			}
			// Routed counts records written to the region log (see Stats): four requests,
			// and a record per partition for each of the two cancels.
			if want := uint64(4 + 2*n); st.Routed != want {
				t.Errorf("Stats.Routed = %d after 4 requests and 2 cancels to %d partitions, want %d records written", st.Routed, n, want)
			}
			if r.Watermark() != at {
				t.Errorf("Watermark = %v, want %v", r.Watermark(), at)
			}
		})
	}
}

// TestLogTimeIsTheClock: a record is routed at its log time, never earlier than the last
// one routed; the device's timestamp orders a driver's own updates and travels as data;
// and silence, which makes a driver start afresh, is measured in log time, so that no
// device clock can make a driver new in one partition while another holds it fresh.
func TestLogTimeIsTheClock(t *testing.T) {
	const n = 4
	cfg := DefaultConfig()
	cfg.ReachKM = 0 // ownership alone: TestShadows has the shadows
	cfg.ReachKM = 0 // ownership alone: TestShadows has the shadows
	places := placesAround(bandra, n)
	home := places[0]
	away := find(t, places, "in another partition", func(pl place) bool { return pl.part != home.part })
	r := newRouter(t, cfg, n)
	var s sink
	route := func(name string, where place, stamp, at event.Time) []routed {
		t.Helper()
		if err := r.Route(driverJSON("D1", where.p, stamp, event.Available), drivers(at), s.emit); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s.take()
	}
	got := route("first", home, t0, t0)
	if len(got) != 1 || got[0].rec.Route != event.RouteGenesis || got[0].rec.Time != t0 {
		t.Fatalf("first update: %v", got)
	}
	// The phone's clock jumps 29s ahead, within the allowed skew: the record's time stays
	// the log's, the stamp is carried as data, and 29s of device time is no silence.
	got = route("fast phone", away, t0.Add(29*time.Second), t0.Add(time.Second))
	if len(got) != 2 || got[1].rec.Route != event.RouteArrival || got[1].rec.Time != t0.Add(time.Second) || got[1].rec.Driver.Time != t0.Add(29*time.Second) {
		t.Fatalf("an update stamped 29s ahead, 1s later in log time: %v, want a Left and an arrival at the log's time", got)
	}
	// A record whose log time is earlier than the last routed (a clock that went back)
	// goes out at the last one: log times never go back.
	got = route("earlier log time", away, t0.Add(30*time.Second), t0)
	if len(got) != 1 || got[0].rec.Time != t0.Add(time.Second) || got[0].rec.Route != event.RouteStay {
		t.Fatalf("an update whose log time went back: %v, want it at %v", got, t0.Add(time.Second))
	}
	// Its stamp orders the driver's updates: an older stamp is stale, whatever the log says.
	if got = route("older stamp", home, t0.Add(29*time.Second), t0.Add(2*time.Second)); len(got) != 0 {
		t.Fatalf("an update stamped before the last: %v", got)
	}
	// A silence longer than the TTL in log time starts afresh, whatever the stamps say:
	// here they moved by only a second.
	later := t0.Add(time.Second + cfg.DriverTTL + time.Microsecond)
	got = route("silent in log time", home, t0.Add(31*time.Second), later)
	if len(got) != 1 || got[0].rec.Route != event.RouteGenesis || got[0].p != home.part || got[0].rec.Time != later {
		t.Fatalf("an update a TTL of log time later: %v, want a genesis", got)
	}
	if r.Watermark() != later {
		t.Errorf("Watermark = %v, want %v", r.Watermark(), later)
	}
}

// TestRouteResponses: a driver's answer goes, as a LogResponse at its log time, to the
// region-log partition its offer id names; one whose id names none of them is counted and
// dropped, not dead-lettered.
func TestRouteResponses(t *testing.T) {
	const n = 6
	accept := event.OfferResponse{OfferID: offerOf(3), RequestID: "R1", DriverID: "D1", Accepted: true, Time: t0.Add(-2 * time.Second)}
	decline := event.OfferResponse{OfferID: offerOf(0), RequestID: "R1", DriverID: "D1", Time: t0.Add(time.Second), Reason: "too_far"}
	tests := []struct {
		name      string
		give      []byte
		wantPart  int32 // -1: dropped
		wantResp  event.OfferResponse
		wantStats Stats
	}{
		{"accept", accept.AppendJSON(nil), 3, accept, Stats{Responses: 1, Routed: 1}},
		{"decline, stamped ahead of its log time", decline.AppendJSON(nil), 0, decline, Stats{Responses: 1, Routed: 1}},
		{"the last partition", responseJSON(offerOf(n-1), t0, true), n - 1, event.OfferResponse{}, Stats{Responses: 1, Routed: 1}},
		{"a partition the region log does not have", responseJSON(offerOf(n), t0, true), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
		{"a partition far beyond it", responseJSON("o-2147483647-0123456789abcdef", t0, false), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
		{"a partition beyond int32", responseJSON("o-2147483648-0123456789abcdef", t0, false), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
		{"not an offer id of ours", responseJSON("offer-1", t0, true), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
		{"a partition with a leading zero", responseJSON("o-03-0123456789abcdef", t0, true), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
		{"a negative partition", responseJSON("o--1-0123456789abcdef", t0, true), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
		{"upper-case hex", responseJSON("o-1-0123456789ABCDEF", t0, true), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
		{"a short hash", responseJSON("o-1-0123456789abcde", t0, true), -1, event.OfferResponse{}, Stats{Responses: 1, UnknownOffers: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, DefaultConfig(), n)
			var s sink
			if err := r.Route(tt.give, responses(t0), s.emit); err != nil {
				t.Fatalf("Route(%s) = %v, want it taken", tt.give, err)
			}
			if st := r.Stats(); st != tt.wantStats {
				t.Errorf("Stats = %+v, want %+v", st, tt.wantStats)
			}
			if r.Watermark() != t0 {
				t.Errorf("watermark %v, want the log time %v", r.Watermark(), t0)
			}
			out := s.take()
			if tt.wantPart < 0 {
				if len(out) != 0 {
					t.Errorf("an answer to no offer of ours emitted %v", out)
				}
				return
			}
			if len(out) != 1 || out[0].p != tt.wantPart || out[0].rec.Kind != event.LogResponse || out[0].rec.Time != t0 {
				t.Fatalf("emitted %v, want one LogResponse at %v to p%d", out, t0, tt.wantPart)
			}
			if tt.wantResp != (event.OfferResponse{}) && out[0].rec.Response != tt.wantResp {
				t.Errorf("response %+v, want %+v", out[0].rec.Response, tt.wantResp)
			}
		})
	}
}

// TestResponsesLeaveDrivers: an answer is no news of where its driver is: a router
// routing both keeps the driver's routing as it was, and its next update follows on.
func TestResponsesLeaveDrivers(t *testing.T) {
	r := newRouter(t, DefaultConfig(), 6)
	var s sink
	if err := r.Route(driverJSON("D1", bandra, t0, event.Available), drivers(t0), s.emit); err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(r.seen)
	s.take()
	for i, accepted := range []bool{true, false} {
		at := t0.Add(time.Duration(i+1) * time.Second)
		if err := r.Route(responseJSON(offerOf(int32(i)), at, accepted), responses(at), s.emit); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(r.seen, before) || r.Drivers() != 1 {
		t.Errorf("answers changed the driver's routing: %+v, was %+v", r.seen, before)
	}
	at := t0.Add(3 * time.Second)
	if err := r.Route(driverJSON("D1", bandra, at, event.Busy), drivers(at), s.emit); err != nil {
		t.Fatal(err)
	}
	for _, o := range s.take() {
		if o.rec.Kind == event.LogDriver && o.rec.Route == event.RouteGenesis {
			t.Errorf("the driver's update after the answers starts a new ownership: %v", o)
		}
	}
	if st := r.Stats(); st.Drivers != 2 || st.Geneses != 1 || st.Responses != 2 || st.UnknownOffers != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestOfferIDsRoute: every partition's offer ids come back to it.
func TestOfferIDsRoute(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int32{1, 6, 12, 64} {
		r := newRouter(t, DefaultConfig(), n)
		for i := 0; i < 500; i++ {
			p := rnd.Int32N(n)
			id := event.OfferID(p, fmt.Sprint("R", rnd.Uint64()), fmt.Sprint("D", rnd.Uint64()), t0.Add(time.Duration(rnd.Int64N(int64(time.Hour)))))
			var s sink
			if err := r.Route(responseJSON(id, t0, i%2 == 0), responses(t0), s.emit); err != nil {
				t.Fatal(err)
			}
			if out := s.take(); len(out) != 1 || out[0].p != p || out[0].rec.Response.OfferID != id {
				t.Fatalf("%s among %d partitions: emitted %v, want it to p%d", id, n, out, p)
			}
		}
	}
}
