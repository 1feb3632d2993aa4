package event

import (
	"hash/maphash"
	"iter"
)

// IDMap maps ids to values, with its ids kept in an IDs and its entries keyed by a 64-bit
// hash of the id: for a V without pointers, it holds no pointer per id, so the garbage
// collector does not follow a hundred thousand keys into their blocks at every cycle as
// it does a map[string]V's (BenchmarkCollectEngine in bench). Each id is named by an ID
// that stays valid until Compact says it moved. The zero IDMap is empty and ready. Not
// safe for concurrent use.
type IDMap[V any] struct {
	ids    IDs
	seed   maphash.Seed
	hash   func(string) uint64 // nil: maphash with seed; the tests make ids clash
	byHash map[uint64]idEntry[V]
	// clash holds the ids whose hash another id in byHash had when they came: with
	// 64-bit hashes, nearly never any.
	clash map[string]idEntry[V]
}

type idEntry[V any] struct {
	id ID
	v  V
}

func (m *IDMap[V]) hashOf(id string) uint64 {
	if m.hash != nil {
		return m.hash(id)
	}
	if m.seed == (maphash.Seed{}) {
		m.seed = maphash.MakeSeed()
	}
	return maphash.String(m.seed, id)
}

// Len is the number of ids in the map.
func (m *IDMap[V]) Len() int { return len(m.byHash) + len(m.clash) }

// Get returns the value of id, and whether the map holds id.
func (m *IDMap[V]) Get(id string) (V, bool) {
	e, ok := m.entry(id, m.hashOf(id))
	return e.v, ok
}

func (m *IDMap[V]) entry(id string, h uint64) (idEntry[V], bool) {
	if e, ok := m.byHash[h]; ok && m.ids.String(e.id) == id {
		return e, true
	}
	if len(m.clash) > 0 {
		e, ok := m.clash[id]
		return e, ok
	}
	return idEntry[V]{}, false
}

// Set sets the value of id, adding id if the map does not hold it, and returns id's ID.
func (m *IDMap[V]) Set(id string, v V) ID {
	h := m.hashOf(id)
	if e, ok := m.byHash[h]; ok && m.ids.String(e.id) == id {
		m.byHash[h] = idEntry[V]{e.id, v}
		return e.id
	}
	if e, ok := m.clash[id]; ok {
		m.clash[id] = idEntry[V]{e.id, v}
		return e.id
	}
	ref, key := m.ids.Intern(id)
	if m.byHash == nil {
		m.byHash = make(map[uint64]idEntry[V])
	}
	if _, taken := m.byHash[h]; !taken {
		m.byHash[h] = idEntry[V]{ref, v}
		return ref
	}
	if m.clash == nil {
		m.clash = make(map[string]idEntry[V])
	}
	m.clash[key] = idEntry[V]{ref, v}
	return ref
}

// Delete removes id, if the map holds it.
func (m *IDMap[V]) Delete(id string) {
	h := m.hashOf(id)
	if e, ok := m.byHash[h]; ok && m.ids.String(e.id) == id {
		delete(m.byHash, h)
		m.ids.Drop(e.id)
		return
	}
	if e, ok := m.clash[id]; ok {
		delete(m.clash, id)
		m.ids.Drop(e.id)
	}
}

// String returns the id an ID of the map names. The string stays valid however long it
// is kept.
func (m *IDMap[V]) String(id ID) string { return m.ids.String(id) }

// All yields each id's ID and value, in no set order. The loop may Delete the id it is
// given.
func (m *IDMap[V]) All() iter.Seq2[ID, V] {
	return func(yield func(ID, V) bool) {
		for _, e := range m.byHash {
			if !yield(e.id, e.v) {
				return
			}
		}
		for _, e := range m.clash {
			if !yield(e.id, e.v) {
				return
			}
		}
	}
}

// Wasteful reports whether Compact would copy the ids: dropped ones take more room than
// the kept.
func (m *IDMap[V]) Wasteful() bool { return m.ids.Wasteful() }

// Compact re-interns the ids into fresh blocks once the dropped ones take more room than
// the kept (IDs.Wasteful), and tells moved each id's new ID with its value. Strings the
// map handed out before stay what they were.
func (m *IDMap[V]) Compact(moved func(id ID, v V)) {
	if !m.Wasteful() {
		return
	}
	var fresh IDs
	for h, e := range m.byHash {
		e.id, _ = fresh.Intern(m.ids.String(e.id))
		m.byHash[h] = e
	}
	clash := make(map[string]idEntry[V], len(m.clash))
	for _, e := range m.clash {
		var key string
		e.id, key = fresh.Intern(m.ids.String(e.id))
		clash[key] = e
	}
	m.ids, m.clash = fresh, clash
	// Told once the new IDs name their ids, so that moved may look them up.
	for id, v := range m.All() {
		moved(id, v)
	}
}
