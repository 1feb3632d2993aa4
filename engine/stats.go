package engine

import (
	"maps"
	"sync"
	"time"

	"ridematch/event"
	"ridematch/matcher"
)

// Stats are an engine's counters, safe for concurrent use. Only records handled live
// count; replays during a restore do not.
type Stats struct {
	mu sync.Mutex
	s  Snapshot
}

// Snapshot is a copy of the counters at one moment.
type Snapshot struct {
	DriverUpdates uint64 // valid driver updates routed
	Requests      uint64 // valid ride requests routed
	Cancels       uint64 // valid cancels routed
	StaleDrivers  uint64 // driver updates not newer than the last, dropped by the router
	DeadLettered  map[event.Reason]uint64
	Ticks         uint64

	Matched        uint64
	Unmatched      uint64
	Cancelled      uint64
	MatchCancelled uint64
	SurgeUpdates   uint64
	Duplicates     uint64 // requests whose id was already seen
	Handoffs       uint64 // driver tokens passed between partitions
	Unencodable    uint64 // outputs that did not encode as JSON, not written
	Late           uint64 // region-log records that came after the clock passed their time
	// Batch windows closed with requests waiting, the requests they matched or claimed,
	// and the requests adaptive assignment let wait as contested.
	Windows, Batched, Contested uint64

	// Driver offers: Offers those made, the others how they ended.
	Offers, OffersAccepted, OffersDeclined, OffersExpired, OffersWithdrawn uint64
	// How long the accepted offers took, in log time.
	AcceptTimes matcher.AcceptTimes
	// Drivers' answers: Responses the valid ones the router read, ResponsesApplied those
	// the matcher's partitions applied, and DroppedResponses those that changed nothing,
	// by why; the router's answers whose offer id names no partition are DropUnknown's.
	Responses, ResponsesApplied uint64
	DroppedResponses            [matcher.NDrops]uint64

	// Gauges from the matcher's partitions, as of each one's last transaction.
	Drivers, Pending, SurgeCells int

	Transactions uint64
	Aborted      uint64
	RecordsIn    uint64 // records consumed in committed transactions, both stages
	RecordsOut   uint64
	// RouterIn and MatcherIn split RecordsIn by stage.
	RouterIn, MatcherIn uint64
	Restores            uint64 // partitions rebuilt
	Replayed            uint64 // records replayed to rebuild them
	LastRestore         time.Duration
	SessionErrors       uint64
	Assigned            map[string]int // partitions owned, per stage

	// The most records ever waiting in a stage's consumer and producer buffers.
	MaxBufferedFetch, MaxBufferedProduce int64
}

func (st *Stats) update(f func(s *Snapshot)) {
	st.mu.Lock()
	f(&st.s)
	st.mu.Unlock()
}

// Snapshot copies the counters.
func (st *Stats) Snapshot() Snapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.s
	s.DeadLettered = maps.Clone(st.s.DeadLettered)
	s.Assigned = maps.Clone(st.s.Assigned)
	return s
}

// Add adds o's counters and gauges to s, as for the instances of one process: the
// longest LastRestore and the largest buffers are kept.
func (s *Snapshot) Add(o Snapshot) {
	s.DriverUpdates += o.DriverUpdates
	s.Requests += o.Requests
	s.Cancels += o.Cancels
	s.StaleDrivers += o.StaleDrivers
	s.Ticks += o.Ticks
	s.Matched += o.Matched
	s.Unmatched += o.Unmatched
	s.Cancelled += o.Cancelled
	s.MatchCancelled += o.MatchCancelled
	s.SurgeUpdates += o.SurgeUpdates
	s.Duplicates += o.Duplicates
	s.Handoffs += o.Handoffs
	s.Unencodable += o.Unencodable
	s.Late += o.Late
	s.Windows += o.Windows
	s.Batched += o.Batched
	s.Contested += o.Contested
	s.Offers += o.Offers
	s.OffersAccepted += o.OffersAccepted
	s.OffersDeclined += o.OffersDeclined
	s.OffersExpired += o.OffersExpired
	s.OffersWithdrawn += o.OffersWithdrawn
	addAcceptTimes(&s.AcceptTimes, o.AcceptTimes, matcher.AcceptTimes{})
	s.Responses += o.Responses
	s.ResponsesApplied += o.ResponsesApplied
	for d, n := range o.DroppedResponses {
		s.DroppedResponses[d] += n
	}
	s.Drivers += o.Drivers
	s.Pending += o.Pending
	s.SurgeCells += o.SurgeCells
	s.Transactions += o.Transactions
	s.Aborted += o.Aborted
	s.RecordsIn += o.RecordsIn
	s.RecordsOut += o.RecordsOut
	s.RouterIn += o.RouterIn
	s.MatcherIn += o.MatcherIn
	s.Restores += o.Restores
	s.Replayed += o.Replayed
	s.LastRestore = max(s.LastRestore, o.LastRestore)
	s.SessionErrors += o.SessionErrors
	s.MaxBufferedFetch = max(s.MaxBufferedFetch, o.MaxBufferedFetch)
	s.MaxBufferedProduce = max(s.MaxBufferedProduce, o.MaxBufferedProduce)
	for r, n := range o.DeadLettered {
		if s.DeadLettered == nil {
			s.DeadLettered = map[event.Reason]uint64{}
		}
		s.DeadLettered[r] += n
	}
	for stage, n := range o.Assigned {
		if s.Assigned == nil {
			s.Assigned = map[string]int{}
		}
		s.Assigned[stage] += n
	}
}

// DeadLetteredTotal sums the dead-letter counters.
func (s Snapshot) DeadLetteredTotal() uint64 {
	var n uint64
	for _, v := range s.DeadLettered {
		n += v
	}
	return n
}

func (st *Stats) deadLettered(r event.Reason) {
	st.update(func(s *Snapshot) {
		if s.DeadLettered == nil {
			s.DeadLettered = map[event.Reason]uint64{}
		}
		s.DeadLettered[r]++
	})
}

func (st *Stats) committed(stage string, in, out int) {
	st.update(func(s *Snapshot) {
		s.Transactions++
		s.RecordsIn += uint64(in)
		s.RecordsOut += uint64(out)
		if stage == "router" {
			s.RouterIn += uint64(in)
		} else {
			s.MatcherIn += uint64(in)
		}
	})
}

func (st *Stats) buffered(fetch, produce int64) {
	st.update(func(s *Snapshot) {
		s.MaxBufferedFetch = max(s.MaxBufferedFetch, fetch)
		s.MaxBufferedProduce = max(s.MaxBufferedProduce, produce)
	})
}

func (st *Stats) aborted()          { st.update(func(s *Snapshot) { s.Aborted++ }) }
func (st *Stats) sessionRestarted() { st.update(func(s *Snapshot) { s.SessionErrors++ }) }

func (st *Stats) restored(parts, records int, took time.Duration) {
	st.update(func(s *Snapshot) {
		s.Restores += uint64(parts)
		s.Replayed += uint64(records)
		s.LastRestore = took
	})
}

func (st *Stats) setAssigned(stage string, n int) {
	st.update(func(s *Snapshot) {
		if s.Assigned == nil {
			s.Assigned = map[string]int{}
		}
		s.Assigned[stage] = n
	})
}

// addMatcher adds the difference between two readings of a partition's counters.
func (st *Stats) addMatcher(before, after matcher.Stats) {
	st.update(func(s *Snapshot) {
		s.Matched += after.Matched - before.Matched
		s.Unmatched += after.Unmatched - before.Unmatched
		s.Cancelled += after.Cancelled - before.Cancelled
		s.MatchCancelled += after.MatchCancelled - before.MatchCancelled
		s.SurgeUpdates += after.SurgeUpdates - before.SurgeUpdates
		s.Duplicates += after.Duplicates - before.Duplicates
		s.Handoffs += after.TokensSent - before.TokensSent
		s.Late += after.Late - before.Late
		s.Windows += after.Windows - before.Windows
		s.Batched += after.Batched - before.Batched
		s.Contested += after.Contested - before.Contested
		s.Offers += after.Offers - before.Offers
		s.OffersAccepted += after.OffersAccepted - before.OffersAccepted
		s.OffersDeclined += after.OffersDeclined - before.OffersDeclined
		s.OffersExpired += after.OffersExpired - before.OffersExpired
		s.OffersWithdrawn += after.OffersWithdrawn - before.OffersWithdrawn
		addAcceptTimes(&s.AcceptTimes, after.AcceptTimes, before.AcceptTimes)
		s.ResponsesApplied += after.Responses - before.Responses
		for d := range after.Dropped {
			s.DroppedResponses[d] += after.Dropped[d] - before.Dropped[d]
		}
	})
}

// addAcceptTimes adds the difference between two readings of an accept-time histogram.
func addAcceptTimes(h *matcher.AcceptTimes, after, before matcher.AcceptTimes) {
	for i := range h.Counts {
		h.Counts[i] += after.Counts[i] - before.Counts[i]
	}
	h.Sum += after.Sum - before.Sum
}
