package simulator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"ridematch"
	"ridematch/cluster"
	"ridematch/geo"
)

// AllCities is the City value for a national load over the cities marked National.
const AllCities = "all"

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid simulator settings")

// Config is everything the simulator needs: the world it generates (city, drivers,
// riders, movement) and how it runs against Kafka (pace, cluster, topics).
type Config struct {
	// City is a name from geo.Cities, or "all" for a national load spread over the
	// cities marked National by their Weight (default mumbai).
	City string
	// Drivers is how many drivers move through the city (default 1000).
	Drivers int
	// Rate is rider requests per second of simulated time, Poisson arrivals (default
	// 0.5). A ride keeps its driver about half an hour, so 1000 drivers carry about 0.5
	// rides a second; more requests than that and most drivers are busy.
	Rate float64
	// GPSInterval is how often each driver reports its position, in simulated time
	// (default 2s, the reference's). It is kept to whole milliseconds, the precision of
	// Kafka record timestamps.
	GPSInterval time.Duration
	// CancelRate is the share of riders who cancel if they have seen no outcome between
	// CancelMin and CancelMax after requesting (default 0: none; between 3s and 10s).
	// With an engine answering in milliseconds, riders only ever wait that long while a
	// partition moves between engines, so their cancels race their matches: a cancel
	// that loses frees the driver, who may then take another ride.
	CancelRate           float64
	CancelMin, CancelMax time.Duration
	// AcceptRate is the share of the offers on driver-offers (ride_offered, made by
	// `ridematch match --offer-timeout`) a simulated driver accepts (default 0.85). Of
	// the rest, DeclineShare are declined and the others left to lapse, unanswered; at 0
	// no offer is answered at all, a fleet that never responds. Each offer's answer is
	// drawn from the seed and the offer id alone, so it does not depend on the order
	// offers arrive in, and it draws nothing from the streams of drivers and riders.
	AcceptRate float64
	// ResponseMin and ResponseMax bound each driver's response delay: how long, in
	// simulated time, it takes to answer an offer, drawn once per driver from the seed
	// (default 1s and 5s, whole milliseconds).
	ResponseMin, ResponseMax time.Duration
	// Replay is a trip file (CSV, plain or gzip) whose rows are replayed as the requests,
	// instead of the Poisson arrivals of Rate in City: see LoadReplay (default none).
	Replay string
	// ReplayFrom starts the replay at the first row at or after this time, in ISO 8601 or
	// M/D/YYYY H:MM[:SS]; without a zone it is local to the file's data (default: its
	// first row).
	ReplayFrom string
	// ReplayPace runs the file's timeline this many times faster than simulated time, to
	// replay a day's demand in minutes: rows an hour apart in the file are requested an
	// hour/ReplayPace apart (default 1: as in the file).
	ReplayPace float64
	// MaxRequests stops requesting after this many requests, replayed or generated; the
	// drivers go on, and Run ends once each request has its outcome (default 0: no limit).
	MaxRequests int
	// Seed makes the load: the same seed gives the same drivers, paths (absent matches)
	// and requests, ids included. Ids carry the seed, so simulators with different seeds
	// can share a cluster (default 1).
	Seed uint64

	// MinSpeedKMH and MaxSpeedKMH bound a driver's speed on each leg (default 15 and 40).
	MinSpeedKMH, MaxSpeedKMH float64
	// PeakFactor slows traffic in the city's local peak hours, 8-11 and 17-21 as in the
	// reference (default 0.6, the factor of the reference's ETA).
	PeakFactor float64
	// WaypointJitterKM is the standard deviation of a driver's waypoints around the
	// city's places (default 1).
	WaypointJitterKM float64
	// PlaceJitterMinKM and PlaceJitterMaxKM bound how far a pickup or drop lies from its
	// place (default 0.3 and 0.8).
	PlaceJitterMinKM, PlaceJitterMaxKM float64
	// BoardingTime is how long a driver waits at the pickup (default 30s).
	BoardingTime time.Duration

	// Speedup runs simulated time this many times faster than the wall clock (default 1).
	Speedup float64
	// Duration is how long to run, in wall time; 0 runs until the context ends.
	Duration time.Duration
	// Cluster says how to reach Kafka.
	Cluster cluster.Config
	// Topics names the topics written and read.
	Topics ridematch.Topics
	// MaxBufferedRecords bounds the records waiting for the broker (default 50,000). When
	// it is full the simulator waits, and falls behind its schedule rather than growing.
	MaxBufferedRecords int
	// ReportInterval is how often Run hands progress to its caller (default 1s).
	ReportInterval time.Duration
	// OutcomeWait is how long, in wall time, a request's latency waits for its outcome
	// before it counts as unanswered (default 2m).
	OutcomeWait time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	cc := cluster.DefaultConfig()
	cc.ClientID = "ridematch-simulate"
	return Config{
		City:               "mumbai",
		Drivers:            1000,
		Rate:               0.5,
		GPSInterval:        2 * time.Second,
		CancelRate:         0,
		CancelMin:          3 * time.Second,
		CancelMax:          10 * time.Second,
		AcceptRate:         0.85,
		ResponseMin:        time.Second,
		ResponseMax:        5 * time.Second,
		Seed:               1,
		MinSpeedKMH:        15,
		MaxSpeedKMH:        40,
		PeakFactor:         0.6,
		WaypointJitterKM:   1,
		PlaceJitterMinKM:   0.3,
		PlaceJitterMaxKM:   0.8,
		BoardingTime:       30 * time.Second,
		Speedup:            1,
		Cluster:            cc,
		Topics:             ridematch.DefaultTopics(),
		MaxBufferedRecords: 50_000,
		ReportInterval:     time.Second,
		OutcomeWait:        2 * time.Minute,
	}
}

// Limits that keep a typo from asking for more than a machine holds.
const (
	maxDrivers  = 5_000_000
	maxRate     = 1_000_000
	maxSpeedup  = 10_000
	maxSpeedKMH = 200
	// An offer no driver would still be looking at.
	maxResponse = 10 * time.Minute
	// A year of a trip file in a thirtieth of a second: room for bench, which paces a
	// small file up to its request rate.
	maxReplayPace = 1e9
)

// Validate rejects settings the simulator cannot run with, in one sentence each.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if _, err := c.cities(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	pace := c.ReplayPace
	if pace == 0 {
		pace = 1 // the default
	}
	floats := []struct {
		name   string
		v      float64
		lo, hi float64
	}{
		{"the request rate (a second)", c.Rate, 0, maxRate},
		{"the cancel rate (a share)", c.CancelRate, 0, 1},
		{"the accept rate (a share)", c.AcceptRate, 0, 1},
		{"the least driving speed (km/h)", c.MinSpeedKMH, 1, maxSpeedKMH},
		{"the greatest driving speed (km/h)", c.MaxSpeedKMH, 1, maxSpeedKMH},
		{"the peak factor", c.PeakFactor, 0.1, 1},
		{"the waypoint jitter (km)", c.WaypointJitterKM, 0, 5},
		{"the least place jitter (km)", c.PlaceJitterMinKM, 0, 5},
		{"the greatest place jitter (km)", c.PlaceJitterMaxKM, 0, 5},
		{"speedup", c.Speedup, 1, maxSpeedup},
		{"the replay pace", pace, 1, maxReplayPace},
	}
	for _, f := range floats {
		if err := geo.InRange(f.name, f.v, f.lo, f.hi); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	switch {
	case c.Drivers < 0 || c.Drivers > maxDrivers:
		return bad("drivers must be between 0 and %d, not %d", maxDrivers, c.Drivers)
	case c.GPSInterval < 100*time.Millisecond:
		return bad("the GPS interval must be at least 100ms, not %v", c.GPSInterval)
	case c.CancelMin < 0 || c.CancelMax < c.CancelMin:
		return bad("cancel delays need 0 <= min (%v) <= max (%v)", c.CancelMin, c.CancelMax)
	case c.ResponseMin < 0 || c.ResponseMax < c.ResponseMin || c.ResponseMax > maxResponse:
		return bad("response delays need 0 <= min (%v) <= max (%v) <= %v", c.ResponseMin, c.ResponseMax, maxResponse)
	case c.MaxSpeedKMH < c.MinSpeedKMH:
		return bad("speeds need min (%v) <= max (%v)", c.MinSpeedKMH, c.MaxSpeedKMH)
	case c.PlaceJitterMaxKM < c.PlaceJitterMinKM:
		return bad("place jitter needs min (%v) <= max (%v)", c.PlaceJitterMinKM, c.PlaceJitterMaxKM)
	case c.BoardingTime < 0:
		return bad("the boarding time must not be negative")
	case c.MaxRequests < 0:
		return bad("the request limit must not be negative, not %d", c.MaxRequests)
	case c.ReplayFrom != "" && c.Replay == "":
		return bad("a replay start time needs a trip file to replay")
	case c.Duration < 0:
		return bad("the duration must not be negative")
	case c.MaxBufferedRecords < 1:
		return bad("at least one record must be allowed to wait for the broker")
	case c.ReportInterval <= 0:
		return bad("the report interval must be positive")
	case c.OutcomeWait <= 0:
		return bad("the outcome wait must be positive")
	}
	if c.ReplayFrom != "" {
		if _, ok := parseTripTime(c.ReplayFrom); !ok {
			return bad("the replay start %q is not a time: write it as 2014-12-21 08:00, 2014-12-21T08:00:00-05:00 or 4/1/2014 8:00", c.ReplayFrom)
		}
	}
	if err := c.Topics.Validate(); err != nil {
		return err
	}
	return nil
}

// cities resolves City into the cities simulated.
func (c Config) cities() ([]geo.City, error) {
	if strings.EqualFold(c.City, AllCities) {
		var out []geo.City
		for _, city := range geo.Cities() {
			if city.National && city.Weight > 0 && len(city.Places) > 0 {
				out = append(out, city)
			}
		}
		return out, nil
	}
	city, err := geo.CityNamed(c.City)
	if err != nil {
		return nil, err
	}
	if len(city.Places) == 0 {
		return nil, fmt.Errorf("city %s has no places", city.Name)
	}
	return []geo.City{city}, nil
}
