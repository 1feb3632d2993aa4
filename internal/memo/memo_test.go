package memo

import (
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	m := New[int, int](3)
	calls := 0
	square := func(k int) int { calls++; return k * k }
	for _, k := range []int{2, 2, 3, 2} {
		if got := m.Get(k, square); got != k*k {
			t.Fatalf("Get(%d) = %d", k, got)
		}
	}
	if calls != 2 || m.Len() != 2 {
		t.Fatalf("%d calls, %d keys: want each key worked out once", calls, m.Len())
	}
	m.Get(4, square)
	m.Get(5, square) // full: emptied, then 5
	if m.Len() != 1 || m.Get(5, square) != 25 || calls != 4 {
		t.Fatalf("a full map is emptied and refilled: %d keys, %d calls", m.Len(), calls)
	}
}

func TestMapConcurrent(t *testing.T) {
	m := New[int, int](64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := (i + g) % 100
				if v := m.Get(k, func(k int) int { return k + 1 }); v != k+1 {
					t.Errorf("Get(%d) = %d", k, v)
				}
			}
		}()
	}
	wg.Wait()
}
