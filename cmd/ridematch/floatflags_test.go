package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// floatFlag is a float-valued flag of a command, as the command line names them.
type floatFlag struct {
	args []string // the command's path after "ridematch"
	flag *pflag.Flag
}

// floatFlags walks the real command tree for every flag whose value is a float or a list
// of floats, so that a float flag added later is tested without being listed here.
func floatFlags() []floatFlag {
	var found []floatFlag
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			switch f.Value.Type() {
			case "float64", "float32", "float64Slice", "float32Slice":
				found = append(found, floatFlag{args: strings.Fields(c.CommandPath())[1:], flag: f})
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(io.Discard, io.Discard))
	return found
}

// TestFloatFlags: every float flag of every command refuses NaN, the infinities and
// absurd magnitudes (issue 24: --base-fare NaN panicked the engine on its first match,
// and again on every restart) with exit code 2 and one line naming the setting, before
// the command starts a broker, an engine or a simulator or connects to anything.
func TestFloatFlags(t *testing.T) {
	flags := floatFlags()
	var names []string
	for _, f := range flags {
		names = append(names, strings.Join(f.args, " ")+" --"+f.flag.Name)
	}
	// The walk must find the flags of the issue, or it tests nothing.
	for _, want := range []string{"match --base-fare", "match --per-km", "match --weight-distance", "simulate --rate", "bench --latency-curve"} {
		if !slices.Contains(names, want) {
			t.Fatalf("the walk did not find %s; it found %v", want, names)
		}
	}
	for _, f := range flags {
		for _, v := range []string{"NaN", "+Inf", "-Inf", "1e308", "-1e308"} {
			args := append(slices.Clone(f.args), "--"+f.flag.Name, v)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				start := time.Now()
				// A command that validated nothing would start: the bound ends it.
				code, stdout, stderr := runCommand(t, 2*time.Second, args...)
				if took := time.Since(start); took > time.Second {
					t.Errorf("took %v: the flag was not checked before the command started", took)
				}
				if code != 2 {
					t.Errorf("exit code %d, want 2; stderr: %q", code, stderr)
				}
				lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "ridematch: ") {
					t.Fatalf("stderr is not one ridematch: line: %q", stderr)
				}
				// The error names the setting in the flag's words, in any order:
				// --weight-distance is the "distance weight".
				line := strings.ToLower(lines[0])
				for _, word := range strings.Split(f.flag.Name, "-") {
					if !strings.Contains(line, word) {
						t.Errorf("error %q does not name the setting of --%s (no %q)", lines[0], f.flag.Name, word)
					}
				}
				if stdout != "" {
					t.Errorf("stdout %q, want nothing", stdout)
				}
			})
		}
	}
}
