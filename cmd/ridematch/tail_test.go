package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
)

// tailFixture is a broker whose ride-matches holds committed records, plain and
// transactional, and one aborted transaction.
type tailFixture struct {
	addr      string
	committed map[string]string // key to value
}

func newTailFixture(t *testing.T) *tailFixture {
	t.Helper()
	b := startBroker(t, ridematch.DefaultTopics())
	topic := ridematch.DefaultTopics().Name(ridematch.RoleRideMatches)
	f := &tailFixture{addr: b.Addr(), committed: map[string]string{}}
	value := func(id, driver string) string {
		// The engine's ride_matched, as it writes it.
		return fmt.Sprintf(`{"event_type":"ride_matched","match_id":"m-%s","request_id":%q,"customer_id":"CUST001","driver_id":%q,`+
			`"pickup_location":"bandra_station","drop_location":"bkc","estimated_arrival":6,"fare_estimate":81.43,"match_timestamp":"2026-11-25T19:00:00.123456Z",`+
			`"driver_rating":4.7,"pickup_distance_km":0.015,"trip_distance_km":2.619,"score":128.847,"surge_multiplier":1,"h3_cell":"87608b0b1ffffff",`+
			`"ride_type":"prime","vehicle_type":"sedan","pickup_coordinates":{"lat":19.0544,"lng":72.8413},"drop_coordinates":{"lat":19.0596,"lng":72.8656},`+
			`"driver_location":{"lat":19.0545,"lng":72.8414},"request_time":"2026-11-25T19:00:00.123456Z"}`, id, id, driver)
	}
	plain := newClient(t, b.Addr())
	// The reference's request ids are uuid4s; the table must show them whole.
	for i, id := range []string{"REQ-1", "REQ-2", "REQ-3", "3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11"} {
		f.committed[id] = value(id, fmt.Sprintf("DRV00%d", i+1))
		produce(t, plain, topic, id, []byte(f.committed[id]))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	txn := newClient(t, b.Addr(), kgo.TransactionalID("tail-test"), kgo.DefaultProduceTopic(topic))
	inTxn := func(commit kgo.TransactionEndTry, ids ...string) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := txn.ProduceSync(ctx, &kgo.Record{Key: []byte(id), Value: []byte(value(id, "DRV-txn"))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	inTxn(kgo.TryAbort, "REQ-aborted-1", "REQ-aborted-2")
	inTxn(kgo.TryCommit, "REQ-txn")
	f.committed["REQ-txn"] = value("REQ-txn", "DRV-txn")
	return f
}

func (f *tailFixture) values() []string {
	var vs []string
	for _, v := range f.committed {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// TestTail: what tail prints of ride-matches, in each format and mode, is what was
// committed, and never a record of an aborted transaction.
func TestTail(t *testing.T) {
	f := newTailFixture(t)

	t.Run("json from the beginning", func(t *testing.T) {
		code, out, stderr := runCommand(t, 20*time.Second, "tail", "--brokers", f.addr, "--from-beginning", "--follow=false", "--format", "json", "--log-level", "warn")
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr)
		}
		got := lines(out)
		slices.Sort(got)
		if !slices.Equal(got, f.values()) {
			t.Errorf("tail printed\n%s\nwant exactly the committed values\n%s", strings.Join(got, "\n"), strings.Join(f.values(), "\n"))
		}
		if strings.Contains(out, "aborted") {
			t.Errorf("tail printed a record of an aborted transaction:\n%s", out)
		}
	})

	t.Run("table from the beginning", func(t *testing.T) {
		code, out, stderr := runCommand(t, 20*time.Second, "tail", "--brokers", f.addr, "--from-beginning", "--follow=false", "--log-level", "warn")
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr)
		}
		ls := lines(out)
		if len(ls) != 1+len(f.committed) {
			t.Fatalf("want a header and %d rows, got:\n%s", len(f.committed), out)
		}
		if h := strings.Fields(ls[0]); !slices.Equal(h, []string{"TIME", "EVENT", "KEY", "DETAILS"}) {
			t.Errorf("header %q", ls[0])
		}
		seen := map[string]bool{}
		for _, l := range ls[1:] {
			fs := strings.Fields(l)
			if len(fs) < 4 || fs[0] != "2026-11-25T19:00:00.123456Z" || fs[1] != "ride_matched" {
				t.Errorf("row %q: want the match time and ride_matched first", l)
				continue
			}
			key := fs[2]
			want, ok := f.committed[key]
			if !ok {
				t.Errorf("row %q: key %s was never committed", l, key)
				continue
			}
			seen[key] = true
			var m map[string]any
			_ = json.Unmarshal([]byte(want), &m)
			if !strings.Contains(l, fmt.Sprintf("driver=%v prime/sedan pickup=0.015km eta=6min fare=81.43 surge=1 score=128.847", m["driver_id"])) {
				t.Errorf("row %q lacks the driver and fare of %s", l, want)
			}
		}
		if len(seen) != len(f.committed) {
			t.Errorf("rows for %d of the %d records:\n%s", len(seen), len(f.committed), out)
		}
	})

	t.Run("max stops a follow", func(t *testing.T) {
		// Following (the default), --max alone must end it.
		code, out, stderr := runCommand(t, 10*time.Second, "tail", "--brokers", f.addr, "--from-beginning", "--max", "2", "--format", "json", "--log-level", "warn")
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr)
		}
		got := lines(out)
		if len(got) != 2 {
			t.Fatalf("want 2 records, got:\n%s", out)
		}
		for _, l := range got {
			if !slices.Contains(f.values(), l) {
				t.Errorf("printed %q, which was not committed", l)
			}
		}
	})

	t.Run("max without follow", func(t *testing.T) {
		code, out, _ := runCommand(t, 10*time.Second, "tail", "--brokers", f.addr, "--from-beginning", "--follow=false", "--max", "2", "--log-level", "warn")
		if ls := lines(out); code != 0 || len(ls) != 3 {
			t.Errorf("exit code %d, want 0 and a header and 2 rows:\n%s", code, out)
		}
	})

	t.Run("from the end without follow", func(t *testing.T) {
		start := time.Now()
		code, out, stderr := runCommand(t, 10*time.Second, "tail", "--brokers", f.addr, "--follow=false", "--log-level", "warn")
		if code != 0 || out != "" {
			t.Errorf("exit code %d, stdout %q, stderr %q: want 0 and nothing", code, out, stderr)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("took %v to print nothing", took)
		}
	})

	t.Run("follow from the end", func(t *testing.T) {
		c := startCommand(t, "tail", "--brokers", f.addr, "--format", "json", "--log-level", "warn")
		cl := newClient(t, f.addr)
		topic := ridematch.DefaultTopics().Name(ridematch.RoleRideMatches)
		// The tail has no ready signal: produce until it shows a new record.
		n := 0
		waitFor(t, 15*time.Second, "tail to print a new record", func() bool {
			if c.exited() {
				t.Fatalf("tail exited with %d: %s", c.code, c.errb.String())
			}
			n++
			produce(t, cl, topic, fmt.Sprintf("REQ-new-%d", n), []byte(fmt.Sprintf(`{"event_type":"ride_unmatched","request_id":"REQ-new-%d","reason":"no_compatible_driver_within_range"}`, n)))
			time.Sleep(100 * time.Millisecond)
			return strings.Contains(c.out.String(), "REQ-new-")
		})
		code, took := c.stop(t, 5*time.Second)
		if code != 0 || took > 3*time.Second {
			t.Errorf("after a stop: exit code %d after %v, want 0 promptly; stderr %s", code, took, c.errb.String())
		}
		for _, l := range lines(c.out.String()) {
			if !strings.Contains(l, `"request_id":"REQ-new-`) {
				t.Errorf("printed %q, which was there before the tail started", l)
			}
		}
	})

	t.Run("records that are not JSON", func(t *testing.T) {
		dlq := ridematch.DefaultTopics().Name(ridematch.RoleDeadLetter)
		cl := newClient(t, f.addr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		bad := `{"event_type":"ride_requested","request_id":"x"`
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: dlq, Key: []byte("junk"), Value: []byte(bad),
			Headers: []kgo.RecordHeader{{Key: "ridematch.reason", Value: []byte("malformed_json")}}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runCommand(t, 10*time.Second, "tail", "--brokers", f.addr, "--topic", dlq, "--from-beginning", "--follow=false", "--format", "json", "--log-level", "warn")
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr)
		}
		var env struct {
			Topic   string            `json:"topic"`
			Key     string            `json:"key"`
			Value   string            `json:"value"`
			Headers map[string]string `json:"headers"`
		}
		if ls := lines(out); len(ls) != 1 || json.Unmarshal([]byte(ls[0]), &env) != nil {
			t.Fatalf("want one JSON line, got %q", out)
		}
		if env.Topic != dlq || env.Key != "junk" || env.Value != bad || env.Headers["ridematch.reason"] != "malformed_json" {
			t.Errorf("envelope %+v does not carry the record", env)
		}
		code, out, _ = runCommand(t, 10*time.Second, "tail", "--brokers", f.addr, "--topic", dlq, "--from-beginning", "--follow=false", "--log-level", "warn")
		if ls := lines(out); code != 0 || len(ls) != 2 || !strings.Contains(ls[1], "(not json)") || !strings.Contains(ls[1], "malformed_json") {
			t.Errorf("table of a non-JSON record: exit code %d\n%s", code, out)
		}
	})

	// A topic that does not exist is an error at once, in every mode, not a wait; when it
	// is the topics file's, the error says how to create it.
	yaml, err := os.ReadFile("../../topics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	otherTopics := filepath.Join(t.TempDir(), "topics.yaml")
	if err := os.WriteFile(otherTopics, []byte(strings.Replace(string(yaml), "name: ride-matches\n", "name: ride-matches-elsewhere\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		give []string
		want string
	}{
		{"unknown topic, following from the end", []string{"--topic", "no-such-topic"}, "ridematch: topic no-such-topic does not exist"},
		{"unknown topic, following from the beginning", []string{"--topic", "no-such-topic", "--from-beginning"}, "ridematch: topic no-such-topic does not exist"},
		{"unknown topic, to the end", []string{"--topic", "no-such-topic", "--follow=false"}, "ridematch: topic no-such-topic does not exist"},
		{"unknown topic, from the beginning to the end", []string{"--topic", "no-such-topic", "--from-beginning", "--follow=false"}, "ridematch: topic no-such-topic does not exist"},
		{"the topics file's topic, missing", []string{"--topics", otherTopics}, "ridematch: topic ride-matches-elsewhere does not exist: run `ridematch topics` first"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, out, stderr := runCommand(t, 20*time.Second, append([]string{"tail", "--brokers", f.addr, "--log-level", "error"}, tt.give...)...)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v to fail", took)
			}
			if code != 1 || stderr != tt.want+"\n" {
				t.Errorf("exit code %d, stderr %q: want 1 and %q", code, stderr, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q", out)
			}
		})
	}
}

func TestTrim(t *testing.T) {
	tests := []struct {
		give string
		n    int
		want string
	}{
		{"REQ-1", 8, "REQ-1"},
		{"12345678", 8, "12345678"},
		{"123456789", 8, "1234567…"},
		{"éééééééé", 8, "éééééééé"},
		{"ééééééééé", 8, "ééééééé…"},
		{"日本語のキー名前です", 5, "日本語の…"},
	}
	for _, tt := range tests {
		if got := trim(tt.give, tt.n); got != tt.want {
			t.Errorf("trim(%q, %d) = %q, want %q", tt.give, tt.n, got, tt.want)
		}
	}
}

// TestTailOffers: tail shows driver-offers and driver-responses readably: who is offered
// which request, how far, for what fare and for how long; withdrawals and answers.
func TestTailOffers(t *testing.T) {
	topics := ridematch.DefaultTopics()
	b := startBroker(t, topics)
	cl := newClient(t, b.Addr())
	offers, responses := topics.Name(ridematch.RoleDriverOffers), topics.Name(ridematch.RoleDriverResponses)
	// As the engine writes them (json.Marshal of event.RideOffered and OfferWithdrawn).
	produce(t, cl, offers, "DRV001", []byte(`{"event_type":"ride_offered","offer_id":"o-3-00112233445566ff","request_id":"REQ-1","driver_id":"DRV001","customer_id":"CUST001",`+
		`"pickup_location":"bandra_station","drop_location":"bkc","pickup_coordinates":{"lat":19.0544,"lng":72.8413},"drop_coordinates":{"lat":19.0596,"lng":72.8656},`+
		`"pickup_distance_km":0.815,"estimated_arrival":4,"fare_estimate":81.43,"surge_multiplier":1.2,"offer_timestamp":"2026-11-25T19:00:00.123456Z",`+
		`"expires_at":"2026-11-25T19:00:15.123456Z","attempt":2,"ride_type":"mini","vehicle_type":"hatchback"}`))
	produce(t, cl, offers, "DRV001", []byte(`{"event_type":"offer_withdrawn","offer_id":"o-3-00112233445566ff","request_id":"REQ-1","driver_id":"DRV001","reason":"rider_cancelled","timestamp":"2026-11-25T19:00:04.000000Z"}`))
	produce(t, cl, responses, "DRV002", []byte(`{"event_type":"offer_accepted","offer_id":"o-1-0000000000000001","request_id":"REQ-2","driver_id":"DRV002","timestamp":"2026-11-25T19:00:02.5Z"}`))
	produce(t, cl, responses, "DRV003", []byte(`{"event_type":"offer_declined","offer_id":"o-1-0000000000000002","request_id":"REQ-3","driver_id":"DRV003","timestamp":"2026-11-25T19:00:03Z","reason":"fare_too_low"}`))
	produce(t, cl, responses, "DRV004", []byte(`{"event_type":"offer_declined","offer_id":"o-1-0000000000000003","request_id":"REQ-4","driver_id":"DRV004","timestamp":"2026-11-25T19:00:03Z"}`))

	tests := []struct {
		topic string
		want  [][]string // each row's fields: time, event, key, then details
	}{
		{offers, [][]string{
			{"2026-11-25T19:00:00.123456Z", "ride_offered", "DRV001", "driver=DRV001 request=REQ-1 pickup=0.815km eta=4min fare=81.43 surge=1.2 expires=+15s attempt=2"},
			{"2026-11-25T19:00:04.000000Z", "offer_withdrawn", "DRV001", "driver=DRV001 request=REQ-1 reason=rider_cancelled offer=o-3-00112233445566ff"},
		}},
		{responses, [][]string{
			{"2026-11-25T19:00:02.5Z", "offer_accepted", "DRV002", "driver=DRV002 request=REQ-2 offer=o-1-0000000000000001"},
			{"2026-11-25T19:00:03Z", "offer_declined", "DRV003", "driver=DRV003 request=REQ-3 reason=fare_too_low offer=o-1-0000000000000002"},
			{"2026-11-25T19:00:03Z", "offer_declined", "DRV004", "driver=DRV004 request=REQ-4 reason=- offer=o-1-0000000000000003"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			code, out, stderr := runCommand(t, 20*time.Second, "tail", "--brokers", b.Addr(), "--topic", tt.topic, "--from-beginning", "--follow=false", "--log-level", "warn")
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr)
			}
			ls := lines(out)
			if len(ls) != 1+len(tt.want) {
				t.Fatalf("want a header and %d rows, got:\n%s", len(tt.want), out)
			}
			var got [][]string
			for _, l := range ls[1:] {
				fs := strings.Fields(l)
				got = append(got, append(fs[:3:3], strings.Join(fs[3:], " ")))
			}
			// Records of several partitions come in no set order.
			slices.SortFunc(got, func(a, b []string) int { return strings.Compare(a[2]+a[0], b[2]+b[0]) })
			for i := range tt.want {
				if !slices.Equal(got[i], tt.want[i]) {
					t.Errorf("row %d:\n got %q\nwant %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestExpiresIn(t *testing.T) {
	tests := []struct {
		offered, expires any
		want             string
	}{
		{"2026-11-25T19:00:00Z", "2026-11-25T19:00:15Z", "+15s"},
		{"2026-11-25T19:00:00.5Z", "2026-11-25T19:00:01Z", "+500ms"},
		{"2026-11-25T19:00:15Z", "2026-11-25T19:00:00Z", "-15s"},
		{nil, "2026-11-25T19:00:15Z", "2026-11-25T19:00:15Z"},
		{"2026-11-25T19:00:00Z", "soon", "soon"},
		{"2026-11-25T19:00:00Z", nil, "<nil>"},
	}
	for _, tt := range tests {
		if got := expiresIn(map[string]any{"offer_timestamp": tt.offered, "expires_at": tt.expires}); got != tt.want {
			t.Errorf("expiresIn(%v, %v) = %q, want %q", tt.offered, tt.expires, got, tt.want)
		}
	}
}
