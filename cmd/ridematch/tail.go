package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/cluster"
	"ridematch/event"
)

type tailOptions struct {
	topic         string
	fromBeginning bool
	follow        bool
	format        string
	max           int
}

func (o *tailOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.topic, "topic", "", "topic to read, by name: ride-matches, driver-offers, driver-responses, ... (default: the ride_matches topic of topics.yaml, ride-matches)")
	fs.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the oldest record, not at the end")
	fs.BoolVar(&o.follow, "follow", true, "keep waiting for new records; --follow=false stops at the end")
	fs.StringVar(&o.format, "format", "table", "output format: table or json (one record a line)")
	fs.IntVar(&o.max, "max", 0, "stop after this many records (0: no limit)")
}

func newTailCmd(g *globals) *cobra.Command {
	c := &clientFlags{}
	o := &tailOptions{}
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Read a topic (default ride-matches) as a table or JSON lines",
		Long: `Read a topic's committed records (read_committed: what the engine's transactions
committed, nothing aborted). By default it starts at the end and follows new
records; --from-beginning reads from the oldest, --follow=false stops at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.format != "table" && o.format != "json" {
				return usageError{fmt.Errorf("--format %q: use table or json", o.format)}
			}
			if o.max < 0 {
				return usageError{fmt.Errorf("--max must not be negative")}
			}
			log, err := g.logger()
			if err != nil {
				return usageError{err}
			}
			fromTopics := o.topic == ""
			if fromTopics {
				topics, err := g.topics()
				if err != nil {
					return err
				}
				o.topic = topics.Name(ridematch.RoleRideMatches)
			}
			start := kgo.NewOffset().AtEnd()
			if o.fromBeginning {
				start = kgo.NewOffset().AtStart()
			}
			cc, err := c.checkedConfig("ridematch-tail")
			if err != nil {
				return err
			}
			warnPasswordFlag(g.stderr, c.saslPassword)
			cl, err := cluster.Connect(cmd.Context(), cc, log,
				kgo.ConsumeTopics(o.topic),
				kgo.ConsumeResetOffset(start),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.FetchMaxWait(250*time.Millisecond),
			)
			if err != nil {
				return err
			}
			defer cl.Close()
			// A consumer waits for a topic that does not exist as if it were only empty.
			if err := topicExists(cmd.Context(), cl, o.topic); err != nil {
				if errors.Is(err, errNoTopic) && fromTopics {
					err = fmt.Errorf("%w: run `ridematch topics` first", err)
				}
				return err
			}
			return tail(cmd.Context(), cl, o, cmd.OutOrStdout())
		},
	}
	c.addFlags(cmd.Flags())
	o.addFlags(cmd.Flags())
	return cmd
}

func tail(ctx context.Context, cl *kgo.Client, o *tailOptions, w io.Writer) error {
	adm := kadm.NewClient(cl)
	// Without --follow, read up to the last stable offsets as of now.
	var until map[int32]int64
	if !o.follow {
		ends, err := adm.ListCommittedOffsets(ctx, o.topic)
		if err != nil {
			return fmt.Errorf("reading the end of %s: %w", o.topic, err)
		}
		until = map[int32]int64{}
		ends.Each(func(lo kadm.ListedOffset) {
			if lo.Err == nil {
				until[lo.Partition] = lo.Offset
			}
		})
		if !o.fromBeginning {
			return nil
		}
	}
	var starts map[int32]int64
	if !o.follow {
		sts, err := adm.ListStartOffsets(ctx, o.topic)
		if err != nil {
			return fmt.Errorf("reading the start of %s: %w", o.topic, err)
		}
		starts = map[int32]int64{}
		sts.Each(func(lo kadm.ListedOffset) { starts[lo.Partition] = lo.Offset })
	}
	done := func(p int32, next int64) bool { return next >= until[p] }
	caughtUp := func() bool {
		for p := range until {
			if !done(p, starts[p]) {
				return false
			}
		}
		return true
	}
	if !o.follow && caughtUp() {
		return nil
	}
	if o.format == "table" {
		fmt.Fprintf(w, "%-27s  %-16s  %-36s  %s\n", "TIME", "EVENT", "KEY", "DETAILS")
	}
	n := 0
	lastRecord := time.Now()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !isTimeout(err) {
				ferr = fmt.Errorf("reading %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			if stop {
				return
			}
			lastRecord = time.Now()
			if !o.follow {
				if done(r.Partition, starts[r.Partition]) {
					return
				}
				starts[r.Partition] = r.Offset + 1
			}
			printRecord(w, r, o.format)
			n++
			stop = o.max > 0 && n >= o.max
		})
		if stop || (!o.follow && caughtUp()) {
			return nil
		}
		// Transaction markers take offsets no record is returned for: a partition whose
		// last records were markers never reaches its end offset, so stop when quiet.
		if !o.follow && time.Since(lastRecord) > 2*time.Second {
			return nil
		}
	}
}

// errNoTopic is wrapped when the topic to read does not exist.
var errNoTopic = errors.New("does not exist")

// topicExists returns an error wrapping errNoTopic when the cluster has no such topic.
func topicExists(ctx context.Context, cl *kgo.Client, topic string) error {
	d, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("looking up topic %s: %w", topic, err)
	}
	td, ok := d[topic]
	switch {
	case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("topic %s %w", topic, errNoTopic)
	case td.Err != nil:
		return fmt.Errorf("looking up topic %s: %w", topic, td.Err)
	}
	return nil
}

func isTimeout(err error) bool {
	return err == context.DeadlineExceeded || strings.Contains(err.Error(), "context deadline exceeded")
}

// printRecord writes one record: as it is when it is JSON (json format) or a one-line
// summary (table format). Binary records (the region log) are decoded first.
func printRecord(w io.Writer, r *kgo.Record, format string) {
	// A frame of the region log prints as one line per record in it.
	var recs [][]byte
	if event.EachInFrame(r.Value, func(_ int, b []byte) error {
		var lr event.LogRecord
		if err := event.DecodeLog(b, &lr); err != nil {
			return err
		}
		j, _ := json.Marshal(lr)
		recs = append(recs, j)
		return nil
	}) == nil {
		for _, j := range recs {
			printValue(w, r, j, format)
		}
		return
	}
	value := r.Value
	var lr event.LogRecord
	if len(value) > 0 && value[0] != '{' && event.DecodeLog(value, &lr) == nil {
		value, _ = json.Marshal(lr)
	}
	printValue(w, r, value, format)
}

func printValue(w io.Writer, r *kgo.Record, value []byte, format string) {
	if format == "json" {
		if json.Valid(value) {
			w.Write(bytes.TrimSpace(value))
			fmt.Fprintln(w)
			return
		}
		envelope, _ := json.Marshal(map[string]any{
			"topic": r.Topic, "partition": r.Partition, "offset": r.Offset,
			"key": string(r.Key), "value": string(value), "headers": headerMap(r),
		})
		fmt.Fprintf(w, "%s\n", envelope)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(value, &m); err != nil {
		reason := headerMap(r)["ridematch.reason"]
		fmt.Fprintf(w, "%-27s  %-16s  %-36s  %s %q\n", r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"), "(not json)", trim(string(r.Key), 36), reason, trim(string(value), 60))
		return
	}
	// An outcome's time is when the engine decided it; another record's, the first it has.
	ts, _ := firstString(m, "match_timestamp", "offer_timestamp", "timestamp", "request_time").(string)
	if o, err := event.DecodeOutcome(value); err == nil && o.Decided != 0 {
		ts = o.Decided.String()
	}
	if ts == "" {
		ts = r.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	kind, _ := m["event_type"].(string)
	if kind == "" {
		kind = "-"
	}
	// 27 runes: the engine's timestamps (RFC 3339, microseconds, Z); 36: the reference's
	// uuid4 request ids.
	fmt.Fprintf(w, "%-27s  %-16s  %-36s  %s\n", trim(ts, 27), trim(kind, 16), trim(string(r.Key), 36), details(kind, m))
}

func details(kind string, m map[string]any) string {
	f := func(k string) any { return m[k] }
	switch kind {
	case event.TypeRideMatched:
		return fmt.Sprintf("driver=%v %v/%v pickup=%vkm eta=%vmin fare=%v surge=%v score=%v", f("driver_id"), f("ride_type"), f("vehicle_type"), f("pickup_distance_km"), f("estimated_arrival"), f("fare_estimate"), f("surge_multiplier"), f("score"))
	case event.TypeRideUnmatched:
		return fmt.Sprintf("reason=%v ride=%v", f("reason"), f("ride_type"))
	case event.TypeRideCancelled, event.TypeMatchCancelled:
		return fmt.Sprintf("reason=%v driver=%v", f("reason"), f("driver_id"))
	case event.TypeSurgeUpdated:
		return fmt.Sprintf("multiplier=%v (was %v) demand=%v supply=%v", f("surge_multiplier"), f("previous_multiplier"), f("demand"), f("supply"))
	case event.TypeRideOffered:
		return fmt.Sprintf("driver=%v request=%v pickup=%vkm eta=%vmin fare=%v surge=%v expires=%s attempt=%v",
			f("driver_id"), f("request_id"), f("pickup_distance_km"), f("estimated_arrival"), f("fare_estimate"), f("surge_multiplier"), expiresIn(m), f("attempt"))
	case event.TypeOfferWithdrawn:
		return fmt.Sprintf("driver=%v request=%v reason=%v offer=%v", f("driver_id"), f("request_id"), f("reason"), f("offer_id"))
	case event.TypeOfferAccepted:
		return fmt.Sprintf("driver=%v request=%v offer=%v", f("driver_id"), f("request_id"), f("offer_id"))
	case event.TypeOfferDeclined:
		reason := f("reason")
		if reason == nil {
			reason = "-"
		}
		return fmt.Sprintf("driver=%v request=%v reason=%v offer=%v", f("driver_id"), f("request_id"), reason, f("offer_id"))
	}
	b, _ := json.Marshal(m)
	return trim(string(b), 100)
}

// expiresIn is how long a ride_offered gives its driver, "+15s", or its expires_at as
// written when either time does not parse.
func expiresIn(m map[string]any) string {
	exp, _ := m["expires_at"].(string)
	at, _ := m["offer_timestamp"].(string)
	e, err1 := event.ParseTime(exp)
	o, err2 := event.ParseTime(at)
	if err1 != nil || err2 != nil {
		return fmt.Sprint(m["expires_at"])
	}
	d := e.Sub(o)
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

func firstString(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k].(string); ok && v != "" {
			return v
		}
	}
	return nil
}

func headerMap(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// trim shortens s to n runes, marking the cut; it never splits a UTF-8 sequence.
func trim(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
