package ops

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"ridematch/engine"
	"ridematch/event"
	"ridematch/matcher"
)

// namespace prefixes the engine's own metrics; kgoNamespace the franz-go clients' (kprom).
const (
	namespace    = "ridematch"
	kgoNamespace = "kgo"
)

// latencyBuckets span a match made at once (milliseconds) to a request that waited out
// the request TTL (30s) and more.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// newRegistry returns a registry with the process and Go runtime collectors, the engine's
// counters, the franz-go clients, the consumer lag and the match latency.
func newRegistry(eng *engineCollector, clients *kafkaClients, lag *lagCollector, latency, txns *prometheus.HistogramVec) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		eng, clients, lag, latency, txns,
	)
	return reg
}

// transactionBuckets span a transaction of a few records on a quiet broker (a fraction of
// a millisecond) to one held up by a slow or failing broker.
var transactionBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}

// newTransactions is the time each step of a stage's transactions takes
// (engine.Config.OnTransaction): Kafka Streams' process and commit latencies.
func newTransactions() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "transaction_step_seconds",
		Help: "Time each step of a stage's transactions takes: process (applying the consumed records, " +
			"restores included), produce (until the broker acknowledged every output) and commit (offsets " +
			"and end of transaction). A record waits for the whole of the transaction before it.",
		Buckets: transactionBuckets,
	}, []string{"stage", "step"})
}

// observeTransaction records one transaction's steps.
func observeTransaction(h *prometheus.HistogramVec, t engine.TransactionTiming) {
	h.WithLabelValues(t.Stage, "process").Observe(t.Process.Seconds())
	h.WithLabelValues(t.Stage, "produce").Observe(t.Produce.Seconds())
	h.WithLabelValues(t.Stage, "commit").Observe(t.Commit.Seconds())
}

func newLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "match_latency_seconds",
		Help: "End-to-end time from a request's record timestamp on ride-requests to its final outcome's " +
			"record timestamp on ride-matches (written in the transaction that commits it), by outcome kind; " +
			"measured on the committed topics, so every instance reports the whole cluster.",
		Buckets: latencyBuckets,
	}, []string{"kind"})
}

// engineCollector turns the engine's counters (engine.Snapshot) into metrics at each
// scrape. Counters count what this instance handled live since it started; replays
// during a restore do not count.
type engineCollector struct {
	engine func() Engine

	eventsIn, stale, deadLettered, outcomes, surgeUpdates, duplicates, handoffs, ticks *prometheus.Desc
	late, unencodable, windows, batched, contested                                     *prometheus.Desc
	offersMade, offers, acceptTimes, responses, responsesDropped                       *prometheus.Desc
	transactions, consumed, produced, sessionRestarts                                  *prometheus.Desc
	restoredPartitions, replayed, restoreLast                                          *prometheus.Desc
	drivers, pending, surgeCells, assigned, ready, buffered                            *prometheus.Desc
}

func newEngineCollector(eng func() Engine) *engineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	return &engineCollector{
		engine:       eng,
		eventsIn:     d("events_in_total", "Valid input events routed, by event type.", "type"),
		stale:        d("stale_driver_updates_total", "Driver updates not newer than the one held, counted and dropped by the router."),
		deadLettered: d("dead_lettered_total", "Records sent to the dead-letter topic, by reason.", "reason"),
		outcomes:     d("outcomes_total", "Outcomes written to ride-matches, by kind: each request gets one of ride_matched, ride_unmatched, ride_cancelled; match_cancelled frees a matched driver.", "kind"),
		surgeUpdates: d("surge_updates_total", "surge_updated events written (a cell's multiplier changed)."),
		duplicates:   d("duplicate_requests_total", "Requests whose id was already seen within the dedup window, counted and dropped."),
		handoffs:     d("driver_handoffs_total", "Driver ownership tokens passed between region-log partitions."),
		ticks:        d("ticks_written_total", "Ticks (marks alone: how far each input partition has got) the router wrote into region-log partitions."),
		late:         d("late_records_total", "Region-log records that came after the partition's clock had passed their log time, handled at the clock."),
		windows:      d("batch_windows_total", "Batch windows closed with requests waiting (assignment batch or adaptive)."),
		batched:      d("batched_requests_total", "Requests a batch window's assignment matched, or claimed from a neighbouring partition."),
		contested:    d("contested_requests_total", "Requests adaptive assignment let wait for the window: a waiting request could take the driver greedy assignment would give them."),
		unencodable:  d("unencodable_outputs_total", "Outcomes that did not encode as JSON and were not written (settings are validated, so this stays 0)."),

		// Driver offers, as the matcher's partitions and the router count them.
		offersMade:       d("offers_made_total", "Driver offers written to driver-offers (ride_offered): a request offered to one driver, who has until expires_at to answer."),
		offers:           d("offers_total", "Driver offers that ended, by result: accepted (the ride_matched followed), declined, expired (no answer by expires_at) or withdrawn (the rider cancelled: offer_withdrawn).", "result"),
		acceptTimes:      d("offer_accept_seconds", "Log time from a driver offer to the driver's accept, for the accepted offers."),
		responses:        d("offer_responses_total", "Drivers' answers to offers (offer_accepted, offer_declined) the router read from driver-responses: the valid ones, those dropped included."),
		responsesDropped: d("offer_responses_dropped_total", "Drivers' answers that changed nothing, by reason: unknown_offer (no offer has the id), wrong_driver (the offer is another driver's or request's), expired, withdrawn (the rider had cancelled) or duplicate (already answered).", "reason"),

		transactions: d("transactions_total", "Stage transactions, by result: committed or aborted (an abort rewinds to the committed offsets).", "result"),
		consumed:     d("records_consumed_total", "Records consumed in committed transactions, by stage.", "stage"),
		produced:     d("records_produced_total", "Records produced in committed transactions, both stages."),
		sessionRestarts: d("session_restarts_total",
			"Stage sessions that failed (a fenced producer, a broker gone longer than the client retries) and were started again with state rebuilt."),
		restoredPartitions: d("restored_partitions_total", "Partitions rebuilt from their log on assignment."),
		replayed:           d("restore_replayed_records_total", "Records replayed to rebuild partitions."),
		restoreLast:        d("restore_last_duration_seconds", "How long the last restore took, for every partition it rebuilt (the target is 5s)."),
		drivers:            d("cached_drivers", "Drivers held in the matcher's partitions' indexes, as of each partition's last transaction."),
		pending:            d("pending_requests", "Requests waiting for a driver in the matcher's partitions."),
		surgeCells:         d("surge_cells", "Surge cells whose multiplier is above 1 in the matcher's partitions."),
		assigned:           d("assigned_partitions", "Partitions this instance owns, by stage.", "stage"),
		ready:              d("ready", "1 when every stage has joined its group and rebuilt the partitions it owns (what /readyz says), else 0."),
		buffered:           d("buffered_records_max", "The most records ever waiting in a stage's consumer (fetch) or producer (produce) buffers.", "buffer"),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.eventsIn, c.stale, c.deadLettered, c.outcomes, c.surgeUpdates, c.duplicates, c.handoffs, c.ticks,
		c.late, c.unencodable, c.windows, c.batched, c.contested, c.transactions, c.consumed, c.produced, c.sessionRestarts,
		c.offersMade, c.offers, c.acceptTimes, c.responses, c.responsesDropped,
		c.restoredPartitions, c.replayed, c.restoreLast,
		c.drivers, c.pending, c.surgeCells, c.assigned, c.ready, c.buffered,
	} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.engine()
	if e == nil {
		return
	}
	s := e.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.eventsIn, s.DriverUpdates, "driver_location_update")
	counter(c.eventsIn, s.Requests, "ride_requested")
	counter(c.eventsIn, s.Cancels, "ride_cancelled")
	counter(c.stale, s.StaleDrivers)
	reasons := make([]event.Reason, 0, len(s.DeadLettered))
	for r := range s.DeadLettered {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		counter(c.deadLettered, s.DeadLettered[r], string(r))
	}
	counter(c.outcomes, s.Matched, event.TypeRideMatched)
	counter(c.outcomes, s.Unmatched, event.TypeRideUnmatched)
	counter(c.outcomes, s.Cancelled, event.TypeRideCancelled)
	counter(c.outcomes, s.MatchCancelled, event.TypeMatchCancelled)
	counter(c.surgeUpdates, s.SurgeUpdates)
	counter(c.duplicates, s.Duplicates)
	counter(c.handoffs, s.Handoffs)
	counter(c.ticks, s.Ticks)
	counter(c.late, s.Late)
	counter(c.unencodable, s.Unencodable)
	counter(c.windows, s.Windows)
	counter(c.batched, s.Batched)
	counter(c.contested, s.Contested)
	counter(c.offersMade, s.Offers)
	counter(c.offers, s.OffersAccepted, "accepted")
	counter(c.offers, s.OffersDeclined, "declined")
	counter(c.offers, s.OffersExpired, "expired")
	counter(c.offers, s.OffersWithdrawn, "withdrawn")
	ch <- acceptHistogram(c.acceptTimes, s.AcceptTimes)
	counter(c.responses, s.Responses)
	for d := range matcher.NDrops {
		counter(c.responsesDropped, s.DroppedResponses[d], d.String())
	}
	counter(c.transactions, s.Transactions, "committed")
	counter(c.transactions, s.Aborted, "aborted")
	counter(c.consumed, s.RouterIn, "router")
	counter(c.consumed, s.MatcherIn, "matcher")
	counter(c.produced, s.RecordsOut)
	counter(c.sessionRestarts, s.SessionErrors)
	counter(c.restoredPartitions, s.Restores)
	counter(c.replayed, s.Replayed)
	gauge(c.restoreLast, s.LastRestore.Seconds())
	gauge(c.drivers, float64(s.Drivers))
	gauge(c.pending, float64(s.Pending))
	gauge(c.surgeCells, float64(s.SurgeCells))
	stages := make([]string, 0, len(s.Assigned))
	for st := range s.Assigned {
		stages = append(stages, st)
	}
	slices.Sort(stages)
	for _, st := range stages {
		gauge(c.assigned, float64(s.Assigned[st]), st)
	}
	ready := 0.0
	if e.Ready() {
		ready = 1
	}
	gauge(c.ready, ready)
	gauge(c.buffered, float64(s.MaxBufferedFetch), "fetch")
	gauge(c.buffered, float64(s.MaxBufferedProduce), "produce")
}

// acceptHistogram is the matcher's accept times as a Prometheus histogram: its buckets
// cumulative, the last, above every bound, counted in the total only.
func acceptHistogram(d *prometheus.Desc, h matcher.AcceptTimes) prometheus.Metric {
	buckets := make(map[float64]uint64, len(matcher.AcceptBuckets))
	var n uint64
	for i, le := range matcher.AcceptBuckets {
		n += h.Counts[i]
		buckets[le.Seconds()] = n
	}
	n += h.Counts[len(matcher.AcceptBuckets)]
	return prometheus.MustNewConstHistogram(d, n, h.Sum.Seconds(), buckets)
}

// kafkaClients exports the kprom metrics of the engine's live franz-go clients, one set
// per stage. kprom keeps one client's metrics per kprom.Metrics, so each client a stage
// builds gets its own, labelled with the stage; a client replaced by a new session (whose
// old one may still be closing) stops being exported, so no series is collected twice.
type kafkaClients struct {
	mu   sync.Mutex
	live map[string]*kprom.Metrics // by stage
}

// hooks returns the hooks for a new client of a stage (engine.Config.ClientHooks).
func (k *kafkaClients) hooks(stage string) []kgo.Hook {
	m := kprom.NewMetrics(kgoNamespace,
		kprom.Registry(nil), // collected through kafkaClients, not registered on its own
		kprom.WithStaticLabel(prometheus.Labels{"stage": stage}),
	)
	return []kgo.Hook{&clientHook{Metrics: m, stage: stage, clients: k}}
}

// Describe describes nothing: the clients come and go, so kafkaClients is an unchecked
// collector.
func (k *kafkaClients) Describe(chan<- *prometheus.Desc) {}

func (k *kafkaClients) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	live := make([]*kprom.Metrics, 0, len(k.live))
	for _, m := range k.live {
		live = append(live, m)
	}
	k.mu.Unlock()
	for _, m := range live {
		m.Collect(ch)
	}
}

// clientHook is kprom's hook for one client, which also tells kafkaClients when the
// client starts and stops.
type clientHook struct {
	*kprom.Metrics
	stage   string
	clients *kafkaClients
}

func (h *clientHook) OnNewClient(cl *kgo.Client) {
	h.Metrics.OnNewClient(cl)
	h.clients.mu.Lock()
	defer h.clients.mu.Unlock()
	if h.clients.live == nil {
		h.clients.live = map[string]*kprom.Metrics{}
	}
	h.clients.live[h.stage] = h.Metrics
}

func (h *clientHook) OnClientClosed(cl *kgo.Client) {
	h.clients.mu.Lock()
	if h.clients.live[h.stage] == h.Metrics {
		delete(h.clients.live, h.stage)
	}
	h.clients.mu.Unlock()
	h.Metrics.OnClientClosed(cl)
}

// lagCollector holds the consumer lag of the engine's groups, refreshed by poll.
type lagCollector struct {
	lagDesc, membersDesc, updatedDesc *prometheus.Desc

	mu      sync.Mutex
	lags    []partitionLag
	members map[string]int
	updated time.Time
}

type partitionLag struct {
	group, topic string
	partition    int32
	lag          int64
}

func newLagCollector() *lagCollector {
	return &lagCollector{
		lagDesc: prometheus.NewDesc(namespace+"_consumer_lag",
			"Records between a group's committed offset and the end of a partition (from kadm, every few seconds). "+
				"Topics written in transactions count their commit markers, so a caught-up partition may show 1.",
			[]string{"group", "topic", "partition"}, nil),
		membersDesc: prometheus.NewDesc(namespace+"_consumer_group_members",
			"Members of the group, as its coordinator describes it.", []string{"group"}, nil),
		updatedDesc: prometheus.NewDesc(namespace+"_consumer_lag_updated_timestamp_seconds",
			"When the consumer lag was last read from the cluster (Unix time); stale lag means the cluster did not answer.", nil, nil),
	}
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.lagDesc
	ch <- l.membersDesc
	ch <- l.updatedDesc
}

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.updated.IsZero() {
		return
	}
	for _, p := range l.lags {
		ch <- prometheus.MustNewConstMetric(l.lagDesc, prometheus.GaugeValue, float64(p.lag), p.group, p.topic, strconv.Itoa(int(p.partition)))
	}
	for g, n := range l.members {
		ch <- prometheus.MustNewConstMetric(l.membersDesc, prometheus.GaugeValue, float64(n), g)
	}
	ch <- prometheus.MustNewConstMetric(l.updatedDesc, prometheus.GaugeValue, float64(l.updated.UnixNano())/1e9)
}

// refresh reads the groups' lag once. A group the cluster could not describe keeps its
// last reading.
func (l *lagCollector) refresh(ctx context.Context, adm *kadm.Client, groups []string) error {
	described, err := adm.Lag(ctx, groups...)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil // no group yet: no lag to show
	}
	if err != nil {
		return err
	}
	var fresh []partitionLag
	members := map[string]int{}
	var firstErr error
	failed := map[string]bool{}
	for _, g := range groups {
		d, ok := described[g]
		if !ok {
			continue
		}
		if err := d.Error(); errors.Is(err, kerr.GroupIDNotFound) {
			members[g] = 0 // not created yet: no member has joined
			continue
		} else if err != nil {
			failed[g] = true
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		members[g] = len(d.Members)
		for _, ml := range d.Lag.Sorted() {
			if ml.Err != nil || ml.Lag < 0 {
				continue
			}
			fresh = append(fresh, partitionLag{group: g, topic: ml.Topic, partition: ml.Partition, lag: ml.Lag})
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.lags {
		if failed[p.group] {
			fresh = append(fresh, p)
		}
	}
	for g, n := range l.members {
		if failed[g] {
			members[g] = n
		}
	}
	slices.SortFunc(fresh, func(a, b partitionLag) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	l.lags, l.members = fresh, members
	if len(failed) < len(groups) {
		l.updated = time.Now()
	}
	return firstErr
}
