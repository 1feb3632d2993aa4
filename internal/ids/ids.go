// Package ids provides Interner and Map: ids kept with no pointer per id to scan.
package ids

import "unsafe"

// Interner keeps the ids a long-lived map is keyed by in a few large blocks instead of one
// allocation each. The garbage collector marks every live object at every cycle, and a
// router or matcher holding a hundred thousand drivers would otherwise hold a hundred
// thousand id strings (BenchmarkCollect in matcher and router measures the difference).
// Where an owner keeps an id beside its other state, it keeps the ID, which holds no
// pointer: a slab of structs without pointers is not scanned at all. Map is a map from
// ids kept that way.
//
// A string Intern or String returns is immutable and stays valid however long it is
// kept; its block lives while any string in it does. Dropped ids leave holes in the
// blocks: once Wasteful, the owner re-interns what it keeps into a fresh Interner and
// drops the old one (Map.Compact). Not safe for concurrent use.
type Interner struct {
	blocks     [][]byte // the last is being filled
	used, live int      // bytes handed out, and of those not dropped
}

// ID is an id interned in an Interner: its block, and where in it its bytes are
// (block<<32 | offset<<16 | length). The zero ID is "".
type ID uint64

// idBlock is the size of a block: a few thousand ids, and little to waste at the end of
// one (an id is at most event.MaxIDBytes).
const idBlock = 32 << 10

// maxInterned is the longest id an ID can name.
const maxInterned = 1<<16 - 1

// Intern stores a copy of s in a block and returns its ID and the copy. s must be at most
// 64 KiB.
func (a *Interner) Intern(s string) (ID, string) {
	if len(s) == 0 {
		return 0, ""
	}
	if len(s) > maxInterned {
		panic("ids.Interner: an id longer than 64 KiB")
	}
	k := len(a.blocks) - 1
	if k < 0 || len(s) > cap(a.blocks[k])-len(a.blocks[k]) {
		a.blocks = append(a.blocks, make([]byte, 0, max(idBlock, len(s))))
		k++
	}
	b := a.blocks[k]
	n := len(b)
	a.blocks[k] = append(b, s...)
	a.used += len(s)
	a.live += len(s)
	return ID(uint64(k)<<32 | uint64(n)<<16 | uint64(len(s))), unsafe.String(&a.blocks[k][n], len(s))
}

// String returns the id id names.
func (a *Interner) String(id ID) string {
	n := int(id & 0xffff)
	if n == 0 {
		return ""
	}
	return unsafe.String(&a.blocks[id>>32][id>>16&0xffff], n)
}

// Drop records that an interned id is no longer kept.
func (a *Interner) Drop(id ID) { a.live -= int(id & 0xffff) }

// Wasteful reports whether dropped ids take more room than the kept ones, past a block.
func (a *Interner) Wasteful() bool { return a.used-a.live > a.live+idBlock }
