package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"ridematch"
	"ridematch/cluster"
	"ridematch/engine"
)

func newTopicsCmd(g *globals) *cobra.Command {
	c := &clientFlags{}
	var replication int16
	var topology bool
	var schemasDir string
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create or verify the topics of topics.yaml on a cluster",
		Long: `Create the topics of topics.yaml that do not exist, with their partitions and
retention, and verify the ones that do. Running it again changes nothing. It
fails if an existing topic's partition count differs from topics.yaml.

With --topology it connects to nothing: it prints the engine's stages as
ridematch match runs them with default settings (each stage's group, the topics
it reads and writes, and how its state is rebuilt), checked against topics.yaml.

With --schemas DIR it connects to nothing: it writes the JSON Schema (draft
2020-12) of each event of each JSON topic into DIR, as topics.yaml names them
(DIR/ride-requests/ride_requested.json, ...), and lists the files.`,
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
			if schemasDir != "" {
				return writeSchemas(cmd, topics, schemasDir)
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
	cmd.Flags().StringVar(&schemasDir, "schemas", "", "write the JSON Schema of each event of each JSON topic into this directory, and exit")
	cmd.Flags().Int16Var(&replication, "replication-factor", -1, "replication factor for new topics (-1: the broker's default)")
	return cmd
}

// writeSchemas writes the embedded schema of each event of each JSON topic under dir, at
// the path topics.yaml names, and prints one line per file.
func writeSchemas(cmd *cobra.Command, topics ridematch.Topics, dir string) error {
	for _, tp := range topics.Topics {
		for _, e := range tp.Events {
			path, ok := tp.Schemas[e]
			if !ok {
				continue // a topic that carries no JSON: Validate allows it no schemas
			}
			b, err := fs.ReadFile(ridematch.Schemas(), path)
			if err != nil {
				return err
			}
			out := filepath.Join(dir, filepath.FromSlash(path))
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\n", tp.Name, e, out)
		}
	}
	return nil
}
