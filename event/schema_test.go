package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"ridematch"
	"ridematch/event"
	"ridematch/geo"
	"ridematch/matcher"
	"ridematch/router"
)

// topicSchemas compiles the schemas topics.yaml names for the topic of a role, as the
// binary embeds them.
func topicSchemas(t *testing.T, role ridematch.Role) map[string]*jsonschema.Schema {
	t.Helper()
	tp := ridematch.DefaultTopics().Get(role)
	out := map[string]*jsonschema.Schema{}
	for _, e := range tp.Events {
		out[e] = compileSchema(t, tp.Schemas[e])
	}
	return out
}

func compileSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	b, err := fs.ReadFile(ridematch.Schemas(), path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // the outputs' date-time: checked, not only annotated
	url := "https://ridematch.invalid/schemas/" + path
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

var errNotJSON = errors.New("not a JSON document")

// parseInstance reads a record as a JSON Schema validator sees it: one JSON value, numbers
// kept as their decimal text.
func parseInstance(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, errNotJSON
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// schemaAccepts reports whether doc passes one of a topic's schemas: the one its
// event_type names, as no two of a topic's schemas accept the same event_type.
func schemaAccepts(schemas map[string]*jsonschema.Schema, doc any) bool {
	for _, s := range schemas {
		if s.Validate(doc) == nil {
			return true
		}
	}
	return false
}

// t0 is the log time of a record the decoder refuses, which the router never compares.
var t0, _ = event.ParseTime("2026-11-25T19:00:00Z")

// routerAccepts reports whether the router takes the record from a topic, or refuses it to
// the dead-letter topic. A fresh router takes each record, and the record's log time is its
// own timestamp: the rules of time and order no schema can state stay out of the way.
func routerAccepts(t *testing.T, shared *router.Shared, topic router.Input, value []byte) (bool, error) {
	t.Helper()
	r, err := router.New(router.DefaultConfig(), 12, shared)
	if err != nil {
		t.Fatal(err)
	}
	at := t0
	if in, err := event.DecodeInput(value); err == nil {
		at = in.Time()
	}
	err = r.Route(value, router.Source{Topic: topic, Time: at}, func(int32, *event.LogRecord) {})
	if err != nil && !errors.Is(err, event.ErrInvalid) {
		t.Fatalf("Route(%q): %v is not a refusal", value, err)
	}
	return err == nil, err
}

// An exception is a rule of the router that no JSON Schema can state. A record on which
// the schemas and the router disagree must fall under one of them. Three more are kept out
// by construction, as routerAccepts says: a timestamp too far ahead of or behind the
// record's log time (the router's clock, not the record, decides), a driver update older
// than the one the router holds, and a record seen before (both depend on what came
// earlier, not on the record).
type exception struct {
	name, why string
	applies   func(value []byte, doc any, schemas map[string]*jsonschema.Schema, routed bool) bool
}

var exceptions = []exception{
	{"oversized", "the router refuses a record over MaxRecordBytes (16 KiB); a schema sees the parsed value, not its size",
		func(value []byte, _ any, _ map[string]*jsonschema.Schema, _ bool) bool {
			return len(value) > router.DefaultConfig().MaxRecordBytes
		}},
	{"key case or repeat", "the decoder matches keys as encoding/json does, exactly or else without regard to case, and the last of a repeated key wins; JSON Schema names properties exactly, and a parsed object has no repeated keys",
		func(value []byte, _ any, _ map[string]*jsonschema.Schema, _ bool) bool {
			return keyQuirks(value)
		}},
	{"bytes, not characters", "ids are at most 128 bytes of UTF-8 and names 256; JSON Schema's maxLength counts characters",
		func(_ []byte, doc any, _ map[string]*jsonschema.Schema, _ bool) bool {
			return overBytes(doc)
		}},
	{"offset across 2000 or 2100", "a timestamp whose wall-clock reading lies in 2000-2099 but whose instant, after its offset, does not: a pattern reads the text, not the instant",
		func(_ []byte, doc any, _ map[string]*jsonschema.Schema, _ bool) bool {
			return offsetAcross(doc)
		}},
	{"float64", "the decoder reads numbers as float64: a decimal beyond its precision rounds onto a bound (90.00000000000000001 is 90) or to zero (1e-400, making (0,0)); a schema compares the exact decimal",
		func(_ []byte, doc any, schemas map[string]*jsonschema.Schema, routed bool) bool {
			return doc != nil && schemaAccepts(schemas, asFloat64(doc)) == routed
		}},
}

// inputFields are the keys the decoder knows, at the top level and in a point.
var inputFields = []string{"event_type", "driver_id", "location", "timestamp", "speed", "heading", "availability",
	"vehicle_type", "rating", "request_id", "customer_id", "pickup_location", "drop_location", "pickup_coordinates",
	"drop_coordinates", "request_time", "ride_type", "estimated_distance", "reason", "cancel_time", "offer_id", "lat", "lng"}

// keyQuirks reports whether an object of the record has a key that names a field only
// without regard to case, or names the same field twice.
func keyQuirks(value []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(value))
	type object struct {
		seen   map[string]bool
		atKey  bool
		isList bool
	}
	var stack []*object
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && !top.isList && top.atKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key := tok.(string)
			for _, f := range inputFields {
				if strings.EqualFold(key, f) {
					if key != f || top.seen[f] {
						return true
					}
					top.seen[f] = true
				}
			}
			top.atKey = false
			continue
		}
		if top != nil && !top.isList {
			top.atKey = true // the value is read; a key or the end comes next
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{seen: map[string]bool{}, atKey: true})
		case json.Delim('['):
			stack = append(stack, &object{isList: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// overBytes reports whether an id or a name is within its limit in characters but not in
// bytes.
func overBytes(doc any) bool {
	m, _ := doc.(map[string]any)
	limits := map[string]int{"driver_id": event.MaxIDBytes, "request_id": event.MaxIDBytes, "customer_id": event.MaxIDBytes,
		"offer_id": event.MaxIDBytes, "pickup_location": 256, "drop_location": 256, "reason": 256}
	for f, limit := range limits {
		if s, ok := m[f].(string); ok && len(s) > limit && utf8.RuneCountInString(s) <= limit {
			return true
		}
	}
	return false
}

// offsetAcross reports whether a timestamp reads as a date in 2000-2099 whose instant lies
// outside those years.
func offsetAcross(doc any) bool {
	m, _ := doc.(map[string]any)
	for _, f := range []string{"timestamp", "request_time", "cancel_time"} {
		if s, ok := m[f].(string); ok && strings.HasPrefix(s, "20") {
			if v, err := event.ParseTime(s); err == nil && !v.Valid() {
				return true
			}
		}
	}
	return false
}

// asFloat64 is doc with every number as the float64 the decoder reads it as.
func asFloat64(doc any) any {
	switch v := doc.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = asFloat64(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = asFloat64(x)
		}
		return out
	case json.Number:
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	return doc
}

// agreement holds one topic's schemas to the router.
type agreement struct {
	schemas map[string]*jsonschema.Schema
	shared  *router.Shared
	input   router.Input
}

func newAgreements(t *testing.T) map[ridematch.Role]agreement {
	t.Helper()
	shared := router.NewShared(router.DefaultConfig())
	return map[ridematch.Role]agreement{
		ridematch.RoleDriverLocations: {topicSchemas(t, ridematch.RoleDriverLocations), shared, router.DriverLocations},
		ridematch.RoleRideRequests:    {topicSchemas(t, ridematch.RoleRideRequests), shared, router.RideRequests},
		ridematch.RoleDriverResponses: {topicSchemas(t, ridematch.RoleDriverResponses), shared, router.DriverResponses},
	}
}

// check reports whether the router accepts value, and the exception that excuses the
// schemas' disagreeing with it: "" when they agree, "none" when nothing does.
func (a agreement) check(t *testing.T, value []byte) (routed bool, excuse string, err error) {
	t.Helper()
	doc, perr := parseInstance(value)
	schemaOK := perr == nil && schemaAccepts(a.schemas, doc)
	routed, err = routerAccepts(t, a.shared, a.input, value)
	if schemaOK == routed {
		return routed, "", err
	}
	for _, ex := range exceptions {
		if ex.applies(value, doc, a.schemas, routed) {
			return routed, ex.name, err
		}
	}
	return routed, "none", err
}

// TestSchemaAgreesWithRouter holds the input schemas to the router: every record of the
// decoder's tests and fuzz corpus, of the router's and the engine's hostile-input tests,
// and of schemaCases, is sent to every input topic; the schemas of the topic must accept
// it exactly when the router does, but for the exceptions above.
func TestSchemaAgreesWithRouter(t *testing.T) {
	records := append(event.InputCorpus(t), schemaCases()...)
	excused := map[string]int{}
	accepted, refused := 0, 0
	for role, a := range newAgreements(t) {
		for _, rec := range records {
			routed, excuse, err := a.check(t, rec.Value)
			if routed {
				accepted++
			} else {
				refused++
			}
			switch excuse {
			case "":
			case "none":
				t.Errorf("%s on %s: the schema accepts it %v, the router %v (%v), and no exception applies:\n%s",
					rec.Source, role, !routed, routed, err, truncate(rec.Value))
			default:
				excused[excuse]++
			}
		}
	}
	if accepted < 100 || refused < 300 {
		t.Errorf("%d records accepted and %d refused: the corpus is too thin to say the schemas agree", accepted, refused)
	}
	t.Logf("%d records, %d accepted and %d refused on one topic or the other; disagreements excused: %v", len(records), accepted, refused, excused)
}

// FuzzSchemaAgreesWithRouter looks for records beyond the corpus on which the schemas and
// the router disagree with no exception to excuse it (make fuzz runs it).
func FuzzSchemaAgreesWithRouter(f *testing.F) {
	for _, rec := range append(event.InputCorpus(f), schemaCases()...) {
		f.Add(rec.Value)
	}
	var agreements map[ridematch.Role]agreement
	f.Fuzz(func(t *testing.T, value []byte) {
		if agreements == nil {
			agreements = newAgreements(t)
		}
		for role, a := range agreements {
			if routed, excuse, err := a.check(t, value); excuse == "none" {
				t.Errorf("on %s the schema accepts %v, the router %v (%v), and no exception applies: %q", role, !routed, routed, err, value)
			}
		}
	})
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// schemaCases are records at the edges of what the schemas say, and the hostile inputs
// of router.TestRouteRefuses and engine.TestHostileInput (acceptance/garbage.py's classes
// and more), ported: those tests keep theirs inside their functions.
func schemaCases() []event.CorpusRecord {
	ts := "2026-11-25T19:00:00.000000"
	drv := func(over string) string {
		return `{"event_type":"driver_location_update","driver_id":"BAD-DRV-1","location":{"lat":19.05,"lng":72.84},"timestamp":"` + ts + `","availability":"available","vehicle_type":"sedan","rating":4.5` + over + `}`
	}
	req := func(over string) string {
		return `{"event_type":"ride_requested","request_id":"BAD-REQ-1","customer_id":"C","pickup_coordinates":{"lat":19.05,"lng":72.84},"drop_coordinates":{"lat":19.1,"lng":72.85},"request_time":"` + ts + `","ride_type":"mini"` + over + `}`
	}
	cancel := func(over string) string {
		return `{"event_type":"ride_cancelled","request_id":"R1"` + over + `}`
	}
	drvAt := func(s string) string { return strings.Replace(drv(""), ts, s, 1) }
	var out []event.CorpusRecord
	add := func(name, v string) {
		out = append(out, event.CorpusRecord{Source: "schemaCases/" + name, Value: []byte(v)})
	}

	// engine.TestHostileInput's classes.
	add("binary", "\x00\x01\x02\xff binary")
	add("numeric driver_id only", `{"driver_id": 5}`)
	add("lng 500", strings.Replace(drv(""), `"lng":72.84`, `"lng":500`, 1))
	add("null island", strings.Replace(drv(""), `{"lat":19.05,"lng":72.84}`, `{"lat":0,"lng":0}`, 1))
	add("spaceship", strings.Replace(drv(""), `"sedan"`, `"spaceship"`, 1))
	add("rating 17", strings.Replace(drv(""), `"rating":4.5`, `"rating":17`, 1))
	add("lat NaN string", strings.Replace(drv(""), `"lat":19.05`, `"lat":"NaN"`, 1))
	add("oversized", drv(`,"pad":"`+strings.Repeat("x", 20<<10)+`"`))
	add("sleeping", strings.Replace(drv(""), `"available"`, `"sleeping"`, 1))
	add("not json", "not json at all {{{")
	add("array", `[1,2,3]`)
	add("lat 999", strings.Replace(req(""), `"lat":19.05`, `"lat":999`, 1))
	add("helicopter", strings.Replace(req(""), `"mini"`, `"helicopter"`, 1))
	add("pickup NaN strings", strings.Replace(req(""), `{"lat":19.05,"lng":72.84}`, `{"lat":"NaN","lng":"x"}`, 1))
	add("no pickup", strings.Replace(req(""), `"pickup_coordinates":{"lat":19.05,"lng":72.84},`, ``, 1))
	add("yesterday", strings.Replace(req(""), ts, "yesterday", 1))
	add("surge_activated", `{"event_type":"surge_activated","location":"bkc"}`)
	add("empty customer_id", strings.Replace(req(""), `"customer_id":"C"`, `"customer_id":""`, 1))
	// router.TestRouteRefuses's others.
	add("empty", "")
	add("trip_updated", `{"event_type": "trip_updated", "trip_id": "T1"}`)
	add("id with a newline", strings.Replace(drv(""), `BAD-DRV-1`, `D\n1`, 1))
	add("hour 25", drvAt("2026-11-25T25:00:00"))

	// Timestamp forms.
	for _, s := range []string{
		"2026-11-25 19:00:00", "2026-11-25t19:00:00z", "2026-11-25T19:00:00,5", "2026-11-25T19:00:00.123456789123Z",
		"2026-11-25T19:00:00+05:30", "2026-11-25T19:00:00-00:00", "2026-11-25T19:00:00.", "2026-11-25T19:00",
		"2026-11-25T19:00:60", "2026-11-25T19:00:00+05:30:00", "2026-11-25T19:00:00 +05:30", "2026-11-25T19:00:00Z ",
		" 2026-11-25T19:00:00", "2026-11-25T19:00:00\n", "２０26-11-25T19:00:00", "2026-11-25T19:00:00+23:59",
		"2000-02-29T00:00:00", "2096-02-29T00:00:00Z", "2097-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-04-31T00:00:00",
		"2026-12-31T23:59:59.999999", "1999-12-31T23:59:59.999999", "2099-12-31T23:59:59.9999999",
		"2099-12-31T23:30:00-01:00", "2000-01-01T00:00:00+00:01", "2000-01-01T00:30:00-00:31",
	} {
		add("timestamp "+strconv.Quote(s), drvAt(s))
	}

	// A cancel's two times.
	good := `"2026-11-25T19:00:05"`
	add("cancel timestamp", cancel(`,"timestamp":`+good))
	add("cancel cancel_time", cancel(`,"cancel_time":`+good))
	add("cancel null timestamp, cancel_time", cancel(`,"timestamp":null,"cancel_time":`+good))
	add("cancel timestamp, bad cancel_time", cancel(`,"timestamp":`+good+`,"cancel_time":"soon"`))
	add("cancel timestamp, numeric cancel_time", cancel(`,"timestamp":`+good+`,"cancel_time":5`))
	add("cancel bad timestamp, cancel_time", cancel(`,"timestamp":"soon","cancel_time":`+good))
	add("cancel both null", cancel(`,"timestamp":null,"cancel_time":null`))
	add("cancel null customer_id and reason", cancel(`,"timestamp":`+good+`,"customer_id":null,"reason":null`))
	add("cancel numeric customer_id", cancel(`,"timestamp":`+good+`,"customer_id":7`))

	// Nulls, keys, numbers.
	add("null rating, speed, heading", drv(`,"speed":null,"heading":null,"rating":null`))
	add("null pickup_location", req(`,"pickup_location":null,"estimated_distance":null`))
	add("point with extra keys", strings.Replace(drv(""), `{"lat":19.05,"lng":72.84}`, `{"lat":19.05,"lng":72.84,"alt":12}`, 1))
	add("point lat null", strings.Replace(drv(""), `"lat":19.05`, `"lat":null`, 1))
	add("escaped key", strings.Replace(drv(""), `"vehicle_type"`, `"vehicle\u005ftype"`, 1))
	add("upper-case key", strings.Replace(drv(""), `"event_type"`, `"EVENT_TYPE"`, 1))
	add("upper-case key, bad value", drv(`,"Rating":9`))
	add("long s in a key", strings.Replace(drv(""), `"timestamp"`, `"time\u017ftamp"`, 1))
	add("Kelvin sign in a key", req(`,"pic\u212aup_location":"bkc"`))
	add("repeated key, last good", drv(`,"rating":9,"rating":3`))
	add("repeated key, last bad", drv(`,"rating":3,"rating":9`))
	add("lat a hair over 90", strings.Replace(drv(""), `"lat":19.05`, `"lat":90.00000000000000001`, 1))
	add("lat under a double's reach", strings.Replace(drv(""), `{"lat":19.05,"lng":72.84}`, `{"lat":1e-400,"lng":0}`, 1))
	add("exponent", strings.Replace(drv(""), `"lat":19.05`, `"lat":1.905e1`, 1))
	add("id of 43 three-byte characters", strings.Replace(drv(""), `BAD-DRV-1`, strings.Repeat("中", 43), 1))
	add("id of 42 three-byte characters", strings.Replace(drv(""), `BAD-DRV-1`, strings.Repeat("中", 42), 1))
	add("id with C1 control", strings.Replace(drv(""), `BAD-DRV-1`, "D\u00851", 1))
	add("id with invalid UTF-8", strings.Replace(drv(""), `BAD-DRV-1`, "D\xff1", 1))
	add("name of 100 four-byte characters", req(`,"pickup_location":"`+strings.Repeat("🚕", 100)+`"`))

	// A driver's answers: an accept has no reason, so any is a field it does not know.
	answer := func(typ, over string) string {
		return `{"event_type":"` + typ + `","offer_id":"o-3-0123456789abcdef","request_id":"R1","driver_id":"D1","timestamp":"` + ts + `"` + over + `}`
	}
	for _, typ := range []string{"offer_accepted", "offer_declined"} {
		add(typ, answer(typ, ""))
		add(typ+" numeric reason", answer(typ, `,"reason":3`))
		add(typ+" null reason", answer(typ, `,"reason":null`))
		add(typ+" reason of 257 bytes", answer(typ, `,"reason":"`+strings.Repeat("r", 257)+`"`))
		add(typ+" reason of 100 four-byte characters", answer(typ, `,"reason":"`+strings.Repeat("🚕", 100)+`"`))
		add(typ+" offer id of 43 three-byte characters", strings.Replace(answer(typ, ""), "o-3-0123456789abcdef", strings.Repeat("中", 43), 1))
		add(typ+" offer id of 129 bytes", strings.Replace(answer(typ, ""), "o-3-0123456789abcdef", strings.Repeat("o", 129), 1))
		add(typ+" offer id of no partition", strings.Replace(answer(typ, ""), "o-3-", "o-99-", 1))
		add(typ+" offer id not the engine's", strings.Replace(answer(typ, ""), "o-3-0123456789abcdef", "offer-1", 1))
		add(typ+" empty offer id", strings.Replace(answer(typ, ""), "o-3-0123456789abcdef", "", 1))
		add(typ+" null offer id", strings.Replace(answer(typ, ""), `"o-3-0123456789abcdef"`, "null", 1))
		add(typ+" numeric driver id", strings.Replace(answer(typ, ""), `"D1"`, "1", 1))
		add(typ+" null timestamp", strings.Replace(answer(typ, ""), `"`+ts+`"`, "null", 1))
		add(typ+" epoch timestamp", strings.Replace(answer(typ, ""), `"`+ts+`"`, "1795633203", 1))
		add(typ+" cancel_time, no timestamp", strings.Replace(answer(typ, ""), `"timestamp"`, `"cancel_time"`, 1))
		add(typ+" timestamp with offset", strings.Replace(answer(typ, ""), ts, "2026-11-26T00:30:00+05:30", 1))
		add(typ+" upper-case key", strings.Replace(answer(typ, ""), `"offer_id"`, `"OFFER_ID"`, 1))
		add(typ+" a request's fields", answer(typ, `,"customer_id":7,"pickup_coordinates":"x","location":null`))
	}
	return out
}

// TestSchemaLeavesToTheRouter shows the exceptions routerAccepts keeps out: records each
// schema accepts that the router refuses, for reasons that lie outside the record.
func TestSchemaLeavesToTheRouter(t *testing.T) {
	schemas := topicSchemas(t, ridematch.RoleDriverLocations)
	shared := router.NewShared(router.DefaultConfig())
	update := func(ts string) []byte {
		return []byte(`{"event_type":"driver_location_update","driver_id":"D1","location":{"lat":19.05,"lng":72.84},"timestamp":"` + ts + `","availability":"available","vehicle_type":"sedan"}`)
	}
	tests := []struct {
		name    string
		give    []byte
		logTime string
		want    event.Reason
	}{
		{"a minute ahead of its log time", update("2026-11-25T19:01:00Z"), "2026-11-25T19:00:00Z", event.ReasonFutureTimestamp},
		{"two hours behind its log time", update("2026-11-25T17:00:00Z"), "2026-11-25T19:00:00Z", event.ReasonStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := parseInstance(tt.give)
			if err != nil || !schemaAccepts(schemas, doc) {
				t.Fatalf("the schema refuses %s (%v)", tt.give, err)
			}
			r, err := router.New(router.DefaultConfig(), 12, shared)
			if err != nil {
				t.Fatal(err)
			}
			at, _ := event.ParseTime(tt.logTime)
			err = r.Route(tt.give, router.Source{Topic: router.DriverLocations, Time: at}, func(int32, *event.LogRecord) {})
			if got := event.ReasonOf(err); got != tt.want {
				t.Errorf("Route = %v, want %s", err, tt.want)
			}
		})
	}
}

// outputSchemas are the schemas of the output events, on ride-matches and surge-pricing.
func outputSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	out := topicSchemas(t, ridematch.RoleRideMatches)
	for e, s := range topicSchemas(t, ridematch.RoleSurgePricing) {
		out[e] = s
	}
	return out
}

// checkOutput validates an output event as the engine writes it (engine/matcher.go:
// json.Marshal) against the schema of its topic and event.
func checkOutput(t *testing.T, schemas map[string]*jsonschema.Schema, e event.Output) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("%T: %v", e, err)
	}
	doc, err := parseInstance(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	s, ok := schemas[e.Type()]
	if !ok {
		t.Fatalf("no schema for %s", e.Type())
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("%s fails its schema: %v", b, err)
	}
}

// TestSchemaEngineOutputs runs a matcher partition through every outcome and a surge,
// and validates what it writes against the output schemas.
func TestSchemaEngineOutputs(t *testing.T) {
	schemas := outputSchemas(t)
	for _, assignment := range []string{"greedy", "batch", "adaptive"} {
		t.Run(assignment, func(t *testing.T) {
			cfg := matcher.DefaultConfig()
			if err := cfg.Assignment.Set(assignment); err != nil {
				t.Fatal(err)
			}
			p, err := matcher.New(cfg, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			bandra := geo.Point{Lat: 19.0544, Lng: 72.8413}
			bkc := geo.Point{Lat: 19.0596, Lng: 72.8656}
			at := t0
			var pos event.Position
			seen := map[string]int{}
			apply := func(r *event.LogRecord) {
				pos++
				p.Apply(r, pos)
				for _, o := range p.Outputs() {
					if o.Event != nil {
						seen[o.Event.Type()]++
						checkOutput(t, schemas, o.Event)
					}
				}
			}
			tick := func(d time.Duration) {
				for end := at.Add(d); at < end; {
					at = at.Add(time.Second)
					apply(&event.LogRecord{Kind: event.LogTick, Time: at})
				}
			}
			request := func(id string, rt event.RideType, name string) {
				apply(&event.LogRecord{Kind: event.LogRequest, Time: at, Request: event.RideRequest{
					RequestID: id, CustomerID: "C-" + id, PickupName: name, Pickup: bandra, Drop: bkc, Time: at, RideType: rt,
				}})
			}
			cancel := func(id string, reason string) {
				apply(&event.LogRecord{Kind: event.LogCancel, Time: at, Cancel: event.RideCancel{RequestID: id, Time: at, Reason: reason}})
			}
			// Demand with no supply: surge, and requests that expire unmatched or are cancelled.
			for i := range 20 {
				request(fmt.Sprintf("R-WAIT-%d", i), event.Mini, "")
			}
			cancel("R-WAIT-0", "")
			cancel("R-WAIT-1", "changed plans")
			tick(2 * time.Minute)
			// Drivers, then requests they take; a match cancelled.
			for i := range 8 {
				apply(&event.LogRecord{Kind: event.LogDriver, Time: at, Route: event.RouteGenesis, Driver: event.DriverLocation{
					DriverID: fmt.Sprintf("DRV-%d", i), Location: geo.Offset(bandra, 0.2*float64(i), 0.1), Time: at,
					SpeedKMH: 20, Availability: event.Available, Vehicle: event.Vehicles()[i%3], Rating: 4 + float64(i%2)/2,
				}})
			}
			for i, rt := range []event.RideType{event.Mini, event.Prime, event.AutoRide, event.Micro} {
				request(fmt.Sprintf("R-GO-%d", i), rt, "bandra_station")
			}
			tick(5 * time.Second)
			cancel("R-GO-0", "")
			tick(time.Minute)
			for _, e := range []string{"ride_matched", "ride_unmatched", "ride_cancelled", "match_cancelled", "surge_updated"} {
				if seen[e] == 0 {
					t.Errorf("the run wrote no %s (it wrote %v)", e, seen)
				}
			}
		})
	}
}

// TestSchemaOutputEdges validates outputs at the edges of what the engine writes.
func TestSchemaOutputEdges(t *testing.T) {
	schemas := outputSchemas(t)
	cell := geo.CellOf(geo.Point{Lat: 19.0544, Lng: 72.8413}, 7)
	p := geo.Point{Lat: -90, Lng: 180}
	for _, e := range []event.Output{
		&event.RideMatched{EventType: event.TypeRideMatched, MatchID: "M", RequestID: "R", CustomerID: "C", DriverID: "D",
			FareEstimate: 0, MatchTimestamp: event.MinTime, DriverRating: 1, SurgeMultiplier: 1, H3Cell: cell, Assignment: "batch",
			Batched: true, RideType: "auto", VehicleType: "auto", PickupCoords: p, DropCoords: p, DriverLocation: p, RequestTime: event.MaxTime - 1},
		&event.RideUnmatched{EventType: event.TypeRideUnmatched, RequestID: "R", CustomerID: "C", PickupCoords: p, RideType: "micro",
			Reason: event.UnmatchedExpired, MaxPickupKM: 0.1, RequestTime: t0, Timestamp: t0, H3Cell: cell},
		&event.RideCancelled{EventType: event.TypeRideCancelled, RequestID: "R", Reason: "rider_cancelled", RequestTime: t0, Timestamp: t0},
		&event.MatchCancelled{EventType: event.TypeMatchCancelled, MatchID: "M", RequestID: "R", DriverID: "D", Reason: "x", Timestamp: t0},
		&event.SurgeUpdated{EventType: event.TypeSurgeUpdated, H3Cell: cell, Resolution: 7, SurgeMultiplier: 100, Previous: 1,
			WindowSeconds: 300, Timestamp: t0, Center: cell.Center()},
	} {
		checkOutput(t, schemas, e)
	}
}

// TestSchemaDesignSamples validates the sample events of docs/design.md, "Events".
func TestSchemaDesignSamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Schema{}
	for _, role := range []ridematch.Role{ridematch.RoleDriverLocations, ridematch.RoleRideRequests} {
		for e, s := range topicSchemas(t, role) {
			schemas[e] = s
		}
	}
	n := 0
	for _, block := range strings.Split(string(b), "```json\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		dec := json.NewDecoder(strings.NewReader(block))
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatalf("a sample in docs/design.md is not JSON: %v", err)
			}
			var head struct {
				EventType string `json:"event_type"`
			}
			json.Unmarshal(raw, &head)
			doc, err := parseInstance(raw)
			if err != nil {
				t.Fatal(err)
			}
			if s, ok := schemas[head.EventType]; !ok {
				t.Errorf("docs/design.md shows a %q, which has no input schema", head.EventType)
			} else if err := s.Validate(doc); err != nil {
				t.Errorf("docs/design.md's %s fails its schema: %v", head.EventType, err)
			}
			if _, err := event.DecodeInput(raw); err != nil {
				t.Errorf("docs/design.md's %s: DecodeInput: %v", head.EventType, err)
			}
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d samples in docs/design.md, want its 3 input events", n)
	}
}

// TestSchemaReadmeSamples validates the sample of each event in schemas/README.md, a
// record ridematch wrote, against the schema of its topic and event, and wants one of
// every event of every JSON topic there.
func TestSchemaReadmeSamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "schemas", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	topics := ridematch.DefaultTopics()
	want := map[string]bool{}
	byName := map[string]ridematch.Topic{}
	for _, tp := range topics.Topics {
		byName[tp.Name] = tp
		for e := range tp.Schemas {
			want[tp.Name+"/"+e] = true
		}
	}
	_, samples, _ := strings.Cut(string(b), "\n## Samples\n")
	for _, sec := range strings.Split(samples, "\n### ")[1:] {
		name, rest, _ := strings.Cut(sec, "\n")
		_, block, ok := strings.Cut(rest, "```json\n")
		block, _, _ = strings.Cut(block, "```")
		topic, ev, _ := strings.Cut(name, "/")
		tp, found := byName[topic]
		if !ok || !found || tp.Schemas[ev] == "" {
			t.Errorf("schemas/README.md: the sample %q names no topic and event with a schema, or shows no JSON", name)
			continue
		}
		doc, err := parseInstance([]byte(block))
		if err != nil {
			t.Fatalf("the sample %s is not JSON: %v", name, err)
		}
		if err := compileSchema(t, tp.Schemas[ev]).Validate(doc); err != nil {
			t.Errorf("the sample %s fails its schema: %v", name, err)
		}
		delete(want, name)
	}
	for name := range want {
		t.Errorf("schemas/README.md has no sample of %s", name)
	}
}
