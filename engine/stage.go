package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
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

// A graceful stop leaves the group within stopBudget of the signal; the batch in hand
// gets batchBudget of it.
const (
	stopBudget  = 5 * time.Second
	batchBudget = 3 * time.Second
)

// tp names a topic partition.
type tp struct {
	topic     string
	partition int32
}

// state is one partition's state machine as a stage sees it.
type state interface {
	// apply handles one record. out is nil while replaying: the record's outputs were
	// written when it was first handled.
	apply(r *kgo.Record, out *outbox)
	// done is called after each batch of live records.
	done()
}

// machine is what differs between the two stages.
type machine interface {
	// open returns the state for a newly assigned partition, and how much of its log
	// to replay to rebuild it (0: nothing to rebuild).
	open(t tp) (state, time.Duration, error)
	// idle is called once per loop, in the transaction, with the wall clock; the router
	// writes its ticks here. It reports whether it wrote anything.
	idle(now time.Time, parts map[tp]state, out *outbox) bool
	// pollWait is how long a poll may wait for records before idle must run.
	pollWait() time.Duration
}

// outbox collects a transaction's output records. Region-log records go into one open
// frame per partition, closed at maxFrameBytes or at the end of the transaction.
type outbox struct {
	stage     string
	records   []*kgo.Record
	stats     *Stats
	regionLog string
	frames    map[int32][]byte
	counts    map[int32]int
	// header, if set, gives the record every new region-log frame opens with (the
	// router's mark); nil from it opens the frame with none.
	header func() *event.LogRecord
	// spare are buffers to open frames in, and sent the frames closed: a committed
	// transaction's frames are the next one's spare.
	spare, sent [][]byte
}

// maxSpareFrames bounds the frame buffers a stage keeps between transactions.
const maxSpareFrames = 64

// maxFrameBytes bounds a region-log frame well under a broker's default message limit.
const maxFrameBytes = 256 << 10

func (o *outbox) add(r *kgo.Record) { o.records = append(o.records, r) }

// logRecord adds a record to partition p's open frame of the region log.
func (o *outbox) logRecord(p int32, r *event.LogRecord) {
	o.open(p)
	o.frames[p] = event.AppendToFrame(o.frame(p), r)
	o.framed(p)
}

// open opens a frame for partition p, with its header, unless one is open; it reports
// whether it opened one.
func (o *outbox) open(p int32) bool {
	if _, ok := o.frames[p]; ok || o.header == nil {
		return false
	}
	h := o.header()
	if h == nil {
		return false
	}
	o.frames[p] = event.AppendToFrame(o.frame(p), h)
	o.counts[p]++
	return true
}

// rawRecord adds bytes that are not a LogRecord to partition p's open frame.
func (o *outbox) rawRecord(p int32, b []byte) {
	o.frames[p] = event.AppendRawToFrame(o.frame(p), b)
	o.framed(p)
}

// frame is partition p's open frame, or a spare buffer to open it in.
func (o *outbox) frame(p int32) []byte {
	if f, ok := o.frames[p]; ok || len(o.spare) == 0 {
		return f
	}
	f := o.spare[len(o.spare)-1][:0]
	o.spare = o.spare[:len(o.spare)-1]
	return f
}

func (o *outbox) framed(p int32) {
	o.counts[p]++
	if len(o.frames[p]) >= maxFrameBytes || o.counts[p] >= event.MaxFrameRecords {
		o.closeFrame(p)
	}
}

func (o *outbox) closeFrame(p int32) {
	if f := o.frames[p]; len(f) > 0 {
		o.add(&kgo.Record{Topic: o.regionLog, Partition: p, Value: f})
		o.sent = append(o.sent, f)
	}
	delete(o.frames, p)
	delete(o.counts, p)
}

// closeFrames closes every open frame, in partition order.
func (o *outbox) closeFrames() {
	ps := make([]int32, 0, len(o.frames))
	for p := range o.frames {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		o.closeFrame(p)
	}
}

// deadLetter sends a record that failed validation to the dead-letter topic: the original
// key, value and headers, plus headers saying why and where from.
func (o *outbox) deadLetter(topic string, r *kgo.Record, err error) {
	reason := event.ReasonOf(err)
	if reason == "" {
		reason = "unknown"
	}
	h := append([]kgo.RecordHeader(nil), r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: "ridematch.reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "ridematch.error", Value: []byte(err.Error())},
		kgo.RecordHeader{Key: "ridematch.source.topic", Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: "ridematch.source.partition", Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
		kgo.RecordHeader{Key: "ridematch.source.offset", Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: "ridematch.source.timestamp", Value: []byte(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))},
		kgo.RecordHeader{Key: "ridematch.stage", Value: []byte(o.stage)},
	)
	// Copies: r goes back to the consumer's pool once applied (recordPool).
	o.add(&kgo.Record{Topic: topic, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Headers: h})
	o.stats.deadLettered(reason)
}

// stage runs one consumer group: poll, apply, produce and commit in one transaction, with
// partition state rebuilt from the log whenever it may be out of date.
type stage struct {
	name    string
	group   string
	topics  []string
	cfg     *Config
	log     zerolog.Logger
	machine machine
	stats   *Stats

	// Written by the group's callbacks, read by the loop.
	mu       sync.Mutex
	assigned map[tp]bool
	revoked  map[tp]bool

	// Owned by the loop goroutine.
	parts     map[tp]state
	lastCheck time.Time
	// spare are the region-log frames of transactions flushed before, to write new
	// frames into; records lends the consumer its record slices.
	spare   [][]byte
	records recordPool

	// ready: the stage has joined its group and every partition it owns is rebuilt, or
	// has nothing to rebuild.
	ready atomic.Bool
}

func newStage(name, group string, topics []string, cfg *Config, log zerolog.Logger, m machine, stats *Stats) *stage {
	return &stage{
		name: name, group: group, topics: topics, cfg: cfg, machine: m, stats: stats,
		log:      log.With().Str("stage", name).Logger(),
		assigned: map[tp]bool{},
		revoked:  map[tp]bool{},
		parts:    map[tp]state{},
	}
}

// run runs the stage until ctx is done. A session that fails (a fenced producer, a
// broker gone for longer than the client retries) is closed, its state dropped, and a
// new one started: the committed offsets are the truth, and state is rebuilt from them.
func (s *stage) run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := s.session(ctx, attempt)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, cluster.ErrConfig) {
			return err
		}
		s.log.Error().Err(err).Msg("stage session failed; starting a new one with state rebuilt from the log")
		s.stats.sessionRestarted()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *stage) session(ctx context.Context, attempt int) error {
	clear(s.parts)
	if rm, ok := s.machine.(*routerMachine); ok {
		rm.reset() // a new client: nothing paused, no position known
	}
	s.mu.Lock()
	clear(s.assigned)
	clear(s.revoked)
	s.mu.Unlock()

	opts, err := s.cfg.Cluster.Opts(s.log)
	if err != nil {
		return err
	}
	regionLog, decisionLog := s.cfg.Topics.Name(roleRegionLog), s.cfg.Topics.Name(ridematch.RoleDecisionLog)
	opts = append(opts,
		kgo.ConsumerGroup(s.group),
		kgo.ConsumeTopics(s.topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.TransactionalID(fmt.Sprintf("%s-%s-%d", s.group, s.cfg.instance(), attempt)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.HeartbeatInterval(s.cfg.HeartbeatInterval),
		kgo.RebalanceTimeout(30*time.Second),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.FetchMaxWait(s.machine.pollWait()),
		kgo.FetchMaxBytes(s.cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(s.cfg.FetchMaxPartitionBytes),
		kgo.WithPools(&s.records),
		kgo.RecordPartitioner(partitioner{manual: map[string]bool{regionLog: true, decisionLog: true}, keyed: kgo.StickyKeyPartitioner(nil)}),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onRevoked),
	)
	if s.cfg.ClientHooks != nil {
		opts = append(opts, kgo.WithHooks(s.cfg.ClientHooks(s.name)...))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", cluster.ErrConfig, err)
	}
	// A graceful stop has stopBudget from the moment ctx ends: finishing the batch in
	// hand may take most of it, leaving the group the rest.
	var stopping atomic.Int64
	defer context.AfterFunc(ctx, func() { stopping.Store(time.Now().UnixNano()) })()
	defer func() {
		// Close leaves the group, so the partitions move at once rather than after a
		// session timeout. If the broker does not answer, the process goes anyway: the
		// group notices at its session timeout, and the open transaction is aborted at
		// its own.
		left := stopBudget
		if t := stopping.Load(); t != 0 {
			left = max(500*time.Millisecond, stopBudget-time.Since(time.Unix(0, t)))
		}
		closed := make(chan struct{})
		go func() { sess.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(left):
			s.log.Warn().Dur("waited", left).Msg("leaving the group took too long; stopping anyway")
		}
	}()
	if err := s.cfg.Cluster.Ping(ctx, sess.Client()); err != nil {
		return err
	}
	s.log.Info().Str("group", s.group).Strs("topics", s.topics).Msg("stage started")

	adm := kadm.NewClient(sess.Client())
	for {
		pollCtx, cancel := context.WithTimeout(ctx, s.machine.pollWait())
		fetches := sess.PollRecords(pollCtx, s.cfg.MaxBatch)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if fetches.IsClientClosed() {
			return errors.New("client closed")
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			s.log.Warn().Str("topic", t).Int32("partition", p).Err(err).Msg("fetch error")
		})
		s.stats.buffered(sess.Client().BufferedFetchRecords(), 0)
		s.dropRevoked()
		s.checkReady(ctx, sess.Client(), adm)

		// The batch in hand is finished and committed even if ctx ends meanwhile, within
		// a bound: that is what a graceful stop promises. Should the broker not answer,
		// the transaction is given up (uncommitted, so nothing is lost) batchBudget after
		// ctx ends, and the next owner handles the batch.
		work, cancelWork := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		stopWork := context.AfterFunc(ctx, func() { time.AfterFunc(batchBudget, cancelWork) })
		committed, touched, err := s.transact(work, sess, adm, fetches)
		stopWork()
		cancelWork()
		if ctx.Err() != nil && err != nil {
			s.log.Warn().Err(err).Msg("stopping with the batch in hand unfinished; it will be handled again")
			return nil
		}
		if err != nil {
			return err
		}
		if !committed {
			// The records of an aborted transaction will be consumed again from the last
			// committed offsets; the state that saw them is rebuilt up to there.
			for t := range touched {
				delete(s.parts, t)
			}
			if rm, ok := s.machine.(*routerMachine); ok {
				rm.drop(s.parts)
			}
			s.stats.aborted()
			s.log.Info().Int("partitions", len(touched)).Msg("transaction aborted; rebuilding the partitions it touched")
		}
	}
}

// transact runs one transaction: restore what needs it, apply the records, produce the
// outputs, commit. It reports whether it committed and which partitions it changed.
func (s *stage) transact(ctx context.Context, sess *kgo.GroupTransactSession, adm *kadm.Client, fetches kgo.Fetches) (bool, map[tp]bool, error) {
	started := time.Now()
	out := &outbox{stage: s.name, stats: s.stats, regionLog: s.cfg.Topics.Name(roleRegionLog), frames: map[int32][]byte{}, counts: map[int32]int{}, spare: s.spare}
	s.spare = nil // the outbox's now, and the stage's again once its frames are flushed
	touched := map[tp]bool{}

	// Partitions with records but no state: rebuild them first, up to the first record
	// we are about to handle, which is where the group's committed offset points.
	need := map[tp]*kgo.Record{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		t := tp{p.Topic, p.Partition}
		if _, ok := s.parts[t]; !ok && len(p.Records) > 0 {
			need[t] = p.Records[0]
		}
	})
	if len(need) > 0 {
		if err := s.restore(ctx, adm, need); err != nil {
			return false, touched, fmt.Errorf("restoring partitions: %w", err)
		}
	}

	handled := fetches.NumRecords()
	endCtx := ctx
	if rm, ok := s.machine.(*routerMachine); ok {
		// The router routes the records in log-time order across its partitions, and
		// holds back those a partition's records to come may yet precede: the commit
		// stays at the first of them.
		now := time.Now()
		out.header = func() *event.LogRecord { return rm.header(s.parts, now) }
		s.mu.Lock()
		assigned := maps.Clone(s.assigned)
		s.mu.Unlock()
		handled, touched = rm.route(ctx, sess.Client(), adm, fetches, s.parts, assigned, out)
		endCtx = kgo.PreTxnCommitFnContext(ctx, rm.commitShort(s.parts))
	} else {
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			t := tp{p.Topic, p.Partition}
			st := s.parts[t]
			if len(p.Records) == 0 || st == nil {
				return // nothing, or revoked while restoring
			}
			touched[t] = true
			for _, r := range p.Records {
				st.apply(r, out)
				r.Recycle() // a state keeps no record, nor any of its fields but bytes
			}
			st.done()
		})
	}
	wrote := s.machine.idle(time.Now(), s.parts, out)
	out.closeFrames()
	if len(out.records) == 0 && !wrote && handled == 0 {
		s.spare = out.spare // no frame was opened
		return true, touched, nil
	}

	processed := time.Now()
	if err := sess.Begin(); err != nil {
		return false, touched, fmt.Errorf("beginning a transaction: %w", err)
	}
	var (
		mu         sync.Mutex
		produceErr error
	)
	for _, r := range out.records {
		sess.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if produceErr == nil {
					produceErr = fmt.Errorf("producing to %s: %w", r.Topic, err)
				}
				mu.Unlock()
			}
		})
	}
	s.stats.buffered(0, sess.Client().BufferedProduceRecords())
	if err := sess.Client().Flush(ctx); err != nil {
		return false, touched, err
	}
	// Every record produced is acknowledged: the client holds none of their frames now.
	s.spare = append(out.spare, out.sent[:min(len(out.sent), maxSpareFrames-len(out.spare))]...)
	mu.Lock()
	commit := kgo.TransactionEndTry(produceErr == nil)
	if produceErr != nil {
		s.log.Warn().Err(produceErr).Msg("aborting the transaction")
	}
	mu.Unlock()
	flushed := time.Now()
	var committed bool
	var err error
	if handled == 0 && fetches.NumRecords() == 0 {
		// Nothing consumed, so no offsets to commit (only the router's clock ticks): end
		// the transaction on the client. The session's End would hold the next one back
		// 500ms, as without a TxnOffsetCommit it cannot learn that the broker has KIP-447.
		// A revoke meanwhile still fails the next End that commits offsets; onAssigned
		// covers the revokes the session then keeps from us.
		err = sess.Client().EndTransaction(ctx, commit)
		committed = err == nil && bool(commit)
	} else {
		committed, err = sess.End(endCtx, commit)
	}
	if err != nil {
		return false, touched, fmt.Errorf("ending the transaction: %w", err)
	}
	if committed {
		s.stats.committed(s.name, handled, len(out.records))
	}
	if s.cfg.OnTransaction != nil {
		s.cfg.OnTransaction(TransactionTiming{
			Stage: s.name, Records: handled, Committed: committed,
			Process: processed.Sub(started), Produce: flushed.Sub(processed), Commit: time.Since(flushed),
		})
	}
	return committed, touched, nil
}

// restore rebuilds partitions from their logs: for each, replay from History (plus slack)
// before the first record about to be handled, up to that record, emitting nothing. A
// state that keeps a decision log reads it first. One direct read_committed consumer
// reads each log for all partitions at once.
func (s *stage) restore(ctx context.Context, adm *kadm.Client, need map[tp]*kgo.Record) error {
	start := time.Now()
	spans := map[tp]span{}
	pre := map[tp]span{}
	for t, first := range need {
		st, history, err := s.machine.open(t)
		if err != nil {
			return err
		}
		s.parts[t] = st
		if history <= 0 {
			continue
		}
		from, err := offsetAt(ctx, adm, t, replayFrom(first.Timestamp, time.Now()).Add(-history-s.cfg.RestoreSlack))
		if err != nil {
			return err
		}
		if from < first.Offset {
			spans[t] = span{from: from, until: first.Offset}
		}
		if pl, ok := st.(preloader); ok {
			topic, h := pl.preloadLog()
			pt := tp{topic, t.partition}
			pfrom, err := offsetAt(ctx, adm, pt, replayFrom(first.Timestamp, time.Now()).Add(-h-s.cfg.RestoreSlack))
			if err != nil {
				return err
			}
			end, err := s.settledEnd(ctx, adm, pt)
			if err != nil {
				return err
			}
			pl.startReplay(from)
			if pfrom < end {
				pre[pt] = span{from: pfrom, until: end}
			}
		}
	}
	preloaded, err := s.read(ctx, pre, func(r *kgo.Record) {
		s.parts[tp{s.cfg.Topics.Name(roleRegionLog), r.Partition}].(preloader).preload(r)
	})
	if err != nil {
		return err
	}
	replayed, err := s.read(ctx, spans, func(r *kgo.Record) { s.parts[tp{r.Topic, r.Partition}].apply(r, nil) })
	if err != nil {
		return err
	}
	took := time.Since(start)
	s.stats.restored(len(need), replayed, took)
	s.log.Info().Int("partitions", len(need)).Int("records", replayed).Int("decisions", preloaded).Str("took", took.Round(time.Microsecond).String()).Msg("partitions restored")
	return nil
}

// settledEnd returns where a log partition's committed records end, once no transaction
// that was open on it when asked is open any more. The records a restore needs were
// committed by the partition's previous owners, but a read_committed reader sees nothing
// past the first record of a transaction still open, not even what was committed after
// it; and a member that died mid-transaction leaves its transaction open until the broker
// aborts it, at the transaction timeout. Reading the decision log only up to there would
// miss decisions the partition's last owner committed since: the replay would leave
// those requests pending, and they would be matched a second time.
func (s *stage) settledEnd(ctx context.Context, adm *kadm.Client, t tp) (int64, error) {
	offs, err := adm.ListEndOffsets(ctx, t.topic)
	written, err := offsetOf(offs, err, t, "finding the end of")
	if err != nil {
		return 0, err
	}
	for waited := false; ; waited = true {
		offs, err := adm.ListCommittedOffsets(ctx, t.topic)
		stable, err := offsetOf(offs, err, t, "finding the end of")
		if err != nil || stable >= written {
			return stable, err
		}
		if !waited {
			s.log.Warn().Str("topic", t.topic).Int32("partition", t.partition).Int64("stable", stable).Int64("written", written).
				Msg("a transaction left open (by a member that died?) hides records the restore needs; waiting for the broker to end it")
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the transactions open on %s/%d to end: %w", t.topic, t.partition, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// replayFrom is the time a restore counts its history back from: the first record's
// timestamp, or now if that is outside the sane range or ahead of now. An input record's
// timestamp is its producer's to set: a record stamped 0 would make the lookup ask the
// broker for a negative time, which it refuses, and the stage would fail at every
// restore; one stamped a century ahead would leave the replay empty.
func replayFrom(first, now time.Time) time.Time {
	if t := event.TimeOf(first); !t.Valid() || first.After(now) {
		return now
	}
	return first
}

// preloader is a state that reads another log before its replay: the matcher reads its
// partition of the decision log.
type preloader interface {
	// preloadLog names the log and how far back to read it.
	preloadLog() (topic string, history time.Duration)
	// startReplay says at which offset of the state's own log the replay starts.
	startReplay(offset int64)
	preload(r *kgo.Record)
}

// span is a range of offsets, from inclusive, until exclusive.
type span struct{ from, until int64 }

func offsetAt(ctx context.Context, adm *kadm.Client, t tp, at time.Time) (int64, error) {
	offs, err := adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), t.topic)
	return offsetOf(offs, err, t, "finding where to replay")
}

// offsetOf picks one partition's offset out of a listing, saying what was being done if
// the listing or the partition failed.
func offsetOf(offs kadm.ListedOffsets, err error, t tp, doing string) (int64, error) {
	if err != nil {
		return 0, fmt.Errorf("%s %s/%d: %w", doing, t.topic, t.partition, err)
	}
	o, ok := offs.Lookup(t.topic, t.partition)
	if !ok || o.Err != nil {
		return 0, fmt.Errorf("%s %s/%d: %v", doing, t.topic, t.partition, o.Err)
	}
	return o.Offset, nil
}

// read reads the committed records of each span with one direct consumer, in offset
// order per partition, and returns how many it passed to fn. Control records (the
// markers transactions leave) are read too, so that a span ending in one is known to
// be done.
func (s *stage) read(ctx context.Context, spans map[tp]span, fn func(*kgo.Record)) (int, error) {
	if len(spans) == 0 {
		return 0, nil
	}
	from := map[string]map[int32]kgo.Offset{}
	left := map[tp]int64{}
	for t, sp := range spans {
		if from[t.topic] == nil {
			from[t.topic] = map[int32]kgo.Offset{}
		}
		from[t.topic][t.partition] = kgo.NewOffset().At(sp.from)
		left[t] = sp.until
	}
	opts, err := s.cfg.Cluster.Opts(s.log)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(50*time.Millisecond),
	)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	n := 0
	for len(left) > 0 {
		fetches := cl.PollRecords(ctx, 10000)
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("reading %s/%d: %w", t, p, err) })
		if ferr != nil {
			return n, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			t := tp{r.Topic, r.Partition}
			until, ok := left[t]
			if !ok || r.Offset >= until {
				delete(left, t)
				return
			}
			if r.Offset == until-1 {
				delete(left, t)
			}
			if !r.Attrs.IsControl() {
				fn(r)
				n++
			}
		})
	}
	return n, nil
}

// onAssigned notes the partitions given to this member, and forgets any state it still
// holds for them: a partition newly assigned may have been handled by another member since
// this one last had it, even if the revoke went unheard (GroupTransactSession passes on only
// the first revoke between two of its Ends, and ticks-only transactions end without it).
func (s *stage) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			t := tp{topic, p}
			s.assigned[t] = true
			s.revoked[t] = true // dropped by dropRevoked before any record of it is handled
		}
	}
	s.stats.setAssigned(s.name, len(s.assigned))
}

func (s *stage) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range revoked {
		for _, p := range ps {
			t := tp{topic, p}
			delete(s.assigned, t)
			s.revoked[t] = true
		}
	}
	s.stats.setAssigned(s.name, len(s.assigned))
}

// checkReady updates ready. A partition is ready once restored; one without state is
// ready too when the group has consumed all of it (nothing to rebuild, nothing waiting).
func (s *stage) checkReady(ctx context.Context, cl *kgo.Client, adm *kadm.Client) {
	if _, gen := cl.GroupMetadata(); gen < 1 {
		s.setReady(false, 0)
		return
	}
	s.mu.Lock()
	var missing []tp
	owned := len(s.assigned)
	for t := range s.assigned {
		if _, ok := s.parts[t]; !ok {
			missing = append(missing, t)
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		s.setReady(true, owned)
		return
	}
	if time.Since(s.lastCheck) < 250*time.Millisecond {
		return
	}
	s.lastCheck = time.Now()
	committed, err := adm.FetchOffsets(ctx, s.group)
	if err != nil {
		return
	}
	ends, err := adm.ListEndOffsets(ctx, s.topics...)
	if err != nil {
		return
	}
	for _, t := range missing {
		end, ok := ends.Lookup(t.topic, t.partition)
		if !ok || end.Err != nil {
			return
		}
		c, ok := committed.Lookup(t.topic, t.partition)
		if end.Offset > 0 && (!ok || c.Err != nil || c.At < end.Offset) {
			s.setReady(false, owned)
			return
		}
	}
	s.setReady(true, owned)
}

func (s *stage) setReady(ready bool, partitions int) {
	if s.ready.Swap(ready) != ready {
		if ready {
			s.log.Info().Int("partitions", partitions).Msg("ready: every partition owned is rebuilt")
		} else {
			s.log.Info().Msg("not ready: rebuilding partitions")
		}
	}
}

// dropRevoked forgets the state of partitions taken away since the last loop: another
// member may handle them before they come back.
func (s *stage) dropRevoked() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.revoked {
		delete(s.parts, t)
		delete(s.revoked, t)
	}
}

// partitioner writes the region and decision logs to the partitions the stages chose and
// keys everything else as Kafka's default partitioner would, so keyed records land where
// any client expects them.
type partitioner struct {
	manual map[string]bool
	keyed  kgo.Partitioner
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if p.manual[topic] {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.keyed.ForTopic(topic)
}

// recordPool lends a consumer's fetches the slices their records are decoded into, and
// takes each back once all its records are Recycled: a new slice for every fetch was
// garbage the collector had to trace (records hold pointers) after every poll.
type recordPool struct {
	mu   sync.Mutex
	free [][]kgo.Record
}

// maxPooledSlices bounds the slices the pool keeps.
const maxPooledSlices = 256

func (p *recordPool) GetRecords(n int) []kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := len(p.free); k > 0 && cap(p.free[k-1]) >= n {
		s := p.free[k-1]
		p.free = p.free[:k-1]
		return s[:0]
	}
	return make([]kgo.Record, 0, n)
}

func (p *recordPool) PutRecords(s []kgo.Record) {
	clear(s[:cap(s)]) // records never handed out still point into their fetch
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxPooledSlices {
		p.free = append(p.free, s)
	}
}
