package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"ridematch"
)

// topicsTable parses the table `ridematch topics` prints: topic name to its row's fields.
func topicsTable(t *testing.T, out string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "TOPIC PARTITIONS RETENTION KEY STATUS" {
		t.Fatalf("no table header in %q", out)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 5 {
			t.Fatalf("short table row %q", l)
		}
		rows[f[0]] = f
	}
	return rows
}

// status is a row's STATUS column (its last words after KEY, which may hold spaces).
func status(row []string, topic ridematch.Topic) string {
	return strings.Join(row[3+len(strings.Fields(topic.Key)):], " ")
}

// writeTopics writes topics as a topics file and returns its path.
func writeTopics(t *testing.T, topics ridematch.Topics) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("topics:\n")
	for _, tp := range topics.Topics {
		fmt.Fprintf(&b, "  - name: %s\n    role: %s\n    partitions: %d\n    retention: %s\n    key: %q\n    events: [%s]\n",
			tp.Name, tp.Role, tp.Partitions, tp.Retention, tp.Key, strings.Join(tp.Events, ", "))
		if len(tp.Schemas) > 0 {
			b.WriteString("    schemas:\n")
			for _, e := range tp.Events {
				fmt.Fprintf(&b, "      %s: %s\n", e, tp.Schemas[e])
			}
		}
	}
	path := filepath.Join(t.TempDir(), "topics.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ridematch.LoadTopics(path); err != nil {
		t.Fatalf("the test's topics file is invalid: %v", err)
	}
	return path
}

// withPartitions returns a copy of topics with the topics of some roles given other
// partition counts.
func withPartitions(topics ridematch.Topics, counts map[ridematch.Role]int32) ridematch.Topics {
	out := ridematch.Topics{Topics: append([]ridematch.Topic(nil), topics.Topics...)}
	for i, tp := range out.Topics {
		if n, ok := counts[tp.Role]; ok {
			out.Topics[i].Partitions = n
		}
	}
	return out
}

// TestTopicsVerifiesAndIsIdempotent: on the embedded broker, which created every topic,
// `ridematch topics` finds them all as topics.yaml says, changes nothing, and says the same
// the second time.
func TestTopicsVerifiesAndIsIdempotent(t *testing.T) {
	b := startBroker(t, ridematch.DefaultTopics())
	code, first, stderr := runCommand(t, 20*time.Second, "topics", "--brokers", b.Addr(), "--log-level", "warn")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	rows := topicsTable(t, first)
	topics := ridematch.DefaultTopics()
	if len(rows) != len(topics.Topics) {
		t.Errorf("the table has %d topics, topics.yaml %d:\n%s", len(rows), len(topics.Topics), first)
	}
	for _, tp := range topics.Topics {
		row, ok := rows[tp.Name]
		if !ok {
			t.Errorf("%s is not in the table:\n%s", tp.Name, first)
			continue
		}
		if row[1] != strconv.Itoa(int(tp.Partitions)) || row[2] != tp.Retention.String() {
			t.Errorf("row %q, want %d partitions and retention %v", row, tp.Partitions, tp.Retention)
		}
		if st := status(row, tp); st != "ok" {
			t.Errorf("%s has status %q, want ok", tp.Name, st)
		}
	}
	code, second, stderr := runCommand(t, 20*time.Second, "topics", "--brokers", b.Addr(), "--log-level", "warn")
	if code != 0 || second != first {
		t.Errorf("second run: exit code %d, output\n%s\nwant 0 and the first run's\n%s\n%s", code, second, first, stderr)
	}
}

// TestTopicsCreatesMissing: a topic that is missing is created with the partitions and
// retention of topics.yaml; the next run finds it ok.
func TestTopicsCreatesMissing(t *testing.T) {
	b := startBroker(t, ridematch.DefaultTopics())
	surge := ridematch.DefaultTopics().Get(ridematch.RoleSurgePricing)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, surge.Name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, surge.Name+" to be deleted", func() bool {
		d, err := adm.ListTopics(ctx, surge.Name)
		return err == nil && (d[surge.Name].Err != nil || len(d[surge.Name].Partitions) == 0)
	})

	code, out, stderr := runCommand(t, 20*time.Second, "topics", "--brokers", b.Addr(), "--log-level", "warn")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	rows := topicsTable(t, out)
	for _, tp := range ridematch.DefaultTopics().Topics {
		want := "ok"
		if tp.Name == surge.Name {
			want = "created"
		}
		if st := status(rows[tp.Name], tp); st != want {
			t.Errorf("%s has status %q, want %s:\n%s", tp.Name, st, want, out)
		}
	}
	// A new client: the first one's metadata cache still holds the deleted topic.
	adm = kadm.NewClient(newClient(t, b.Addr()))
	d, err := adm.ListTopics(ctx, surge.Name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d[surge.Name].Partitions); n != int(surge.Partitions) {
		t.Errorf("created %s with %d partitions, want %d", surge.Name, n, surge.Partitions)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, surge.Name)
	if err != nil {
		t.Fatal(err)
	}
	var retention string
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && c.Value != nil {
			retention = *c.Value
		}
	}
	if want := strconv.FormatInt(surge.Retention.Milliseconds(), 10); retention != want {
		t.Errorf("created %s with retention.ms %q, want %s", surge.Name, retention, want)
	}

	code, out, _ = runCommand(t, 20*time.Second, "topics", "--brokers", b.Addr(), "--log-level", "warn")
	if code != 0 || status(topicsTable(t, out)[surge.Name], surge) != "ok" {
		t.Errorf("the run after creating: exit code %d\n%s", code, out)
	}
}

// TestTopicsMismatch: a topic whose partition count differs from the topics file is
// reported in the table and fails the command with exit code 1, whichever side changed:
// the cluster (a broker seeded from another file) or the file (--topics).
func TestTopicsMismatch(t *testing.T) {
	other := withPartitions(ridematch.DefaultTopics(), map[ridematch.Role]int32{ridematch.RoleRideMatches: 4, ridematch.RoleDriverLocations: 24})
	check := func(t *testing.T, code int, out, stderr string) {
		t.Helper()
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		rows := topicsTable(t, out)
		for _, tp := range ridematch.DefaultTopics().Topics {
			st := status(rows[tp.Name], tp)
			switch tp.Role {
			case ridematch.RoleRideMatches, ridematch.RoleDriverLocations:
				if !strings.HasPrefix(st, "MISMATCH") {
					t.Errorf("%s: status %q, want a MISMATCH", tp.Name, st)
				}
			default:
				if st != "ok" {
					t.Errorf("%s: status %q, want ok", tp.Name, st)
				}
			}
		}
		if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "differs from topics.yaml") {
			t.Errorf("stderr %q, want one line saying a topic differs", stderr)
		}
	}

	t.Run("broker seeded from another file", func(t *testing.T) {
		path := writeTopics(t, other)
		c := startCommand(t, "broker", "--listen", "127.0.0.1:0", "--topics", path, "--log-level", "error")
		var addr string
		waitFor(t, 10*time.Second, "the broker to be ready", func() bool {
			if c.exited() {
				t.Fatalf("broker exited: %s", c.errb.String())
			}
			_, rest, ok := strings.Cut(c.out.String(), "broker listening on ")
			addr, _, _ = strings.Cut(rest, " ")
			return ok && strings.Contains(rest, " ")
		})
		code, out, stderr := runCommand(t, 20*time.Second, "topics", "--brokers", addr, "--log-level", "warn")
		check(t, code, out, stderr)
		// The mismatch persists: nothing was changed.
		code, out2, stderr := runCommand(t, 20*time.Second, "topics", "--brokers", addr, "--log-level", "warn")
		check(t, code, out2, stderr)
		if out2 != out {
			t.Errorf("second run printed\n%s\nfirst\n%s", out2, out)
		}
	})
	t.Run("--topics file differs from the cluster", func(t *testing.T) {
		b := startBroker(t, ridematch.DefaultTopics())
		code, out, stderr := runCommand(t, 20*time.Second, "topics", "--brokers", b.Addr(), "--topics", writeTopics(t, other), "--log-level", "warn")
		check(t, code, out, stderr)
	})
}

// TestTopicsTopology: `ridematch topics --topology` prints the engine's stages, each with
// its group and the topics it reads and writes, without a broker; a topics file that the
// topology cannot run on is refused.
func TestTopicsTopology(t *testing.T) {
	code, out, stderr := runCommand(t, 5*time.Second, "topics", "--topology")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	for _, want := range []string{
		"stage router, group ridematch-router\n  reads    driver-locations (driver_locations, 12 partitions)",
		"stage matcher, group ridematch-matcher\n  reads    ridematch-region-log (region_log, 12 partitions)",
		"preloads ridematch-decisions",
		"writes   ride-matches (ride_matches, 6 partitions)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	yaml, err := os.ReadFile(filepath.Join("..", "..", "topics.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(yaml), "role: decision_log\n    partitions: 12", "role: decision_log\n    partitions: 6", 1)
	path := filepath.Join(t.TempDir(), "topics.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCommand(t, 5*time.Second, "topics", "--topology", "--topics", path); code == 0 || !strings.Contains(stderr, "partitions") {
		t.Errorf("a decision log partitioned apart: exit code %d, %q; want a refusal saying why", code, stderr)
	}
}

// TestTopicsSchemas: `ridematch topics --schemas DIR` writes each JSON topic's schemas,
// one file per event and byte for byte the embedded ones, and touches no broker (none is
// given: the default address has nothing listening in the test).
func TestTopicsSchemas(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, stderr := runCommand(t, 5*time.Second, "topics", "--schemas", dir, "--brokers", "127.0.0.1:1")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	want := 0
	for _, tp := range ridematch.DefaultTopics().Topics {
		if !tp.Role.JSON() {
			continue
		}
		for _, e := range tp.Events {
			want++
			path := filepath.Join(dir, filepath.FromSlash(tp.Schemas[e]))
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s %s: %v", tp.Name, e, err)
				continue
			}
			embedded, err := fs.ReadFile(ridematch.Schemas(), tp.Schemas[e])
			if err != nil || !bytes.Equal(got, embedded) {
				t.Errorf("%s differs from the embedded schema (%v)", path, err)
			}
			if line := tp.Name + "\t" + e + "\t" + path + "\n"; !strings.Contains(out, line) {
				t.Errorf("output lacks %q:\n%s", line, out)
			}
		}
	}
	files := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return err
	})
	// The inputs' 5 (with the drivers' 2 answers to offers), the driver-offers' 2 and the
	// outputs' 5.
	if want != 12 || files != want {
		t.Errorf("%d files written for %d events, want 12 of each", files, want)
	}
}
