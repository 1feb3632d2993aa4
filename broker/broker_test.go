package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"ridematch"
	"ridematch/cluster"
)

// secret is the SASL password of these tests: no error or log line may hold it.
const secret = "s3cret-pw-broker"

// testPKI is a throwaway CA and a server certificate for 127.0.0.1 signed by it, plus an
// unrelated CA, all PEM files in a temporary directory.
type testPKI struct {
	caFile, otherCAFile string
	certFile, keyFile   string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := newCA(t, "ridematch test CA")
	other, _ := newCA(t, "unrelated CA")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{
		caFile: filepath.Join(dir, "ca.pem"), otherCAFile: filepath.Join(dir, "other-ca.pem"),
		certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key"),
	}
	writePEM(t, p.caFile, "CERTIFICATE", ca.Raw)
	writePEM(t, p.otherCAFile, "CERTIFICATE", other.Raw)
	writePEM(t, p.certFile, "CERTIFICATE", der)
	writePEM(t, p.keyFile, "PRIVATE KEY", keyDER)
	return p
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// logBuffer collects a logger's output, written from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start starts a broker with cfg on a free loopback port, logging at debug into logs; it
// is closed at cleanup.
func start(t *testing.T, cfg Config, logs *logBuffer) *Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Topics = ridematch.DefaultTopics()
	cfg.RetentionCheck = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Start(ctx, cfg, zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// connect makes first contact as a ridematch client with c, and when that works, checks
// the client can use the session: it sees ride-matches, created by the broker at start.
func connect(t *testing.T, c cluster.Config, logs *logBuffer) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	start := time.Now()
	cl, err := cluster.Connect(ctx, c, zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		// A refusal is an answer: it must not wait out the connect timeout.
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("took %v to fail with a connect timeout of %v: %v", took, c.ConnectTimeout, err)
		}
		return err
	}
	defer cl.Close()
	topics := ridematch.DefaultTopics()
	rm := topics.Get(ridematch.RoleRideMatches)
	n, err := cluster.Partitions(ctx, cl, rm.Name)
	if err != nil {
		t.Fatalf("connected, then: %v", err)
	}
	if n != rm.Partitions {
		t.Errorf("%s has %d partitions, want %d", rm.Name, n, rm.Partitions)
	}
	return nil
}

func clientConfig(b *Broker, f func(*cluster.Config)) cluster.Config {
	c := cluster.DefaultConfig()
	c.Brokers = []string{b.Addr()}
	f(&c)
	return c
}

// TestTLS: a broker with --tls-cert and --tls-key serves a client that trusts its CA, and
// turns away one that trusts another CA and one that speaks plaintext.
func TestTLS(t *testing.T) {
	p := newTestPKI(t)
	var logs logBuffer
	b := start(t, Config{TLSCert: p.certFile, TLSKey: p.keyFile}, &logs)

	if err := connect(t, clientConfig(b, func(c *cluster.Config) { c.TLSCA = p.caFile }), &logs); err != nil {
		t.Fatalf("a client trusting the broker's CA: %v", err)
	}
	refused := []struct {
		name string
		give func(*cluster.Config)
		want string
	}{
		{"another CA", func(c *cluster.Config) { c.TLSCA = p.otherCAFile }, "certificate signed by unknown authority"},
		{"plaintext", func(*cluster.Config) {}, "TLS"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			err := connect(t, clientConfig(b, tt.give), &logs)
			if err == nil {
				t.Fatal("connected")
			}
			if !errors.Is(err, cluster.ErrUnreachable) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrUnreachable mentioning %q", err, tt.want)
			}
		})
	}
}

// TestTLSSASL: a broker with TLS and --sasl-user/--sasl-password serves that user with
// SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, and no one else: not a wrong password, not an
// unknown user, not a client without credentials. No password reaches an error or a log.
func TestTLSSASL(t *testing.T) {
	p := newTestPKI(t)
	var logs logBuffer
	b := start(t, Config{TLSCert: p.certFile, TLSKey: p.keyFile, SASLUser: "bob", SASLPassword: secret}, &logs)
	auth := func(mechanism, user, password string) func(*cluster.Config) {
		return func(c *cluster.Config) {
			c.TLSCA = p.caFile
			c.SASLMechanism, c.SASLUser, c.SASLPassword = mechanism, user, password
		}
	}
	for _, m := range []string{cluster.MechanismScramSHA256, cluster.MechanismScramSHA512, cluster.MechanismPlain} {
		t.Run(m, func(t *testing.T) {
			if err := connect(t, clientConfig(b, auth(m, "bob", secret)), &logs); err != nil {
				t.Fatal(err)
			}
		})
	}
	refused := []struct {
		name string
		give func(*cluster.Config)
	}{
		{"wrong password, SCRAM-SHA-256", auth(cluster.MechanismScramSHA256, "bob", "not-"+secret)},
		{"wrong password, SCRAM-SHA-512", auth(cluster.MechanismScramSHA512, "bob", "not-"+secret)},
		{"wrong password, PLAIN", auth(cluster.MechanismPlain, "bob", "not-"+secret)},
		{"unknown user", auth(cluster.MechanismScramSHA256, "alice", secret)},
		{"no credentials", auth("", "", "")},
		{"no credentials, plaintext", func(*cluster.Config) {}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			err := connect(t, clientConfig(b, tt.give), &logs)
			if err == nil {
				t.Fatal("connected")
			}
			if !errors.Is(err, cluster.ErrUnreachable) {
				t.Errorf("error %q does not wrap ErrUnreachable", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("a log holds the password:\n%s", logs.String())
	}
}

// TestSASLWithoutTLS: SASL alone works too (PLAIN in the clear is the user's choice).
func TestSASLWithoutTLS(t *testing.T) {
	var logs logBuffer
	b := start(t, Config{SASLUser: "bob", SASLPassword: secret}, &logs)
	for _, m := range []string{cluster.MechanismScramSHA512, cluster.MechanismPlain} {
		if err := connect(t, clientConfig(b, func(c *cluster.Config) { c.SASLMechanism, c.SASLUser, c.SASLPassword = m, "bob", secret }), &logs); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	if err := connect(t, clientConfig(b, func(*cluster.Config) {}), &logs); err == nil {
		t.Error("a client without credentials connected")
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("a log holds the password:\n%s", logs.String())
	}
}

// TestListenRules: the broker listens on loopback unless told otherwise, and refuses a
// non-loopback address without SASL, before it listens. Bad TLS and SASL settings are
// ErrConfig, and no error holds the password.
func TestListenRules(t *testing.T) {
	p := newTestPKI(t)
	refused := []struct {
		name string
		give Config
		want string
	}{
		{"all IPv4 interfaces without SASL", Config{Listen: "0.0.0.0:0"}, "not loopback"},
		{"all IPv6 interfaces without SASL", Config{Listen: "[::]:0"}, "not loopback"},
		{"all interfaces with TLS but no SASL", Config{Listen: "0.0.0.0:0", TLSCert: p.certFile, TLSKey: p.keyFile}, "not loopback"},
		{"a host name without SASL", Config{Listen: "kafka.example:0"}, "not loopback"},
		{"a LAN address without SASL", Config{Listen: "192.0.2.10:9092"}, "not loopback"},
		{"no host", Config{Listen: ":0"}, "explicit host"},
		{"no port", Config{Listen: "127.0.0.1"}, "host:port"},
		{"bad port", Config{Listen: "127.0.0.1:99999"}, "valid port"},
		{"a password without a user", Config{Listen: "0.0.0.0:0", SASLPassword: secret}, "user and a password"},
		{"a user without a password", Config{Listen: "127.0.0.1:0", SASLUser: "bob"}, "user and a password"},
		{"a certificate without a key", Config{Listen: "127.0.0.1:0", TLSCert: p.certFile}, "--tls-key"},
		{"a key without a certificate", Config{Listen: "127.0.0.1:0", TLSKey: p.keyFile, SASLUser: "bob", SASLPassword: secret}, "--tls-cert"},
		{"a missing certificate file", Config{Listen: "127.0.0.1:0", TLSCert: p.certFile + ".missing", TLSKey: p.keyFile}, "TLS key pair"},
		{"a key that is not the certificate's", Config{Listen: "127.0.0.1:0", TLSCert: p.certFile, TLSKey: p.caFile, SASLUser: "bob", SASLPassword: secret}, "TLS key pair"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			cfg := tt.give
			cfg.Topics = ridematch.DefaultTopics()
			b, err := Start(context.Background(), cfg, zerolog.New(&logs))
			if err == nil {
				b.Close()
				t.Fatalf("Start(%q) started", cfg.Listen)
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrConfig mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "not loopback") && !strings.Contains(err.Error(), "SASL") {
				t.Errorf("error %q should say SASL would allow it", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
				t.Errorf("the password is in the error %q or the log %q", err, logs.String())
			}
		})
	}

	// A non-loopback address with SASL passes the rules. Checked without listening: this
	// test binds nothing beyond loopback.
	for _, listen := range []string{"0.0.0.0:9092", "[::]:0", "192.0.2.10:9092", "kafka.example:9092"} {
		cfg := Config{Listen: listen, SASLUser: "bob", SASLPassword: secret, TLSCert: p.certFile, TLSKey: p.keyFile}
		if _, _, err := cfg.validate(); err != nil {
			t.Errorf("%s with SASL: %v", listen, err)
		}
	}

	// Any loopback address is fine without SASL, not only 127.0.0.1.
	for _, listen := range []string{"127.0.0.1:0", "127.0.0.2:0", "localhost:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			if _, _, err := (Config{Listen: listen}).validate(); err != nil {
				t.Fatal(err)
			}
			host, _, _ := net.SplitHostPort(listen)
			if ln, err := net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
				t.Skipf("this machine cannot listen on %s: %v", host, err)
			} else {
				ln.Close()
			}
			var logs logBuffer
			b := start(t, Config{Listen: listen}, &logs)
			got, _, err := net.SplitHostPort(b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if ip := net.ParseIP(got); ip == nil || !ip.IsLoopback() {
				t.Errorf("listening on %s, want a loopback address", b.Addr())
			}
		})
	}
}

// TestDefaultListensOnLoopback: the default address is loopback, and the broker listens
// where it is told, not on every interface.
func TestDefaultListensOnLoopback(t *testing.T) {
	if got := DefaultConfig().Listen; got != "127.0.0.1:9092" {
		t.Errorf("default listen address %s, want 127.0.0.1:9092", got)
	}
	var logs logBuffer
	b := start(t, Config{Listen: "127.0.0.1:0"}, &logs)
	if !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Errorf("listening on %s, want 127.0.0.1", b.Addr())
	}
}

// TestConfigHidesPassword: a broker config printed or logged shows the user, not the
// password.
func TestConfigHidesPassword(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SASLUser, cfg.SASLPassword = "bob", secret
	var logged logBuffer
	log := zerolog.New(&logged)
	log.Info().Interface("broker", cfg).Msg("config")
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"JSON": string(js), "zerolog": logged.String(),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the password", name)
		}
		if !strings.Contains(s, "bob") || !strings.Contains(s, "127.0.0.1:9092") {
			t.Errorf("%s hides more than the password: %s", name, s)
		}
	}
}
