package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/broker"
)

// The helpers of the command tests: free loopback ports, commands run through execute as
// main runs them, an in-process broker, and plain kgo clients to feed and read it.

// syncBuffer is a bytes.Buffer a running command writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address no one listens on: bound to port 0, then released.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitFor polls cond every 50ms until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForPort waits until addr accepts TCP connections.
func waitForPort(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	waitFor(t, within, addr+" to accept connections", func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// runCommand runs a command line through execute, as main does, and returns its exit code
// and output. It fails the test if the command outlives within.
func runCommand(t *testing.T, within time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	r := startCommand(t, args...)
	code = r.wait(t, within)
	return code, r.out.String(), r.errb.String()
}

// command is a command line running through execute in its own goroutine.
type command struct {
	args      []string
	out, errb syncBuffer
	cancel    context.CancelFunc
	done      chan struct{}
	code      int
}

// startCommand starts a command line; stop cancels its context as SIGINT does in main.
// The test's cleanup stops it if the test did not.
func startCommand(t *testing.T, args ...string) *command {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{args: args, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.code = execute(ctx, args, &c.out, &c.errb)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			t.Errorf("ridematch %s did not stop within 15s of its cleanup", strings.Join(args, " "))
		}
	})
	return c
}

// exited says whether the command has returned.
func (c *command) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits for the command to end by itself and returns its exit code.
func (c *command) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(within):
		c.cancel()
		<-c.done
		t.Fatalf("ridematch %s still running after %v\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), within, c.out.String(), c.errb.String())
		return -1
	}
}

// stop cancels the command's context and returns its exit code and how long it took to
// return, failing the test if that is more than within.
func (c *command) stop(t *testing.T, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	c.cancel()
	select {
	case <-c.done:
		return c.code, time.Since(start)
	case <-time.After(within):
		t.Fatalf("ridematch %s did not stop within %v of its context being cancelled\nstderr:\n%s", strings.Join(c.args, " "), within, c.errb.String())
		return -1, within
	}
}

// testLogger is silent unless RIDEMATCH_TEST_LOG is set.
func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("RIDEMATCH_TEST_LOG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Str("test", t.Name()).Logger()
	}
	return zerolog.Nop()
}

// startBroker starts an in-process embedded broker on a free loopback port with topics.
func startBroker(t *testing.T, topics ridematch.Topics) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: topics, RetentionCheck: time.Minute}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// newClient returns a plain kgo client of addr, closed at cleanup.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes one record and waits for the broker's acknowledgement.
func produce(t *testing.T, cl *kgo.Client, topic, key string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

// readCommitted reads a topic from the start as a read_committed consumer until it has
// been quiet for a second, and returns what it read.
func readCommitted(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 {
			return out
		}
	}
}

// waitForOutcome reads ride-matches until a final outcome for requestID appears, and
// returns it decoded.
func waitForOutcome(t *testing.T, addr, requestID string, within time.Duration) map[string]any {
	t.Helper()
	topic := ridematch.DefaultTopics().Name(ridematch.RoleRideMatches)
	var outcome map[string]any
	waitFor(t, within, "an outcome for "+requestID+" on "+topic, func() bool {
		for _, r := range readCommitted(t, addr, topic) {
			var m map[string]any
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Fatalf("%s holds a record that is not JSON: %q", topic, r.Value)
			}
			if m["request_id"] == requestID && string(r.Key) == requestID {
				outcome = m
				return true
			}
		}
		return false
	})
	return outcome
}

// referenceEvents are the reference's exact events, as kafka-python's json.dumps writes
// them: three sedans around Bandra and a prime ride from Bandra station to BKC, all stamped
// with ts (a naive isoformat time). DRV001 is 14 m from the pickup: the reference's match.
func referenceEvents(requestID, ts string) (drivers [][2]string, request [2]string) {
	for i, loc := range []string{`{"lat": 19.0545, "lng": 72.8414}`, `{"lat": 19.1197, "lng": 72.8464}`, `{"lat": 19.0596, "lng": 72.8656}`} {
		id := "DRV00" + strconv.Itoa(i+1)
		drivers = append(drivers, [2]string{id, `{"event_type": "driver_location_update", "driver_id": "` + id + `", "location": ` + loc +
			`, "timestamp": "` + ts + `", "speed": 12.5, "heading": 90.0, "availability": "available", "vehicle_type": "sedan", "rating": 4.7}`})
	}
	request = [2]string{requestID, `{"event_type": "ride_requested", "request_id": "` + requestID + `", "customer_id": "CUST001", "pickup_location": "bandra_station", "drop_location": "bkc", ` +
		`"pickup_coordinates": {"lat": 19.0544, "lng": 72.8413}, "drop_coordinates": {"lat": 19.0596, "lng": 72.8656}, "request_time": "` + ts + `", "ride_type": "prime", "estimated_distance": 2.6192, "surge_multiplier": 1.0}`}
	return drivers, request
}

// pythonNow is datetime.utcnow().isoformat(): naive UTC with microseconds.
func pythonNow() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000") }

// checkReferenceMatch asserts the ride_matched the reference's events must give.
func checkReferenceMatch(t *testing.T, m map[string]any, requestID string) {
	t.Helper()
	if m["event_type"] != "ride_matched" || m["driver_id"] != "DRV001" {
		t.Fatalf("want %s matched to DRV001 (14 m from the pickup), got %v", requestID, m)
	}
	for _, f := range []string{"match_id", "request_id", "customer_id", "driver_id", "pickup_location", "drop_location",
		"estimated_arrival", "fare_estimate", "match_timestamp", "driver_rating",
		"pickup_distance_km", "score", "surge_multiplier", "h3_cell"} {
		if _, ok := m[f]; !ok {
			t.Errorf("ride_matched lacks %s: %v", f, m)
		}
	}
	for k, want := range map[string]any{"request_id": requestID, "customer_id": "CUST001", "pickup_location": "bandra_station",
		"drop_location": "bkc", "driver_rating": 4.7, "fare_estimate": 81.43} {
		if m[k] != want {
			t.Errorf("ride_matched %s = %v, want %v", k, m[k], want)
		}
	}
}
