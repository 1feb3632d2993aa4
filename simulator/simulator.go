package simulator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/cluster"
	"ridematch/event"
)

// Stats is a run's progress.
type Stats struct {
	Counts                   // what the world did
	Elapsed    time.Duration // wall time since the start
	SimElapsed time.Duration // simulated time since the start
	// Behind is how far simulated time lags its schedule (Speedup x wall time), because
	// the broker could not take the records as fast as the world made them.
	Behind time.Duration

	// GPSPerSec and RequestsPerSec are what the world emitted over the last report
	// interval, per wall second; OffersPerSec the offers to its drivers it read.
	GPSPerSec, RequestsPerSec, OffersPerSec float64

	// Final outcomes seen on ride-matches for this run's requests.
	Matched, Unmatched, Cancelled uint64
	// Unanswered are requests that saw no outcome within OutcomeWait.
	Unanswered uint64
	// LatencyP50 and LatencyP99 are wall time from producing a request to seeing its
	// first final outcome, over the whole run.
	LatencyP50, LatencyP99 time.Duration

	Buffered    int64  // records waiting for the broker
	Delivered   uint64 // records the broker acknowledged
	Undelivered uint64 // records that failed or were abandoned at shutdown

	// Replay says what a replay made of its file; nil for generated requests. Of its
	// Requests, Counts.Requests have been sent so far.
	Replay *ReplayCounts
}

// Simulator runs a World against Kafka: it produces the world's events, feeds the
// outcomes on ride-matches and the offers on driver-offers back into it, and paces
// simulated time by the wall clock.
type Simulator struct {
	cfg    Config
	log    zerolog.Logger
	replay *Replay
}

// New checks cfg and returns a simulator; Run connects. With cfg.Replay, New reads the
// trip file: a file that cannot be replayed is an error here, before any connection.
func New(cfg Config, log zerolog.Logger) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Simulator{cfg: cfg, log: log}
	if cfg.Replay != "" {
		rp, err := LoadReplay(cfg)
		if err != nil {
			return nil, err
		}
		s.replay = rp
		warnOutsideSpan(log, rp.Counts())
	}
	return s, nil
}

// warnOutsideSpan says which rows were skipped for a time far outside the file's span.
func warnOutsideSpan(log zerolog.Logger, rc ReplayCounts) {
	n := rc.Skipped[SkipOutsideSpan]
	if n == 0 {
		return
	}
	const layout = "2006-01-02 15:04:05"
	rows := make([]string, len(rc.Outside))
	for i, r := range rc.Outside {
		rows[i] = fmt.Sprintf("%d (%s)", r.Row, r.Time.Format(layout))
	}
	if n > len(rows) {
		rows = append(rows, "...")
	}
	log.Warn().Int("rows", n).Str("examples", strings.Join(rows, ", ")).
		Str("span", rc.SpanFrom.Format(layout)+" to "+rc.SpanTo.Format(layout+" MST")).
		Msg("skipping rows dated far outside the span of the file's other rows")
}

// Replay says what the simulator made of its trip file; nil when it generates requests.
func (s *Simulator) Replay() *ReplayCounts {
	if s.replay == nil {
		return nil
	}
	c := s.replay.Counts()
	return &c
}

// How the loop paces itself: it steps the world every tick, at most maxCatchUp ticks of
// simulated time at once, so that after a stall it catches up at a bounded pace.
const (
	tick       = 10 * time.Millisecond
	maxCatchUp = 5
	// flushTimeout bounds how long the records still buffered at the end may take.
	flushTimeout = 3 * time.Second
)

// Run connects, then runs until ctx ends or Duration has passed, or, once the world makes
// no more requests (a replay's last row, MaxRequests), until every request it made has
// its outcome or has waited OutcomeWait. It calls progress (when not nil) every
// ReportInterval on Run's goroutine, and returns the final stats. Its drivers answer
// the offers on driver-offers made to them (World.Offer) on driver-responses; answers
// still due when it stops are not sent, and their offers lapse (Stats.Answering).
// An unreachable cluster, a missing topic or a record the cluster refuses is an error;
// so, before anything is produced, is an *EarlierRunError: ride-matches holds outcomes of
// an earlier run with this seed that the engine would not give again.
func (s *Simulator) Run(ctx context.Context, progress func(Stats)) (Stats, error) {
	cfg := &s.cfg
	prod, err := cluster.Connect(ctx, cfg.Cluster, s.log,
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if err != nil {
		return Stats{}, err
	}
	defer closeWithin(prod, time.Second)
	var (
		drivers   = cfg.Topics.Name(ridematch.RoleDriverLocations)
		requests  = cfg.Topics.Name(ridematch.RoleRideRequests)
		matches   = cfg.Topics.Name(ridematch.RoleRideMatches)
		offers    = cfg.Topics.Name(ridematch.RoleDriverOffers)
		responses = cfg.Topics.Name(ridematch.RoleDriverResponses)
	)
	for _, t := range []string{drivers, requests, matches, offers, responses} {
		if _, err := cluster.Partitions(ctx, prod, t); err != nil {
			return Stats{}, err
		}
	}
	if err := s.checkEarlierRun(ctx, prod, matches, time.Now()); err != nil {
		return Stats{}, err
	}
	cons, err := s.outcomeReader(ctx, prod, matches, offers)
	if err != nil {
		return Stats{}, err
	}
	defer closeWithin(cons, time.Second)

	wallStart := time.Now()
	r := &run{
		cfg:       cfg,
		wallStart: wallStart,
		log:       s.log,
		prod:      prod,
		drivers:   drivers,
		requests:  requests,
		responses: responses,
		offers:    offers,
		sent:      map[string]time.Time{},
	}
	r.promise = r.onDelivery
	if s.replay != nil {
		r.world, err = NewReplayWorld(*cfg, s.replay, event.TimeOf(wallStart))
		r.replay = s.Replay()
	} else {
		r.world, err = NewWorld(*cfg, event.TimeOf(wallStart))
	}
	if err != nil {
		return Stats{}, err
	}
	if r.replay != nil {
		rc := r.replay
		s.log.Info().Str("replay", rc.File).Int("requests", rc.Requests).Time("first", rc.First).Time("last", rc.Last).
			Int("drivers", cfg.Drivers).Float64("speedup", cfg.Speedup).Uint64("seed", cfg.Seed).Msg("simulator starting")
	} else {
		s.log.Info().Str("city", cfg.City).Int("drivers", cfg.Drivers).Float64("rate", cfg.Rate).
			Float64("speedup", cfg.Speedup).Uint64("seed", cfg.Seed).Msg("simulator starting")
	}

	// Records are produced under their own context, so that stopping does not fail the
	// ones already buffered: they get flushTimeout to reach the broker. Then it ends,
	// which also frees a loop blocked on a full buffer.
	pctx, stopProducing := context.WithCancel(context.WithoutCancel(ctx))
	r.produceCtx = pctx
	outcomes := make(chan outcomeBatch)
	rctx, stopReader := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { readOutcomes(rctx, cons, offers, outcomes, s.log) })
	wg.Go(func() { stopAfterGrace(ctx, pctx, stopProducing) })
	defer func() {
		stopReader()
		stopProducing()
		wg.Wait()
	}()

	err = r.loop(ctx, outcomes, progress)
	if err != nil {
		// The cluster refused a record: the rest would fare no better. Aborting waits for
		// requests in flight, which a hung broker never answers: bound it.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = prod.AbortBufferedRecords(actx)
		cancel()
	} else {
		r.flush(pctx)
	}
	st := r.stats(time.Now())
	if err == nil {
		s.log.Info().Str("elapsed", st.Elapsed.Round(time.Millisecond).String()).Uint64("gps_updates", st.GPSUpdates).Uint64("requests", st.Requests).Msg("simulator stopped")
	}
	return st, err
}

// outcomeReader returns a client reading every partition of the topics (ride-matches
// and driver-offers), committed records only, from the end as it is now: a plain reader,
// not a group member, so that it sees every outcome and offer whatever else reads them.
func (s *Simulator) outcomeReader(ctx context.Context, prod *kgo.Client, topics ...string) (*kgo.Client, error) {
	ends, err := kadm.NewClient(prod).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("reading the end of %s: %w", strings.Join(topics, ", "), err)
	}
	parts := map[string]map[int32]kgo.Offset{}
	var perr error
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Err != nil {
			perr = fmt.Errorf("reading the end of %s/%d: %w", lo.Topic, lo.Partition, lo.Err)
			return
		}
		if parts[lo.Topic] == nil {
			parts[lo.Topic] = map[int32]kgo.Offset{}
		}
		parts[lo.Topic][lo.Partition] = kgo.NewOffset().At(lo.Offset)
	})
	if perr != nil {
		return nil, perr
	}
	opts, err := s.cfg.Cluster.Opts(s.log)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumePartitions(parts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", cluster.ErrConfig, err)
	}
	return cl, nil
}

// outcomeBatch is the outcomes and offers of one fetch, stamped when they arrived.
type outcomeBatch struct {
	seen     time.Time
	outcomes []event.RideOutcome
	offers   []offerNotice
}

// readOutcomes hands the outcomes on ride-matches and the offers on the offers topic to
// the loop until ctx ends.
func readOutcomes(ctx context.Context, cl *kgo.Client, offers string, out chan<- outcomeBatch, log zerolog.Logger) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			log.Warn().Str("topic", t).Int32("partition", p).Err(err).Msg("reading outcomes")
		})
		b := outcomeBatch{seen: time.Now()}
		fs.EachRecord(func(rec *kgo.Record) {
			// Records that are neither outcomes nor offers are someone else's business.
			if rec.Topic == offers {
				if n, err := decodeOfferNotice(rec.Value); err == nil {
					b.offers = append(b.offers, n)
				}
				return
			}
			if o, err := event.DecodeOutcome(rec.Value); err == nil {
				b.outcomes = append(b.outcomes, o)
			}
		})
		if len(b.outcomes) == 0 && len(b.offers) == 0 {
			continue
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
	}
}

// run is the state of one Run, owned by the loop's goroutine except the delivery
// counters, which the producer's promises update.
type run struct {
	cfg       *Config
	log       zerolog.Logger
	prod      *kgo.Client
	world     *World
	replay    *ReplayCounts
	drivers   string
	requests  string
	responses string
	offers    string
	promise   func(*kgo.Record, error)

	wallStart time.Time
	behind    time.Duration

	// sent holds when each request still waiting for its outcome was produced; order
	// holds the same requests oldest first, to expire them.
	sent  map[string]time.Time
	order []sentRequest
	head  int

	matched, unmatched, cancelled, unanswered uint64
	latency                                   latencies

	lastReport                        time.Time
	lastGPS, lastRequests, lastOffers uint64
	gpsRate, requestsRate, offersRate float64

	produceCtx context.Context
	emitFn     func(*event.Input) // r.emit, bound once: Step calls it for every event
	softLimit  int64
	chunk      []byte
	enc        []byte

	acked, failed atomic.Uint64
	produceErr    atomic.Pointer[error]
}

type sentRequest struct {
	id string
	at time.Time
}

func (r *run) loop(ctx context.Context, outcomes <-chan outcomeBatch, progress func(Stats)) error {
	wallStart := r.wallStart
	r.lastReport = wallStart
	r.emitFn = r.emit
	// Step only while the buffer is at most half full: the world then waits for the
	// broker (and falls behind) instead of blocking inside a step.
	r.softLimit = int64(max(r.cfg.MaxBufferedRecords/2, 1))
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	report := time.NewTicker(r.cfg.ReportInterval)
	defer report.Stop()
	var deadline <-chan time.Time
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration - time.Since(wallStart))
		defer t.Stop()
		deadline = t.C
	}
	maxStep := time.Duration(float64(maxCatchUp*tick) * r.cfg.Speedup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return nil
		case b := <-outcomes:
			r.apply(b)
		case now := <-ticker.C:
			target := r.world.Start().Add(time.Duration(float64(now.Sub(wallStart)) * r.cfg.Speedup))
			if r.prod.BufferedProduceRecords() < r.softLimit {
				r.world.Step(min(target, r.world.Now().Add(maxStep)), r.emitFn)
			}
			r.behind = max(target.Sub(r.world.Now()), 0)
		case now := <-report.C:
			r.expire(now)
			r.rates(now)
			if progress != nil {
				progress(r.stats(now))
			}
		}
		if p := r.produceErr.Load(); p != nil {
			return *p
		}
		if r.world.Done() && len(r.sent) == 0 {
			r.log.Info().Uint64("requests", r.world.Counts().Requests).Msg("no more requests to make, and every one made has its outcome")
			return nil
		}
	}
}

// emit produces one event, keyed and stamped as the engine expects: driver_id (location
// updates, answers to offers) or request_id, and the event's own time as the record's.
func (r *run) emit(in *event.Input) {
	r.enc = r.enc[:0]
	var topic, key string
	var t event.Time
	switch in.Kind {
	case event.KindDriverLocation:
		topic, key, t = r.drivers, in.Driver.DriverID, in.Driver.Time
		r.enc = in.Driver.AppendJSON(r.enc)
	case event.KindRideRequest:
		topic, key, t = r.requests, in.Request.RequestID, in.Request.Time
		r.enc = in.Request.AppendJSON(r.enc)
		now := time.Now()
		r.sent[key] = now
		r.order = append(r.order, sentRequest{key, now})
	case event.KindRideCancel:
		topic, key, t = r.requests, in.Cancel.RequestID, in.Cancel.Time
		r.enc = in.Cancel.AppendJSON(r.enc)
	case event.KindOfferResponse:
		topic, key, t = r.responses, in.Response.DriverID, in.Response.Time
		r.enc = appendResponseJSON(r.enc, &in.Response)
	default:
		return
	}
	rec := &kgo.Record{
		Topic:     topic,
		Key:       r.copy([]byte(key)),
		Value:     r.copy(r.enc),
		Timestamp: t.Std(),
	}
	r.prod.Produce(r.produceCtx, rec, r.promise)
}

// copy keeps b in a shared chunk: a record's bytes must live until it is delivered, and
// one allocation per 64 KiB is cheaper than two per record.
func (r *run) copy(b []byte) []byte {
	if cap(r.chunk)-len(r.chunk) < len(b) {
		r.chunk = make([]byte, 0, max(64<<10, len(b)))
	}
	n := len(r.chunk)
	r.chunk = append(r.chunk, b...)
	return r.chunk[n:len(r.chunk):len(r.chunk)]
}

// onDelivery is every record's promise; it runs on the producer's goroutines.
func (r *run) onDelivery(rec *kgo.Record, err error) {
	if err == nil {
		r.acked.Add(1)
		return
	}
	r.failed.Add(1)
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, kgo.ErrAborting) {
		return // shutting down
	}
	e := fmt.Errorf("producing to %s: %w", rec.Topic, err)
	r.produceErr.CompareAndSwap(nil, &e)
}

// apply feeds outcomes and offers to the world and measures latency for this run's
// requests.
func (r *run) apply(b outcomeBatch) {
	for _, n := range b.offers {
		if n.offered != nil {
			r.world.Offer(n.offered)
		} else {
			r.world.Withdraw(n.withdrawn)
		}
	}
	for _, o := range b.outcomes {
		r.world.Apply(o)
		if !o.Final() {
			continue
		}
		at, ok := r.sent[o.RequestID]
		if !ok {
			continue // another run's request, or a second outcome
		}
		delete(r.sent, o.RequestID)
		r.latency.record(b.seen.Sub(at))
		switch o.Type {
		case event.TypeRideMatched:
			r.matched++
		case event.TypeRideUnmatched:
			r.unmatched++
		case event.TypeRideCancelled:
			r.cancelled++
		}
	}
}

// expire gives up on requests that have waited longer than OutcomeWait, so that memory
// stays bounded when no engine is running.
func (r *run) expire(now time.Time) {
	for r.head < len(r.order) && now.Sub(r.order[r.head].at) > r.cfg.OutcomeWait {
		sr := r.order[r.head]
		r.order[r.head] = sentRequest{}
		r.head++
		if at, ok := r.sent[sr.id]; ok && at.Equal(sr.at) {
			delete(r.sent, sr.id)
			r.unanswered++
		}
	}
	if r.head > 1024 && r.head > len(r.order)/2 {
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
}

func (r *run) rates(now time.Time) {
	c := r.world.Counts()
	if dt := now.Sub(r.lastReport).Seconds(); dt > 0 {
		r.gpsRate = float64(c.GPSUpdates-r.lastGPS) / dt
		r.requestsRate = float64(c.Requests-r.lastRequests) / dt
		r.offersRate = float64(c.Offers-r.lastOffers) / dt
	}
	r.lastReport, r.lastGPS, r.lastRequests, r.lastOffers = now, c.GPSUpdates, c.Requests, c.Offers
}

func (r *run) stats(now time.Time) Stats {
	return Stats{
		Counts:         r.world.Counts(),
		Elapsed:        now.Sub(r.wallStart),
		SimElapsed:     r.world.Now().Sub(r.world.Start()),
		Behind:         r.behind,
		GPSPerSec:      r.gpsRate,
		RequestsPerSec: r.requestsRate,
		OffersPerSec:   r.offersRate,
		Matched:        r.matched,
		Unmatched:      r.unmatched,
		Cancelled:      r.cancelled,
		Unanswered:     r.unanswered,
		LatencyP50:     r.latency.quantile(0.50),
		LatencyP99:     r.latency.quantile(0.99),
		Buffered:       r.prod.BufferedProduceRecords(),
		Delivered:      r.acked.Load(),
		Undelivered:    r.failed.Load(),
		Replay:         r.replay,
	}
}

// flush waits for the buffered records, within flushTimeout; what is left is abandoned.
func (r *run) flush(pctx context.Context) {
	fctx, cancel := context.WithTimeout(pctx, flushTimeout)
	defer cancel()
	if err := r.prod.Flush(fctx); err != nil {
		n := r.prod.BufferedProduceRecords()
		r.log.Warn().Int64("records", n).Msg("the broker did not take the last records in time; abandoning them")
		actx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = r.prod.AbortBufferedRecords(actx)
		cancel()
	}
}

// stopAfterGrace calls stop flushTimeout after ctx ends, unless pctx ends first.
func stopAfterGrace(ctx, pctx context.Context, stop context.CancelFunc) {
	select {
	case <-ctx.Done():
	case <-pctx.Done():
		return
	}
	t := time.NewTimer(flushTimeout)
	defer t.Stop()
	select {
	case <-t.C:
		stop()
	case <-pctx.Done():
	}
}

// closeWithin closes a client, waiting at most d: closing waits for requests in flight,
// which a hung broker never answers, and a stopping simulator must stop.
func closeWithin(cl *kgo.Client, d time.Duration) {
	done := make(chan struct{})
	go func() {
		cl.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}
