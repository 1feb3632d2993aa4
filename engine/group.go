package engine

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// onAssigned notes the partitions given to this member, and forgets any state it still
// holds for them: a partition newly assigned may have been handled by another member since
// this one last had it, even if the revoke went unheard (GroupTransactSession passes on only
// the first revoke between two of its Ends, and ticks-only transactions end without it).
func (s *stage[S]) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			t := tp{topic, p}
			s.assigned[t] = true
			s.revoked[t] = true // dropped by dropRevoked before any record of it is handled
		}
	}
	s.env.Stats.setAssigned(s.Name, len(s.assigned))
}

func (s *stage[S]) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range revoked {
		for _, p := range ps {
			t := tp{topic, p}
			delete(s.assigned, t)
			s.revoked[t] = true
		}
	}
	s.env.Stats.setAssigned(s.Name, len(s.assigned))
}

// checkReady updates ready. A partition is ready once restored; one without state is
// ready too when the group has consumed all of it (nothing to rebuild, nothing waiting).
func (s *stage[S]) checkReady(ctx context.Context, cl *kgo.Client, adm *kadm.Client) {
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
	committed, err := adm.FetchOffsets(ctx, s.Group)
	if err != nil {
		return
	}
	ends, err := adm.ListEndOffsets(ctx, s.topics...)
	if err != nil {
		return
	}
	for _, t := range missing {
		end, ok := ends.Lookup(t.Topic, t.Partition)
		if !ok || end.Err != nil {
			return
		}
		c, ok := committed.Lookup(t.Topic, t.Partition)
		if end.Offset > 0 && (!ok || c.Err != nil || c.At < end.Offset) {
			s.setReady(false, owned)
			return
		}
	}
	s.setReady(true, owned)
}

func (s *stage[S]) setReady(ready bool, partitions int) {
	if s.isReady.Swap(ready) != ready {
		if ready {
			s.log.Info().Int("partitions", partitions).Msg("ready: every partition owned is rebuilt")
		} else {
			s.log.Info().Msg("not ready: rebuilding partitions")
		}
	}
}

// dropRevoked forgets the state of partitions taken away since the last loop: another
// member may handle them before they come back.
func (s *stage[S]) dropRevoked() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.revoked {
		delete(s.parts, t)
		delete(s.revoked, t)
	}
}
