package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"ridematch/cluster"
	"ridematch/engine"
)

func newTopicsCmd(g *globals) *cobra.Command {
	c := &clientFlags{}
	var replication int16
	var topology bool
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create or verify the topics of topics.yaml on a cluster",
		Long: `Create the topics of topics.yaml that do not exist, with their partitions and
retention, and verify the ones that do. Running it again changes nothing. It
fails if an existing topic's partition count differs from topics.yaml.

With --topology it connects to nothing: it prints the engine's stages as
ridematch match runs them with default settings (each stage's group, the topics
it reads and writes, and how its state is rebuilt), checked against topics.yaml.`,
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
			if topology {
				cfg := engine.DefaultConfig()
				cfg.Topics = topics
				t := engine.DefaultTopology(&cfg)
				if err := t.Validate(topics); err != nil {
					return err
				}
				return t.Print(cmd.OutOrStdout(), topics)
			}
			cc, err := c.checkedConfig("ridematch-topics")
			if err != nil {
				return err
			}
			warnPasswordFlag(g.stderr, c.saslPassword)
			cl, err := cluster.Connect(cmd.Context(), cc, log)
			if err != nil {
				return err
			}
			defer cl.Close()
			sts, err := cluster.EnsureTopics(cmd.Context(), cl, topics, replication)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRETENTION\tKEY\tSTATUS")
			for _, st := range sts {
				status := "ok"
				switch {
				case st.Created:
					status = "created"
				case st.Mismatch != "":
					status = "MISMATCH: " + st.Mismatch
				}
				fmt.Fprintf(tw, "%s\t%d\t%v\t%s\t%s\n", st.Topic.Name, st.Partitions, st.Topic.Retention, st.Topic.Key, status)
			}
			tw.Flush()
			if errors.Is(err, cluster.ErrTopicMismatch) {
				return fmt.Errorf("%w: recreate it or change topics.yaml", err)
			}
			return err
		},
	}
	c.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&topology, "topology", false, "print the engine's stages and the topics each reads and writes, and exit")
	cmd.Flags().Int16Var(&replication, "replication-factor", -1, "replication factor for new topics (-1: the broker's default)")
	return cmd
}
