package engine

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch/event"
)

// Outbox collects a transaction's output records. Region-log records go into one open
// frame per partition, closed at maxFrameBytes or at the end of the transaction.
type Outbox struct {
	stage      string
	records    []*kgo.Record
	stats      *Stats
	regionLog  string
	deadLetter string
	frames     map[int32][]byte
	counts     map[int32]int
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

// Add adds a record to write.
func (o *Outbox) Add(r *kgo.Record) { o.records = append(o.records, r) }

// LogRecord adds a record to partition p's open frame of the region log.
func (o *Outbox) LogRecord(p int32, r *event.LogRecord) {
	o.open(p)
	o.frames[p] = event.AppendToFrame(o.frame(p), r)
	o.framed(p)
}

// open opens a frame for partition p, with its header, unless one is open; it reports
// whether it opened one.
func (o *Outbox) open(p int32) bool {
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

// Raw adds bytes that are not a LogRecord to partition p's open frame of the region log.
func (o *Outbox) Raw(p int32, b []byte) {
	o.frames[p] = event.AppendRawToFrame(o.frame(p), b)
	o.framed(p)
}

// frame is partition p's open frame, or a spare buffer to open it in.
func (o *Outbox) frame(p int32) []byte {
	if f, ok := o.frames[p]; ok || len(o.spare) == 0 {
		return f
	}
	f := o.spare[len(o.spare)-1][:0]
	o.spare = o.spare[:len(o.spare)-1]
	return f
}

func (o *Outbox) framed(p int32) {
	o.counts[p]++
	if len(o.frames[p]) >= maxFrameBytes || o.counts[p] >= event.MaxFrameRecords {
		o.closeFrame(p)
	}
}

func (o *Outbox) closeFrame(p int32) {
	if f := o.frames[p]; len(f) > 0 {
		o.Add(&kgo.Record{Topic: o.regionLog, Partition: p, Value: f})
		o.sent = append(o.sent, f)
	}
	delete(o.frames, p)
	delete(o.counts, p)
}

// closeFrames closes every open frame, in partition order.
func (o *Outbox) closeFrames() {
	ps := make([]int32, 0, len(o.frames))
	for p := range o.frames {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		o.closeFrame(p)
	}
}

// DeadLetter sends a record that failed validation to the dead-letter topic: the original
// key, value and headers, plus headers saying why and where from.
func (o *Outbox) DeadLetter(r *kgo.Record, err error) {
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
	o.Add(&kgo.Record{Topic: o.deadLetter, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Headers: h})
	o.stats.deadLettered(reason)
}

// NewOutbox returns an empty outbox whose region-log frames go to regionLog and dead
// letters to deadLetter: what a stage gives its processor each transaction, and a test
// of a processor can give it too.
func NewOutbox(regionLog, deadLetter string) *Outbox {
	return newOutbox("", regionLog, deadLetter, &Stats{})
}

func newOutbox(stage, regionLog, deadLetter string, stats *Stats) *Outbox {
	return &Outbox{stage: stage, stats: stats, regionLog: regionLog, deadLetter: deadLetter, frames: map[int32][]byte{}, counts: map[int32]int{}}
}

// Records closes the open frames and returns every record to write, in order.
func (o *Outbox) Records() []*kgo.Record {
	o.closeFrames()
	return o.records
}
