package event

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// CorpusRecord is one input record of the decoder's tests, and where it comes from.
type CorpusRecord struct {
	Source string
	Value  []byte
}

// InputCorpus returns every input record the decoder's own tests hold: the reference
// shapes, the acceptance suite's garbage, the fuzz seeds and the fuzz corpus, the records
// of TestDecodeInputRefuses and TestDecodeInputAccepts, and each string of TestParseTime
// as a driver update's, a cancel's and a driver's answer's timestamp. The schema agreement test (schema_test.go) holds the
// JSON Schemas to the decoder on all of them.
func InputCorpus(tb testing.TB) []CorpusRecord {
	tb.Helper()
	var out []CorpusRecord
	add := func(src string, v []byte) { out = append(out, CorpusRecord{src, v}) }

	refs, _ := filepath.Glob(filepath.Join("testdata", "reference", "*.json"))
	for _, name := range refs {
		add(name, readCorpusFile(tb, name))
	}
	for _, name := range []string{"garbage_requests.tsv", "garbage_drivers.tsv"} {
		for i, line := range bytes.Split(readCorpusFile(tb, filepath.Join("testdata", name)), []byte("\n")) {
			if _, v, ok := bytes.Cut(line, []byte("\t")); ok {
				add(name+":"+strconv.Itoa(i+1), v)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(11, 12)) // addInputSeeds's
	for i := 0; i < 6; i++ {
		d, r, c, o := randomDriver(rnd), randomRequest(rnd), randomCancel(rnd), randomResponse(rnd)
		add("random driver", d.AppendJSON(nil))
		add("random request", r.AppendJSON(nil))
		add("random cancel", c.AppendJSON(nil))
		add("random response", o.AppendJSON(nil))
	}
	corpus, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeInput", "*"))
	for _, name := range corpus {
		add(name, fuzzValue(tb, name))
	}
	for _, tt := range decodeRefusals() {
		add("TestDecodeInputRefuses/"+tt.name, tt.give)
	}
	for _, tt := range decodeAcceptances() {
		add("TestDecodeInputAccepts/"+tt.name, tt.give)
	}
	for _, tt := range parseTimeCases() {
		add("TestParseTime/"+tt.name, with(baseDriver(), "timestamp", tt.give))
		add("TestParseTime/"+tt.name+" as cancel_time", with(baseCancel(), "timestamp", drop, "cancel_time", tt.give))
		add("TestParseTime/"+tt.name+" as a decline's timestamp", with(baseDeclined(), "timestamp", tt.give))
	}
	return out
}

func readCorpusFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fuzzValue reads a one-value file of the fuzz corpus: "go test fuzz v1" and a quoted
// []byte("...") line.
func fuzzValue(tb testing.TB, name string) []byte {
	tb.Helper()
	header, body, _ := strings.Cut(string(readCorpusFile(tb, name)), "\n")
	body = strings.TrimSpace(body)
	if header != "go test fuzz v1" || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
		tb.Fatalf("%s is not a one-value []byte fuzz corpus file", name)
	}
	v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")"))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return []byte(v)
}
