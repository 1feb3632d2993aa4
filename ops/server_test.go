package ops

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"ridematch/engine"
	"ridematch/event"
	"ridematch/matcher"
)

// fakeEngine stands in for *engine.Engine.
type fakeEngine struct {
	mu    sync.Mutex
	ready bool
	stats engine.Snapshot
}

func (e *fakeEngine) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready
}

func (e *fakeEngine) Stats() engine.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *fakeEngine) set(ready bool, s engine.Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ready, e.stats = ready, s
}

// testServer is a Server whose handler is served by httptest, without Kafka: the feed
// is fed by hand.
func testServer(t *testing.T, eng Engine) (*Server, *httptest.Server) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	s, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.eng = eng
	hs := httptest.NewServer(s.handler())
	t.Cleanup(hs.Close)
	return s, hs
}

func get(t *testing.T, url string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	eng := &fakeEngine{}
	_, hs := testServer(t, eng)
	tests := []struct {
		name     string
		ready    bool
		assigned map[string]int
		code     int
		body     string
	}{
		{"joining", false, nil, http.StatusServiceUnavailable, "not ready: joining the consumer groups"},
		{"restoring", false, map[string]int{"router": 18, "matcher": 12}, http.StatusServiceUnavailable, "not ready: rebuilding the partitions it owns (30 assigned)"},
		{"ready", true, map[string]int{"router": 18, "matcher": 12}, http.StatusOK, "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng.set(tt.ready, engine.Snapshot{Assigned: tt.assigned})
			code, _, body := get(t, hs.URL+"/readyz")
			if code != tt.code || !strings.HasPrefix(body, tt.body) || strings.Count(body, "\n") != 1 {
				t.Errorf("/readyz: %d %q; want %d and one line starting %q", code, body, tt.code, tt.body)
			}
			if code, _, body := get(t, hs.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
				t.Errorf("/healthz: %d %q; want 200 ok whatever the engine says", code, body)
			}
		})
	}
}

// busyServer is a test server whose engine has counted something of everything.
func busyServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	eng := &fakeEngine{}
	eng.set(true, engine.Snapshot{
		DriverUpdates: 1000, Requests: 40, Cancels: 2, StaleDrivers: 3,
		DeadLettered: map[event.Reason]uint64{event.ReasonMalformedJSON: 5, event.ReasonBadCoordinates: 1},
		Matched:      37, Unmatched: 2, Cancelled: 1, MatchCancelled: 1,
		Drivers: 980, Pending: 4, SurgeCells: 6, LastRestore: 1500 * time.Millisecond,
		Transactions: 90, Aborted: 2, RouterIn: 1042, MatcherIn: 1100,
		Assigned: map[string]int{"router": 18, "matcher": 12},
		Offers:   12, OffersAccepted: 7, OffersDeclined: 2, OffersExpired: 1, OffersWithdrawn: 1,
		// Accepts within 0.5s, 2s (3 of them), 3s (2), and one past the last bucket.
		AcceptTimes:      matcher.AcceptTimes{Counts: [len(matcher.AcceptBuckets) + 1]uint64{0: 1, 2: 3, 3: 2, len(matcher.AcceptBuckets): 1}, Sum: 49750 * time.Millisecond},
		Responses:        11,
		DroppedResponses: [matcher.NDrops]uint64{matcher.DropUnknown: 1, matcher.DropDuplicate: 1},
	})
	s, hs := testServer(t, eng)
	s.feed.latency.WithLabelValues(event.TypeRideMatched).Observe(0.012)
	s.Transaction(engine.TransactionTiming{Stage: "router", Records: 800, Process: 3 * time.Millisecond,
		Produce: 2 * time.Millisecond, Commit: 1500 * time.Microsecond, Committed: true})
	s.lag.lags = []partitionLag{{group: "ridematch-matcher", topic: "ridematch-region-log", partition: 3, lag: 250}}
	s.lag.members = map[string]int{"ridematch-matcher": 2}
	s.lag.updated = time.Now()
	return s, hs
}

func TestMetrics(t *testing.T) {
	s, hs := busyServer(t)
	code, header, body := get(t, hs.URL+"/metrics")
	if code != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", code, header.Get("Content-Type"))
	}
	for _, want := range []string{
		`ridematch_events_in_total{type="driver_location_update"} 1000`,
		`ridematch_events_in_total{type="ride_requested"} 40`,
		`ridematch_outcomes_total{kind="ride_matched"} 37`,
		`ridematch_outcomes_total{kind="match_cancelled"} 1`,
		`ridematch_dead_lettered_total{reason="malformed_json"} 5`,
		`ridematch_dead_lettered_total{reason="bad_coordinates"} 1`,
		`ridematch_cached_drivers 980`,
		`ridematch_pending_requests 4`,
		`ridematch_surge_cells 6`,
		`ridematch_restore_last_duration_seconds 1.5`,
		`ridematch_transactions_total{result="aborted"} 2`,
		`ridematch_records_consumed_total{stage="matcher"} 1100`,
		`ridematch_assigned_partitions{stage="router"} 18`,
		`ridematch_ready 1`,
		`ridematch_consumer_lag{group="ridematch-matcher",partition="3",topic="ridematch-region-log"} 250`,
		`ridematch_match_latency_seconds_bucket{kind="ride_matched",le="0.025"} 1`,
		`ridematch_match_latency_seconds_count{kind="ride_matched"} 1`,
		`# TYPE ridematch_match_latency_seconds histogram`,
		`ridematch_transaction_step_seconds_bucket{stage="router",step="process",le="0.0025"} 0`,
		`ridematch_transaction_step_seconds_bucket{stage="router",step="process",le="0.005"} 1`,
		`ridematch_transaction_step_seconds_bucket{stage="router",step="commit",le="0.0025"} 1`,
		`ridematch_transaction_step_seconds_count{stage="router",step="produce"} 1`,
		`ridematch_offers_made_total 12`,
		`ridematch_offers_total{result="accepted"} 7`,
		`ridematch_offers_total{result="declined"} 2`,
		`ridematch_offers_total{result="expired"} 1`,
		`ridematch_offers_total{result="withdrawn"} 1`,
		`# TYPE ridematch_offer_accept_seconds histogram`,
		`ridematch_offer_accept_seconds_bucket{le="0.5"} 1`,
		`ridematch_offer_accept_seconds_bucket{le="1"} 1`,
		`ridematch_offer_accept_seconds_bucket{le="2"} 4`,
		`ridematch_offer_accept_seconds_bucket{le="3"} 6`,
		`ridematch_offer_accept_seconds_bucket{le="30"} 6`,
		`ridematch_offer_accept_seconds_bucket{le="+Inf"} 7`,
		`ridematch_offer_accept_seconds_sum 49.75`,
		`ridematch_offer_accept_seconds_count 7`,
		`ridematch_offer_responses_total 11`,
		`ridematch_offer_responses_dropped_total{reason="unknown_offer"} 1`,
		`ridematch_offer_responses_dropped_total{reason="duplicate"} 1`,
		`ridematch_offer_responses_dropped_total{reason="wrong_driver"} 0`,
		`process_resident_memory_bytes `,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	problems, err := testutil.GatherAndLint(s.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// Every offer result and drop reason is exported from the start, at 0, so that a rate
// over them is 0 rather than no data; and the accept-time histogram has every bucket.
func TestOfferMetricsStartAtZero(t *testing.T) {
	_, hs := testServer(t, &fakeEngine{ready: true})
	_, _, body := get(t, hs.URL+"/metrics")
	want := []string{`ridematch_offers_made_total 0`, `ridematch_offer_responses_total 0`,
		`ridematch_offer_accept_seconds_count 0`, `ridematch_offer_accept_seconds_bucket{le="+Inf"} 0`}
	for _, r := range []string{"accepted", "declined", "expired", "withdrawn"} {
		want = append(want, fmt.Sprintf(`ridematch_offers_total{result=%q} 0`, r))
	}
	for d := range matcher.NDrops {
		want = append(want, fmt.Sprintf(`ridematch_offer_responses_dropped_total{reason=%q} 0`, d))
	}
	for _, le := range matcher.AcceptBuckets {
		want = append(want, fmt.Sprintf(`ridematch_offer_accept_seconds_bucket{le="%g"} 0`, le.Seconds()))
	}
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

// The page loads nothing from anywhere but this server: no CDN, no tiles, no fonts.
func TestPageIsSelfContained(t *testing.T) {
	_, hs := testServer(t, &fakeEngine{})
	code, header, body := get(t, hs.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, "<canvas") || !strings.HasPrefix(header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: %d %s, canvas %v", code, header.Get("Content-Type"), strings.Contains(body, "<canvas"))
	}
	if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q: want default-src 'self'", csp)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	err := fs.WalkDir(webFiles, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFiles.ReadFile(path)
		if err != nil {
			return err
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s refers to %q: every asset must come from the binary", path, m)
		}
		served := "/assets/" + strings.TrimPrefix(path, "web/")
		if code, _, _ := get(t, hs.URL+served); code != http.StatusOK {
			t.Errorf("%s: %d", served, code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]*)"`).FindAllStringSubmatch(body, -1)
	if len(refs) < 2 {
		t.Errorf("the page loads %d assets; want its script and its style sheet", len(refs))
	}
	for _, ref := range refs {
		if code, _, _ := get(t, hs.URL+ref[1]); code != http.StatusOK {
			t.Errorf("the page refers to %s, which answers %d", ref[1], code)
		}
	}
}

// /events answers the first snapshot newer than Last-Event-ID as a server-sent event,
// then ends; without a Last-Event-ID, the current one at once.
func TestEvents(t *testing.T) {
	s, hs := testServer(t, &fakeEngine{ready: true})
	now := s.feed.start
	s.feed.put(s.feed.drivers, "DRV1", driverJSON("DRV1", bkc, now, "available"), now, now)
	s.feed.tick(now)
	seq := s.feed.seq

	code, header, body := get(t, hs.URL+"/events?city=mumbai")
	if code != http.StatusOK || header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/events: %d %s", code, header.Get("Content-Type"))
	}
	ev := parseEvent(t, body)
	if ev.id != seq || ev.retry != 1000 || ev.snap.City != "mumbai" || len(ev.snap.Drivers) != 1 || !ev.snap.Ready {
		t.Errorf("event id %d retry %d, city %s, %d drivers, ready %v; want id %d, retry 1000, mumbai, 1 driver, ready",
			ev.id, ev.retry, ev.snap.City, len(ev.snap.Drivers), ev.snap.Ready, seq)
	}

	// With the current generation as Last-Event-ID, the answer waits for the next.
	go func() {
		time.Sleep(300 * time.Millisecond)
		s.feed.tick(time.Now())
	}()
	start := time.Now()
	_, _, body = get(t, hs.URL+"/events?city=mumbai", "Last-Event-ID", ev.idText)
	if next := parseEvent(t, body); next.id != seq+1 || time.Since(start) < 250*time.Millisecond {
		t.Errorf("the next event is %d after %v; want %d once the feed ticks", next.id, time.Since(start), seq+1)
	}

	if code, _, _ := get(t, hs.URL+"/events?city=atlantis"); code != http.StatusNotFound {
		t.Errorf("/events for an unknown city: %d; want 404", code)
	}
	if code, _, body := get(t, hs.URL+"/api/snapshot?city=mumbai"); code != http.StatusOK || !json.Valid([]byte(body)) {
		t.Errorf("/api/snapshot: %d, valid JSON %v", code, json.Valid([]byte(body)))
	}
}

type sse struct {
	id     uint64
	idText string
	retry  int
	snap   Snapshot
}

func parseEvent(t *testing.T, body string) sse {
	t.Helper()
	var ev sse
	var data string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		switch k {
		case "id":
			ev.idText = v
			if _, err := fmt.Sscan(v, &ev.id); err != nil {
				t.Fatalf("id %q: %v", v, err)
			}
		case "retry":
			if _, err := fmt.Sscan(v, &ev.retry); err != nil {
				t.Fatalf("retry %q: %v", v, err)
			}
		case "data":
			data += v
		}
	}
	if err := json.Unmarshal([]byte(data), &ev.snap); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return ev
}

func TestNewRefusesBadAddresses(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		give   string
		config bool // a config error, not a listening one
	}{
		{":8080", true},
		{"localhost", true},
		{"127.0.0.1:99999", true},
		{taken.Addr().String(), false},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Addr = tt.give
		s, err := New(cfg, zerolog.Nop())
		if err == nil {
			s.Close()
			t.Errorf("New(%q) serves; want an error", tt.give)
			continue
		}
		if errors.Is(err, ErrConfig) != tt.config {
			t.Errorf("New(%q): %v; config error %v, want %v", tt.give, err, errors.Is(err, ErrConfig), tt.config)
		}
	}
}

// Run stops when its context ends, even with Kafka unreachable, and gives the port back.
func TestRunStops(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Cluster.Brokers = []string{"127.0.0.1:1"}
	s, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, &fakeEngine{}) }()
	url := "http://" + s.Addr()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not serving /healthz")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A waiting /events answers when the server stops.
	waiting := make(chan struct{})
	go func() {
		defer close(waiting)
		req, _ := http.NewRequest(http.MethodGet, url+"/events?city=mumbai", nil)
		req.Header.Set("Last-Event-ID", "1")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("Run did not return within 5s of its context ending:\n%s", stacks.String())
	}
	<-waiting
	if l, err := net.Listen("tcp", s.Addr()); err != nil {
		t.Errorf("the port is still taken: %v", err)
	} else {
		l.Close()
	}
}

// Every ridematch_ metric is documented in OPERATIONS.md, and every one that
// OPERATIONS.md and the alerting rules name exists.
func TestDocumentedMetricsExist(t *testing.T) {
	s, _ := busyServer(t)
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "ridematch_") {
			exported[f.GetName()] = true
		}
	}
	name := regexp.MustCompile(`ridematch_[a-z_]+[a-z]`)
	for _, doc := range []string{"../OPERATIONS.md", "alerts.yml"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		named := map[string]bool{}
		for _, n := range name.FindAllString(string(b), -1) {
			named[n] = true
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
			if !exported[n] && !exported[base] {
				t.Errorf("%s names %s, which /metrics does not export", doc, n)
			}
		}
		if doc == "../OPERATIONS.md" {
			for n := range exported {
				if !named[n] {
					t.Errorf("%s is exported but OPERATIONS.md does not say what it means", n)
				}
			}
		}
	}
}
