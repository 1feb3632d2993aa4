package simulator

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"ridematch/event"
	"ridematch/geo"
)

// ErrReplay is wrapped by every error that stops a trip file from being replayed: it
// cannot be opened or decompressed, or its header names no time or pickup columns, or
// not one of its rows can be a ride. Bad rows alone are counted, never an error.
var ErrReplay = errors.New("cannot replay")

// ReplayCounts say what a replay made of its trip file.
type ReplayCounts struct {
	File    string
	Columns TripColumns
	// Rows is the data rows read, the header not counted; Skipped those that cannot be a
	// ride, by reason.
	Rows    int
	Skipped Skips
	// BeforeFrom is the good rows before the replay's start time; AfterMax those left
	// after the first MaxRequests.
	BeforeFrom, AfterMax int
	// Requests is how many rows the replay sends, in time order.
	Requests int
	// MadeUpDrops is how many of them had no drop-off and were given one.
	MadeUpDrops int
	// Zone is where times that name no zone were read: the zone at Center. Empty when every
	// time named its own.
	Zone string
	// Center is the median pickup; rides more than 50 km from it are outside the area.
	Center geo.Point
	// First and Last are the file times of the first and last request replayed.
	First, Last time.Time
	// SpanFrom and SpanTo bound the times a row may have; rows further out are skipped as
	// outside_span, and Outside names the first few of them.
	SpanFrom, SpanTo time.Time
	Outside          []SkippedRow
}

// SkippedRow is a row of a trip file that was skipped: its data row, from 1, and time.
type SkippedRow struct {
	Row  int
	Time time.Time
}

// Replay is a trip file made ready to replay: its requests in time order, each with a
// drop, and the city its drivers roam, whose places are where the pickups cluster.
type Replay struct {
	counts ReplayCounts
	trips  []trip
	city   geo.City
	zone   *time.Location
	tag    string // the request ids' prefix, from the file's name
}

// Counts says what the replay made of its file.
func (rp *Replay) Counts() ReplayCounts { return rp.counts }

// Rate is the file's requests a second of its own time, over the rows replayed.
func (rp *Replay) Rate() float64 {
	span := rp.counts.Last.Sub(rp.counts.First).Seconds()
	if span <= 0 {
		return float64(len(rp.trips))
	}
	return float64(len(rp.trips)) / span
}

// Places are where the file's pickups cluster, the hot spots its drivers cruise between:
// the busiest H3 cells, weighted by their pickups.
func (rp *Replay) Places() []geo.Place { return slices.Clone(rp.city.Places) }

// The replay's random streams, apart from the world's.
const dropStream = 0x4452_4f50_53 // "DROPS"

const (
	// placeRes and maxPlaces: the city of a replay is its busiest resolution-7 cells
	// (about 5 km² each), enough to spread drivers where the demand is.
	placeRes  = 7
	maxPlaces = 50
	// placeSample bounds the pickups the places are counted from.
	placeSample = 50_000
	// Made-up drops lie this far from their pickup: a typical city ride.
	minDropKM, maxDropKM = 2.0, 15.0
	// originJitterKM spreads drivers around the pickups they start at.
	originJitterKM = 0.3
)

// LoadReplay reads cfg.Replay and prepares it for replay: from the first row at or after
// cfg.ReplayFrom, at most cfg.MaxRequests rows.
func LoadReplay(cfg Config) (*Replay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Replay == "" {
		return nil, fmt.Errorf("%w: no trip file named", ErrReplay)
	}
	fail := func(err error) error { return fmt.Errorf("%w %s: %w", ErrReplay, cfg.Replay, err) }
	f, err := os.Open(cfg.Replay)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return nil, fail(err)
	}
	defer f.Close()
	tf, err := readTrips(f)
	if err != nil {
		return nil, fail(err)
	}
	rp, err := newReplay(tf, cfg)
	if err != nil {
		return nil, fail(err)
	}
	return rp, nil
}

// newReplay cuts the window to replay out of a read file, finds its places and makes up
// the drops it lacks.
func newReplay(tf *tripFile, cfg Config) (*Replay, error) {
	rp := &Replay{
		zone: tf.zone,
		tag:  idTag(cfg.Replay),
		counts: ReplayCounts{
			File: cfg.Replay, Columns: tf.columns, Rows: tf.rows, Skipped: tf.skipped, Center: tf.center,
		},
	}
	if tf.zoneless {
		rp.counts.Zone = tf.zone.String()
	}
	rp.counts.SpanFrom, rp.counts.SpanTo = tf.span[0].Std().In(tf.zone), tf.span[1].Std().In(tf.zone)
	for _, t := range tf.outside {
		rp.counts.Outside = append(rp.counts.Outside, SkippedRow{Row: t.row, Time: t.at.Std().In(tf.zone)})
	}
	if len(tf.trips) == 0 {
		return nil, fmt.Errorf("none of its %d rows can be a ride (skipped: %s)", tf.rows, tf.skipped)
	}
	trips := tf.trips
	if cfg.ReplayFrom != "" {
		tt, _ := parseTripTime(cfg.ReplayFrom) // Validate checked it
		from := event.TimeOf(tt.in(tf.zone))
		i, _ := slices.BinarySearchFunc(trips, from, func(t trip, at event.Time) int { return cmp.Compare(t.at, at) })
		if i == len(trips) {
			return nil, fmt.Errorf("no row at or after %s: the rows run from %s to %s",
				cfg.ReplayFrom, fileTime(trips[0].at, tf.zone), fileTime(trips[len(trips)-1].at, tf.zone))
		}
		rp.counts.BeforeFrom = i
		trips = trips[i:]
	}
	if cfg.MaxRequests > 0 && len(trips) > cfg.MaxRequests {
		rp.counts.AfterMax = len(trips) - cfg.MaxRequests
		trips = trips[:cfg.MaxRequests]
	}
	// The window is kept alone: a short replay of a long file frees the rest.
	rp.trips = slices.Clone(trips)
	rp.counts.Requests = len(rp.trips)
	rp.counts.First = rp.trips[0].at.Std().In(tf.zone)
	rp.counts.Last = rp.trips[len(rp.trips)-1].at.Std().In(tf.zone)

	rp.city = geo.City{Name: "replay of " + filepath.Base(cfg.Replay), Zone: tf.zone.String(), Weight: 1, Places: demandPlaces(rp.trips)}
	rng := rand.New(rand.NewPCG(cfg.Seed, dropStream))
	cum := make([]float64, len(rp.city.Places))
	total := 0.0
	for i, p := range rp.city.Places {
		total += p.Weight
		cum[i] = total
	}
	for i := range rp.trips {
		t := &rp.trips[i]
		t.pickup = geo.Point{Lat: round(t.pickup.Lat, 1e6), Lng: round(t.pickup.Lng, 1e6)}
		if !t.hasDrop {
			t.drop = plausibleDrop(t.pickup, rp.trips, rp.city.Places, cum, &cfg, rng)
			rp.counts.MadeUpDrops++
		}
		t.drop = geo.Point{Lat: round(t.drop.Lat, 1e6), Lng: round(t.drop.Lng, 1e6)}
	}
	return rp, nil
}

func fileTime(t event.Time, loc *time.Location) string {
	return t.Std().In(loc).Format("2006-01-02 15:04:05 MST")
}

// demandPlaces are the busiest resolution-7 cells of the pickups, weighted by their
// pickups, busiest first (ties by cell, so that the same file gives the same places).
func demandPlaces(trips []trip) []geo.Place {
	counts := map[geo.Cell]int{}
	step := max(1, len(trips)/placeSample)
	for i := 0; i < len(trips); i += step {
		counts[geo.CellOf(trips[i].pickup, placeRes)]++
	}
	cells := make([]geo.Cell, 0, len(counts))
	for c := range counts {
		cells = append(cells, c)
	}
	slices.SortFunc(cells, func(a, b geo.Cell) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	cells = cells[:min(len(cells), maxPlaces)]
	places := make([]geo.Place, len(cells))
	for i, c := range cells {
		places[i] = geo.Place{Name: c.String(), Point: c.Center(), Weight: float64(counts[c])}
	}
	return places
}

// plausibleDrop makes up a drop for a pickup: another pickup of the file 2-15 km away,
// so that drops follow the demand; failing that, a place that far; failing that, a
// point 2-8 km away in any direction.
func plausibleDrop(p geo.Point, trips []trip, places []geo.Place, cum []float64, cfg *Config, rng *rand.Rand) geo.Point {
	for range 32 {
		q := trips[rng.IntN(len(trips))].pickup
		if d := geo.DistanceKM(p, q); d >= minDropKM && d <= maxDropKM {
			return jitter(q, 0.1, rng)
		}
	}
	for range 8 {
		q := places[drawCumulative(cum, rng)].Point
		if d := geo.DistanceKM(p, q); d >= minDropKM && d <= maxDropKM {
			return ring(q, cfg.PlaceJitterMinKM, cfg.PlaceJitterMaxKM, rng)
		}
	}
	return ring(p, minDropKM, 8, rng)
}

// idTag turns a file name into the prefix of its request ids: "nyc_20k.csv" gives
// NYC_20K, so that replays of different files can share a cluster.
func idTag(file string) string {
	base := filepath.Base(file)
	for _, ext := range []string{".gz", ".csv", ".txt", ".tsv"} {
		base = strings.TrimSuffix(base, ext)
	}
	tag := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, base)
	if len(tag) > 32 {
		tag = tag[:32]
	}
	if tag == "" || tag == "." {
		tag = "REPLAY"
	}
	return tag
}

// NewReplayWorld builds a world whose requests are rp's rows instead of Poisson arrivals.
// The file's timeline is rebased onto the world's: the first row is requested at start,
// each later one as long after it, in simulated time, as in the file. Drivers start
// near pickups drawn from the file and cruise between its places; everything else is as
// in NewWorld.
func NewReplayWorld(cfg Config, rp *Replay, start event.Time) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	origin := func(rng *rand.Rand) geo.Point {
		return jitter(rp.trips[rng.IntN(len(rp.trips))].pickup, originJitterKM, rng)
	}
	w := newWorld(cfg, start, []*city{newCityIn(rp.city, rp.zone)}, []int{cfg.Drivers}, origin)
	w.replay = rp
	return w, nil
}

// nextReplayed is when the next row is due, or never after the last.
func (w *World) nextReplayed() event.Time {
	if w.replayed >= len(w.replay.trips) {
		return never
	}
	offset := w.replay.trips[w.replayed].at - w.replay.trips[0].at
	if pace := w.cfg.ReplayPace; pace > 1 {
		offset = event.Time(float64(offset) / pace)
	}
	return w.start + offset - offset%1000
}

// replayRequest emits the next row's request. The file says when, where from and where
// to; the ride type, and whether the rider cancels, are drawn as for generated riders.
func (w *World) replayRequest(t event.Time, emit func(*event.Input)) {
	tr := &w.replay.trips[w.replayed]
	w.replayed++
	rng := w.riders
	w.requests++
	r := event.RideRequest{
		RequestID:   fmt.Sprintf("%s-%d-%07d", w.replay.tag, w.cfg.Seed, tr.row),
		CustomerID:  fmt.Sprintf("CUST-%s-%d-%07d", w.replay.tag, w.cfg.Seed, tr.row),
		Pickup:      tr.pickup,
		Drop:        tr.drop,
		Time:        t,
		RideType:    drawRideType(rng),
		EstimatedKM: round(geo.DistanceKM(tr.pickup, tr.drop), 100),
	}
	w.maybeCancel(rng, t, r)
	w.in.Kind = event.KindRideRequest
	w.in.Request = r
	w.counts.Requests++
	emit(&w.in)
}
