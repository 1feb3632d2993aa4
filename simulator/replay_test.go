package simulator

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"ridematch/event"
	"ridematch/geo"
)

const nycHead = "testdata/nyc_20k_head.csv"

// fileRow is a row of nyc_20k_head.csv as encoding/csv and time.ParseInLocation read it,
// to hold the replay to.
type fileRow struct {
	at             time.Time
	pickup, drop   geo.Point
	zeroLengthTrip bool
}

func readNYCHead(t *testing.T) map[int]fileRow {
	t.Helper()
	f, err := os.Open(nycHead)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	rows := map[int]fileRow{}
	for i, r := range recs[1:] {
		at, err := time.ParseInLocation("2006-01-02 15:04:05", r[5], ny)
		if err != nil {
			t.Fatal(err)
		}
		p, d := geo.Point{Lat: num(r[1]), Lng: num(r[2])}, geo.Point{Lat: num(r[3]), Lng: num(r[4])}
		rows[i+1] = fileRow{at: at, pickup: p, drop: d, zeroLengthTrip: geo.DistanceKM(p, d) < minTripKM}
	}
	return rows
}

func replayConfig(file string, drivers int) Config {
	cfg := DefaultConfig()
	cfg.Replay, cfg.Drivers, cfg.Seed = file, drivers, 3
	return cfg
}

// A replay world requests the file's rows in time order, rebased onto its start, each
// with the file's pickup and drop; its drivers start among the pickups.
func TestReplayWorld(t *testing.T) {
	rows := readNYCHead(t)
	cfg := replayConfig(nycHead, 60)
	cfg.CancelRate = 0.2
	w := newTestWorld(t, cfg)
	rc := w.replay.Counts()
	good := 0
	for _, r := range rows {
		if !r.zeroLengthTrip {
			good++
		}
	}
	if rc.Rows != len(rows) || rc.Requests != good || rc.Skipped.Total() != len(rows)-good || rc.Skipped[SkipZeroLength] != len(rows)-good {
		t.Fatalf("counts %+v: want %d rows, %d of them good", rc, len(rows), good)
	}
	var first event.Time
	firstUpdate := map[string]geo.Point{}
	var requests []event.RideRequest
	cancels := 0
	end := testStart.Add(time.Hour)
	var last event.Time
	w.Step(end, func(in *event.Input) {
		if in.Time() < last {
			t.Fatalf("%v after %v", in.Time(), last)
		}
		last = in.Time()
		switch in.Kind {
		case event.KindDriverLocation:
			if _, ok := firstUpdate[in.Driver.DriverID]; !ok {
				firstUpdate[in.Driver.DriverID] = in.Driver.Location
			}
		case event.KindRideRequest:
			requests = append(requests, in.Request)
		case event.KindRideCancel:
			cancels++
		}
	})
	if len(requests) != good || w.Counts().Requests != uint64(good) || !w.Done() {
		t.Fatalf("%d requests (counted %d, done %v), want %d", len(requests), w.Counts().Requests, w.Done(), good)
	}
	if cancels == 0 {
		t.Error("no rider cancelled")
	}
	fileStart := rows[1].at
	ids := map[string]bool{}
	for i, r := range requests {
		var row int
		if _, err := fmt.Sscanf(r.RequestID, "NYC_20K_HEAD-3-%07d", &row); err != nil || ids[r.RequestID] {
			t.Fatalf("request id %q (%v), or seen twice", r.RequestID, err)
		}
		ids[r.RequestID] = true
		fr, ok := rows[row]
		if !ok || fr.zeroLengthTrip {
			t.Fatalf("request %s is of row %d, not a good row", r.RequestID, row)
		}
		if want := testStart.Add(fr.at.Sub(fileStart)); r.Time != want {
			t.Errorf("request %s at %v, want %v: %v after the start, as in the file", r.RequestID, r.Time, want, fr.at.Sub(fileStart))
		}
		if i == 0 {
			first = r.Time
		}
		if r.Pickup != fr.pickup || r.Drop != fr.drop {
			t.Errorf("request %s from %v to %v, want the file's %v to %v", r.RequestID, r.Pickup, r.Drop, fr.pickup, fr.drop)
		}
		if r.CustomerID != "CUST-"+r.RequestID || r.RideType == 0 || math.Abs(r.EstimatedKM-geo.DistanceKM(r.Pickup, r.Drop)) > 0.01 {
			t.Errorf("request %+v", r)
		}
		if b := r.AppendJSON(nil); func() bool { in, err := event.DecodeInput(b); return err != nil || in.Request != r }() {
			t.Fatalf("%s does not read back", b)
		}
	}
	if first != testStart {
		t.Errorf("the first request at %v, want the start %v", first, testStart)
	}
	if len(firstUpdate) != cfg.Drivers {
		t.Fatalf("%d drivers reported", len(firstUpdate))
	}
	for id, p := range firstUpdate {
		near := math.Inf(1)
		for _, r := range rows {
			near = min(near, geo.DistanceKM(p, r.pickup))
		}
		if near > 2*originJitterKM+0.1 {
			t.Errorf("driver %s starts %.2f km from the nearest pickup", id, near)
		}
	}
	// Drivers roam the file's busiest cells: none strays far from Manhattan in an hour.
	for id, tr := range tracks(w, end.Add(time.Hour)) {
		for _, u := range tr {
			if d := geo.DistanceKM(u.Location, rc.Center); d > 25 {
				t.Fatalf("driver %s is %.1f km from the centre of the demand", id, d)
			}
		}
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	run := func(seed uint64) [][]byte {
		cfg := replayConfig(nycHead, 30)
		cfg.Seed, cfg.CancelRate = seed, 0.3
		return record(newTestWorld(t, cfg), testStart.Add(20*time.Minute))
	}
	a, b, c := run(1), run(1), run(2)
	if len(a) != len(b) || !bytes.Equal(bytes.Join(a, nil), bytes.Join(b, nil)) {
		t.Error("the same seed gave different events")
	}
	if bytes.Equal(bytes.Join(a, nil), bytes.Join(c, nil)) {
		t.Error("another seed gave the same events")
	}
}

// --from and --max-requests choose the window replayed.
func TestReplayWindow(t *testing.T) {
	rows := readNYCHead(t)
	goodBefore := func(at time.Time) int {
		n := 0
		for _, r := range rows {
			if !r.zeroLengthTrip && r.at.Before(at) {
				n++
			}
		}
		return n
	}
	ny, _ := time.LoadLocation("America/New_York")
	ten := time.Date(2014, 12, 21, 0, 10, 0, 0, ny)
	good := len(rows) - 1 // one zero-length trip
	tests := []struct {
		name         string
		from         string
		max          int
		wantFirst    time.Time
		wantRequests int
		wantBefore   int
	}{
		{"all", "", 0, rows[1].at, good, 0},
		{"from, local", "2014-12-21 00:10", 0, ten, good - goodBefore(ten), goodBefore(ten)},
		{"from, M/D/YYYY", "12/21/2014 0:10:00", 0, ten, good - goodBefore(ten), goodBefore(ten)},
		{"from, zoned", "2014-12-21T05:10:00Z", 0, ten, good - goodBefore(ten), goodBefore(ten)},
		{"from, between rows", "2014-12-21 00:09:30", 0, ten, good - goodBefore(ten), goodBefore(ten)},
		{"from before the file", "2014-12-20 00:00", 0, rows[1].at, good, 0},
		{"max", "", 20, rows[1].at, 20, 0},
		{"max beyond the file", "", 10_000, rows[1].at, good, 0},
		{"from and max", "2014-12-21 00:10", 7, ten, 7, goodBefore(ten)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := replayConfig(nycHead, 5)
			cfg.ReplayFrom, cfg.MaxRequests = tt.from, tt.max
			rp, err := LoadReplay(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := rp.Counts()
			if !c.First.Equal(tt.wantFirst) || c.Requests != tt.wantRequests || c.BeforeFrom != tt.wantBefore || c.AfterMax != good-tt.wantBefore-tt.wantRequests {
				t.Errorf("first %v, %d requests, %d before, %d after; want %v, %d, %d, %d", c.First, c.Requests, c.BeforeFrom, c.AfterMax,
					tt.wantFirst, tt.wantRequests, tt.wantBefore, good-tt.wantBefore-tt.wantRequests)
			}
			w, err := NewReplayWorld(cfg, rp, testStart)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			w.Step(testStart.Add(time.Hour), func(in *event.Input) {
				if in.Kind == event.KindRideRequest {
					if n == 0 && in.Request.Time != testStart {
						t.Errorf("the first request at %v, want the start", in.Request.Time)
					}
					n++
				}
			})
			if n != tt.wantRequests || !w.Done() {
				t.Errorf("%d requests (done %v), want %d", n, w.Done(), tt.wantRequests)
			}
		})
	}
}

func TestReplayRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"missing file", func(c *Config) { c.Replay = filepath.Join(dir, "nope.csv") }, "cannot replay " + filepath.Join(dir, "nope.csv") + ": no such file"},
		{"no good rows", func(c *Config) { c.Replay = write("bad.csv", "time,lat,lon\nnever,1,2\n2014-12-21 00:00,0,0\n") }, "none of its 2 rows can be a ride (skipped: bad_time 1, zero_coordinates 1)"},
		{"header only", func(c *Config) { c.Replay = write("header.csv", "time,lat,lon\n") }, "none of its 0 rows"},
		{"no columns", func(c *Config) { c.Replay = write("cols.csv", "when,where\n") }, "no pickup latitude"},
		{"from after the end", func(c *Config) { c.Replay, c.ReplayFrom = nycHead, "2014-12-22 00:00" }, "no row at or after 2014-12-22 00:00: the rows run from 2014-12-21 00:00:00 EST to 2014-12-21 00:17:00 EST"},
		// Settings that make no sense are configuration errors, found before the file is read.
		{"from not a time", func(c *Config) { c.Replay, c.ReplayFrom = nycHead, "noon" }, `the replay start "noon" is not a time`},
		{"from without a file", func(c *Config) { c.ReplayFrom = "2014-12-21 00:00" }, "needs a trip file"},
		{"negative max", func(c *Config) { c.Replay, c.MaxRequests = nycHead, -1 }, "request limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.cfg(&cfg)
			_, err := NewWorld(cfg, testStart)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
			if !errors.Is(err, ErrReplay) && !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, neither ErrReplay nor ErrConfig", err)
			}
		})
	}
}

// A day of April 2014 with a 2009 and a 2031 row among its rows: the replay runs over the
// day alone, and its counts and the simulator's warning name the rows left out.
func TestReplaySkipsRowsOutsideSpan(t *testing.T) {
	cfg := replayConfig("testdata/apr14_outside_span.csv", 10)
	var logs bytes.Buffer
	sim, err := New(cfg, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	rc := *sim.Replay()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, ny) }
	if rc.Rows != 32 || rc.Requests != 30 || rc.Skipped != (Skips{SkipOutsideSpan: 2}) {
		t.Errorf("%d rows, %d requests, skipped %v; want 32, 30 and outside_span 2", rc.Rows, rc.Requests, rc.Skipped)
	}
	if !rc.First.Equal(at(2014, 4, 1, 8, 0)) || !rc.Last.Equal(at(2014, 4, 1, 8, 58)) {
		t.Errorf("replays %v to %v, want 2014-04-01 08:00 to 08:58", rc.First, rc.Last)
	}
	// The span is the rows' hour with a day either side.
	if !rc.SpanFrom.Equal(at(2014, 3, 31, 8, 0)) || !rc.SpanTo.Equal(at(2014, 4, 2, 8, 58)) {
		t.Errorf("span %v to %v", rc.SpanFrom, rc.SpanTo)
	}
	if want := []SkippedRow{{5, at(2009, 4, 1, 8, 30)}, {18, at(2031, 4, 1, 8, 30)}}; len(rc.Outside) != 2 ||
		rc.Outside[0].Row != want[0].Row || !rc.Outside[0].Time.Equal(want[0].Time) || rc.Outside[1].Row != want[1].Row || !rc.Outside[1].Time.Equal(want[1].Time) {
		t.Errorf("outside rows %v, want %v", rc.Outside, want)
	}
	var warning struct {
		Level, Message, Examples, Span string
		Rows                           int
	}
	if err := json.Unmarshal(logs.Bytes(), &warning); err != nil {
		t.Fatalf("want one warning, logged %q", logs.String())
	}
	if warning.Level != "warn" || warning.Rows != 2 || warning.Examples != "5 (2009-04-01 08:30:00), 18 (2031-04-01 08:30:00)" ||
		warning.Span != "2014-03-31 08:00:00 to 2014-04-02 08:58:00 EDT" || !strings.Contains(warning.Message, "far outside") {
		t.Errorf("warning %+v", warning)
	}
}

// A file without drop-offs gets plausible ones: other pickups 2-15 km away.
func TestReplayMadeUpDrops(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var b strings.Builder
	b.WriteString("\"Date/Time\",\"Lat\",\"Lon\",\"Base\"\r\n")
	center := geo.Point{Lat: 40.7425, Lng: -73.9848}
	const n = 2000
	for i := range n {
		p := jitter(center, 4, rng)
		at := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(86400)) * time.Second)
		fmt.Fprintf(&b, "\"%s\",%.4f,%.4f,\"B%05d\"\r\n", at.Format("1/2/2006 15:04:05"), p.Lat, p.Lng, i)
	}
	p := filepath.Join(t.TempDir(), "pickups.csv.gz")
	if err := os.WriteFile(p, gzipped(t, b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := replayConfig(p, 10)
	rp, err := LoadReplay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := rp.Counts()
	if c.Requests != n || c.MadeUpDrops != n || c.Columns.HasDrop() {
		t.Fatalf("counts %+v", c)
	}
	var sum float64
	for _, tr := range rp.trips {
		d := geo.DistanceKM(tr.pickup, tr.drop)
		if d < minDropKM-0.5 || d > 16 {
			t.Errorf("row %d: made-up drop %.2f km away", tr.row, d)
		}
		if geo.DistanceKM(center, tr.drop) > 20 {
			t.Errorf("row %d: made-up drop %.1f km from the demand", tr.row, geo.DistanceKM(center, tr.drop))
		}
		sum += d
	}
	t.Logf("made-up trips %.1f km on average", sum/n)
	if len(rp.Places()) == 0 || len(rp.Places()) > maxPlaces {
		t.Errorf("%d places", len(rp.Places()))
	}
	// The same file and seed make the same drops.
	again, err := LoadReplay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rp.trips {
		if rp.trips[i] != again.trips[i] {
			t.Fatalf("trip %d made up as %+v, then as %+v", i, rp.trips[i], again.trips[i])
		}
	}
}

// MaxRequests bounds generated requests too.
func TestMaxRequestsGenerated(t *testing.T) {
	cfg := testConfig("mumbai", 10, 5)
	cfg.MaxRequests = 7
	w := newTestWorld(t, cfg)
	n := 0
	w.Step(testStart.Add(time.Hour), func(in *event.Input) {
		if in.Kind == event.KindRideRequest {
			n++
		}
	})
	if n != 7 || !w.Done() {
		t.Errorf("%d requests (done %v), want 7", n, w.Done())
	}
	if w := newTestWorld(t, testConfig("mumbai", 10, 5)); w.Done() {
		t.Error("a world without a limit is done")
	}
}

// ReplayPace compresses the file's timeline: each row is requested its file offset
// divided by the pace after the first, to the millisecond as always.
func TestReplayPace(t *testing.T) {
	times := func(pace float64) []event.Time {
		cfg := replayConfig(nycHead, 10)
		cfg.ReplayPace = pace
		w := newTestWorld(t, cfg)
		var ts []event.Time
		w.Step(testStart.Add(time.Hour), func(in *event.Input) {
			if in.Kind == event.KindRideRequest {
				ts = append(ts, in.Request.Time)
			}
		})
		return ts
	}
	plain, paced := times(1), times(12)
	if len(plain) != len(paced) || len(plain) < 100 {
		t.Fatalf("%d requests at pace 1, %d at pace 12", len(plain), len(paced))
	}
	for i := range plain {
		offset := plain[i] - plain[0]
		want := event.Time(float64(offset) / 12)
		want -= want % 1000
		if got := paced[i] - paced[0]; got != want {
			t.Fatalf("request %d: %v after the first at pace 12, want %v (%v at pace 1)", i, got, want, offset)
		}
	}
	cfg := replayConfig(nycHead, 10)
	cfg.ReplayPace = 0.5
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "replay pace") {
		t.Errorf("pace 0.5: %v, want a refusal", err)
	}
}
