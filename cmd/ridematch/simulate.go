package main

import (
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
	names := make([]string, len(geo.Cities))
	for i, city := range geo.Cities {
		names[i] = city.Name
	}
	fs.StringVar(&c.City, "city", c.City, "city to simulate ("+strings.Join(names, ", ")+"), or all for a national load over the Indian cities")
	fs.IntVar(&c.Drivers, "drivers", c.Drivers, "drivers moving through the city, each streaming GPS")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "ride requests per second of simulated time (Poisson arrivals); a ride keeps a driver about 30 minutes")
	fs.DurationVar(&c.GPSInterval, "gps-interval", c.GPSInterval, "simulated time between a driver's GPS updates")
	fs.Float64Var(&c.CancelRate, "cancel-rate", c.CancelRate, "share of riders who cancel if they see no outcome within a few seconds")
	fs.Float64Var(&c.Speedup, "speedup", c.Speedup, "run simulated time this many times faster than the wall clock (at least 1)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed: the same seed gives the same drivers, paths and requests, ids included; give each of several simulators on one cluster its own")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "stop after this much wall time (0: run until Ctrl-C)")
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

Event times are simulated time, starting at the wall clock; --speedup runs it
faster. The same --seed gives the same load.`,
		Example: `  ridematch simulate --drivers 2000 --rate 1
  ridematch simulate --city all --drivers 20000 --rate 50 --duration 5m
  ridematch simulate --speedup 60 --duration 1m    # an hour of the city in a minute`,
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
			out := cmd.OutOrStdout()
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
			if err != nil {
				return err
			}
			simSummary(out, st)
			return nil
		},
	}
	c.addFlags(cmd.Flags())
	o.addFlags(cmd.Flags())
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
	// A lag of a tick or two is the pacing; a tenth of a wall second is the broker.
	if wall := time.Duration(float64(s.Behind) / speedup); wall > 100*time.Millisecond {
		fmt.Fprintf(&b, "  BEHIND %s (broker slow, %d buffered)", s.Behind.Round(100*time.Millisecond), s.Buffered)
	}
	return b.String()
}

// simSummary prints the final summary line.
func simSummary(w io.Writer, s simulator.Stats) {
	fmt.Fprintf(w, "done after %s (%s simulated): %d GPS updates, %d requests, %d rider cancels; outcomes %d matched, %d unmatched, %d cancelled, %d unanswered; %d rides completed; latency p50 %s p99 %s",
		s.Elapsed.Round(time.Millisecond), s.SimElapsed.Round(time.Millisecond), s.GPSUpdates, s.Requests, s.Cancels,
		s.Matched, s.Unmatched, s.Cancelled, s.Unanswered, s.RidesCompleted, simLatency(s.LatencyP50), simLatency(s.LatencyP99))
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
