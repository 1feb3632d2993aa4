package bordertest

import (
	"testing"
	"time"

	"ridematch/geo"
	"ridematch/router"
)

func mumbai(t *testing.T) Metro {
	t.Helper()
	c, err := geo.CityNamed("mumbai")
	if err != nil {
		t.Fatal(err)
	}
	return MetroOf(c, 25)
}

// TestMumbaiPairs: every crossing is on the router's border between its two regions, on
// different partitions, and points either side of it land where they should.
func TestMumbaiPairs(t *testing.T) {
	m := mumbai(t)
	regions := m.Regions()
	pairs := m.Pairs(12)
	if len(regions) < 7 || len(pairs) < 10 {
		t.Fatalf("%d regions and %d pairs around Mumbai: fewer than the geometry has", len(regions), len(pairs))
	}
	for _, p := range pairs {
		if p.A.Partition == p.B.Partition || router.PartitionOf(p.A.Region, 12) != p.A.Partition {
			t.Errorf("%s | %s: not two partitions", p.A, p.B)
		}
		for _, c := range p.Crossings {
			if Region(c.Into(-0.01)) != p.A.Region || Region(c.Into(0.01)) != p.B.Region || !c.Holds(-1, -0.6, 0.6, 1) {
				t.Errorf("%v is not on the border", c)
			}
			if d := geo.DistanceKM(c.At, c.Into(0.6)); d < 0.599 || d > 0.601 {
				t.Errorf("%v: 0.6 km along the normal is %.4f km away", c, d)
			}
		}
		t.Logf("%s | %s: %d crossings, the closest %.1f km from a place", p.A, p.B, len(p.Crossings), m.Reach(p.Crossings[0].At))
	}
}

// TestIssueExample: issue 19's example lies as the issue says.
func TestIssueExample(t *testing.T) {
	rider, driver := geo.Point{Lat: 19.08010, Lng: 72.99509}, geo.Point{Lat: 19.08010, Lng: 73.00649}
	for _, tc := range []struct {
		p      geo.Point
		region string
		part   int32
	}{{rider, "84608b5ffffffff", 6}, {driver, "84608bdffffffff", 2}} {
		if r := Region(tc.p); r.String() != tc.region || router.PartitionOf(r, 12) != tc.part {
			t.Errorf("%v: region %s (partition %d), want %s (partition %d)", tc.p, r, router.PartitionOf(r, 12), tc.region, tc.part)
		}
	}
}

// TestSpreadAndContentions: crossings picked apart are apart, and the contentions laid
// out at them are what Check judges.
func TestSpreadAndContentions(t *testing.T) {
	picked := Spread(mumbai(t).Pairs(12), 12, 1)
	for i, a := range picked {
		for _, b := range picked[i+1:] {
			if d := geo.DistanceKM(a.At, b.At); d < 12 {
				t.Errorf("%v and %v are %.1f km apart", a, b, d)
			}
		}
	}
	cs, err := Contentions(picked, "t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 12 {
		t.Fatalf("%d contentions, want 12", len(cs))
	}
	c := cs[0]
	won := func(winner, loser string, lost Outcome) map[string]Outcome {
		return map[string]Outcome{winner: {"ride_matched", c.First.DriverID}, loser: lost}
	}
	far, near := c.FarRider.RequestID, c.NearRider.RequestID
	second := Outcome{"ride_matched", c.Second.DriverID}
	unmatched := Outcome{Type: "ride_unmatched"}
	// The second driver of cs[0] is within reach of both riders.
	for name, tc := range map[string]struct {
		outcomes  map[string]Outcome
		ok, again bool
	}{
		"far wins, near gets the second": {won(far, near, second), true, true},
		"near wins, far gets the second": {won(near, far, second), true, true},
		"near wins, far unmatched":       {won(near, far, unmatched), true, false},
		"near wins, far cancelled":       {won(near, far, Outcome{Type: "ride_cancelled"}), false, false},
		"both get the first":             {map[string]Outcome{far: {"ride_matched", c.First.DriverID}, near: {"ride_matched", c.First.DriverID}}, false, false},
		"neither gets the first":         {map[string]Outcome{far: second, near: unmatched}, false, false},
		"a rider without an outcome":     {map[string]Outcome{near: {"ride_matched", c.First.DriverID}}, false, false},
	} {
		if err := c.Check(tc.outcomes); (err == nil) != tc.ok {
			t.Errorf("%s (%s): Check says %v", name, c.Name, err)
		}
		if err := c.CheckSearchesAgain(tc.outcomes); (err == nil) != tc.again {
			t.Errorf("%s (%s): CheckSearchesAgain says %v", name, c.Name, err)
		}
	}
}
