package matcher

import (
	"reflect"
	"testing"
	"unsafe"

	"ridematch/internal/nopointer"
)

// made is how many places the table has handed out, reused ones counted once.
func (t *table[T, R]) made() int { return max(0, len(t.slabs)-1)*slabSize + t.used }

func TestTable(t *testing.T) {
	var tb table[[2]int, int32]
	var refs []int32
	for i := range 3*slabSize + 5 {
		r, v := tb.alloc()
		if r != int32(i) || *v != [2]int{} {
			t.Fatalf("alloc %d gave place %d holding %v", i, r, *v)
		}
		*v = [2]int{i, -i}
		refs = append(refs, r)
	}
	first := tb.at(0)
	for i, r := range refs {
		if *tb.at(r) != [2]int{i, -i} {
			t.Fatalf("place %d holds %v", r, *tb.at(r))
		}
	}
	if first != tb.at(0) {
		t.Fatal("a value moved as the table grew")
	}
	tb.release(7)
	tb.release(300)
	if r, v := tb.alloc(); r != 300 || *v != [2]int{} {
		t.Fatalf("alloc after release gave place %d holding %v, want 300, zero", r, *v)
	}
	if r, _ := tb.alloc(); r != 7 {
		t.Fatalf("alloc gave place %d, want the released 7", r)
	}
	if r, _ := tb.alloc(); r != int32(len(refs)) {
		t.Fatalf("alloc with nothing released gave place %d, want %d", r, len(refs))
	}
	if tb.made() != len(refs)+1 {
		t.Fatalf("made %d, want %d", tb.made(), len(refs)+1)
	}
}

// TestDriverSlabIsSmall: a slab of drivers is at most 32 KiB, the largest allocation the
// runtime makes from its size classes. A larger one is rounded up to whole pages: at 136
// bytes a driver, a slab took 40 KiB for 34 KiB of drivers, and the bench's memory a
// driver rose from 245.6 to 267.0 bytes.
func TestDriverSlabIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(driver{}) * slabSize; n > 32<<10 {
		t.Fatalf("a slab of %d drivers is %d bytes, more than 32 KiB: mind the padding between fields", slabSize, n)
	}
}

// TestDriverHoldsNoPointer: the collector skips a slab of drivers only while a driver
// holds no pointer (a string, slice, map or pointer) anywhere in it.
func TestDriverHoldsNoPointer(t *testing.T) {
	if path := nopointer.In(reflect.TypeFor[driver](), "driver"); path != "" {
		t.Fatalf("%s holds a pointer", path)
	}
}
