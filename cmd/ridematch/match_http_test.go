package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"ridematch"
)

// TestMatchHTTP runs `ridematch match --http`: /healthz answers, /readyz turns 200 once
// the partitions are rebuilt, /metrics is Prometheus text with the engine's metrics, and
// the command still stops cleanly.
func TestMatchHTTP(t *testing.T) {
	b := startBroker(t, ridematch.DefaultTopics())
	addr := freeAddr(t)
	c := startCommand(t, "match", "--brokers", b.Addr(), "--http", addr, "--status-interval", "0", "--log-level", "warn")
	waitForPort(t, addr, 10*time.Second)
	base := "http://" + addr

	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q", code, body)
	}
	waitFor(t, 30*time.Second, "/readyz 200", func() bool {
		code, _ := httpGet(t, base+"/readyz")
		return code == http.StatusOK
	})
	code, body := httpGet(t, base+"/metrics")
	for _, want := range []string{"# TYPE ridematch_events_in_total counter", `ridematch_ready 1`, `ridematch_assigned_partitions{stage="matcher"} 12`} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	if code, _ := httpGet(t, base+"/"); code != http.StatusOK {
		t.Errorf("the live map: %d", code)
	}
	if code, took := c.stop(t, 8*time.Second); code != 0 {
		t.Errorf("exit code %d after %v; stderr:\n%s", code, took, c.errb.String())
	}
	if _, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		t.Errorf("%s still accepts connections after the command stopped", addr)
	}
}

// A --http address that cannot work is a usage error, before anything starts.
func TestMatchHTTPRefusesBadAddress(t *testing.T) {
	for _, give := range []string{":8080", "8080", "127.0.0.1:http-port"} {
		code, _, stderr := runCommand(t, 10*time.Second, "match", "--brokers", "127.0.0.1:1", "--http", give)
		if code != 2 || !strings.Contains(stderr, "--http") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("--http %s: exit %d, stderr %q; want 2 and one line naming --http", give, code, stderr)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
