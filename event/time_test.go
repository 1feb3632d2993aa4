package event

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// mustUTC parses an RFC 3339 time for a table's want column.
func mustUTC(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad want %q: %v", s, err)
	}
	return v.UTC()
}

// stdLayouts are the time.Parse layouts that read the same strings ParseTime does, for a
// second opinion. Naive forms parse as UTC, as ParseTime reads them.
var stdLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
}

// parseTimeCase is a string ParseTime reads, or refuses.
type parseTimeCase struct {
	name string
	give string
	want string // RFC 3339 in UTC; empty when ParseTime must refuse give
}

// parseTimeCases are TestParseTime's table; the schema agreement test sends each as an
// event's timestamp (InputCorpus).
func parseTimeCases() []parseTimeCase {
	return []parseTimeCase{
		// RFC 3339 with a zone.
		{"utc", "2026-11-25T19:00:00Z", "2026-11-25T19:00:00Z"},
		{"utc millis", "2026-11-25T19:00:00.123Z", "2026-11-25T19:00:00.123Z"},
		{"utc micros", "2026-11-25T19:00:00.123456Z", "2026-11-25T19:00:00.123456Z"},
		{"lower case t and z", "2026-11-25t19:00:00.5z", "2026-11-25T19:00:00.5Z"},
		{"india offset", "2026-11-25T19:00:00+05:30", "2026-11-25T13:30:00Z"},
		{"india offset across midnight", "2026-11-25T01:00:00.25+05:30", "2026-11-24T19:30:00.25Z"},
		{"new york offset", "2026-11-25T19:00:00.5-04:00", "2026-11-25T23:00:00.5Z"},
		{"negative offset across new year", "2026-12-31T22:00:00-04:00", "2027-01-01T02:00:00Z"},
		{"zero offset", "2026-11-25T19:00:00+00:00", "2026-11-25T19:00:00Z"},
		{"minus zero offset", "2026-11-25T19:00:00-00:00", "2026-11-25T19:00:00Z"},
		{"largest offset", "2026-11-25T19:00:00+23:59", "2026-11-24T19:01:00Z"},
		{"offset with fraction", "2026-11-25T19:00:00.123456-04:00", "2026-11-25T23:00:00.123456Z"},

		// Python's isoformat() without a zone: UTC, 0 to 6 fractional digits.
		{"naive 0 digits", "2026-11-25T19:00:00", "2026-11-25T19:00:00Z"},
		{"naive 1 digit", "2026-11-25T19:00:00.1", "2026-11-25T19:00:00.1Z"},
		{"naive 2 digits", "2026-11-25T19:00:00.12", "2026-11-25T19:00:00.12Z"},
		{"naive 3 digits", "2026-11-25T19:00:00.123", "2026-11-25T19:00:00.123Z"},
		{"naive 4 digits", "2026-11-25T19:00:00.1234", "2026-11-25T19:00:00.1234Z"},
		{"naive 5 digits", "2026-11-25T19:00:00.12345", "2026-11-25T19:00:00.12345Z"},
		{"naive 6 digits", "2026-11-25T19:00:00.123456", "2026-11-25T19:00:00.123456Z"},
		{"naive leading zero fraction", "2026-11-25T19:00:00.000001", "2026-11-25T19:00:00.000001Z"},
		{"7 digits truncate", "2026-11-25T19:00:00.1234567", "2026-11-25T19:00:00.123456Z"},
		{"9 digits truncate, not round", "2026-11-25T19:00:00.999999999", "2026-11-25T19:00:00.999999Z"},
		{"many digits with zone", "2026-11-25T19:00:00.12345678901234567890Z", "2026-11-25T19:00:00.123456Z"},
		{"comma fraction", "2026-11-25T19:00:00,5", "2026-11-25T19:00:00.5Z"},
		{"space for T", "2026-11-25 19:00:00.123456", "2026-11-25T19:00:00.123456Z"},
		{"space for T with zone", "2026-11-25 19:00:00+05:30", "2026-11-25T13:30:00Z"},

		// Calendar edges.
		{"leap day", "2028-02-29T12:00:00", "2028-02-29T12:00:00Z"},
		{"leap day of a 400 year", "2000-02-29T00:00:00", "2000-02-29T00:00:00Z"},
		{"epoch", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
		{"just before the epoch", "1969-12-31T23:59:59.999999", "1969-12-31T23:59:59.999999Z"},
		{"long before the epoch", "1901-03-04T05:06:07.080910", "1901-03-04T05:06:07.08091Z"},
		{"end of day", "2026-12-31T23:59:59.999999Z", "2026-12-31T23:59:59.999999Z"},
		{"thirty day month", "2026-04-30T00:00:00", "2026-04-30T00:00:00Z"},

		// Bad lengths and separators.
		{"empty", "", ""},
		{"year only", "2026", ""},
		{"date only", "2026-11-25", ""},
		{"no seconds", "2026-11-25T19:00", ""},
		{"one second digit", "2026-11-25T19:00:0", ""},
		{"two digit year", "26-11-25T19:00:00", ""},
		{"five digit year", "02026-11-25T19:00:00", ""},
		{"slashes", "2026/11/25T19:00:00", ""},
		{"other separator", "2026-11-25X19:00:00", ""},
		{"dashes in time", "2026-11-25T19-00-00", ""},
		{"leading space", " 2026-11-25T19:00:00", ""},
		{"trailing space", "2026-11-25T19:00:00 ", ""},
		{"trailing junk", "2026-11-25T19:00:00.123456Zjunk", ""},
		{"dot without digits", "2026-11-25T19:00:00.", ""},
		{"dot without digits then zone", "2026-11-25T19:00:00.Z", ""},
		{"unix seconds", "1795633200", ""},

		// Letters and signs where digits go.
		{"letter O in year", "2O26-11-25T19:00:00", ""},
		{"letter in month", "2026-1a-25T19:00:00", ""},
		{"letter in seconds", "2026-11-25T19:00:0x", ""},
		{"sign in day", "2026-11-+5T19:00:00", ""},
		{"negative year", "-026-11-25T19:00:00", ""},
		{"letter in fraction", "2026-11-25T19:00:00.12a", ""},

		// Out of range fields.
		{"month 0", "2026-00-25T19:00:00", ""},
		{"month 13", "2026-13-25T19:00:00", ""},
		{"day 0", "2026-11-00T19:00:00", ""},
		{"day 32", "2026-01-32T19:00:00", ""},
		{"April 31", "2026-04-31T19:00:00", ""},
		{"Feb 29 of a common year", "2026-02-29T19:00:00", ""},
		{"Feb 29 of a century", "2100-02-29T19:00:00", ""},
		{"Feb 30", "2028-02-30T19:00:00", ""},
		{"hour 24", "2026-11-25T24:00:00", ""},
		{"minute 60", "2026-11-25T19:60:00", ""},
		{"second 60", "2026-11-25T19:00:60", ""},

		// Bad zones.
		{"offset without colon", "2026-11-25T19:00:00+0530", ""},
		{"offset hours only", "2026-11-25T19:00:00+05", ""},
		{"short offset hour", "2026-11-25T19:00:00+5:30", ""},
		{"short offset minute", "2026-11-25T19:00:00+05:3", ""},
		{"offset hour 24", "2026-11-25T19:00:00+24:00", ""},
		{"offset minute 60", "2026-11-25T19:00:00+05:60", ""},
		{"offset with dash", "2026-11-25T19:00:00+05-30", ""},
		{"offset without sign", "2026-11-25T19:00:00 05:30", ""},
		{"offset letters", "2026-11-25T19:00:00+ab:cd", ""},
		{"Z then offset", "2026-11-25T19:00:00Z+05:30", ""},
		{"offset then Z", "2026-11-25T19:00:00+05:30Z", ""},
		{"zone name", "2026-11-25T19:00:00 UTC", ""},
		{"zone abbreviation", "2026-11-25T19:00:00IST", ""},
	}
}

func TestParseTime(t *testing.T) {
	for _, tt := range parseTimeCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTime(tt.give)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseTime(%q) = %v, want an error", tt.give, got)
				}
				if !errors.Is(err, ErrTimestamp) {
					t.Errorf("ParseTime(%q) error %v does not wrap ErrTimestamp", tt.give, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTime(%q): %v", tt.give, err)
			}
			want := mustUTC(t, tt.want)
			if !got.Std().Equal(want) {
				t.Errorf("ParseTime(%q) = %v, want %v", tt.give, got.Std().Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
			// Where the standard library reads the string too, it must agree, to the
			// microsecond.
			for _, layout := range stdLayouts {
				std, err := time.Parse(layout, tt.give)
				if err != nil {
					continue
				}
				if want := std.UTC().Truncate(time.Microsecond); !got.Std().Equal(want) {
					t.Errorf("ParseTime(%q) = %v, time.Parse(%q) = %v", tt.give, got, layout, want)
				}
			}
		})
	}
}

func TestParseWallTime(t *testing.T) {
	tests := []struct {
		give      string
		want      string // RFC 3339: the instant, or the wall clock read as UTC; empty for an error
		wantZoned bool
	}{
		{"2014-12-21 08:05:09", "2014-12-21T08:05:09Z", false},
		{"2014-12-21T08:05:09.25", "2014-12-21T08:05:09.25Z", false},
		{"2014-12-21T08:05:09.123456789", "2014-12-21T08:05:09.123456789Z", false},
		{"2014-12-21T08:05:09.1234567891", "2014-12-21T08:05:09.123456789Z", false},
		{"2014-12-21T08:05:09Z", "2014-12-21T08:05:09Z", true},
		{"2014-12-21t08:05:09,5z", "2014-12-21T08:05:09.5Z", true},
		{"2014-12-21T08:05:09.000000001+05:30", "2014-12-21T02:35:09.000000001Z", true},
		{"1969-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999999999Z", true},
		{"0001-01-01T00:00:00.5", "0001-01-01T00:00:00.5Z", false},
		{"2014-12-21T08:05", "", false},
		{"2014-12-21T08:05:09-0500", "", false},
		{"0000-01-01T00:30:00+01:00", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, zoned, err := ParseWallTime(tt.give)
			if tt.want == "" {
				if !errors.Is(err, ErrTimestamp) {
					t.Fatalf("ParseWallTime(%q) = %v, %v; want ErrTimestamp", tt.give, got, err)
				}
				return
			}
			if want := mustUTC(t, tt.want); err != nil || !got.Equal(want) || zoned != tt.wantZoned || got.Location() != time.UTC {
				t.Errorf("ParseWallTime(%q) = %v zoned %v, %v; want %v zoned %v", tt.give, got, zoned, err, want, tt.wantZoned)
			}
		})
	}
}

// TestParseTimeAgreesWithStdOnRFC3339 checks RFC 3339 strings, good and bad, against
// time.Time.UnmarshalText, the standard library's strict RFC 3339 reader (time.Parse is
// lenient about offsets): its verdict shows the rows are right, ParseTime must match.
func TestParseTimeAgreesWithStdOnRFC3339(t *testing.T) {
	tests := []struct {
		give string
		want bool // valid
	}{
		{"2026-11-25T19:00:00Z", true},
		{"2026-11-25T19:00:00.1Z", true},
		{"2026-11-25T19:00:00+05:30", true},
		{"2026-11-25T19:00:00-04:00", true},
		{"2028-02-29T00:00:00Z", true},
		{"2026-02-29T00:00:00Z", false},
		{"2026-13-01T00:00:00Z", false},
		{"2026-11-25T24:00:00Z", false},
		{"2026-11-25T19:60:00Z", false},
		{"2026-11-25T19:00:00.Z", false},
		{"2026-11-25T19:00:00+0530", false},
	}
	for _, tt := range tests {
		var std time.Time
		stdErr := std.UnmarshalText([]byte(tt.give))
		_, err := ParseTime(tt.give)
		if (stdErr == nil) != tt.want {
			t.Errorf("time.Time.UnmarshalText(%q): error %v, want valid=%v (bad table row)", tt.give, stdErr, tt.want)
		}
		if (err == nil) != tt.want {
			t.Errorf("ParseTime(%q): error %v, want valid=%v", tt.give, err, tt.want)
		}
	}
}

// Years 0000 to 9999, the range a four-digit year can name.
var (
	minTime = TimeOf(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC))
	maxTime = TimeOf(time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC))
)

// randomTime is a random microsecond in years 0000-9999, often near the epoch and now.
func randomTime(rnd *rand.Rand) Time {
	switch rnd.IntN(4) {
	case 0: // anywhere a four-digit year reaches
		return minTime + Time(rnd.Int64N(int64(maxTime-minTime)+1))
	case 1: // around the epoch, both sides
		return Time(rnd.Int64N(2*86400e6) - 86400e6)
	case 2: // 1900 to 2100
		lo := TimeOf(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
		hi := TimeOf(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
		return lo + Time(rnd.Int64N(int64(hi-lo)))
	default: // whole seconds, which Python writes without a fraction
		return Time(rnd.Int64N(4e9)-1e9) * 1e6
	}
}

// randomEventTime is a random microsecond an input event may carry: in the sane range,
// often on a whole second.
func randomEventTime(rnd *rand.Rand) Time {
	t := MinTime + Time(rnd.Int64N(int64(MaxTime-MinTime)))
	if rnd.IntN(4) == 0 {
		t -= t % 1e6
	}
	return t
}

func TestTimeRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	edges := []Time{0, -1, 1, minTime, maxTime, 999999, -999999, -1000000, 1000000}
	for i := 0; i < 20000; i++ {
		var v Time
		if i < len(edges) {
			v = edges[i]
		} else {
			v = randomTime(rnd)
		}
		iso := string(v.AppendISO(nil))
		if want := v.Std().Format("2006-01-02T15:04:05.000000Z07:00"); iso != want {
			t.Fatalf("AppendISO(%d) = %q, want %q", int64(v), iso, want)
		}
		if got, err := ParseTime(iso); err != nil || got != v {
			t.Fatalf("ParseTime(AppendISO(%d) = %q) = %d, %v", int64(v), iso, int64(got), err)
		}
		py := string(v.AppendPythonISO([]byte("x")))
		if py[0] != 'x' || py[1:] != iso[:len(iso)-1] {
			t.Fatalf("AppendPythonISO(%d) = %q, want %q after the prefix", int64(v), py, iso[:len(iso)-1])
		}
		if got, err := ParseTime(py[1:]); err != nil || got != v {
			t.Fatalf("ParseTime(AppendPythonISO(%d) = %q) = %d, %v", int64(v), py[1:], int64(got), err)
		}
		if s := v.String(); s != iso {
			t.Fatalf("String() = %q, AppendISO = %q", s, iso)
		}
		// The same instant written with an offset reads back equal.
		off := time.FixedZone("", (rnd.IntN(47)-23)*3600+rnd.IntN(4)*15*60)
		local := v.Std().In(off).Format("2006-01-02T15:04:05.999999Z07:00")
		if got, err := ParseTime(local); err == nil && got != v {
			t.Fatalf("ParseTime(%q) = %v, want %v", local, got, v)
		} else if err != nil && v.Std().In(off).Year() >= 0 && v.Std().In(off).Year() <= 9999 {
			t.Fatalf("ParseTime(%q): %v", local, err)
		}
	}
}

func TestTimeArithmetic(t *testing.T) {
	base := TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 123456000, time.UTC))
	tests := []struct {
		name string
		give Time
		want time.Time
	}{
		{"TimeOf", base, time.Date(2026, 11, 25, 19, 0, 0, 123456000, time.UTC)},
		{"Add", base.Add(90 * time.Second), time.Date(2026, 11, 25, 19, 1, 30, 123456000, time.UTC)},
		{"Add negative", base.Add(-time.Hour), time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC)},
		{"Add below a microsecond", base.Add(999 * time.Nanosecond), time.Date(2026, 11, 25, 19, 0, 0, 123456000, time.UTC)},
		{"FromMillis", FromMillis(base.Millis()), time.Date(2026, 11, 25, 19, 0, 0, 123000000, time.UTC)},
		{"TimeOf drops nanoseconds", TimeOf(time.Date(2026, 1, 1, 0, 0, 0, 1999, time.UTC)), time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{"TimeOf a zoned time", TimeOf(time.Date(2026, 1, 1, 5, 30, 0, 0, time.FixedZone("IST", 19800))), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.give.Std(); !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("got %v, want %v in UTC", got, tt.want)
			}
		})
	}
	if got := base.Add(time.Minute).Sub(base); got != time.Minute {
		t.Errorf("Sub = %v, want 1m", got)
	}
	if got := base.Millis(); got != time.Date(2026, 11, 25, 19, 0, 0, 123000000, time.UTC).UnixMilli() {
		t.Errorf("Millis = %d", got)
	}
}

// TestParseTimeRoundTripsAtTheEdges: whatever ParseTime accepts, AppendISO and
// AppendPythonISO must write in a form ParseTime reads back; the encoders rely on it. An
// offset can carry a four-digit local time into year -1 or 10000 in UTC, which no
// four-digit year can write: ParseTime must refuse those (or the writers must cope).
func TestParseTimeRoundTripsAtTheEdges(t *testing.T) {
	tests := []struct {
		give     string
		wantOK   bool // must be accepted
		wantFail bool // must be refused
	}{
		{give: "0000-01-01T00:00:00Z", wantOK: true},
		{give: "0000-01-01T00:00:00", wantOK: true},
		{give: "9999-12-31T23:59:59.999999Z", wantOK: true},
		{give: "9999-12-31T23:59:59.999999+05:30", wantOK: true},
		{give: "0000-01-01T05:30:00+05:30", wantOK: true},
		{give: "0000-01-01T00:00:00+00:01", wantFail: true},
		{give: "0000-01-01T00:00:00+23:59", wantFail: true},
		{give: "9999-12-31T23:59:59-00:01", wantFail: true},
		{give: "9999-12-31T23:59:59.999999-05:30", wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseTime(tt.give)
			switch {
			case err != nil && tt.wantOK:
				t.Fatalf("ParseTime(%q): %v", tt.give, err)
			case err == nil && tt.wantFail:
				t.Errorf("ParseTime(%q) = %v (%d µs), want an error: the UTC time is outside years 0000-9999", tt.give, got, int64(got))
			}
			if err != nil {
				return
			}
			for _, s := range []string{string(got.AppendISO(nil)), string(got.AppendPythonISO(nil))} {
				if again, err := ParseTime(s); err != nil || again != got {
					t.Errorf("ParseTime(%q) = %d µs, written as %q, which reads back as %d, %v", tt.give, int64(got), s, int64(again), err)
				}
			}
		})
	}
}

// TestTimeArithmeticSaturates: sums and differences of extreme times saturate instead of
// wrapping. A wrapped difference once let a year-2611 timestamp pass as 10 minutes ahead.
func TestTimeArithmeticSaturates(t *testing.T) {
	const maxT, minT = Time(math.MaxInt64), Time(math.MinInt64)
	year2611 := TimeOf(time.Date(2611, 2, 17, 0, 0, 0, 0, time.UTC))
	now := TimeOf(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	subs := []struct {
		name string
		t, u Time
		want time.Duration
	}{
		{"small", now.Add(time.Second), now, time.Second},
		{"small negative", now, now.Add(time.Second), -time.Second},
		{"2611 minus now: more than 292 years", year2611, now, math.MaxInt64},
		{"now minus 2611", now, year2611, math.MinInt64},
		{"max minus min", maxT, minT, math.MaxInt64},
		{"min minus max", minT, maxT, math.MinInt64},
		{"max minus -1", maxT, -1, math.MaxInt64},
		{"min minus 1", minT, 1, math.MinInt64},
		{"zero minus min", 0, minT, math.MaxInt64},
		{"the largest duration exactly", Time(math.MaxInt64 / 1000), 0, time.Duration(math.MaxInt64/1000) * time.Microsecond},
		{"one past it", Time(math.MaxInt64/1000 + 1), 0, math.MaxInt64},
	}
	for _, tt := range subs {
		if got := tt.t.Sub(tt.u); got != tt.want {
			t.Errorf("%s: Sub = %v, want %v", tt.name, got, tt.want)
		}
	}
	adds := []struct {
		name string
		t    Time
		d    time.Duration
		want Time
	}{
		{"small", now, time.Second, now + 1e6},
		{"max plus 1", maxT, time.Microsecond, maxT},
		{"min minus 1", minT, -time.Microsecond, minT},
		{"max duration to 2611", year2611, math.MaxInt64, year2611 + Time(math.MaxInt64/int64(time.Microsecond))},
		{"max duration to max", maxT - 5, math.MaxInt64, maxT},
		{"min duration to min", minT + 5, math.MinInt64, minT},
	}
	for _, tt := range adds {
		if got := tt.t.Add(tt.d); got != tt.want {
			t.Errorf("%s: Add = %v, want %v", tt.name, int64(got), int64(tt.want))
		}
	}
	if got := FromMillis(math.MaxInt64); got != maxT {
		t.Errorf("FromMillis(max) = %d", got)
	}
	if got := FromMillis(math.MinInt64); got != minT {
		t.Errorf("FromMillis(min) = %d", got)
	}
	for _, v := range []Time{maxT, minT, 0, year2611 * 1000} {
		b := v.AppendISO(nil)
		if _, err := time.Parse(time.RFC3339Nano, string(b)); err != nil || len(b) != len("2026-11-25T19:00:00.000000Z") {
			t.Errorf("AppendISO(%d) = %s: not RFC 3339 with a four-digit year (%v)", int64(v), b, err)
		}
	}
}

// FuzzTimeArithmetic: for any two times, Sub never wraps (its sign is the sign of the true
// difference, and a difference a Duration can hold is exact), Add never wraps, and
// AppendISO always writes what ParseTime and Go's RFC 3339 parser read.
func FuzzTimeArithmetic(f *testing.F) {
	for _, v := range [][2]int64{{0, 0}, {math.MaxInt64, math.MinInt64}, {math.MinInt64, math.MaxInt64}, {math.MaxInt64, -1},
		{int64(MaxTime), int64(MinTime)}, {20209000000000000, 1764979200000000}, {253402300799999999, -62167219200000000}} {
		f.Add(v[0], v[1])
	}
	f.Fuzz(func(t *testing.T, a, b int64) {
		ta, tb := Time(a), Time(b)
		d := ta.Sub(tb)
		cmp := big.NewInt(a)
		cmp.Sub(cmp, big.NewInt(b))
		switch {
		case cmp.Sign() > 0 && d <= 0, cmp.Sign() < 0 && d >= 0, cmp.Sign() == 0 && d != 0:
			t.Fatalf("%d.Sub(%d) = %v: wrong sign", a, b, d)
		}
		if us := new(big.Int).Mul(cmp, big.NewInt(1000)); us.IsInt64() && d != time.Duration(us.Int64()) {
			t.Fatalf("%d.Sub(%d) = %v, want %v", a, b, d, us)
		}
		sum := ta.Add(time.Duration(b))
		want := new(big.Int).Add(big.NewInt(a), big.NewInt(b/1000))
		switch {
		case want.IsInt64() && int64(sum) != want.Int64():
			t.Fatalf("%d.Add(%d) = %d, want %v", a, b, sum, want)
		case !want.IsInt64() && want.Sign() > 0 && sum != math.MaxInt64, !want.IsInt64() && want.Sign() < 0 && sum != math.MinInt64:
			t.Fatalf("%d.Add(%d) = %d: did not saturate", a, b, sum)
		}
		s := string(ta.AppendISO(nil))
		if _, err := ParseTime(s); err != nil {
			t.Fatalf("ParseTime(AppendISO(%d) = %s): %v", a, s, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Fatalf("AppendISO(%d) = %s: %v", a, s, err)
		}
		if ta >= minTime && ta <= maxTime {
			if back, _ := ParseTime(s); back != ta {
				t.Fatalf("AppendISO(%d) = %s reads back as %d", a, s, back)
			}
		}
	})
}

// FuzzParseTime: ParseTime never panics, and whatever it accepts lies in years 0000-9999
// and is written back by AppendISO as a string that reads back to the same time.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-25T19:00:00.123456", "2026-11-25T19:00:00Z", "2611-02-17T10:30:00.123456Z",
		"9999-12-31T23:59:59.999999-23:59", "0000-01-01T00:00:00+23:59", "2026-11-25 19:00:00,5+05:30", "2026-02-29T00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTime(s)
		if err != nil {
			if !errors.Is(err, ErrTimestamp) {
				t.Fatalf("ParseTime(%q): %v does not wrap ErrTimestamp", s, err)
			}
			return
		}
		if v < minTime || v > maxTime {
			t.Fatalf("ParseTime(%q) = %d, outside years 0000-9999", s, v)
		}
		back, err := ParseTime(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseTime(%q) = %v, which reads back as %v, %v", s, v, back, err)
		}
	})
}

// FuzzParseWallTime: ParseWallTime reads what ParseTime reads, as the same time to the
// microsecond, with the nanoseconds past it.
func FuzzParseWallTime(f *testing.F) {
	for _, s := range []string{"2026-11-25T19:00:00.123456789", "2026-11-25T19:00:00Z", "1969-12-31T23:59:59.999999999-23:59",
		"0000-01-01T00:00:00+23:59", "2026-11-25 19:00:00,5+05:30", "2026-02-29T00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wall, _, werr := ParseWallTime(s)
		v, err := ParseTime(s)
		if (werr == nil) != (err == nil) {
			t.Fatalf("ParseWallTime(%q): %v; ParseTime: %v", s, werr, err)
		}
		if err == nil && TimeOf(wall) != v {
			t.Fatalf("ParseWallTime(%q) = %v, ParseTime %v", s, wall, v)
		}
	})
}
