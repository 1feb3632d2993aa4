package event

import "unsafe"

// IDs keeps the ids a long-lived map is keyed by in a few large blocks instead of one
// allocation each. The garbage collector marks every live object at every cycle, and a
// router or matcher holding a hundred thousand drivers would otherwise hold a hundred
// thousand id strings (BenchmarkCollect in matcher and router measures the difference).
//
// A string Intern returns is immutable and stays valid however long it is kept; its
// block lives while any string in it does. Dropped ids leave holes in the blocks: once
// Wasteful, the owner re-interns what it keeps into a fresh IDs and drops the old one.
// Not safe for concurrent use.
type IDs struct {
	block      []byte
	used, live int // bytes handed out, and of those not dropped
}

// idBlock is the size of a block: a few thousand ids, and little to waste at the end of
// one (an id is at most MaxIDBytes).
const idBlock = 32 << 10

// Intern returns a copy of s stored in a block.
func (a *IDs) Intern(s string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > cap(a.block)-len(a.block) {
		a.block = make([]byte, 0, max(idBlock, len(s)))
	}
	n := len(a.block)
	a.block = append(a.block, s...)
	a.used += len(s)
	a.live += len(s)
	return unsafe.String(&a.block[n], len(s))
}

// Drop records that an interned id is no longer kept.
func (a *IDs) Drop(s string) { a.live -= len(s) }

// Wasteful reports whether dropped ids take more room than the kept ones, past a block.
func (a *IDs) Wasteful() bool { return a.used-a.live > a.live+idBlock }

// Compact returns the map to keep in place of m: m itself, or, once a is Wasteful, a
// copy whose keys are interned in a fresh IDs that replaces a. moved, if not nil, is
// told each value's new key.
func Compact[V any](a *IDs, m map[string]V, moved func(id string, v V)) map[string]V {
	if !a.Wasteful() {
		return m
	}
	var fresh IDs
	kept := make(map[string]V, len(m))
	for id, v := range m {
		id = fresh.Intern(id)
		kept[id] = v
		if moved != nil {
			moved(id, v)
		}
	}
	*a = fresh
	return kept
}
