package matcher

// slabSize is how many values one allocation of a table makes.
const slabSize = 256

// table holds values a slab at a time and names each by its place, an R, which the rest
// of a partition's state holds instead of a pointer: every pointer in the heap is one more
// word for the garbage collector to follow at every cycle, and a partition holds tens of
// thousands of drivers and of cells (BenchmarkCollect). A slab never moves, so the *T at
// returns stays valid until its place is released; released places are reused.
type table[T any, R ~int32] struct {
	slabs [][]T
	used  int // places handed out of the last slab
	free  []R
}

func (t *table[T, R]) at(r R) *T { return &t.slabs[r/slabSize][r%slabSize] }

// alloc returns a place holding a zero T.
func (t *table[T, R]) alloc() (R, *T) {
	if n := len(t.free); n > 0 {
		r := t.free[n-1]
		t.free = t.free[:n-1]
		return r, t.at(r)
	}
	if len(t.slabs) == 0 || t.used == slabSize {
		t.slabs = append(t.slabs, make([]T, slabSize))
		t.used = 0
	}
	r := R((len(t.slabs)-1)*slabSize + t.used)
	t.used++
	return r, t.at(r)
}

// release zeroes the value at r and frees its place.
func (t *table[T, R]) release(r R) {
	var zero T
	*t.at(r) = zero
	t.free = append(t.free, r)
}
