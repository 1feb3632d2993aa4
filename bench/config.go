// Package bench measures ridematch on the machine it runs on, in one run: the engine's
// throughput against the plumbing floor and a raw consumer, end-to-end latency at a fixed
// offered load, the matcher's index and match costs, memory per driver, restore time,
// match quality against a global oracle, and how each assignment policy serves one demand
// in a closed loop of simulated drivers (dispatch). BENCHMARKS.md, "What each figure
// means", says how each is measured.
package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"ridematch/engine"
	"ridematch/geo"
	"ridematch/simulator"
)

// Config holds every benchmark setting; DefaultConfig gives the defaults.
type Config struct {
	// Duration bounds each timed phase (default 20s).
	Duration time.Duration
	// Scenario is the load: "all" for a national load over the Indian cities (default),
	// one city's name, or a trip file (CSV, gzip or not, as simulate --replay reads) whose
	// requests are replayed, their timeline compressed to Rate requests a simulated second
	// on average, with drivers where its demand is. A preset's name (scarce, ample; see
	// Presets) is resolved by UsePreset into its city, before Validate.
	Scenario string
	// replay is the Scenario's trip file, read once by Run.
	replay *simulator.Replay
	// Drivers and GPSInterval shape the throughput input (defaults 100,000 and 2s: 50,000
	// updates a second of simulated time); Rate is requests a simulated second (100).
	Drivers     int
	GPSInterval time.Duration
	Rate        float64
	// Events is how many input events the throughput phases consume (default 2,000,000).
	Events int
	// InputCompression is the codec the benchmark's producers write the input with: none
	// (default, as ridematch simulate writes), gzip, snappy, lz4 or zstd. The engine reads
	// any; what it costs is the engine's (decompressing) and the load's (compressing),
	// and in one process both share the cores.
	InputCompression string
	// Instances is how many engine instances share the work in the process (default 2:
	// one per core; each stage of an instance is one loop).
	Instances int
	// LatencyRate is the offered load, in input events a second, of the latency phase
	// (default 250,000, the load docs/design.md sets its latency target at).
	LatencyRate float64
	// LatencyCurve are more offered loads the latency phase measures, before LatencyRate,
	// each on a fresh broker and engines: where the latency stands as the load grows
	// (default none).
	LatencyCurve []float64
	// IndexDrivers is the city-sized driver population of the in-process measurements
	// (default 50,000, in Mumbai).
	IndexDrivers int
	// RestoreRate is the load of the busy partition restored, in events a second
	// (default 20,000: 250,000 a second spread over 12 partitions), over RestoreSpan
	// (default 5m).
	RestoreRate float64
	RestoreSpan time.Duration
	// Runs is how many times each in-process measurement is repeated (default 5); the
	// median is reported, with the spread.
	Runs int
	// ThroughputRuns is how many rounds of the plumbing floor and the engine the
	// throughput phase runs (default 3), alternating which goes first (floor, engine;
	// engine, floor; ...) so that a drift of the machine's speed weighs on both; each
	// figure is the median of its runs.
	ThroughputRuns int
	Seed           uint64
	// Phases names the phases to run (default AllPhases): core (index, match, memory),
	// quality, throughput (raw, floor, engine), latency, restore, dispatch.
	Phases []string
	// Dispatch shapes the dispatch phase.
	Dispatch DispatchConfig
	// QualityDrivers and QualityRate are the quality phase's load: drivers, and requests a
	// simulated second, over five simulated minutes (defaults 20,000 and 20).
	QualityDrivers int
	QualityRate    float64
	// Engine is the engine configuration measured.
	Engine engine.Config
	// CPUProfile, when set, is a file to write a CPU profile of the first engine
	// throughput run to, for go tool pprof; the latency and restore phases' go to the same
	// name plus ".latency" (".latency-floor" for the plumbing floor's) and ".restore".
	CPUProfile string
	// Log receives the engines' and brokers' logs; Progress one line per step.
	Log      zerolog.Logger
	Progress func(string)
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Duration:         20 * time.Second,
		Scenario:         simulator.AllCities,
		Drivers:          100_000,
		GPSInterval:      2 * time.Second,
		Rate:             100,
		Events:           2_000_000,
		Instances:        2,
		InputCompression: "none",
		LatencyRate:      250_000,
		IndexDrivers:     50_000,
		RestoreRate:      20_000,
		RestoreSpan:      5 * time.Minute,
		Runs:             5,
		ThroughputRuns:   3,
		Seed:             1,
		Phases:           AllPhases(),
		Dispatch:         defaultDispatch(),
		QualityDrivers:   20_000,
		QualityRate:      20,
		Engine:           benchEngine(),
		Log:              zerolog.Nop(),
	}
}

// benchEngine is the engine the bench runs: its inputs come from its own simulated world,
// whose records carry simulated time.
func benchEngine() engine.Config {
	c := engine.DefaultConfig()
	c.Clock = engine.ClockProducer
	return c
}

// AllPhases returns the phases of a full run, in the order they run.
func AllPhases() []string {
	return []string{"core", "quality", "throughput", "latency", "restore", "dispatch"}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid benchmark settings")

// The most input events a second a phase offers: far beyond what one process carries.
const maxEventRate = 1e7

// Validate rejects settings the benchmark cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Duration < time.Second:
		return fmt.Errorf("%w: the duration must be at least 1s", ErrConfig)
	case c.Drivers < 100 || c.QualityDrivers < 100 || c.Events < 10_000 || c.Instances < 1 || c.IndexDrivers < 1000 || c.Runs < 1 || c.ThroughputRuns < 1:
		return fmt.Errorf("%w: need at least 100 drivers, 10,000 events, 1,000 index drivers, one instance and one run", ErrConfig)
	case c.RestoreSpan <= 0 || c.GPSInterval <= 0:
		return fmt.Errorf("%w: spans and intervals must be positive", ErrConfig)
	case c.Dispatch.Span < time.Minute:
		return fmt.Errorf("%w: the dispatch span must be at least 1m, not %v", ErrConfig, c.Dispatch.Span)
	case c.Dispatch.Drivers < 1 || c.Dispatch.GPSInterval < 100*time.Millisecond:
		return fmt.Errorf("%w: the dispatch phase needs a driver and a GPS interval of at least 100ms", ErrConfig)
	case c.Dispatch.Start < 0 || c.Dispatch.Start >= 24*time.Hour:
		return fmt.Errorf("%w: the dispatch start is a time of day, between 0 and 24h, not %v", ErrConfig, c.Dispatch.Start)
	}
	type setting struct {
		name   string
		v      float64
		lo, hi float64
	}
	floats := []setting{
		{"the request rate (a simulated second)", c.Rate, 0.01, 1e6},
		{"the quality phase's request rate (a simulated second)", c.QualityRate, 0.01, 1e6},
		{"the dispatch request rate (a simulated second)", c.Dispatch.Rate, 0.01, 1e6},
		{"the dispatch accept rate (a share of the offers)", c.Dispatch.AcceptRate, 0, 1},
		{"the latency rate (events a second)", c.LatencyRate, 1, maxEventRate},
		{"the restore rate (events a second)", c.RestoreRate, 1, maxEventRate},
	}
	for _, r := range c.LatencyCurve {
		floats = append(floats, setting{"a latency curve rate (events a second)", r, 1, maxEventRate})
	}
	for _, f := range floats {
		if err := geo.InRange(f.name, f.v, f.lo, f.hi); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if _, ok := codecs[c.InputCompression]; !ok {
		return fmt.Errorf("%w: unknown input compression %q: it is none, gzip, snappy, lz4 or zstd", ErrConfig, c.InputCompression)
	}
	all := AllPhases()
	for _, p := range c.Phases {
		if !slices.Contains(all, p) {
			return fmt.Errorf("%w: unknown phase %q: the phases are %s", ErrConfig, p, strings.Join(all, ", "))
		}
	}
	if c.Scenario != simulator.AllCities {
		if _, err := geo.CityNamed(c.Scenario); err != nil {
			if _, ferr := os.Stat(c.Scenario); ferr != nil {
				return fmt.Errorf("%w: the scenario %q is neither a city (%w) nor a trip file", ErrConfig, c.Scenario, err)
			}
		}
	}
	if err := c.Engine.Validate(); err != nil {
		return err
	}
	m := c.Engine.Matcher
	m.OfferTimeout = c.Dispatch.OfferTimeout
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: the dispatch phase: %w", ErrConfig, err)
	}
	return nil
}

// Percentiles of a latency distribution.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95,omitempty"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max,omitempty"`
}

// LatencyPoint is the end-to-end latency at one offered load.
type LatencyPoint struct {
	OfferedPerSec float64 `json:"offered_events_per_sec"`
	Percentiles
	Cost Cost `json:"cost"`
}

// Spread is a repeated measurement: the median of the runs, and the least and greatest.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Result is everything a run measured. The JSON keys are the ones `ridematch bench
// --json` promises.
type Result struct {
	EngineEventsPerSec float64 `json:"engine_events_per_sec"`
	FloorEventsPerSec  float64 `json:"floor_events_per_sec"`
	RawConsumePerSec   float64 `json:"raw_consume_per_sec"`
	// E2ELatencyMS is the end-to-end latency of every outcome but the border matches:
	// unmatched, cancelled, and matched with a driver in the pickup's own region-log
	// partition.
	E2ELatencyMS Percentiles `json:"e2e_latency_ms"`
	// BorderE2ELatencyMS is the end-to-end latency of the border matches: ride_matched
	// whose driver_location lies in another region-log partition than its pickup; there
	// were BorderMatches of them in the measured window.
	BorderE2ELatencyMS Percentiles `json:"border_e2e_latency_ms"`
	BorderMatches      int         `json:"border_matches"`
	// OfferedPerSec is the load the latency phase actually offered.
	OfferedPerSec float64 `json:"offered_events_per_sec"`
	// LatencyCost is what the process spent while the latency was measured.
	LatencyCost Cost `json:"latency_cost"`
	// FloorE2ELatencyMS is the plumbing floor's end-to-end latency at the same offered
	// load, measured after the engine's on a fresh broker, and FloorLatencyCost what the
	// process spent meanwhile.
	FloorE2ELatencyMS Percentiles `json:"floor_e2e_latency_ms"`
	FloorLatencyCost  Cost        `json:"floor_latency_cost"`
	// E2ELatencyCurve is the latency at each rate of the latency curve, then LatencyRate,
	// of every outcome but the border matches.
	E2ELatencyCurve []LatencyPoint `json:"e2e_latency_curve,omitempty"`
	// E2ELatencyHistogram is the distribution behind E2ELatencyMS.
	E2ELatencyHistogram []Bucket `json:"e2e_latency_histogram,omitempty"`
	// TransactionStepsMS is how long each step of the stages' transactions took in the
	// latency phase, by stage (router, matcher) and step (process, produce, commit).
	TransactionStepsMS map[string]map[string]Percentiles `json:"transaction_steps_ms,omitempty"`
	// EngineSeries and FloorSeries are the input events a second of the throughput
	// phases over time, a value every SeriesStepSeconds.
	EngineSeries      []float64 `json:"engine_events_per_sec_series,omitempty"`
	FloorSeries       []float64 `json:"floor_events_per_sec_series,omitempty"`
	SeriesStepSeconds float64   `json:"series_step_seconds,omitempty"`

	IndexUpdatesPerSec float64 `json:"index_updates_per_sec"`
	// MatchLatencyUS takes each request at its fastest of the runs: the code's cost, the
	// machine's interruptions aside. MatchLatencyRawUS pools every run, interruptions and
	// all.
	MatchLatencyUS    Percentiles `json:"match_latency_us"`
	MatchLatencyRawUS Percentiles `json:"match_latency_raw_us"`
	BytesPerDriver    float64     `json:"bytes_per_driver"`
	RestoreSeconds    float64     `json:"restore_seconds"`
	RestoredRecords   int         `json:"restored_records"`

	MatchRate          float64 `json:"match_rate"`
	MeanPickupKM       float64 `json:"mean_pickup_km"`
	P95PickupKM        float64 `json:"p95_pickup_km"`
	OracleMatchRate    float64 `json:"oracle_match_rate"`
	OracleMeanPickupKM float64 `json:"oracle_mean_pickup_km"`
	OracleP95PickupKM  float64 `json:"oracle_p95_pickup_km"`
	// CrossRegionMissRate is the share of the requests whose oracle driver stood in a
	// region-log partition other than the pickup's and that the partitioned engine served
	// worse: left unmatched or cancelled, or matched at a lower score.
	CrossRegionMissRate float64 `json:"cross_region_miss_rate"`
	QualityRequests     int     `json:"quality_requests"`
	// BorderRequests are the requests that arrived with a driver within reach (available,
	// of a vehicle the ride type takes, fresh, within the pickup radius) in another
	// region-log partition, or whose oracle driver stood in one; BorderMissRate is the
	// cross-region misses, a share of them.
	BorderRequests int     `json:"border_requests"`
	BorderMissRate float64 `json:"border_miss_rate"`

	// Dispatch is how each assignment policy served the dispatch phase's demand; nil
	// when the phase did not run.
	Dispatch *Dispatch `json:"dispatch,omitempty"`

	// The spreads behind the in-process figures, and how the run was set up.
	IndexUpdatesSpread Spread `json:"index_updates_spread"`
	EngineSpread       Spread `json:"engine_events_per_sec_spread"`
	FloorSpread        Spread `json:"floor_events_per_sec_spread"`
	// EngineCPUPerEventUS and FloorCPUPerEventUS are the process's CPU time (every core,
	// user and system) over a throughput run, divided by its input events: steadier than
	// the rates on a machine whose speed changes, as it counts work, not waiting.
	EngineCPUPerEventUS Spread `json:"engine_cpu_us_per_event"`
	FloorCPUPerEventUS  Spread `json:"floor_cpu_us_per_event"`
	// Unfinished lists the throughput rounds that stopped at --duration before consuming
	// everything, with what was left: their rates are lower bounds.
	Unfinished []string `json:"unfinished_rounds,omitempty"`
	Machine    Machine  `json:"machine"`
	Setup      Setup    `json:"setup"`
}

// Machine says where the figures were measured.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
}

// Setup echoes the settings that shape the figures.
type Setup struct {
	Scenario    string  `json:"scenario"`
	Drivers     int     `json:"drivers"`
	Events      int     `json:"events"`
	Instances   int     `json:"instances"`
	Compression string  `json:"input_compression"`
	LatencyRate float64 `json:"latency_rate"`
	Partitions  int32   `json:"region_partitions"`
	RegionRes   int     `json:"region_resolution"`
	Duration    string  `json:"duration"`
	// Assignment and BatchWindow are the matcher's, in every phase but dispatch, which
	// runs each policy in turn with this window.
	Assignment  string `json:"assignment"`
	BatchWindow string `json:"batch_window"`
	// Phases are the phases run: a figure of a phase not run is zero, not a measurement.
	Phases []string `json:"phases"`
}

// DispatchConfig shapes the dispatch phase: a closed loop of simulated drivers and riders
// in the Scenario's city, run once per assignment policy.
type DispatchConfig struct {
	// Preset is the named scenario UsePreset applied, if any, echoed in the result.
	Preset string
	// Drivers and Rate (requests a simulated second) are the supply and the demand
	// (defaults 6,000 and 1: ample drivers, a third of the presets' demand, so that a full
	// run of every phase stays short).
	Drivers int
	Rate    float64
	// Span is how long each policy runs, in simulated time (default 2h).
	Span time.Duration
	// Start is when the world starts, as a local time of day in the Scenario's city on a
	// fixed Wednesday (default the presets' 17:30, the evening peak, when the simulated
	// traffic is slower).
	Start time.Duration
	// GPSInterval is how often each driver reports (default 4s: half the update work of
	// the simulator's 2s, and still well inside the matcher's 30s driver TTL).
	GPSInterval time.Duration
	// OfferTimeout is the engine's matcher.Config.OfferTimeout in this phase: positive,
	// the matcher offers each driver it picks the request, and the loop's drivers answer
	// (default 0: offers off, as the engine's default). The other phases have no drivers
	// to answer, and run without offers.
	OfferTimeout time.Duration
	// AcceptRate is the share of the offers the loop's drivers accept, with offers on
	// (default 0.85, the simulator's): each answers as simulate's drivers do
	// (simulator.Decide, after its own response delay of 1s to 5s).
	AcceptRate float64
}

func defaultDispatch() DispatchConfig {
	ample, _ := PresetNamed("ample")
	return DispatchConfig{
		Drivers:     6000,
		Rate:        1,
		Span:        2 * time.Hour,
		Start:       ample.Start,
		GPSInterval: 4 * time.Second,
		AcceptRate:  0.85,
	}
}
