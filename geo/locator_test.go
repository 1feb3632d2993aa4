package geo

import (
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/uber/h3-go/v4"

	"ridematch/internal/nopointer"
)

// TestLocatorAgreesWithH3 moves points in small random steps, as GPS fixes do, around
// cities and near a pentagon, and checks every located cell against H3.
func TestLocatorAgreesWithH3(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	starts := []Point{{19.0544, 72.8413}, {28.6315, 77.2167}, {40.7580, -73.9855}, {64.7, 10.5}, {-33.9, 18.4}}
	for _, res := range []int{7, 8, 9, 10} {
		l := NewLocator(res)
		skipped := 0
		for _, start := range starts {
			var last Fix
			p := start
			for i := 0; i < 3000; i++ {
				p = Offset(p, rng.NormFloat64()*0.03, rng.NormFloat64()*0.03)
				got := l.Locate(p, last)
				if want := CellOf(p, res); got.Cell != want {
					t.Fatalf("res %d: Locate(%v) = %v, H3 says %v", res, p, got.Cell, want)
				}
				if got == last {
					skipped++
				}
				last = got
			}
		}
		if skipped < 3000 {
			t.Errorf("res %d: only %d of %d steps skipped H3; the fast path is not working", res, skipped, 3000*len(starts))
		}
	}
}

// A Fix's float32 circle places a point only where the point is in the cell, at any
// longitude (float32 is coarsest near ±180°) and at the finest resolutions used.
func TestFixNearIsInsideTheCell(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	l := NewLocator(10)
	near := 0
	for i := 0; i < 2000; i++ {
		c := Point{Lat: rng.Float64()*160 - 80, Lng: rng.Float64()*360 - 180}
		if i%4 == 0 {
			c.Lng = 179.99 - rng.Float64()*0.02 // the coarsest float32 longitudes
		}
		f := l.Locate(c, Fix{})
		for j := 0; j < 50; j++ {
			p := Offset(c, rng.NormFloat64()*0.05, rng.NormFloat64()*0.05)
			if !f.near(p) {
				continue
			}
			near++
			if got := CellOf(p, 10); got != f.Cell {
				t.Fatalf("%v is near the centre of %v, but H3 puts it in %v", p, f.Cell, got)
			}
		}
	}
	if near < 10_000 {
		t.Errorf("only %d of 100,000 points fell in the circles", near)
	}
}

// One Locator serves many goroutines, each following its own points (run with -race).
func TestLocatorConcurrent(t *testing.T) { walkConcurrently(t, NewLocator(9), 2000, 0.05) }

// walkConcurrently has four goroutines share l, each walking a point steps times in
// random steps of about stepKM, and checks every cell l finds against H3.
func walkConcurrently(t *testing.T, l *Locator, steps int, stepKM float64) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			var last Fix
			p := Point{Lat: 19.0544, Lng: 72.8413}
			for range steps {
				p = Offset(p, rng.NormFloat64()*stepKM, rng.NormFloat64()*stepKM)
				last = l.Locate(p, last)
				if want := CellOf(p, l.res); last.Cell != want {
					t.Errorf("Locate(%v) = %v, H3 says %v", p, last.Cell, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkLocate(b *testing.B) {
	l := NewLocator(9)
	var last Fix
	p := Point{Lat: 19.0544, Lng: 72.8413}
	b.Run("moving", func(b *testing.B) {
		calls := l.calls.Load()
		for i := 0; b.Loop(); i++ {
			// A driver heading north-east at 36 km/h, a fix every 2 s: 20 m a step, for
			// 20 km, then back to the start.
			if i%1000 == 0 {
				p = Point{Lat: 19.0544, Lng: 72.8413}
			}
			p.Lat += 0.00013
			p.Lng += 0.00013
			last = l.Locate(p, last)
		}
		b.ReportMetric(float64(l.calls.Load()-calls)/float64(b.N), "h3/op")
	})
	b.Run("h3", func(b *testing.B) {
		for b.Loop() {
			CellOf(p, 9)
		}
	})
}

// A point leaving its cell is tried in the cell last found beyond the same edge before
// H3 is asked: a path walked a second time, whose crossings were all seen the first
// time, needs H3 for few of them; and every cell found either way is H3's.
func TestLocatorLearnsNeighbours(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	path := []Point{{19.0544, 72.8413}}
	for range 5000 {
		// 10-30 m steps, wandering: fixes of a driver in traffic.
		path = append(path, Offset(path[len(path)-1], rng.NormFloat64()*0.02, rng.NormFloat64()*0.02))
	}
	l := NewLocator(9)
	walk := func() (crossings, calls uint64) {
		before := l.calls.Load()
		var last Fix
		for _, p := range path {
			got := l.Locate(p, last)
			if want := CellOf(p, 9); got.Cell != want {
				t.Fatalf("Locate(%v) = %v, H3 says %v", p, got.Cell, want)
			}
			if last.place != 0 && got.Cell != last.Cell {
				crossings++
			}
			last = got
		}
		return crossings, l.calls.Load() - before
	}
	crossings, first := walk()
	_, second := walk()
	t.Logf("%d crossings; H3 asked %d times the first walk, %d the second", crossings, first, second)
	if crossings < 100 {
		t.Fatalf("only %d crossings: the path does not test the neighbours", crossings)
	}
	if second*3 > crossings {
		t.Errorf("the second walk asked H3 %d times for %d crossings; the neighbours are not learned", second, crossings)
	}
}

// An outline holds only points of its own cell, wherever the cell is: across ±180°, near
// the poles, about the pentagons, in cells of more than six vertices, and at resolutions
// whose edges the projection bends by metres. Points are sampled just inside and just
// outside the vertices and the edges.
func TestOutlineHoldsOnlyItsCell(t *testing.T) {
	for _, res := range []int{4, 7, 9, 10} {
		rng := rand.New(rand.NewPCG(1, uint64(res)))
		var cells []Cell
		for i := range 600 {
			var p Point
			switch i % 4 {
			case 0: // anywhere, uniform on the sphere
				p = Point{Lat: math.Asin(2*rng.Float64()-1) / degToRad, Lng: rng.Float64()*360 - 180}
			case 1: // astride ±180°
				p = Point{Lat: rng.Float64()*140 - 70, Lng: 180 - rng.Float64()*0.01}
			case 2:
				p = Point{Lat: rng.Float64()*140 - 70, Lng: -180 + rng.Float64()*0.01}
			case 3: // near a pole
				p = Point{Lat: (80 + rng.Float64()*10) * float64(1-2*(i/4%2)), Lng: rng.Float64()*360 - 180}
			}
			cells = append(cells, CellOf(p, res))
		}
		for _, pc := range h3.Pentagons(res) {
			for _, ring := range Disk(Cell(pc), 1) {
				cells = append(cells, ring...)
			}
		}
		for _, pole := range []float64{90, -90} { // the cells at the poles, and about them
			for _, ring := range Disk(CellOf(Point{Lat: pole}, res), 2) {
				cells = append(cells, ring...)
			}
		}
		held := 0
		for _, c := range cells {
			if !c.Valid() {
				t.Fatalf("res %d: %v is not a cell", res, c)
			}
			o, ctr, b := new(outline), c.Center(), c.Boundary()
			makeOutline(c, o)
			around := func(v Point) Point { return Point{Lat: v.Lat, Lng: ctr.Lng + shortLng(v.Lng-ctr.Lng)} }
			for i := range 200 {
				// From the centre towards a vertex or a point of an edge, 90-105% of the way.
				j := rng.IntN(len(b))
				to := around(b[j])
				if i%2 == 1 {
					next, f := around(b[(j+1)%len(b)]), rng.Float64()
					to = Point{Lat: to.Lat + (next.Lat-to.Lat)*f, Lng: to.Lng + (next.Lng-to.Lng)*f}
				}
				f := 0.9 + 0.15*rng.Float64()
				p := Point{Lat: ctr.Lat + (to.Lat-ctr.Lat)*f, Lng: shortLng(ctr.Lng + (to.Lng-ctr.Lng)*f)}
				if !p.Valid() || o.exit(p) >= 0 {
					continue
				}
				held++
				if got := CellOf(p, res); got != c {
					t.Fatalf("res %d: the outline of %v holds %v, which H3 puts in %v", res, c, p, got)
				}
			}
		}
		if held < len(cells)*40 {
			t.Errorf("res %d: the outlines held only %d of %d points; the test tests little", res, held, len(cells)*200)
		}
	}
}

// Drivers that wander across ±180° are placed as H3 places them.
func TestLocatorAcrossTheAntimeridian(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, res := range []int{7, 9} {
		l := NewLocator(res)
		for _, start := range []Point{{-16.75, 179.999}, {-16.2, -179.999}, {65, 179.999}} {
			var last Fix
			p := start
			for range 5000 {
				p = Offset(p, rng.NormFloat64()*0.05, rng.NormFloat64()*0.05)
				p.Lng = shortLng(p.Lng)
				last = l.Locate(p, last)
				if want := CellOf(p, res); last.Cell != want {
					t.Fatalf("res %d: Locate(%v) = %v, H3 says %v", res, p, last.Cell, want)
				}
			}
		}
	}
}

// A router keeps a Fix per driver: it must give the collector nothing to follow.
func TestFixHoldsNoPointer(t *testing.T) {
	if path := nopointer.In(reflect.TypeFor[Fix](), "Fix"); path != "" {
		t.Fatalf("%s holds a pointer", path)
	}
}

// Past its limit a Locator starts a new generation of outlines. Fixes of the old one
// still place points correctly (in their circle, or through H3), and every cell found is
// H3's, while goroutines share the Locator across the change (run with -race).
func TestLocatorStartsAfresh(t *testing.T) {
	l := newLocator(9, chunkLen)
	// Points wandering far (some 200 m a step) meet many more cells than it keeps.
	walkConcurrently(t, l, 3000, 0.2)
	l.mu.RLock()
	gen := l.gen
	l.mu.RUnlock()
	if gen == 0 {
		t.Fatalf("the walk never filled the Locator's %d outlines", chunkLen)
	}

	// A Fix whose outline is gone still knows its circle: its cell's centre is in it.
	p := CellOf(Point{Lat: 19.0544, Lng: 72.8413}, 9).Center()
	old := l.Locate(p, Fix{})
	for i := 0; l.gen == old.gen; i++ {
		l.fix(CellOf(Offset(p, 5+float64(i)*0.3, 0), 9))
	}
	if l.outlineOf(old) != nil {
		t.Fatal("a Fix of an older generation still reaches an outline")
	}
	if got := l.Locate(p, old); got != old {
		t.Errorf("a point in the old Fix's circle moved to %v", got)
	}
	q := Offset(p, 0.3, 0.3)
	if got, want := l.Locate(q, old), CellOf(q, 9); got.Cell != want {
		t.Errorf("Locate(%v) from an old Fix = %v, H3 says %v", q, got.Cell, want)
	}
}
