package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
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
	"github.com/twmb/franz-go/pkg/kfake"
)

// secret is the password of every test here: no error or log line may hold it.
const secret = "s3cret-pw-7f3a"

// testPKI is a throwaway CA, a server certificate for 127.0.0.1 signed by it, and an
// unrelated second CA, as PEM files in a temporary directory.
type testPKI struct {
	caFile, otherCAFile string
	serverCert          tls.Certificate
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
	p := testPKI{caFile: filepath.Join(dir, "ca.pem"), otherCAFile: filepath.Join(dir, "other-ca.pem")}
	writePEM(t, p.caFile, "CERTIFICATE", ca.Raw)
	writePEM(t, p.otherCAFile, "CERTIFICATE", other.Raw)
	p.serverCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
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

// TestOptsRejects: settings no client could use are an ErrConfig before any connection,
// and no error repeats the password.
func TestOptsRejects(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyOnly := filepath.Join(dir, "key.pem")
	writePEM(t, keyOnly, "PRIVATE KEY", []byte("not a certificate either"))

	base := func(f func(*Config)) Config {
		c := DefaultConfig()
		c.SASLPassword = secret
		f(&c)
		return c
	}
	tests := []struct {
		name string
		give Config
		want string // in the error
	}{
		{"no brokers", base(func(c *Config) { c.Brokers = nil }), "no brokers"},
		{"broker without port", base(func(c *Config) { c.Brokers = []string{"127.0.0.1"} }), "needs a port"},
		{"second broker without port", base(func(c *Config) { c.Brokers = []string{"127.0.0.1:9092", "kafka-2"} }), `"kafka-2" needs a port`},
		{"unknown mechanism", base(func(c *Config) { c.SASLMechanism, c.SASLUser = "GSSAPI", "bob" }), "GSSAPI"},
		{"user without mechanism", base(func(c *Config) { c.SASLUser = "bob" }), "--sasl-mechanism"},
		{"PLAIN without password", base(func(c *Config) { c.SASLMechanism, c.SASLUser, c.SASLPassword = MechanismPlain, "bob", "" }), PasswordEnv},
		{"SCRAM-SHA-256 without password", base(func(c *Config) { c.SASLMechanism, c.SASLUser, c.SASLPassword = MechanismScramSHA256, "bob", "" }), PasswordEnv},
		{"SCRAM-SHA-512 without password", base(func(c *Config) { c.SASLMechanism, c.SASLUser, c.SASLPassword = MechanismScramSHA512, "bob", "" }), PasswordEnv},
		{"mechanism without user", base(func(c *Config) { c.SASLMechanism = MechanismScramSHA256 }), "needs a user"},
		{"unreadable CA file", base(func(c *Config) { c.TLSCA = filepath.Join(dir, "missing.pem") }), "missing.pem"},
		{"CA file that is a directory", base(func(c *Config) { c.TLSCA = dir }), "TLS CA"},
		{"CA file that is not PEM", base(func(c *Config) { c.TLSCA = notPEM }), "no PEM certificate"},
		{"CA file with no certificate", base(func(c *Config) { c.TLSCA = keyOnly }), "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.give.Opts(zerolog.Nop())
			if err == nil {
				t.Fatal("Opts accepted it")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %q does not wrap ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

// TestOptsAccepts: the settings a user may give are accepted, the mechanism in any case.
func TestOptsAccepts(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		name string
		give func(*Config)
	}{
		{"plaintext", func(*Config) {}},
		{"TLS with the system roots", func(c *Config) { c.TLS = true }},
		{"TLS with a CA file", func(c *Config) { c.TLSCA = p.caFile }},
		{"PLAIN", func(c *Config) { c.SASLMechanism, c.SASLUser, c.SASLPassword = "PLAIN", "bob", secret }},
		{"scram-sha-256 in lower case", func(c *Config) { c.SASLMechanism, c.SASLUser, c.SASLPassword = "scram-sha-256", "bob", secret }},
		{"SCRAM-SHA-512 over TLS", func(c *Config) {
			c.TLSCA, c.SASLMechanism, c.SASLUser, c.SASLPassword = p.caFile, "SCRAM-SHA-512", "bob", secret
		}},
		{"several brokers", func(c *Config) { c.Brokers = []string{"127.0.0.1:9092", "[::1]:9093", "kafka-2:9092"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.give(&c)
			if _, err := c.Opts(zerolog.Nop()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// lockedBuffer collects log output written from the client's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConnectTLSSASL: Connect reaches a kfake cluster that demands TLS and SASL with each
// mechanism, and fails fast, with ErrUnreachable and a plain cause, on a wrong password,
// missing credentials, an untrusted CA or plaintext. Neither the errors nor the debug log
// hold the password.
func TestConnectTLSSASL(t *testing.T) {
	p := newTestPKI(t)
	kc, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser(MechanismPlain, "bob", secret),
		kfake.Superuser(MechanismScramSHA256, "bob", secret),
		kfake.Superuser(MechanismScramSHA512, "bob", secret),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	addr := kc.ListenAddrs()[0]

	var logs lockedBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	cfg := func(f func(*Config)) Config {
		c := DefaultConfig()
		c.Brokers = []string{addr}
		c.ConnectTimeout = 5 * time.Second
		c.TLSCA = p.caFile
		c.SASLMechanism, c.SASLUser, c.SASLPassword = MechanismScramSHA256, "bob", secret
		f(&c)
		return c
	}
	connect := func(t *testing.T, c Config) (time.Duration, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		cl, err := Connect(ctx, c, log)
		took := time.Since(start)
		if err == nil {
			defer cl.Close()
			// Past first contact, a request that needs the session: the topic list.
			if _, err := Partitions(ctx, cl, "no-such-topic"); err == nil {
				t.Error("Partitions of a missing topic gave no error")
			}
		}
		return took, err
	}

	for _, m := range []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512} {
		t.Run(m, func(t *testing.T) {
			if _, err := connect(t, cfg(func(c *Config) { c.SASLMechanism = m })); err != nil {
				t.Fatalf("%s over TLS: %v", m, err)
			}
		})
	}

	refused := []struct {
		name string
		give func(*Config)
		want string // in the error
	}{
		{"wrong password", func(c *Config) { c.SASLPassword = "wrong-" + secret }, `SASL SCRAM-SHA-256 as "bob"`},
		{"wrong password, PLAIN", func(c *Config) { c.SASLMechanism, c.SASLPassword = MechanismPlain, secret+"x" }, `SASL PLAIN as "bob"`},
		{"wrong password, SCRAM-SHA-512", func(c *Config) { c.SASLMechanism, c.SASLPassword = MechanismScramSHA512, secret[1:] }, `SASL SCRAM-SHA-512 as "bob"`},
		{"unknown user", func(c *Config) { c.SASLUser = "mallory" }, `as "mallory"`},
		{"no credentials", func(c *Config) { c.SASLMechanism, c.SASLUser, c.SASLPassword = "", "", "" }, "SASL"},
		{"untrusted CA", func(c *Config) { c.TLSCA = p.otherCAFile }, "certificate"},
		{"system roots", func(c *Config) { c.TLSCA, c.TLS = "", true }, "certificate"},
		{"plaintext", func(c *Config) { c.TLSCA = "" }, "TLS"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			took, err := connect(t, cfg(tt.give))
			if err == nil {
				t.Fatal("connected")
			}
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("error %q does not wrap ErrUnreachable", err)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds the password", err)
			}
			// A refusal is an answer: it must not wait out the connect timeout.
			if took > 3*time.Second {
				t.Errorf("took %v to fail (connect timeout 5s): %v", took, err)
			}
		})
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the client log holds the password:\n%s", logs.String())
	}
}

// TestConnectTLSToPlaintext: a TLS client of a plaintext broker gets no answer (the broker
// waits for the rest of what it takes for a huge request); the error says TLS may be why.
func TestConnectTLSToPlaintext(t *testing.T) {
	p := newTestPKI(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	c := DefaultConfig()
	c.Brokers, c.TLSCA, c.ConnectTimeout = kc.ListenAddrs(), p.caFile, 500*time.Millisecond
	start := time.Now()
	cl, err := Connect(context.Background(), c, zerolog.Nop())
	if err == nil {
		cl.Close()
		t.Fatal("a TLS client connected to a plaintext broker")
	}
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("error %q, want ErrUnreachable saying TLS may be why", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v with a connect timeout of 500ms", took)
	}
}

// TestConfigHidesPassword: a config printed or logged, alone or inside another struct,
// shows that a password is set but not the password.
func TestConfigHidesPassword(t *testing.T) {
	c := DefaultConfig()
	c.SASLMechanism, c.SASLUser, c.SASLPassword = MechanismScramSHA256, "bob", secret
	outer := struct {
		Cluster Config
		Name    string
	}{c, "engine"}
	var logged lockedBuffer
	log := zerolog.New(&logged)
	log.Info().Interface("cluster", c).Interface("outer", outer).Msg("config")
	js, err := json.Marshal(outer)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%+v of a struct holding it": fmt.Sprintf("%+v", outer), "%#v of a struct holding it": fmt.Sprintf("%#v", outer),
		"JSON": string(js), "zerolog": logged.String(),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the password", name)
		}
		if !strings.Contains(s, "bob") || !strings.Contains(s, "127.0.0.1:9092") {
			t.Errorf("%s hides more than the password: %s", name, s)
		}
	}
	if c.SASLPassword != secret {
		t.Error("printing the config changed it")
	}
}
