// Package memo is a map of values worked out once and kept, safe for concurrent use and
// bounded by emptying it when full: for the geometry the stages share, which never goes
// stale, so a value dropped is only worked out again.
package memo

import "sync"

// Map holds the values of at most its capacity of keys.
type Map[K comparable, V any] struct {
	mu       sync.RWMutex
	m        map[K]V
	capacity int
}

// New returns an empty Map that holds at most capacity keys.
func New[K comparable, V any](capacity int) *Map[K, V] {
	return &Map[K, V]{m: make(map[K]V), capacity: max(1, capacity)}
}

// Get returns k's value, worked out by work the first time it is asked for (work may run
// more than once for a key that goroutines ask for at once: it must give the same value).
func (c *Map[K, V]) Get(k K, work func(K) V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = work(k)
	c.mu.Lock()
	if len(c.m) >= c.capacity {
		clear(c.m)
	}
	c.m[k] = v
	c.mu.Unlock()
	return v
}

// Len is how many keys it holds.
func (c *Map[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
