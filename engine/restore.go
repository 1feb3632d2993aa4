package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch/event"
)

// restore rebuilds partitions from their logs: for each, replay its input's History
// (plus slack) before the first record about to be handled, up to that record, emitting
// nothing. A state with a preload log reads it first. One direct read_committed consumer
// reads each log for all partitions at once.
func (s *stage[S]) restore(ctx context.Context, adm *kadm.Client, need map[tp]*kgo.Record) error {
	start := time.Now()
	spans := map[tp]span{}
	pre := map[tp]span{}
	slack := s.env.Config.RestoreSlack
	for t, first := range need {
		st, err := s.proc.Open(t)
		if err != nil {
			return err
		}
		s.parts[t] = st
		history := s.input(s.env.Config.Topics, t.Topic).History
		if history <= 0 {
			continue
		}
		from, err := offsetAt(ctx, adm, t, replayFrom(first.Timestamp, time.Now()).Add(-history-slack))
		if err != nil {
			return err
		}
		if from < first.Offset {
			spans[t] = span{from: from, until: first.Offset}
		}
		if s.Preload.Role == "" {
			continue
		}
		pt := tp{s.env.Config.Topics.Name(s.Preload.Role), t.Partition}
		pfrom, err := offsetAt(ctx, adm, pt, replayFrom(first.Timestamp, time.Now()).Add(-s.Preload.History-slack))
		if err != nil {
			return err
		}
		end, err := s.settledEnd(ctx, adm, pt)
		if err != nil {
			return err
		}
		any(st).(Preloader).StartReplay(from) // Build checked that S preloads
		if pfrom < end {
			pre[pt] = span{from: pfrom, until: end}
		}
	}
	// A preload log is partitioned like the one input that has state (Validate).
	stateful := ""
	for _, in := range s.Inputs {
		if in.History > 0 {
			stateful = s.env.Config.Topics.Name(in.Role)
		}
	}
	preloaded, err := s.read(ctx, pre, func(r *kgo.Record) {
		any(s.parts[tp{stateful, r.Partition}]).(Preloader).Preload(r)
	})
	if err != nil {
		return err
	}
	replayed, err := s.read(ctx, spans, func(r *kgo.Record) { s.parts[tp{r.Topic, r.Partition}].Replay(r) })
	if err != nil {
		return err
	}
	took := time.Since(start)
	s.env.Stats.restored(len(need), replayed, took)
	s.log.Info().Int("partitions", len(need)).Int("records", replayed).Int("preloaded", preloaded).Str("took", took.Round(time.Microsecond).String()).Msg("partitions restored")
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
func (s *stage[S]) settledEnd(ctx context.Context, adm *kadm.Client, t tp) (int64, error) {
	offs, err := adm.ListEndOffsets(ctx, t.Topic)
	written, err := offsetOf(offs, err, t, "finding the end of")
	if err != nil {
		return 0, err
	}
	for waited := false; ; waited = true {
		offs, err := adm.ListCommittedOffsets(ctx, t.Topic)
		stable, err := offsetOf(offs, err, t, "finding the end of")
		if err != nil || stable >= written {
			return stable, err
		}
		if !waited {
			s.log.Warn().Str("topic", t.Topic).Int32("partition", t.Partition).Int64("stable", stable).Int64("written", written).
				Msg("a transaction left open (by a member that died?) hides records the restore needs; waiting for the broker to end it")
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the transactions open on %s/%d to end: %w", t.Topic, t.Partition, ctx.Err())
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

// span is a range of offsets, from inclusive, until exclusive.
type span struct{ from, until int64 }

func offsetAt(ctx context.Context, adm *kadm.Client, t tp, at time.Time) (int64, error) {
	offs, err := adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), t.Topic)
	return offsetOf(offs, err, t, "finding where to replay")
}

// offsetOf picks one partition's offset out of a listing, saying what was being done if
// the listing or the partition failed.
func offsetOf(offs kadm.ListedOffsets, err error, t tp, doing string) (int64, error) {
	if err != nil {
		return 0, fmt.Errorf("%s %s/%d: %w", doing, t.Topic, t.Partition, err)
	}
	o, ok := offs.Lookup(t.Topic, t.Partition)
	if !ok || o.Err != nil {
		return 0, fmt.Errorf("%s %s/%d: %v", doing, t.Topic, t.Partition, o.Err)
	}
	return o.Offset, nil
}

// read reads the committed records of each span with one direct consumer, in offset
// order per partition, and returns how many it passed to fn. Control records (the
// markers transactions leave) are read too, so that a span ending in one is known to
// be done.
func (s *stage[S]) read(ctx context.Context, spans map[tp]span, fn func(*kgo.Record)) (int, error) {
	if len(spans) == 0 {
		return 0, nil
	}
	from := map[string]map[int32]kgo.Offset{}
	left := map[tp]int64{}
	for t, sp := range spans {
		if from[t.Topic] == nil {
			from[t.Topic] = map[int32]kgo.Offset{}
		}
		from[t.Topic][t.Partition] = kgo.NewOffset().At(sp.from)
		left[t] = sp.until
	}
	opts, err := s.env.Config.Cluster.Opts(s.log)
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
