// Command driver-gateway is a driver app's backend for ridematch, written as any team
// would write one: franz-go and the standard library, no ridematch packages. It streams
// driver_location_update events for a few drivers moving along a line to
// driver-locations, keyed by driver_id; answers the ride offers it reads on driver-offers
// (read_committed) for its drivers with offer_accepted or offer_declined on
// driver-responses; and reads ride-matches (read_committed) to learn when one of its
// drivers is matched: that driver then reports itself busy for the ride, and available
// again after it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case errors.As(err, &usage):
		os.Exit(2) // the flag package has said what is wrong
	case err == nil:
		err = run(ctx, cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver-gateway:", err)
		os.Exit(1)
	}
}

// config is everything the gateway is told; defaultConfig holds every default.
type config struct {
	Brokers     []string
	Drivers     int
	Prefix      string        // driver ids are Prefix-1, Prefix-2, ...
	From, To    point         // the line the drivers drive along, and back
	SpeedKMH    float64       // how fast they drive it
	Interval    time.Duration // between two location updates of a driver
	BusyFor     time.Duration // how long a matched driver is on its ride
	StatusEvery time.Duration // between two status lines; 0 prints none
	Duration    time.Duration // how long to run; 0 runs until interrupted

	// AcceptWithinKM is the farthest pickup a driver accepts an offer for; it declines
	// the others.
	AcceptWithinKM float64

	// Topics, as topics.yaml names them.
	LocationsTopic string
	MatchesTopic   string
	OffersTopic    string
	ResponsesTopic string
}

func defaultConfig() config {
	brokers := "127.0.0.1:9092"
	if env := os.Getenv("KAFKA_BOOTSTRAP_SERVERS"); env != "" {
		brokers = env
	}
	return config{
		Brokers:        strings.Split(brokers, ","),
		Drivers:        3,
		Prefix:         "DRV-GW",
		From:           point{Lat: 19.0544, Lng: 72.8413}, // bandra_station
		To:             point{Lat: 19.0596, Lng: 72.8656}, // bkc
		SpeedKMH:       20,
		Interval:       2 * time.Second,
		BusyFor:        30 * time.Second,
		AcceptWithinKM: 2,
		StatusEvery:    10 * time.Second,
		LocationsTopic: "driver-locations",
		MatchesTopic:   "ride-matches",
		OffersTopic:    "driver-offers",
		ResponsesTopic: "driver-responses",
	}
}

func (c config) validate() error {
	switch {
	case len(c.Brokers) == 0 || c.Brokers[0] == "":
		return errors.New("--brokers: at least one broker is needed")
	case c.Drivers < 1:
		return errors.New("--drivers: at least one driver is needed")
	case c.Interval <= 0:
		return errors.New("--interval must be positive")
	case c.SpeedKMH < 0:
		return errors.New("--speed cannot be negative")
	case !(c.AcceptWithinKM >= 0): // NaN too
		return errors.New("--accept-within cannot be negative")
	case c.BusyFor < 0 || c.StatusEvery < 0 || c.Duration < 0:
		return errors.New("durations cannot be negative")
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("driver-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", strings.Join(cfg.Brokers, ","), "comma-separated bootstrap brokers; $KAFKA_BOOTSTRAP_SERVERS sets the default")
	fs.IntVar(&cfg.Drivers, "drivers", cfg.Drivers, "drivers to stream")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "driver ids are PREFIX-1, PREFIX-2, ...")
	fs.Var(&cfg.From, "from", "LAT,LNG where the drivers start (bandra_station)")
	fs.Var(&cfg.To, "to", "LAT,LNG they drive towards, and back (bkc)")
	fs.Float64Var(&cfg.SpeedKMH, "speed", cfg.SpeedKMH, "driving speed, km/h")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time between two location updates of a driver")
	fs.DurationVar(&cfg.BusyFor, "busy-for", cfg.BusyFor, "how long a matched driver is busy on its ride")
	fs.Float64Var(&cfg.AcceptWithinKM, "accept-within", cfg.AcceptWithinKM, "accept a ride offer whose pickup is at most this many km away; decline the others (pickup_too_far)")
	fs.DurationVar(&cfg.StatusEvery, "status-every", cfg.StatusEvery, "time between two status lines (0: none)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to run (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError{err}
	}
	cfg.Brokers = strings.Split(*brokers, ",")
	return cfg, cfg.validate()
}

// usageError is a flag the flag package refused, and has already reported.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// point is a position as the events carry it, and a LAT,LNG flag.
type point struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

func (p *point) String() string {
	return strconv.FormatFloat(p.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(p.Lng, 'f', -1, 64)
}

func (p *point) Set(s string) error {
	lat, lng, ok := strings.Cut(s, ",")
	var err1, err2 error
	p.Lat, err1 = strconv.ParseFloat(strings.TrimSpace(lat), 64)
	p.Lng, err2 = strconv.ParseFloat(strings.TrimSpace(lng), 64)
	if !ok || err1 != nil || err2 != nil || p.Lat < -90 || p.Lat > 90 || p.Lng < -180 || p.Lng > 180 {
		return fmt.Errorf("%q is not LAT,LNG", s)
	}
	return nil
}
