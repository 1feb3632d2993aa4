package surge

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/uber/h3-go/v4"

	"ridematch/event"
	"ridematch/geo"
)

// mumbaiCells are distinct surge cells (resolution 7) around Bandra, in index order.
func mumbaiCells(n int) []geo.Cell {
	origin := geo.CellOf(geo.Point{Lat: 19.0544, Lng: 72.8413}, 7)
	var out []geo.Cell
	for _, c := range h3.GridDisk(h3.Cell(origin), 3)[:n] {
		out = append(out, geo.Cell(c))
	}
	slices.Sort(out)
	return out
}

// base is an evaluation boundary for every interval used here (a whole minute).
var base = event.TimeOf(time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC))

func TestConfigValidate(t *testing.T) {
	d := DefaultConfig()
	tests := []struct {
		name string
		give func(c *Config)
		want bool
	}{
		{"defaults", func(c *Config) {}, true},
		{"window equals interval", func(c *Config) { c.Window = c.Interval }, true},
		{"sub-second interval", func(c *Config) { c.Interval, c.Window = 250*time.Millisecond, time.Minute }, true},
		{"no damping", func(c *Config) { c.Smoothing = 1 }, true},
		{"cap 1 means no surge", func(c *Config) { c.Cap, c.Step = 1, 1 }, true},
		{"step equals cap", func(c *Config) { c.Step = c.Cap }, true},
		{"zero threshold and sensitivity", func(c *Config) { c.Threshold, c.Sensitivity = 0, 0 }, true},
		{"zero interval", func(c *Config) { c.Interval = 0 }, false},
		{"negative interval", func(c *Config) { c.Interval = -time.Second }, false},
		{"window below interval", func(c *Config) { c.Window = 5 * time.Second }, false},
		{"window not a multiple", func(c *Config) { c.Window = 65 * time.Second }, false},
		{"zero window", func(c *Config) { c.Window = 0 }, false},
		{"interval below a microsecond", func(c *Config) { c.Interval, c.Window = 500*time.Nanosecond, 5000*time.Nanosecond }, false},
		{"interval not whole microseconds", func(c *Config) { c.Interval, c.Window = 1500*time.Nanosecond, 3000*time.Nanosecond }, false},
		{"zero smoothing", func(c *Config) { c.Smoothing = 0 }, false},
		{"negative smoothing", func(c *Config) { c.Smoothing = -6 }, false},
		{"cap below 1", func(c *Config) { c.Cap = 0.9 }, false},
		{"zero step", func(c *Config) { c.Step = 0 }, false},
		{"negative step", func(c *Config) { c.Step = -0.1 }, false},
		{"step above cap", func(c *Config) { c.Step = 3.5 }, false},
		{"negative threshold", func(c *Config) { c.Threshold = -1 }, false},
		{"negative sensitivity", func(c *Config) { c.Sensitivity = -0.25 }, false},
		// A NaN from a flag ("--surge-cap NaN" parses) passes every < and >, and
		// would price every ride at NaN.
		{"NaN cap", func(c *Config) { c.Cap = math.NaN() }, false},
		{"NaN step", func(c *Config) { c.Step = math.NaN() }, false},
		{"NaN threshold", func(c *Config) { c.Threshold = math.NaN() }, false},
		{"NaN sensitivity", func(c *Config) { c.Sensitivity = math.NaN() }, false},
		{"infinite cap", func(c *Config) { c.Cap = math.Inf(1) }, false},
		{"absurd cap", func(c *Config) { c.Cap, c.Step = 1e308, 1 }, false},
		{"cap 100", func(c *Config) { c.Cap, c.Step = 100, 1 }, true},
		{"step of a hundredth", func(c *Config) { c.Step = 0.01 }, true},
		{"step below a hundredth", func(c *Config) { c.Step = 1e-300 }, false},
		{"infinite threshold", func(c *Config) { c.Threshold = math.Inf(1) }, false},
		{"absurd sensitivity", func(c *Config) { c.Sensitivity = 1e308 }, false},
		{"negative infinite sensitivity", func(c *Config) { c.Sensitivity = math.Inf(-1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := d
			tt.give(&c)
			err := c.Validate()
			if (err == nil) != tt.want {
				t.Fatalf("Validate(%+v) = %v, want valid %v", c, err, tt.want)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			p, err := New(c)
			if (err == nil) != tt.want || (err == nil) != (p != nil) {
				t.Errorf("New(%+v) = %v, %v; want valid %v", c, p, err, tt.want)
			}
		})
	}
	if d != (Config{Window: 5 * time.Minute, Interval: 10 * time.Second, Smoothing: 6, Threshold: 1, Sensitivity: 0.25, Cap: 3, Step: 0.1}) {
		t.Errorf("DefaultConfig() = %+v, not the documented defaults", d)
	}
}

func TestRaw(t *testing.T) {
	d := DefaultConfig()
	steep := Config{Threshold: 0, Sensitivity: 1, Cap: 10, Step: 0.1}
	tests := []struct {
		name           string
		cfg            Config
		demand, supply int
		want           float64
	}{
		{"nothing", d, 0, 0, 1},
		{"no demand", d, 0, 5, 1},
		{"below the threshold", d, 4, 5, 1},
		{"at the threshold", d, 5, 5, 1},
		{"twice the threshold", d, 10, 5, 1.25},
		{"three per driver", d, 3, 1, 1.5},
		{"no drivers counts as one", d, 5, 0, 2},
		{"exactly the cap", d, 9, 1, 3},
		{"far above the cap", d, 1000, 1, 3},
		{"steep", steep, 3, 2, 2.5},
		{"steep capped", steep, 50, 1, 10},
		{"insensitive", Config{Threshold: 1, Sensitivity: 0, Cap: 3, Step: 0.1}, 100, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Raw(tt.demand, tt.supply); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Raw(%d, %d) = %v, want %v", tt.demand, tt.supply, got, tt.want)
			}
		})
	}
}

func TestRound(t *testing.T) {
	d := DefaultConfig()
	quarter := Config{Cap: 2.5, Step: 0.25}
	tests := []struct {
		name string
		cfg  Config
		give float64
		want float64
	}{
		{"one", d, 1, 1},
		{"down", d, 1.04, 1},
		{"half a step rounds up", d, 1.05, 1.1},
		{"half a step, another", d, 1.15, 1.2},
		{"half a step, binary below", d, 2.25, 2.3},
		{"just below half", d, 1.1499, 1.1},
		{"an exact step", d, 1.7, 1.7},
		{"a third", d, 4.0 / 3, 1.3},
		{"two thirds", d, 5.0 / 3, 1.7},
		{"never below 1", d, 0.5, 1},
		{"zero", d, 0, 1},
		{"negative", d, -3, 1},
		{"the cap", d, 3, 3},
		{"rounds to the cap", d, 3.04, 3},
		{"above the cap", d, 3.5, 3},
		{"far above the cap", d, 1e9, 3},
		{"quarter steps", quarter, 1.3, 1.25},
		{"quarter steps up", quarter, 1.38, 1.5},
		{"quarter steps, cap", quarter, 2.49, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Round(tt.give); got != tt.want {
				t.Errorf("Round(%v) = %v, want exactly %v", tt.give, got, tt.want)
			}
		})
	}
	// Every result is exactly the decimal a step count names: no 1.2000000000000002 in a
	// surge_updated event.
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		m := rnd.Float64() * 4
		got := d.Round(m)
		want, _ := strconv.ParseFloat(strconv.FormatFloat(min(3, max(1, math.Round(m*10+1e-9)/10)), 'f', 1, 64), 64)
		if got != want || got < 1 || got > 3 {
			t.Fatalf("Round(%v) = %v, want %v", m, got, want)
		}
		if math.Abs(got-m) > 0.05+1e-9 && m >= 1 && m <= 3 {
			t.Fatalf("Round(%v) = %v is more than half a step away", m, got)
		}
	}
}

func TestHistory(t *testing.T) {
	tests := []struct {
		give Config
		want time.Duration
	}{
		{DefaultConfig(), 5*time.Minute + 7*10*time.Second},
		{Config{Window: time.Minute, Interval: time.Second, Smoothing: 1}, time.Minute + 2*time.Second},
	}
	for _, tt := range tests {
		if got := tt.give.History(); got != tt.want {
			t.Errorf("History() = %v, want %v", got, tt.want)
		}
	}
}

// recorder collects a Pricer's updates.
type recorder struct{ updates []Update }

func (r *recorder) emit(u Update) { r.updates = append(r.updates, u) }
func (r *recorder) take() []Update {
	u := r.updates
	r.updates = nil
	return u
}

func constSupply(n int) func(geo.Cell) int { return func(geo.Cell) int { return n } }

func newPricer(t *testing.T, cfg Config) *Pricer {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDue(t *testing.T) {
	cfg := DefaultConfig()
	iv := event.Time(cfg.Interval / time.Microsecond)
	for _, start := range []event.Time{base, base + 1, base + iv - 1, -iv, -1, 0} {
		p := newPricer(t, cfg)
		if !p.Due(start) {
			t.Errorf("a new Pricer is not due at %v", start)
		}
		p.Evaluate(start, constSupply(1), func(Update) {})
		boundary := start - ((start%iv)+iv)%iv // the boundary at or before start
		tests := []struct {
			give event.Time
			want bool
		}{
			{start, false},
			{boundary, false},
			{boundary + iv - 1, false},
			{boundary + iv, true},
			{boundary + 5*iv + 3, true},
			{boundary - 1, false},
		}
		for _, tt := range tests {
			if got := p.Due(tt.give); got != tt.want {
				t.Errorf("evaluated at %d: Due(%d) = %v, want %v", start, tt.give, got, tt.want)
			}
		}
	}
	if p := newPricer(t, cfg); p.Config() != cfg || p.Multiplier(mumbaiCells(1)[0]) != 1 || p.Cells() != 0 || p.Surging() != 0 {
		t.Error("a new Pricer is not empty")
	}
}

// windowConfig turns demand into the multiplier directly: no damping, no threshold,
// 0.1 per request per driver, a minute's window of six 10 s intervals.
func windowConfig() Config {
	return Config{Window: time.Minute, Interval: 10 * time.Second, Smoothing: 1, Threshold: 0, Sensitivity: 0.1, Cap: 3, Step: 0.1}
}

// TestWindow: a request counts at the evaluations whose window holds its interval: from
// the boundary after it to the one Window after its interval began, then ages out.
func TestWindow(t *testing.T) {
	cfg := windowConfig()
	iv := cfg.Interval
	tests := []struct {
		name      string
		give      []time.Duration // request times after base
		wantCount []int           // demand at boundaries base, base+iv, ... base+8iv
	}{
		{"on a boundary", []time.Duration{0}, []int{0, 1, 1, 1, 1, 1, 1, 0, 0}},
		{"just after a boundary", []time.Duration{time.Microsecond}, []int{0, 1, 1, 1, 1, 1, 1, 0, 0}},
		{"mid interval", []time.Duration{5 * time.Second}, []int{0, 1, 1, 1, 1, 1, 1, 0, 0}},
		{"just before a boundary", []time.Duration{iv - time.Microsecond}, []int{0, 1, 1, 1, 1, 1, 1, 0, 0}},
		{"next interval", []time.Duration{iv}, []int{0, 0, 1, 1, 1, 1, 1, 1, 0}},
		{"one per interval", []time.Duration{0, iv, 2 * iv}, []int{0, 1, 2, 3, 3, 3, 3, 2, 1}},
		{"a burst", []time.Duration{time.Second, time.Second, 2 * time.Second, 9 * time.Second}, []int{0, 4, 4, 4, 4, 4, 4, 0, 0}},
		{"a burst in the last interval of the window", []time.Duration{0, 5 * iv, 5*iv + time.Second}, []int{0, 1, 1, 1, 1, 1, 3, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPricer(t, cfg)
			cell := mumbaiCells(1)[0]
			var rec recorder
			prev := 1.0
			next := 0
			for k := 0; k < len(tt.wantCount); k++ {
				now := base.Add(time.Duration(k) * iv)
				if !p.Due(now) {
					t.Fatalf("not due at boundary %d", k)
				}
				p.Evaluate(now, constSupply(1), rec.emit)
				want := cfg.Round(1 + 0.1*float64(tt.wantCount[k]))
				if got := p.Multiplier(cell); got != want {
					t.Errorf("boundary %d: multiplier %v, want %v (demand %d)", k, got, want, tt.wantCount[k])
				}
				ups := rec.take()
				switch {
				case want == prev && len(ups) != 0:
					t.Errorf("boundary %d: updates %+v without a change", k, ups)
				case want != prev && (len(ups) != 1 || ups[0].Demand != tt.wantCount[k] || ups[0].Previous != prev || ups[0].Current != want || ups[0].Cell != cell || ups[0].Supply != 1 || ups[0].Evaluated != now):
					t.Errorf("boundary %d: updates %+v, want one from %v to %v with demand %d at %v", k, ups, prev, want, tt.wantCount[k], now)
				}
				prev = want
				// Requests of this interval arrive after its evaluation.
				for next < len(tt.give) && tt.give[next] < time.Duration(k+1)*iv {
					p.AddDemand(cell, base.Add(tt.give[next]))
					next++
				}
			}
		})
	}
}

// TestEvaluateOnlyAtBoundaries: within an interval a second Evaluate does nothing, even
// with new demand; the next boundary picks it up, stamped with the boundary's time.
func TestEvaluateOnlyAtBoundaries(t *testing.T) {
	cfg := windowConfig()
	p := newPricer(t, cfg)
	cell := mumbaiCells(1)[0]
	var rec recorder
	p.Evaluate(base.Add(3*time.Second), constSupply(1), rec.emit)
	for i := 0; i < 5; i++ {
		p.AddDemand(cell, base.Add(4*time.Second))
	}
	for _, at := range []time.Duration{4 * time.Second, 9 * time.Second, 9*time.Second + 999999*time.Microsecond} {
		if p.Due(base.Add(at)) {
			t.Errorf("due at +%v within the evaluated interval", at)
		}
		p.Evaluate(base.Add(at), constSupply(1), rec.emit)
		if got := p.Multiplier(cell); got != 1 || len(rec.updates) != 0 {
			t.Fatalf("Evaluate at +%v inside the interval changed the price: %v, %+v", at, got, rec.updates)
		}
	}
	p.Evaluate(base.Add(17*time.Second), constSupply(1), rec.emit)
	ups := rec.take()
	if len(ups) != 1 || ups[0].Current != 1.5 || ups[0].Demand != 5 || ups[0].Evaluated != base.Add(10*time.Second) {
		t.Fatalf("at the next boundary: %+v, want 1 -> 1.5 with demand 5 evaluated at the boundary %v", ups, base.Add(10*time.Second))
	}
	// An Evaluate with an earlier time (a late record) changes nothing.
	p.Evaluate(base.Add(2*time.Second), constSupply(100), rec.emit)
	if p.Multiplier(cell) != 1.5 || len(rec.updates) != 0 {
		t.Errorf("an Evaluate in the past re-priced: %v %+v", p.Multiplier(cell), rec.updates)
	}
}

// TestDamping: a burst that puts the raw multiplier at the cap moves the price there a
// step of 1/Smoothing at a time, holds while the window holds the burst, and comes down
// the same way; then the cell's state goes.
func TestDamping(t *testing.T) {
	cfg := DefaultConfig()
	p := newPricer(t, cfg)
	cells := mumbaiCells(2)
	hot, calm := cells[0], cells[1]
	var rec recorder
	p.Evaluate(base, constSupply(1), rec.emit)
	for i := 0; i < 100; i++ {
		p.AddDemand(hot, base.Add(time.Duration(i)*50*time.Millisecond))
	}
	p.AddDemand(calm, base)  // one request per driver: at the threshold, no surge
	want := map[int]float64{ // boundary -> multiplier; unchanged between
		1: 1.3, 2: 1.7, 3: 2, 4: 2.3, 5: 2.7, 6: 3, // (1*5+3)/6 ... (3*6)/6
		31: 2.7, 32: 2.3, 33: 2, 34: 1.7, 35: 1.3, 36: 1, // the burst leaves the window at 31
	}
	cur := 1.0
	for k := 1; k <= 40; k++ {
		now := base.Add(time.Duration(k) * cfg.Interval)
		p.Evaluate(now, constSupply(1), rec.emit)
		ups := rec.take()
		if w, ok := want[k]; ok {
			if len(ups) != 1 || ups[0].Cell != hot || ups[0].Previous != cur || ups[0].Current != w {
				t.Fatalf("boundary %d: updates %+v, want hot %v -> %v", k, ups, cur, w)
			}
			cur = w
		} else if len(ups) != 0 {
			t.Fatalf("boundary %d: updates %+v, want none", k, ups)
		}
		if got := p.Multiplier(hot); got != cur {
			t.Fatalf("boundary %d: hot multiplier %v, want %v", k, got, cur)
		}
		if got := p.Multiplier(calm); got != 1 {
			t.Fatalf("boundary %d: calm multiplier %v, want 1", k, got)
		}
		if wantSurging := map[bool]int{true: 1, false: 0}[cur > 1]; p.Surging() != wantSurging {
			t.Fatalf("boundary %d: Surging() = %d, want %d", k, p.Surging(), wantSurging)
		}
		if k == 1 && cur >= cfg.Cap {
			t.Fatal("a single burst jumped straight to the cap")
		}
	}
	if p.Cells() != 0 {
		t.Errorf("%d cells hold state after every window emptied", p.Cells())
	}
}

// TestEmissionsSortedAndOnChange: over random demand in many cells, every Evaluate
// emits only changed multipliers, in cell order, each from the price it replaces.
func TestEmissionsSortedAndOnChange(t *testing.T) {
	cfg := DefaultConfig()
	cells := mumbaiCells(30)
	supply := func(c geo.Cell) int { return int(uint64(c)>>12) % 4 }
	p := newPricer(t, cfg)
	rnd := rand.New(rand.NewPCG(3, 4))
	var rec recorder
	now := base
	evaluations, changes := 0, 0
	for i := 0; i < 20000; i++ {
		now = now.Add(time.Duration(rnd.IntN(2000)) * time.Millisecond)
		if p.Due(now) {
			before := map[geo.Cell]float64{}
			for _, c := range cells {
				before[c] = p.Multiplier(c)
			}
			p.Evaluate(now, supply, rec.emit)
			evaluations++
			ups := rec.take()
			changed := map[geo.Cell]bool{}
			for j, u := range ups {
				if j > 0 && ups[j-1].Cell >= u.Cell {
					t.Fatalf("updates not in strict cell order: %v then %v", ups[j-1].Cell, u.Cell)
				}
				if u.Previous != before[u.Cell] || u.Current != p.Multiplier(u.Cell) || u.Current == u.Previous {
					t.Fatalf("update %+v: multiplier was %v, is %v", u, before[u.Cell], p.Multiplier(u.Cell))
				}
				if u.Supply != supply(u.Cell) || u.Demand < 0 {
					t.Fatalf("update %+v: supply %d", u, supply(u.Cell))
				}
				changed[u.Cell] = true
			}
			changes += len(ups)
			for _, c := range cells {
				if !changed[c] && p.Multiplier(c) != before[c] {
					t.Fatalf("cell %v changed %v -> %v without an update", c, before[c], p.Multiplier(c))
				}
			}
		}
		// Demand drifts between cells over time.
		hot := cells[(i/3000*7+rnd.IntN(5))%len(cells)]
		p.AddDemand(hot, now)
	}
	if changes == 0 || evaluations == 0 {
		t.Fatalf("%d evaluations, %d changes: the test exercised nothing", evaluations, changes)
	}
}

// TestJumpEqualsStepwise: a Pricer evaluated only when events come, jumping over many
// intervals at once, publishes what one evaluated at every boundary publishes, and its
// updates are the net changes.
func TestJumpEqualsStepwise(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), windowConfig(), {Window: 30 * time.Second, Interval: 10 * time.Second, Smoothing: 9, Threshold: 0.5, Sensitivity: 0.3, Cap: 2.5, Step: 0.25}} {
		t.Run(fmt.Sprintf("%v/%v/%d", cfg.Window, cfg.Interval, cfg.Smoothing), func(t *testing.T) {
			cells := mumbaiCells(6)
			supply := func(c geo.Cell) int { return int(uint64(c)>>12) % 3 }
			iv := int64(cfg.Interval / time.Microsecond)
			stepwise, jumping := newPricer(t, cfg), newPricer(t, cfg)
			var recS, recJ recorder
			rnd := rand.New(rand.NewPCG(5, 6))
			now := base
			lastBoundary := int64(base)/iv - 1
			seen := map[geo.Cell]float64{} // stepwise multipliers at the jumping Pricer's last evaluation
			jumps := 0
			for i := 0; i < 3000; i++ {
				switch rnd.IntN(10) {
				case 0: // a long silence: past the window, the smoothing, or both
					now = now.Add(time.Duration(rnd.Int64N(int64(3 * cfg.History()))))
				case 1: // exactly onto a boundary
					now = event.Time((int64(now)/iv + 1 + rnd.Int64N(3)) * iv)
				default:
					now = now.Add(time.Duration(rnd.Int64N(int64(cfg.Interval))))
				}
				for b := lastBoundary + 1; b <= int64(now)/iv; b++ {
					stepwise.Evaluate(event.Time(b*iv), supply, recS.emit)
				}
				lastBoundary = int64(now) / iv
				recS.take()
				if jumping.Due(now) {
					jumping.Evaluate(now, supply, recJ.emit)
					jumps++
					got := map[geo.Cell]Update{}
					for _, u := range recJ.take() {
						got[u.Cell] = u
					}
					for _, c := range cells {
						want := stepwise.Multiplier(c)
						if m := jumping.Multiplier(c); m != want {
							t.Fatalf("event %d: cell %v at %v: jumping Pricer %v, stepwise %v", i, c, now, m, want)
						}
						prev, ok := seen[c]
						if !ok {
							prev = 1
						}
						u, emitted := got[c]
						switch {
						case prev != want && (!emitted || u.Previous != prev || u.Current != want):
							t.Fatalf("event %d: cell %v went %v -> %v; update %+v (emitted %v)", i, c, prev, want, u, emitted)
						case prev == want && emitted:
							t.Fatalf("event %d: cell %v unchanged at %v; update %+v", i, c, want, u)
						}
						seen[c] = want
					}
				}
				// Bursts in a couple of cells at a time, so prices rise and fall.
				for n := rnd.IntN(4); n > 0; n-- {
					c := cells[rnd.IntN(len(cells))]
					stepwise.AddDemand(c, now)
					jumping.AddDemand(c, now)
				}
			}
			if jumps < 100 {
				t.Fatalf("only %d evaluations", jumps)
			}
		})
	}
}

// step is one record of a partition's log as the matcher feeds the Pricer: every record
// (a tick or a request) first evaluates if a boundary passed, then a request adds demand.
type step struct {
	at     event.Time
	demand bool
	cell   geo.Cell
}

// feed runs steps through p; it returns the updates emitted by steps at or after from,
// each tagged with its step's index, and the multipliers after every such step.
func feed(p *Pricer, steps []step, first int, from event.Time, cells []geo.Cell, supply func(geo.Cell, event.Time) int) (updates []string, prices []string) {
	for i := first; i < len(steps); i++ {
		s := steps[i]
		var ups []Update
		if p.Due(s.at) {
			p.Evaluate(s.at, func(c geo.Cell) int { return supply(c, s.at) }, func(u Update) { ups = append(ups, u) })
		}
		if s.demand {
			p.AddDemand(s.cell, s.at)
		}
		if s.at < from {
			continue
		}
		for _, u := range ups {
			updates = append(updates, fmt.Sprintf("step %d: %+v", i, u))
		}
		if i%10 == 0 || len(ups) > 0 {
			line := fmt.Sprintf("step %d: surging %d:", i, p.Surging())
			for _, c := range cells {
				line += fmt.Sprintf(" %v", p.Multiplier(c))
			}
			prices = append(prices, line)
		}
	}
	return updates, prices
}

// randomLog is an hour and a half of a busy partition: ticks at least once an interval,
// requests whose rate per cell shifts every few minutes, on and off boundaries.
func randomLog(rnd *rand.Rand, cfg Config, cells []geo.Cell) []step {
	iv := int64(cfg.Interval / time.Microsecond)
	var steps []step
	now := base.Add(time.Duration(rnd.Int64N(int64(cfg.Interval))))
	end := base.Add(90 * time.Minute)
	var weights []int
	for now < end {
		if len(steps)%600 == 0 { // a new phase
			weights = make([]int, len(cells))
			for i := range weights {
				weights[i] = []int{0, 0, 1, 4, 12}[rnd.IntN(5)]
			}
		}
		switch rnd.IntN(20) {
		case 0:
			now = event.Time((int64(now)/iv + 1) * iv) // onto the next boundary
		case 1: // the same instant
		default:
			now = now.Add(time.Duration(rnd.Int64N(int64(cfg.Interval) / 4)))
		}
		s := step{at: now}
		total := 0
		for _, w := range weights {
			total += w
		}
		if pick := rnd.IntN(total + 20); pick < total {
			for i, w := range weights {
				if pick < w {
					s.demand, s.cell = true, cells[i]
					break
				}
				pick -= w
			}
		}
		steps = append(steps, s)
	}
	return steps
}

// TestRestoreDeterminism: a Pricer fed only the last History() of the log before a cut
// publishes exactly the multipliers, and emits exactly the updates, from the cut on, of
// one that saw the whole log. That is what lets a partition restored after a rebalance
// price as the one it replaces.
func TestRestoreDeterminism(t *testing.T) {
	configs := []Config{
		DefaultConfig(),
		windowConfig(),
		{Window: 2 * time.Minute, Interval: 15 * time.Second, Smoothing: 3, Threshold: 0.5, Sensitivity: 0.5, Cap: 2, Step: 0.05},
	}
	for ci, cfg := range configs {
		t.Run(fmt.Sprintf("%v/%v/%d", cfg.Window, cfg.Interval, cfg.Smoothing), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(7, uint64(ci)))
			cells := mumbaiCells(8)
			supply := func(c geo.Cell, now event.Time) int {
				return int((uint64(c)>>12 + uint64(now)/uint64(time.Minute/time.Microsecond)) % 5)
			}
			steps := randomLog(rnd, cfg, cells)
			full := newPricer(t, cfg)
			fullUpdates, _ := feed(full, steps, 0, 0, cells, supply)
			if len(fullUpdates) < 50 {
				t.Fatalf("only %d updates: the log does not exercise pricing", len(fullUpdates))
			}
			// firstAt is the index of the first step at or after a time.
			firstAt := func(t event.Time) int {
				i, _ := slices.BinarySearchFunc(steps, t, func(s step, t event.Time) int { return cmp.Compare(s.at, t) })
				return i
			}
			diverged, compared := 0, 0
			for cut := 0; cut < 8; cut++ {
				from := steps[len(steps)/3+rnd.IntN(len(steps)/2)].at
				if cut%2 == 0 {
					from = event.Time(int64(from) / int64(cfg.Interval/time.Microsecond) * int64(cfg.Interval/time.Microsecond)) // on a boundary
				}
				wantUpdates, wantPrices := feed(newPricer(t, cfg), steps, 0, from, cells, supply)
				gotUpdates, gotPrices := feed(newPricer(t, cfg), steps, firstAt(from.Add(-cfg.History())), from, cells, supply)
				compared += len(wantUpdates)
				if d := firstDiff(gotUpdates, wantUpdates); d != "" {
					t.Errorf("cut at %v: restored from History() = %v, updates differ: %s", from, cfg.History(), d)
				}
				if d := firstDiff(gotPrices, wantPrices); d != "" {
					t.Errorf("cut at %v: restored from History() = %v, multipliers differ: %s", from, cfg.History(), d)
				}
				// The test has teeth: half the window is not enough history.
				short, _ := feed(newPricer(t, cfg), steps, firstAt(from.Add(-cfg.Window/2)), from, cells, supply)
				if firstDiff(short, wantUpdates) != "" {
					diverged++
				}
			}
			if diverged == 0 {
				t.Error("restoring from half a window never diverged: the log is too tame to test restore")
			}
			t.Logf("%d steps, %d updates compared after 8 cuts; half a window of history diverged at %d cuts", len(steps), compared, diverged)
		})
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %s, want %s", got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d lines, want %d", len(got), len(want))
	}
	return ""
}
