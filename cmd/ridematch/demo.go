package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"ridematch"
	"ridematch/broker"
	"ridematch/engine"
	"ridematch/ops"
	"ridematch/simulator"
)

type demoOptions struct {
	listen    string
	http      string
	instances int
	sim       simulateOptions
	engine    *engineFlags
}

func newDemoCmd(g *globals) *cobra.Command {
	o := &demoOptions{sim: simulateOptions{cfg: simulator.DefaultConfig()}, engine: newEngineFlags()}
	// The demo's only producer is its own simulator, whose records carry simulated time.
	o.engine.cfg.Clock = engine.ClockProducer
	// Offers on: the engine offers each request to a driver and the simulated drivers
	// answer, as a real fleet's phones would.
	o.engine.cfg.Matcher.OfferTimeout = 15 * time.Second
	// A demo should show matches from the first seconds and, within a minute, a city
	// under load: surge cells, drivers busy, rides completing. Simulated time runs ten
	// times faster than the wall clock so a minute holds ten minutes of the city.
	o.sim.cfg.Drivers, o.sim.cfg.Rate, o.sim.cfg.Speedup = 3000, 4, 10
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything in one process: broker, simulator and two engine instances, with a live map and summary",
		Long: `Run the whole of ridematch in this process: the embedded broker (on --listen, so
kcat and other clients can watch), two engine instances sharing the work as one
consumer group, and the simulator driving a city. Its first line is the address of
the live map (--http; open it in a browser), which serves /metrics, /healthz and
/readyz too, as match --http does. It prints a summary line each second and a final
summary at --duration or Ctrl-C.

Driver offers are on (--offer-timeout 15s): the engine offers each request to its
chosen driver on driver-offers, and the simulated drivers answer on
driver-responses, accepting --accept-rate of them and declining or ignoring the
others. The summary line shows the offers the simulated drivers read a second and
the share of their answers that were accepts: accepted ÷ (accepted + declined),
counted by the simulator from the records it read and wrote. Offers left to lapse
have no answer and do not count, so with the default --accept-rate 0.85, of whose
other offers 3 in 4 are declined, it shows about 88%.`,
		Example: `  ridematch demo
  ridematch demo --duration 1m --city all --drivers 20000 --rate 10
  kcat -b 127.0.0.1:9092 -C -t ride-matches -X isolation.level=read_committed   # beside it
  ridematch demo --http 127.0.0.1:0 --listen 127.0.0.1:0   # beside another demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return usageError{err}
			}
			if o.instances < 1 {
				return usageError{errors.New("--instances must be at least 1")}
			}
			topics, err := g.topics()
			if err != nil {
				return err
			}
			simCfg := o.sim.cfg
			simCfg.Topics = topics
			if err := simCfg.Validate(); err != nil {
				return usageError{err}
			}
			engCfg, err := o.engine.config(g, &clientFlags{brokers: "127.0.0.1:9092", timeout: 10 * time.Second})
			if err != nil {
				return err
			}
			// Every flag is checked before the map's port is taken: a mistake is the
			// error shown, not a busy port.
			bcfg := topicsBroker(topics, o.listen)
			if err := bcfg.Validate(); err != nil {
				return usageError{err}
			}
			if o.http != "" {
				if err := ops.FromEngine(o.http, engCfg).Validate(); err != nil {
					return usageError{fmt.Errorf("--http: %w", err)}
				}
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), log, o, bcfg, engCfg, simCfg)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9092", "address of the embedded broker (port 0 picks a free one)")
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", `serve the live map, /metrics (Prometheus), /healthz and /readyz on this address (port 0 picks a free one; "" serves nothing)`)
	fs.IntVar(&o.instances, "instances", 2, "engine instances in the group")
	o.sim.addFlags(fs)
	fs.DurationVar(&o.engine.cfg.Matcher.RequestTTL, "request-ttl", o.engine.cfg.Matcher.RequestTTL, "how long an unmatched request waits for a driver")
	fs.DurationVar(&o.engine.cfg.Matcher.OfferTimeout, "offer-timeout", o.engine.cfg.Matcher.OfferTimeout, "how long a driver has to accept an offer before it goes to the next driver (0: no offers, a match is final at once)")
	fs.Float64Var(&o.engine.cfg.Matcher.MaxPickupKM, "max-pickup-km", o.engine.cfg.Matcher.MaxPickupKM, "farthest a driver may be from the pickup")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, log zerolog.Logger, o *demoOptions, bcfg broker.Config, engCfg engine.Config, simCfg simulator.Config) error {
	ctx, stopDemo := context.WithCancel(ctx)
	defer stopDemo()
	var mapPort net.Listener
	if o.http != "" {
		var err error
		if mapPort, err = holdMapPort(o.http); err != nil {
			return err
		}
		defer mapPort.Close() // if the map's server never takes it over
	}
	b, err := startDemoBroker(ctx, bcfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	engCfg.Cluster.Brokers = []string{b.Addr()}
	simCfg.Cluster.Brokers = []string{b.Addr()}

	// The engines and the map log only their warnings: the summary line is the demo's voice.
	quiet := log
	if log.GetLevel() < zerolog.WarnLevel {
		quiet = log.Level(zerolog.WarnLevel)
	}
	var srv *ops.Server
	if mapPort != nil {
		if srv, err = openMap(mapPort, engCfg, quiet); err != nil {
			return err
		}
		defer srv.Close() // if Run never runs
		fmt.Fprintf(out, "live map: http://%s/\n", srv.Addr())
		engCfg.ClientHooks, engCfg.OnTransaction = srv.ClientHooks, srv.Transaction
	}
	engines, err := startDemoEngines(ctx, o.instances, engCfg, quiet)
	if err != nil {
		return err
	}
	defer engines.stop()
	if srv != nil {
		engines.serveMap(srv, stopDemo)
	}

	fmt.Fprintf(out, "ridematch demo: broker on %s, %d engine instances, %d drivers in %s, %g requests a simulated second, simulated time x%g. Ctrl-C stops.\n",
		b.Addr(), o.instances, simCfg.Drivers, simCfg.City, simCfg.Rate, simCfg.Speedup)
	fmt.Fprintf(out, "watch the outcomes beside it: kcat -b %s -C -t %s -X isolation.level=read_committed\n\n", b.Addr(), engCfg.Topics.Name(ridematch.RoleRideMatches))

	waitSettled(ctx, engines)
	progress := &demoProgress{out: out, engines: engines, lastAt: time.Now()}
	sim, err := simulator.New(simCfg, quiet)
	if err != nil {
		return err
	}
	st, simErr := sim.Run(ctx, progress.line)
	engErr := engines.stop()
	printDemoSummary(out, o.instances, st, engines.Stats())
	if simErr != nil {
		return simErr
	}
	return engErr
}

// holdMapPort listens on the live map's address before anything else starts, so that a
// busy port is the demo's first and only error. The map's server reads the broker, whose
// address is known only once it runs: openMap hands the port over to it then.
func holdMapPort(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err // "address already in use", without the net.OpError's "listen tcp" and "bind"
		}
		return nil, fmt.Errorf(`cannot serve the live map on %s: %w (pass --http 127.0.0.1:0 for a free port, or --http "" for no map)`, addr, err)
	}
	return ln, nil
}

// openMap starts the live map's server, for the engines of cfg, on the port held.
func openMap(held net.Listener, cfg engine.Config, log zerolog.Logger) (*ops.Server, error) {
	addr := held.Addr().String()
	if err := held.Close(); err != nil {
		return nil, err
	}
	return ops.New(ops.FromEngine(addr, cfg), log)
}

// startDemoBroker starts the demo's embedded broker.
func startDemoBroker(ctx context.Context, cfg broker.Config, log zerolog.Logger) (*broker.Broker, error) {
	b, err := broker.Start(ctx, cfg, log)
	if errors.Is(err, broker.ErrConfig) {
		return nil, usageError{err}
	}
	if err != nil {
		if cfg.Listen == "127.0.0.1:9092" {
			return nil, fmt.Errorf("%w (is another broker running? pass --listen 127.0.0.1:0 for a free port)", err)
		}
		return nil, err
	}
	return b, nil
}

// demoEngines are the demo's engine instances, sharing the work as one consumer group,
// and the live map's server, run until stop. The summary and the map see the instances
// as one engine: their counters added up, ready when every instance is.
type demoEngines struct {
	engines []*engine.Engine
	ctx     context.Context // ends at stop
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	err    error // the last failure of an instance
	mapErr error
}

// startDemoEngines starts n instances of cfg. They run on past ctx's end, until stop: the
// simulator, which stops with ctx, waits for the outcomes of its last requests.
func startDemoEngines(ctx context.Context, n int, cfg engine.Config, log zerolog.Logger) (*demoEngines, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &demoEngines{ctx: ctx, cancel: cancel}
	for i := range n {
		c := cfg
		if i > 0 {
			// The map's server exports one client of each stage, as an instance has:
			// the first instance's stand for the demo's.
			c.ClientHooks = nil
		}
		c.InstanceID = fmt.Sprintf("demo-%d-%d", i+1, time.Now().UnixNano())
		e, err := engine.New(c, log.With().Int("instance", i+1).Logger())
		if err != nil {
			d.stop()
			return nil, err
		}
		d.engines = append(d.engines, e)
		d.wg.Go(func() {
			if err := e.Run(ctx); err != nil {
				d.mu.Lock()
				d.err = err
				d.mu.Unlock()
			}
		})
	}
	return d, nil
}

// serveMap serves the live map of the instances until stop. A map that cannot be served
// calls failed, which ends the demo: it was asked for.
func (d *demoEngines) serveMap(srv *ops.Server, failed func()) {
	d.wg.Go(func() {
		if err := srv.Run(d.ctx, d); err != nil {
			d.mu.Lock()
			d.mapErr = fmt.Errorf("the live map: %w", err)
			d.mu.Unlock()
			failed()
		}
	})
}

// stop stops the instances and the map, waits for them and returns their failures.
func (d *demoEngines) stop() error {
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.err, d.mapErr)
}

// failure is the last failure of an instance so far.
func (d *demoEngines) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Ready reports whether every instance is ready.
func (d *demoEngines) Ready() bool {
	for _, e := range d.engines {
		if !e.Ready() {
			return false
		}
	}
	return true
}

// Stats adds up the instances' counters.
func (d *demoEngines) Stats() engine.Snapshot {
	var s engine.Snapshot
	for _, e := range d.engines {
		s.Add(e.Stats())
	}
	return s
}

// waitSettled waits, 30 s at most, until the groups have settled, so that the first
// requests do not wait out their first rebalances: every instance owns partitions of
// both stages and has rebuilt them, and the assignment has not moved for a second (a
// cooperative rebalance moves partitions in two rounds, and an instance is ready between
// them).
func waitSettled(ctx context.Context, d *demoEngines) {
	var (
		assignment string
		since      time.Time
	)
	for wait := time.Now(); time.Since(wait) < 30*time.Second && ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		settled, now := true, ""
		for _, e := range d.engines {
			a := e.Stats().Assigned
			settled = settled && e.Ready() && a["router"] > 0 && a["matcher"] > 0
			now += fmt.Sprintf("%d/%d ", a["router"], a["matcher"])
		}
		if !settled || now != assignment {
			assignment, since = now, time.Now()
			continue
		}
		if time.Since(since) >= time.Second {
			return
		}
	}
}

// demoProgress prints the demo's summary line each time the simulator reports.
type demoProgress struct {
	out     io.Writer
	engines *demoEngines
	last    engine.Snapshot // the counters at the last line, for the input rate since
	lastAt  time.Time
}

func (p *demoProgress) line(s simulator.Stats) {
	now := time.Now()
	e := p.engines.Stats()
	in := float64(e.DriverUpdates+e.Requests+e.Cancels-p.last.DriverUpdates-p.last.Requests-p.last.Cancels) / now.Sub(p.lastAt).Seconds()
	p.last, p.lastAt = e, now
	fmt.Fprintf(p.out, "%6s  in %7.0f ev/s  matched %6d  unmatched %4d  cancelled %4d  waiting %3d  latency p50 %6s p99 %6s  offers %5.1f/s accepted %4s  surge cells %3d  busy %d/%d\n",
		s.Elapsed.Round(time.Second), in, e.Matched, e.Unmatched, e.Cancelled, e.Pending,
		simLatency(s.LatencyP50), simLatency(s.LatencyP99), s.OffersPerSec, acceptance(s.Counts), e.SurgeCells, s.Busy, s.Drivers)
	if err := p.engines.failure(); err != nil {
		fmt.Fprintf(p.out, "an engine stopped: %v\n", err)
	}
}

// printDemoSummary prints the demo's final summary.
func printDemoSummary(out io.Writer, instances int, st simulator.Stats, e engine.Snapshot) {
	fmt.Fprintf(out, "\ndemo finished after %s\n", st.Elapsed.Round(time.Second))
	fmt.Fprintf(out, "  input     %d driver updates, %d requests, %d cancels (%.0f events/s)\n",
		e.DriverUpdates, e.Requests, e.Cancels, float64(e.DriverUpdates+e.Requests+e.Cancels)/max(st.Elapsed.Seconds(), 1))
	fmt.Fprintf(out, "  outcomes  %d matched, %d unmatched, %d cancelled; %d requests still waiting when it stopped\n",
		e.Matched, e.Unmatched, e.Cancelled, e.Pending)
	fmt.Fprintf(out, "  latency   p50 %s, p99 %s (request produced to outcome read back)\n", simLatency(st.LatencyP50), simLatency(st.LatencyP99))
	fmt.Fprintf(out, "  offers    %d to the simulated drivers: %d accepted, %d declined, %d left to lapse, %d withdrawn, %d unanswered at the end (%s of the answers accepts)\n",
		st.Offers, st.Accepted, st.Declined, st.Ignored, st.Withdrawn, st.Answering, acceptance(st.Counts))
	fmt.Fprintf(out, "  rides     %d completed, %d drivers busy at the end\n", st.RidesCompleted, st.Busy)
	fmt.Fprintf(out, "  engines   %d instances, %d partitions restored, %d transactions aborted by rebalances\n", instances, e.Restores, e.Aborted)
}

// acceptance is the share of the simulated drivers' answers that were accepts, accepted ÷
// (accepted + declined), as a percentage; "-" before any answer. Both are counted as they
// are sent: a lapse would count at once, long before the accepts offered with it.
func acceptance(c simulator.Counts) string {
	answered := c.Accepted + c.Declined
	if answered == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(c.Accepted)/float64(answered))
}

func topicsBroker(topics ridematch.Topics, listen string) broker.Config {
	cfg := broker.DefaultConfig()
	cfg.Listen, cfg.Topics = listen, topics
	return cfg
}
