package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/broker"
	"ridematch/cluster"
	"ridematch/engine"
	"ridematch/event"
	"ridematch/matcher"
	"ridematch/router"
	"ridematch/simulator"
)

// startBroker starts an embedded broker on a free loopback port.
func startBroker(ctx context.Context, cfg Config) (*broker.Broker, error) {
	bc := broker.DefaultConfig()
	bc.Listen, bc.Topics = "127.0.0.1:0", cfg.Engine.Topics
	return broker.Start(ctx, bc, cfg.Log)
}

func client(addr string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)...)
}

// codecs are the input compressions the benchmark can write.
var codecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

// inputCompression is how the benchmark's producers compress the input.
func inputCompression(cfg Config) kgo.Opt {
	return kgo.ProducerBatchCompression(codecs[cfg.InputCompression])
}

// produce writes the whole input to the broker, as fast as it takes it.
func produce(ctx context.Context, addr string, in *input, cfg Config) error {
	topics := cfg.Engine.Topics
	cl, err := client(addr, inputCompression(cfg), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(200_000), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	var first atomic.Value
	for i := range in.recs {
		cl.Produce(ctx, in.record(i, topics), func(_ *kgo.Record, err error) {
			if err != nil {
				first.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, _ := first.Load().(error); err != nil {
		return fmt.Errorf("producing the input: %w", err)
	}
	return nil
}

// measureRawConsume reads the input back with a plain consumer: the most any stage
// reading it could do.
func measureRawConsume(ctx context.Context, cfg Config, addr string, n int) (float64, error) {
	cl, err := client(addr,
		kgo.ConsumeTopics(cfg.Engine.Topics.Name(ridematch.RoleDriverLocations), cfg.Engine.Topics.Name(ridematch.RoleRideRequests)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(cfg.Engine.FetchMaxBytes))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	got := 0
	var start time.Time
	deadline := time.Now().Add(cfg.Duration)
	for got < n && time.Now().Before(deadline) {
		fs := cl.PollRecords(ctx, 10_000)
		if start.IsZero() {
			start = time.Now()
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		got += fs.NumRecords()
	}
	return float64(got) / time.Since(start).Seconds(), nil
}

// written reports whether the engine writes t, as opposed to reading it as input: each
// phase writes its own.
func written(t ridematch.Topic) bool {
	return t.Role != ridematch.RoleDriverLocations && t.Role != ridematch.RoleRideRequests
}

// phaseTopics gives a phase its own internal and output topics and groups, beside the
// shared input topics, so that phases on one broker do not mix.
func phaseTopics(cfg Config, phase string) engine.Config {
	ec := cfg.Engine
	ec.Topics = ridematch.Topics{Topics: append([]ridematch.Topic(nil), cfg.Engine.Topics.Topics...)}
	for i, t := range ec.Topics.Topics {
		if written(t) {
			ec.Topics.Topics[i].Name = "bench-" + phase + "-" + t.Name
		}
	}
	ec.RouterGroup, ec.MatcherGroup = "bench-"+phase+"-router", "bench-"+phase+"-matcher"
	return ec
}

// running is engine instances sharing a phase's work.
type running struct {
	engines []*engine.Engine
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
}

func startEngines(ctx context.Context, cfg Config, ec engine.Config, addr string) (*running, error) {
	ec.Cluster.Brokers = []string{addr}
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel}
	for i := 0; i < cfg.Instances; i++ {
		c := ec
		c.InstanceID = fmt.Sprintf("bench-%d-%d", i, time.Now().UnixNano())
		e, err := engine.New(c, cfg.Log)
		if err != nil {
			cancel()
			return nil, err
		}
		r.engines = append(r.engines, e)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := e.Run(ctx); err != nil {
				r.mu.Lock()
				r.err = errors.Join(r.err, err)
				r.mu.Unlock()
			}
		}()
	}
	return r, nil
}

func (r *running) stop() error {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *running) sum() engine.Snapshot {
	var s engine.Snapshot
	for _, e := range r.engines {
		s.Add(e.Stats())
	}
	return s
}

func (r *running) ready() bool {
	for _, e := range r.engines {
		if !e.Ready() {
			return false
		}
	}
	return true
}

// measureStages runs the engine (or, with noop, the plumbing floor) over the input in the
// broker, from the first record routed until both groups have consumed everything, and
// returns the input events a second over the run, and over each seriesStep of it, and
// the process's CPU time an event. With profile (and Config.CPUProfile) it profiles an
// engine run.
func measureStages(ctx context.Context, cfg Config, addr string, n int, phase string, noop, profile bool) (stagesRun, error) {
	ec := phaseTopics(cfg, phase)
	if noop {
		ec.Topology = floorTopology
	}
	cl, err := client(addr)
	if err != nil {
		return stagesRun{}, err
	}
	defer cl.Close()
	if _, err := cluster.EnsureTopics(ctx, cl, ec.Topics, 1); err != nil {
		return stagesRun{}, err
	}
	if cfg.CPUProfile != "" && !noop && profile {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return stagesRun{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return stagesRun{}, err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := startEngines(ctx, cfg, ec, addr)
	if err != nil {
		return stagesRun{}, err
	}
	adm := kadm.NewClient(cl)
	var (
		start, mark time.Time
		routed      uint64
		marked      uint64
		series      []float64
		meter       *costMeter
	)
	var ends kadm.ListedOffsets // of the region log, once everything is routed
	var unfinished string       // what was left when cfg.Duration ran out
	for {
		if err := ctx.Err(); err != nil {
			r.stop()
			return stagesRun{}, err
		}
		time.Sleep(20 * time.Millisecond)
		s := r.sum()
		routed = s.RouterIn
		if routed > 0 && start.IsZero() {
			start, mark, meter = time.Now(), time.Now(), startCost()
		}
		if !mark.IsZero() && time.Since(mark) >= seriesStep {
			series = append(series, float64(routed-marked)/time.Since(mark).Seconds())
			mark, marked = time.Now(), routed
		}
		if !start.IsZero() && time.Since(start) > cfg.Duration {
			unfinished = fmt.Sprintf("%d of %d events routed", routed, n)
			if routed >= uint64(n) {
				_, behind := consumedTo(ctx, adm, ec.MatcherGroup, ends)
				unfinished = "every event routed; the matcher group behind on " + cmp.Or(behind, "the region log's end, not yet read")
			}
			break
		}
		if routed < uint64(n) {
			continue
		}
		// Ticks keep coming, so the matcher is never quite at the end: done is when it has
		// consumed what was written by the time the last input was routed.
		if ends == nil {
			if ends, err = adm.ListCommittedOffsets(ctx, ec.Topics.Name(ridematch.RoleRegionLog)); err != nil {
				ends = nil
			}
			continue
		}
		if done, _ := consumedTo(ctx, adm, ec.MatcherGroup, ends); done {
			break
		}
	}
	elapsed, cost := time.Since(start), meter.since()
	events := float64(min(routed, uint64(n)))
	if err := r.stop(); err != nil {
		return stagesRun{}, err
	}
	// The next run starts from the broker this one found: the input alone.
	var names []string
	for _, t := range ec.Topics.Topics {
		if written(t) {
			names = append(names, t.Name)
		}
	}
	if _, err := adm.DeleteTopics(ctx, names...); err != nil {
		return stagesRun{}, fmt.Errorf("deleting the topics of the %s run: %w", phase, err)
	}
	runtime.GC()
	return stagesRun{rate: events / elapsed.Seconds(), series: series, cpuPerEvent: cost.CPUCores * elapsed.Seconds() / events * 1e6, unfinished: unfinished}, nil
}

// stagesRun is what measureStages measured: input events a second, over the whole run and
// over each seriesStep of it, and the process's CPU time an event, in microseconds.
type stagesRun struct {
	rate        float64
	series      []float64
	cpuPerEvent float64
	// unfinished says what was left if the run stopped at Config.Duration, its rate then
	// a lower bound; empty if it finished.
	unfinished string
}

// seriesStep is the step of the throughput phases' time series.
const seriesStep = 500 * time.Millisecond

// consumedTo reports whether a group's committed offsets have reached ends, and if not,
// which partitions have not, with their committed and end offsets.
func consumedTo(ctx context.Context, adm *kadm.Client, group string, ends kadm.ListedOffsets) (bool, string) {
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, fmt.Sprintf("(its offsets: %v)", err)
	}
	var behind []string
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil || e.Offset == 0 {
			return
		}
		c, ok := committed.Lookup(e.Topic, e.Partition)
		switch {
		case !ok:
			behind = append(behind, fmt.Sprintf("%s/%d (nothing committed, end %d)", e.Topic, e.Partition, e.Offset))
		case c.Err != nil || c.At < e.Offset:
			behind = append(behind, fmt.Sprintf("%s/%d (%d of %d)", e.Topic, e.Partition, c.At, e.Offset))
		}
	})
	slices.Sort(behind)
	return len(behind) == 0 && ends != nil, strings.Join(behind, ", ")
}

// measureLatency offers a steady load, rate input events a second, to running
// engines, and times each request from its produce call to its outcome read back
// through read_committed, the border matches (see borderMatcher) apart from the rest.
// The load is the scenario's, generated before the clock starts (so that making it costs
// the measurement nothing) and produced at the offered pace; its simulated time runs as
// much faster than the wall clock as the pace needs. The first two seconds are warm-up;
// the measured window is the duration, at most ten seconds.
//
// With noop it times the plumbing floor instead: the same topology with no processing,
// whose matcher writes each request, copied, as its outcome.
func measureLatency(ctx context.Context, cfg Config, rate float64, noop bool) (latencyRun, error) {
	window := min(cfg.Duration, 10*time.Second)
	warmup := 2 * time.Second
	n := int(rate * (warmup + window).Seconds())
	in, err := generate(cfg, n, time.Now())
	if err != nil {
		return latencyRun{}, err
	}
	b, err := startBroker(ctx, cfg)
	if err != nil {
		return latencyRun{}, err
	}
	defer b.Close()
	var (
		mu    sync.Mutex
		warm  time.Time // set once the load starts; steps before it are warm-up
		steps = map[string]map[string][]float64{}
	)
	ec := cfg.Engine
	if noop {
		ec.Topology = floorTopology
	}
	ec.OnTransaction = func(t engine.TransactionTiming) {
		mu.Lock()
		defer mu.Unlock()
		if warm.IsZero() || time.Now().Before(warm) {
			return
		}
		if steps[t.Stage] == nil {
			steps[t.Stage] = map[string][]float64{}
		}
		for step, d := range map[string]time.Duration{"process": t.Process, "produce": t.Produce, "commit": t.Commit} {
			steps[t.Stage][step] = append(steps[t.Stage][step], float64(d.Microseconds())/1000)
		}
	}
	r, err := startEngines(ctx, cfg, ec, b.Addr())
	if err != nil {
		return latencyRun{}, err
	}
	defer r.stop()
	for !r.ready() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}

	if cfg.CPUProfile != "" {
		// With a latency curve each engine run writes it again: the last, at the offered
		// load, is the one kept.
		name := cfg.CPUProfile + ".latency"
		if noop {
			name += "-floor"
		}
		stop, err := profileCPU(name)
		if err != nil {
			return latencyRun{}, err
		}
		defer stop()
	}
	start := time.Now()
	mu.Lock()
	warm = start.Add(warmup)
	mu.Unlock()
	clock := &requestClock{start: start, warm: warm, sent: map[string]time.Time{}}
	stopReader := timeOutcomes(ctx, cfg, b.Addr(), clock, noop)
	defer stopReader()

	p, err := newLoadProducers(b.Addr(), cfg)
	if err != nil {
		return latencyRun{}, err
	}
	defer p.close()
	produced, meter := p.offer(ctx, in, n, rate, cfg.Engine.Topics, clock)
	offered := float64(produced) / time.Since(start).Seconds()
	var cost Cost
	if meter != nil {
		cost = meter.since()
	}
	// Let the last requests come back.
	time.Sleep(time.Second)
	stopReader()
	lat, borderLat := clock.latencies()
	mu.Lock()
	defer mu.Unlock()
	return latencyRun{
		lat: percentiles(lat), hist: histogram(lat), border: percentiles(borderLat), borderMatches: len(borderLat),
		floor: noop, offered: offered, cost: cost, steps: stepPercentiles(steps),
	}, nil
}

// timeOutcomes reads the outcomes back into clock until the stop it returns is called;
// with noop, the plumbing floor's, which are its requests, copied: none is a match.
func timeOutcomes(ctx context.Context, cfg Config, addr string, clock *requestClock, noop bool) (stop func()) {
	border := borderMatcher(cfg)
	if noop {
		border = func([]byte) bool { return false }
	}
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		done <- readOutcomes(rctx, addr, cfg.Engine.Topics, func(id string, value []byte, at time.Time) {
			clock.read(id, border(value), at)
		})
	}()
	return sync.OnceFunc(func() {
		cancel()
		<-done
	})
}

// borderMatcher returns a function that reports whether an outcome record is a border
// match: a ride_matched whose driver_location lies in another region-log partition than
// its pickup_coordinates, among as many partitions as the engines' region log has.
func borderMatcher(cfg Config) func(value []byte) bool {
	partitionOf := partitionFunc(cfg, cfg.Engine.Topics.Get(ridematch.RoleRegionLog).Partitions)
	return func(value []byte) bool {
		o, err := event.DecodeOutcome(value)
		return err == nil && o.Type == event.TypeRideMatched && partitionOf(o.DriverLocation) != partitionOf(o.Pickup)
	}
}

// stepPercentiles are the percentiles of each step of each stage's transactions.
func stepPercentiles(steps map[string]map[string][]float64) map[string]map[string]Percentiles {
	out := map[string]map[string]Percentiles{}
	for stage, bySteps := range steps {
		out[stage] = map[string]Percentiles{}
		for step, ms := range bySteps {
			out[stage][step] = percentiles(ms)
		}
	}
	return out
}

// requestClock times each request of the latency phase's load from its produce call to
// its outcome read back (ms), the border matches' apart. The load starts at start;
// requests produced before warm are warm-up and not counted.
type requestClock struct {
	start, warm time.Time

	mu     sync.Mutex
	sent   map[string]time.Time // requests produced, by id, until their outcome is read
	lat    []float64            // every outcome's but the border matches'
	border []float64            // the border matches'
}

// produced notes that the request id is produced now.
func (c *requestClock) produced(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent[id] = time.Now()
}

// read takes the outcome of the request id, read at at; border says whether it is a
// border match.
func (c *requestClock) read(id string, border bool, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.sent[id]
	if !ok {
		return
	}
	delete(c.sent, id)
	if !t.After(c.warm) {
		return
	}
	ms := float64(at.Sub(t).Microseconds()) / 1000
	if border {
		c.border = append(c.border, ms)
	} else {
		c.lat = append(c.lat, ms)
	}
}

// latencies returns the latencies of every outcome but the border matches, and of those.
func (c *requestClock) latencies() (others, border []float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lat), slices.Clone(c.border)
}

// loadProducers are the latency phase's two producers, as the two sources are: the
// drivers' positions in bulk, batched as Kafka producers batch by default (franz-go
// lingers 10ms; Kafka's clients 5ms), and the riders' requests, each sent at once. A
// request's latency starts at its produce call.
type loadProducers struct {
	gps, requests *kgo.Client
}

func newLoadProducers(addr string, cfg Config) (*loadProducers, error) {
	gps, err := client(addr, inputCompression(cfg), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return nil, err
	}
	requests, err := client(addr, inputCompression(cfg), kgo.ProducerLinger(0))
	if err != nil {
		gps.Close()
		return nil, err
	}
	return &loadProducers{gps: gps, requests: requests}, nil
}

func (p *loadProducers) close() {
	p.requests.Close()
	p.gps.Close()
}

// offer produces in's first n events at rate a second from clock's start, and returns how
// many it produced and the process's cost from the end of the warm-up on (nil if the load
// ended before it).
func (p *loadProducers) offer(ctx context.Context, in *input, n int, rate float64, topics ridematch.Topics, clock *requestClock) (int, *costMeter) {
	var (
		recs     recycler
		produced int
		meter    *costMeter
	)
	for produced < n && ctx.Err() == nil {
		if meter == nil && !time.Now().Before(clock.warm) {
			meter = startCost()
		}
		due := min(n, int(rate*time.Since(clock.start).Seconds()))
		for ; produced < due; produced++ {
			rec := recs.get()
			in.fill(rec, produced, topics)
			if !in.recs[produced].requests {
				p.gps.Produce(ctx, rec, recs.done)
				continue
			}
			clock.produced(string(rec.Key))
			p.requests.Produce(ctx, rec, recs.done)
		}
		time.Sleep(time.Millisecond)
	}
	return produced, meter
}

// latencyRun is what one offered load of the latency phase measured: the end-to-end
// latency (ms) of every outcome but the border matches, and its distribution; the border
// matches' latency (ms), and how many there were (none for the plumbing floor, which
// matches nothing); the load actually offered, what the process spent on it, and the
// steps of the stages' transactions (ms) by stage and step.
type latencyRun struct {
	lat           Percentiles
	hist          []Bucket
	border        Percentiles
	borderMatches int
	floor         bool
	offered       float64
	cost          Cost
	steps         map[string]map[string]Percentiles
}

// report writes the run's progress line.
func (r latencyRun) report(progress progressFunc) {
	border := ""
	if !r.floor {
		border = fmt.Sprintf("; %d border matches: p50 %.1fms p99 %.1fms", r.borderMatches, r.border.P50, r.border.P99)
	}
	progress("  offered %.0f events/s: p50 %.1fms p95 %.1fms p99 %.1fms max %.1fms%s; %.2f cores, %d collections, %.0f MB/s allocated",
		r.offered, r.lat.P50, r.lat.P95, r.lat.P99, r.lat.Max, border, r.cost.CPUCores, r.cost.GCCycles, r.cost.AllocMBPerSec)
}

// readOutcomes calls fn with each outcome's request id and value as it is read.
func readOutcomes(ctx context.Context, addr string, topics ridematch.Topics, fn func(id string, value []byte, at time.Time)) error {
	cl, err := client(addr, kgo.ConsumeTopics(topics.Name(ridematch.RoleRideMatches)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			// The outcome's key is its request id; match_cancelled is not a final outcome
			// but comes only after a ride_matched, which was timed.
			fn(string(r.Key), r.Value, now)
		})
	}
	return nil
}

// measureRestore builds five minutes (RestoreSpan) of one busy partition of the region
// log, with its decision log, as an engine would have written them; points the matcher
// group's committed offset at their end; writes one more record; and times the restore
// a matcher-only engine does when that record comes.
func measureRestore(ctx context.Context, cfg Config) (time.Duration, int, error) {
	b, err := startBroker(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	cl, err := client(b.Addr(), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	end, records, err := writeBusyPartition(ctx, cfg, cl)
	if err != nil {
		return 0, 0, err
	}
	if err := handOver(ctx, cl, cfg.Engine.MatcherGroup, cfg.Engine.Topics.Name(ridematch.RoleRegionLog), end); err != nil {
		return 0, 0, err
	}
	ec := cfg.Engine
	ec.RunRouter = false
	single := cfg
	single.Instances = 1
	if cfg.CPUProfile != "" {
		stop, err := profileCPU(cfg.CPUProfile + ".restore")
		if err != nil {
			return 0, 0, err
		}
		defer stop()
	}
	r, err := startEngines(ctx, single, ec, b.Addr())
	if err != nil {
		return 0, 0, err
	}
	defer r.stop()
	deadline := time.Now().Add(cfg.Duration + time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		if s := r.sum(); s.Replayed > 0 {
			return s.LastRestore, records, nil
		}
	}
	return 0, records, errors.New("the matcher did not restore the partition")
}

// writeBusyPartition writes RestoreSpan of a busy city into partition 0 of the region log
// and its decisions into the decision log, as an engine would have written them, and
// returns the offset after the last frame and how many records the frames hold.
func writeBusyPartition(ctx context.Context, cfg Config, cl *kgo.Client) (int64, int, error) {
	// A city, busy: enough drivers to make RestoreRate updates a second.
	drivers := int(cfg.RestoreRate * cfg.GPSInterval.Seconds())
	city := cfg
	if city.Scenario == simulator.AllCities {
		city.Scenario = "mumbai"
	}
	start := time.Now().Add(-cfg.RestoreSpan)
	w, err := world(city, drivers, cfg.RestoreRate/500, start)
	if err != nil {
		return 0, 0, err
	}
	part, err := matcher.New(cfg.Engine.Matcher, 0, nil)
	if err != nil {
		return 0, 0, err
	}
	regionLog, decisions := cfg.Engine.Topics.Name(ridematch.RoleRegionLog), cfg.Engine.Topics.Name(ridematch.RoleDecisionLog)

	// Route into partition 0 and let its matcher decide, writing what an engine writes:
	// frames of region-log records, and decisions.
	var frame []byte
	var frameAt event.Time
	offset, index := int64(0), 0
	records := 0
	flush := func() {
		if len(frame) == 0 {
			return
		}
		cl.Produce(ctx, &kgo.Record{Topic: regionLog, Partition: 0, Value: frame, Timestamp: frameAt.Std()}, nil)
		frame, offset, index = nil, offset+1, 0
	}
	apply := func(rec *event.LogRecord) {
		frame = event.AppendToFrame(frame, rec)
		frameAt = rec.Time
		part.Apply(rec, event.PositionOf(offset, index))
		for _, o := range part.Outputs() {
			if o.Decision != nil {
				cl.Produce(ctx, &kgo.Record{Topic: decisions, Partition: 0, Value: event.AppendLog(nil, o.Decision), Timestamp: rec.Time.Std()}, nil)
			}
		}
		records++
		if index++; index >= 4096 {
			flush()
		}
	}
	rt, err := router.New(cfg.Engine.Router, 1, nil)
	if err != nil {
		return 0, 0, err
	}
	for t := w.Start(); t < w.Start().Add(cfg.RestoreSpan); {
		t = t.Add(100 * time.Millisecond)
		w.Step(t, func(in *event.Input) {
			src := router.Source{Topic: router.DriverLocations, Time: in.Time()}
			if in.Kind != event.KindDriverLocation {
				src.Topic = router.RideRequests
			}
			rt.RouteEvent(in, src, func(_ int32, rec *event.LogRecord) { apply(rec) })
		})
		apply(&event.LogRecord{Kind: event.LogTick, Time: t})
	}
	flush()
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	return offset, records, nil
}

// handOver commits group's offset of partition 0 of regionLog at end, as if the group had
// consumed all of it, and writes one more record there: the partition's next owner
// restores it to take that record.
func handOver(ctx context.Context, cl *kgo.Client, group, regionLog string, end int64) error {
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: regionLog, Partition: 0, At: end})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, group, offs); err != nil {
		return err
	}
	tick := event.AppendToFrame(nil, &event.LogRecord{Kind: event.LogTick, Time: event.TimeOf(time.Now())})
	return cl.ProduceSync(ctx, &kgo.Record{Topic: regionLog, Partition: 0, Value: tick}).FirstErr()
}

// profileCPU profiles the process's CPU into path until stop is called.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
