// Package broker runs ridematch's embedded Kafka-protocol broker: franz-go's kfake in
// process, seeded with the topics of topics.yaml and tuned so consumer groups rebalance in
// well under a second. It serves any Kafka client (kcat, kafka-python, the engine itself).
package broker

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/cluster"
)

// Config holds the broker's settings.
type Config struct {
	// Listen is the address to listen on (default 127.0.0.1:9092; port 0 picks one).
	Listen string
	// DataDir keeps the log across restarts; empty keeps everything in memory.
	DataDir string
	// Topics are created at start.
	Topics ridematch.Topics
	// TLSCert and TLSKey, both PEM files, turn TLS on.
	TLSCert, TLSKey string
	// SASLUser and SASLPassword turn SASL on: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for
	// that user, and nothing for anyone without credentials.
	SASLUser, SASLPassword string
	// RetentionCheck is how often retention is enforced (default 1m).
	RetentionCheck time.Duration
}

// String shows the config with the password hidden, so that a config in a log line or an
// error (%v, %+v, %s) never carries it; GoString and MarshalJSON do the same for %#v and
// JSON (zerolog's Interface).
func (cfg Config) String() string { return fmt.Sprintf("%+v", cfg.shown()) }

// GoString is String for %#v.
func (cfg Config) GoString() string { return fmt.Sprintf("%#v", cfg.shown()) }

// MarshalJSON is the config as JSON, with the password hidden.
func (cfg Config) MarshalJSON() ([]byte, error) { return json.Marshal(cfg.shown()) }

// shownConfig is Config without its methods, so that printing it does not recurse.
type shownConfig Config

func (cfg Config) shown() shownConfig {
	if cfg.SASLPassword != "" {
		cfg.SASLPassword = "(hidden)"
	}
	return shownConfig(cfg)
}

// DefaultConfig returns a plaintext in-memory broker on 127.0.0.1:9092.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:9092", Topics: ridematch.DefaultTopics(), RetentionCheck: time.Minute}
}

// ErrConfig is wrapped by every broker configuration error.
var ErrConfig = errors.New("invalid broker settings")

// Broker is a running embedded broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// Validate rejects settings that cannot work or are unsafe, as Start does before anything
// listens: a command that starts other things first checks them up front.
func (cfg Config) Validate() error {
	_, _, err := cfg.validate()
	return err
}

// validate rejects settings that cannot work or are unsafe, before anything listens, and
// returns the host and port to listen on.
func (cfg Config) validate() (host string, port int, err error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "", 0, fmt.Errorf("%w: --listen %q is not host:port", ErrConfig, cfg.Listen)
	}
	port, err = strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%w: --listen %q has no valid port", ErrConfig, cfg.Listen)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%w: --listen needs an explicit host; use 127.0.0.1 for this machine only", ErrConfig)
	}
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	loopback := ip != nil && ip.IsLoopback()
	sasl := cfg.SASLUser != "" || cfg.SASLPassword != ""
	if sasl && (cfg.SASLUser == "" || cfg.SASLPassword == "") {
		return "", 0, fmt.Errorf("%w: SASL needs both a user and a password", ErrConfig)
	}
	if !loopback && !sasl {
		return "", 0, fmt.Errorf("%w: refusing to listen on %s, which is not loopback, without SASL credentials", ErrConfig, host)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return "", 0, fmt.Errorf("%w: TLS needs both --tls-cert and --tls-key", ErrConfig)
	}
	return host, port, nil
}

// Start starts the broker and creates its topics.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Broker, error) {
	host, port, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	sasl := cfg.SASLUser != ""

	check := cfg.RetentionCheck
	if check <= 0 {
		check = time.Minute
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.ClusterID("ridematch"),
		kfake.WithLogger(logger{log}),
		// A classic group rebalances when every member has heard of it at a heartbeat;
		// clients heartbeat every 500ms (engine.Config). Next-generation (KIP-848)
		// members hear it at the broker's heartbeat interval, 5s by default: lower it.
		// kfake keeps each log segment in one buffer that doubles as it grows, in its one
		// request loop: at the default 100 MiB, a doubling allocates and copies tens of
		// megabytes while every client waits. 1 MiB segments keep each such stall short
		// (BENCHMARKS.md, "Settings behind the figures").
		kfake.BrokerConfigs(map[string]string{
			"group.consumer.heartbeat.interval.ms": "250",
			"log.segment.bytes":                    strconv.Itoa(1 << 20),
			"log.cleaner.backoff.ms":               strconv.FormatInt(check.Milliseconds(), 10),
		}),
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	// Seeded topics exist before the port accepts its first connection, so a client that
	// waits for the port finds them. Their retention is set just after (below).
	for _, t := range cfg.Topics.Topics {
		opts = append(opts, kfake.SeedTopics(t.Partitions, t.Name))
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%w: loading the TLS key pair: %w", ErrConfig, err)
		}
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	if sasl {
		opts = append(opts, kfake.EnableSASL(),
			kfake.Superuser(cluster.MechanismPlain, cfg.SASLUser, cfg.SASLPassword),
			kfake.Superuser(cluster.MechanismScramSHA256, cfg.SASLUser, cfg.SASLPassword),
			kfake.Superuser(cluster.MechanismScramSHA512, cfg.SASLUser, cfg.SASLPassword),
		)
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("cannot listen on %s: %w", cfg.Listen, ne.Err)
		}
		return nil, fmt.Errorf("starting the broker: %w", err)
	}
	b := &Broker{c: c, addr: c.ListenAddrs()[0]}

	// Create the topics through the broker's own protocol, as `ridematch topics` would.
	cc := cluster.DefaultConfig()
	cc.Brokers = []string{b.addr}
	cc.ClientID = "ridematch-broker"
	if sasl {
		cc.SASLMechanism, cc.SASLUser, cc.SASLPassword = cluster.MechanismScramSHA256, cfg.SASLUser, cfg.SASLPassword
	}
	if err := b.createTopics(ctx, cc, cfg, log); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) createTopics(ctx context.Context, cc cluster.Config, cfg Config, log zerolog.Logger) error {
	var extra []kgo.Opt
	if cfg.TLSCert != "" {
		// This is the broker talking to itself in its own process: there is no one in
		// between to verify, and the certificate need not name the loopback address.
		extra = append(extra, kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec
	}
	cl, err := cluster.Connect(ctx, cc, log, extra...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// kfake stamps no record with its own time (a LogAppendTime topic's records would keep
	// their producers' timestamps), so no topic here says it does.
	sts, err := cluster.EnsureTopics(ctx, cl, cfg.Topics.WithProducerTimestamps(), 1)
	for _, st := range sts {
		if st.Mismatch != "" {
			log.Warn().Str("topic", st.Topic.Name).Msg(st.Mismatch)
		}
	}
	if err != nil && !errors.Is(err, cluster.ErrTopicMismatch) {
		return err
	}
	adm := kadm.NewClient(cl)
	for _, t := range cfg.Topics.Topics {
		if t.Retention <= 0 {
			continue
		}
		ms := strconv.FormatInt(t.Retention.Milliseconds(), 10)
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &ms}}, t.Name)
		if err == nil {
			for _, r := range rs {
				err = errors.Join(err, r.Err)
			}
		}
		if err != nil {
			return fmt.Errorf("setting the retention of %s: %w", t.Name, err)
		}
	}
	return nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Cluster exposes the kfake cluster, for tests that inject faults.
func (b *Broker) Cluster() *kfake.Cluster { return b.c }

// Close stops the broker; with a data dir, its state is flushed to disk first.
func (b *Broker) Close() { b.c.Close() }

type logger struct{ log zerolog.Logger }

func (l logger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var e *zerolog.Event
	switch level {
	case kfake.LogLevelError:
		e = l.log.Error()
	case kfake.LogLevelWarn:
		e = l.log.Warn()
	default:
		return
	}
	e.Msgf(msg, args...)
}
