package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"ridematch"
	"ridematch/broker"
	"ridematch/cluster"
)

func TestSimulateRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"negative drivers", []string{"--drivers", "-1"}, "drivers"},
		{"negative rate", []string{"--rate", "-1"}, "rate"},
		{"slow speedup", []string{"--speedup", "0.5"}, "speedup"},
		{"unknown city", []string{"--city", "atlantis"}, `unknown city "atlantis"`},
		{"cancel rate", []string{"--cancel-rate", "2"}, "cancel rate"},
		{"accept rate", []string{"--accept-rate", "1.5"}, "accept rate"},
		{"gps interval", []string{"--gps-interval", "1ms"}, "GPS interval"},
		{"not a number", []string{"--drivers", "many"}, "--drivers"},
		{"unknown flag", []string{"--riders", "5"}, "unknown flag"},
		{"stray argument", []string{"mumbai"}, "unknown command"},
		{"broker without port", []string{"--brokers", "localhost"}, "needs a port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			root := newRootCmd(&out, &errb)
			// An unreachable broker: a bad flag must be refused before any connection.
			root.SetArgs(append([]string{"simulate", "--brokers", "127.0.0.1:1", "--connect-timeout", "5s"}, tt.args...))
			start := time.Now()
			err := root.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one about %q", err, tt.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v: the flags were not checked first", took)
			}
			// Through execute, as main runs it: exit code 2 and one line.
			errb.Reset()
			code := execute(context.Background(), append([]string{"simulate", "--brokers", "127.0.0.1:1"}, tt.args...), &out, &errb)
			if code != 2 {
				t.Errorf("exit code %d, want 2 (%s)", code, errb.String())
			}
			if lines := strings.Count(errb.String(), "\n"); lines != 1 {
				t.Errorf("stderr has %d lines: %q", lines, errb.String())
			}
		})
	}
}

func TestSimulateUnreachableBroker(t *testing.T) {
	var out, errb bytes.Buffer
	start := time.Now()
	code := execute(context.Background(), []string{"simulate", "--brokers", "127.0.0.1:1", "--connect-timeout", "1s", "--log-level", "error"}, &out, &errb)
	took := time.Since(start)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if took > 3*time.Second {
		t.Errorf("took %v to give up", took)
	}
	if msg := errb.String(); !strings.Contains(msg, "cannot reach Kafka at 127.0.0.1:1") || strings.Count(msg, "\n") != 1 {
		t.Errorf("stderr %q, want one line saying Kafka cannot be reached", msg)
	}

	// A listener that never answers: the connect timeout, not a refusal, must end it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		ln.Close()
		<-accepted
		for _, c := range held {
			c.Close()
		}
	}()
	root := newRootCmd(&out, &errb)
	root.SetArgs([]string{"simulate", "--brokers", ln.Addr().String(), "--connect-timeout", "1s", "--log-level", "error"})
	start = time.Now()
	if err := root.ExecuteContext(context.Background()); !errors.Is(err, cluster.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 3*time.Second {
		t.Errorf("a silent broker took %v to give up, want about the 1s connect timeout", took)
	}
}

func TestSimulateRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: ridematch.DefaultTopics(), RetentionCheck: time.Minute}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out, errb bytes.Buffer
	code := execute(ctx, []string{"simulate", "--brokers", b.Addr(), "--duration", "2200ms", "--speedup", "10",
		"--drivers", "50", "--rate", "3", "--city", "all", "--seed", "7", "--log-level", "warn"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	t.Logf("%s", out.String())
	if len(lines) < 3 {
		t.Fatalf("want two progress lines and a summary, got %q", out.String())
	}
	for _, l := range lines[:len(lines)-1] {
		for _, want := range []string{"(sim ", "gps ", "requests ", "matched ", "unmatched ", "cancelled ", "busy ", "/50", "p50 ", "p99 "} {
			if !strings.Contains(l, want) {
				t.Errorf("progress line %q lacks %q", l, want)
			}
		}
		if strings.Contains(l, "\r") {
			t.Errorf("progress line %q redraws, but stdout is not a terminal", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "done after ") || !strings.Contains(last, "GPS updates") {
		t.Errorf("summary %q", last)
	}
}

// TestSimulateRerunSameSeed: a second run with the seed of a finished one, on the same
// broker and engine, would send request ids the engine has just answered and would
// answer with nothing. It fails at once, in one line, and another seed runs.
func TestSimulateRerunSameSeed(t *testing.T) {
	b := startBroker(t, ridematch.DefaultTopics())
	engine := startCommand(t, "match", "--brokers", b.Addr(), "--status-interval", "0", "--log-level", "warn", "--request-ttl", "3s")
	defer stopEngine(t, engine)
	simulate := func(seed string) (int, string, string, time.Duration) {
		t.Helper()
		start := time.Now()
		code, stdout, stderr := runCommand(t, 60*time.Second, "simulate", "--brokers", b.Addr(), "--seed", seed,
			"--drivers", "300", "--rate", "5", "--max-requests", "3", "--log-level", "warn")
		return code, stdout, stderr, time.Since(start)
	}
	if code, stdout, stderr, _ := simulate("7"); code != 0 || !strings.Contains(stdout, "3 requests") || !strings.Contains(stdout, "0 unanswered") {
		t.Fatalf("first run: exit code %d, want 0 and 3 requests answered:\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr, took := simulate("7")
	if code != 1 || took > 10*time.Second {
		t.Errorf("the same seed again: exit code %d after %v, want 1 at once", code, took)
	}
	want := regexp.MustCompile(`^ridematch: ride-matches already holds outcomes for requests of seed 7 from an earlier run, ` +
		`and the engine would not answer them again in a run started before [0-9: -]+: use another --seed or a fresh broker\n$`)
	if !want.MatchString(stderr) {
		t.Errorf("stderr %q, want one line matching %s", stderr, want)
	}
	if strings.Contains(stdout, "done after") {
		t.Errorf("the second run ran:\n%s", stdout)
	}
	// It produced nothing: ride-requests holds the first run's three requests alone.
	var requests int
	for _, r := range readCommitted(t, b.Addr(), ridematch.DefaultTopics().Name(ridematch.RoleRideRequests)) {
		if strings.Contains(string(r.Value), `"event_type":"ride_requested"`) {
			requests++
		}
	}
	if requests != 3 {
		t.Errorf("ride-requests holds %d requests, want the first run's 3", requests)
	}

	// Seed 70's ids (REQ-70-...) are not seed 7's.
	if code, stdout, stderr, _ := simulate("70"); code != 0 || !strings.Contains(stdout, "0 unanswered") {
		t.Errorf("another seed: exit code %d, want 0:\n%s%s", code, stdout, stderr)
	}
}

// TestSimulateAnswersOffers: the simulated drivers answer the offers made to them on
// driver-offers, on driver-responses, as --accept-rate says, and the summary counts them.
func TestSimulateAnswersOffers(t *testing.T) {
	topics := ridematch.DefaultTopics()
	tests := []struct {
		acceptRate   string
		wantAccepted int
		wantIgnored  int
	}{
		{"1", 12, 0},
		{"0", 0, 12}, // a fleet that never answers
	}
	for _, tt := range tests {
		t.Run(tt.acceptRate, func(t *testing.T) {
			b := startBroker(t, topics)
			sim := startCommand(t, "simulate", "--brokers", b.Addr(), "--drivers", "12", "--rate", "0", "--seed", "5",
				"--speedup", "5", "--duration", "4s", "--accept-rate", tt.acceptRate, "--log-level", "error")
			// It reads driver-offers from the end once it runs: wait for its first line.
			waitFor(t, 15*time.Second, "the first progress line", func() bool {
				if sim.exited() {
					t.Fatalf("simulate exited with %d: %s", sim.code, sim.errb.String())
				}
				return strings.Contains(sim.out.String(), "gps ")
			})
			cl := newClient(t, b.Addr())
			for i := range 12 {
				driver := fmt.Sprintf("DRV-5-%06d", i+1)
				produce(t, cl, topics.Name(ridematch.RoleDriverOffers), driver, []byte(fmt.Sprintf(
					`{"event_type":"ride_offered","offer_id":"o-%d-%016x","request_id":"R%d","driver_id":%q,"offer_timestamp":%q,"expires_at":%q,"attempt":1}`,
					i%12, i, i, driver, time.Now().UTC().Format(time.RFC3339Nano), time.Now().Add(15*time.Second).UTC().Format(time.RFC3339Nano))))
			}
			if code := sim.wait(t, 20*time.Second); code != 0 {
				t.Fatalf("exit code %d: %s", code, sim.errb.String())
			}
			out := sim.out.String()
			t.Logf("%s", out)
			want := fmt.Sprintf("offers 12 seen, %d accepted, 0 declined, %d ignored, 0 withdrawn before the answer, 0 unanswered at the end", tt.wantAccepted, tt.wantIgnored)
			if !strings.Contains(out, want) {
				t.Errorf("the summary lacks %q", want)
			}
			answers := readCommitted(t, b.Addr(), topics.Name(ridematch.RoleDriverResponses))
			if len(answers) != tt.wantAccepted {
				t.Fatalf("%d answers on driver-responses, want %d", len(answers), tt.wantAccepted)
			}
			for _, r := range answers {
				var v map[string]any
				if err := json.Unmarshal(r.Value, &v); err != nil || v["event_type"] != "offer_accepted" || v["driver_id"] != string(r.Key) {
					t.Errorf("answer %s keyed %s", r.Value, r.Key)
				}
			}
		})
	}
}
