package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"ridematch"
	"ridematch/cluster"
)

// globals are the flags every command has.
type globals struct {
	logFormat  string
	logLevel   string
	topicsFile string
	stderr     io.Writer
}

func (g *globals) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.logFormat, "log-format", "console", "log format: console or json")
	fs.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&g.topicsFile, "topics", "", "topics file to use instead of the embedded topics.yaml")
}

// logger builds the one logger a command passes down. Logs go to stderr, so that
// stdout carries only what a command prints (tail's records, tables).
func (g *globals) logger() (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(g.logLevel)
	if err != nil || g.logLevel == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	var w io.Writer
	switch g.logFormat {
	case "json":
		w = g.stderr
	case "console":
		w = zerolog.ConsoleWriter{Out: g.stderr, TimeFormat: "15:04:05.000", NoColor: !isTerminal(g.stderr)}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: use console or json", g.logFormat)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// topics returns the embedded topics.yaml or the --topics file. A file that cannot be read
// or is not valid is a mistake in the command line (exit code 2).
func (g *globals) topics() (ridematch.Topics, error) {
	t, err := ridematch.LoadTopics(g.topicsFile)
	if err != nil {
		return t, usageError{fmt.Errorf("--topics: %w", err)}
	}
	return t, nil
}

// clientFlags are the flags of every command that talks to Kafka.
type clientFlags struct {
	brokers       string
	tls           bool
	tlsCA         string
	saslMechanism string
	saslUser      string
	saslPassword  string
	timeout       time.Duration
}

func (c *clientFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.brokers, "brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	fs.BoolVar(&c.tls, "tls", false, "connect with TLS, verifying brokers against the system roots")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM file of CA certificates to verify brokers with (implies --tls)")
	fs.StringVar(&c.saslMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&c.saslUser, "sasl-user", "", "SASL user")
	fs.StringVar(&c.saslPassword, "sasl-password", "", "SASL password, which ps shows to every user of the machine: prefer "+cluster.PasswordEnv)
	fs.DurationVar(&c.timeout, "connect-timeout", 10*time.Second, "how long to try the first contact with the cluster")
}

func (c *clientFlags) config(clientID string) cluster.Config {
	cfg := cluster.DefaultConfig()
	cfg.Brokers = nil
	for _, b := range strings.Split(c.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	cfg.TLS, cfg.TLSCA = c.tls, c.tlsCA
	cfg.SASLMechanism, cfg.SASLUser, cfg.SASLPassword = c.saslMechanism, c.saslUser, c.saslPassword
	if cfg.SASLPassword == "" {
		cfg.SASLPassword = os.Getenv(cluster.PasswordEnv)
	}
	cfg.ConnectTimeout = c.timeout
	cfg.ClientID = clientID
	return cfg
}

// checkedConfig is config with the settings no client could use (a broker without a port,
// an unreadable CA file, an unknown SASL mechanism) refused as a usage error, before any
// connection is tried.
func (c *clientFlags) checkedConfig(clientID string) (cluster.Config, error) {
	cfg := c.config(clientID)
	if _, err := cfg.Opts(zerolog.Nop()); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// warnPasswordFlag says, when password came as --sasl-password, that the process list
// shows it to every user of the machine. Commands call it once their flags are accepted,
// so that a usage error stays the one line printed. It is a plain line, not a log line,
// so that no --log-level hides it, and it never holds the password.
func warnPasswordFlag(stderr io.Writer, password string) {
	if password == "" {
		return
	}
	fmt.Fprintf(stderr, "ridematch: warning: other users of this machine can read --sasl-password with ps; set %s instead to keep the password out of the process list\n", cluster.PasswordEnv)
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stderr: stderr}
	root := &cobra.Command{
		Use:   "ridematch",
		Short: "Ride matching on Kafka: match riders to the best nearby driver, price by surge, scale as a consumer group",
		Long: `ridematch is the dispatch core of a ride service, built on Kafka.

Drivers stream GPS positions to driver-locations and riders request rides on
ride-requests. The engine (ridematch match) matches each request to the best
nearby compatible driver and writes one outcome per request to ride-matches,
and surge multipliers per H3 cell to surge-pricing. Run several engines to
scale out: they share the work as a consumer group.

Start with: ridematch demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	g.addFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(
		newBrokerCmd(g),
		newTopicsCmd(g),
		newMatchCmd(g),
		newTailCmd(g),
		newDemoCmd(g),
		newBenchCmd(g),
		newSimulateCmd(g),
	)
	return root
}

// usageError marks a mistake in how a command was called (exit code 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// execute runs the command line and returns the process's exit code: 0, 1 for a failure,
// 2 for a usage mistake. Errors are printed as one line, never a stack trace.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "ridematch: %s\n", oneLine(err))
	var u usageError
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "accepts ") {
		return 2
	}
	return 1
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
