package bench

import (
	"testing"
	"time"

	"ridematch"
	"ridematch/event"
	"ridematch/router"
)

// TestShadowShare: on the bench's national load, the shadows the routers add to the
// region log stay a small share of the driver updates. `go test -v -run TestShadowShare
// ./bench` prints it.
func TestShadowShare(t *testing.T) {
	cfg := DefaultConfig()
	w, err := world(cfg, cfg.Drivers, cfg.Rate, time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(cfg.Engine.Router, cfg.Engine.Topics.Get(ridematch.RoleRegionLog).Partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	discard := func(int32, *event.LogRecord) {}
	for at, n := w.Start(), 0; n < 1_000_000; {
		at = at.Add(100 * time.Millisecond)
		w.Step(at, func(e *event.Input) {
			n++
			if e.Kind == event.KindDriverLocation {
				r.RouteEvent(e, router.Source{Topic: router.DriverLocations, Time: e.Time()}, discard)
			}
		})
	}
	s := r.Stats()
	share := float64(s.Shadows) / float64(s.Drivers)
	t.Logf("%d driver updates, %d shadows: %.1f%% more driver records in the region log", s.Drivers, s.Shadows, 100*share)
	if s.Shadows == 0 || share > 0.15 {
		t.Errorf("shadows are %.1f%% of driver updates; want some, and at most 15%%", 100*share)
	}
}
