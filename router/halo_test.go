package router

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"ridematch/event"
	"ridematch/geo"
)

// The border: region 84608b5 (partition 6 of 12) meets 84608bd (partition 2)
// near (19.0801, 73.0008).
var (
	westOfBorder = geo.Point{Lat: 19.08010, Lng: 72.99509}
	eastOfBorder = geo.Point{Lat: 19.08010, Lng: 73.00649}
)

func partitionAt(p geo.Point, n int32) int32 {
	return PartitionOf(geo.CellOf(p, 9).Parent(4), n)
}

// TestHaloNeverMissesAPickup: for drivers all over Mumbai and pickups within reach of
// each, the pickup's partition is the driver's own or one of its shadows'.
func TestHaloNeverMissesAPickup(t *testing.T) {
	const n = 12
	h := NewHalo(geo.DefaultResolutions(), n, 3)
	if own, other := partitionAt(eastOfBorder, n), partitionAt(westOfBorder, n); own != 2 || other != 6 {
		t.Fatalf("the issue's pair: partitions %d and %d", own, other)
	}
	if got := h.Partitions(h.Of(geo.CellOf(eastOfBorder, 9))); !slices.Contains(got, 6) {
		t.Fatalf("a driver 0.6 km from the border is not shadowed across it: %v", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	center := geo.Point{Lat: 19.1, Lng: 72.9}
	shadowed := 0
	const drivers = 3000
	for range drivers {
		d := geo.Offset(center, (rng.Float64()-0.5)*60, (rng.Float64()-0.5)*60)
		cell := geo.CellOf(d, 9)
		own := partitionAt(d, n)
		halo := h.Partitions(h.Of(cell))
		if len(halo) > 0 {
			shadowed++
		}
		if slices.Contains(halo, own) {
			t.Fatalf("driver at %v shadowed to its own partition %d", d, own)
		}
		for range 40 {
			// A pickup up to 3 km away, more of them near the edge of reach.
			km := 3 * (1 - rng.Float64()*rng.Float64())
			angle := rng.Float64() * 2 * math.Pi
			q := geo.Offset(d, km*math.Sin(angle), km*math.Cos(angle))
			if geo.DistanceKM(d, q) > 3 {
				continue
			}
			if p := partitionAt(q, n); p != own && !slices.Contains(halo, p) {
				t.Fatalf("driver at %v (partition %d, shadows %v): a pickup %.2f km away at %v is in partition %d", d, own, halo, geo.DistanceKM(d, q), q, p)
			}
		}
	}
	t.Logf("%d of %d drivers across 60 km of Mumbai have shadows", shadowed, drivers)
	if h.Of(geo.CellOf(eastOfBorder, 9)) != h.Of(geo.CellOf(geo.Offset(eastOfBorder, 0, 0.01), 9)) {
		t.Error("nearby cells with the same shadows got different sets")
	}
}

// TestShadows: a driver near a border is sent to its owner and, as a shadow, across; a
// change of availability goes out at once, a move only every ShadowEvery; one that stays
// unavailable sends no news; one that moves out of reach is withdrawn.
func TestShadows(t *testing.T) {
	r := newRouter(t, DefaultConfig(), 12)
	var s sink
	at := t0
	route := func(p geo.Point, a event.Availability) []routed {
		t.Helper()
		at = at.Add(1e6)
		if err := r.Route(driverJSON("D1", p, at, a), Source{Topic: DriverLocations, Time: at}, s.emit); err != nil {
			t.Fatal(err)
		}
		return s.take()
	}
	got := route(eastOfBorder, event.Available)
	if len(got) != 2 || got[0].p != 2 || got[1].p != 6 || got[1].rec.Route != event.RouteShadow || got[1].rec.From != 2 || got[1].rec.Driver.Availability != event.Available {
		t.Fatalf("near the border: %v", got)
	}
	if got := route(eastOfBorder, event.Busy); len(got) != 2 || got[1].rec.Driver.Availability != event.Busy {
		t.Fatalf("turning busy tells the shadow: %v", got)
	}
	if got := route(eastOfBorder, event.Busy); len(got) != 1 {
		t.Fatalf("staying busy sends no shadow: %v", got)
	}
	if got := route(eastOfBorder, event.Available); len(got) != 2 {
		t.Fatalf("available again tells the shadow at once: %v", got)
	}
	if got := route(geo.Offset(eastOfBorder, 0.01, 0), event.Available); len(got) != 1 {
		t.Fatalf("a second later, only moved, the shadow is not refreshed: %v", got)
	}
	at = at.Add(DefaultConfig().ShadowEvery)
	if got := route(eastOfBorder, event.Available); len(got) != 2 {
		t.Fatalf("ShadowEvery later the shadow is refreshed: %v", got)
	}
	// The first point east, in steps of a kilometre, still partition 2's and out of 6's reach.
	far := eastOfBorder
	for partitionAt(far, 12) != 2 || slices.Contains(r.halo.Partitions(r.halo.Of(geo.CellOf(far, 9))), 6) {
		if far = geo.Offset(far, 0, 1); geo.DistanceKM(far, eastOfBorder) > 40 {
			t.Fatal("no point east of the border out of partition 6's reach")
		}
	}
	got = route(far, event.Available)
	var withdrawn bool
	for _, g := range got[1:] {
		withdrawn = withdrawn || g.p == 6 && g.rec.Route == event.RouteShadow && g.rec.Driver.Availability == event.Offline
	}
	if got[0].p != 2 || !withdrawn {
		t.Fatalf("moving out of reach withdraws the shadow: %v", got)
	}
	if st := r.Stats(); st.Shadows == 0 || st.Routed != st.Drivers+st.Shadows {
		t.Errorf("stats %+v", st)
	}
}
