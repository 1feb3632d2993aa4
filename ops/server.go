// Package ops serves what the people who run a ridematch instance watch: Prometheus
// metrics (/metrics), liveness and readiness (/healthz, /readyz), and a live map of a
// city (/, fed by /events and /api/snapshot) read from the committed topics.
package ops

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch/engine"
)

//go:embed web
var webFiles embed.FS

// Engine is what the server reads of an engine: *engine.Engine, or a fake in tests.
type Engine interface {
	// Ready reports whether every stage has joined its group and rebuilt its partitions.
	Ready() bool
	// Stats returns the engine's counters.
	Stats() engine.Snapshot
}

var _ Engine = (*engine.Engine)(nil)

// Server is the operations HTTP server of one instance.
type Server struct {
	cfg Config
	log zerolog.Logger
	ln  net.Listener

	eng     Engine // set by Run, before anything is served
	clients *kafkaClients
	lag     *lagCollector
	reg     *prometheus.Registry
	feed    *feed
	txns    *prometheus.HistogramVec
}

// New validates the config and listens on cfg.Addr, so that a taken port is an error
// before anything else starts. Run serves; Close gives the port back if Run never runs.
func New(cfg Config, log zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.Cluster.Opts(log); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, fmt.Errorf("cannot serve HTTP on %s: %w", cfg.Addr, err)
	}
	log = log.With().Str("component", "ops").Logger()
	s := &Server{cfg: cfg, log: log, ln: ln, clients: &kafkaClients{}, lag: newLagCollector(), txns: newTransactions()}
	latency := newLatency()
	s.feed = newFeed(cfg, log, latency)
	s.reg = newRegistry(newEngineCollector(func() Engine { return s.eng }), s.clients, s.lag, latency, s.txns)
	return s, nil
}

// Addr is the address the server listens on, with the port chosen when cfg.Addr's was 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ClientHooks gives the kprom hooks for a client a stage builds: engine.Config.ClientHooks.
func (s *Server) ClientHooks(stage string) []kgo.Hook { return s.clients.hooks(stage) }

// Transaction records how a stage's transaction spent its time: engine.Config.OnTransaction.
func (s *Server) Transaction(t engine.TransactionTiming) { observeTransaction(s.txns, t) }

// Close gives the port back; Run does it itself when it returns.
func (s *Server) Close() error { return s.ln.Close() }

// Run serves until ctx is done, with the map's readers and the lag poller running
// beside, and returns nil after a clean stop.
func (s *Server) Run(ctx context.Context, eng Engine) error {
	s.eng = eng
	defer s.ln.Close()
	opts, err := s.cfg.Cluster.Opts(s.log)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before the wait: stop the readers
	wg.Go(func() { s.feed.run(ctx, adm, opts) })
	wg.Go(func() { s.pollLag(ctx, adm) })

	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Requests end with ctx: a waiting /events answers at once.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(s.ln) }()
	s.log.Info().Str("addr", s.Addr()).Msg("serving /metrics, /healthz, /readyz and the live map")
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	}
	stop, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancelStop()
	if err := srv.Shutdown(stop); err != nil {
		srv.Close()
	}
	<-served
	return nil
}

// pollLag refreshes the consumer lag every LagInterval.
func (s *Server) pollLag(ctx context.Context, adm *kadm.Client) {
	var lastWarn time.Time
	t := time.NewTicker(s.cfg.LagInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(s.cfg.LagInterval, 5*time.Second))
		err := s.lag.refresh(rctx, adm, s.cfg.Groups)
		cancel()
		if err != nil && ctx.Err() == nil && time.Since(lastWarn) > time.Minute {
			lastWarn = time.Now()
			s.log.Warn().Err(err).Msg("cannot read consumer lag; keeping the last reading")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		// One collector failing (the cluster unreachable) must not hide the others.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      s.reg,
	})
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(s.reg, metrics))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	web, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic("ops: the embedded web folder is missing: " + err.Error())
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, web, "index.html")
	})
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(web)))
	mux.HandleFunc("GET /api/snapshot", s.snapshot)
	mux.HandleFunc("GET /events", s.events)
	return secure(mux)
}

// secure adds the headers that keep the page to its own origin: it loads nothing from
// anywhere else, and says so.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// readyz is 200 once every stage has joined its group and rebuilt the partitions it
// owns, else 503 with the reason.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.eng.Ready() {
		plain(w, http.StatusOK, "ready")
		return
	}
	assigned := 0
	for _, n := range s.eng.Stats().Assigned {
		assigned += n
	}
	if assigned == 0 {
		plain(w, http.StatusServiceUnavailable, "not ready: joining the consumer groups, no partition assigned yet")
		return
	}
	plain(w, http.StatusServiceUnavailable, fmt.Sprintf("not ready: rebuilding the partitions it owns (%d assigned)", assigned))
}

// snapshot answers /api/snapshot?city=NAME with the city's current snapshot; without a
// city, the busiest.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	s.feed.watch()
	b, _, ok := s.feed.snapshot(r.URL.Query().Get("city"), s.eng.Ready())
	if !ok {
		plain(w, http.StatusNotFound, "no such city: "+r.URL.Query().Get("city"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// events answers /events?city=NAME as server-sent events: the first snapshot newer than
// the client's Last-Event-ID, waiting up to sseWait for it, then the response ends and
// the browser's EventSource comes back after the retry the stream sets, one snapshot
// interval. Short responses keep every request finite: no proxy holds a stream open, and
// a headless browser's virtual clock, which stops while a request is open, runs (the
// browser test and the acceptance check load the page that way).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	city := r.URL.Query().Get("city")
	var last uint64
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		last, _ = strconv.ParseUint(id, 10, 64)
	}
	if !s.feed.knows(city) {
		plain(w, http.StatusNotFound, "no such city: "+city)
		return
	}
	s.feed.watch()
	ctx, cancel := context.WithTimeout(r.Context(), sseWait)
	defer cancel()
	_, fresh := s.feed.wait(ctx, last)
	if r.Context().Err() != nil {
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	retry := s.cfg.SnapshotInterval.Milliseconds()
	if !fresh {
		fmt.Fprintf(w, "retry: %d\n: nothing new\n\n", retry)
		return
	}
	b, seq, _ := s.feed.snapshot(city, s.eng.Ready())
	fmt.Fprintf(w, "retry: %d\nid: %d\ndata: %s\n\n", retry, seq, b)
}

// sseWait bounds how long an /events request waits for a new snapshot.
const sseWait = 15 * time.Second
