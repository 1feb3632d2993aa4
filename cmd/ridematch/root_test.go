package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"ridematch/cluster"
)

// TestBadFlags: every command refuses a bad flag before doing anything, with exit code 2
// and one line on stderr that says which flag and what is wrong with it.
func TestBadFlags(t *testing.T) {
	t.Setenv(cluster.PasswordEnv, "") // the SASL cases must not find a password there
	// An unreachable broker everywhere: a bad flag must be refused before any connection.
	unreachable := []string{"--brokers", "127.0.0.1:1", "--connect-timeout", "5s"}
	tests := []struct {
		name string
		give []string
		want []string // all in the error line
	}{
		{"unknown flag on topics", append([]string{"topics", "--partitions", "3"}, unreachable...), []string{"unknown flag", "--partitions"}},
		{"unknown flag on match", append([]string{"match", "--bogus"}, unreachable...), []string{"unknown flag", "--bogus"}},
		{"unknown flag on tail", append([]string{"tail", "--bogus"}, unreachable...), []string{"unknown flag", "--bogus"}},
		{"unknown flag on broker", []string{"broker", "--bogus"}, []string{"unknown flag", "--bogus"}},
		{"unknown flag on demo", []string{"demo", "--bogus"}, []string{"unknown flag", "--bogus"}},
		{"unknown command", []string{"frobnicate"}, []string{"unknown command", "frobnicate"}},
		{"stray argument", []string{"topics", "extra"}, []string{"extra"}},
		{"bad log level", append([]string{"--log-level", "loud", "topics"}, unreachable...), []string{"--log-level", "loud"}},
		{"bad log level after the command", append([]string{"tail", "--log-level", "loud"}, unreachable...), []string{"--log-level", "loud"}},
		{"bad log format", append([]string{"--log-format", "xml", "match"}, unreachable...), []string{"--log-format", "xml"}},
		{"bad log format on broker", []string{"broker", "--log-format", "xml", "--listen", "127.0.0.1:0"}, []string{"--log-format", "xml"}},
		{"tail format", append([]string{"tail", "--format", "xml"}, unreachable...), []string{"--format", "xml"}},
		{"tail negative max", append([]string{"tail", "--max", "-1"}, unreachable...), []string{"--max"}},
		{"tail max not a number", append([]string{"tail", "--max", "some"}, unreachable...), []string{"--max", "some"}},
		{"match stage", append([]string{"match", "--stage", "nope"}, unreachable...), []string{"--stage", "nope"}},
		{"match max pickup 0", append([]string{"match", "--max-pickup-km", "0"}, unreachable...), []string{"max pickup distance"}},
		{"match negative request ttl", append([]string{"match", "--request-ttl", "-1s"}, unreachable...), []string{"request TTL"}},
		{"match fetch partition bytes too small", append([]string{"match", "--fetch-partition-bytes", "10"}, unreachable...), []string{"bytes a partition"}},
		{"match request ttl not a duration", append([]string{"match", "--request-ttl", "soon"}, unreachable...), []string{"--request-ttl", "soon"}},
		{"broker listen not host:port", []string{"broker", "--listen", "nonsense"}, []string{"--listen", "nonsense"}},
		{"broker listen beyond loopback without SASL", []string{"broker", "--listen", "0.0.0.0:0"}, []string{"0.0.0.0", "not loopback", "SASL"}},
		{"bench input compression", []string{"bench", "--input-compression", "brotli"}, []string{"input compression", "brotli"}},
		{"demo no instances", []string{"demo", "--instances", "0", "--listen", "127.0.0.1:0"}, []string{"--instances"}},
		{"topics file missing", append([]string{"topics", "--topics", "/nonexistent.yaml"}, unreachable...), []string{"--topics", "/nonexistent.yaml"}},
		{"topics file missing, match", append([]string{"match", "--topics", "/nonexistent.yaml"}, unreachable...), []string{"--topics", "/nonexistent.yaml"}},
		{"topics file missing, broker", []string{"broker", "--topics", "/nonexistent.yaml", "--listen", "127.0.0.1:0"}, []string{"--topics", "/nonexistent.yaml"}},
		{"demo listen not host:port", []string{"demo", "--listen", "nonsense"}, []string{"--listen", "nonsense"}},
		{"demo listen beyond loopback", []string{"demo", "--listen", "0.0.0.0:0", "--duration", "1s"}, []string{"0.0.0.0", "not loopback"}},
		{"demo http without host", []string{"demo", "--http", ":0", "--listen", "127.0.0.1:0"}, []string{"--http", ":0", "explicit host"}},
		{"topics broker without port", []string{"topics", "--brokers", "localhost"}, []string{"localhost", "needs a port"}},
		{"tail broker without port", []string{"tail", "--brokers", "localhost"}, []string{"localhost", "needs a port"}},
		{"match broker without port", []string{"match", "--brokers", "127.0.0.1:1,localhost"}, []string{"localhost", "needs a port"}},
		{"match SASL user without mechanism", append([]string{"match", "--sasl-user", "u", "--sasl-password", "p"}, unreachable...), []string{"--sasl-mechanism"}},
		{"tail unreadable CA", append([]string{"tail", "--tls-ca", "/nonexistent.pem"}, unreachable...), []string{"TLS CA", "/nonexistent.pem"}},
		{"broker SASL user without password", []string{"broker", "--listen", "127.0.0.1:0", "--sasl-user", "u"}, []string{"SASL", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := runCommand(t, 10*time.Second, tt.give...)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v: the flags were not checked first", took)
			}
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr: %q", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "ridematch: ") {
				t.Fatalf("stderr is not one ridematch: line: %q", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q does not mention %q", lines[0], w)
				}
			}
			if stdout != "" && !strings.HasPrefix(tt.name, "unknown command") {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// logLine is a console log line: time, level, message.
var logLine = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} (DBG|INF|WRN|ERR) `)

// TestUnreachableBroker: the commands that talk to Kafka give up on a broker that is not
// there within the connect timeout, with exit code 1 and one plain line.
func TestUnreachableBroker(t *testing.T) {
	for _, cmd := range [][]string{{"topics"}, {"match", "--status-interval", "0"}, {"tail"}, {"tail", "--from-beginning", "--follow=false"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := runCommand(t, 10*time.Second, append(cmd, "--brokers", "127.0.0.1:1", "--connect-timeout", "1s")...)
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("took %v to give up with a 1s connect timeout", took)
			}
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			// Besides log lines (the client's warnings), the error is one line.
			var errLines []string
			for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
				switch {
				case strings.HasPrefix(l, "ridematch: "):
					errLines = append(errLines, l)
				case !logLine.MatchString(l):
					t.Errorf("stderr line %q is neither a log line nor the error", l)
				}
			}
			if len(errLines) != 1 {
				t.Fatalf("want one error line in stderr, got:\n%s", stderr)
			}
			if l := errLines[0]; !strings.Contains(l, "cannot reach Kafka") || !strings.Contains(l, "127.0.0.1:1") {
				t.Errorf("error %q, want it to say Kafka at 127.0.0.1:1 cannot be reached", l)
			}
			for _, s := range []string{stdout, stderr} {
				if strings.Contains(s, "goroutine") || strings.Contains(s, "panic") || strings.Contains(s, ".go:") {
					t.Errorf("a stack trace in the output:\n%s", s)
				}
			}
			if strings.Contains(stdout, "cannot reach") {
				t.Errorf("the error went to stdout: %q", stdout)
			}
		})
	}
	// With --log-level error, the error line is all there is.
	code, _, stderr := runCommand(t, 10*time.Second, "topics", "--brokers", "127.0.0.1:1", "--connect-timeout", "1s", "--log-level", "error")
	if code != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit code %d, stderr %q: want 1 and a single line", code, stderr)
	}
}

// TestHelp: --help prints the command's usage to stdout and exits 0, for every command.
func TestHelp(t *testing.T) {
	for _, cmd := range []string{"broker", "topics", "match", "tail", "demo", "simulate"} {
		var out, errb bytes.Buffer
		code := execute(context.Background(), []string{cmd, "--help"}, &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "ridematch "+cmd) || !strings.Contains(out.String(), "--brokers") && cmd != "broker" && cmd != "demo" {
			t.Errorf("%s --help: exit code %d, stdout %q, stderr %q", cmd, code, out.String(), errb.String())
		}
	}
}

// TestSilentBroker: a listener that accepts connections and never answers must not hang
// a command: the connect timeout ends it, with the same one-line error.
func TestSilentBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		for _, c := range held {
			c.Close()
		}
	})
	for _, cmd := range [][]string{{"topics"}, {"match", "--status-interval", "0"}, {"tail"}} {
		t.Run(cmd[0], func(t *testing.T) {
			start := time.Now()
			code, _, stderr := runCommand(t, 10*time.Second, append(cmd, "--brokers", ln.Addr().String(), "--connect-timeout", "1s", "--log-level", "error")...)
			took := time.Since(start)
			if code != 1 || !strings.Contains(stderr, "cannot reach Kafka") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit code %d, stderr %q: want 1 and one line saying Kafka cannot be reached", code, stderr)
			}
			if took < 900*time.Millisecond || took > 4*time.Second {
				t.Errorf("gave up after %v, want about the 1s connect timeout", took)
			}
		})
	}
}

// TestConcurrentCommands: commands run side by side in one process (as these tests and
// the demo do) share no mutable state; `go test -race` fails this if they do.
func TestConcurrentCommands(t *testing.T) {
	var cmds []*command
	for i := 0; i < 3; i++ {
		cmds = append(cmds, startCommand(t, "topics", "--brokers", "127.0.0.1:1", "--connect-timeout", "1s", "--log-format", []string{"console", "json"}[i%2]))
	}
	for _, c := range cmds {
		if code := c.wait(t, 10*time.Second); code != 1 || !strings.Contains(c.errb.String(), "cannot reach Kafka") {
			t.Errorf("exit code %d, stderr %q", code, c.errb.String())
		}
	}
}
