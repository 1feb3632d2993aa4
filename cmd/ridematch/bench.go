package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"ridematch/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	cfg := bench.DefaultConfig()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput, latency and match quality on this machine",
		Long: `Measure, in one run on this machine, with embedded brokers in this process: the
engine's sustained input events a second against a raw consumer and the plumbing
floor (the same topology with no processing); end-to-end latency at a fixed
offered load; index updates a second and match latency with a city of drivers;
memory per driver; restore time of five minutes of a busy partition; match
quality against a global oracle; and dispatch: one demand served, in a closed loop
of simulated drivers, by each assignment policy (greedy, batch, adaptive) and by
batch knowing the next window's requests (the bound); with --offer-timeout, the
matcher offers each driver it picks the ride, and the simulated drivers accept at
--accept-rate, decline or let the offer lapse. Progress goes to stderr;
--json prints one JSON object on stdout. BENCHMARKS.md ("What each figure means")
explains them.

The scenarios scarce and ample are Mumbai's evening peak (from 17:30 local) with
drivers scarce for its demand (greedy matches about three requests in four) or
ample (greedy matches 98% or more); for the other phases they mean Mumbai.
--drivers and --rate, when given, set the dispatch phase's drivers and requests
too, over a preset's.`,
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
			cfg.Engine.Topics = topics
			fs := cmd.Flags()
			if p, ok := bench.PresetNamed(cfg.Scenario); ok {
				cfg.UsePreset(p)
			}
			if fs.Changed("drivers") {
				cfg.Dispatch.Drivers, cfg.QualityDrivers = cfg.Drivers, cfg.Drivers
			}
			if fs.Changed("rate") {
				cfg.Dispatch.Rate, cfg.QualityRate = cfg.Rate, cfg.Rate
			}
			if fs.Changed("accept-rate") && cfg.Dispatch.OfferTimeout == 0 {
				return usageError{fmt.Errorf("%w: --accept-rate needs --offer-timeout: with offers off, no driver is asked", bench.ErrConfig)}
			}
			// The engines' own logs would drown the progress: warnings only.
			cfg.Log = log.Level(max(zerolog.WarnLevel, log.GetLevel()))
			errOut := cmd.ErrOrStderr()
			cfg.Progress = func(s string) { fmt.Fprintln(errOut, s) }
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			res, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			printBench(cmd.OutOrStdout(), res)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&asJSON, "json", false, "print one JSON object instead of the table")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "bound on each timed phase")
	fs.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "load: all (national, over the Indian cities), a city name, a trip file to replay (CSV, as simulate --replay reads), or a dispatch preset: "+presetHelp())
	fs.IntVar(&cfg.Drivers, "drivers", cfg.Drivers, fmt.Sprintf("drivers in the throughput and latency load; given, in the quality and dispatch phases too (default there %d and %d, or the preset's)", cfg.QualityDrivers, cfg.Dispatch.Drivers))
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, fmt.Sprintf("ride requests a simulated second in that load; given, in the quality and dispatch phases too (default there %g and %g, or the preset's)", cfg.QualityRate, cfg.Dispatch.Rate))
	fs.DurationVar(&cfg.Dispatch.Span, "dispatch-span", cfg.Dispatch.Span, "simulated time each assignment policy of the dispatch phase runs for")
	fs.DurationVar(&cfg.Dispatch.OfferTimeout, "offer-timeout", cfg.Dispatch.OfferTimeout, "in the dispatch phase, offer each chosen driver the request, with this long to accept, as match --offer-timeout does (0: off, a match is final)")
	fs.Float64Var(&cfg.Dispatch.AcceptRate, "accept-rate", cfg.Dispatch.AcceptRate, "share of the dispatch phase's offers its simulated drivers accept, with --offer-timeout (of the rest, 3 in 4 declined, the others left to lapse)")
	fs.Var(&cfg.Engine.Matcher.Assignment, "assignment", "how the matcher assigns drivers to waiting requests: greedy, batch or adaptive, in every phase but dispatch, which runs each")
	fs.DurationVar(&cfg.Engine.Matcher.BatchWindow, "batch-window", cfg.Engine.Matcher.BatchWindow, "event time between the assignments of batch and adaptive, in every phase")
	fs.IntVar(&cfg.Events, "events", cfg.Events, "input events the throughput phases consume")
	fs.IntVar(&cfg.Instances, "instances", cfg.Instances, "engine instances sharing the work in the process")
	fs.StringVar(&cfg.InputCompression, "input-compression", cfg.InputCompression, "codec the load's producers write the input with: none (as simulate writes), gzip, snappy, lz4 or zstd")
	fs.Float64Var(&cfg.LatencyRate, "latency-rate", cfg.LatencyRate, "offered input events a second in the latency phase")
	fs.Float64SliceVar(&cfg.LatencyCurve, "latency-curve", nil, "more offered loads for the latency phase to measure first, such as 25000,100000")
	fs.IntVar(&cfg.IndexDrivers, "index-drivers", cfg.IndexDrivers, "drivers in one city for the index and match measurements")
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "repetitions of each in-process measurement (the median is reported)")
	fs.IntVar(&cfg.ThroughputRuns, "throughput-runs", cfg.ThroughputRuns, "rounds of the plumbing floor and the engine in the throughput phase (the medians are reported)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed of the generated loads")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the first engine throughput run to this file (and of the latency phase, the floor and the restore phase to it plus .latency, .latency-floor and .restore)")
	fs.StringSliceVar(&cfg.Phases, "phases", cfg.Phases, "phases to run: "+strings.Join(bench.AllPhases(), ", "))
	return cmd
}

func printBench(w io.Writer, r bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s, %d cores, %s\n", r.Machine.CPU, r.Machine.Cores, r.Machine.GoVersion)
	ran := func(phase string) bool { return slices.Contains(r.Setup.Phases, phase) }
	if ran("throughput") || ran("latency") || ran("core") || ran("restore") || ran("quality") {
		// The dispatch phase sets out its own load.
		fmt.Fprintf(tw, "load\t%s, %d drivers, %d events (input compression %s), %d engine instances, %d region partitions, %s assignment\n",
			r.Setup.Scenario, r.Setup.Drivers, r.Setup.Events, r.Setup.Compression, r.Setup.Instances, r.Setup.Partitions, r.Setup.Assignment)
		fmt.Fprintln(tw, "\t")
	}
	if ran("throughput") {
		printThroughput(tw, r)
	}
	if ran("latency") {
		printLatency(tw, r)
	}
	if ran("core") {
		printCore(tw, r)
	}
	if ran("restore") {
		fmt.Fprintf(tw, "restore\t%.2f s for %d records\n", r.RestoreSeconds, r.RestoredRecords)
	}
	if ran("quality") {
		printQuality(tw, r)
	}
	tw.Flush()
	if ran("dispatch") && r.Dispatch != nil {
		printDispatch(w, r.Dispatch)
	}
}

// presetHelp lists the dispatch presets for the --scenario help.
func presetHelp() string {
	var names []string
	for _, p := range bench.Presets() {
		names = append(names, fmt.Sprintf("%s (%s from %s local, %d drivers, %g requests/s)", p.Name, p.City, clock(p.Start), p.Drivers, p.Rate))
	}
	return strings.Join(names, " or ")
}

// clock writes a time of day as 15:04.
func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// dispatchRow is a row of the dispatch table: a figure, its format, and how to read it.
type dispatchRow struct {
	name   string
	format string
	get    func(bench.DispatchFigures) float64
}

// printDispatch prints the dispatch phase as a table of its own: the policies and the
// bound as columns, the figures as rows.
func printDispatch(w io.Writer, d *bench.Dispatch) {
	offers := ""
	if o := d.Offers; o != nil {
		offers = fmt.Sprintf(", driver offers of %s accepted at %g", o.Timeout, o.AcceptRate)
	}
	fmt.Fprintf(w, "\ndispatch: %s, %d drivers, %g requests/s, %s from %s, batch window %s, GPS every %s%s\n",
		d.Name(), d.Drivers, d.Rate, d.Span, d.Start, d.Window, d.GPSInterval, offers)
	cols := []bench.DispatchFigures{d.Policies["greedy"], d.Policies["batch"], d.Policies["adaptive"], d.Bound}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tgreedy\tbatch\tadaptive\tbound\t")
	rows := []dispatchRow{
		{"requests", "%.0f", func(f bench.DispatchFigures) float64 { return float64(f.Requests) }},
		{"match rate", "%.3f", func(f bench.DispatchFigures) float64 { return f.MatchRate }},
		{"completed rides", "%.0f", func(f bench.DispatchFigures) float64 { return float64(f.CompletedRides) }},
		{"mean pickup km", "%.2f", func(f bench.DispatchFigures) float64 { return f.MeanPickupKM }},
		{"p95 pickup km", "%.2f", func(f bench.DispatchFigures) float64 { return f.P95PickupKM }},
		{"mean wait s", "%.1f", func(f bench.DispatchFigures) float64 { return f.MeanWaitS }},
		{"p95 wait s", "%.1f", func(f bench.DispatchFigures) float64 { return f.P95WaitS }},
		{"p99 wait s", "%.1f", func(f bench.DispatchFigures) float64 { return f.P99WaitS }},
		{"driver utilization", "%.3f", func(f bench.DispatchFigures) float64 { return f.DriverUtilization }},
		{"matched at once", "%.3f", func(f bench.DispatchFigures) float64 { return f.MatchedAtOnce }},
		{"contested", "%.3f", func(f bench.DispatchFigures) float64 { return f.Contested }},
		{"batched", "%.3f", func(f bench.DispatchFigures) float64 { return f.Batched }},
	}
	if d.Offers != nil {
		offer := func(get func(*bench.OfferFigures) float64) func(bench.DispatchFigures) float64 {
			return func(f bench.DispatchFigures) float64 {
				if f.Offers == nil {
					return 0
				}
				return get(f.Offers)
			}
		}
		rows = append(rows, []dispatchRow{
			{"offers per request", "%.2f", offer(func(o *bench.OfferFigures) float64 { return o.PerRequest })},
			{"offers accepted", "%.3f", offer(func(o *bench.OfferFigures) float64 { return o.AcceptRate })},
			{"ran out of offers", "%.3f", offer(func(o *bench.OfferFigures) float64 { return o.RanOut })},
		}...)
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t", row.name)
		for _, c := range cols {
			fmt.Fprintf(tw, row.format+"\t", row.get(c))
		}
		fmt.Fprintln(tw)
	}
	bins := 0
	for _, c := range cols {
		bins = max(bins, len(c.PickupHistogram))
	}
	for b := range bins {
		fmt.Fprintf(tw, "pickup to %.1f km\t", float64(b+1)*bench.PickupBinKM)
		for _, c := range cols {
			n := 0
			if b < len(c.PickupHistogram) {
				n = c.PickupHistogram[b]
			}
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func printThroughput(tw io.Writer, r bench.Result) {
	fmt.Fprintf(tw, "engine throughput\t%.0f input events/s (runs %.0f..%.0f)\n", r.EngineEventsPerSec, r.EngineSpread.Min, r.EngineSpread.Max)
	fmt.Fprintf(tw, "plumbing floor\t%.0f events/s (runs %.0f..%.0f; engine/floor %.2f)\n", r.FloorEventsPerSec, r.FloorSpread.Min, r.FloorSpread.Max, r.EngineEventsPerSec/max(r.FloorEventsPerSec, 1))
	if e, f := r.EngineCPUPerEventUS, r.FloorCPUPerEventUS; e.Median > 0 {
		fmt.Fprintf(tw, "CPU an event\tengine %.2f us (runs %.2f..%.2f), floor %.2f us (runs %.2f..%.2f), all cores\n", e.Median, e.Min, e.Max, f.Median, f.Min, f.Max)
	}
	if len(r.EngineSeries) > 0 {
		fmt.Fprintf(tw, "\tengine over time %s (every %gs, peak %.0f)\n", bench.Sparkline(r.EngineSeries), r.SeriesStepSeconds, slices.Max(r.EngineSeries))
	}
	if len(r.FloorSeries) > 0 {
		fmt.Fprintf(tw, "\tfloor over time  %s (every %gs, peak %.0f)\n", bench.Sparkline(r.FloorSeries), r.SeriesStepSeconds, slices.Max(r.FloorSeries))
	}
	for _, u := range r.Unfinished {
		fmt.Fprintf(tw, "\tunfinished: %s (its rate a lower bound)\n", u)
	}
	fmt.Fprintf(tw, "raw consume\t%.0f records/s\n", r.RawConsumePerSec)
}

func printLatency(tw io.Writer, r bench.Result) {
	fmt.Fprintf(tw, "end-to-end latency\tp50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms at %.0f events/s offered (every outcome but the border matches)\n",
		r.E2ELatencyMS.P50, r.E2ELatencyMS.P95, r.E2ELatencyMS.P99, r.E2ELatencyMS.Max, r.OfferedPerSec)
	if c := r.LatencyCost; c.CPUCores > 0 {
		fmt.Fprintf(tw, "\tthe process meanwhile: %.2f of %d cores, %d collections, %.0f MB/s allocated\n", c.CPUCores, r.Machine.Cores, c.GCCycles, c.AllocMBPerSec)
	}
	for _, p := range r.E2ELatencyCurve {
		fmt.Fprintf(tw, "\tp50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms at %.0f events/s offered\n", p.P50, p.P95, p.P99, p.Max, p.OfferedPerSec)
	}
	for _, line := range bench.HistogramBars(r.E2ELatencyHistogram, 40) {
		fmt.Fprintf(tw, "\t%s\n", line)
	}
	if b := r.BorderE2ELatencyMS; r.BorderMatches > 0 {
		fmt.Fprintf(tw, "border matches\tp50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms over %d matches with the driver in another region partition\n",
			b.P50, b.P95, b.P99, b.Max, r.BorderMatches)
	} else {
		fmt.Fprintf(tw, "border matches\tnone: no match had its driver in another region partition\n")
	}
	if f, c := r.FloorE2ELatencyMS, r.FloorLatencyCost; f.P50 > 0 {
		fmt.Fprintf(tw, "latency floor\tp50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms at the same load, no processing (the process: %.2f cores, %d collections, %.0f MB/s allocated)\n",
			f.P50, f.P95, f.P99, f.Max, c.CPUCores, c.GCCycles, c.AllocMBPerSec)
	}
	for _, stage := range []string{"router", "matcher"} {
		st, ok := r.TransactionStepsMS[stage]
		if !ok {
			continue
		}
		fmt.Fprintf(tw, "%s transactions\tprocess p50 %.1f ms, p99 %.1f ms; produce p50 %.1f ms, p99 %.1f ms; commit p50 %.1f ms, p99 %.1f ms\n", stage,
			st["process"].P50, st["process"].P99, st["produce"].P50, st["produce"].P99, st["commit"].P50, st["commit"].P99)
	}
}

func printCore(tw io.Writer, r bench.Result) {
	fmt.Fprintf(tw, "index updates\t%.0f /s on one core (runs %.0f..%.0f)\n", r.IndexUpdatesPerSec, r.IndexUpdatesSpread.Min, r.IndexUpdatesSpread.Max)
	fmt.Fprintf(tw, "match latency\tp50 %.1f us, p99 %.1f us (each request's fastest run)\n", r.MatchLatencyUS.P50, r.MatchLatencyUS.P99)
	fmt.Fprintf(tw, "\tp50 %.1f us, p99 %.1f us (every run pooled, the machine's interruptions included)\n", r.MatchLatencyRawUS.P50, r.MatchLatencyRawUS.P99)
	fmt.Fprintf(tw, "memory\t%.0f bytes per cached driver\n", r.BytesPerDriver)
}

func printQuality(tw io.Writer, r bench.Result) {
	fmt.Fprintf(tw, "match rate\t%.3f (oracle %.3f)\n", r.MatchRate, r.OracleMatchRate)
	fmt.Fprintf(tw, "pickup distance\tmean %.3f km, p95 %.3f km (oracle mean %.3f, p95 %.3f)\n", r.MeanPickupKM, r.P95PickupKM, r.OracleMeanPickupKM, r.OracleP95PickupKM)
	fmt.Fprintf(tw, "cross-region misses\t%.4f of %d requests\n", r.CrossRegionMissRate, r.QualityRequests)
	fmt.Fprintf(tw, "border requests\t%d, %.4f of them missed\n", r.BorderRequests, r.BorderMissRate)
}
