package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"ridematch"
	"ridematch/broker"
	"ridematch/cluster"
	"ridematch/engine"
)

// TLS and SASL end to end: the embedded broker demanding both, the engine and the
// commands authenticating, and no password in any output.

// saslSecret is the password of these tests; wrongSecret is a wrong one. Neither may
// appear in any output.
const (
	saslSecret  = "s3cret-pw-e2e"
	wrongSecret = "wr0ng-pw-e2e"
)

// testPKI is a throwaway CA and a server certificate for 127.0.0.1 it signed, as PEM
// files in a temporary directory.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := newKey(), newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ridematch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key"), pool: x509.NewCertPool()}
	for path, block := range map[string]*pem.Block{
		p.caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		p.certFile: {Type: "CERTIFICATE", Bytes: srvDER},
		p.keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.pool.AddCert(ca)
	return p
}

// secureClient is a plain kgo client over TLS, trusting p's CA, authenticating as bob
// with mechanism; closed at cleanup.
func secureClient(t *testing.T, p testPKI, addr string, mechanism sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addr, append([]kgo.Opt{
		kgo.DialTLSConfig(&tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(mechanism),
	}, opts...)...)
}

func scram512() sasl.Mechanism {
	return scram.Auth{User: "bob", Pass: saslSecret}.AsSha512Mechanism()
}

// produceReference writes the reference's three drivers and one request for requestID.
func produceReference(t *testing.T, cl *kgo.Client, requestID string) {
	t.Helper()
	topics := ridematch.DefaultTopics()
	drivers, request := referenceEvents(requestID, pythonNow())
	for _, d := range drivers {
		produce(t, cl, topics.Name(ridematch.RoleDriverLocations), d[0], []byte(d[1]))
	}
	produce(t, cl, topics.Name(ridematch.RoleRideRequests), request[0], []byte(request[1]))
}

// secureOutcome reads ride-matches read_committed over TLS and SASL PLAIN until the
// outcome of requestID appears.
func secureOutcome(t *testing.T, p testPKI, addr, requestID string, within time.Duration) map[string]any {
	t.Helper()
	topic := ridematch.DefaultTopics().Name(ridematch.RoleRideMatches)
	cl := secureClient(t, p, addr, plain.Auth{User: "bob", Pass: saslSecret}.AsMechanism(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no outcome for %s on %s within %v", requestID, topic, within)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("reading %s: %v", topic, err) })
		var outcome map[string]any
		fs.EachRecord(func(r *kgo.Record) {
			var m map[string]any
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Fatalf("%s holds a record that is not JSON: %q", topic, r.Value)
			}
			if m["request_id"] == requestID {
				outcome = m
			}
		})
		if outcome != nil {
			return outcome
		}
	}
}

// TestEngineTLSSASL: an engine authenticating with SCRAM-SHA-256 over TLS (trusting a CA
// made here) matches a request a client produced with SCRAM-SHA-512, and a third client,
// PLAIN, reads the outcome read_committed. The engine's debug log holds no password.
func TestEngineTLSSASL(t *testing.T) {
	p := newTestPKI(t)
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)

	bcfg := broker.DefaultConfig()
	bcfg.Listen = "127.0.0.1:0"
	bcfg.TLSCert, bcfg.TLSKey = p.certFile, p.keyFile
	bcfg.SASLUser, bcfg.SASLPassword = "bob", saslSecret
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, bcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	ecfg := engine.DefaultConfig()
	ecfg.Cluster.Brokers = []string{b.Addr()}
	ecfg.Cluster.TLSCA = p.caFile
	ecfg.Cluster.SASLMechanism, ecfg.Cluster.SASLUser, ecfg.Cluster.SASLPassword = cluster.MechanismScramSHA256, "bob", saslSecret
	ecfg.Cluster.ConnectTimeout = 5 * time.Second
	ecfg.Matcher.RequestTTL = 5 * time.Second
	e, err := engine.New(ecfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ectx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(ectx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the engine stopped with %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the engine did not stop within 15s")
		}
	})

	const requestID = "7d5e3c1a-2b4f-4e6a-9c8d-1f0e2d3c4b5a"
	produceReference(t, secureClient(t, p, b.Addr(), scram512()), requestID)
	checkReferenceMatch(t, secureOutcome(t, p, b.Addr(), requestID, 30*time.Second), requestID)
	if strings.Contains(logs.String(), saslSecret) {
		t.Errorf("the log holds the password:\n%s", logs.String())
	}
}

// TestCommandsTLSSASL runs the commands as a user does, at --log-level debug: `ridematch
// broker` with TLS and SASL (the password as a flag, then only in the environment), then
// `topics`, `match` and `tail` over TLS and SCRAM-SHA-256 with the password from the
// environment. A wrong password and a plaintext client fail fast with one plain line. No
// output of any command holds a password.
func TestCommandsTLSSASL(t *testing.T) {
	p := newTestPKI(t)
	for _, tt := range []struct {
		name       string
		brokerArgs []string // besides --sasl-user
		brokerEnv  string   // the broker's environment
	}{
		{"password as a flag", []string{"--sasl-password", saslSecret}, ""},
		{"password in the environment", nil, saslSecret},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ran []*command // every command, for the final check of their outputs
			run := func(within time.Duration, args ...string) (int, string, string) {
				t.Helper()
				c := startCommand(t, args...)
				ran = append(ran, c)
				return c.wait(t, within), c.out.String(), c.errb.String()
			}

			// The broker gets only what the case says: no password in its environment when
			// it is given as a flag.
			t.Setenv(cluster.PasswordEnv, tt.brokerEnv)
			addr := freeAddr(t)
			brokerCmd := startCommand(t, append([]string{"broker", "--listen", addr, "--log-level", "debug",
				"--tls-cert", p.certFile, "--tls-key", p.keyFile, "--sasl-user", "bob"}, tt.brokerArgs...)...)
			ran = append(ran, brokerCmd)
			waitFor(t, 15*time.Second, "the broker to say it is listening", func() bool {
				if brokerCmd.exited() {
					t.Fatalf("the broker exited with %d: %s", brokerCmd.code, brokerCmd.errb.String())
				}
				return strings.Contains(brokerCmd.out.String(), "broker listening on "+addr)
			})
			if out := brokerCmd.out.String(); !strings.Contains(out, "TLS and SASL") {
				t.Errorf("the ready line %q should say TLS and SASL", out)
			}
			// The clients have the password only in the environment.
			t.Setenv(cluster.PasswordEnv, saslSecret)
			auth := []string{"--brokers", addr, "--log-level", "debug", "--connect-timeout", "5s",
				"--tls-ca", p.caFile, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "bob"}

			code, stdout, stderr := run(20*time.Second, append([]string{"topics"}, auth...)...)
			if code != 0 {
				t.Fatalf("topics: exit code %d: %s", code, stderr)
			}
			rows := topicsTable(t, stdout)
			for _, tp := range ridematch.DefaultTopics().Topics {
				if st := status(rows[tp.Name], tp); st != "ok" {
					t.Errorf("topics: %s has status %q, want ok:\n%s", tp.Name, st, stdout)
				}
			}

			match := startCommand(t, append([]string{"match", "--request-ttl", "5s", "--status-interval", "1s"}, auth...)...)
			ran = append(ran, match)
			requestID := "REQ-" + strings.ReplaceAll(tt.name, " ", "-")
			produceReference(t, secureClient(t, p, addr, scram512()), requestID)
			var matched map[string]any
			waitFor(t, 30*time.Second, "tail to show the ride_matched of "+requestID, func() bool {
				if match.exited() {
					t.Fatalf("match exited with %d: %s", match.code, match.errb.String())
				}
				code, stdout, stderr := run(20*time.Second, append([]string{"tail", "--from-beginning", "--follow=false", "--format", "json"}, auth...)...)
				if code != 0 {
					t.Fatalf("tail: exit code %d: %s", code, stderr)
				}
				for _, l := range lines(stdout) {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Fatalf("tail printed a line that is not JSON: %q", l)
					}
					if m["request_id"] == requestID {
						matched = m
						return true
					}
				}
				return false
			})
			checkReferenceMatch(t, matched, requestID)

			// Refusals: exit code 1 within a few seconds, one plain line, nothing printed.
			wrong := []string{"--brokers", addr, "--log-level", "debug", "--connect-timeout", "5s",
				"--tls-ca", p.caFile, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "bob", "--sasl-password", wrongSecret}
			plaintext := []string{"--brokers", addr, "--log-level", "debug", "--connect-timeout", "5s"}
			for _, rt := range []struct {
				name string
				args []string
				want string // in the error line
			}{
				{"tail with a wrong password", append([]string{"tail", "--from-beginning", "--follow=false"}, wrong...), `SASL SCRAM-SHA-256 as "bob"`},
				{"topics with a wrong password", append([]string{"topics"}, wrong...), `SASL SCRAM-SHA-256 as "bob"`},
				{"tail in plaintext, with SASL", append([]string{"tail", "--from-beginning", "--follow=false", "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "bob"}, plaintext...), "TLS"},
				{"tail in plaintext, without SASL", append([]string{"tail", "--from-beginning", "--follow=false"}, plaintext...), "cannot reach Kafka"},
			} {
				start := time.Now()
				code, stdout, stderr := run(20*time.Second, rt.args...)
				if took := time.Since(start); took > 4*time.Second {
					t.Errorf("%s: took %v to fail (connect timeout 5s)", rt.name, took)
				}
				if code != 1 {
					t.Errorf("%s: exit code %d, want 1; stderr:\n%s", rt.name, code, stderr)
				}
				var errLines, warnings []string
				for _, l := range lines(stderr) {
					switch {
					case strings.HasPrefix(l, passwordWarning):
						warnings = append(warnings, l)
					case strings.HasPrefix(l, "ridematch: "):
						errLines = append(errLines, l)
					case !logLine.MatchString(l):
						t.Errorf("%s: stderr line %q is neither a log line nor the error", rt.name, l)
					}
				}
				// The wrong password came as a flag: it is warned about once.
				if want := strings.Count(strings.Join(rt.args, " "), "--sasl-password"); len(warnings) != want {
					t.Errorf("%s: %d warnings about --sasl-password, want %d; stderr:\n%s", rt.name, len(warnings), want, stderr)
				}
				if len(errLines) != 1 || !strings.Contains(errLines[0], "cannot reach Kafka at "+addr) || !strings.Contains(errLines[0], rt.want) {
					t.Errorf("%s: want one error line saying Kafka at %s cannot be reached, mentioning %q; stderr:\n%s", rt.name, addr, rt.want, stderr)
				}
				if stdout != "" {
					t.Errorf("%s: printed %q", rt.name, stdout)
				}
			}

			if code, _ := match.stop(t, 10*time.Second); code != 0 {
				t.Errorf("match: exit code %d after a stop: %s", code, match.errb.String())
			}
			if code, _ := brokerCmd.stop(t, 10*time.Second); code != 0 {
				t.Errorf("broker: exit code %d after a stop: %s", code, brokerCmd.errb.String())
			}
			for i, c := range ran {
				for _, l := range lines(c.out.String() + c.errb.String()) {
					if strings.Contains(l, saslSecret) || strings.Contains(l, wrongSecret) {
						t.Errorf("command %d, ridematch %s, wrote a password: %s", i, c.args[0], l)
					}
				}
			}
			if !strings.Contains(brokerCmd.errb.String(), "broker ready") {
				t.Errorf("the broker's log lacks its ready line, so the check above checked little:\n%s", brokerCmd.errb.String())
			}
		})
	}
}

// passwordWarning starts the line that warns about a password given as --sasl-password.
const passwordWarning = "ridematch: warning: other users of this machine can read --sasl-password with ps"

// TestPasswordFlagWarning: every command given --sasl-password says once, on stderr, that
// ps shows it and that RIDEMATCH_SASL_PASSWORD does not, without printing the password.
// The same password in the environment is not warned about.
func TestPasswordFlagWarning(t *testing.T) {
	t.Setenv(cluster.PasswordEnv, "")
	// The clients fail to reach a broker that is not there, after their flags are accepted.
	unreachable := []string{"--brokers", "127.0.0.1:1", "--connect-timeout", "1s", "--log-level", "error",
		"--sasl-mechanism", "PLAIN", "--sasl-user", "bob"}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"topics", append([]string{"topics"}, unreachable...)},
		{"tail", append([]string{"tail"}, unreachable...)},
		{"match", append([]string{"match", "--status-interval", "0"}, unreachable...)},
		{"simulate", append([]string{"simulate"}, unreachable...)},
	} {
		for _, inEnv := range []bool{false, true} {
			name := tt.name + ", password as a flag"
			args := append(tt.args, "--sasl-password", saslSecret)
			if inEnv {
				name = tt.name + ", password in the environment"
				args = tt.args
			}
			t.Run(name, func(t *testing.T) {
				if inEnv {
					t.Setenv(cluster.PasswordEnv, saslSecret)
				}
				code, stdout, stderr := runCommand(t, 10*time.Second, args...)
				if code != 1 || !strings.Contains(stderr, "cannot reach Kafka") {
					t.Fatalf("exit code %d, stderr %q: want 1 and Kafka unreachable", code, stderr)
				}
				checkPasswordWarning(t, stdout+stderr, !inEnv)
			})
		}
	}

	for _, inEnv := range []bool{false, true} {
		t.Run(fmt.Sprintf("broker, password in the environment %v", inEnv), func(t *testing.T) {
			args := []string{"broker", "--listen", "127.0.0.1:0", "--sasl-user", "bob", "--log-level", "error"}
			if inEnv {
				t.Setenv(cluster.PasswordEnv, saslSecret)
			} else {
				args = append(args, "--sasl-password", saslSecret)
			}
			b := startCommand(t, args...)
			waitFor(t, 15*time.Second, "the broker to say it is listening", func() bool {
				if b.exited() {
					t.Fatalf("the broker exited with %d: %s", b.code, b.errb.String())
				}
				return strings.Contains(b.out.String(), "broker listening on ")
			})
			if code, _ := b.stop(t, 10*time.Second); code != 0 {
				t.Errorf("exit code %d after a stop: %s", code, b.errb.String())
			}
			checkPasswordWarning(t, b.out.String()+b.errb.String(), !inEnv)
		})
	}
}

// checkPasswordWarning checks that output warns about --sasl-password once when want,
// never otherwise, and never holds the password.
func checkPasswordWarning(t *testing.T, output string, want bool) {
	t.Helper()
	n := 0
	for _, l := range lines(output) {
		if strings.HasPrefix(l, passwordWarning) {
			n++
			if !strings.Contains(l, cluster.PasswordEnv) {
				t.Errorf("the warning %q does not name %s", l, cluster.PasswordEnv)
			}
		}
	}
	switch {
	case want && n != 1:
		t.Errorf("%d warnings about --sasl-password, want one:\n%s", n, output)
	case !want && n != 0:
		t.Errorf("a warning about --sasl-password that was not given:\n%s", output)
	}
	if strings.Contains(output, saslSecret) {
		t.Errorf("the output holds the password:\n%s", output)
	}
}
