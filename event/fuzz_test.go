package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// knownReasons are the reasons DecodeInput may give.
var knownReasons = map[Reason]bool{
	ReasonMalformedJSON: true, ReasonNotObject: true, ReasonUnknownEvent: true, ReasonMissingField: true,
	ReasonWrongType: true, ReasonBadID: true, ReasonBadCoordinates: true, ReasonUnknownRideType: true,
	ReasonUnknownVehicle: true, ReasonUnknownAvailable: true, ReasonBadRating: true, ReasonBadValue: true,
	ReasonBadTimestamp: true,
}

// addInputSeeds adds the reference shapes and the acceptance suite's garbage (the corpus
// in testdata/fuzz/FuzzDecodeInput holds more).
func addInputSeeds(f *testing.F) {
	refs, _ := filepath.Glob(filepath.Join("testdata", "reference", "*.json"))
	for _, name := range refs {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, name := range []string{"garbage_requests.tsv", "garbage_drivers.tsv"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if _, v, ok := bytes.Cut(line, []byte("\t")); ok {
				f.Add(v)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 6; i++ {
		d, r, c, o := randomDriver(rnd), randomRequest(rnd), randomCancel(rnd), randomResponse(rnd)
		f.Add(d.AppendJSON(nil))
		f.Add(r.AppendJSON(nil))
		f.Add(c.AppendJSON(nil))
		f.Add(o.AppendJSON(nil))
	}
}

// FuzzDecodeInput: DecodeInput never panics; it refuses with a known reason; and whatever
// it accepts, AppendJSON writes back as JSON that decodes to the same event.
func FuzzDecodeInput(f *testing.F) {
	addInputSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeInput(b)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) || !knownReasons[ie.Reason] {
				t.Fatalf("DecodeInput(%q) error %T %v: want an *InvalidError with a known reason", b, err, err)
			}
			return
		}
		if in.Kind < KindDriverLocation || in.Kind > KindOfferResponse {
			t.Fatalf("DecodeInput(%q) accepted kind %d", b, in.Kind)
		}
		enc := encodeInput(nil, &in)
		if !json.Valid(enc) {
			t.Fatalf("DecodeInput(%q) = %+v re-encodes as invalid JSON %q", b, in, enc)
		}
		again, err := DecodeInput(enc)
		if err != nil {
			t.Fatalf("DecodeInput(%q) = %+v re-encodes as %q, which does not decode: %v", b, in, enc, err)
		}
		if !reflect.DeepEqual(again, in) {
			t.Fatalf("DecodeInput(%q) = %+v re-encodes as %q, which decodes to %+v", b, in, enc, again)
		}
	})
}

// FuzzDecodeLog: DecodeLog never panics, refuses with ErrLogRecord, and what it accepts
// AppendLog writes back as a record that decodes to the same value.
func FuzzDecodeLog(f *testing.F) {
	rnd := rand.New(rand.NewPCG(13, 14))
	for _, k := range logKinds {
		r := randomLog(rnd, k)
		f.Add(AppendLog(nil, &r))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r LogRecord
		if err := DecodeLog(b, &r); err != nil {
			if !errors.Is(err, ErrLogRecord) {
				t.Fatalf("DecodeLog(%q) error %v does not wrap ErrLogRecord", b, err)
			}
			return
		}
		enc := AppendLog(nil, &r)
		var again LogRecord
		if err := DecodeLog(enc, &again); err != nil {
			t.Fatalf("DecodeLog(%q) = %#v re-encodes as %q, which does not decode: %v", b, r, enc, err)
		}
		if !sameLog(&again, &r) || !bytes.Equal(AppendLog(nil, &again), enc) {
			t.Fatalf("DecodeLog(%q) = %#v re-encodes as %q, which decodes to %#v", b, r, enc, again)
		}
	})
}
