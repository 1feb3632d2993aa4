package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"ridematch/broker"
	"ridematch/cluster"
)

type brokerOptions struct {
	listen, dataDir   string
	tlsCert, tlsKey   string
	saslUser, saslPwd string
}

func (o *brokerOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9092", "address to listen on; a non-loopback address needs --sasl-user")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory that keeps the broker's data across restarts (default: in memory)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate to serve TLS with")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.saslUser, "sasl-user", "", "require SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) as this user")
	fs.StringVar(&o.saslPwd, "sasl-password", "", "password of --sasl-user, which ps shows to every user of the machine: prefer "+cluster.PasswordEnv)
}

func newBrokerCmd(g *globals) *cobra.Command {
	o := &brokerOptions{}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker, with the topics of topics.yaml",
		Long: `Run an embedded Kafka-protocol broker (franz-go's kfake) in this process, with the
topics of topics.yaml created. Any Kafka client can use it in plaintext or over
TLS: the engine, kcat, kafka-python. With --sasl-user only franz-go clients, such
as the engine, log in: kfake serves SaslHandshake v1 only, and kcat and
kafka-python 2.0 ask for v0. Data lives in memory unless --data-dir is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return usageError{err}
			}
			topics, err := g.topics()
			if err != nil {
				return err
			}
			cfg := broker.DefaultConfig()
			cfg.Listen, cfg.DataDir, cfg.Topics = o.listen, o.dataDir, topics
			cfg.TLSCert, cfg.TLSKey = o.tlsCert, o.tlsKey
			cfg.SASLUser, cfg.SASLPassword = o.saslUser, o.saslPwd
			if cfg.SASLUser != "" && cfg.SASLPassword == "" {
				cfg.SASLPassword = os.Getenv(cluster.PasswordEnv)
			}
			b, err := broker.Start(cmd.Context(), cfg, log)
			if errors.Is(err, broker.ErrConfig) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			defer b.Close()
			warnPasswordFlag(g.stderr, o.saslPwd)
			security := "plaintext"
			switch {
			case cfg.TLSCert != "" && cfg.SASLUser != "":
				security = "TLS and SASL"
			case cfg.TLSCert != "":
				security = "TLS"
			case cfg.SASLUser != "":
				security = "SASL"
			}
			storage := "in memory"
			if cfg.DataDir != "" {
				storage = "in " + cfg.DataDir
			}
			log.Info().Str("listen", b.Addr()).Str("security", security).Str("data", storage).Int("topics", len(topics.Topics)).Msg("broker ready")
			fmt.Fprintf(cmd.OutOrStdout(), "broker listening on %s (%s, data %s); Ctrl-C stops it\n", b.Addr(), security, storage)
			<-cmd.Context().Done()
			log.Info().Msg("broker stopping")
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}
