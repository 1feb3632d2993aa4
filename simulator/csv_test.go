package simulator

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

func TestParseTripTime(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse("2006-01-02 15:04:05.999999999", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		give      string
		want      time.Time // the wall clock read, or the instant when zoned
		wantZoned bool
	}{
		// nyc_20k.csv
		{"2014-12-21 00:00:00", utc("2014-12-21 00:00:00"), false},
		{"2014-12-21T08:05:09", utc("2014-12-21 08:05:09"), false},
		{"2014-12-21T08:05", utc("2014-12-21 08:05:00"), false},
		{"2014-12-21 8:05", utc("2014-12-21 08:05:00"), false},
		{"2014-12-21  08:05:09", utc("2014-12-21 08:05:09"), false},
		{"2014-12-21 08:05:09.25", utc("2014-12-21 08:05:09.25"), false},
		{"2014-12-21 08:05:09,5", utc("2014-12-21 08:05:09.5"), false},
		{"2014-12-21T08:05:09.123456789", utc("2014-12-21 08:05:09.123456789"), false},
		{"  2014-12-21 00:00:00\t", utc("2014-12-21 00:00:00"), false},
		// ISO 8601 with a zone: the instant.
		{"2014-12-21T08:05:09Z", utc("2014-12-21 08:05:09"), true},
		{"2014-12-21t08:05:09z", utc("2014-12-21 08:05:09"), true},
		{"2014-12-21T08:05:09.5Z", utc("2014-12-21 08:05:09.5"), true},
		{"2014-12-21T08:05:09+05:30", utc("2014-12-21 02:35:09"), true},
		{"2014-12-21T08:05:09-05:00", utc("2014-12-21 13:05:09"), true},
		{"2014-12-21T08:05:09-0500", utc("2014-12-21 13:05:09"), true},
		{"2014-12-21T08:05:09-05", utc("2014-12-21 13:05:09"), true},
		{"2014-12-21T23:05-05:00", utc("2014-12-22 04:05:00"), true},
		{"2014-12-21 08:05:09 UTC", utc("2014-12-21 08:05:09"), true},
		{"2014-12-21 08:05:09+00", utc("2014-12-21 08:05:09"), true},
		// uber-raw-data-apr14.csv: M/D/YYYY H:MM:SS, and H:MM.
		{"4/1/2014 0:11:00", utc("2014-04-01 00:11:00"), false},
		{"4/30/2014 23:59:59", utc("2014-04-30 23:59:59"), false},
		{"4/1/2014 0:11", utc("2014-04-01 00:11:00"), false},
		{"04/01/2014 00:11:00", utc("2014-04-01 00:11:00"), false},
		{"12/21/2014 17:45", utc("2014-12-21 17:45:00"), false},
		{"4/1/2014 12:11:00 AM", utc("2014-04-01 00:11:00"), false},
		{"4/1/2014 12:11 pm", utc("2014-04-01 12:11:00"), false},
		{"4/1/2014 1:11:30 PM", utc("2014-04-01 13:11:30"), false},
		{"2/29/2016 0:00", utc("2016-02-29 00:00:00"), false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, ok := parseTripTime(tt.give)
			if !ok {
				t.Fatalf("parseTripTime(%q) failed", tt.give)
			}
			if !got.t.Equal(tt.want) || got.zoned != tt.wantZoned {
				t.Errorf("parseTripTime(%q) = %v zoned %v, want %v zoned %v", tt.give, got.t, got.zoned, tt.want, tt.wantZoned)
			}
		})
	}

	bad := []string{
		"", " ", "2014-12-21", "4/1/2014", "2014-12-21 08", "2014-12-21 08:5", "2014-12-21T08:05:09.",
		"2014-13-01 00:00", "2014-00-10 00:00", "2014-02-30 00:00", "2015-02-29 00:00", "4/31/2014 0:00",
		"2014-12-21 24:00", "2014-12-21 23:60", "2014-12-21 23:59:60", "4/1/14 0:11", "1/1/2014 0:00 XM",
		"4/1/2014 13:00 PM", "4/1/2014 0:00 AM", "1419138000", "yesterday", "2014-12-21T08:05:09+25:00",
		"2014-12-21T08:05:09+05:60", "2014-12-21 08:05:09 EST", "2014-12-21 08:05:09Z junk", "2014/12/21 08:05",
		"21.12.2014 08:05", "2014-12-21T08:05:09+5",
	}
	for _, s := range bad {
		if got, ok := parseTripTime(s); ok {
			t.Errorf("parseTripTime(%q) = %v, want a failure", s, got)
		}
	}
}

// A fraction finer than a nanosecond is cut to it, in the form events carry and in the
// looser ones alike.
func TestParseTripTimeFinerThanNanoseconds(t *testing.T) {
	want := time.Date(2014, 12, 21, 8, 5, 9, 123456789, time.UTC)
	for _, give := range []string{"2014-12-21T08:05:09.1234567891", "2014-12-21T08:05:09.123456789123Z", "2014-12-21 08:05:09.1234567891 UTC", "2014-12-21T08:05:09.1234567891-00"} {
		got, ok := parseTripTime(give)
		if !ok || !got.t.Equal(want) {
			t.Errorf("parseTripTime(%q) = %v, %v; want %v", give, got.t, ok, want)
		}
	}
}

// A zone-less time is the wall clock of the data's zone, through summer time too.
func TestTripTimeIn(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ give, want string }{
		{"2014-12-21 00:00:00", "2014-12-21T05:00:00Z"},  // EST
		{"4/1/2014 0:11:00", "2014-04-01T04:11:00Z"},     // EDT
		{"2014-04-01T00:11:00Z", "2014-04-01T00:11:00Z"}, // its own zone
	}
	for _, tt := range tests {
		tt0, ok := parseTripTime(tt.give)
		if !ok {
			t.Fatalf("%q did not parse", tt.give)
		}
		if got := tt0.in(ny).UTC().Format(time.RFC3339); got != tt.want {
			t.Errorf("%q in New York = %s, want %s", tt.give, got, tt.want)
		}
	}
}

func TestFindColumns(t *testing.T) {
	tests := []struct {
		name string
		give string // the header
		want [5]string
	}{
		{"nyc_20k", "request_id,o_lat,o_lon,d_lat,d_lon,departure_time,passengers",
			[5]string{"departure_time", "o_lat", "o_lon", "d_lat", "d_lon"}},
		{"uber 2014", "Date/Time,Lat,Lon,Base", [5]string{"Date/Time", "Lat", "Lon"}},
		{"taxi 2013, the duration is not the time", "medallion, hack_license, vendor_id, rate_code, store_and_fwd_flag, pickup_datetime, dropoff_datetime, passenger_count, trip_time_in_secs, trip_distance, pickup_longitude, pickup_latitude, dropoff_longitude, dropoff_latitude",
			[5]string{"pickup_datetime", "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"}},
		{"yellow taxi 2015", "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,pickup_longitude,pickup_latitude,RatecodeID,store_and_fwd_flag,dropoff_longitude,dropoff_latitude",
			[5]string{"tpep_pickup_datetime", "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"}},
		{"drop time first", "tpep_dropoff_datetime,tpep_pickup_datetime,Pickup_longitude,Pickup_latitude",
			[5]string{"tpep_pickup_datetime", "Pickup_latitude", "Pickup_longitude"}},
		{"bike share", "ride_id,rideable_type,started_at,ended_at,start_station_name,start_station_id,end_station_name,end_station_id,start_lat,start_lng,end_lat,end_lng,member_casual",
			[5]string{"started_at", "start_lat", "start_lng", "end_lat", "end_lng"}},
		{"bike share, older", "tripduration,starttime,stoptime,start station id,start station name,start station latitude,start station longitude,end station id,end station name,end station latitude,end station longitude",
			[5]string{"starttime", "start station latitude", "start station longitude", "end station latitude", "end station longitude"}},
		{"city portal", "Trip ID,Taxi ID,Trip Start Timestamp,Trip End Timestamp,Trip Seconds,Pickup Centroid Latitude,Pickup Centroid Longitude,Pickup Centroid Location,Dropoff Centroid Latitude,Dropoff Centroid Longitude",
			[5]string{"Trip Start Timestamp", "Pickup Centroid Latitude", "Pickup Centroid Longitude", "Dropoff Centroid Latitude", "Dropoff Centroid Longitude"}},
		{"camel case", "requestTime,pickupLat,pickupLng,dropoffLat,dropoffLng", [5]string{"requestTime", "pickupLat", "pickupLng", "dropoffLat", "dropoffLng"}},
		{"glued", "when,olat,olng,dlat,dlng", [5]string{"when", "olat", "olng", "dlat", "dlng"}},
		{"upper case", "DATETIME,LATITUDE,LONGITUDE", [5]string{"DATETIME", "LATITUDE", "LONGITUDE"}},
		{"byte-order mark and spaces", "\ufeff time , lat , lon ", [5]string{"time", "lat", "lon"}},
		{"pickup named over plain", "lat,lon,time,pickup_lat,pickup_lon", [5]string{"time", "pickup_lat", "pickup_lon"}},
		{"a drop latitude alone is no drop", "time,o_lat,o_lon,d_lat", [5]string{"time", "o_lat", "o_lon"}},
		{"pickup time over a plain date", "date,pickup_time,lat,lng", [5]string{"pickup_time", "lat", "lng"}},
		{"a zone column is not the time", "timezone,time,lat,long", [5]string{"time", "lat", "long"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := findColumns(strings.Split(tt.give, ","))
			if err != nil {
				t.Fatal(err)
			}
			got := [5]string{c.Time, c.PickupLat, c.PickupLng, c.DropLat, c.DropLng}
			if got != tt.want {
				t.Errorf("columns %q, want %q", got, tt.want)
			}
		})
	}

	refused := []struct{ give, want string }{
		{"request_id,o_lat,o_lon,d_lat,d_lon,passengers", "no time column"},
		{"dropoff_datetime,lat,lon", "no time column"},
		{"time,x,y", "no pickup latitude"},
		{"time,lat", "no pickup latitude"},
		{"time,d_lat,d_lon", "no pickup latitude"},
		{"4/1/2014 0:11:00,40.769,-73.9549", "no time column"},
	}
	for _, tt := range refused {
		if _, err := findColumns(strings.Split(tt.give, ",")); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("findColumns(%q) = %v, want an error saying %q", tt.give, err, tt.want)
		}
	}
}

// tripRows is a small trip file in the shape of nyc_20k.csv, out of order, with a bad
// row of every kind; keys are the good rows' numbers in time order.
const tripRows = `request_id,o_lat,o_lon,d_lat,d_lon,departure_time,passengers
0,40.720845,-73.99382,40.72655,-74.005622,2014-12-21 00:05:00,1
1,40.759487,-73.9807,40.747735,-73.985107,2014-12-21 00:00:00,1
2,40.75,-73.99,40.76,-73.98,2014-12-21 25:00:00,1
3,40.75,-73.99,40.76,,2014-12-21 00:01:00,1
4,40.75,abc,40.76,-73.98,2014-12-21 00:01:00,1
5,95.1,-73.99,40.76,-73.98,2014-12-21 00:01:00,1
6,0,0,40.76,-73.98,2014-12-21 00:01:00,1
7,40.75,-73.99,0,0,2014-12-21 00:01:00,1
8,40.731,-73.982,40.731,-73.982,2014-12-21 00:01:00,1
9,39.9526,-75.1652,40.76,-73.98,2014-12-21 00:01:00,1
10,40.75,-73.99,41.7,-71.6,2014-12-21 00:01:00,1
11,40.75
12,40.7271,-73.9936,40.7385,-73.9877,2014-12-21 00:00:00,1
13,40.7201,-73.9940,,,2014-12-21 00:02:30,1
14,NaN,-73.99,40.76,-73.98,2014-12-21 00:01:00,1
15,40.7580,-73.9855,40.7527,-73.9772,,1
`

var tripRowsSkipped = Skips{
	SkipMalformed:       1, // 11
	SkipBadTime:         2, // 2, 15
	SkipBadCoordinates:  4, // 3 (half a drop), 4, 5, 14
	SkipZeroCoordinates: 2, // 6, 7
	SkipZeroLength:      1, // 8
	SkipOutsideArea:     2, // 9 (Philadelphia), 10 (a drop in Rhode Island)
}

// tripRowsGood are the good rows of tripRows (numbered from 1) in time order.
var tripRowsGood = []int{2, 13, 14, 1}

// The same file however it is written: quoted or not, CRLF or LF, gzip or not.
func TestReadTripsEncodings(t *testing.T) {
	quoted := func(s string) string {
		var b strings.Builder
		for _, line := range strings.SplitAfter(s, "\n") {
			body := strings.TrimSuffix(line, "\n")
			if body == "" {
				b.WriteString(line)
				continue
			}
			fields := strings.Split(body, ",")
			for i, f := range fields {
				fields[i] = `"` + f + `"`
			}
			b.WriteString(strings.Join(fields, ","))
			if strings.HasSuffix(line, "\n") {
				b.WriteString("\n")
			}
		}
		return b.String()
	}
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	tests := []struct {
		name string
		give []byte
	}{
		{"plain", []byte(tripRows)},
		{"CRLF", []byte(crlf(tripRows))},
		{"quoted", []byte(quoted(tripRows))},
		{"quoted CRLF gzip", gzipped(t, crlf(quoted(tripRows)))},
		{"gzip", gzipped(t, tripRows)},
		{"no final newline", []byte(strings.TrimSuffix(tripRows, "\n"))},
		{"blank lines", []byte(strings.Replace(tripRows, "\n0,", "\n\n\n0,", 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := readTrips(bytes.NewReader(tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if f.rows != 16 {
				t.Errorf("%d rows read, want 16", f.rows)
			}
			if f.skipped != tripRowsSkipped {
				t.Errorf("skipped %v, want %v", f.skipped, tripRowsSkipped)
			}
			var rows []int
			for _, tr := range f.trips {
				rows = append(rows, tr.row)
			}
			if !slices.Equal(rows, tripRowsGood) {
				t.Fatalf("good rows %v, want %v in time order", rows, tripRowsGood)
			}
			if f.zone.String() != "America/New_York" || !f.zoneless {
				t.Errorf("zone %v (zone-less times: %v), want America/New_York", f.zone, f.zoneless)
			}
			// 00:00 in New York in December is 05:00 UTC.
			want := event.TimeOf(time.Date(2014, 12, 21, 5, 0, 0, 0, time.UTC))
			if f.trips[0].at != want || f.trips[2].at != want.Add(150*time.Second) {
				t.Errorf("times %v and %v, want %v and 2.5 minutes later", f.trips[0].at, f.trips[2].at, want)
			}
			first := f.trips[3]
			if first.pickup != (geo.Point{Lat: 40.720845, Lng: -73.99382}) || first.drop != (geo.Point{Lat: 40.72655, Lng: -74.005622}) || !first.hasDrop {
				t.Errorf("row 1 read as %+v", first)
			}
			if f.trips[2].hasDrop {
				t.Errorf("row 14, without a drop-off, has one: %+v", f.trips[2])
			}
		})
	}
}

func TestReadTripsUberShape(t *testing.T) {
	give := "\"Date/Time\",\"Lat\",\"Lon\",\"Base\"\r\n" +
		"\"4/1/2014 0:11:00\",40.769,-73.9549,\"B02512\"\r\n" +
		"\"4/1/2014 0:17:00\",40.7267,-74.0345,\"B02512\"\r\n" +
		"\"4/1/2014 0:21\",40.7316,-73.9873,\"B02512\"\r\n" +
		"\"4/1/2014 0:05:00\",40.7588,-73.9776,\"B02512\"\r\n" +
		"\"4/31/2014 0:05:00\",40.7588,-73.9776,\"B02512\"\r\n" +
		"\"4/1/2014 0:05:00\",42.1166,-72.0666,\"B02598\"\r\n" +
		"\"4/1/2014 0:05:00\",0.0,0.0,\"B02598\"\r\n" +
		"\"4/1/2014 0:05:00\",40.75\"88,-73.9776,\"B02598\"\r\n" + // a stray quote: read lazily, a bad number
		"\"4/1/2014 0:30:00\",40.7588,-73.9776,\"B02598\"\r\n"
	f, err := readTrips(bytes.NewReader(gzipped(t, give)))
	if err != nil {
		t.Fatal(err)
	}
	want := Skips{SkipBadTime: 1, SkipOutsideArea: 1, SkipZeroCoordinates: 1, SkipBadCoordinates: 1}
	if f.rows != 9 || f.skipped != want {
		t.Errorf("%d rows, skipped %v; want 9 and %v", f.rows, f.skipped, want)
	}
	if f.columns.HasDrop() || len(f.trips) != 5 || f.trips[0].row != 4 || f.trips[3].row != 3 || f.trips[4].row != 9 {
		t.Errorf("columns %+v, trips %+v", f.columns, f.trips)
	}
	// April is summer time: EDT, UTC-4.
	if got, want := f.trips[0].at, event.TimeOf(time.Date(2014, 4, 1, 4, 5, 0, 0, time.UTC)); got != want {
		t.Errorf("first time %v, want %v", got, want)
	}
}

// Times that name their zone are taken as they are, wherever the rides are.
func TestReadTripsZonedTimes(t *testing.T) {
	give := "time,lat,lng\n2026-03-01T08:00:00+05:30,19.0544,72.8413\n2026-03-01T02:31:00Z,19.1197,72.8464\n"
	f, err := readTrips(strings.NewReader(give))
	if err != nil {
		t.Fatal(err)
	}
	if f.zoneless || len(f.trips) != 2 || f.trips[0].at != event.TimeOf(time.Date(2026, 3, 1, 2, 30, 0, 0, time.UTC)) {
		t.Errorf("zone-less %v, trips %+v", f.zoneless, f.trips)
	}
	if f.zone.String() != "Asia/Kolkata" {
		t.Errorf("zone %v, want Asia/Kolkata for Mumbai", f.zone)
	}
}

// Rows dated far outside the span of a file's other rows are skipped: the replay would
// wait for them as long as they lie from the rest. Spread-out files keep every row.
func TestReadTripsOutsideSpan(t *testing.T) {
	// every lists n times step apart from start.
	every := func(start string, step time.Duration, n int) []string {
		t0, err := time.Parse(time.DateTime, start)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, n)
		for i := range out {
			out[i] = t0.Add(time.Duration(i) * step).Format(time.DateTime)
		}
		return out
	}
	day := every("2014-04-01 08:00:00", 2*time.Minute, 30) // 08:00 to 08:58
	tests := []struct {
		name string
		give []string
		want []string // the times skipped, in time order
	}{
		{"a day with a 2009 and a 2031 row", append(slices.Clone(day), "2031-04-01 08:30:00", "2009-04-01 08:30:00"),
			[]string{"2009-04-01 08:30:00", "2031-04-01 08:30:00"}},
		{"a row before, among 21", append(every("2014-04-01 08:00:00", time.Minute, 20), "2014-03-20 08:00:00"), []string{"2014-03-20 08:00:00"}},
		{"a row two days after", append(slices.Clone(day), "2014-04-03 08:00:00"), []string{"2014-04-03 08:00:00"}},
		{"a row the next morning is within a day", append(slices.Clone(day), "2014-04-02 07:00:00"), nil},
		{"a month, a row a day", every("2014-04-01 08:00:00", 24*time.Hour, 30), nil},
		{"a year, a row a fortnight", every("2014-01-01 08:00:00", 14*24*time.Hour, 26), nil},
		{"a tenth of the rows weeks later", append(every("2014-04-01 08:00:00", 2*time.Minute, 36), every("2014-04-20 08:00:00", 2*time.Minute, 4)...), nil},
		{"fewer than 20 rows are not judged", append(every("2014-04-01 08:00:00", 2*time.Minute, 10), "2031-04-01 08:30:00"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("time,lat,lng\n")
			for _, at := range tt.give {
				b.WriteString(at + ",40.7527,-73.9772\n")
			}
			f, err := readTrips(strings.NewReader(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			if want := (Skips{SkipOutsideSpan: len(tt.want)}); f.skipped != want {
				t.Errorf("skipped %v, want %v", f.skipped, want)
			}
			var got []string
			for _, tr := range f.outside {
				got = append(got, tr.at.Std().In(f.zone).Format(time.DateTime))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("skipped the rows of %q, want %q", got, tt.want)
			}
			if len(f.trips) != len(tt.give)-len(tt.want) || !slices.IsSortedFunc(f.trips, func(a, b trip) int { return cmpTime(a.at, b.at) }) {
				t.Errorf("kept %d rows, want %d in time order", len(f.trips), len(tt.give)-len(tt.want))
			}
			for _, tr := range f.trips {
				if tr.at < f.span[0] || tr.at > f.span[1] {
					t.Errorf("row %d, at %v, is kept outside the span %v", tr.row, tr.at, f.span)
				}
			}
		})
	}
}

func TestReadTripsRefuses(t *testing.T) {
	good := gzipped(t, tripRows)
	tests := []struct {
		name string
		give []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"no header", []byte("0,40.72,-73.99,40.72,-74.00,2014-12-21 00:05:00,1\n"), "no time column"},
		{"no coordinates", []byte("time,place\n2014-12-21 00:05:00,times square\n"), "no pickup latitude"},
		{"truncated gzip", good[:len(good)/2], "unexpected EOF"},
		{"corrupt gzip", append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{0xff}, 64)...), "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readTrips(bytes.NewReader(tt.give))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sharedData returns the path of a real trip file in the directory RIDEMATCH_DATA names,
// skipping the test without it (CI sets it).
func sharedData(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("RIDEMATCH_DATA")
	if dir == "" {
		t.Skip("RIDEMATCH_DATA names no directory of real trip files")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s: %v", p, err)
	}
	return p
}

// The two real trip files (RIDEMATCH_DATA): New York taxi requests and Uber pickups.
func TestReadSharedData(t *testing.T) {
	tests := []struct {
		file        string
		wantRows    int
		wantColumns [5]string
		wantReasons []SkipReason // the only reasons rows are skipped for
		maxSkipped  int
		wantFirst   string // file time of the first and last rows, New York time
		wantLast    string
	}{
		{"nyc_20k.csv", 19_979, [5]string{"departure_time", "o_lat", "o_lon", "d_lat", "d_lon"},
			[]SkipReason{SkipZeroLength, SkipOutsideArea}, 300, "2014-12-21 00:00:00 EST", "2014-12-21 23:59:00 EST"},
		{"uber-raw-data-apr14.csv.gz", 564_516, [5]string{"Date/Time", "Lat", "Lon"},
			[]SkipReason{SkipOutsideArea}, 1000, "2014-04-01 00:00:00 EDT", "2014-04-30 23:59:00 EDT"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Replay = sharedData(t, tt.file)
			rp, err := LoadReplay(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := rp.Counts()
			t.Logf("%d rows, skipped %s, %d to replay, %d drops made up, zone %s, %s to %s", c.Rows, c.Skipped, c.Requests, c.MadeUpDrops, c.Zone, c.First, c.Last)
			if c.Rows != tt.wantRows {
				t.Errorf("%d rows read, want %d", c.Rows, tt.wantRows)
			}
			if got := [5]string{c.Columns.Time, c.Columns.PickupLat, c.Columns.PickupLng, c.Columns.DropLat, c.Columns.DropLng}; got != tt.wantColumns {
				t.Errorf("columns %q, want %q", got, tt.wantColumns)
			}
			for r, n := range c.Skipped {
				if want := slices.Contains(tt.wantReasons, SkipReason(r)); want != (n > 0) {
					t.Errorf("%d rows skipped as %s", n, SkipReason(r))
				}
			}
			if n := c.Skipped.Total(); n > tt.maxSkipped || c.Requests != c.Rows-n {
				t.Errorf("%d skipped (at most %d expected) and %d to replay of %d", n, tt.maxSkipped, c.Requests, c.Rows)
			}
			if c.Zone != "America/New_York" {
				t.Errorf("zone-less times read in %q", c.Zone)
			}
			layout := "2006-01-02 15:04:05 MST"
			if c.First.Format(layout) != tt.wantFirst || c.Last.Format(layout) != tt.wantLast {
				t.Errorf("rows from %s to %s, want %s to %s", c.First.Format(layout), c.Last.Format(layout), tt.wantFirst, tt.wantLast)
			}
			if !slices.IsSortedFunc(rp.trips, func(a, b trip) int { return cmpTime(a.at, b.at) }) {
				t.Error("the trips are not in time order")
			}
			if tt.wantColumns[3] == "" && c.MadeUpDrops != c.Requests {
				t.Errorf("%d drops made up for %d requests without one", c.MadeUpDrops, c.Requests)
			}
			for _, tr := range rp.trips {
				if d := geo.DistanceKM(tr.pickup, tr.drop); d < minTripKM || geo.DistanceKM(c.Center, tr.pickup) > areaKM || geo.DistanceKM(c.Center, tr.drop) > areaKM+maxDropKM {
					t.Fatalf("row %d: a %.2f km trip from %v to %v", tr.row, d, tr.pickup, tr.drop)
				}
			}
		})
	}
}
