package ids

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"ridematch/event"
)

func TestIntern(t *testing.T) {
	var a Interner
	ids := map[ID]string{}
	for _, s := range []string{"", "D1", strings.Repeat("x", event.MaxIDBytes), strings.Repeat("y", idBlock+1), "D2", strings.Repeat("z", maxInterned)} {
		id, got := a.Intern(s)
		if got != s || a.String(id) != s {
			t.Errorf("Intern(%.20q) = %.20q, and its ID names %.20q", s, got, a.String(id))
		}
		ids[id] = s
	}
	for id, s := range ids { // after every block was made
		if a.String(id) != s {
			t.Errorf("ID %x names %.20q, want %.20q", uint64(id), a.String(id), s)
		}
	}
	if allocs := testing.AllocsPerRun(1000, func() { a.Intern("D12345") }); allocs > 0.01 {
		t.Errorf("Intern allocates %.2f times an id; want a block per thousands", allocs)
	}
}

func TestWasteful(t *testing.T) {
	tests := []struct {
		name       string
		keep, drop int // ids of 10 bytes
		want       bool
	}{
		{"nothing", 0, 0, false},
		{"all kept", 10_000, 0, false},
		{"a block dropped, none kept", 0, idBlock / 10, false},
		{"more than a block dropped, none kept", 0, idBlock/10 + 1, true},
		{"half dropped", 10_000, 10_000, false},
		{"dropped past kept and a block", 10_000, 10_000 + idBlock/10 + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Interner
			for i := range tt.keep + tt.drop {
				id, _ := a.Intern(fmt.Sprintf("D%09d", i))
				if i >= tt.keep {
					a.Drop(id)
				}
			}
			if got := a.Wasteful(); got != tt.want {
				t.Errorf("Wasteful() = %v with %d kept and %d dropped, want %v", got, tt.keep, tt.drop, tt.want)
			}
		})
	}
}

// A Map behaves as a map[string]int through sets, deletes and compactions, with
// 64-bit hashes and with a hash under which ids clash all the time; the IDs it hands out
// name their ids until Compact moves them.
func TestMap(t *testing.T) {
	for _, tt := range []struct {
		name string
		hash func(string) uint64
	}{
		{"maphash", nil},
		{"clashing", func(s string) uint64 { return uint64(s[len(s)-1] % 3) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Map[int]{hash: tt.hash}
			want := map[string]int{}
			ids := map[string]ID{}
			rng := rand.New(rand.NewPCG(1, 2))
			check := func(when string) {
				t.Helper()
				if m.Len() != len(want) {
					t.Fatalf("%s: Len() = %d, want %d", when, m.Len(), len(want))
				}
				seen := 0
				for id, v := range m.All() {
					s := m.String(id)
					if w, ok := want[s]; !ok || w != v || ids[s] != id {
						t.Fatalf("%s: All() gave %q = %d (ID %x), want %d (ID %x)", when, s, v, uint64(id), w, uint64(ids[s]))
					}
					seen++
				}
				if seen != len(want) {
					t.Fatalf("%s: All() gave %d ids, want %d", when, seen, len(want))
				}
			}
			var handed [][2]string // a string the map handed out, and the id it was
			moves := 0
			for round := range 5 {
				for range 4000 {
					// Long ids, so that the dropped ones outgrow the kept and Compact moves them.
					id := fmt.Sprintf("D%05d-%s", rng.IntN(3000), strings.Repeat("x", 40))
					switch rng.IntN(4) {
					case 0:
						m.Delete(id)
						delete(want, id)
						delete(ids, id)
					default:
						v := rng.IntN(1000)
						ref := m.Set(id, v)
						if had, ok := ids[id]; ok && had != ref {
							t.Fatalf("Set(%q) gave a new ID to an id the map held", id)
						}
						want[id], ids[id] = v, ref
					}
					w, held := want[id]
					if got, ok := m.Get(id); ok != held || got != w {
						t.Fatalf("Get(%q) = %d, %v after an update; want %d, %v", id, got, ok, w, held)
					}
				}
				check(fmt.Sprintf("round %d", round))
				for id, ref := range ids {
					got := m.String(ref)
					if got != id {
						t.Fatalf("ID of %q names %q", id, got)
					}
					handed = append(handed, [2]string{got, strings.Clone(id)})
					break
				}
				m.Compact(func(id ID, v int) { ids[m.String(id)] = id; moves++ })
				check(fmt.Sprintf("round %d, compacted", round))
			}
			if moves == 0 {
				t.Fatal("Compact never moved an id: the test does not exercise it")
			}
			for _, h := range handed {
				if h[0] != h[1] {
					t.Errorf("a string handed out before Compact changed from %q to %q", h[1], h[0])
				}
			}
			if m.ids.Wasteful() {
				t.Error("still wasteful after Compact")
			}
		})
	}
}

// Compact copies nothing until the dropped ids outweigh the kept ones, then keeps only
// the live ones.
func TestMapCompact(t *testing.T) {
	var m Map[int]
	for i := range 20_000 {
		m.Set(fmt.Sprintf("D%09d", i), i)
	}
	calls := 0
	m.Compact(func(ID, int) { calls++ })
	if calls != 0 {
		t.Fatalf("Compact moved %d ids with nothing dropped", calls)
	}
	for i := range 19_000 {
		m.Delete(fmt.Sprintf("D%09d", i))
	}
	m.Compact(func(ID, int) { calls++ })
	if v, ok := m.Get("D000019999"); calls != 1000 || !ok || v != 19_999 {
		t.Fatalf("Compact moved %d ids; D000019999 = %d, %v", calls, v, ok)
	}
	if m.ids.used != m.ids.live || m.ids.live != 10_000 {
		t.Errorf("after Compact: %d bytes used, %d live", m.ids.used, m.ids.live)
	}
}

// Map against a plain map under random Sets, Deletes and Gets, with loops over All
// that delete some of what they are given, under 64-bit hashes and under hashes that
// crowd the ids into a few long runs of the table, where deletes move entries most.
func TestMapAgainstMap(t *testing.T) {
	for _, tt := range []struct {
		name string
		hash func(string) uint64
	}{
		{"maphash", nil},
		{"crowded", func(s string) uint64 { return uint64(len(s)%5) << 1 }},
		{"wrapping", func(s string) uint64 { return ^uint64(len(s) % 3) }}, // homes at the table's end
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Map[int32]{hash: tt.hash}
			want := map[string]int32{}
			rng := rand.New(rand.NewPCG(3, 4))
			id := func() string {
				if rng.IntN(500) == 0 {
					return "" // the empty id is an id like any other to the map
				}
				return fmt.Sprintf("D%d", rng.IntN(600))
			}
			for step := range 60_000 {
				k := id()
				switch r := rng.IntN(10); {
				case r < 5:
					v := int32(rng.IntN(1000))
					ref := m.Set(k, v)
					if m.String(ref) != k {
						t.Fatalf("step %d: Set(%q) gave an ID naming %q", step, k, m.String(ref))
					}
					want[k] = v
				case r < 9:
					m.Delete(k)
					delete(want, k)
				default:
					// A loop over All that deletes about a third of what it is given.
					seen := map[string]bool{}
					for ref, v := range m.All() {
						s := m.String(ref)
						if seen[s] {
							t.Fatalf("step %d: All() gave %q twice", step, s)
						}
						seen[s] = true
						if w, ok := want[s]; !ok || w != v {
							t.Fatalf("step %d: All() gave %q = %d; want %d, %v", step, s, v, w, ok)
						}
						if rng.IntN(3) == 0 {
							m.Delete(s)
							delete(want, s)
						}
					}
					for s := range want {
						if !seen[s] {
							t.Fatalf("step %d: All() missed %q", step, s)
						}
					}
				}
				if m.Len() != len(want) {
					t.Fatalf("step %d: Len() = %d, want %d", step, m.Len(), len(want))
				}
				if step%97 == 0 {
					for s, w := range want {
						if v, ok := m.Get(s); !ok || v != w {
							t.Fatalf("step %d: Get(%q) = %d, %v; want %d", step, s, v, ok, w)
						}
					}
					for range 20 {
						s := id()
						_, ok := m.Get(s)
						if _, held := want[s]; ok != held {
							t.Fatalf("step %d: Get(%q) found %v, want %v", step, s, ok, held)
						}
					}
				}
			}
		})
	}
}
