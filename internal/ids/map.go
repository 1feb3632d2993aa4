package ids

import (
	"hash/maphash"
	"iter"
)

// Map maps ids to values, with its ids kept in an Interner. For a V without pointers it
// holds no pointer per id, so the garbage collector does not follow a hundred thousand
// keys into their blocks at every cycle as it does a map[string]V's
// (BenchmarkCollectEngine in bench). Each id is named by an ID that stays valid until
// Compact says it moved. The zero Map is empty and ready. Not safe for concurrent use.
//
// It is an open-addressing table probed linearly, one slot an entry: the id's ID, the
// value, and a tag from the id's hash that gives the slot it wants and tells most other
// ids apart without reading their bytes. With an int32 value a slot is 16 bytes, four to a
// cache line. A lookup among a hundred thousand drivers, each seen seconds ago, costs a
// cache miss or two wherever the entry is; a Go map's group puts its control word and the
// entry in different lines for most slots, and holds fewer entries a byte
// (BenchmarkMapGet).
type Map[V any] struct {
	ids   Interner
	seed  maphash.Seed
	hash  func(string) uint64 // nil: maphash with seed; the tests make ids clash
	slots []idSlot[V]         // a power of two of them, or none
	n     int                 // entries
}

type idSlot[V any] struct {
	id  ID
	tag uint32 // 0: empty; else the hash's low 32 bits with the lowest set (tagOf)
	v   V
}

// tagOf is the tag of hash h: its low 32 bits, the lowest set so that no tag is 0. The
// slot an entry wants is its tag's other bits, masked to the table (home).
func tagOf(h uint64) uint32 { return uint32(h) | 1 }

func (m *Map[V]) home(tag uint32) int { return int(tag>>1) & (len(m.slots) - 1) }

// maxLoad is the most entries a table holds per slot, in fifths.
const maxLoad = 4

func (m *Map[V]) hashOf(id string) uint64 {
	if m.hash != nil {
		return m.hash(id)
	}
	if m.seed == (maphash.Seed{}) {
		m.seed = maphash.MakeSeed()
	}
	return maphash.String(m.seed, id)
}

// Len is the number of ids in the map.
func (m *Map[V]) Len() int { return m.n }

// find is the slot holding id, or -1; tag is id's.
func (m *Map[V]) find(id string, tag uint32) int {
	if len(m.slots) == 0 {
		return -1
	}
	mask := len(m.slots) - 1
	for i := m.home(tag); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.tag == 0 {
			return -1
		}
		if s.tag == tag && m.ids.String(s.id) == id {
			return i
		}
	}
}

// Get returns the value of id, and whether the map holds id.
func (m *Map[V]) Get(id string) (V, bool) {
	if i := m.find(id, tagOf(m.hashOf(id))); i >= 0 {
		return m.slots[i].v, true
	}
	var zero V
	return zero, false
}

// Set sets the value of id, adding id if the map does not hold it, and returns id's ID.
func (m *Map[V]) Set(id string, v V) ID {
	tag := tagOf(m.hashOf(id))
	if i := m.find(id, tag); i >= 0 {
		m.slots[i].v = v
		return m.slots[i].id
	}
	if (m.n+1)*5 > len(m.slots)*maxLoad {
		m.grow()
	}
	ref, _ := m.ids.Intern(id)
	m.put(idSlot[V]{id: ref, tag: tag, v: v})
	m.n++
	return ref
}

// put places s in the first empty slot from its home.
func (m *Map[V]) put(s idSlot[V]) {
	mask := len(m.slots) - 1
	i := m.home(s.tag)
	for m.slots[i].tag != 0 {
		i = (i + 1) & mask
	}
	m.slots[i] = s
}

// grow doubles the table. The tags say where each entry goes: no id is read.
func (m *Map[V]) grow() {
	old := m.slots
	m.slots = make([]idSlot[V], max(16, 2*len(old)))
	for _, s := range old {
		if s.tag != 0 {
			m.put(s)
		}
	}
}

// Delete removes id, if the map holds id.
func (m *Map[V]) Delete(id string) {
	i := m.find(id, tagOf(m.hashOf(id)))
	if i < 0 {
		return
	}
	m.ids.Drop(m.slots[i].id)
	m.n--
	// Close the gap: each later entry of the run that wants a slot at or before the gap,
	// going round the table, moves back into it, and the gap moves to where it was. A
	// probe then still meets no empty slot between an entry's home and the entry.
	mask := len(m.slots) - 1
	for j := (i + 1) & mask; m.slots[j].tag != 0; j = (j + 1) & mask {
		h := m.home(m.slots[j].tag)
		if j > i && (h <= i || h > j) || j < i && h <= i && h > j {
			m.slots[i] = m.slots[j]
			i = j
		}
	}
	m.slots[i] = idSlot[V]{}
}

// String returns the id an ID of the map names. The string stays valid however long it
// is kept.
func (m *Map[V]) String(id ID) string { return m.ids.String(id) }

// All yields each id's ID and value, in no set order. The loop may Delete the id it is
// given.
func (m *Map[V]) All() iter.Seq2[ID, V] {
	return func(yield func(ID, V) bool) {
		if m.n == 0 {
			return
		}
		// Start after an empty slot: a Delete moves entries back only within a run of
		// full slots, and only into the gap it made, here or ahead, so none yielded
		// moves, and none ahead moves behind.
		mask := len(m.slots) - 1
		start := 0
		for m.slots[start].tag != 0 {
			start++
		}
		for k := 1; k <= len(m.slots); {
			i := (start + k) & mask
			s := m.slots[i]
			if s.tag == 0 {
				k++
				continue
			}
			if !yield(s.id, s.v) {
				return
			}
			// If the loop deleted it and a later entry moved into its slot, look again.
			if now := &m.slots[i]; now.tag == 0 || now.id == s.id && now.tag == s.tag {
				k++
			}
		}
	}
}

// Wasteful reports whether Compact would copy the ids: dropped ones take more room than
// the kept.
func (m *Map[V]) Wasteful() bool { return m.ids.Wasteful() }

// Compact re-interns the ids into fresh blocks once the dropped ones take more room than
// the kept (Interner.Wasteful), and tells moved each id's new ID with its value. Strings
// the map handed out before stay what they were.
func (m *Map[V]) Compact(moved func(id ID, v V)) {
	if !m.Wasteful() {
		return
	}
	var fresh Interner
	for i := range m.slots {
		if s := &m.slots[i]; s.tag != 0 {
			s.id, _ = fresh.Intern(m.ids.String(s.id))
		}
	}
	m.ids = fresh
	// Told once the new IDs name their ids, so that moved may look them up.
	for id, v := range m.All() {
		moved(id, v)
	}
}
