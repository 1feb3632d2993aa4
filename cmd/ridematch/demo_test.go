package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the whole thing in one process, as `make demo` does, for 8 seconds: a
// summary line each second, then a final summary with matches in it.
func TestDemo(t *testing.T) {
	start := time.Now()
	code, out, stderr := runCommand(t, 40*time.Second, "demo", "--listen", "127.0.0.1:0", "--duration", "8s", "--drivers", "500", "--rate", "5")
	took := time.Since(start)
	t.Logf("demo took %v:\n%s", took, out)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr)
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
func TestDemoStopsOnCancel(t *testing.T) {
	c := startCommand(t, "demo", "--listen", "127.0.0.1:0", "--drivers", "200", "--rate", "2")
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
}
