package ops

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"ridematch"
	"ridematch/broker"
	"ridematch/engine"
	"ridematch/simulator"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded broker's and clients' connection goroutines, and the HTTP client's
		// idle connections, wind down just after Close returns.
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).run"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}

func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("RIDEMATCH_TEST_LOG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Str("test", t.Name()).Logger()
	}
	return zerolog.Nop()
}

// eventually polls cond every 100ms until it holds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// liveEngine is what `ridematch match --http` runs, on the embedded broker, with a
// simulated city feeding it.
type liveEngine struct {
	srv    *Server
	base   string // the ops server's URL
	broker string // the embedded broker's address
	topics ridematch.Topics
}

// startLive starts an embedded broker, an engine with its ops server (client hooks and
// transaction timings wired as `ridematch match` wires them), waits for /readyz 200,
// then starts the simulator. Everything stops when the test ends.
func startLive(t *testing.T) *liveEngine {
	t.Helper()
	log := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	topics := ridematch.DefaultTopics()
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", Topics: topics, RetentionCheck: time.Minute}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	ecfg := engine.DefaultConfig()
	ecfg.Cluster.Brokers = []string{b.Addr()}
	ecfg.Topics = topics
	ecfg.Matcher.RequestTTL = 5 * time.Second
	ocfg := FromEngine("127.0.0.1:0", ecfg)
	ocfg.LagInterval = time.Second
	srv, err := New(ocfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ecfg.ClientHooks, ecfg.OnTransaction = srv.ClientHooks, srv.Transaction
	eng, err := engine.New(ecfg, log)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(stop)
	wg.Go(func() {
		if err := eng.Run(runCtx); err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	wg.Go(func() {
		if err := srv.Run(runCtx, eng); err != nil {
			t.Errorf("ops server: %v", err)
		}
	})
	base := "http://" + srv.Addr()

	if code, _, body := get(t, base+"/readyz"); code != 503 && code != 200 {
		t.Errorf("/readyz while starting: %d %q", code, body)
	}
	eventually(t, 30*time.Second, "/readyz 200", func() bool {
		code, _, _ := get(t, base+"/readyz")
		return code == 200
	})

	scfg := simulator.DefaultConfig()
	scfg.Cluster.Brokers = []string{b.Addr()}
	scfg.Topics = topics
	scfg.Drivers, scfg.Rate, scfg.Seed = 600, 10, 7
	sim, err := simulator.New(scfg, log)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if _, err := sim.Run(runCtx, nil); err != nil && runCtx.Err() == nil {
			t.Errorf("simulator: %v", err)
		}
	})
	return &liveEngine{srv: srv, base: base, broker: b.Addr(), topics: topics}
}

// TestLiveEndToEnd runs what `ridematch match --http` runs, on the embedded broker, with
// a simulated city: /readyz turns 200, /metrics shows consumer lag, match latency and
// the franz-go clients, the map's snapshot has hexagons and drivers, and Debian's
// chromium, headless, draws them and updates.
func TestLiveEndToEnd(t *testing.T) {
	live := startLive(t)
	srv, base := live.srv, live.base

	latencyCount := regexp.MustCompile(`(?m)^ridematch_match_latency_seconds_count\{kind="ride_matched"\} (\d+)$`)
	eventually(t, 20*time.Second, "/metrics with consumer lag, match latency and the clients' metrics", func() bool {
		_, _, m := get(t, base+"/metrics")
		c := latencyCount.FindStringSubmatch(m)
		return strings.Contains(m, `ridematch_consumer_lag{group="ridematch-matcher",partition="0",topic="ridematch-region-log"}`) &&
			strings.Contains(m, `ridematch_consumer_lag{group="ridematch-router",partition="0",topic="driver-locations"}`) &&
			c != nil && c[1] != "0" &&
			regexp.MustCompile(`(?m)^ridematch_events_in_total\{type="driver_location_update"\} [1-9]`).MatchString(m) &&
			regexp.MustCompile(`(?m)^kgo_\w+\{.*stage="matcher".*\} `).MatchString(m) &&
			regexp.MustCompile(`(?m)^kgo_\w+\{.*stage="router".*\} `).MatchString(m)
	})
	// Nobody has looked at the map yet: it does not read driver-locations.
	srv.feed.mu.Lock()
	followed := len(srv.feed.follow)
	srv.feed.mu.Unlock()
	if followed != 0 {
		t.Errorf("the map follows %d drivers before anyone looks at it; want none", followed)
	}
	eventually(t, 10*time.Second, "a snapshot with hexagons, drivers and matches", func() bool {
		s := getSnapshot(t, base+"/api/snapshot?city=mumbai")
		return len(s.Cells) > 0 && len(s.Drivers) > 100 && len(s.Matches) > 0 && s.Ready && s.Status == "reading"
	})

	t.Run("browser", func(t *testing.T) {
		chromium := findChromium(t)
		first := drawnMap(t, chromium, base+"/#city=mumbai")
		time.Sleep(2 * time.Second)
		second := drawnMap(t, chromium, base+"/")
		for i, m := range []map[string]string{first, second} {
			for _, k := range []string{"hexagons", "drivers", "updates", "moving"} {
				if n, _ := strconv.Atoi(m[k]); n < 1 {
					t.Errorf("load %d: data-%s=%q; want at least 1 (%v)", i+1, k, m[k], m)
				}
			}
			if n, _ := strconv.Atoi(m["updates"]); n < 3 {
				t.Errorf("load %d: the page took %d updates in 8 virtual seconds; want live updates (%v)", i+1, n, m)
			}
			if m["city"] != "mumbai" || m["state"] != "live" {
				t.Errorf("load %d: city %q, state %q; want mumbai, live", i+1, m["city"], m["state"])
			}
		}
		s1, _ := strconv.Atoi(first["seq"])
		s2, _ := strconv.Atoi(second["seq"])
		if s2 <= s1 {
			t.Errorf("the second load drew generation %d, the first %d: the map does not move", s2, s1)
		}
	})
}

func getSnapshot(t *testing.T, url string) Snapshot {
	t.Helper()
	_, _, body := get(t, url)
	var s Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return s
}

// findChromium returns Debian's chromium, or skips (fails under RIDEMATCH_REQUIRE_TOOLS=1).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install chromium): the live map is not tested in a browser"
	if os.Getenv("RIDEMATCH_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

var canvasTag = regexp.MustCompile(`<canvas id="map"[^>]*>`)
var dataAttr = regexp.MustCompile(`data-(\w+)="([^"]*)"`)

// drawnMap loads url in headless chromium for 8 seconds of virtual time and returns the
// data attributes the page set on its canvas.
func drawnMap(t *testing.T, chromium, url string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=8000", "--window-size=1280,900", "--dump-dom", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v; %s", err, lastLines(stderr.String(), 5))
	}
	tag := canvasTag.Find(out)
	if tag == nil {
		t.Fatalf("the page has no map canvas:\n%s", lastLines(string(out), 20))
	}
	attrs := map[string]string{}
	for _, m := range dataAttr.FindAllSubmatch(tag, -1) {
		attrs[string(m[1])] = string(m[2])
	}
	return attrs
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
