package event

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"ridematch/geo"
)

var logKinds = []LogKind{LogDriver, LogRequest, LogCancel, LogTick, LogLeft, LogToken, LogMark, LogClaim, LogAnswer}

// randomBytes is any string: the region log carries what the router validated, but the
// codec itself must not care.
func randomBytes(rnd *rand.Rand) string {
	switch rnd.IntN(4) {
	case 0:
		return ""
	case 1:
		return randomText(rnd, 1, 200, true)
	case 2:
		b := make([]byte, rnd.IntN(300))
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return string(b)
	}
	return randomID(rnd)
}

// randomAnyFloat is any double but NaN (which no equality check can compare): infinities,
// zeros of both signs, denormals and huge values included.
func randomAnyFloat(rnd *rand.Rand) float64 {
	switch rnd.IntN(8) {
	case 0:
		return math.Inf(1 - 2*rnd.IntN(2))
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return math.SmallestNonzeroFloat64
	case 3:
		return -math.MaxFloat64
	}
	for {
		f := math.Float64frombits(rnd.Uint64())
		if !math.IsNaN(f) {
			return f
		}
	}
}

func randomInt64(rnd *rand.Rand) int64 {
	switch rnd.IntN(4) {
	case 0:
		return []int64{0, -1, 1, math.MinInt64, math.MaxInt64}[rnd.IntN(5)]
	case 1:
		return rnd.Int64N(1<<20) - 1<<19
	}
	return int64(rnd.Uint64())
}

// randomLog returns a random record of kind k with only that kind's fields set, as
// DecodeLog returns them.
func randomLog(rnd *rand.Rand, k LogKind) LogRecord {
	r := LogRecord{Kind: k, Time: Time(randomInt64(rnd))}
	// A version 2 record, which has no mark and no device time of its own, now and then.
	r.Legacy = k != LogMark && rnd.IntN(5) == 0
	device := Time(randomInt64(rnd))
	if r.Legacy {
		device = r.Time
	}
	switch k {
	case LogDriver:
		r.Driver = DriverLocation{
			DriverID:     randomBytes(rnd),
			Location:     geo.Point{Lat: randomAnyFloat(rnd), Lng: randomAnyFloat(rnd)},
			Time:         device,
			SpeedKMH:     randomAnyFloat(rnd),
			Heading:      randomAnyFloat(rnd),
			Availability: Availability(rnd.Uint32()),
			Vehicle:      Vehicle(rnd.Uint32()),
			Rating:       randomAnyFloat(rnd),
		}
		r.Route = Route(rnd.Uint32())
		r.From = int32(randomInt64(rnd))
	case LogRequest, LogClaim:
		r.Request = RideRequest{
			RequestID:   randomBytes(rnd),
			CustomerID:  randomBytes(rnd),
			PickupName:  randomBytes(rnd),
			DropName:    randomBytes(rnd),
			Pickup:      geo.Point{Lat: randomAnyFloat(rnd), Lng: randomAnyFloat(rnd)},
			Drop:        geo.Point{Lat: randomAnyFloat(rnd), Lng: randomAnyFloat(rnd)},
			Time:        device,
			RideType:    RideType(rnd.Uint32()),
			EstimatedKM: randomAnyFloat(rnd),
		}
		r.Cell = geo.Cell(rnd.Uint64())
		if k == LogClaim {
			r.DriverID = randomBytes(rnd)
			r.From = int32(randomInt64(rnd))
			r.Multiplier = randomAnyFloat(rnd)
			r.Deadline = Time(randomInt64(rnd))
		}
	case LogAnswer:
		r.RequestID, r.DriverID, r.Outcome = randomBytes(rnd), randomBytes(rnd), Outcome(rnd.Uint32())
		r.Reservation = Reservation{RequestID: randomBytes(rnd), MatchID: randomBytes(rnd), Until: Time(randomInt64(rnd))}
	case LogCancel:
		r.Cancel = RideCancel{RequestID: randomBytes(rnd), CustomerID: randomBytes(rnd), Time: device, Reason: randomBytes(rnd)}
	case LogTick:
	case LogLeft:
		r.DriverID = randomBytes(rnd)
		r.To = int32(randomInt64(rnd))
	case LogToken:
		r.DriverID = randomBytes(rnd)
		r.Reservation = Reservation{RequestID: randomBytes(rnd), MatchID: randomBytes(rnd), Until: Time(randomInt64(rnd))}
	case LogMark:
		r.Mark.Slack = []time.Duration{Unbounded, 0, 30 * time.Second, time.Duration(rnd.Int64N(math.MaxInt64/1000)) * time.Microsecond}[rnd.IntN(4)]
		for range rnd.IntN(40) {
			r.Mark.Sources = append(r.Mark.Sources, SourceMark{Source: SourceID(rnd.Uint32()), Claim: Time(randomInt64(rnd))})
		}
	}
	return r
}

// sameLog compares records the way a replay would: field by field, NaN equal to NaN and
// -0 distinct from 0 (%#v prints both as they are).
func sameLog(a, b *LogRecord) bool { return fmt.Sprintf("%#v", *a) == fmt.Sprintf("%#v", *b) }

func TestLogRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 6000; i++ {
		want := randomLog(rnd, logKinds[i%len(logKinds)])
		b := AppendLog([]byte{0xee}, &want)[1:]
		got := randomLog(rnd, logKinds[rnd.IntN(len(logKinds))]) // decoding must clear it
		if err := DecodeLog(b, &got); err != nil {
			t.Fatalf("DecodeLog(AppendLog(%+v)): %v", want, err)
		}
		if !reflect.DeepEqual(got, want) || !sameLog(&got, &want) {
			t.Fatalf("round trip of kind %d:\n got %#v\nwant %#v", want.Kind, got, want)
		}
		// The strings are copies: reusing the buffer leaves the record alone.
		for j := range b {
			b[j] = 'Z'
		}
		if !sameLog(&got, &want) {
			t.Fatalf("decoded strings alias the buffer: %#v", got)
		}
	}
}

// TestLogNaN: a NaN survives the trip with its bits.
func TestLogNaN(t *testing.T) {
	nan := math.Float64frombits(0x7ff8000000000123)
	want := LogRecord{Kind: LogDriver, Time: 5, Driver: DriverLocation{DriverID: "d", Time: 5, Location: geo.Point{Lat: nan, Lng: 1}, Rating: nan}}
	var got LogRecord
	if err := DecodeLog(AppendLog(nil, &want), &got); err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(got.Driver.Location.Lat) != 0x7ff8000000000123 || math.Float64bits(got.Driver.Rating) != 0x7ff8000000000123 {
		t.Errorf("NaN bits changed: %x", math.Float64bits(got.Driver.Location.Lat))
	}
}

// TestLogGolden pins the wire form: the region log outlives any one build.
func TestLogGolden(t *testing.T) {
	tests := []struct {
		name string
		give LogRecord
		want []byte
	}{
		// Version 2, which a restore still reads from a log an earlier engine wrote.
		{"v2 tick", LogRecord{Kind: LogTick, Time: 1, Legacy: true}, []byte{'R', 2, byte(LogTick), 2}},
		{"v2 tick before the epoch", LogRecord{Kind: LogTick, Time: -1, Legacy: true}, []byte{'R', 2, byte(LogTick), 1}},
		{"v2 left", LogRecord{Kind: LogLeft, Time: 64, DriverID: "D7", To: 3, Legacy: true}, []byte{'R', 2, byte(LogLeft), 0x80, 0x01, 2, 'D', '7', 6}},
		{"v2 cancel", LogRecord{Kind: LogCancel, Time: 0, Cancel: RideCancel{RequestID: "R", Reason: "x"}, Legacy: true}, []byte{'R', 2, byte(LogCancel), 0, 1, 'R', 0, 1, 'x'}},
		{"v2 token", LogRecord{Kind: LogToken, Time: 2, DriverID: "D", Reservation: Reservation{RequestID: "Q", MatchID: "M", Until: -2}, Legacy: true}, []byte{'R', 2, byte(LogToken), 4, 1, 'D', 1, 'Q', 1, 'M', 3}},
		{"v2 driver", LogRecord{Kind: LogDriver, Time: 1, Route: RouteArrival, From: 2, Cell: 0x0102030405060708, Driver: DriverLocation{DriverID: "D", Time: 1, Location: geo.Point{Lat: 1, Lng: 2}, SpeedKMH: 0, Heading: 0.5, Availability: Busy, Vehicle: Auto, Rating: 4}, Legacy: true},
			[]byte{'R', 2, byte(LogDriver), 2, 1, 'D',
				0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // lat 1
				0, 0, 0, 0, 0, 0, 0, 0x40, // lng 2
				0, 0, 0, 0, 0, 0, 0, 0, // speed 0
				0, 0, 0, 0, 0, 0, 0xe0, 0x3f, // heading 0.5
				byte(Busy), byte(Auto), byte(RouteArrival),
				0, 0, 0, 0, 0, 0, 0x10, 0x40, // rating 4
				4,                      // from 2
				8, 7, 6, 5, 4, 3, 2, 1, // the index cell
			}},
		// Version 3.
		{"left", LogRecord{Kind: LogLeft, Time: 64, DriverID: "D7", To: 3}, []byte{'R', 3, byte(LogLeft), 0x80, 0x01, 2, 'D', '7', 6}},
		{"cancel stamped a second early", LogRecord{Kind: LogCancel, Time: 2e6, Cancel: RideCancel{RequestID: "R", Reason: "x", Time: 1e6}}, []byte{'R', 3, byte(LogCancel), 0x80, 0x92, 0xf4, 0x01, 0xff, 0x88, 0x7a, 1, 'R', 0, 1, 'x'}},
		{"driver stamped ahead", LogRecord{Kind: LogDriver, Time: 1, Route: RouteArrival, From: 2, Cell: 0x0102030405060708, Driver: DriverLocation{DriverID: "D", Time: 3, Location: geo.Point{Lat: 1, Lng: 2}, SpeedKMH: 0, Heading: 0.5, Availability: Busy, Vehicle: Auto, Rating: 4}},
			[]byte{'R', 3, byte(LogDriver), 2,
				4, // the device's time, 2us after the log's
				1, 'D',
				0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // lat 1
				0, 0, 0, 0, 0, 0, 0, 0x40, // lng 2
				0, 0, 0, 0, 0, 0, 0, 0, // speed 0
				0, 0, 0, 0, 0, 0, 0xe0, 0x3f, // heading 0.5
				byte(Busy), byte(Auto), byte(RouteArrival),
				0, 0, 0, 0, 0, 0, 0x10, 0x40, // rating 4
				4,                      // from 2
				8, 7, 6, 5, 4, 3, 2, 1, // the index cell
			}},
		{"mark", LogRecord{Kind: LogMark, Time: 10, Mark: Mark{Slack: 30 * time.Second, Sources: []SourceMark{
			{Source: SourceOf(false, 3), Claim: 10}, {Source: SourceOf(true, 0), Claim: 75},
		}}}, []byte{'R', 3, byte(LogMark), 20,
			0x80, 0x8e, 0xce, 0x1c, // slack: 30s in microseconds, zigzag varint
			2,    // two sources
			6, 0, // driver-locations/3 at the mark's time
			1, 130, 1, // ride-requests/0 65us later
		}},
		{"mark, unbounded", LogRecord{Kind: LogMark, Time: 0, Mark: Mark{Slack: Unbounded, Sources: []SourceMark{{Source: 1, Claim: 0}}}},
			[]byte{'R', 3, byte(LogMark), 0, 1, 1, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppendLog(nil, &tt.give); !bytes.Equal(got, tt.want) {
				t.Errorf("AppendLog = %v, want %v", got, tt.want)
			}
			var got LogRecord
			if err := DecodeLog(tt.want, &got); err != nil || !reflect.DeepEqual(got, tt.give) {
				t.Errorf("DecodeLog = %+v, %v; want %+v", got, err, tt.give)
			}
		})
	}
}

func TestDecodeLogRefuses(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 600; i++ {
		rec := randomLog(rnd, logKinds[i%len(logKinds)])
		valid := AppendLog(nil, &rec)

		// Every truncation.
		for n := 0; n < len(valid); n++ {
			var got LogRecord
			if err := DecodeLog(valid[:n], &got); !errors.Is(err, ErrLogRecord) {
				t.Fatalf("DecodeLog of %d of %d bytes of kind %d = %+v, %v; want ErrLogRecord", n, len(valid), rec.Kind, got, err)
			}
		}
		// Trailing bytes.
		for _, tail := range [][]byte{{0}, {0x80}, []byte("extra"), valid} {
			var got LogRecord
			if err := DecodeLog(append(bytes.Clone(valid), tail...), &got); !errors.Is(err, ErrLogRecord) {
				t.Fatalf("DecodeLog with %d trailing bytes on kind %d: %v; want ErrLogRecord", len(tail), rec.Kind, err)
			}
		}
	}

	valid := AppendLog(nil, &LogRecord{Kind: LogLeft, Time: 1e15, DriverID: "DRV001", To: 3})
	tests := []struct {
		name string
		give []byte
	}{
		{"nil", nil},
		{"JSON", []byte(`{"event_type":"driver_location_update"}`)},
		{"wrong magic", append([]byte{'r'}, valid[1:]...)},
		{"zero magic", append([]byte{0}, valid[1:]...)},
		{"version 0", append([]byte{'R', 0}, valid[2:]...)},
		{"version 1", append([]byte{'R', 1}, valid[2:]...)},
		{"version 4", append([]byte{'R', 4}, valid[2:]...)},
		{"version 255", append([]byte{'R', 255}, valid[2:]...)},
		{"kind 0", append([]byte{'R', 3, 0}, valid[3:]...)},
		{"kind 9", append([]byte{'R', 3, 9}, valid[3:]...)},
		{"kind 255", append([]byte{'R', 3, 255}, valid[3:]...)},
		{"a mark in version 2", []byte{'R', 2, byte(LogMark), 0, 1, 1, 1, 0}},
		{"mark slack -2", []byte{'R', 3, byte(LogMark), 0, 3, 1, 1, 0}},
		{"mark counts more sources than it holds", []byte{'R', 3, byte(LogMark), 0, 1, 2, 1, 0}},
		{"mark counts 2^63 sources", append([]byte{'R', 3, byte(LogMark), 0, 1}, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)},
		{"mark source beyond 32 bits", []byte{'R', 3, byte(LogMark), 0, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0}},
		{"tick without time", []byte{'R', 2, byte(LogTick)}},
		{"overlong varint time", append([]byte{'R', 2, byte(LogTick)}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"string longer than the record", []byte{'R', 2, byte(LogLeft), 2, 10, 'D', 6}},
		{"string length overflows", append([]byte{'R', 2, byte(LogLeft), 2}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'D')},
		{"string length near MaxUint64", append([]byte{'R', 2, byte(LogLeft), 2}, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'D')},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got LogRecord
			if err := DecodeLog(tt.give, &got); !errors.Is(err, ErrLogRecord) {
				t.Errorf("DecodeLog(%v) = %+v, %v; want ErrLogRecord", tt.give, got, err)
			}
		})
	}
}
