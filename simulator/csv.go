package simulator

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"ridematch/event"
	"ridematch/geo"
)

// SkipReason says why a row of a trip file was not replayed.
type SkipReason uint8

// Why rows are skipped. A row is counted once, under the first reason it meets, in this
// order.
const (
	// SkipMalformed is a line the CSV reader cannot read, or one with too few fields.
	SkipMalformed SkipReason = iota
	// SkipBadTime is a time that is empty or in none of the formats read.
	SkipBadTime
	// SkipBadCoordinates is a coordinate that is empty, not a number, or off the globe.
	SkipBadCoordinates
	// SkipZeroCoordinates is a pickup or drop at (0,0), what a missing GPS fix exports as.
	SkipZeroCoordinates
	// SkipZeroLength is a trip whose drop is within minTripKM of its pickup.
	SkipZeroLength
	// SkipOutsideArea is a pickup or drop more than areaKM from the centre of the file's
	// demand: a ride in another city, or a bad fix.
	SkipOutsideArea
	// SkipOutsideSpan is a time far outside the file's main span (see outsideSpan): a
	// replay would wait for it as long as it lies from the others, years for a bad date.
	SkipOutsideSpan

	numSkipReasons
)

var skipNames = [numSkipReasons]string{"malformed", "bad_time", "bad_coordinates", "zero_coordinates", "zero_length", "outside_area", "outside_span"}

func (r SkipReason) String() string {
	if r < numSkipReasons {
		return skipNames[r]
	}
	return "unknown"
}

// SkipReasons lists every reason, in the order rows are checked.
func SkipReasons() []SkipReason {
	out := make([]SkipReason, numSkipReasons)
	for i := range out {
		out[i] = SkipReason(i)
	}
	return out
}

// Skips counts skipped rows by reason.
type Skips [numSkipReasons]int

// Total is the number of rows skipped.
func (s Skips) Total() int {
	n := 0
	for _, c := range s {
		n += c
	}
	return n
}

// String lists the reasons with rows, as "zero_length 179, outside_area 1", or "none".
func (s Skips) String() string {
	var b strings.Builder
	for r, n := range s {
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", SkipReason(r), n)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

const (
	// minTripKM: a trip shorter than this is a fix exported twice, not a ride.
	minTripKM = 0.05
	// areaKM is how far from the centre of a file's demand (the median pickup) a pickup or
	// drop may lie: a metropolitan area with its airports (JFK is 21 km from midtown
	// Manhattan, Newark 16 km), not the next city.
	areaKM = 50.0
	// spanTail is the share of a file's rows, at each end of its timeline, left out of its
	// main span; minSpanMargin is the least margin around that span (see outsideSpan).
	spanTail      = 20 // one row in 20: the span runs from the 5th to the 95th percentile
	minSpanMargin = 24 * time.Hour
)

// TripColumns are the header names a trip file's columns were found under. The drop
// names are empty when the file has no drop-offs.
type TripColumns struct {
	Time, PickupLat, PickupLng, DropLat, DropLng string

	idx [5]int // their positions: time, pickup lat, lng, drop lat, lng; -1 when absent
}

// HasDrop reports whether the file names drop-off columns.
func (c TripColumns) HasDrop() bool { return c.DropLat != "" }

// trip is one good row of a trip file.
type trip struct {
	row     int        // the data row, from 1, not counting the header
	at      event.Time // when it was requested
	pickup  geo.Point
	drop    geo.Point
	hasDrop bool
}

// tripFile is what reading a trip file found: its good rows in time order, and what
// happened to the others.
type tripFile struct {
	columns  TripColumns
	trips    []trip
	rows     int // data rows read, good and bad
	skipped  Skips
	center   geo.Point      // the median pickup
	zone     *time.Location // where times without a zone were read
	zoneless bool           // some times named no zone
	// span is the times a row may have; outside are the first few rows skipped as
	// outside it, in time order.
	span    [2]event.Time
	outside []trip
}

// maxOutsideKept bounds the rows outside the span kept to name in a warning.
const maxOutsideKept = 5

// readTrips reads a trip file: CSV, plain or gzip (told by its first bytes), with a
// header naming its columns. Rows may come in any order; the good ones are returned in
// time order (ties in file order), the bad ones counted by reason. Times that name no
// zone are read in the zone of the demand's centre (geo.Zones).
func readTrips(r io.Reader) (*tripFile, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); looksGzipped(magic) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip: %w", err)
		}
		defer gz.Close()
		in = bufio.NewReaderSize(gz, 256<<10)
	}
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1 // rows of the wrong length are counted, not fatal
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return nil, errors.New("the file is empty")
	case err != nil:
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	cols, err := findColumns(header)
	if err != nil {
		return nil, err
	}

	f := &tripFile{columns: cols}
	rows, err := f.readRows(cr)
	if err != nil {
		return nil, err
	}
	f.keepInArea(rows)
	slices.SortFunc(f.trips, func(a, b trip) int {
		if a.at != b.at {
			return cmpTime(a.at, b.at)
		}
		return a.row - b.row
	})
	var outside []trip
	f.trips, outside, f.span = outsideSpan(f.trips)
	f.skipped[SkipOutsideSpan] = len(outside)
	f.outside = slices.Clone(outside[:min(len(outside), maxOutsideKept)])
	return f, nil
}

// tripRow is a good row with its time as read, kept until the zone of the zone-less
// times is known.
type tripRow struct {
	trip
	when tripTime
}

// readRows reads the data rows after the header: the good ones it returns, the bad ones
// it counts by reason.
func (f *tripFile) readRows(cr *csv.Reader) ([]tripRow, error) {
	need := slices.Max(f.columns.idx[:]) + 1
	var rows []tripRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("reading row %d: %w", f.rows+1, err)
			}
			f.rows++
			f.skipped[SkipMalformed]++
			continue
		}
		f.rows++
		if len(rec) < need {
			f.skipped[SkipMalformed]++
			continue
		}
		row, why := f.columns.read(rec)
		if why != skipNone {
			f.skipped[why]++
			continue
		}
		row.row = f.rows
		f.zoneless = f.zoneless || !row.when.zoned
		rows = append(rows, row)
	}
}

// read reads the time, pickup and drop of a row that has all its columns, or says why
// the row is skipped.
func (c TripColumns) read(rec []string) (tripRow, SkipReason) {
	when, ok := parseTripTime(rec[c.idx[0]])
	if !ok {
		return tripRow{}, SkipBadTime
	}
	t := tripRow{when: when}
	var why SkipReason
	if t.pickup, why = parsePoint(rec[c.idx[1]], rec[c.idx[2]]); why != skipNone {
		return tripRow{}, why
	}
	if c.HasDrop() {
		lat, lng := strings.TrimSpace(rec[c.idx[3]]), strings.TrimSpace(rec[c.idx[4]])
		// A row without its drop-off is still a request: the replay makes one up.
		if lat != "" || lng != "" {
			if t.drop, why = parsePoint(lat, lng); why != skipNone {
				return tripRow{}, why
			}
			if geo.DistanceKM(t.pickup, t.drop) < minTripKM {
				return tripRow{}, SkipZeroLength
			}
			t.hasDrop = true
		}
	}
	return t, skipNone
}

// keepInArea finds the centre of the demand and its zone, and keeps as trips the rows
// within areaKM of it, their times placed in that zone. The median pickup is the centre:
// a few far-off rows move it nowhere.
func (f *tripFile) keepInArea(rows []tripRow) {
	lats, lngs := make([]float64, len(rows)), make([]float64, len(rows))
	for i, p := range rows {
		lats[i], lngs[i] = p.pickup.Lat, p.pickup.Lng
	}
	f.center = geo.Point{Lat: median(lats), Lng: median(lngs)}
	f.zone = time.UTC
	if len(rows) > 0 {
		f.zone = geo.NewZones().At(f.center)
	}
	f.trips = make([]trip, 0, len(rows))
	for _, p := range rows {
		if geo.DistanceKM(f.center, p.pickup) > areaKM || (p.hasDrop && geo.DistanceKM(f.center, p.drop) > areaKM) {
			f.skipped[SkipOutsideArea]++
			continue
		}
		p.at = event.TimeOf(p.when.in(f.zone))
		f.trips = append(f.trips, p.trip)
	}
}

// outsideSpan splits trips, in time order, into those within the file's main time span
// and those far outside it. The main span runs from the 5th to the 95th percentile of the
// times; a row is far outside when it lies further before or after that span than the
// span is long, and at least a day. So a handful of rows dated years off (a 2009 row in
// a day of April 2014) move the span nowhere and are cut, while a file spread over a
// month or a year keeps every row. A file of fewer than spanTail rows has no tail to
// leave out, and keeps every row. It returns the rows kept, the rows outside (both in
// time order) and the span kept, margins included.
func outsideSpan(trips []trip) (kept, outside []trip, span [2]event.Time) {
	n := len(trips)
	if n == 0 {
		return trips, nil, span
	}
	k := n / spanTail
	lo, hi := trips[k].at, trips[n-1-k].at
	// In event.Time, microseconds: a time.Duration between years 1 and 9999 overflows.
	margin := max(hi-lo, event.Time(minSpanMargin/time.Microsecond))
	span = [2]event.Time{lo - margin, hi + margin}
	i, _ := slices.BinarySearchFunc(trips, span[0], func(t trip, at event.Time) int { return cmpTime(t.at, at) })
	j, _ := slices.BinarySearchFunc(trips, span[1]+1, func(t trip, at event.Time) int { return cmpTime(t.at, at) })
	outside = append(slices.Clone(trips[:i]), trips[j:]...)
	return trips[i:j], outside, span
}

func cmpTime(a, b event.Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// median of xs, which it sorts; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

const skipNone = numSkipReasons

// parsePoint reads a latitude and a longitude in degrees.
func parsePoint(lat, lng string) (geo.Point, SkipReason) {
	y, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	x, err2 := strconv.ParseFloat(strings.TrimSpace(lng), 64)
	p := geo.Point{Lat: y, Lng: x}
	switch {
	case err1 != nil || err2 != nil:
		return p, SkipBadCoordinates
	case y == 0 && x == 0:
		return p, SkipZeroCoordinates
	case !p.Valid():
		return p, SkipBadCoordinates
	}
	return p, skipNone
}

// Column names are read as words: "Date/Time" is date, time; "tpep_pickup_datetime" is
// tpep, pickup, datetime; "pickupLatitude" is pickup, latitude. A word says which end of
// the trip a column is about, and what it holds.
var (
	pickupWords = wordSet("o", "orig", "origin", "pickup", "pick", "pu", "start", "started", "begin",
		"from", "src", "source", "departure", "depart", "request", "requested", "created", "ordered", "booked")
	dropWords = wordSet("d", "dest", "destination", "dropoff", "drop", "do", "end", "ended", "stop",
		"to", "dst", "arrival", "arrive", "arrived", "finish", "finished", "completed")
	latWords  = wordSet("lat", "latitude")
	lngWords  = wordSet("lon", "lng", "long", "longitude")
	timeWords = wordSet("time", "date", "datetime", "timestamp", "ts", "dt", "when")
	// Words that make a column a duration or a zone, not a moment: "trip_time_in_secs".
	notTimeWords = wordSet("duration", "secs", "sec", "seconds", "minutes", "mins", "elapsed",
		"zone", "timezone", "tz", "offset", "in")
)

func wordSet(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// columnWords splits a header name into lower-case words, at anything not a letter or
// digit and at camel-case humps; a word glued to a trip end ("olat", "starttime",
// "pickupdatetime") is split too.
func columnWords(name string) []string {
	rs := []rune(strings.TrimPrefix(strings.TrimSpace(name), "\ufeff"))
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	var out []string
	for _, w := range words {
		out = append(out, splitGlued(w)...)
	}
	return out
}

// splitGlued splits "olat" into o, lat and "starttime" into start, time, when the head
// names a trip end and the tail what a column holds.
func splitGlued(w string) []string {
	for _, tails := range []map[string]bool{latWords, lngWords, timeWords} {
		for tail := range tails {
			head, ok := strings.CutSuffix(w, tail)
			if ok && head != "" && (pickupWords[head] || dropWords[head]) {
				return []string{head, tail}
			}
		}
	}
	return []string{w}
}

type tripEnd uint8

const (
	eitherEnd tripEnd = iota // the column names no end: "Lat", "Date/Time"
	pickupEnd
	dropEnd
)

// classify says which end of the trip a column is about and whether it holds a latitude,
// a longitude or a time.
func classify(name string) (end tripEnd, lat, lng, isTime bool) {
	words := columnWords(name)
	var pick, drop, timeWord, notTime, at bool
	for _, w := range words {
		switch {
		case pickupWords[w]:
			pick = true
		case dropWords[w]:
			drop = true
		case latWords[w]:
			lat = true
		case lngWords[w]:
			lng = true
		case timeWords[w]:
			timeWord = true
		case notTimeWords[w]:
			notTime = true
		case w == "at":
			at = true
		}
	}
	switch {
	case pick && drop:
		return eitherEnd, false, false, false // "from_to_lat": ambiguous, not used
	case pick:
		end = pickupEnd
	case drop:
		end = dropEnd
	}
	// "started_at", "requested_at": the word "at" means a time only after a trip end.
	isTime = (timeWord || (at && end != eitherEnd)) && !notTime && !lat && !lng
	if lat && lng {
		lat, lng = false, false
	}
	return end, lat, lng, isTime
}

// findColumns finds the time, pickup and drop columns of a header: the first column of
// each kind, a pickup-named one before one that names no end. A time column about the
// drop ("dropoff_datetime") is never the request's time.
func findColumns(header []string) (TripColumns, error) {
	const none = -1
	var (
		timeAt, timeScore                  = none, 0
		pLat, pLng, eLat, eLng, dLat, dLng = none, none, none, none, none, none
	)
	first := func(p *int, i int) {
		if *p == none {
			*p = i
		}
	}
	for i, name := range header {
		end, lat, lng, isTime := classify(name)
		switch {
		case isTime && end != dropEnd:
			score := 1
			if end == pickupEnd {
				score = 2
			}
			if score > timeScore {
				timeAt, timeScore = i, score
			}
		case lat && end == pickupEnd:
			first(&pLat, i)
		case lng && end == pickupEnd:
			first(&pLng, i)
		case lat && end == eitherEnd:
			first(&eLat, i)
		case lng && end == eitherEnd:
			first(&eLng, i)
		case lat && end == dropEnd:
			first(&dLat, i)
		case lng && end == dropEnd:
			first(&dLng, i)
		}
	}
	if pLat == none || pLng == none {
		pLat, pLng = eLat, eLng
	}
	names := func() string { return strings.Join(header, ", ") }
	switch {
	case timeAt == none:
		return TripColumns{}, fmt.Errorf("the header names no time column (such as time, date, Date/Time, departure_time, pickup_datetime, started_at): %s", names())
	case pLat == none || pLng == none:
		return TripColumns{}, fmt.Errorf("the header names no pickup latitude and longitude columns (such as Lat and Lon, o_lat and o_lon, pickup_latitude and pickup_longitude, start_lat and start_lng): %s", names())
	}
	clean := func(i int) string {
		if i == none {
			return ""
		}
		return strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	if dLat == none || dLng == none {
		dLat, dLng = none, none
	}
	return TripColumns{
		Time: clean(timeAt), PickupLat: clean(pLat), PickupLng: clean(pLng), DropLat: clean(dLat), DropLng: clean(dLng),
		idx: [5]int{timeAt, pLat, pLng, dLat, dLng},
	}, nil
}

// tripTime is a time read from a trip file: an instant when it named its zone or offset,
// else a wall-clock reading, kept in t's UTC fields for the data's zone to place.
type tripTime struct {
	t     time.Time
	zoned bool
}

// in returns the instant, reading a zone-less time in loc.
func (tt tripTime) in(loc *time.Location) time.Time {
	if tt.zoned {
		return tt.t
	}
	t := tt.t
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

// parseTripTime reads the times trip files hold:
//
//	ISO 8601: 2014-12-21 08:05:00, 2014-12-21T08:05, 2014-12-21T08:05:00.250Z,
//	          2014-12-21T08:05:00-05:00 (or -0500, -05, or a trailing UTC)
//	US:       4/1/2014 0:11:00, 04/01/2014 0:11, 4/1/2014 12:11:00 AM
//
// with a T or spaces between date and time, and a fraction of a second after a dot or
// comma, read to the nanosecond. A time without a zone is a local wall-clock reading.
// The form events carry is read as events read it (event.ParseWallTime); the scanner
// reads the looser forms only trip files hold.
func parseTripTime(s string) (tripTime, bool) {
	s = strings.TrimSpace(s)
	if t, zoned, err := event.ParseWallTime(s); err == nil {
		return tripTime{t: t, zoned: zoned}, true
	}
	p := timeScanner{s: s}
	var y, mo, d int
	var ok bool
	if len(p.s) > 4 && p.s[4] == '-' {
		y, ok = p.digits(4, 4)
		ok = ok && p.lit('-')
		mo, ok = p.digitsAnd(ok, 1, 2)
		ok = ok && p.lit('-')
		d, ok = p.digitsAnd(ok, 1, 2)
		ok = ok && (p.lit('T') || p.lit('t') || p.spaces())
	} else {
		mo, ok = p.digits(1, 2)
		ok = ok && p.lit('/')
		d, ok = p.digitsAnd(ok, 1, 2)
		ok = ok && p.lit('/')
		y, ok = p.digitsAnd(ok, 4, 4)
		ok = ok && p.spaces()
	}
	p.spaces()
	h, ok := p.digitsAnd(ok, 1, 2)
	ok = ok && p.lit(':')
	mi, ok := p.digitsAnd(ok, 2, 2)
	if !ok {
		return tripTime{}, false
	}
	var sec, ns int
	if p.lit(':') {
		if sec, ok = p.digits(2, 2); !ok {
			return tripTime{}, false
		}
		if p.lit('.') || p.lit(',') {
			start := p.i
			frac, ok := p.digits(1, 9)
			if !ok {
				return tripTime{}, false
			}
			ns = frac
			for range 9 - (p.i - start) {
				ns *= 10
			}
			p.skipDigits() // finer than a nanosecond, dropped as event.ParseWallTime drops it
		}
	}
	p.spaces()
	switch strings.ToUpper(p.rest()) {
	case "AM", "A.M.":
		if h < 1 || h > 12 {
			return tripTime{}, false
		}
		h %= 12
		p.i = len(p.s)
	case "PM", "P.M.":
		if h < 1 || h > 12 {
			return tripTime{}, false
		}
		h = h%12 + 12
		p.i = len(p.s)
	}
	if h > 23 || mi > 59 || sec > 59 || mo < 1 || mo > 12 || d < 1 {
		return tripTime{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d {
		return tripTime{}, false // 31 April
	}
	if p.i == len(p.s) {
		return tripTime{t: t}, true
	}
	offset, ok := p.zone()
	if !ok || p.i != len(p.s) {
		return tripTime{}, false
	}
	return tripTime{t: t.Add(-offset), zoned: true}, true
}

type timeScanner struct {
	s string
	i int
}

func (p *timeScanner) rest() string { return p.s[p.i:] }

func (p *timeScanner) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *timeScanner) spaces() bool {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	return p.i > start
}

// digits reads min to max decimal digits.
func (p *timeScanner) digits(min, max int) (int, bool) {
	n, start := 0, p.i
	for p.i < len(p.s) && p.i-start < max && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		n = n*10 + int(p.s[p.i]-'0')
		p.i++
	}
	return n, p.i-start >= min
}

func (p *timeScanner) skipDigits() {
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
}

// digitsAnd reads digits if ok.
func (p *timeScanner) digitsAnd(ok bool, min, max int) (int, bool) {
	if !ok {
		return 0, false
	}
	return p.digits(min, max)
}

// zone reads Z, UTC, GMT or an offset: +05:30, -0500, -05.
func (p *timeScanner) zone() (time.Duration, bool) {
	switch r := strings.ToUpper(p.rest()); r {
	case "Z", "UTC", "GMT":
		p.i = len(p.s)
		return 0, true
	}
	sign := time.Duration(1)
	switch {
	case p.lit('+'):
	case p.lit('-'):
		sign = -1
	default:
		return 0, false
	}
	h, ok := p.digits(2, 2)
	if !ok || h > 23 {
		return 0, false
	}
	var m int
	if p.i < len(p.s) {
		p.lit(':')
		if m, ok = p.digits(2, 2); !ok || m > 59 {
			return 0, false
		}
	}
	return sign * (time.Duration(h)*time.Hour + time.Duration(m)*time.Minute), true
}

// looksGzipped reports whether b starts as a gzip stream does.
func looksGzipped(b []byte) bool { return bytes.HasPrefix(b, []byte{0x1f, 0x8b}) }
