package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"ridematch"
	"ridematch/broker"
)

const replayFixture = "../../simulator/testdata/nyc_20k_head.csv"

func TestSimulateReplayRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--replay", "no-such-file.csv"}, "cannot replay no-such-file.csv: no such file or directory"},
		{"city with a replay", []string{"--replay", replayFixture, "--city", "delhi"}, "--city does not apply to --replay"},
		{"rate with a replay", []string{"--replay", replayFixture, "--rate", "3"}, "--rate does not apply to --replay"},
		{"from without a replay", []string{"--from", "2014-12-21 00:00"}, "needs a trip file"},
		{"from not a time", []string{"--replay", replayFixture, "--from", "dawn"}, `"dawn" is not a time`},
		{"from after the file", []string{"--replay", replayFixture, "--from", "2015-01-01 00:00"}, "no row at or after"},
		{"negative max", []string{"--max-requests", "-3"}, "request limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := execute(context.Background(), append([]string{"simulate", "--brokers", "127.0.0.1:1", "--connect-timeout", "5s"}, tt.args...), &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tt.want) || strings.Count(errb.String(), "\n") != 1 {
				t.Errorf("exit code %d, stderr %q; want 2 and one line saying %q", code, errb.String(), tt.want)
			}
		})
	}
}

// A replay with no engine to answer: the header says what was read, the progress lines
// count the replay, and --duration still ends the run.
func TestSimulateReplayRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: ridematch.DefaultTopics(), RetentionCheck: time.Minute}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out, errb bytes.Buffer
	code := execute(ctx, []string{"simulate", "--brokers", b.Addr(), "--replay", replayFixture, "--from", "2014-12-21 00:05",
		"--max-requests", "40", "--speedup", "120", "--drivers", "20", "--gps-interval", "5s", "--seed", "4",
		"--duration", "2200ms", "--log-level", "warn"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, errb.String())
	}
	t.Logf("%s", out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 4 {
		t.Fatalf("want a header, progress lines, the replay's counts and a summary, got %q", out.String())
	}
	header := lines[0]
	for _, want := range []string{"replaying 40 requests of " + replayFixture, "2014-12-21 00:05:00 to", "300 rows read", `time "departure_time"`,
		`pickup "o_lat"/"o_lon"`, `drop-off "d_lat"/"d_lon"`, "1 skipped (zero_length 1)", "before --from", "after --max-requests",
		"times without a zone read in America/New_York"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q", header, want)
		}
	}
	for _, l := range lines[1 : len(lines)-2] {
		if !strings.Contains(l, "replayed ") || !strings.Contains(l, "/40") {
			t.Errorf("progress line %q does not count the replay", l)
		}
	}
	if l := lines[len(lines)-2]; !strings.HasPrefix(l, "replay of "+replayFixture+": 300 rows read, 1 skipped (zero_length 1)") || !strings.Contains(l, "40 of 40 requests replayed") {
		t.Errorf("replay counts %q", l)
	}
	// Nothing answers, but the rows are all sent; --duration ends the run.
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "done after ") || !strings.Contains(last, " 40 requests") {
		t.Errorf("summary %q", last)
	}
}

// A replay of a file with a 2009 and a 2031 row among an hour of April 2014 replays the
// hour and leaves those two out, saying so, instead of waiting years between them.
func TestSimulateReplaySkipsRowsOutsideSpan(t *testing.T) {
	const fixture = "../../simulator/testdata/apr14_outside_span.csv"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: ridematch.DefaultTopics(), RetentionCheck: time.Minute}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out, errb bytes.Buffer
	// The hour at 3600 times the wall clock takes a second; nothing answers, so
	// --duration ends the run.
	code := execute(ctx, []string{"simulate", "--brokers", b.Addr(), "--replay", fixture, "--speedup", "3600",
		"--drivers", "10", "--gps-interval", "30s", "--seed", "6", "--duration", "3s", "--log-level", "warn"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, errb.String())
	}
	t.Logf("%s%s", out.String(), errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, want := range []string{"replaying 30 requests of " + fixture, "2014-04-01 08:00:00 to 2014-04-01 08:58:00 EDT", "32 rows read", "2 skipped (outside_span 2)"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %q", lines[0], want)
		}
	}
	if l := lines[len(lines)-2]; !strings.Contains(l, "2 skipped (outside_span 2)") || !strings.Contains(l, "30 of 30 requests replayed") {
		t.Errorf("replay counts %q: want every row of the hour replayed", l)
	}
	if w := errb.String(); !strings.Contains(w, "WRN skipping rows dated far outside") || !strings.Contains(w, "5 (2009-04-01 08:30:00), 18 (2031-04-01 08:30:00)") {
		t.Errorf("stderr %q lacks a warning naming rows 5 and 18", w)
	}
}
