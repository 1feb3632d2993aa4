package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ridematch"
)

// Third-party clients, written by no one here, against the embedded broker and an engine:
// kcat (librdkafka) and kafka-python, the reference's own client.

const installTools = "apt-get install kcat python3-kafka"

// requireTool skips the test when a client is missing, or fails it when
// RIDEMATCH_REQUIRE_TOOLS=1 (CI), saying what to install.
func requireTool(t *testing.T, missing string) {
	t.Helper()
	msg := missing + ": " + installTools
	if os.Getenv("RIDEMATCH_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// startEngine runs `ridematch match` on the broker at addr.
func startEngine(t *testing.T, addr string) *command {
	t.Helper()
	return startCommand(t, "match", "--brokers", addr, "--status-interval", "0", "--log-level", "warn")
}

// stopEngine stops an engine started by startEngine and checks it stopped cleanly.
func stopEngine(t *testing.T, c *command) {
	t.Helper()
	if code, _ := c.stop(t, 10*time.Second); code != 0 {
		t.Errorf("the engine stopped with exit code %d: %s", code, c.errb.String())
	}
}

// TestKcat: kcat produces the reference's events as key<TAB>value lines and reads the
// engine's ride_matched back, read_committed.
func TestKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		requireTool(t, "kcat is not installed")
	}
	b := startBroker(t, ridematch.DefaultTopics())
	engine := startEngine(t, b.Addr())
	topics := ridematch.DefaultTopics()

	run := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", b.Addr()}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}

	const requestID = "3f1c2a9e-8a1b-4c57-9d2e-6b7f1e0a9c11"
	drivers, request := referenceEvents(requestID, pythonNow())
	var lines strings.Builder
	for _, d := range drivers {
		lines.WriteString(d[0] + "\t" + d[1] + "\n")
	}
	run(lines.String(), "-P", "-t", topics.Name(ridematch.RoleDriverLocations), "-K", `\t`)
	run(request[0]+"\t"+request[1]+"\n", "-P", "-t", topics.Name(ridematch.RoleRideRequests), "-K", `\t`)

	var match map[string]any
	waitFor(t, 30*time.Second, "kcat to read the ride_matched of "+requestID, func() bool {
		out := run("", "-C", "-t", topics.Name(ridematch.RoleRideMatches), "-o", "beginning", "-e", "-q", "-X", "isolation.level=read_committed")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if l == "" {
				continue
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("kcat read a line that is not JSON: %q", l)
			}
			if m["request_id"] == requestID {
				match = m
				return true
			}
		}
		return false
	})
	checkReferenceMatch(t, match, requestID)

	// The record key is the request id, as topics.yaml says.
	keyed := run("", "-C", "-t", topics.Name(ridematch.RoleRideMatches), "-o", "beginning", "-e", "-q", "-X", "isolation.level=read_committed", "-f", `%k\n`)
	if strings.TrimSpace(keyed) != requestID {
		t.Errorf("ride-matches keys %q, want the one request id", keyed)
	}
	stopEngine(t, engine)
	if dlq := readCommitted(t, b.Addr(), topics.Name(ridematch.RoleDeadLetter)); len(dlq) != 0 {
		t.Errorf("kcat's records were dead-lettered: %s", dlq[0].Value)
	}
}

// TestKafkaPython runs testdata/reference_client.py: the reference's kafka-python
// producer and consumer, unchanged in substance, against the embedded broker and an engine.
func TestKafkaPython(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import kafka").Run(); err != nil {
		requireTool(t, python+" cannot import kafka ("+err.Error()+")")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "reference_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, ridematch.DefaultTopics())
	engine := startEngine(t, b.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, b.Addr())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	t.Logf("kafka-python's stderr:\n%s", errb.String())
	if err != nil {
		if strings.Contains(errb.String(), "UnsupportedCodecError") {
			t.Fatalf("kafka-python cannot read ride-matches: the engine writes compressed batches it has no codec for "+
				"(franz-go compresses with snappy by default; kafka-python needs python-snappy for that, gzip or none it reads as is): %v\n%s",
				err, lastLine(errb.String()))
		}
		t.Fatalf("reference_client.py: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	m := regexp.MustCompile(`^request_id ([0-9a-f-]{36})$`).FindStringSubmatch(lines[0])
	if m == nil || len(lines) != 2 {
		t.Fatalf("want the request id and the match, got:\n%s", out.String())
	}
	var match map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &match); err != nil {
		t.Fatalf("the match is not JSON: %q", lines[1])
	}
	checkReferenceMatch(t, match, m[1])
	stopEngine(t, engine)
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}

// TestKafkaPythonHostileClocks: kafka-python sends driver updates stamped year 2611, 9999
// in a record of timestamp 0, and 3000 in a record of 3000, and one from a phone 29s fast,
// then a request no driver can take. The poisoned updates are dead-lettered as bad
// timestamps and the request waits its full TTL: no record moved the engine's clock.
func TestKafkaPythonHostileClocks(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import kafka").Run(); err != nil {
		requireTool(t, python+" cannot import kafka ("+err.Error()+")")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "hostile_clocks.py"))
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 4 * time.Second
	b := startBroker(t, ridematch.DefaultTopics())
	engine := startCommand(t, "match", "--brokers", b.Addr(), "--status-interval", "0", "--log-level", "warn", "--request-ttl", ttl.String())
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	const requestID = "REQ-HOSTILE-1"
	cmd := exec.CommandContext(ctx, python, script, b.Addr(), requestID)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("hostile_clocks.py: %v\n%s", err, errb.String())
	}
	sent := time.Now()
	outcome := waitForOutcome(t, b.Addr(), requestID, 30*time.Second)
	if outcome["event_type"] != "ride_unmatched" {
		t.Fatalf("want ride_unmatched, got %v", outcome)
	}
	asked, err1 := time.Parse(time.RFC3339Nano, outcome["request_time"].(string))
	ended, err2 := time.Parse(time.RFC3339Nano, outcome["timestamp"].(string))
	if err1 != nil || err2 != nil {
		t.Fatalf("outcome times are not RFC 3339: %v", outcome)
	}
	if waited := ended.Sub(asked); waited < ttl-200*time.Millisecond || waited > ttl+5*time.Second {
		t.Errorf("the request ended %v after it was made, want its TTL %v: %v", waited, ttl, outcome)
	}
	if since := time.Since(sent); since < ttl-time.Second {
		t.Errorf("the outcome came %v after the request, sooner than its TTL", since)
	}
	reasons := map[string]string{}
	for _, r := range readCommitted(t, b.Addr(), ridematch.DefaultTopics().Name(ridematch.RoleDeadLetter)) {
		for _, h := range r.Headers {
			if h.Key == "ridematch.reason" {
				reasons[string(r.Key)] = string(h.Value)
			}
		}
	}
	for _, id := range []string{"EVIL-2611", "EVIL-9999", "EVIL-3000"} {
		if reasons[id] != "bad_timestamp" {
			t.Errorf("%s dead-lettered as %q, want bad_timestamp (all: %v)", id, reasons[id], reasons)
		}
	}
	if _, ok := reasons["FAST"]; ok {
		t.Errorf("the fast phone's update was dead-lettered: %v", reasons)
	}
	stopEngine(t, engine)
}
