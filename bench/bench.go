package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"ridematch"
)

// Run measures everything, phase by phase, and returns the figures.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			cfg.Progress(fmt.Sprintf(format, args...))
		}
	}
	if err := loadScenario(&cfg); err != nil {
		return Result{}, err
	}
	if rp := cfg.replay; rp != nil {
		rc := rp.Counts()
		progress("replaying %s: %d requests from %s to %s, %.3f a second of file time, paced to %.0f a simulated second",
			rc.File, rc.Requests, rc.First.Format(time.DateTime), rc.Last.Format(time.DateTime), rp.Rate(), cfg.Rate)
	}
	res := Result{
		Machine: machine(),
		Setup: Setup{
			Scenario: cfg.Scenario, Drivers: cfg.Drivers, Events: cfg.Events, Instances: cfg.Instances,
			Compression: cfg.InputCompression, LatencyRate: cfg.LatencyRate, Partitions: cfg.Engine.Topics.Get(ridematch.RoleRegionLog).Partitions,
			RegionRes: cfg.Engine.Matcher.Resolutions.Region, Duration: cfg.Duration.String(),
			Assignment: cfg.Engine.Matcher.Assignment.String(), BatchWindow: cfg.Engine.Matcher.BatchWindow.String(),
			Phases: slices.Clone(cfg.Phases),
		},
	}

	run := func(phase string) bool { return slices.Contains(cfg.Phases, phase) }
	if run("core") {
		if err := runCore(cfg, &res, progress); err != nil {
			return res, err
		}
	}
	if run("quality") {
		if err := runQuality(cfg, &res, progress); err != nil {
			return res, err
		}
	}
	if run("throughput") {
		if err := runThroughput(ctx, cfg, &res, progress); err != nil {
			return res, err
		}
	}
	if run("latency") {
		rates := append(slices.Clone(cfg.LatencyCurve), cfg.LatencyRate)
		for _, rate := range rates {
			progress("latency: offering %.0f events/s for %s", rate, cfg.Duration)
			run, err := measureLatency(ctx, cfg, rate, false)
			if err != nil {
				return res, err
			}
			lat, offered := run.lat, run.offered
			run.report(progress)
			if len(rates) > 1 {
				res.E2ELatencyCurve = append(res.E2ELatencyCurve, LatencyPoint{OfferedPerSec: offered, Percentiles: lat, Cost: run.cost})
			}
			res.E2ELatencyMS, res.E2ELatencyHistogram, res.OfferedPerSec, res.LatencyCost = lat, run.hist, offered, run.cost
			res.BorderE2ELatencyMS, res.BorderMatches = run.border, run.borderMatches
			res.TransactionStepsMS = run.steps
			runtime.GC()
		}
		progress("latency: the plumbing floor, offering %.0f events/s for %s", cfg.LatencyRate, cfg.Duration)
		run, err := measureLatency(ctx, cfg, cfg.LatencyRate, true)
		if err != nil {
			return res, err
		}
		run.report(progress)
		res.FloorE2ELatencyMS, res.FloorLatencyCost = run.lat, run.cost
		runtime.GC()
	}
	if run("restore") {
		progress("restore: %s of a partition at %.0f events/s", cfg.RestoreSpan, cfg.RestoreRate)
		took, records, err := measureRestore(ctx, cfg)
		if err != nil {
			return res, err
		}
		res.RestoreSeconds, res.RestoredRecords = took.Seconds(), records
		progress("  %d records restored in %.2fs", records, res.RestoreSeconds)
	}
	if run("dispatch") {
		if err := runDispatch(cfg, &res, progress); err != nil {
			return res, err
		}
	}
	return res, nil
}

type progressFunc func(format string, args ...any)

// runCore measures the matcher alone, in process, on one core.
func runCore(cfg Config, res *Result, progress progressFunc) error {
	progress("index and match: %d drivers in one city, %d runs", cfg.IndexDrivers, cfg.Runs)
	cl, err := newCityLog(cfg, cfg.IndexDrivers, 10, 2000)
	if err != nil {
		return err
	}
	if res.IndexUpdatesSpread, err = measureIndex(cfg, cl); err != nil {
		return err
	}
	res.IndexUpdatesPerSec = res.IndexUpdatesSpread.Median
	if res.MatchLatencyUS, res.MatchLatencyRawUS, err = measureMatch(cfg, cl); err != nil {
		return err
	}
	if res.BytesPerDriver, err = measureMemory(cfg, cl); err != nil {
		return err
	}
	progress("  %.0f index updates/s (%.0f..%.0f), match p50 %.1fus p99 %.1fus (every run pooled: p99 %.1fus), %.0f bytes/driver",
		res.IndexUpdatesPerSec, res.IndexUpdatesSpread.Min, res.IndexUpdatesSpread.Max, res.MatchLatencyUS.P50, res.MatchLatencyUS.P99, res.MatchLatencyRawUS.P99, res.BytesPerDriver)

	return nil
}

// runQuality compares the partitioned engine's matches with a global oracle's.
func runQuality(cfg Config, res *Result, progress progressFunc) error {
	progress("match quality: the partitioned engine against a global oracle")
	run, err := measureQuality(cfg, res.Setup.Partitions, cfg.QualityDrivers, cfg.QualityRate, 5*time.Minute)
	if err != nil {
		return err
	}
	eq, oq := run.engine, run.oracle
	res.MatchRate, res.MeanPickupKM, res.P95PickupKM = eq.rate(), eq.mean(), percentiles(eq.pickupKM).P95
	res.OracleMatchRate, res.OracleMeanPickupKM, res.OracleP95PickupKM = oq.rate(), oq.mean(), percentiles(oq.pickupKM).P95
	res.CrossRegionMissRate, res.QualityRequests = run.missRate(), eq.requests
	res.BorderRequests, res.BorderMissRate = run.border, run.borderMissRate()
	progress("  match rate %.3f (oracle %.3f), mean pickup %.3f km (oracle %.3f), cross-region misses %.4f; %d border requests of %d, %.4f of them missed",
		res.MatchRate, res.OracleMatchRate, res.MeanPickupKM, res.OracleMeanPickupKM, res.CrossRegionMissRate, res.BorderRequests, res.QualityRequests, res.BorderMissRate)

	return nil
}

// runThroughput measures, through Kafka, a raw consumer, the plumbing floor and the
// engine over one input: one broker holds it, and each reads it with its own groups and
// writes its own topics.
func runThroughput(ctx context.Context, cfg Config, res *Result, progress progressFunc) error {
	progress("throughput: generating %d input events (%s, %d drivers)", cfg.Events, cfg.Scenario, cfg.Drivers)
	in, err := generate(cfg, cfg.Events, time.Now())
	if err != nil {
		return err
	}
	b, err := startBroker(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := produce(ctx, b.Addr(), in, cfg); err != nil {
		return err
	}
	in = nil
	runtime.GC()
	if res.RawConsumePerSec, err = measureRawConsume(ctx, cfg, b.Addr(), cfg.Events); err != nil {
		return err
	}
	progress("  raw consume %.0f events/s", res.RawConsumePerSec)
	res.SeriesStepSeconds = seriesStep.Seconds()
	var engine, floor, engineCPU, floorCPU []float64
	var engineSeries, floorSeries [][]float64
	for round := range cfg.ThroughputRuns {
		for i := range 2 {
			noop := (round+i)%2 == 0 // floor first in even rounds, engine first in odd
			phase, label := "engine", "engine"
			if noop {
				phase, label = "floor", "plumbing floor"
			}
			run, err := measureStages(ctx, cfg, b.Addr(), cfg.Events, fmt.Sprintf("%s-%d", phase, round+1), noop, round == 0)
			if err != nil {
				return err
			}
			if noop {
				floor, floorSeries, floorCPU = append(floor, run.rate), append(floorSeries, run.series), append(floorCPU, run.cpuPerEvent)
			} else {
				engine, engineSeries, engineCPU = append(engine, run.rate), append(engineSeries, run.series), append(engineCPU, run.cpuPerEvent)
			}
			progress("  %s %.0f events/s, %.2f us of CPU an event (round %d of %d)", label, run.rate, run.cpuPerEvent, round+1, cfg.ThroughputRuns)
			if run.unfinished != "" {
				res.Unfinished = append(res.Unfinished, fmt.Sprintf("%s round %d: %s", label, round+1, run.unfinished))
				progress("  warning: this %s round did not finish within --duration %s (%s); its rate is a lower bound", label, cfg.Duration, run.unfinished)
			}
		}
	}
	res.EngineSpread, res.FloorSpread = spread(engine), spread(floor)
	res.EngineEventsPerSec, res.FloorEventsPerSec = res.EngineSpread.Median, res.FloorSpread.Median
	res.EngineSeries, res.FloorSeries = medianSeries(engine, engineSeries), medianSeries(floor, floorSeries)
	res.EngineCPUPerEventUS, res.FloorCPUPerEventUS = spread(engineCPU), spread(floorCPU)
	progress("  engine %.0f events/s (%.2f of the floor), %.2f us of CPU an event (the floor %.2f), medians of %d rounds",
		res.EngineEventsPerSec, res.EngineEventsPerSec/res.FloorEventsPerSec, res.EngineCPUPerEventUS.Median, res.FloorCPUPerEventUS.Median, cfg.ThroughputRuns)
	b.Close()
	runtime.GC()
	return nil
}

// medianSeries is the series of the run whose rate is the median of rates.
func medianSeries(rates []float64, series [][]float64) []float64 {
	m := spread(rates).Median
	for i, r := range rates {
		if r == m {
			return series[i]
		}
	}
	return nil
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
