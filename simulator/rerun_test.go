package simulator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"ridematch"
	"ridematch/event"
)

// TestCheckEarlierRun: ride-matches holds outcomes, committed and aborted, of requests of
// several seeds and times; a run is refused exactly when an outcome the engine still
// remembers (decided within its dedup window before now, or after now) is of a request
// the run would send.
func TestCheckEarlierRun(t *testing.T) {
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := startBroker(t, ctx, log)
	defer b.Close()
	topic := ridematch.DefaultTopics().Name(ridematch.RoleRideMatches)
	now := time.Now().Truncate(time.Second)
	stamp := func(d time.Duration) string { return now.Add(d).UTC().Format("2006-01-02T15:04:05.000000Z") }
	outcome := func(kind, id string, at time.Duration) *kgo.Record {
		field := "timestamp"
		if kind == "ride_matched" {
			field = "match_timestamp"
		}
		return &kgo.Record{Key: []byte(id), Value: fmt.Appendf(nil, `{"event_type":%q,"request_id":%q,%q:%q,"reason":"x"}`, kind, id, field, stamp(at))}
	}
	// A replay of nyc_20k_head.csv from 00:05 with seed 4, to know which rows its window
	// holds.
	replayCfg := replayConfig(nycHead, 10)
	replayCfg.Seed, replayCfg.ReplayFrom, replayCfg.MaxRequests = 4, "2014-12-21 00:05", 40
	rp, err := LoadReplay(replayCfg)
	if err != nil {
		t.Fatal(err)
	}
	inWindow := fmt.Sprintf("NYC_20K_HEAD-4-%07d", rp.trips[0].row)
	beforeWindow := "NYC_20K_HEAD-5-0000001" // 00:00, before --from, of the seed of that case

	committed := []*kgo.Record{
		outcome("ride_matched", "REQ-7-000000001", -2*time.Minute),
		outcome("ride_matched", "REQ-9-000000001", -time.Hour),
		outcome("ride_unmatched", "REQ-11-000000002", 30*time.Minute), // a sped-up run's future
		outcome("match_cancelled", "REQ-12-000000001", -time.Minute),
		outcome("ride_matched", "REQ-14-000000005", -time.Minute),
		outcome("ride_cancelled", "REQ-15-000000001", -5*time.Minute),
		outcome("ride_matched", "REQ-15-000000002", -time.Minute),
		outcome("ride_matched", "REQ-160-000000001", -time.Minute),
		outcome("ride_matched", inWindow, -time.Minute),
		// The 600th request of a long run, a minute ago: a new run sends it after about 20
		// minutes at 0.5 requests a second, when the engine has forgotten it.
		outcome("ride_matched", "REQ-18-000000600", -time.Minute),
		// An hour of April 2014 replayed with seed 19: its first row is sent at once, its
		// last (data row 32, at 08:58) 58 minutes later.
		outcome("ride_matched", "APR14_OUTSIDE_SPAN-19-0000001", -time.Minute),
		outcome("ride_matched", "APR14_OUTSIDE_SPAN-20-0000032", -time.Minute),
	}
	aborted := []*kgo.Record{outcome("ride_matched", "REQ-13-000000001", -time.Minute)}
	if rp.counts.BeforeFrom == 0 {
		t.Fatal("the replay's window starts at the file's first row")
	}
	committed = append(committed, outcome("ride_matched", beforeWindow, -time.Minute))
	// Committed, then aborted: each partition's records end in transaction markers.
	txn, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.TransactionalID("rerun-test"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	for _, batch := range []struct {
		recs []*kgo.Record
		end  kgo.TransactionEndTry
	}{{committed, kgo.TryCommit}, {aborted, kgo.TryAbort}} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, batch.recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, batch.end); err != nil {
			t.Fatal(err)
		}
	}

	hour := replayConfig("testdata/apr14_outside_span.csv", 10)
	tests := []struct {
		name      string
		seed      uint64
		max       int
		replay    *Config
		wantUntil time.Duration // from now; 0: no error
	}{
		{"a match two minutes old", 7, 0, nil, 8 * time.Minute},
		{"a match an hour old is forgotten", 9, 0, nil, 0},
		{"an outcome in the future of a sped-up run", 11, 0, nil, 40 * time.Minute},
		{"match_cancelled is no outcome", 12, 0, nil, 0},
		{"an aborted outcome", 13, 0, nil, 0},
		{"a request beyond --max-requests", 14, 3, nil, 0},
		{"a request within --max-requests", 14, 5, nil, 9 * time.Minute},
		{"the latest of several", 15, 0, nil, 9 * time.Minute},
		{"seed 16 is not seed 160", 16, 0, nil, 0},
		{"a row of the replay's window", 4, 40, &replayCfg, 9 * time.Minute},
		{"a row before the replay's window", 5, 40, &replayCfg, 0},
		{"no outcome at all", 17, 0, nil, 0},
		{"a long run's last request, sent again much later", 18, 0, nil, 0},
		{"a replay's first row", 19, 0, &hour, 9 * time.Minute},
		{"a replay's row an hour into the file", 20, 0, &hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.replay != nil {
				cfg = *tt.replay
			}
			cfg.Cluster.Brokers = []string{b.Addr()}
			cfg.Seed, cfg.MaxRequests = tt.seed, tt.max
			s, err := New(cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			start := time.Now()
			err = s.checkEarlierRun(ctx, cl, topic, now)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v to read %d records: the end of a partition was not seen", took, len(committed)+len(aborted))
			}
			var er *EarlierRunError
			switch {
			case tt.wantUntil == 0 && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.wantUntil == 0:
			case !errors.As(err, &er):
				t.Errorf("err = %v, want an EarlierRunError", err)
			case !er.Until.Equal(now.Add(tt.wantUntil)) || er.Seed != tt.seed || er.Topic != topic || (er.File != "") != (tt.replay != nil):
				t.Errorf("error %+v, want seed %d until now+%v", er, tt.seed, tt.wantUntil)
			case !strings.Contains(er.Error(), fmt.Sprintf("requests of seed %d", tt.seed)) || !strings.Contains(er.Error(), now.Add(tt.wantUntil).Local().Format("15:04:05")):
				t.Errorf("error %q names neither the seed nor the time", er)
			}
		})
	}
}

// requestIDs accepts every id a run's world makes, and no other seed's or beyond the run.
func TestRequestIDs(t *testing.T) {
	replayCfg := replayConfig(nycHead, 10)
	replayCfg.Seed, replayCfg.ReplayFrom, replayCfg.MaxRequests = 21, "2014-12-21 00:05", 10
	generatedCfg := DefaultConfig()
	generatedCfg.Seed, generatedCfg.Rate, generatedCfg.MaxRequests = 21, 5, 10
	tests := []struct {
		name string
		cfg  Config
		not  []string // ids the run does not send
	}{
		{"generated", generatedCfg, []string{"REQ-21-000000000", "REQ-21-000000011", "REQ-210-000000001", "REQ-2-000000001", "REQ-21-x", "NYC_20K_HEAD-21-0000120"}},
		{"replay", replayCfg, []string{"NYC_20K_HEAD-21-0000001", "NYC_20K_HEAD-21-0000300", "NYC_20K_HEAD-2-0000120", "REQ-21-000000001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			var w *World
			if s.replay != nil {
				w, err = NewReplayWorld(tt.cfg, s.replay, testStart)
			} else {
				w, err = NewWorld(tt.cfg, testStart)
			}
			if err != nil {
				t.Fatal(err)
			}
			sent := map[string]time.Duration{}
			w.Step(testStart.Add(time.Hour), func(in *event.Input) {
				if in.Kind == event.KindRideRequest {
					sent[in.Request.RequestID] = in.Request.Time.Sub(testStart)
				}
			})
			if len(sent) != tt.cfg.MaxRequests {
				t.Fatalf("the world made %d requests, want %d", len(sent), tt.cfg.MaxRequests)
			}
			prefix, sends := s.requestIDs()
			for id, at := range sent {
				offset, ok := sends(id)
				if !ok || !strings.HasPrefix(id, string(prefix)) {
					t.Errorf("%s, which the run sends, is not among its ids (prefix %s)", id, prefix)
				}
				// The offset is as soon as the id may be sent: a replay's exactly, a
				// Poisson arrival's at the earliest.
				if offset > at || (s.replay != nil && at-offset > time.Second) {
					t.Errorf("%s is sent %v after the start, said to be %v at the earliest", id, at, offset)
				}
			}
			for _, id := range tt.not {
				if _, ok := sends(id); ok {
					t.Errorf("%s is among the run's ids", id)
				}
			}
		})
	}
}
