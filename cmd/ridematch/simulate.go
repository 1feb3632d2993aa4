package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"ridematch/geo"
	"ridematch/simulator"
)

// simulateOptions map the flags of `ridematch simulate` onto simulator.Config.
type simulateOptions struct {
	cfg simulator.Config
}

func (o *simulateOptions) addFlags(fs *pflag.FlagSet) {
	c := &o.cfg
	cities := geo.Cities()
	names := make([]string, len(cities))
	for i, city := range cities {
		names[i] = city.Name
	}
	fs.StringVar(&c.City, "city", c.City, "city to simulate ("+strings.Join(names, ", ")+"), or all for a national load over the Indian cities")
	fs.IntVar(&c.Drivers, "drivers", c.Drivers, "drivers moving through the city, each streaming GPS")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "ride requests per second of simulated time (Poisson arrivals); a ride keeps a driver about 30 minutes")
	fs.DurationVar(&c.GPSInterval, "gps-interval", c.GPSInterval, "simulated time between a driver's GPS updates")
	fs.Float64Var(&c.CancelRate, "cancel-rate", c.CancelRate, "share of riders who cancel if they see no outcome within a few seconds")
	fs.Float64Var(&c.AcceptRate, "accept-rate", c.AcceptRate, "share of the ride offers on driver-offers (match --offer-timeout) a simulated driver accepts, 1-5 s after the offer; of the others, 3 in 4 are declined and 1 in 4 left to lapse unanswered; 0: the drivers never answer, every offer lapses")
	fs.Float64Var(&c.Speedup, "speedup", c.Speedup, "run simulated time this many times faster than the wall clock (at least 1)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed: the same seed gives the same drivers, paths and requests, ids included; give each of several simulators on one cluster its own")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "stop after this much wall time (0: run until Ctrl-C)")
}

// addReplayFlags adds the flags of a replay and of a bounded run, which only `ridematch
// simulate` has: the demo runs until stopped.
func (o *simulateOptions) addReplayFlags(fs *pflag.FlagSet) {
	c := &o.cfg
	fs.IntVar(&c.MaxRequests, "max-requests", c.MaxRequests, "stop requesting after this many requests, then stop once each has its outcome (0: no limit)")
	fs.StringVar(&c.Replay, "replay", c.Replay, "replay the requests of a trip file (CSV, plain or gzip, with a header naming a time and pickup latitude/longitude columns) instead of generating them")
	fs.StringVar(&c.ReplayFrom, "from", c.ReplayFrom, "start the replay at the first row at or after this time (2014-12-21 08:00, 4/1/2014 8:00, or ISO 8601 with a zone; without one, local to the data)")
}

// checkReplayFlags refuses flags that mean nothing in a replay: the file says where and
// when riders request.
func checkReplayFlags(fs *pflag.FlagSet, replay string) error {
	if replay == "" {
		return nil
	}
	for _, name := range []string{"city", "rate"} {
		if fs.Changed(name) {
			return fmt.Errorf("--%s does not apply to --replay: the file says where and when riders request", name)
		}
	}
	return nil
}

func newSimulateCmd(g *globals) *cobra.Command {
	c := &clientFlags{}
	o := &simulateOptions{cfg: simulator.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Generate load: drivers moving through a city streaming GPS, riders requesting rides",
		Long: `Simulate a city: drivers drive between its hot spots at city speeds (slower in
local peak hours) and send a driver_location_update every --gps-interval;
riders request rides at --rate a second from and to the hot spots, and a few
cancel if no outcome comes within seconds. The simulator reads ride-matches:
a matched driver drives to the pickup and on to the drop, busy, then becomes
available again. It prints one progress line a second, with the latency from
each request to its outcome, and a summary at the end.

With driver offers on (ridematch match --offer-timeout), the engine offers each
request to a driver on driver-offers first. The simulated drivers read it from
the end, as they read ride-matches, and answer the offers made to them on
driver-responses: each accepts with the chance --accept-rate, else declines or,
less often, lets the offer lapse; each driver answers after its own delay of 1
to 5 s of simulated time, and an offer_withdrawn (the rider cancelled) stops an
answer not yet sent. The answer to an offer depends only on --seed and the offer
id. Answers still due when the run ends are not sent: those offers lapse.

Event times are simulated time, starting at the wall clock; --speedup runs it
faster. The same --seed gives the same load, request ids included; the engine
gives a request id it answered in the last 10 minutes no second outcome, so a
run that would send an id within 10 minutes of its outcome on ride-matches stops
before it sends anything and says so.

With --replay FILE the requests are a real trip file's rows instead: a CSV
export, plain or gzip, whose header names a time column (time, date, Date/Time,
departure_time, pickup_datetime, ...) and pickup latitude and longitude columns
(Lat/Lon, o_lat/o_lon, pickup_latitude/pickup_longitude, start_lat/start_lng,
...), and optionally drop-off ones. Times are ISO 8601 or M/D/YYYY H:MM[:SS];
one without a zone is local to the data's city. Rows that cannot be a ride, and
rows dated far outside the span of the others (a 2009 row in a day of 2014, which
the replay would wait years for), are counted by reason and skipped, with a
warning naming the latter. The first replayed row is requested now, the
others as far apart in simulated time as in the file. Drivers start near the
file's pickups and cruise between its busiest cells; a trip without a drop-off
gets one at another pickup 2-15 km away. The run ends when every request has
its outcome.`,
		Example: `  ridematch simulate --drivers 2000 --rate 1
  ridematch simulate --city all --drivers 20000 --rate 50 --duration 5m
  ridematch simulate --speedup 60 --duration 1m    # an hour of the city in a minute, for ridematch match --clock producer
  ridematch simulate --replay nyc_20k.csv --speedup 600 --drivers 3000
  ridematch simulate --replay uber-raw-data-apr14.csv.gz --from "4/7/2014 7:00" --max-requests 5000 --speedup 60`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return usageError{err}
			}
			topics, err := g.topics()
			if err != nil {
				return err
			}
			if err := checkReplayFlags(cmd.Flags(), o.cfg.Replay); err != nil {
				return usageError{err}
			}
			cfg := o.cfg
			cfg.Topics = topics
			cfg.Cluster = c.config("ridematch-simulate")
			if _, err := cfg.Cluster.Opts(log); err != nil {
				return usageError{err}
			}
			sim, err := simulator.New(cfg, log)
			if err != nil {
				return usageError{err}
			}
			warnPasswordFlag(g.stderr, c.saslPassword)
			if cfg.Speedup > 1 {
				log.Warn().Float64("speedup", cfg.Speedup).Msg("events and records carry simulated time, ahead of the wall clock: the engine must trust it (ridematch match --clock producer) on topics that keep producer timestamps")
			}
			out := cmd.OutOrStdout()
			if rc := sim.Replay(); rc != nil {
				fmt.Fprintln(out, replayHeader(*rc))
			}
			redraw := isTerminal(out)
			st, err := sim.Run(cmd.Context(), func(s simulator.Stats) {
				if redraw {
					fmt.Fprintf(out, "\r%s\x1b[K", simProgressLine(s, cfg.Speedup))
					return
				}
				fmt.Fprintln(out, simProgressLine(s, cfg.Speedup))
			})
			if redraw {
				fmt.Fprintln(out)
			}
			if er := (*simulator.EarlierRunError)(nil); errors.As(err, &er) {
				return fmt.Errorf("%w: use another --seed or a fresh broker", err)
			}
			if err != nil {
				return err
			}
			simSummary(out, st)
			return nil
		},
	}
	c.addFlags(cmd.Flags())
	o.addFlags(cmd.Flags())
	o.addReplayFlags(cmd.Flags())
	return cmd
}

// simProgressLine is the one-line report printed each second.
func simProgressLine(s simulator.Stats, speedup float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6s", s.Elapsed.Round(time.Second))
	if speedup > 1 {
		fmt.Fprintf(&b, " (sim %s)", s.SimElapsed.Round(time.Second))
	}
	fmt.Fprintf(&b, "  gps %.0f/s  requests %.1f/s  matched %d  unmatched %d  cancelled %d  busy %d/%d  p50 %s  p99 %s",
		s.GPSPerSec, s.RequestsPerSec, s.Matched, s.Unmatched, s.Cancelled, s.Busy, s.Drivers,
		simLatency(s.LatencyP50), simLatency(s.LatencyP99))
	if s.Offers > 0 {
		fmt.Fprintf(&b, "  offers %d (accepted %d, declined %d, ignored %d)", s.Offers, s.Accepted, s.Declined, s.Ignored)
	}
	if s.Replay != nil {
		fmt.Fprintf(&b, "  replayed %d/%d", s.Requests, s.Replay.Requests)
	}
	// A lag of a tick or two is the pacing; a tenth of a wall second is the broker.
	if wall := time.Duration(float64(s.Behind) / speedup); wall > 100*time.Millisecond {
		fmt.Fprintf(&b, "  BEHIND %s (broker slow, %d buffered)", s.Behind.Round(100*time.Millisecond), s.Buffered)
	}
	return b.String()
}

// replayHeader says what a replay made of its file, before it starts.
func replayHeader(rc simulator.ReplayCounts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "replaying %d requests of %s, %s to %s: %d rows read (time %q, pickup %q/%q",
		rc.Requests, rc.File, rc.First.Format("2006-01-02 15:04:05"), rc.Last.Format("2006-01-02 15:04:05 MST"),
		rc.Rows, rc.Columns.Time, rc.Columns.PickupLat, rc.Columns.PickupLng)
	if rc.Columns.HasDrop() {
		fmt.Fprintf(&b, ", drop-off %q/%q", rc.Columns.DropLat, rc.Columns.DropLng)
	}
	fmt.Fprintf(&b, "), %d skipped (%s)", rc.Skipped.Total(), rc.Skipped)
	if rc.BeforeFrom > 0 {
		fmt.Fprintf(&b, ", %d before --from", rc.BeforeFrom)
	}
	if rc.AfterMax > 0 {
		fmt.Fprintf(&b, ", %d after --max-requests", rc.AfterMax)
	}
	if rc.MadeUpDrops > 0 {
		fmt.Fprintf(&b, "; %d drop-offs made up", rc.MadeUpDrops)
	}
	if rc.Zone != "" {
		fmt.Fprintf(&b, "; times without a zone read in %s", rc.Zone)
	}
	return b.String()
}

// simSummary prints the final summary line, after a replay's counts.
func simSummary(w io.Writer, s simulator.Stats) {
	if rc := s.Replay; rc != nil {
		fmt.Fprintf(w, "replay of %s: %d rows read, %d skipped (%s), %d before --from, %d after --max-requests; %d of %d requests replayed\n",
			rc.File, rc.Rows, rc.Skipped.Total(), rc.Skipped, rc.BeforeFrom, rc.AfterMax, s.Requests, rc.Requests)
	}
	fmt.Fprintf(w, "done after %s (%s simulated): %d GPS updates, %d requests, %d rider cancels; outcomes %d matched, %d unmatched, %d cancelled, %d unanswered; %d rides completed; latency p50 %s p99 %s",
		s.Elapsed.Round(time.Millisecond), s.SimElapsed.Round(time.Millisecond), s.GPSUpdates, s.Requests, s.Cancels,
		s.Matched, s.Unmatched, s.Cancelled, s.Unanswered, s.RidesCompleted, simLatency(s.LatencyP50), simLatency(s.LatencyP99))
	if s.Offers > 0 {
		fmt.Fprintf(w, "; offers %d seen, %d accepted, %d declined, %d ignored, %d withdrawn before the answer, %d unanswered at the end",
			s.Offers, s.Accepted, s.Declined, s.Ignored, s.Withdrawn, s.Answering)
	}
	if s.Undelivered > 0 {
		fmt.Fprintf(w, "; %d records not delivered", s.Undelivered)
	}
	if s.Conflicts > 0 {
		fmt.Fprintf(w, "; %d matches for drivers already on a ride", s.Conflicts)
	}
	fmt.Fprintln(w)
}

func simLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}
