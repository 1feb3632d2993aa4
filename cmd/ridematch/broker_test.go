package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
)

// startBrokerCmd runs `ridematch broker` on a free loopback port and waits until it says it
// is ready. It returns the command and the address.
func startBrokerCmd(t *testing.T, extra ...string) (*command, string) {
	t.Helper()
	addr := freeAddr(t)
	c := startCommand(t, append([]string{"broker", "--listen", addr, "--log-level", "warn"}, extra...)...)
	waitForPort(t, addr, 10*time.Second)
	// The port accepts connections as soon as the broker listens; the topics exist once
	// it says so.
	waitFor(t, 10*time.Second, "the broker to say it is listening", func() bool {
		if c.exited() {
			t.Fatalf("the broker exited with %d: %s", c.code, c.errb.String())
		}
		return strings.Contains(c.out.String(), "broker listening on "+addr)
	})
	return c, addr
}

// TestBrokerCommand: `ridematch broker` serves the topics of topics.yaml, each with its
// partitions and retention, to a plain client, and stops promptly and cleanly when its
// context ends, as on Ctrl-C.
func TestBrokerCommand(t *testing.T) {
	c, addr := startBrokerCmd(t)
	if out := c.out.String(); !strings.Contains(out, "plaintext") || !strings.Contains(out, "in memory") {
		t.Errorf("ready line %q should say plaintext and in memory", out)
	}
	adm := kadm.NewClient(newClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics := ridematch.DefaultTopics()
	names := make([]string, len(topics.Topics))
	for i, tp := range topics.Topics {
		names[i] = tp.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics.Topics {
		d, ok := details[tp.Name]
		if !ok || d.Err != nil {
			t.Errorf("topic %s: missing (%v)", tp.Name, d.Err)
			continue
		}
		if got := int32(len(d.Partitions)); got != tp.Partitions {
			t.Errorf("topic %s has %d partitions, topics.yaml says %d", tp.Name, got, tp.Partitions)
		}
		rc, err := configs.On(tp.Name, nil)
		if err != nil || rc.Err != nil {
			t.Errorf("topic %s: describing configs: %v %v", tp.Name, err, rc.Err)
			continue
		}
		want := strconv.FormatInt(tp.Retention.Milliseconds(), 10)
		got := "(none)"
		for _, cfg := range rc.Configs {
			if cfg.Key == "retention.ms" && cfg.Value != nil {
				got = *cfg.Value
			}
		}
		if got != want {
			t.Errorf("topic %s has retention.ms %s, want %s (%v)", tp.Name, got, want, tp.Retention)
		}
	}

	code, took := c.stop(t, 5*time.Second)
	if code != 0 {
		t.Errorf("exit code %d after a stop, want 0; stderr: %s", code, c.errb.String())
	}
	if took > 3*time.Second {
		t.Errorf("took %v to stop", took)
	}
	waitFor(t, 5*time.Second, addr+" to be closed", func() bool { return !dials(addr) })
}

// TestBrokerDataDir: with --data-dir, what was produced is still there after a restart.
func TestBrokerDataDir(t *testing.T) {
	dir := t.TempDir()
	topic := ridematch.DefaultTopics().Name(ridematch.RoleRideMatches)
	c, addr := startBrokerCmd(t, "--data-dir", dir)
	if !strings.Contains(c.out.String(), "in "+dir) {
		t.Errorf("ready line %q does not name the data dir", c.out.String())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := `{"event_type":"ride_matched","request_id":"REQ-kept","driver_id":"DRV001"}`
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("REQ-kept"), Value: []byte(want)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if code, _ := c.stop(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d after a stop: %s", code, c.errb.String())
	}

	_, addr = startBrokerCmd(t, "--data-dir", dir)
	recs := readCommitted(t, addr, topic)
	if len(recs) != 1 || string(recs[0].Value) != want || string(recs[0].Key) != "REQ-kept" {
		var got []string
		for _, r := range recs {
			got = append(got, string(r.Key)+" "+string(r.Value))
		}
		t.Fatalf("after a restart %s holds %q, want the one record produced before", topic, got)
	}
	// The restart found its topics and kept their partitions.
	adm := kadm.NewClient(newClient(t, addr))
	d, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d[topic].Partitions); n != int(ridematch.DefaultTopics().Get(ridematch.RoleRideMatches).Partitions) {
		t.Errorf("%s has %d partitions after a restart", topic, n)
	}
}

// TestBrokerPortTaken: a port in use is a plain error, exit code 1.
func TestBrokerPortTaken(t *testing.T) {
	_, addr := startBrokerCmd(t)
	code, _, stderr := runCommand(t, 10*time.Second, "broker", "--listen", addr, "--log-level", "warn")
	if code != 1 || !strings.Contains(stderr, "cannot listen on "+addr) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit code %d, stderr %q: want 1 and one line saying it cannot listen on %s", code, stderr, addr)
	}
}

func dials(addr string) bool {
	c, err := (&net.Dialer{Timeout: 200 * time.Millisecond}).Dial("tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestBrokerTopicsExistOnceListening: a script that starts `ridematch broker` and waits for
// its port (as CI and compose health checks do) must find the topics there; an engine
// started then stops at once with "topic ... does not exist".
func TestBrokerTopicsExistOnceListening(t *testing.T) {
	want := len(ridematch.DefaultTopics().Topics)
	for i := 0; i < 5; i++ {
		addr := freeAddr(t)
		c := startCommand(t, "broker", "--listen", addr, "--log-level", "error")
		deadline := time.Now().Add(10 * time.Second)
		for !dials(addr) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never accepted a connection", addr)
			}
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := kadm.NewClient(newClient(t, addr)).ListTopics(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(d) < want {
			t.Fatalf("when %s first accepted a connection it had %d of the %d topics of topics.yaml (%v)", addr, len(d), want, d.Names())
		}
		c.stop(t, 5*time.Second)
	}
}
