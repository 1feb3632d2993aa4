package event

import (
	"errors"
	"math"
	"time"
)

// Time is an event time in microseconds since the Unix epoch, UTC. The reference's
// isoformat timestamps carry microseconds, so nothing is lost, and integer time keeps the
// state machines free of time.Time's wall/monotonic subtleties.
type Time int64

// The sane range of event times: the engine accepts no timestamp outside [MinTime,
// MaxTime) from outside (ValidTime), so every time it holds, and every sum and difference
// of them, is far from where int64 microseconds or nanoseconds overflow.
var (
	MinTime = Time(daysFromCivil(2000, 1, 1) * 86400 * 1e6) // 2000-01-01T00:00:00Z
	MaxTime = Time(daysFromCivil(2100, 1, 1) * 86400 * 1e6) // 2100-01-01T00:00:00Z
)

// Valid reports whether t lies in the sane range [MinTime, MaxTime).
func (t Time) Valid() bool { return t >= MinTime && t < MaxTime }

// TimeOf converts a time.Time; times beyond what int64 microseconds hold saturate.
func TimeOf(t time.Time) Time {
	const limit = math.MaxInt64 / 1000
	switch ms := t.UnixMilli(); {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return Time(t.UnixMicro())
}

// Std converts to a time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMicro(int64(t)).UTC() }

// Add returns t+d, saturating at the ends of Time's range rather than wrapping.
func (t Time) Add(d time.Duration) Time { return t.plus(int64(d / time.Microsecond)) }

func (t Time) plus(us int64) Time {
	s := int64(t) + us // wraps on overflow, which the checks below catch
	switch {
	case us > 0 && s < int64(t):
		return math.MaxInt64
	case us < 0 && s > int64(t):
		return math.MinInt64
	}
	return Time(s)
}

// Sub returns t-u, saturating at the largest or smallest time.Duration (about 292 years)
// rather than wrapping: the difference of two far-apart times keeps its sign and stays
// larger than any bound it is compared with.
func (t Time) Sub(u Time) time.Duration {
	const most = math.MaxInt64 / int64(time.Microsecond)
	d := int64(t) - int64(u) // wraps on overflow
	if (t >= 0) != (u >= 0) && (d >= 0) != (t >= 0) {
		d = math.MaxInt64
		if t < 0 {
			d = math.MinInt64
		}
	}
	switch {
	case d > most:
		return math.MaxInt64
	case d < -most:
		return math.MinInt64
	}
	return time.Duration(d) * time.Microsecond
}

// Millis is t in milliseconds, the unit of Kafka record timestamps.
func (t Time) Millis() int64 { return int64(t) / 1000 }

// FromMillis converts a Kafka record timestamp, saturating like TimeOf.
func FromMillis(ms int64) Time {
	const limit = math.MaxInt64 / 1000
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return Time(ms * 1000)
}

// String is the RFC 3339 form with microseconds, for logs and tests.
func (t Time) String() string { return string(t.AppendISO(nil)) }

// AppendISO appends t as RFC 3339 in UTC with six fractional digits, a form both Go and
// Python's datetime.fromisoformat read back exactly. A time outside years 0000-9999, which
// has no such form, is written as the nearest that has: nothing the engine holds comes
// near them (Valid), but what it writes must always parse.
func (t Time) AppendISO(b []byte) []byte {
	us := min(max(int64(t), minSecs*1e6), maxSecs*1e6-1)
	secs, frac := us/1e6, us%1e6
	if frac < 0 {
		secs, frac = secs-1, frac+1e6
	}
	days, rem := secs/86400, secs%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	y, m, d := civil(days)
	b = appendInt(b, y, 4)
	b = append(b, '-')
	b = appendInt(b, m, 2)
	b = append(b, '-')
	b = appendInt(b, d, 2)
	b = append(b, 'T')
	b = appendInt(b, rem/3600, 2)
	b = append(b, ':')
	b = appendInt(b, rem/60%60, 2)
	b = append(b, ':')
	b = appendInt(b, rem%60, 2)
	b = append(b, '.')
	b = appendInt(b, frac, 6)
	return append(b, 'Z')
}

func appendInt(b []byte, v int64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for v > 0 || width > 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	return append(b, buf[i:]...)
}

// ErrTimestamp is wrapped by every timestamp parse error.
var ErrTimestamp = errors.New("timestamp is not ISO 8601")

// ParseTime reads RFC 3339 ("2026-11-25T19:00:00.123Z", "+05:30" offsets) and Python's
// isoformat() without a zone ("2026-11-25T19:00:00.123456"), which is read as UTC. A space
// may stand for the T, as in str(datetime). Fractions beyond microseconds are truncated.
func ParseTime(s string) (Time, error) {
	us, _, _, ok := parseISO(s)
	if !ok {
		return 0, ErrTimestamp
	}
	return Time(us), nil
}

// ParseWallTime reads what ParseTime reads, to the nanosecond, and says whether s named
// its zone or offset. A time that did is returned as the instant, in UTC; one that did not
// as the wall-clock reading in t's UTC fields, for a caller that knows where it was taken
// (the zone of a trip file's city) to place.
func ParseWallTime(s string) (t time.Time, zoned bool, err error) {
	us, ns, zoned, ok := parseISO(s)
	if !ok {
		return time.Time{}, false, ErrTimestamp
	}
	return time.Unix(us/1e6, us%1e6*1e3+ns).UTC(), zoned, nil
}

// parseISO reads the form ParseTime documents: microseconds since the epoch, less the
// offset when s names one (zoned), and the nanoseconds past them, truncated.
func parseISO(s string) (us, ns int64, zoned, ok bool) {
	// YYYY-MM-DDTHH:MM:SS is 19 bytes.
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return 0, 0, false, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 59 {
		return 0, 0, false, false
	}
	rest := s[19:]
	var nanos int64
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 9 {
				nanos = nanos*10 + int64(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return 0, 0, false, false
		}
		for d := n - 1; d < 9; d++ {
			nanos *= 10 // fewer than nine digits: scale up to nanoseconds
		}
		rest = rest[n:]
	}
	var offset int64
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
		zoned = true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, 0, false, false
		}
		offset, zoned = oh*3600+om*60, true
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, false, false
	}
	secs := daysFromCivil(y, mo, d)*86400 + h*3600 + mi*60 + sec - offset
	// An offset can carry a time across year 0 or 9999: such a time has no four-digit
	// form to be written back in.
	if secs < minSecs || secs >= maxSecs {
		return 0, 0, false, false
	}
	return secs*1e6 + nanos/1e3, nanos % 1e3, zoned, true
}

var (
	minSecs = daysFromCivil(0, 1, 1) * 86400
	maxSecs = daysFromCivil(10000, 1, 1) * 86400
)

func digits(s string) (int64, bool) {
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil and civil are Howard Hinnant's proleptic Gregorian algorithms.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civil(z int64) (y, m, d int64) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}
