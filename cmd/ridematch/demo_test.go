package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ridematch"
	"ridematch/event"
	"ridematch/ops"
	"ridematch/simulator"
)

// TestDemo runs the whole thing in one process, as `make demo` does, for 8 seconds: the
// live map's address first, the map served while it runs, a summary line each second,
// then a final summary with matches in it.
func TestDemo(t *testing.T) {
	start := time.Now()
	c := startCommand(t, "demo", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--duration", "8s", "--drivers", "500", "--rate", "5")
	base := demoMapURL(t, c)
	checkDemoMap(t, c, base)
	code := c.wait(t, 40*time.Second)
	took := time.Since(start)
	out, stderr := c.out.String(), c.errb.String()
	t.Logf("demo took %v:\n%s", took, out)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/"), 200*time.Millisecond); err == nil {
		t.Errorf("the live map still accepts connections after the demo stopped")
	}
	if took > 20*time.Second {
		t.Errorf("an 8s demo took %v", took)
	}
	progress, final, ok := strings.Cut(out, "demo finished")
	if !ok {
		t.Fatalf("no final summary (demo finished) in:\n%s", out)
	}
	summaries := 0
	for _, l := range strings.Split(progress, "\n") {
		if strings.Contains(l, "matched") && strings.Contains(l, "ev/s") {
			summaries++
		}
	}
	if summaries < 5 {
		t.Errorf("%d summary lines, want one a second (at least 5 in 8s)", summaries)
	}
	m := regexp.MustCompile(`outcomes\s+(\d+) matched, (\d+) unmatched`).FindStringSubmatch(final)
	if m == nil {
		t.Fatalf("the final summary has no outcomes line:\n%s", final)
	}
	if matched, _ := strconv.Atoi(m[1]); matched == 0 {
		t.Errorf("the demo matched nothing:\n%s", final)
	}
	if strings.Contains(out, "an engine stopped") {
		t.Errorf("an engine failed during the demo:\n%s", out)
	}
	for _, s := range []string{out, stderr} {
		if strings.Contains(s, "goroutine ") || strings.Contains(s, "panic") {
			t.Errorf("a stack trace in the output:\n%s", s)
		}
	}
}

// TestDemoStopsOnCancel: Ctrl-C (a cancelled context) ends a demo with no --duration
// promptly, with the final summary and exit code 0.
// With --http "" it serves no map and says nothing of one.
func TestDemoStopsOnCancel(t *testing.T) {
	c := startCommand(t, "demo", "--listen", "127.0.0.1:0", "--http", "", "--drivers", "200", "--rate", "2")
	waitFor(t, 15*time.Second, "the first summary line", func() bool {
		if c.exited() {
			t.Fatalf("demo exited with %d: %s", c.code, c.errb.String())
		}
		return strings.Contains(c.out.String(), "ev/s")
	})
	code, took := c.stop(t, 10*time.Second)
	if code != 0 {
		t.Errorf("exit code %d after Ctrl-C; stderr:\n%s", code, c.errb.String())
	}
	if took > 5*time.Second {
		t.Errorf("took %v to stop", took)
	}
	if !strings.Contains(c.out.String(), "demo finished") {
		t.Errorf("no final summary after Ctrl-C:\n%s", c.out.String())
	}
	if out := c.out.String(); !strings.HasPrefix(out, "ridematch demo: ") || strings.Contains(out, "live map") {
		t.Errorf(`with --http "" the demo still speaks of a map, or starts otherwise:\n%s`, out)
	}
}

// A live map's port already taken ends the demo before anything starts: exit code 1, as
// match --http's, and one line that names the address.
func TestDemoMapPortBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	code, out, stderr := runCommand(t, 10*time.Second, "demo", "--listen", "127.0.0.1:0", "--http", ln.Addr().String(), "--duration", "5s")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v to refuse a busy port", took)
	}
	if code != 1 || out != "" {
		t.Errorf("exit code %d, stdout %q; want 1 and nothing printed", code, out)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], ln.Addr().String()) || !strings.Contains(lines[0], "--http") {
		t.Errorf("stderr %q; want one line naming %s and --http", stderr, ln.Addr())
	}
}

// demoMapURL waits for the demo's first line and returns the live map's address in it.
func demoMapURL(t *testing.T, c *command) string {
	t.Helper()
	var url string
	waitFor(t, 15*time.Second, "the demo's first line", func() bool {
		if c.exited() {
			t.Fatalf("demo exited with %d: %s", c.code, c.errb.String())
		}
		first, _, ok := strings.Cut(c.out.String(), "\n")
		if !ok {
			return false
		}
		m := regexp.MustCompile(`^live map: (http://127\.0\.0\.1:\d+/)$`).FindStringSubmatch(first)
		if m == nil {
			t.Fatalf("the first line is %q; want the live map's address", first)
		}
		url = m[1]
		return true
	})
	return url
}

// checkDemoMap checks, while the demo runs, that base serves the map's page, a snapshot
// with the simulator's drivers in it, and the engines' metrics.
func checkDemoMap(t *testing.T, c *command, base string) {
	t.Helper()
	if code, body := httpGet(t, base); code != http.StatusOK || !strings.Contains(body, `<canvas id="map"`) {
		t.Errorf("the live map's page: %d\n%s", code, body)
	}
	var s ops.Snapshot
	waitFor(t, 15*time.Second, "a snapshot with drivers", func() bool {
		if c.exited() {
			t.Fatalf("the demo ended before its map showed a driver (exit code %d)", c.code)
		}
		code, body := httpGet(t, base+"api/snapshot")
		return code == http.StatusOK && json.Unmarshal([]byte(body), &s) == nil && len(s.Drivers) > 0
	})
	t.Logf("the map of %s shows %d drivers", s.City, len(s.Drivers))
	code, body := httpGet(t, base+"metrics")
	if code != http.StatusOK || !strings.Contains(body, "# TYPE ridematch_events_in_total counter") ||
		!regexp.MustCompile(`(?m)^kgo_\w+\{.*stage="matcher".*\} `).MatchString(body) {
		t.Errorf("/metrics (%d) lacks the engines' or their clients' metrics", code)
	}
}

// TestDemoOffers: the demo's simulated drivers answer offers on driver-offers, and its
// summary line and final summary count them. The test makes forty offers itself on the
// demo's broker, with the engine's own off (--offer-timeout 0), so that the answers the
// simulator decides for them are all it counts; TestOffersEndToEnd covers the engine's.
func TestDemoOffers(t *testing.T) {
	c := startCommand(t, "demo", "--listen", "127.0.0.1:0", "--http", "", "--duration", "6s", "--drivers", "200", "--rate", "1", "--seed", "4",
		"--offer-timeout", "0")
	var addr string
	waitFor(t, 15*time.Second, "the first summary line", func() bool {
		if c.exited() {
			t.Fatalf("demo exited with %d: %s", c.code, c.errb.String())
		}
		m := regexp.MustCompile(`broker on (127\.0\.0\.1:\d+),`).FindStringSubmatch(c.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil && strings.Contains(c.out.String(), "ev/s")
	})
	topics := ridematch.DefaultTopics()
	cl := newClient(t, addr)
	var accept, decline, lapse int
	at := time.Now().UTC()
	for i := range 40 {
		driver := fmt.Sprintf("DRV-4-%06d", i+1)
		id := event.OfferID(int32(i%12), fmt.Sprintf("REQ-offer-%d", i), driver, event.TimeOf(at))
		switch a, _ := simulator.Decide(4, 0.85, id); a {
		case simulator.Accept:
			accept++
		case simulator.Decline:
			decline++
		default:
			lapse++
		}
		produce(t, cl, topics.Name(ridematch.RoleDriverOffers), driver, []byte(fmt.Sprintf(
			`{"event_type":"ride_offered","offer_id":%q,"request_id":"REQ-offer-%d","driver_id":%q,"offer_timestamp":%q,"expires_at":%q,"attempt":1}`,
			id, i, driver, at.Format(time.RFC3339Nano), at.Add(15*time.Second).Format(time.RFC3339Nano))))
	}
	if code := c.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d: %s", code, c.errb.String())
	}
	out := c.out.String()
	t.Logf("%s", out)
	progress, final, _ := strings.Cut(out, "demo finished")
	if !regexp.MustCompile(`offers +[1-9][0-9.]*/s accepted +\d+%`).MatchString(progress) {
		t.Errorf("no summary line counts offers:\n%s", progress)
	}
	want := fmt.Sprintf("offers    40 to the simulated drivers: %d accepted, %d declined, %d left to lapse, 0 withdrawn, 0 unanswered at the end (%.0f%% of the answers accepts)",
		accept, decline, lapse, 100*float64(accept)/float64(accept+decline))
	if !strings.Contains(final, want) {
		t.Errorf("the final summary lacks %q:\n%s", want, final)
	}
	if strings.Contains(out, "an engine stopped") {
		t.Errorf("an engine failed during the demo:\n%s", out)
	}
}

func TestDemoAcceptance(t *testing.T) {
	tests := []struct {
		give simulator.Counts
		want string
	}{
		{simulator.Counts{}, "-"},
		{simulator.Counts{Offers: 3, Withdrawn: 1, Answering: 2}, "-"},
		{simulator.Counts{Offers: 4, Ignored: 4}, "-"},
		{simulator.Counts{Offers: 20, Accepted: 17, Declined: 3}, "85%"},
		{simulator.Counts{Offers: 20, Accepted: 17, Declined: 2, Ignored: 1}, "89%"},
		{simulator.Counts{Offers: 9, Accepted: 2, Declined: 1, Withdrawn: 5, Answering: 1}, "67%"},
		{simulator.Counts{Offers: 4, Declined: 3, Ignored: 1}, "0%"},
	}
	for _, tt := range tests {
		if got := acceptance(tt.give); got != tt.want {
			t.Errorf("acceptance(%+v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
