package simulator

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch/cluster"
	"ridematch/event"
	"ridematch/matcher"
)

// EarlierRunError is returned by Run, before it produces anything, when ride-matches
// holds outcomes for requests this run would send that the engine still remembers. Ids
// carry the seed, so a run with the seed of an earlier one sends the same ids again, and
// the engine answers an id it answered within its dedup window with nothing: the run
// would wait for outcomes that never come.
type EarlierRunError struct {
	Topic string // ride-matches
	Seed  uint64
	File  string // the replayed trip file; empty for generated requests
	// Until is the first time a run of this seed could start and send none of those ids
	// while the engine remembers them. Event time follows the wall clock, or runs ahead
	// of it after a sped-up run.
	Until time.Time
}

func (e *EarlierRunError) Error() string {
	of := fmt.Sprintf("seed %d", e.Seed)
	if e.File != "" {
		of += " replaying " + filepath.Base(e.File)
	}
	until := e.Until.Local().Format(time.DateTime)
	if today := time.Now().Format(time.DateOnly); strings.HasPrefix(until, today) {
		until = strings.TrimPrefix(until, today+" ")
	}
	return fmt.Sprintf("%s already holds outcomes for requests of %s from an earlier run, and the engine would not answer them again in a run started before %s",
		e.Topic, of, until)
}

// dedupWindow is how long the engine remembers a request id it answered, in event time:
// the matcher's default, which `ridematch match` does not change.
var dedupWindow = matcher.DefaultConfig().DedupWindow

// stallTimeout is how long reading ride-matches to its end may go without a record
// before the check gives up and the run goes on unchecked.
const stallTimeout = 10 * time.Second

// checkEarlierRun reads topic (ride-matches) from its start to its last stable offsets,
// read_committed, and returns an *EarlierRunError when it holds a final outcome of a
// request this run would send while the engine still remembers it: when the outcome was
// decided less than the dedup window before this run, starting now, sends the id. The
// engine's clock is at least this run's event time, so an id decided longer ago than that
// is forgotten by then and gets a new outcome. This is what lets a long run be restarted
// with its seed: its last outcomes are recent, but of ids a new run sends much later.
func (s *Simulator) checkEarlierRun(ctx context.Context, cl *kgo.Client, topic string, now time.Time) error {
	prefix, sends := s.requestIDs()
	since := event.TimeOf(now.Add(-dedupWindow))
	start := time.Now()
	var read int
	var last event.Time // the latest decision time, less its id's send offset
	err := readToEnd(ctx, s, cl, topic, func(r *kgo.Record) {
		read++
		// Other runs' outcomes are most of the topic: skip them before decoding.
		if !bytes.Contains(r.Value, prefix) {
			return
		}
		o, err := event.DecodeOutcome(r.Value)
		if err != nil || !o.Final() {
			return
		}
		offset, ok := sends(o.RequestID)
		if !ok {
			return
		}
		// An unreadable decision time is zero, long before since.
		if at := o.Decided.Add(-offset); at >= since && at > last {
			last = at
		}
	})
	if err != nil {
		return err
	}
	s.log.Debug().Str("topic", topic).Int("records", read).Dur("took", time.Since(start)).Msg("looked for an earlier run's outcomes")
	if last == 0 {
		return nil
	}
	file := ""
	if s.replay != nil {
		file = s.replay.counts.File
	}
	return &EarlierRunError{Topic: topic, Seed: s.cfg.Seed, File: file, Until: last.Std().Add(dedupWindow)}
}

// requestIDs returns the prefix every request id of this run starts with, and a function
// that says whether an id is one this run may send, and how soon after its start, in
// event time, at the earliest. The ids are REQ-<seed>-<n> for generated requests (n at
// most MaxRequests when set), made in World.request, and <file tag>-<seed>-<row> for the
// rows of a replay's window, made in World.replayRequest.
func (s *Simulator) requestIDs() ([]byte, func(string) (time.Duration, bool)) {
	if rp := s.replay; rp != nil {
		prefix := fmt.Sprintf("%s-%d-", rp.tag, s.cfg.Seed)
		pace := max(s.cfg.ReplayPace, 1)
		offsets := make(map[int]time.Duration, len(rp.trips))
		for _, t := range rp.trips {
			offsets[t.row] = time.Duration(float64(t.at.Sub(rp.trips[0].at)) / pace)
		}
		return []byte(prefix), func(id string) (time.Duration, bool) {
			n, ok := idNumber(id, prefix)
			if !ok || n > uint64(rp.counts.Rows) {
				return 0, false
			}
			offset, ok := offsets[int(n)]
			return offset, ok
		}
	}
	prefix := fmt.Sprintf("REQ-%d-", s.cfg.Seed)
	limit := uint64(s.cfg.MaxRequests)
	rate := s.cfg.Rate
	return []byte(prefix), func(id string) (time.Duration, bool) {
		n, ok := idNumber(id, prefix)
		if !ok || n < 1 || (limit > 0 && n > limit) || rate <= 0 {
			return 0, false
		}
		// The n-th of Poisson arrivals at rate comes after n/rate seconds on average, give
		// or take sqrt(n)/rate; three of those early is as soon as it comes.
		k := float64(n)
		return time.Duration(max(k-3*math.Sqrt(k), 0) / rate * float64(time.Second)), true
	}
}

// idNumber reads the number after prefix in id.
func idNumber(id, prefix string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// readToEnd hands each committed record of topic, from its start to its last stable
// offsets as they are now, to each. Control records are fetched too, and not handed on:
// a partition whose last offsets are transaction markers returns no record there
// otherwise, and its end would never be seen. Should the end still not come (no record
// for stallTimeout), it logs a warning and returns nil: the check is a courtesy, and
// without it the run behaves as it always did.
func readToEnd(ctx context.Context, s *Simulator, cl *kgo.Client, topic string, each func(*kgo.Record)) error {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("reading the end of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("reading the start of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("reading the end of %s: %w", topic, err)
	}
	if err := starts.Error(); err != nil {
		return fmt.Errorf("reading the start of %s: %w", topic, err)
	}
	next, end := map[int32]int64{}, map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	starts.Each(func(lo kadm.ListedOffset) {
		e, ok := ends.Lookup(topic, lo.Partition)
		if ok && lo.Offset < e.Offset {
			next[lo.Partition], end[lo.Partition] = lo.Offset, e.Offset
			parts[lo.Partition] = kgo.NewOffset().At(lo.Offset)
		}
	})
	if len(parts) == 0 {
		return nil
	}
	opts, err := s.cfg.Cluster.Opts(s.log)
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", cluster.ErrConfig, err)
	}
	defer closeWithin(rd, time.Second)
	for len(next) > 0 {
		pctx, cancel := context.WithTimeout(ctx, stallTimeout)
		fs := rd.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if pctx.Err() == nil && ferr == nil {
				ferr = fmt.Errorf("reading %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Offset >= end[r.Partition] {
				// Produced since the check began: what came before is all read.
				next[r.Partition] = max(next[r.Partition], end[r.Partition])
				return
			}
			if r.Offset >= next[r.Partition] {
				next[r.Partition] = r.Offset + 1
			}
			if !r.Attrs.IsControl() {
				each(r)
			}
		})
		if n == 0 && pctx.Err() != nil {
			s.log.Warn().Str("topic", topic).Dur("waited", stallTimeout).
				Msg("could not read to the end of the topic; not looking further for an earlier run's outcomes")
			return nil
		}
		for p, o := range next {
			if o >= end[p] {
				delete(next, p)
			}
		}
	}
	return nil
}
