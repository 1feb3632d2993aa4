package engine

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"ridematch"
	"ridematch/cluster"
)

// transact runs one transaction: restore what needs it, apply the records, produce the
// outputs, commit. It reports whether it committed and which partitions it changed.
func (s *stage[S]) transact(ctx context.Context, sess *kgo.GroupTransactSession, adm *kadm.Client, fetches kgo.Fetches) (bool, map[tp]bool, error) {
	started := time.Now()
	topics := s.env.Config.Topics
	out := newOutbox(s.Name, topics.Name(ridematch.RoleRegionLog), topics.Name(ridematch.RoleDeadLetter), s.env.Stats)
	out.spare, s.spare = s.spare, nil // the outbox's now, and the stage's again once its frames are flushed

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
			return false, nil, fmt.Errorf("restoring partitions: %w", err)
		}
	}

	handled, touched := s.apply(ctx, sess.Client(), adm, fetches, out)
	wrote := s.proc.Idle(time.Now(), s.parts, out)
	out.closeFrames()
	if len(out.records) == 0 && !wrote && handled == 0 {
		s.spare = out.spare // no frame was opened
		return true, touched, nil
	}
	if err := s.declared(out); err != nil {
		return false, touched, err
	}

	processed := time.Now()
	if err := sess.Begin(); err != nil {
		return false, touched, fmt.Errorf("beginning a transaction: %w", err)
	}
	commit, err := s.produce(ctx, sess, out)
	if err != nil {
		return false, touched, err
	}
	flushed := time.Now()
	var committed bool
	if handled == 0 && fetches.NumRecords() == 0 {
		// Nothing consumed, so no offsets to commit (only the router's clock ticks): end
		// the transaction on the client. The session's End would hold the next one back
		// 500ms, as without a TxnOffsetCommit it cannot learn that the broker has KIP-447.
		// A revoke meanwhile still fails the next End that commits offsets; onAssigned
		// covers the revokes the session then keeps from us.
		err = sess.Client().EndTransaction(ctx, commit)
		committed = err == nil && bool(commit)
	} else {
		endCtx := ctx
		if h, ok := s.proc.(Holder[S]); ok {
			endCtx = kgo.PreTxnCommitFnContext(ctx, commitShort(h.Held(s.parts)))
		}
		committed, err = sess.End(endCtx, commit)
	}
	if err != nil {
		return false, touched, fmt.Errorf("ending the transaction: %w", err)
	}
	if committed {
		s.env.Stats.committed(s.Name, handled, len(out.records))
	}
	if f := s.env.Config.OnTransaction; f != nil {
		f(TransactionTiming{
			Stage: s.Name, Records: handled, Committed: committed,
			Process: processed.Sub(started), Produce: flushed.Sub(processed), Commit: time.Since(flushed),
		})
	}
	return committed, touched, nil
}

// apply applies the poll's records to the partitions' states: the processor's Merge if
// it has one, else each partition's records in turn. It returns how many it applied and
// which partitions' state it changed.
func (s *stage[S]) apply(ctx context.Context, cl *kgo.Client, adm *kadm.Client, fetches kgo.Fetches, out *Outbox) (int, map[tp]bool) {
	if m, ok := s.proc.(Merger[S]); ok {
		s.mu.Lock()
		assigned := maps.Clone(s.assigned)
		s.mu.Unlock()
		return m.Merge(ctx, &Poll[S]{Fetches: fetches, Parts: s.parts, Assigned: assigned, Client: cl, Admin: adm, Out: out})
	}
	touched := map[tp]bool{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		t := tp{p.Topic, p.Partition}
		st, ok := s.parts[t]
		if len(p.Records) == 0 || !ok {
			return // nothing, or revoked while restoring
		}
		touched[t] = true
		for _, r := range p.Records {
			st.Apply(r, out)
			r.Recycle() // a state keeps no record, nor any of its fields but bytes
		}
		st.Done()
	})
	return fetches.NumRecords(), touched
}

// declared checks that the transaction writes only to the stage's declared outputs: a
// record anywhere else is a bug, which would otherwise go unseen until a reader missed
// it.
func (s *stage[S]) declared(out *Outbox) error {
	for _, r := range out.records {
		if !s.outputs[r.Topic] {
			return fmt.Errorf("%w: stage %s wrote to %s, which it does not declare as an output", cluster.ErrConfig, s.Name, r.Topic)
		}
	}
	return nil
}

// produce produces the outbox's records in the open transaction and waits until the
// broker has acknowledged them all. It says whether to commit: not if any failed.
func (s *stage[S]) produce(ctx context.Context, sess *kgo.GroupTransactSession, out *Outbox) (kgo.TransactionEndTry, error) {
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
	s.env.Stats.buffered(0, sess.Client().BufferedProduceRecords())
	if err := sess.Client().Flush(ctx); err != nil {
		return kgo.TryAbort, err
	}
	// Every record produced is acknowledged: the client holds none of their frames now.
	s.spare = append(out.spare, out.sent[:min(len(out.sent), maxSpareFrames-len(out.spare))]...)
	mu.Lock()
	defer mu.Unlock()
	if produceErr != nil {
		s.log.Warn().Err(produceErr).Msg("aborting the transaction")
	}
	return kgo.TransactionEndTry(produceErr == nil), nil
}

// commitShort lowers the transaction's offset commit to held, where the records a Holder
// holds back begin: what the session would commit is where the consumer has read to.
func commitShort(held map[tp]kgo.EpochOffset) func(*kmsg.TxnOffsetCommitRequest) error {
	return func(req *kmsg.TxnOffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				p := &t.Partitions[j]
				if h, ok := held[tp{t.Topic, p.Partition}]; ok && h.Offset < p.Offset {
					p.Offset, p.LeaderEpoch = h.Offset, h.Epoch
				}
			}
		}
		return nil
	}
}
