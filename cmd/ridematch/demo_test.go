package main

import (
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ridematch/ops"
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
