package bordertest

import (
	"testing"

	"ridematch/geo"
)

func TestMumbai(t *testing.T) {
	c, err := geo.CityNamed("mumbai")
	if err != nil {
		t.Fatal(err)
	}
	m := MetroOf(c, 25)
	t.Logf("%d regions", len(m.Regions()))
	pairs := m.Pairs(12)
	for _, p := range pairs {
		t.Logf("%s | %s: %d crossings, first %v reach %.1f", p.A, p.B, len(p.Crossings), p.Crossings[0].At, m.Reach(p.Crossings[0].At))
	}
	for _, c := range Spread(pairs, 10, 1, geo.Point{Lat: 19.0801, Lng: 73.0008}) {
		t.Logf("picked %v reach %.1f", c, m.Reach(c.At))
	}
	for _, c := range Spread(pairs, 12, 3) {
		t.Logf("picked3 %v reach %.1f", c, m.Reach(c.At))
	}
}
