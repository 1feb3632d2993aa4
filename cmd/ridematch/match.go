package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"ridematch/engine"
	"ridematch/ops"
)

// engineFlags map the flags of `ridematch match` (and demo) onto engine.Config.
type engineFlags struct {
	cfg    engine.Config
	stage  string
	status time.Duration
}

func newEngineFlags() *engineFlags { return &engineFlags{cfg: engine.DefaultConfig(), stage: "all"} }

func (f *engineFlags) addFlags(fs *pflag.FlagSet) {
	c := &f.cfg
	m := &c.Matcher
	fs.StringVar(&f.stage, "stage", f.stage, "stages to run: all, router or matcher")
	fs.StringVar((*string)(&c.Clock), "clock", string(c.Clock), "whose timestamps are the engine's clock: broker (the broker's timestamp on topics with LogAppendTime, else the router's receive time) or producer (trust producers' record timestamps: for sped-up simulations and replays)")
	fs.DurationVar(&m.RequestTTL, "request-ttl", m.RequestTTL, "how long an unmatched request waits for a driver before ride_unmatched")
	fs.Float64Var(&m.MaxPickupKM, "max-pickup-km", m.MaxPickupKM, "farthest a driver may be from the pickup")
	fs.DurationVar(&m.DriverTTL, "driver-ttl", m.DriverTTL, "how long a driver's last update keeps it matchable")
	fs.DurationVar(&m.ReservationTimeout, "reservation-timeout", m.ReservationTimeout, "release a matched driver whose updates never show it busy after this long")
	fs.DurationVar(&m.CancelHold, "cancel-hold", m.CancelHold, "how long a cancel that overtook its request is kept for it (0: none)")
	fs.Var(&m.Assignment, "assignment", "how waiting requests get drivers: greedy (each its best driver at once, first come first served), batch (every --batch-window of event time, the assignment of the waiting requests with the highest total score) or adaptive (at once unless a waiting request could take the same driver, else in the window)")
	fs.DurationVar(&m.BatchWindow, "batch-window", m.BatchWindow, "how often batch and adaptive assignment solve the waiting requests, in event time")
	fs.DurationVar(&m.OfferTimeout, "offer-timeout", m.OfferTimeout, "0: a match is final when it is made. Above 0 (and below --driver-ttl): the chosen driver is offered the ride on driver-offers and has this long, in event time, to accept on driver-responses; a decline or silence offers it to the next best driver")
	fs.IntVar(&m.MaxOffers, "max-offers", m.MaxOffers, "with offers on, how many drivers one request is offered to before it ends ride_unmatched")
	fs.BoolVar(&m.SoftCompatibility, "soft-compatibility", m.SoftCompatibility, "make vehicle compatibility the reference's +15 score bonus instead of a hard filter")
	fs.Float64Var(&m.Weights.DistancePerKM, "weight-distance", m.Weights.DistancePerKM, "score lost per km of pickup distance")
	fs.Float64Var(&m.Weights.Rating, "weight-rating", m.Weights.Rating, "score gained per rating point above 4.0")
	fs.Float64Var(&m.Weights.Compatible, "weight-compatible", m.Weights.Compatible, "score gained by a compatible vehicle")
	fs.Float64Var(&m.SpeedKMH, "eta-speed", m.SpeedKMH, "average city speed for ETAs, km/h")
	fs.Float64Var(&m.PeakFactor, "peak-factor", m.PeakFactor, "speed factor in local peak hours (8-11, 17-21)")
	fs.IntVar(&m.PickupBufferMin, "pickup-buffer", m.PickupBufferMin, "minutes added to every ETA")
	fs.Float64Var(&m.BaseFare, "base-fare", m.BaseFare, "fare before distance and surge")
	fs.Float64Var(&m.PerKM, "per-km", m.PerKM, "fare per trip km")
	fs.IntVar(&m.Resolutions.Index, "index-res", m.Resolutions.Index, "H3 resolution of the driver index")
	fs.IntVar(&m.Resolutions.Surge, "surge-res", m.Resolutions.Surge, "H3 resolution of surge cells")
	fs.IntVar(&m.Resolutions.Region, "region-res", m.Resolutions.Region, "H3 resolution of regions, the unit of partitioning; all instances must agree")
	fs.DurationVar(&m.Surge.Window, "surge-window", m.Surge.Window, "how far back requests count as demand")
	fs.DurationVar(&m.Surge.Interval, "surge-interval", m.Surge.Interval, "how often surge is re-evaluated")
	fs.Float64Var(&m.Surge.Cap, "surge-cap", m.Surge.Cap, "highest surge multiplier")
	fs.Float64Var(&m.Surge.Step, "surge-step", m.Surge.Step, "surge multiplier granularity")
	fs.DurationVar(&c.TickInterval, "tick-interval", c.TickInterval, "how often the router writes its input partitions' watermarks into every region-log partition")
	fs.DurationVar(&c.CatchUpLag, "catch-up-lag", c.CatchUpLag, "records older than this are routed in strict log-time order across input partitions (a backlog, read as it happened); younger ones go at once")
	fs.IntVar(&c.MaxBatch, "max-batch", c.MaxBatch, "most records consumed in one transaction")
	fs.Int32Var(&c.FetchMaxPartitionBytes, "fetch-partition-bytes", c.FetchMaxPartitionBytes, "most bytes one fetch takes of each partition; small keeps a request from waiting behind a backlog of driver updates")
	fs.StringVar(&c.InstanceID, "instance-id", "", "name of this instance in transactional ids (default host-pid-random)")
	fs.DurationVar(&f.status, "status-interval", 10*time.Second, "log a status line this often (0: never)")
}

// config resolves the flags into a validated engine.Config.
func (f *engineFlags) config(g *globals, c *clientFlags) (engine.Config, error) {
	cfg := f.cfg
	switch f.stage {
	case "all":
	case "router":
		cfg.RunMatcher = false
	case "matcher":
		cfg.RunRouter = false
	default:
		return cfg, usageError{fmt.Errorf("--stage %q: use all, router or matcher", f.stage)}
	}
	topics, err := g.topics()
	if err != nil {
		return cfg, err
	}
	cfg.Topics = topics
	// The router shares the matcher's driver TTL, resolutions and reach: one flag sets both.
	cfg.Router.DriverTTL = cfg.Matcher.DriverTTL
	cfg.Router.Resolutions = cfg.Matcher.Resolutions
	cfg.Router.ReachKM = cfg.Matcher.MaxPickupKM
	if cfg.Cluster, err = c.checkedConfig("ridematch-match"); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func newMatchCmd(g *globals) *cobra.Command {
	c := &clientFlags{}
	f := newEngineFlags()
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "match",
		Short: "Run one engine instance: the router and matcher stages, as consumer-group members",
		Long: `Run one ridematch engine instance. It joins the consumer groups ridematch-router
and ridematch-matcher; run more instances to share the work. Each request on
ride-requests gets exactly one outcome on ride-matches (ride_matched,
ride_unmatched or ride_cancelled), and surge changes go to surge-pricing.
SIGTERM or Ctrl-C finishes the batch in hand, commits, and leaves the groups.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return usageError{err}
			}
			cfg, err := f.config(g, c)
			if err != nil {
				return err
			}
			var srv *ops.Server
			if httpAddr != "" {
				if srv, err = ops.New(ops.FromEngine(httpAddr, cfg), log); err != nil {
					if errors.Is(err, ops.ErrConfig) {
						return usageError{fmt.Errorf("--http: %w", err)}
					}
					return err
				}
				cfg.ClientHooks, cfg.OnTransaction = srv.ClientHooks, srv.Transaction
			}
			warnPasswordFlag(g.stderr, c.saslPassword)
			e, err := engine.New(cfg, log)
			if err != nil {
				if srv != nil {
					srv.Close()
				}
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				logStatus(ctx, log, e, f.status)
			}()
			served := make(chan error, 1)
			go func() {
				if srv == nil {
					served <- nil
					return
				}
				// A server that cannot serve stops the engine: it was asked for.
				err := srv.Run(ctx, e)
				if err != nil {
					cancel()
				}
				served <- err
			}()
			log.Info().Str("brokers", c.brokers).Str("stage", f.stage).Msg("engine starting")
			err = e.Run(ctx)
			cancel()
			<-stopped
			err = errors.Join(err, <-served)
			if err != nil {
				return err
			}
			log.Info().Msg("engine stopped")
			return nil
		},
	}
	c.addFlags(cmd.Flags())
	f.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve /metrics (Prometheus), /healthz, /readyz and the live map on this address, e.g. 127.0.0.1:8080 (default off)")
	return cmd
}

// logStatus logs the engine's counters every interval until ctx is done.
func logStatus(ctx context.Context, log zerolog.Logger, e *engine.Engine, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last engine.Snapshot
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := e.Stats()
		ev := log.Info()
		if s.Offers > 0 {
			ev = ev.Uint64("offered", s.Offers-last.Offers).Uint64("offers_accepted", s.OffersAccepted-last.OffersAccepted)
		}
		ev.
			Uint64("drivers_in", s.DriverUpdates-last.DriverUpdates).
			Uint64("requests_in", s.Requests-last.Requests).
			Uint64("matched", s.Matched-last.Matched).
			Uint64("unmatched", s.Unmatched-last.Unmatched).
			Uint64("dead_lettered", s.DeadLetteredTotal()-last.DeadLetteredTotal()).
			Int("pending", s.Pending).
			Int("drivers", s.Drivers).
			Int("surge_cells", s.SurgeCells).
			Interface("partitions", s.Assigned).
			Msg("status")
		last = s
	}
}
