package event

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"ridematch/geo"
)

// LogKind says what a region-log record holds.
type LogKind uint8

// Region-log record kinds.
const (
	// LogDriver is a validated driver_location_update routed to its region's partition.
	LogDriver LogKind = iota + 1
	// LogRequest is a validated ride_requested routed to its pickup's partition.
	LogRequest
	// LogCancel is a ride_cancelled; the router sends it to every partition, since only the
	// partition that holds the request (or the reserved driver) can act on it.
	LogCancel
	// LogTick moves a partition's clock to its time. Routers of version 2 wrote one into
	// every partition every tick; version 3 routers write LogMark instead, and LogTick is
	// for a caller that applies records to a partition directly (tests, benchmarks).
	LogTick
	// LogLeft tells a partition that a driver it may own moved to another partition.
	LogLeft
	// LogToken hands a driver's ownership, with its reservation, to the partition it moved to.
	LogToken
	// LogDecision records, on the decision log, a request's outcome: which driver it got,
	// or that it ended unmatched or cancelled, and at which region-log offsets. A partition
	// rebuilt from its log makes exactly the recorded decisions (see matcher/doc.go).
	LogDecision
	// LogMark opens every frame a router writes: the log time each input partition the
	// router owns has reached (its watermark). The records after it in the frame are in
	// log-time order across those input partitions (the router merges them), so each one
	// also says how far they all are, within the mark's slack. A frame of a mark alone is
	// a tick: time passing while no records do.
	LogMark
	// LogClaim asks the partition that owns a driver, which a shadow of it showed to
	// another partition, for that driver: the request, the price it was quoted and its
	// deadline travel with it (see matcher/doc.go, Borders).
	LogClaim
	// LogAnswer is the owner's answer to a claim, in the claimant's partition: granted
	// (OutcomeMatched: the owner wrote ride_matched), refused (OutcomeUnmatched, with the
	// reservation that holds the driver, if one does), or refused because the rider had
	// cancelled (OutcomeCancelled). With driver offers on, a grant is an offer: the answer
	// comes when the offer ends, accepted (OutcomeMatched), declined (OutcomeDeclined),
	// lapsed (OutcomeLapsed) or withdrawn because the rider cancelled (OutcomeCancelled).
	LogAnswer
	// LogResponse is a driver's answer to an offer (offer_accepted, offer_declined), routed
	// to the partition that made the offer, which its offer id names (OfferPartition).
	LogResponse
)

// SourceID names an input partition, the source of a router's records: the
// driver-locations partition p is 2p, the ride-requests partition p is 2p+1.
type SourceID uint32

// SourceOf returns the id of partition p of the driver-locations topic, or of the
// ride-requests topic if requests.
func SourceOf(requests bool, p int32) SourceID {
	id := SourceID(p) << 1
	if requests {
		id |= 1
	}
	return id
}

// ResponseSource returns the id of partition p of the driver-responses topic: the top
// bit set, so it meets no driver-locations or ride-requests partition below 2^30.
func ResponseSource(p int32) SourceID { return SourceID(1)<<31 | SourceID(p) }

// SourceMark is where one input partition stands.
type SourceMark struct {
	Source SourceID
	// Claim is the partition's watermark: no record of it with an earlier log time will
	// follow.
	Claim Time
}

// Mark is a LogMark's content.
type Mark struct {
	// Slack bounds how far a merged record after the mark may move a partition's
	// watermark past its claim: Unbounded when the log times are the broker's or the
	// router's own, which no producer sets; the producers' skew bound when they are the
	// producers', so that no one record moves time further.
	Slack   time.Duration
	Sources []SourceMark
}

// Unbounded is the Slack of a mark whose merged records move every partition.
const Unbounded time.Duration = -1

// Route says how a driver update reached its partition (see matcher/doc.go, ownership).
type Route uint8

// Driver routes.
const (
	// RouteStay: the router last sent this driver to the same partition.
	RouteStay Route = iota
	// RouteGenesis: the router has not seen the driver within the driver TTL; the
	// receiving partition owns it at once.
	RouteGenesis
	// RouteArrival: the driver came from partition From, which will send its token.
	RouteArrival
	// RouteShadow: a copy for a partition within reach of the driver that does not own
	// it; From owns it. A shadow may be proposed, by a claim to From, never matched.
	// Availability offline withdraws it: the driver moved out of reach.
	RouteShadow
)

// Reservation is a driver held for a match until its own updates show it busy.
type Reservation struct {
	RequestID string
	MatchID   string
	Until     Time
}

// LogRecord is one record of the region log, decoded. Kind says which fields are set.
type LogRecord struct {
	Kind LogKind
	// Time is the record's log time, the engine's clock for it: when the broker (or the
	// router, or a trusted producer) says the input record arrived; for a mark the least of
	// its claims; for Left and Token the log time of the move; for a decision when it was
	// made. The device's own timestamp is data: Driver.Time, Request.Time, Cancel.Time.
	Time Time
	// Legacy: decoded from a version 2 record, whose Time was the device's timestamp and
	// could be anything a producer wrote (see matcher/doc.go, Time).
	Legacy bool

	Driver DriverLocation // LogDriver
	Route  Route          // LogDriver
	// From is, for LogDriver with RouteArrival, the partition the driver left; with
	// RouteShadow the partition that owns it; for LogClaim the claimant's partition.
	From    int32
	Request RideRequest // LogRequest, LogClaim
	Cancel  RideCancel  // LogCancel
	// Response is a driver's answer to an offer (LogResponse).
	Response OfferResponse
	// Cell is the index cell of the driver's location or the request's pickup, found once
	// by the router (LogDriver, LogRequest).
	Cell geo.Cell

	DriverID string // LogLeft, LogToken, LogDecision, LogClaim, LogAnswer
	To       int32  // LogLeft: the partition the driver moved to
	// Reservation is, for LogToken, the driver's reservation (zero if none); for a
	// LogAnswer refusing a claim, the one that held the driver at its owner.
	Reservation Reservation
	RequestID   string  // LogDecision, LogAnswer
	CustomerID  string  // LogDecision
	Outcome     Outcome // LogDecision, LogAnswer
	Mark        Mark    // LogMark
	// Multiplier is, for LogClaim, the surge multiplier of the pickup's cell in the
	// claimant's partition, which prices the fare; Deadline is the request's (its log
	// time plus the request TTL): an owner refuses a claim its clock has passed.
	Multiplier float64
	Deadline   Time
	// Attempt is, for LogClaim with driver offers on, the offer the claim would make: one
	// more than the drivers the request was offered to before. Zero in claims of an engine
	// without offers, which did not write it.
	Attempt int
	// Position is, for LogDecision, the region-log position of the record whose handling
	// made the decision; RequestPosition that of the request's own record.
	Position, RequestPosition Position
}

// Outcome is what became of a request.
type Outcome uint8

// Request outcomes, as recorded on the decision log.
const (
	OutcomeMatched Outcome = iota + 1
	OutcomeUnmatched
	OutcomeCancelled
	// OutcomeMatchCancelled: the rider cancelled after the match; the request's final
	// outcome stays its ride_matched.
	OutcomeMatchCancelled
	// OutcomeClaimed: the request claimed a shadow driver (DriverID) from the partition
	// that owns it. It is not final: the answer, in the log, decides.
	OutcomeClaimed
	// OutcomeGranted: the owner granted the claim and wrote the request's ride_matched;
	// the claimant's partition keeps the request only to know it is done.
	OutcomeGranted
	// OutcomeOffered: with driver offers on, the request was offered to DriverID, which is
	// held for it until it answers or the offer lapses. It is not final.
	OutcomeOffered
	// OutcomeDeclined and OutcomeLapsed end an offer made on a claimant's behalf (LogAnswer):
	// the driver declined it, or let it lapse.
	OutcomeDeclined
	OutcomeLapsed
)

// logVersion 2 added the index cell to driver and request records; 3 made Time the log
// time, with the device's timestamp beside it, and added LogMark.
const (
	logMagic                    = 'R'
	logVersion, logVersionOlder = 3, 2
)

// ErrLogRecord is wrapped by every region-log decoding error.
var ErrLogRecord = errors.New("malformed region-log record")

// AppendLog appends r's binary form to b. The form is a magic byte, a version, the kind,
// then the kind's fields as varints, IEEE 754 doubles and length-prefixed strings: about
// a third the size of the JSON and an order of magnitude cheaper to decode.
//
// A Legacy record is written in the version 2 form, which has no LogMark and no device
// time apart from Time: tests write the logs of an earlier engine with it.
func AppendLog(b []byte, r *LogRecord) []byte {
	v := byte(logVersion)
	if r.Legacy {
		v = logVersionOlder
	}
	b = append(b, logMagic, v, byte(r.Kind))
	b = binary.AppendVarint(b, int64(r.Time))
	// The device's time, as its distance from the log time (wrapping, like the decoder).
	device := func(b []byte, t Time) []byte {
		if !r.Legacy {
			b = binary.AppendVarint(b, int64(t)-int64(r.Time))
		}
		return b
	}
	switch r.Kind {
	case LogDriver:
		d := &r.Driver
		b = device(b, d.Time)
		b = appendString(b, d.DriverID)
		b = appendPoint(b, d.Location)
		b = appendF64(b, d.SpeedKMH)
		b = appendF64(b, d.Heading)
		b = append(b, byte(d.Availability), byte(d.Vehicle), byte(r.Route))
		b = appendF64(b, d.Rating)
		b = binary.AppendVarint(b, int64(r.From))
		b = binary.LittleEndian.AppendUint64(b, uint64(r.Cell))
	case LogRequest:
		b = appendRequest(b, &r.Request, r.Cell, device)
	case LogCancel:
		c := &r.Cancel
		b = device(b, c.Time)
		b = appendString(b, c.RequestID)
		b = appendString(b, c.CustomerID)
		b = appendString(b, c.Reason)
	case LogTick:
	case LogLeft:
		b = appendString(b, r.DriverID)
		b = binary.AppendVarint(b, int64(r.To))
	case LogToken:
		b = appendString(b, r.DriverID)
		b = appendString(b, r.Reservation.RequestID)
		b = appendString(b, r.Reservation.MatchID)
		b = binary.AppendVarint(b, int64(r.Reservation.Until))
	case LogDecision:
		b = appendString(b, r.RequestID)
		b = appendString(b, r.CustomerID)
		b = appendString(b, r.DriverID)
		b = append(b, byte(r.Outcome))
		b = binary.AppendVarint(b, int64(r.Position))
		b = binary.AppendVarint(b, int64(r.RequestPosition))
	case LogClaim:
		b = appendRequest(b, &r.Request, r.Cell, device)
		b = appendString(b, r.DriverID)
		b = binary.AppendVarint(b, int64(r.From))
		b = appendF64(b, r.Multiplier)
		b = binary.AppendVarint(b, int64(r.Deadline)-int64(r.Time))
		if r.Attempt > 0 {
			b = binary.AppendUvarint(b, uint64(r.Attempt))
		}
	case LogAnswer:
		b = appendString(b, r.RequestID)
		b = appendString(b, r.DriverID)
		b = append(b, byte(r.Outcome))
		b = appendString(b, r.Reservation.RequestID)
		b = appendString(b, r.Reservation.MatchID)
		b = binary.AppendVarint(b, int64(r.Reservation.Until))
	case LogResponse:
		v := &r.Response
		b = device(b, v.Time)
		b = appendString(b, v.OfferID)
		b = appendString(b, v.RequestID)
		b = appendString(b, v.DriverID)
		b = append(b, boolByte(v.Accepted))
		b = appendString(b, v.Reason)
	case LogMark:
		m := &r.Mark
		slack := int64(m.Slack / time.Microsecond)
		if m.Slack < 0 {
			slack = -1 // Unbounded
		}
		b = binary.AppendVarint(b, slack)
		b = binary.AppendUvarint(b, uint64(len(m.Sources)))
		for _, s := range m.Sources {
			b = binary.AppendUvarint(b, uint64(s.Source))
			b = binary.AppendVarint(b, int64(s.Claim)-int64(r.Time))
		}
	}
	return b
}

// DecodeLog decodes a region-log record, of version 3 or the Legacy version 2. Strings
// are copied out of b, so b may be reused; a mark's list of sources reuses r's.
func DecodeLog(b []byte, r *LogRecord) error {
	sources := r.Mark.Sources[:0]
	*r = LogRecord{}
	if len(b) < 3 || b[0] != logMagic {
		return ErrLogRecord
	}
	switch b[1] {
	case logVersion:
	case logVersionOlder:
		r.Legacy = true
	default:
		return errors.Join(ErrLogRecord, errors.New("unknown region-log version"))
	}
	d := decoder{b: b[3:]}
	r.Kind = LogKind(b[2])
	r.Time = Time(d.varint())
	device := func() Time {
		if r.Legacy {
			return r.Time
		}
		return Time(int64(r.Time) + d.varint())
	}
	switch r.Kind {
	case LogDriver:
		v := &r.Driver
		v.Time = device()
		v.DriverID = d.string()
		v.Location = d.point()
		v.SpeedKMH = d.f64()
		v.Heading = d.f64()
		v.Availability = Availability(d.byte())
		v.Vehicle = Vehicle(d.byte())
		r.Route = Route(d.byte())
		v.Rating = d.f64()
		r.From = int32(d.varint())
		r.Cell = geo.Cell(d.u64())
	case LogRequest:
		d.request(r, device())
	case LogCancel:
		c := &r.Cancel
		c.Time = device()
		c.RequestID = d.string()
		c.CustomerID = d.string()
		c.Reason = d.string()
	case LogTick:
	case LogLeft:
		r.DriverID = d.string()
		r.To = int32(d.varint())
	case LogToken:
		r.DriverID = d.string()
		r.Reservation.RequestID = d.string()
		r.Reservation.MatchID = d.string()
		r.Reservation.Until = Time(d.varint())
	case LogDecision:
		r.RequestID = d.string()
		r.CustomerID = d.string()
		r.DriverID = d.string()
		r.Outcome = Outcome(d.byte())
		r.Position = Position(d.varint())
		r.RequestPosition = Position(d.varint())
	case LogClaim:
		d.request(r, device())
		r.DriverID = d.string()
		r.From = int32(d.varint())
		r.Multiplier = d.f64()
		r.Deadline = Time(int64(r.Time) + d.varint())
		if len(d.b) > 0 {
			if n := d.uvarint(); n > 0 && n < 1<<20 {
				r.Attempt = int(n)
			} else {
				d.fail()
			}
		}
	case LogAnswer:
		r.RequestID = d.string()
		r.DriverID = d.string()
		r.Outcome = Outcome(d.byte())
		r.Reservation.RequestID = d.string()
		r.Reservation.MatchID = d.string()
		r.Reservation.Until = Time(d.varint())
	case LogResponse:
		v := &r.Response
		v.Time = device()
		v.OfferID = d.string()
		v.RequestID = d.string()
		v.DriverID = d.string()
		switch d.byte() {
		case 0:
		case 1:
			v.Accepted = true
		default:
			d.bad = true
		}
		v.Reason = d.string()
	case LogMark:
		if r.Legacy {
			return errors.Join(ErrLogRecord, errors.New("a mark in a version 2 record"))
		}
		if err := d.mark(r, sources); err != nil {
			return err
		}
	default:
		return errors.Join(ErrLogRecord, errors.New("unknown region-log kind"))
	}
	if d.bad || len(d.b) != 0 {
		return ErrLogRecord
	}
	return nil
}

// appendRequest appends a request's fields, its device time first.
func appendRequest(b []byte, q *RideRequest, cell geo.Cell, device func([]byte, Time) []byte) []byte {
	b = device(b, q.Time)
	b = appendString(b, q.RequestID)
	b = appendString(b, q.CustomerID)
	b = appendString(b, q.PickupName)
	b = appendString(b, q.DropName)
	b = appendPoint(b, q.Pickup)
	b = appendPoint(b, q.Drop)
	b = append(b, byte(q.RideType))
	b = appendF64(b, q.EstimatedKM)
	return binary.LittleEndian.AppendUint64(b, uint64(cell))
}

// request reads what appendRequest wrote after the device time, which is at.
func (d *decoder) request(r *LogRecord, at Time) {
	q := &r.Request
	q.Time = at
	q.RequestID = d.string()
	q.CustomerID = d.string()
	q.PickupName = d.string()
	q.DropName = d.string()
	q.Pickup = d.point()
	q.Drop = d.point()
	q.RideType = RideType(d.byte())
	q.EstimatedKM = d.f64()
	r.Cell = geo.Cell(d.u64())
}

// mark reads a mark's slack and sources after r's time, the sources into sources' array.
func (d *decoder) mark(r *LogRecord, sources []SourceMark) error {
	slack := d.varint()
	if slack < -1 || slack > math.MaxInt64/int64(time.Microsecond) {
		return ErrLogRecord
	}
	r.Mark.Slack = time.Duration(slack) * time.Microsecond
	if slack < 0 {
		r.Mark.Slack = Unbounded
	}
	n := d.uvarint()
	// Each source takes at least two bytes: no count can exceed what is left.
	if n > uint64(len(d.b))/2 {
		return ErrLogRecord
	}
	for range n {
		src := d.uvarint()
		claim := Time(int64(r.Time) + d.varint())
		if src > math.MaxUint32 {
			return ErrLogRecord
		}
		sources = append(sources, SourceMark{Source: SourceID(src), Claim: claim})
	}
	if n > 0 {
		r.Mark.Sources = sources
	}
	return nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendF64(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendPoint(b []byte, p geo.Point) []byte { return appendF64(appendF64(b, p.Lat), p.Lng) }

// decoder reads the region-log form; the first short read sets bad and zeroes the rest.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) f64() float64 { return math.Float64frombits(d.u64()) }

func (d *decoder) point() geo.Point { return geo.Point{Lat: d.f64(), Lng: d.f64()} }

func (d *decoder) string() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.fail()
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) fail() { d.bad, d.b = true, nil }

// Frames: the region log carries its records in frames, many records to one Kafka record,
// so that the broker, the producer and the consumer pay their per-record costs once per
// frame. A frame is the magic 'F', a version, then each record's length (two bytes, little
// endian) and bytes. Records are far smaller than 64 KiB: ids and names are bounded.
const frameMagic, frameVersion = 'F', 1

// MaxFrameRecords bounds a frame, so that a record's position within its frame fits in
// the low 16 bits of a Position.
const MaxFrameRecords = 1<<16 - 1

// Position is where a record is in the region log: its frame's offset and its index in
// the frame. Positions order records as the log does.
type Position int64

// PositionOf returns the position of record i of the frame at offset.
func PositionOf(offset int64, i int) Position { return Position(offset<<16 | int64(i)) }

// Offset is the offset of the position's frame.
func (p Position) Offset() int64 { return int64(p) >> 16 }

// AppendToFrame appends r to frame, starting the frame if it is empty.
func AppendToFrame(frame []byte, r *LogRecord) []byte {
	if len(frame) == 0 {
		frame = append(frame, frameMagic, frameVersion)
	}
	start := len(frame)
	frame = AppendLog(append(frame, 0, 0), r)
	return sealLength(frame, start)
}

// AppendRawToFrame appends bytes that are not a LogRecord (the plumbing floor of
// ridematch bench frames raw input records).
func AppendRawToFrame(frame, b []byte) []byte {
	if len(frame) == 0 {
		frame = append(frame, frameMagic, frameVersion)
	}
	start := len(frame)
	frame = append(append(frame, 0, 0), b...)
	return sealLength(frame, start)
}

func sealLength(frame []byte, start int) []byte {
	n := len(frame) - start - 2
	if n > 0xffff {
		panic("event: a region-log record over 64 KiB") // ids and names are bounded far below
	}
	binary.LittleEndian.PutUint16(frame[start:], uint16(n))
	return frame
}

// ErrFrame is wrapped by every frame decoding error.
var ErrFrame = errors.New("malformed region-log frame")

// EachInFrame calls fn with the index and the bytes of each record in frame, in order,
// and stops at fn's first error.
func EachInFrame(frame []byte, fn func(i int, rec []byte) error) error {
	if len(frame) < 2 || frame[0] != frameMagic || frame[1] != frameVersion {
		return ErrFrame
	}
	b := frame[2:]
	for i := 0; len(b) > 0; i++ {
		if i >= MaxFrameRecords || len(b) < 2 {
			return ErrFrame
		}
		n := int(binary.LittleEndian.Uint16(b))
		if n > len(b)-2 {
			return ErrFrame
		}
		if err := fn(i, b[2:2+n]); err != nil {
			return err
		}
		b = b[2+n:]
	}
	return nil
}
