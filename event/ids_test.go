package event

import (
	"fmt"
	"strings"
	"testing"
)

func TestIDsIntern(t *testing.T) {
	var a IDs
	ids := map[ID]string{}
	for _, s := range []string{"", "D1", strings.Repeat("x", MaxIDBytes), strings.Repeat("y", idBlock+1), "D2", strings.Repeat("z", maxInterned)} {
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

func TestIDsWasteful(t *testing.T) {
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
			var a IDs
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

func TestCompact(t *testing.T) {
	var a IDs
	m := map[string]int{}
	ids := map[int]ID{}
	for i := range 20_000 {
		id, key := a.Intern(fmt.Sprintf("D%09d", i))
		m[key], ids[i] = i, id
	}
	kept := "D000019999"
	if got := Compact(&a, m, nil); len(got) != len(m) {
		t.Fatal("Compact copied a map with nothing dropped")
	}
	keptBefore := ""
	for id := range m {
		if id == kept {
			keptBefore = id
		}
	}
	for i := range 19_000 {
		a.Drop(ids[i])
		delete(m, fmt.Sprintf("D%09d", i))
	}
	movedIDs := map[ID]int{}
	got := Compact(&a, m, func(id ID, v int) { movedIDs[id] = v })
	moved := map[string]int{} // the new IDs name ids in the new blocks
	for id, v := range movedIDs {
		moved[a.String(id)] = v
	}
	if len(got) != 1000 || len(moved) != 1000 || got[kept] != 19_999 || moved[kept] != 19_999 {
		t.Fatalf("Compact kept %d ids (told of %d), %q = %d", len(got), len(moved), kept, got[kept])
	}
	if a.Wasteful() || a.used != a.live || a.live != 10_000 {
		t.Errorf("after Compact: %d bytes used, %d live", a.used, a.live)
	}
	// Strings handed out before stay what they were.
	if keptBefore != kept {
		t.Errorf("an id from before Compact changed: %q", keptBefore)
	}
}
