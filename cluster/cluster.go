// Package cluster connects ridematch to a Kafka cluster: seed brokers, TLS and SASL, a
// first contact that fails fast with a plain message, and the topics of topics.yaml.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kzerolog"
)

// SASL mechanisms.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// PasswordEnv is where the SASL password is read from when not given as a flag, so that it
// need not appear in a process listing.
const PasswordEnv = "RIDEMATCH_SASL_PASSWORD"

// Config says how to reach a cluster.
type Config struct {
	// Brokers are the seed brokers (default 127.0.0.1:9092).
	Brokers []string
	// TLS turns TLS on, verifying the brokers against the system roots or TLSCA.
	TLS bool
	// TLSCA is a PEM file of CA certificates to verify the brokers with; it implies TLS.
	TLSCA string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty for no SASL.
	SASLMechanism string
	SASLUser      string
	SASLPassword  string
	// ConnectTimeout bounds the first contact (default 10s).
	ConnectTimeout time.Duration
	// ClientID names the client in broker logs.
	ClientID string
}

// String shows the config with the password hidden, so that a config in a log line or an
// error (%v, %+v, %s) never carries it; GoString and MarshalJSON do the same for %#v and
// JSON (zerolog's Interface).
func (c Config) String() string { return fmt.Sprintf("%+v", c.shown()) }

// GoString is String for %#v.
func (c Config) GoString() string { return fmt.Sprintf("%#v", c.shown()) }

// MarshalJSON is the config as JSON, with the password hidden.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.shown()) }

// shownConfig is Config without its methods, so that printing it does not recurse.
type shownConfig Config

func (c Config) shown() shownConfig {
	if c.SASLPassword != "" {
		c.SASLPassword = "(hidden)"
	}
	return shownConfig(c)
}

// DefaultConfig returns a local, plaintext cluster at 127.0.0.1:9092.
func DefaultConfig() Config {
	return Config{Brokers: []string{"127.0.0.1:9092"}, ConnectTimeout: 10 * time.Second, ClientID: "ridematch"}
}

// ErrConfig is wrapped by every connection configuration error.
var ErrConfig = errors.New("invalid connection settings")

// ErrUnreachable is wrapped when the first contact with the cluster fails.
var ErrUnreachable = errors.New("cannot reach Kafka")

// Opts turns the config into franz-go options, with the logger the client logs through.
func (c Config) Opts(log zerolog.Logger) ([]kgo.Opt, error) {
	if len(c.Brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers given", ErrConfig)
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return nil, fmt.Errorf("%w: broker %q needs a port, as in 127.0.0.1:9092", ErrConfig, b)
		}
	}
	// The client's Info logs are per transaction; only its warnings reach the user.
	if log.GetLevel() < zerolog.WarnLevel {
		log = log.Level(zerolog.WarnLevel)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.WithLogger(kzerolog.New(&log)),
		// Records go uncompressed: every client can read them (Debian's kafka-python has
		// no snappy, franz-go's default), and on loopback compression only costs CPU.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.TLS || c.TLSCA != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCA != "" {
			pem, err := os.ReadFile(c.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("%w: reading the TLS CA: %w", ErrConfig, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrConfig, c.TLSCA)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch m := strings.ToUpper(c.SASLMechanism); m {
	case "":
		if c.SASLUser != "" {
			return nil, fmt.Errorf("%w: a SASL user needs --sasl-mechanism", ErrConfig)
		}
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		if c.SASLUser == "" || c.SASLPassword == "" {
			return nil, fmt.Errorf("%w: SASL %s needs a user and a password (--sasl-password or %s)", ErrConfig, m, PasswordEnv)
		}
		switch m {
		case MechanismPlain:
			opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()))
		case MechanismScramSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism()))
		default:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism()))
		}
	default:
		return nil, fmt.Errorf("%w: SASL mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", ErrConfig, c.SASLMechanism)
	}
	return opts, nil
}

// Connect builds a client with the config's options plus extra, and makes first contact
// within ConnectTimeout, so that a wrong address or credential is one clear error rather
// than a client retrying forever.
func Connect(ctx context.Context, c Config, log zerolog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.Opts(log)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.Ping(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// Ping makes first contact with the cluster through cl within ConnectTimeout.
func (c Config) Ping(ctx context.Context, cl *kgo.Client) error {
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w at %s within %v: %s", ErrUnreachable, strings.Join(c.Brokers, ","), timeout, c.plainCause(err))
	}
	return nil
}

// plainCause is the package's plainCause, with hints for what a bare EOF means when SASL
// is on and what silence means when TLS is on.
func (c Config) plainCause(err error) string {
	// A broker that turns down SASL credentials may just hang up (kfake does), which the
	// client reports as a bare EOF. The client's own guesses (*kgo.ErrFirstReadEOF: TLS or
	// SASL missing) are clearer than this, so they are kept.
	var firstRead *kgo.ErrFirstReadEOF
	if c.SASLMechanism != "" && errors.Is(err, io.EOF) && !errors.As(err, &firstRead) {
		return fmt.Sprintf("the broker closed the connection, most likely turning down SASL %s as %q: check the user, the password and the mechanism",
			strings.ToUpper(c.SASLMechanism), c.SASLUser)
	}
	if (c.TLS || c.TLSCA != "") && errors.Is(err, context.DeadlineExceeded) {
		// A plaintext broker reads a TLS hello as the start of a huge request and waits.
		return "no broker answered over TLS: does the broker speak TLS on that port?"
	}
	return plainCause(err)
}

// plainCause reduces a client error to its last, most specific clause.
func plainCause(err error) string {
	s := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		return "no broker answered"
	}
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i > 12 {
		return s[i+2:]
	}
	return s
}
